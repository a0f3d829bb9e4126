"""Benchmark: deploy a 200-object app, check 3,000 pods on 100 nodes, back up and restore 5,000 objects.

    .venv/bin/python bench/apps.py            # the full run recorded in docs/BENCHMARKS.md
    .venv/bin/python bench/apps.py --quick    # a smaller smoke run (seconds)
    .venv/bin/python bench/apps.py --profile  # also print where the sandbox spends its time on writes

Each scenario runs kaas's own code (manifests → apply → rollout; checks.collect → insight.assess →
insight_views.check_blocks; backup.export → read_archive → restore) through `KubeClient` over HTTPS against
a `providers.sandbox` Sandbox. The sandbox runs in a child process, as a real API server would, so the memory
figures are kaas's own: the tracemalloc peak of the step (measured in a second, traced pass, because tracing
slows Python allocation down and would distort the timings) and the process's peak RSS (VmHWM, reset before
each scenario). The sandbox's own peak RSS is reported beside them.

Prints a markdown table (and with --json the raw figures); docs/BENCHMARKS.md records a full run.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import gc
import hashlib
import io
import json
import multiprocessing as mp
import pstats
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.insight_views import check_blocks
from handlers.apps import LABEL_APP, LABEL_MANAGED_BY, LABEL_VERSION, _place
from handlers.checks import collect
from handlers.insight import assess
from providers.kube.apply import ObjectRef, apply_objects
from providers.kube.backup import export, read_archive, restore
from providers.kube.client import KubeClient
from providers.kube.manifests import label_objects, parse_manifests
from providers.kube.rollout import check_rollout

MIB = 1024 * 1024
CREATED_AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ROLLOUT_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Sizes:
    apps: int
    """How many of {Deployment, Service, ConfigMap, Secret, ServiceAccount} the manifest has."""
    check_nodes: int
    check_deployments: int
    check_replicas: int
    backup_namespaces: int
    backup_objects: int


FULL = Sizes(apps=40, check_nodes=100, check_deployments=30, check_replicas=100, backup_namespaces=10,
             backup_objects=5000)  # fmt: skip
QUICK = Sizes(apps=8, check_nodes=10, check_deployments=5, check_replicas=20, backup_namespaces=2,
              backup_objects=500)  # fmt: skip


# -- memory ------------------------------------------------------------------------------------------------


def _proc_status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss() -> float:
    """Reset VmHWM (Linux ≥ 4.0) so each scenario reports its own peak; returns the RSS now (MiB).

    Memory Python freed in an earlier scenario mostly stays in the process, so the RSS at the start of a
    scenario is reported beside its peak.
    """
    with contextlib.suppress(OSError):  # then VmHWM stays the peak since the process started
        Path("/proc/self/clear_refs").write_text("5")
    return _proc_status_mib("VmRSS")


def peak_rss_mib() -> float:
    return _proc_status_mib("VmHWM")


def traced_peak_mib(fn: Callable[[], object]) -> float:
    """Peak of Python allocations made while `fn` runs, above what was allocated before it."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return (tracemalloc.get_traced_memory()[1] - base) / MIB
    finally:
        tracemalloc.stop()


# -- the sandbox, in a child process ------------------------------------------------------------------------


