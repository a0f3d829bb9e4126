"""Simulated pod failures: image pulls that fail, crash loops and failing run-to-completion pods.

The back-off schedule is checked on a store with a fake clock; what clients see (pod JSON, the STATUS column,
`kubectl rollout status`) with real kubectl against a sandbox, polling with a deadline.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from providers.sandbox import controllers, defaults, machines
from providers.sandbox.controllers import kubelet
from providers.sandbox.resources import BUILTIN_REGISTRY, ResourceType
from providers.sandbox.state import StateDB
from providers.sandbox.store import ClusterStore, rfc3339
from tests.sandbox.clients import Client


def _rt(api_version: str, kind: str) -> ResourceType:
    rt = BUILTIN_REGISTRY.by_kind(api_version, kind)
    assert rt is not None
    return rt


NS, NODE, POD = _rt("v1", "Namespace"), _rt("v1", "Node"), _rt("v1", "Pod")

BAD_HOST = "registry.invalid/app:1.0"
HOST_ERROR = (
    'failed to pull and unpack image "registry.invalid/app:1.0": failed to resolve reference '
    '"registry.invalid/app:1.0": failed to do request: Head "https://registry.invalid/v2/app/manifests/1.0": '
    "dial tcp: lookup registry.invalid: no such host"
)


# -- the rules -------------------------------------------------------------------------------------------


def test_pull_errors_are_containerds() -> None:
    assert kubelet.pull_error(BAD_HOST) == HOST_ERROR
    assert kubelet.pull_error("registry.invalid:5000/team/app@sha256:abc") == (
        'failed to pull and unpack image "registry.invalid:5000/team/app@sha256:abc": failed to resolve '
        'reference "registry.invalid:5000/team/app@sha256:abc": failed to do request: Head '
        '"https://registry.invalid:5000/v2/team/app/manifests/sha256:abc": '
        "dial tcp: lookup registry.invalid: no such host"
    )
    assert kubelet.pull_error("nginx:does-not-exist") == (
        'rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/nginx:'
        'does-not-exist": failed to resolve reference "docker.io/library/nginx:does-not-exist": '
        "docker.io/library/nginx:does-not-exist: not found"
    )
    for fine in ("nginx", "nginx:1.27", "ghcr.io/org/app:v1", "invalid/app:1.0", "localhost:5000/app", ""):
        assert kubelet.pull_error(fine) is None, fine


@pytest.mark.parametrize(
    ("command", "args", "code"),
    [
        (["false"], [], 1),
        (["/bin/false"], ["ignored"], 1),
        (["sh", "-c", "exit 1"], [], 1),
        (["/bin/sh", "-c"], ["echo starting; sleep 1; exit 42"], 42),
        (["sh", "-c", "trap 'exit 0' TERM; exit 3"], [], 3),
        (["sh", "-c", "exit 256"], [], 0),
        (["sh", "-c", "exit 0"], [], 0),
        (["sh", "-c", "exit"], [], 0),
        (["sh", "-c", "sleep infinity"], [], 0),
        (["myexit", "1"], [], 0),
        ([], ["false"], 0),
    ],
)
def test_exit_code_of_a_command(command: list[str], args: list[str], code: int) -> None:
    assert kubelet.exit_code({"command": command, "args": args}) == code


# -- the back-off schedule, on a fake clock -----------------------------------------------------------------


class Cluster:
    """A store with one Ready node and the controllers, on a clock that only moves when told to."""

    def __init__(self, path: Path, *, version: str = "v1.32.5", **settings: float) -> None:
        self.now = 1_750_000_000.0
        self.db = StateDB(path / "state.db")
        self.store = ClusterStore("test", self.db, clock=lambda: self.now)
        self.ctx = controllers.ControllerContext(
            store=self.store,
            settings=controllers.ControllerSettings(strict=True, **settings),
            kubernetes_version=version,
        )
        self.create(NS, {"metadata": {"name": "default"}})
        self.create(NODE, machines.node_object("sbx", 0, "e2-standard-4", version, now=self.now))

    def create(self, rt: ResourceType, obj: dict) -> None:
        with self.store.lock:
            body = {"apiVersion": rt.group_version, "kind": rt.kind, **obj}
            self.store.create(rt, defaults.apply_defaults(rt, body, store=self.store))
            controllers.reconcile(self.ctx)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        with self.store.lock:
            controllers.reconcile(self.ctx)

    def pod(self, name: str = "p") -> dict:
        pod = self.store.get(POD.key, "default", name)
        assert pod is not None
        return pod


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    yield c
    c.db.close()


def pod(
    name: str = "p", *, restart_policy: str = "Always", init: list[dict] | None = None, **container
) -> dict:
    spec: dict = {
        "restartPolicy": restart_policy,
        "containers": [{"name": "app", "image": "busybox", **container}],
    }
    if init:
        spec["initContainers"] = init
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec}


def cond(obj: dict, type_: str) -> dict:
    return next(c for c in obj["status"]["conditions"] if c["type"] == type_)


def waiting(cs: dict) -> tuple[str, str]:
    w = cs["state"]["waiting"]
    return w["reason"], w.get("message", "")


def test_crash_loop_restarts_with_the_kubelets_doubling_back_off(cluster: Cluster) -> None:
    cluster.create(POD, pod(command=["sh", "-c", "exit 3"]))
    uid = cluster.pod()["metadata"]["uid"]
    started = cluster.now
    # The first exit is restarted at once; a 10 s back-off step lasts 1 s here (pod_start_seconds is 0).
    seen = []
    for _ in range(16):
        p = cluster.pod()
        [cs] = p["status"]["containerStatuses"]
        assert p["status"]["phase"] == "Running" and cond(p, "Ready")["status"] == "False"
        seen.append((cluster.now - started, cs["restartCount"], waiting(cs)[1].split(" restarting")[0]))
        cluster.advance(1)
    assert [s for s in seen if s[0] in (0, 1, 3, 7, 15)] == [
        (0, 1, "back-off 10s"),
        (1, 2, "back-off 20s"),
        (3, 3, "back-off 40s"),
        (7, 4, "back-off 1m20s"),
        (15, 5, "back-off 2m40s"),
    ]
    assert [s[1] for s in seen] == [1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 5]
    # Restarts at 0, 1, 3, 7, 15 and 31 s, then every 30 s (the 5m0s cap): the 16th at 331 s.
    cluster.advance(332 - 16)
    [cs] = cluster.pod()["status"]["containerStatuses"]
    assert cs["restartCount"] == 16 and waiting(cs) == (
        "CrashLoopBackOff",
        f"back-off 5m0s restarting failed container=app pod=p_default({uid})",
    )
    last = cs["lastState"]["terminated"]
    assert last == {
        "exitCode": 3,
        "reason": "Error",
        "startedAt": rfc3339(started + 331),
        "finishedAt": rfc3339(started + 331),
        "containerID": cs["containerID"],
    }
    assert (cs["ready"], cs["started"]) == (False, False)
    assert cs["image"] == "docker.io/library/busybox:latest" and cs["imageID"].startswith("docker.io/")


def test_back_off_step_is_the_pod_start_delay(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, pod_start_seconds=5)
    cluster.create(POD, pod(command=["false"]))
    assert (
        cluster.pod()["status"]["phase"] == "Pending" and "containerStatuses" not in cluster.pod()["status"]
    )
    cluster.advance(5)
    counts = []
    for _ in range(4):
        counts.append(cluster.pod()["status"]["containerStatuses"][0]["restartCount"])
        cluster.advance(2.5)
    assert counts == [1, 1, 2, 2]
    assert cluster.pod()["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 1
    cluster.db.close()


def test_image_pull_alternates_err_image_pull_and_back_off(cluster: Cluster) -> None:
    cluster.create(POD, pod(image=BAD_HOST))
    p = cluster.pod()
    assert p["status"]["phase"] == "Pending" and p["status"]["podIP"]
    assert p["status"]["containerStatuses"] == [
        {
            "name": "app",
            "image": BAD_HOST,
            "imageID": "",
            "ready": False,
            "restartCount": 0,
            "started": False,
            "lastState": {},
            "state": {"waiting": {"reason": "ErrImagePull", "message": HOST_ERROR}},
        }
    ]
    assert cond(p, "Initialized")["status"] == "True"
    for type_ in ("Ready", "ContainersReady"):
        c = cond(p, type_)
        assert (c["status"], c["reason"], c["message"]) == (
            "False",
            "ContainersNotReady",
            "containers with unready status: [app]",
        )
    cluster.advance(1)
    assert waiting(cluster.pod()["status"]["containerStatuses"][0]) == (
        "ImagePullBackOff",
        f'Back-off pulling image "{BAD_HOST}": ErrImagePull: {HOST_ERROR}',
    )
    timeline = "E"
    for _ in range(10):
        p = cluster.pod()
        [cs] = p["status"]["containerStatuses"]
        assert p["status"]["phase"] == "Pending" and cs["restartCount"] == 0
        assert waiting(cs)[0] in ("ErrImagePull", "ImagePullBackOff")
        timeline += "E" if waiting(cs)[0] == "ErrImagePull" else "b"
        cluster.advance(1)
    # Pull attempts at 0, 2, 5, 10 and 19 s; each shows ErrImagePull for one step, then the back-off.
    assert timeline == "EbEbbEbbbbE"


def test_back_off_message_before_1_32_has_no_pull_error(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, version="v1.31.9")
    cluster.create(POD, pod(image="nginx:does-not-exist"))
    cluster.advance(1)
    assert waiting(cluster.pod()["status"]["containerStatuses"][0]) == (
        "ImagePullBackOff",
        'Back-off pulling image "nginx:does-not-exist"',
    )
    cluster.db.close()


def test_init_container_that_cannot_pull_holds_the_pod(cluster: Cluster) -> None:
    init = [{"name": "setup", "image": "busybox"}, {"name": "fetch", "image": "nginx:does-not-exist"}]
    cluster.create(POD, pod(init=init))
    p = cluster.pod()
    setup, fetch = p["status"]["initContainerStatuses"]
    assert setup["state"]["terminated"]["reason"] == "Completed" and waiting(fetch)[0] == "ErrImagePull"
    assert waiting(p["status"]["containerStatuses"][0]) == ("PodInitializing", "")
    assert p["status"]["phase"] == "Pending"
    c = cond(p, "Initialized")
    assert (c["status"], c["reason"], c["message"]) == (
        "False",
        "ContainersNotInitialized",
        "containers with incomplete status: [fetch]",
    )


def test_failing_init_container_crash_loops_or_fails_the_pod(cluster: Cluster) -> None:
    init = [{"name": "migrate", "image": "busybox", "command": ["sh", "-c", "exit 2"]}]
    cluster.create(POD, pod("always", init=init))
    cluster.create(POD, pod("never", init=init, restart_policy="Never"))
    always, never = cluster.pod("always"), cluster.pod("never")
    assert always["status"]["phase"] == "Pending"
    assert waiting(always["status"]["initContainerStatuses"][0])[0] == "CrashLoopBackOff"
    assert never["status"]["phase"] == "Failed"
    terminated = never["status"]["initContainerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (2, "Error")
    assert waiting(never["status"]["containerStatuses"][0]) == ("PodInitializing", "")
    assert cond(never, "Ready")["reason"] == "PodFailed"


def test_run_to_completion_pod_fails_with_its_exit_code(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, pod_start_seconds=2)
    cluster.create(POD, pod("never", restart_policy="Never", command=["sh", "-c", "exit 7"]))
    cluster.create(POD, pod("onfailure", restart_policy="OnFailure", command=["false"]))
    cluster.advance(2)
    assert {cluster.pod(n)["status"]["phase"] for n in ("never", "onfailure")} == {"Running"}
    cluster.advance(2)
    for name, code in (("never", 7), ("onfailure", 1)):
        p = cluster.pod(name)
        terminated = p["status"]["containerStatuses"][0]["state"]["terminated"]
        assert p["status"]["phase"] == "Failed" and (terminated["exitCode"], terminated["reason"]) == (
            code,
            "Error",
        )
        assert terminated["finishedAt"] == rfc3339(cluster.now) and cond(p, "Ready")["reason"] == "PodFailed"
    cluster.db.close()


def test_a_healthy_pod_is_unchanged(cluster: Cluster) -> None:
    cluster.create(POD, pod(command=["sh", "-c", "sleep infinity"]))
    p = cluster.pod()
    assert p["status"]["phase"] == "Running" and all(c["status"] == "True" for c in p["status"]["conditions"])
    [cs] = p["status"]["containerStatuses"]
    assert cs["ready"] is True and cs["restartCount"] == 0 and "running" in cs["state"]
    rv = cluster.store.rv
    cluster.advance(600)
    assert cluster.store.rv == rv


# -- what clients see ---------------------------------------------------------------------------------------


def deployment(name: str, container: dict, replicas: int = 1, **spec) -> str:
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", **container}]},
                },
                **spec,
            },
        }
    )


def pods(client: Client, app: str) -> list[dict]:
    return json.loads(client.kubectl("get", "pods", "-l", f"app={app}", "-o", "json").stdout)["items"]


def poll(check: Callable[[], object], what: str, timeout: float = 30) -> object:
    """`check()` once it returns something truthy; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def status_column(client: Client, app: str) -> list[str]:
    lines = client.kubectl("get", "pods", "-l", f"app={app}", "--no-headers").stdout.splitlines()
    return [line.split()[2] for line in lines]


