"""Benchmark: many virtual clusters in one sandbox process, and listing pods over real HTTPS.

    .venv/bin/python bench/sandbox_scale.py --clusters 1000 --nodes 3 --pods 1000 --lists 300

Prints one JSON object; docs/BENCHMARKS.md records the figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

import requests

from providers.sandbox.sandbox import Sandbox, SandboxSettings


def rss_mib() -> float:
    """Current resident set size (from /proc, not the peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench_clusters(sandbox: Sandbox, count: int, nodes: int) -> dict:
    before = rss_mib()
    started = time.perf_counter()
    first = None
    for i in range(count):
        t0 = time.perf_counter()
        sandbox.create_cluster(f"c{i}", nodes=nodes)
        if first is None:
            first = time.perf_counter() - t0
    total = time.perf_counter() - started
    ticks = []
    for _ in range(10):
        t0 = time.perf_counter()
        sandbox.tick()
        ticks.append(1000 * (time.perf_counter() - t0))
    return {
        "clusters": count,
        "nodes_per_cluster": nodes,
        "create_total_s": round(total, 2),
        "create_per_cluster_ms": round(1000 * total / count, 2),
        "first_create_ms": round(1000 * (first or 0), 2),
        "idle_tick_ms": round(statistics.median(ticks), 2),
        "rss_before_mib": round(before, 1),
        "rss_after_mib": round(rss_mib(), 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def bench_list(sandbox: Sandbox, pods: int, lists: int, workdir: Path) -> dict:
    info = sandbox.create_cluster("listing", nodes=10, machine_type="e2-standard-16")
    ca = workdir / "ca.crt"
    ca.write_text(sandbox.ca_pem)
    s = requests.Session()
    s.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace the sandbox CA
    s.verify = str(ca)
    s.headers["Authorization"] = f"Bearer {sandbox.token(info.id)}"
    base = f"{info.endpoint}/api/v1/namespaces"
    s.post(base, json={"metadata": {"name": "bench"}}, timeout=30).raise_for_status()
    t0 = time.perf_counter()
    s.post(
        f"{info.endpoint}/apis/apps/v1/namespaces/bench/deployments",
        timeout=120,
        json={
            "metadata": {"name": "many"},
            "spec": {
                "replicas": pods,
                "selector": {"matchLabels": {"app": "many"}},
                "template": {
                    "metadata": {"labels": {"app": "many"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}]},
                },
            },
        },
    ).raise_for_status()
    rollout = time.perf_counter() - t0
    url = f"{base}/bench/pods"
    running = sum(1 for p in s.get(url, timeout=60).json()["items"] if p["status"]["phase"] == "Running")
    samples = []
    for _ in range(lists):
        t = time.perf_counter()
        r = s.get(url, timeout=60)
        r.raise_for_status()
        samples.append(1000 * (time.perf_counter() - t))
    samples.sort()
    return {
        "pods": pods,
        "running": running,
        "deployment_of_n_pods_s": round(rollout, 2),
        "list_requests": lists,
        "list_body_kib": round(len(r.content) / 1024, 1),
        "list_p50_ms": round(statistics.median(samples), 2),
        "list_p99_ms": round(samples[min(len(samples) - 1, int(0.99 * len(samples)))], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--lists", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox(SandboxSettings(state_dir=Path(tmp) / "state")).start()
        try:
            result = {"scale": bench_clusters(sandbox, args.clusters, args.nodes)}
            result["list_pods"] = bench_list(sandbox, args.pods, args.lists, Path(tmp))
        finally:
            sandbox.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