def _serve_sandbox(conn, state_dir: str) -> None:
    """Child process: a Sandbox driven by commands over `conn` (create, delete, rss, timing, profile)."""
    from providers.sandbox.sandbox import Sandbox, SandboxSettings

    sandbox = Sandbox(SandboxSettings(state_dir=Path(state_dir))).start()
    lock = threading.Lock()
    spent = {"requests": 0, "seconds": 0.0}
    profiler: list[cProfile.Profile] = []

    def instrument(cluster_id: str) -> None:
        api = sandbox.cluster(cluster_id).api
        original = api.handle

        def handle(req):  # the server looks `api.handle` up on every request
            t0 = time.perf_counter()
            if profiler:
                with lock:  # one client at a time; cProfile is per thread
                    profiler[0].enable()
                    try:
                        return original(req)
                    finally:
                        profiler[0].disable()
                        spent["requests"] += 1
                        spent["seconds"] += time.perf_counter() - t0
            try:
                return original(req)
            finally:
                with lock:
                    spent["requests"] += 1
                    spent["seconds"] += time.perf_counter() - t0

        api.handle = handle

    def create(name: str, **kwargs) -> tuple[str, str]:
        info = sandbox.create_cluster(name, **kwargs)
        instrument(info.id)
        return info.id, sandbox.kubeconfig(info.id)

    def timing(reset: bool) -> dict:
        with lock:
            value = dict(spent)
            if reset:
                spent.update(requests=0, seconds=0.0)
        return value

    def profile(start: bool) -> str | None:
        if start:
            profiler[:] = [cProfile.Profile()]
            return None
        with lock:
            done = profiler.pop()
        out = io.StringIO()
        pstats.Stats(done, stream=out).sort_stats("tottime").print_stats(12)
        return out.getvalue()

    commands = {
        "create": create,
        "delete": lambda cid: sandbox.delete_cluster(cid) and None,
        "reset_rss": reset_peak_rss,
        "rss": lambda: (_proc_status_mib("VmRSS"), peak_rss_mib()),
        "timing": timing,
        "profile": profile,
    }
    try:
        while True:
            cmd, args, kwargs = conn.recv()
            if cmd == "stop":
                conn.send((True, None))
                return
            try:
                conn.send((True, commands[cmd](*args, **kwargs)))
            except Exception as e:
                conn.send((False, f"{type(e).__name__}: {e}"))
    finally:
        sandbox.close()


class SandboxProcess:
    """The parent's handle on the child's Sandbox."""

    def __init__(self, state_dir: Path):
        context = mp.get_context("spawn")  # no fork of a process with threads
        self._conn, child = context.Pipe()
        self._proc = context.Process(target=_serve_sandbox, args=(child, str(state_dir)), daemon=True)
        self._proc.start()
        child.close()

    def _call(self, cmd: str, *args, **kwargs):
        self._conn.send((cmd, args, kwargs))
        ok, value = self._conn.recv()
        if not ok:
            raise RuntimeError(f"sandbox {cmd}: {value}")
        return value

    def create_cluster(self, name: str, **kwargs) -> tuple[str, str]:
        """(cluster id, kubeconfig) of a new Running cluster."""
        return self._call("create", name, **kwargs)

    def delete_cluster(self, cluster_id: str) -> None:
        self._call("delete", cluster_id)

    def reset_peak_rss(self) -> None:
        self._call("reset_rss")

    def peak_rss_mib(self) -> float:
        return self._call("rss")[1]

    def handler_time(self, *, reset: bool = False) -> dict:
        """Requests served and seconds spent in the sandbox's REST handlers (no TLS/HTTP) since a reset."""
        return self._call("timing", reset)

    def profile(self, start: bool) -> str | None:
        return self._call("profile", start)

    def close(self) -> None:
        with contextlib.suppress(EOFError, OSError):
            self._call("stop")
        self._proc.join(timeout=30)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join()


def _client(kubeconfig: str) -> KubeClient:
    return KubeClient.from_kubeconfig(kubeconfig, timeout=120)


# -- 1. deploy ------------------------------------------------------------------------------------------


def app_manifest(apps: int) -> str:
    """`apps` times {ServiceAccount, ConfigMap, Secret, Service, 1-replica Deployment}, as users write."""
    docs: list[dict] = []
    for i in range(apps):
        name = f"svc-{i:02d}"
        labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "shop", "tier": "backend"}
        selector = {"app.kubernetes.io/name": name}
        secret = hashlib.sha256(name.encode()).hexdigest()
        docs += [
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "labels": labels}},
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"{name}-config", "labels": labels},
                "data": {
                    "LOG_LEVEL": "info",
                    "UPSTREAM": f"http://svc-{(i + 1) % apps:02d}.shop.svc.cluster.local",
                    "app.properties": "".join(f"feature.flag{n}=true\n" for n in range(10)),
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"name": f"{name}-secret", "labels": labels},
                "stringData": {"DATABASE_URL": f"postgresql://{name}:{secret[:24]}@db:5432/{name}"},
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "labels": labels},
                "spec": {
                    "selector": selector,
                    "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
                },
            },
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name, "labels": labels},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": selector},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "serviceAccountName": name,
                            "containers": [
                                {
                                    "name": "app",
                                    "image": f"registry.example.com/shop/{name}:1.4.2",
                                    "ports": [{"name": "http", "containerPort": 8080}],
                                    "envFrom": [
                                        {"configMapRef": {"name": f"{name}-config"}},
                                        {"secretRef": {"name": f"{name}-secret"}},
                                    ],
                                    "resources": {
                                        "requests": {"cpu": "50m", "memory": "64Mi"},
                                        "limits": {"memory": "128Mi"},
                                    },
                                    "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                                    "livenessProbe": {
                                        "httpGet": {"path": "/healthz", "port": "http"},
                                        "initialDelaySeconds": 10,
                                    },
                                    "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}],
                                }
                            ],
                            "volumes": [{"name": "config", "configMap": {"name": f"{name}-config"}}],
                        },
                    },
                },
            },
        ]
    return yaml.safe_dump_all(docs, sort_keys=False)