@pytest.mark.e2e
def test_deployment_with_an_unpullable_image(client: Client) -> None:
    client.kubectl(
        "apply", "-f", "-", stdin=deployment("bad", {"image": BAD_HOST}, progressDeadlineSeconds=2)
    )
    reasons: list[str] = []

    def both_seen() -> bool:
        [p] = pods(client, "bad")
        assert p["status"]["phase"] == "Pending"
        [cs] = p["status"]["containerStatuses"]
        assert (cs["ready"], cs["started"], cs["restartCount"], cs["imageID"]) == (False, False, 0, "")
        reason, message = waiting(cs)
        if reason == "ErrImagePull":
            assert message == HOST_ERROR
        else:
            assert (reason, message) == (
                "ImagePullBackOff",
                f'Back-off pulling image "{BAD_HOST}": ErrImagePull: {HOST_ERROR}',
            )
        if reason not in reasons:
            reasons.append(reason)
        return len(reasons) == 2

    poll(both_seen, "ErrImagePull and ImagePullBackOff")
    assert set(reasons) == {"ErrImagePull", "ImagePullBackOff"}
    poll(lambda: status_column(client, "bad") == ["ImagePullBackOff"], "STATUS ImagePullBackOff")
    d = json.loads(client.kubectl("get", "deployment", "bad", "-o", "json").stdout)
    assert d["status"]["replicas"] == 1 and d["status"].get("readyReplicas", 0) == 0
    rollout = client.kubectl("rollout", "status", "deployment/bad", "--timeout=3s", check=False)
    assert rollout.returncode != 0
    assert 'deployment "bad" exceeded its progress deadline' in rollout.stderr