def _deploy(kubeconfig: str, manifest: str, namespace: str, laps: dict | None) -> list[ObjectRef]:
    """What `DeployWork` does for a pasted manifest (apply step, then rollout polls), timing each part."""
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        if laps is not None:
            laps[name] = now - clock[0]
        clock[0] = now

    manifests = parse_manifests(manifest, source="bench.yaml")
    lap("parse")
    with _client(kubeconfig) as client:  # a fresh client per runner step, so discovery is part of it
        created_namespace = client.get(client.resource_for("v1", "Namespace"), namespace) is None
        labels = {LABEL_APP: "shop", LABEL_MANAGED_BY: "kaas", LABEL_VERSION: "1.4.2"}
        objects = label_objects(manifests, labels)
        _place(client, manifests, objects, namespace)
        if created_namespace:
            namespace_obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
            objects.insert(0, {**namespace_obj, "metadata": {"name": namespace, "labels": labels}})
        lap("prepare")
        refs = apply_objects(client, objects)
        lap("apply")
    with _client(kubeconfig) as client:  # the rollout step is another runner step
        polls = 0
        while True:
            polls += 1
            state = check_rollout(client, refs)
            if state.ready:
                break
            if state.fatal:
                raise RuntimeError(f"rollout failed: {state.describe()}")
            time.sleep(ROLLOUT_POLL_SECONDS)
        lap("rollout")
    if laps is not None:
        laps["polls"] = polls
    return refs


def bench_deploy(sandbox: SandboxProcess, sizes: Sizes) -> dict:
    cluster_id, kubeconfig = sandbox.create_cluster("deploy", nodes=3)
    manifest = app_manifest(sizes.apps)
    start = reset_peak_rss()
    sandbox.reset_peak_rss()
    sandbox.handler_time(reset=True)
    laps: dict = {}
    t0 = time.perf_counter()
    refs = _deploy(kubeconfig, manifest, "shop-1-4-2", laps)
    total = time.perf_counter() - t0
    served = sandbox.handler_time(reset=True)
    rss = peak_rss_mib()
    # The traced pass applies again: server-side apply is idempotent (the namespace exists by now).
    traced = traced_peak_mib(lambda: _deploy(kubeconfig, manifest, "shop-1-4-2", None))
    sandbox.delete_cluster(cluster_id)
    return {
        "manifest_kib": round(len(manifest.encode()) / 1024, 1),
        "manifest_documents": 5 * sizes.apps,
        "objects_applied": len(refs),
        "parse_s": round(laps["parse"], 4),
        "prepare_s": round(laps["prepare"], 4),
        "apply_s": round(laps["apply"], 2),
        "apply_objects_per_s": round(len(refs) / laps["apply"]),
        "rollout_ready_s": round(laps["rollout"], 4),
        "rollout_polls": laps["polls"],
        "total_s": round(total, 2),
        "requests": served["requests"],
        "sandbox_handler_s": round(served["seconds"], 2),
        "kaas_tracemalloc_peak_mib": round(traced, 1),
        "kaas_peak_rss_mib": round(rss, 1),
        "kaas_start_rss_mib": round(start, 1),
        "sandbox_peak_rss_mib": round(sandbox.peak_rss_mib(), 1),
    }


# -- 2. check -------------------------------------------------------------------------------------------


def _workload(name: str, replicas: int) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": "nginx:1.27",
                            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
                        }
                    ]
                },
            },
        },
    }


def _check(kubeconfig: str, laps: dict | None) -> tuple:
    t0 = time.perf_counter()
    with _client(kubeconfig) as client:  # CheckService opens a client per check
        snapshot = collect(client, now=CREATED_AT)
    t1 = time.perf_counter()
    report = assess(snapshot)
    t2 = time.perf_counter()
    blocks, detail = check_blocks("bench", report)
    t3 = time.perf_counter()
    if laps is not None:
        laps.update(collect=t1 - t0, assess=t2 - t1, blocks=t3 - t2)
    return snapshot, report, blocks, detail


def bench_check(sandbox: SandboxProcess, sizes: Sizes) -> dict:
    cluster_id, kubeconfig = sandbox.create_cluster("check", nodes=sizes.check_nodes)
    t0 = time.perf_counter()
    with _client(kubeconfig) as client:
        refs = [
            ObjectRef.of(client.apply(_workload(f"web-{i:02d}", sizes.check_replicas)))
            for i in range(sizes.check_deployments)
        ]
        applied = time.perf_counter() - t0
        while not (state := check_rollout(client, refs)).ready:
            if state.fatal:
                raise RuntimeError(state.describe())
            time.sleep(0.2)
    setup = time.perf_counter() - t0
    start = reset_peak_rss()
    sandbox.reset_peak_rss()
    laps: dict = {}
    snapshot, report, blocks, detail = _check(kubeconfig, laps)
    rss = peak_rss_mib()
    traced = traced_peak_mib(lambda: _check(kubeconfig, None))
    sandbox.delete_cluster(cluster_id)
    pods = len(snapshot.pods)
    return {
        "nodes": len(snapshot.nodes),
        "pods": pods,
        "running": report.workload.pods.running,
        "deployments": len(snapshot.deployments),
        "setup_apply_s": round(applied, 2),
        "setup_until_ready_s": round(setup, 2),
        "collect_s": round(laps["collect"], 4),
        "collect_pods_per_s": round(pods / laps["collect"]),
        "assess_s": round(laps["assess"], 4),
        "blocks_s": round(laps["blocks"], 5),
        "blocks": len(blocks),
        "detail_file": detail is not None,
        "warnings": len(report.warnings),
        "kaas_tracemalloc_peak_mib": round(traced, 1),
        "kaas_peak_rss_mib": round(rss, 1),
        "kaas_start_rss_mib": round(start, 1),
        "sandbox_peak_rss_mib": round(sandbox.peak_rss_mib(), 1),
    }


# -- 3. backup and restore -------------------------------------------------------------------------------


def source_objects(namespaces: int, total: int) -> list[dict]:
    """`total` objects spread over `namespaces`: 60 % ConfigMaps, 20 % Secrets, 20 % Services."""
    out: list[dict] = []
    per = total // namespaces
    for n in range(namespaces):
        ns = f"team-{n:02d}"
        for i in range(per):
            meta = {"name": f"obj-{i:04d}", "namespace": ns, "labels": {"team": ns, "tier": f"t{i % 7}"}}
            kind = i % 5
            if kind < 3:
                data = {"config.yaml": f"id: {i}\nname: obj-{i}\nreplicas: {i % 4}\n", "MODE": "prod"}
                out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})
            elif kind == 3:
                token = hashlib.sha256(f"{ns}/{i}".encode()).hexdigest()
                out.append(
                    {
                        "apiVersion": "v1",
                        "kind": "Secret",
                        "type": "Opaque",
                        "metadata": meta,
                        "stringData": {"token": token},
                    }
                )
            else:
                spec = {"selector": {"app": f"obj-{i}"}, "ports": [{"port": 80, "targetPort": 8080}]}
                out.append({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec})
    return out


def _restore(kubeconfig: str, path: Path, laps: dict | None):
    t0 = time.perf_counter()
    with path.open("rb") as f:
        archive = read_archive(f)
    t1 = time.perf_counter()
    with _client(kubeconfig) as client:
        result = restore(client, archive)
    if laps is not None:
        laps.update(read=t1 - t0, restore=time.perf_counter() - t1)
    return archive, result