@pytest.mark.e2e
def test_deployment_that_crash_loops(client: Client) -> None:
    container = {"image": "busybox:1.36", "command": ["sh", "-c", "echo booting; exit 1"]}
    client.kubectl("apply", "-f", "-", stdin=deployment("crash", container))

    def restarted_twice() -> dict | None:
        [p] = pods(client, "crash")
        [cs] = p["status"]["containerStatuses"]
        return p if cs["restartCount"] >= 3 else None

    p = poll(restarted_twice, "two more restarts")
    assert isinstance(p, dict)
    [cs] = p["status"]["containerStatuses"]
    assert p["status"]["phase"] == "Running" and cond(p, "Ready")["status"] == "False"
    reason, message = waiting(cs)
    assert reason == "CrashLoopBackOff"
    name, uid = p["metadata"]["name"], p["metadata"]["uid"]
    pattern = rf"back-off (\d+m)?\d+s restarting failed container=app pod={name}_default\({uid}\)"
    assert re.fullmatch(pattern, message), message
    terminated = cs["lastState"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (1, "Error") and terminated["finishedAt"]
    row = client.kubectl("get", "pods", "-l", "app=crash", "--no-headers").stdout.split()
    assert row[1:3] == ["0/1", "CrashLoopBackOff"] and int(row[3]) >= 3
    rollout = client.kubectl("rollout", "status", "deployment/crash", "--timeout=3s", check=False)
    assert rollout.returncode != 0 and "timed out" in rollout.stderr
    d = json.loads(client.kubectl("get", "deployment", "crash", "-o", "json").stdout)
    assert d["status"].get("readyReplicas", 0) == 0 and d["status"]["unavailableReplicas"] == 1


@pytest.mark.e2e
def test_job_whose_command_fails(client: Client) -> None:
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate", "namespace": "default"},
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": {"app": "migrate"}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "migrate", "image": "busybox", "command": ["false"]}],
                },
            },
        },
    }
    client.kubectl("apply", "-f", "-", stdin=json.dumps(job))
    client.kubectl("wait", "--for=condition=Failed", "job/migrate", "--timeout=30s")
    [p] = pods(client, "migrate")
    assert p["status"]["phase"] == "Failed"
    terminated = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (1, "Error")
    assert status_column(client, "migrate") == ["Error"]


@pytest.mark.e2e
def test_init_container_pull_failure_in_the_status_column(client: Client) -> None:
    body = json.loads(deployment("init", {"image": "nginx:1.27"}))
    body["spec"]["template"]["spec"]["initContainers"] = [
        {"name": "fetch", "image": "busybox:does-not-exist"}
    ]
    client.kubectl("apply", "-f", "-", stdin=json.dumps(body))
    poll(lambda: status_column(client, "init") == ["Init:ImagePullBackOff"], "STATUS Init:ImagePullBackOff")


@pytest.mark.e2e
def test_healthy_deployment_still_rolls_out(client: Client) -> None:
    container = {"image": "nginx:1.27", "command": ["sh", "-c", "sleep infinity"]}
    client.kubectl("apply", "-f", "-", stdin=deployment("good", container, replicas=2))
    client.kubectl("rollout", "status", "deployment/good", "--timeout=30s")
    for p in pods(client, "good"):
        assert p["status"]["phase"] == "Running" and cond(p, "Ready")["status"] == "True"
        [cs] = p["status"]["containerStatuses"]
        assert cs["ready"] is True and cs["restartCount"] == 0 and "running" in cs["state"]
    assert status_column(client, "good") == ["Running", "Running"]