def bench_backup(sandbox: SandboxProcess, sizes: Sizes, workdir: Path, profile: bool) -> dict:
    source_id, source_kubeconfig = sandbox.create_cluster("backup-src", nodes=3)
    objects = source_objects(sizes.backup_namespaces, sizes.backup_objects)
    sandbox.handler_time(reset=True)
    t0 = time.perf_counter()
    with _client(source_kubeconfig) as client:
        for n in range(sizes.backup_namespaces):
            client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"team-{n:02d}"}})
        profile_from = len(objects) - min(500, len(objects))
        for i, obj in enumerate(objects):
            if profile and i == profile_from:
                sandbox.profile(True)
            client.create(obj)
    create_s = time.perf_counter() - t0
    served = sandbox.handler_time(reset=True)
    profile_text = sandbox.profile(False) if profile else None

    def do_export(path: Path, laps: dict | None):
        t = time.perf_counter()
        with _client(source_kubeconfig) as client, path.open("wb") as out:
            summary = export(client, cluster="backup-src", namespace=None, out=out, created_at=CREATED_AT)
        if laps is not None:
            laps["export"] = time.perf_counter() - t
        return summary

    archive_path = workdir / "backup.tar.gz"
    export_start = reset_peak_rss()
    sandbox.reset_peak_rss()
    laps: dict = {}
    summary = do_export(archive_path, laps)
    export_served = sandbox.handler_time(reset=True)
    export_rss = peak_rss_mib()
    export_traced = traced_peak_mib(lambda: do_export(workdir / "traced.tar.gz", None))
    sandbox.delete_cluster(source_id)

    target_id, target_kubeconfig = sandbox.create_cluster("restore", nodes=3)
    restore_start = reset_peak_rss()
    sandbox.reset_peak_rss()
    sandbox.handler_time(reset=True)
    archive, result = _restore(target_kubeconfig, archive_path, laps)
    restore_served = sandbox.handler_time(reset=True)
    restore_rss = peak_rss_mib()
    sandbox_rss = sandbox.peak_rss_mib()
    sandbox.delete_cluster(target_id)
    traced_id, traced_kubeconfig = sandbox.create_cluster("restore-traced", nodes=3)
    restore_traced = traced_peak_mib(lambda: _restore(traced_kubeconfig, archive_path, None))
    sandbox.delete_cluster(traced_id)
    if result.failed:
        raise RuntimeError(f"{len(result.failed)} objects failed to restore, e.g. {result.failed[:3]}")
    count = summary.object_count
    written = len(objects) + sizes.backup_namespaces
    return {
        "source_objects": written,
        "source_create_s": round(create_s, 2),
        "source_writes_per_s": round(written / create_s),
        "source_ms_per_write": round(1000 * create_s / written, 2),
        "sandbox_handler_ms_per_write": round(1000 * served["seconds"] / max(served["requests"], 1), 2),
        "archive_objects": count,
        "archive_kib": round(archive_path.stat().st_size / 1024, 1),
        "export_s": round(laps["export"], 2),
        "export_objects_per_s": round(count / laps["export"]),
        "export_requests": export_served["requests"],
        "export_sandbox_handler_s": round(export_served["seconds"], 2),
        "export_tracemalloc_peak_mib": round(export_traced, 1),
        "export_peak_rss_mib": round(export_rss, 1),
        "export_start_rss_mib": round(export_start, 1),
        "read_archive_s": round(laps["read"], 2),
        "restore_s": round(laps["restore"], 2),
        "restore_objects_per_s": round(len(archive.objects) / (laps["read"] + laps["restore"])),
        "restored_created": len(result.created),
        "restored_skipped": len(result.skipped),
        "restore_sandbox_handler_s": round(restore_served["seconds"], 2),
        "restore_tracemalloc_peak_mib": round(restore_traced, 1),
        "restore_peak_rss_mib": round(restore_rss, 1),
        "restore_start_rss_mib": round(restore_start, 1),
        "sandbox_peak_rss_mib": round(sandbox_rss, 1),
        "profile": profile_text,
    }


# -- report ---------------------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    if seconds < 0.01:
        return f"{1000 * seconds:.2f} ms"
    return f"{1000 * seconds:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _memory(traced: float, peak: float, start: float, sandbox: float | None = None) -> str:
    text = f"{traced} MiB / {peak} MiB ({start} MiB)"
    return text if sandbox is None else f"{text}; {sandbox} MiB"


def table(result: dict) -> str:
    d, c, b = result["deploy"], result["check"], result["backup"]
    rows = [
        (f"deploy: parse {d['manifest_documents']}-document manifest ({d['manifest_kib']} KiB)",
         _ms(d["parse_s"])),
        ("deploy: label + place (incl. discovery, namespace check)", _ms(d["prepare_s"])),
        (f"deploy: apply {d['objects_applied']} objects (dry run + server-side apply)",
         f"{_ms(d['apply_s'])} ({d['apply_objects_per_s']} objects/s)"),
        (f"deploy: rollout ready after apply ({d['rollout_polls']} poll(s))", _ms(d["rollout_ready_s"])),
        (f"deploy: total ({d['requests']} requests; sandbox handlers {_ms(d['sandbox_handler_s'])})",
         _ms(d["total_s"])),
        ("deploy: kaas peak memory, tracemalloc / RSS (RSS at start); sandbox peak RSS",
         _memory(d["kaas_tracemalloc_peak_mib"], d["kaas_peak_rss_mib"], d["kaas_start_rss_mib"],
                 d["sandbox_peak_rss_mib"])),
        (f"check: setup, {c['deployments']} Deployments until {c['pods']} pods Running on {c['nodes']} nodes",
         _ms(c["setup_until_ready_s"])),
        ("check: `checks.collect` (nodes, pods, workloads, node metrics; pages of 500)",
         f"{_ms(c['collect_s'])} ({c['collect_pods_per_s']} pods/s)"),
        ("check: `insight.assess`", _ms(c["assess_s"])),
        (f"check: `check_blocks` ({c['blocks']} blocks, detail file: {'yes' if c['detail_file'] else 'no'})",
         _ms(c["blocks_s"])),
        ("check: kaas peak memory, tracemalloc / RSS (RSS at start); sandbox peak RSS",
         _memory(c["kaas_tracemalloc_peak_mib"], c["kaas_peak_rss_mib"], c["kaas_start_rss_mib"],
                 c["sandbox_peak_rss_mib"])),
        (f"backup: create {b['source_objects']} source objects, one POST each",
         f"{_ms(b['source_create_s'])} ({b['source_ms_per_write']} ms/write, "
         f"{b['sandbox_handler_ms_per_write']} ms in the sandbox's handler)"),
        (f"backup: `export` {b['archive_objects']} objects ({b['archive_kib']} KiB .tar.gz, "
         f"{b['export_requests']} requests; sandbox handlers {_ms(b['export_sandbox_handler_s'])})",
         f"{_ms(b['export_s'])} ({b['export_objects_per_s']} objects/s)"),
        ("backup: kaas peak memory, tracemalloc / RSS (RSS at start)",
         _memory(b["export_tracemalloc_peak_mib"], b["export_peak_rss_mib"], b["export_start_rss_mib"])),
        ("restore: `read_archive` into memory", _ms(b["read_archive_s"])),
        (f"restore: `restore` into an empty cluster ({b['restored_created']} created, "
         f"{b['restored_skipped']} already there; sandbox handlers {_ms(b['restore_sandbox_handler_s'])})",
         f"{_ms(b['restore_s'])} ({b['restore_objects_per_s']} objects/s incl. reading)"),
        ("restore: kaas peak memory, tracemalloc / RSS (RSS at start); sandbox peak RSS",
         _memory(b["restore_tracemalloc_peak_mib"], b["restore_peak_rss_mib"], b["restore_start_rss_mib"],
                 b["sandbox_peak_rss_mib"])),
    ]  # fmt: skip
    lines = [f"kaas process RSS before the scenarios: {result['rss_baseline_mib']} MiB", ""]
    lines += ["| what | result |", "|---|---|"]
    lines += [f"| {what} | {value} |" for what, value in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--profile", action="store_true", help="cProfile the sandbox on the last 500 writes")
    parser.add_argument("--json", action="store_true", help="also print the raw figures as JSON")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="kaas-bench-apps-") as tmp:
        sandbox = SandboxProcess(Path(tmp) / "sandbox")
        try:
            result = {
                "sizes": sizes.__dict__,
                "rss_baseline_mib": round(_proc_status_mib("VmRSS"), 1),
                "deploy": bench_deploy(sandbox, sizes),
                "check": bench_check(sandbox, sizes),
                "backup": bench_backup(sandbox, sizes, Path(tmp), args.profile),
            }
        finally:
            sandbox.close()
    profile = result["backup"].pop("profile")
    if profile:
        print("Sandbox REST handlers during the last 500 source-object writes (cProfile, by own time):")
        print(profile)
    if args.json:
        print(json.dumps(result, indent=2))
    print(table(result))


if __name__ == "__main__":
    main()
