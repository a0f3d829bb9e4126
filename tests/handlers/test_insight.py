"""handlers/insight.py: the `/kaas check` report as a pure function of synthetic cluster snapshots.

The factories below build Kubernetes objects the way the API returns them (camelCase JSON); each test states
the cluster it needs in a few lines. tests/bot/test_insight_views.py reuses them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random

import pytest

from handlers.insight import (
    CRITICAL,
    MAX_QUANTITY,
    WARNING,
    CheckReport,
    ClusterSnapshot,
    assess,
    format_cpu,
    format_memory,
    parse_cpu,
    parse_memory,
    pod_requests,
    summary_line,
)

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
GI = 2**30
MI = 2**20
NO_CPU = "0/3 nodes are available: 3 Insufficient cpu."
NO_MEMORY = "0/3 nodes are available: 3 Insufficient memory."

# --- factories --------------------------------------------------------------------------------------------


def stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def node(
    name: str,
    cpu: str = "4",
    memory: str = "16Gi",
    ready: bool | str = True,
    *,
    pods: str = "110",
    unschedulable: bool = False,
    pressures: tuple[str, ...] = (),
    since: dt.datetime = NOW - dt.timedelta(days=30),
    reason: str = "",
    message: str = "",
) -> dict:
    status = ready if isinstance(ready, str) else ("True" if ready else "False")
    conditions = [
        {
            "type": "Ready",
            "status": status,
            "lastTransitionTime": stamp(since),
            "reason": reason,
            "message": message,
        },
        *(
            {"type": p, "status": "True" if p in pressures else "False"}
            for p in ("MemoryPressure", "DiskPressure", "PIDPressure")
        ),
    ]
    allocatable = {"cpu": cpu, "memory": memory, "pods": pods}
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "spec": {"unschedulable": True} if unschedulable else {},
        "status": {"capacity": dict(allocatable), "allocatable": allocatable, "conditions": conditions},
    }


def container(
    name: str = "app", cpu: str | None = "100m", memory: str | None = "128Mi", **extra: object
) -> dict:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v is not None}
    return {"name": name, "image": f"registry.example/{name}:1", "resources": {"requests": requests}, **extra}


def pod(
    name: str,
    namespace: str = "default",
    node: str | None = "node-1",
    phase: str = "Running",
    cpu: str | None = "100m",
    memory: str | None = "128Mi",
    *,
    ready: bool = True,
    containers: list[dict] | None = None,
    init: list[dict] | None = None,
    waiting: tuple[str, str] | None = None,
    restarts: int = 0,
    last_reason: str = "",
    unscheduled: tuple[str, str] | None = None,
    terminating: bool = False,
) -> dict:
    """A pod; `waiting` = (reason, message) of its first container, `unscheduled` = the PodScheduled reason
    and message (the pod then has no node)."""
    spec: dict = {"containers": containers or [container(cpu=cpu, memory=memory)]}
    if init:
        spec["initContainers"] = init
    conditions: list[dict] = []
    if unscheduled:
        node, phase = None, "Pending"
        conditions.append(
            {"type": "PodScheduled", "status": "False", "reason": unscheduled[0], "message": unscheduled[1]}
        )
    else:
        conditions.append({"type": "PodScheduled", "status": "True"})
    if node:
        spec["nodeName"] = node
    if phase == "Running":
        conditions.append({"type": "Ready", "status": "True" if ready else "False"})
    statuses = []
    for i, c in enumerate(spec["containers"]):
        state: dict = {"running": {"startedAt": stamp(NOW)}}
        if i == 0 and waiting:
            state = {"waiting": {"reason": waiting[0], "message": waiting[1]}}
        entry: dict = {"name": c["name"], "ready": ready and not waiting, "restartCount": 0, "state": state}
        if i == 0:
            entry["restartCount"] = restarts
            if last_reason:
                entry["lastState"] = {"terminated": {"reason": last_reason, "exitCode": 137}}
        statuses.append(entry)
    metadata: dict = {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}"}
    if terminating:
        metadata["deletionTimestamp"] = stamp(NOW)
    status: dict = {"phase": phase, "conditions": conditions}
    if phase != "Pending" or waiting:
        status["containerStatuses"] = statuses
    return {"metadata": metadata, "spec": spec, "status": status}


def deployment(name: str, replicas: int = 1, ready: int | None = None, namespace: str = "default") -> dict:
    ready = replicas if ready is None else ready
    status = {
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": ready,
    }
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": replicas},
        "status": status,
    }


def statefulset(name: str, replicas: int = 1, ready: int | None = None, namespace: str = "default") -> dict:
    return deployment(name, replicas, ready, namespace)


def daemonset(name: str, desired: int = 3, ready: int | None = None, namespace: str = "kube-system") -> dict:
    ready = desired if ready is None else ready
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {},
        "status": {
            "desiredNumberScheduled": desired,
            "numberReady": ready,
            "updatedNumberScheduled": desired,
            "numberAvailable": ready,
        },
    }


def usage(cpu: str, memory: str) -> dict:
    return {
        "metadata": {"name": "n"},
        "timestamp": stamp(NOW),
        "window": "20s",
        "usage": {"cpu": cpu, "memory": memory},
    }


def snapshot(
    nodes: list[dict] | tuple = (),
    pods: list[dict] | tuple = (),
    deployments: list[dict] | tuple = (),
    **extra: object,
) -> ClusterSnapshot:
    return ClusterSnapshot(
        nodes=tuple(nodes), pods=tuple(pods), deployments=tuple(deployments), taken_at=NOW, **extra
    )


def healthy_snapshot() -> ClusterSnapshot:
    nodes = [node(f"node-{i}") for i in (1, 2, 3)]
    pods = [pod(f"web-{i}", node=f"node-{i % 3 + 1}", cpu="500m", memory="1Gi") for i in range(6)]
    pods.append(pod("migrate-1", phase="Succeeded", ready=False))
    return snapshot(
        nodes,
        pods,
        [deployment("web", 6)],
        statefulsets=(statefulset("db", 1),),
        daemonsets=(daemonset("kube-proxy", 3),),
    )


def codes(report: CheckReport) -> list[str]:
    return [w.code for w in report.warnings]


# --- a healthy cluster ------------------------------------------------------------------------------------


def test_a_healthy_cluster_has_no_warnings() -> None:
    report = assess(healthy_snapshot())
    assert report.warnings == ()
    assert report.healthy and report.critical == 0
    assert [n.name for n in report.nodes] == ["node-1", "node-2", "node-3"]
    n1 = report.nodes[0]
    assert n1.ready and not n1.unschedulable and n1.pressures == () and n1.status == "Ready"
    assert (n1.cpu.allocatable, n1.cpu.requested, n1.cpu.requested_percent) == (4000, 1000, 25.0)
    assert (n1.memory.allocatable, n1.memory.requested) == (16 * GI, 2 * GI)
    assert n1.cpu.usage is None and n1.cpu.usage_percent is None
    assert (n1.pods, n1.pods_allocatable) == (2, 110)
    totals = report.totals
    assert (totals.nodes_ready, totals.nodes_total, totals.pods, totals.pods_allocatable) == (3, 3, 6, 330)
    assert (totals.cpu.allocatable, totals.cpu.requested) == (12000, 3000)
    assert not totals.metrics_available
    w = report.workload
    assert (w.pods.running, w.pods.succeeded, w.pods.pending, w.pods.total) == (6, 1, 0, 7)
    assert [(d.key, d.ready, d.desired, d.fully_ready) for d in w.deployments] == [
        ("default/web", 6, 6, True)
    ]
    assert [(s.kind, s.key) for s in (*w.statefulsets, *w.daemonsets)] == [
        ("StatefulSet", "default/db"),
        ("DaemonSet", "kube-system/kube-proxy"),
    ]
    assert w.pending == w.not_ready == w.restarting == w.not_fully_ready == ()
    assert summary_line(report) == (
        "3/3 nodes ready · cpu 25% requested · memory 12% requested · 6 pods running · no warnings"
    )


def test_the_report_is_deterministic_whatever_the_input_order() -> None:
    base = healthy_snapshot()
    nodes, pods = list(base.nodes), [*base.pods, pod("stuck", unscheduled=("Unschedulable", NO_CPU))]
    random.Random(7).shuffle(nodes)
    random.Random(7).shuffle(pods)
    one = assess(dataclasses.replace(base, pods=tuple(pods[::-1])))
    other = assess(dataclasses.replace(base, nodes=tuple(nodes), pods=tuple(pods)))
    assert one == other


# --- nodes ------------------------------------------------------------------------------------------------


def test_a_node_not_ready_is_critical_and_says_since_when() -> None:
    down = node(
        "node-2",
        ready="Unknown",
        since=NOW - dt.timedelta(hours=2),
        reason="NodeStatusUnknown",
        message="Kubelet stopped posting node status.",
    )
    report = assess(snapshot([node("node-1"), down, node("node-3", ready=False)]))
    assert [(n.name, n.ready) for n in report.nodes] == [
        ("node-1", True),
        ("node-2", False),
        ("node-3", False),
    ]
    assert report.nodes[1].status == "NotReady" and report.nodes[1].ready_reason == "NodeStatusUnknown"
    assert report.totals.nodes_ready == 1
    assert codes(report) == ["NodeNotReady", "NodeNotReady"]
    first = report.warnings[0]
    assert first.severity == CRITICAL and first.subjects == ("node-2",)
    assert first.text == (
        "Node `node-2` is not ready since 2025-06-01 10:00 UTC (2h ago): Kubelet stopped posting node status."
    )
    assert report.warnings[1].text == "Node `node-3` is not ready since 2025-05-02 12:00 UTC (30d ago)."
    assert not report.healthy and report.critical == 2
    assert summary_line(report).startswith("1/3 nodes ready · ")
    assert summary_line(report).endswith(" · 2 warnings (2 critical)")


def test_a_node_without_a_ready_condition_is_not_ready() -> None:
    bare = {"metadata": {"name": "new-node"}, "status": {"allocatable": {"cpu": "2", "memory": "4Gi"}}}
    report = assess(snapshot([bare]))
    (n,) = report.nodes
    assert not n.ready and n.ready_since is None and n.cpu.allocatable == 2000
    assert report.warnings[0].text == "Node `new-node` is not ready."


def test_an_overcommitted_node_is_warned_about() -> None:
    pods = [pod(f"p{i}", node="small", cpu="600m", memory="1Gi") for i in range(2)]
    report = assess(snapshot([node("small", cpu="1", memory="4Gi"), node("big")], pods))
    small = report.nodes[1]
    assert (small.name, small.cpu.requested, small.cpu.requested_percent) == ("small", 1200, 120.0)
    assert small.memory.requested_percent == 50.0
    (warning,) = report.warnings
    assert (warning.severity, warning.code, warning.subjects) == (WARNING, "NodeOvercommitted", ("small",))
    assert warning.text == "Node `small` has more cpu requested than allocatable: 1.2 of 1 (120%)."
    assert codes(assess(snapshot([node("small", cpu="1")], pods), overcommit_percent=150)) == []
    lower = assess(snapshot([node("small", cpu="1", memory="4Gi")], pods), overcommit_percent=40)
    assert [w.text for w in lower.warnings] == [
        "Node `small` has more cpu requested than 40% of allocatable: 1.2 of 1 (120%).",
        "Node `small` has more memory requested than 40% of allocatable: 2Gi of 4Gi (50%).",
    ]


def test_pressure_and_cordoned_nodes_are_warned_about() -> None:
    report = assess(
        snapshot([node("a", pressures=("DiskPressure", "MemoryPressure")), node("b", unschedulable=True)])
    )
    assert report.nodes[0].pressures == ("MemoryPressure", "DiskPressure")
    assert report.nodes[0].status == "Ready,MemoryPressure,DiskPressure"
    assert report.nodes[1].status == "Ready,SchedulingDisabled"
    assert [(w.code, w.subjects) for w in report.warnings] == [
        ("NodePressure", ("a",)),
        ("NodePressure", ("a",)),
        ("NodeCordoned", ("b",)),
    ]
    assert [w.text for w in report.warnings[:2]] == [
        "Node `a` is under memory pressure (MemoryPressure): the kubelet may evict pods.",
        "Node `a` is under disk pressure (DiskPressure): the kubelet may evict pods.",
    ]
    assert report.warnings[2].text == "Node `b` is cordoned: no new pods are scheduled on it."


def test_warnings_are_sorted_critical_first() -> None:
    pods = [pod("stuck", unscheduled=("Unschedulable", NO_CPU))]
    report = assess(
        snapshot(
            [node("a", unschedulable=True), node("b", ready=False)],
            pods,
            [deployment("api", 2, ready=0), deployment("web", 3, ready=2)],
        )
    )
    assert [(w.severity, w.code) for w in report.warnings] == [
        (CRITICAL, "NodeNotReady"),
        (CRITICAL, "WorkloadUnavailable"),
        (WARNING, "PodsUnschedulable"),
        (WARNING, "WorkloadNotReady"),
        (WARNING, "NodeCordoned"),
    ]
    assert report.warnings[1].text == "Deployment `default/api` has no ready pods (0/2)."
    assert report.warnings[3].text == "Deployment `default/web` has 2/3 pods ready."


# --- pods -------------------------------------------------------------------------------------------------


def test_unschedulable_pods_are_grouped_by_the_schedulers_message() -> None:
    pods = [
        pod("c", unscheduled=("Unschedulable", NO_CPU)),
        pod("a", unscheduled=("Unschedulable", NO_CPU)),
        pod("b", namespace="batch", unscheduled=("Unschedulable", NO_CPU)),
        pod("d", unscheduled=("Unschedulable", NO_MEMORY)),
        pod("e", unscheduled=("SchedulingGated", "Scheduling is blocked due to non-empty scheduling gates")),
        pod("f", phase="Pending", node=None),  # not seen by the scheduler yet
    ]
    report = assess(snapshot([node("node-1")], pods))
    pending = report.workload.pending
    assert [(p.key, p.reason, p.node) for p in pending] == [
        ("batch/b", "Unschedulable", ""),
        ("default/a", "Unschedulable", ""),
        ("default/c", "Unschedulable", ""),
        ("default/d", "Unschedulable", ""),
        ("default/e", "SchedulingGated", ""),
        ("default/f", "", ""),
    ]
    assert pending[0].message == NO_CPU
    assert report.workload.pods.pending == 6
    assert [(w.code, w.subjects) for w in report.warnings] == [
        ("PodsUnschedulable", ("batch/b", "default/a", "default/c")),
        ("PodsUnschedulable", ("default/d",)),
    ]
    assert report.warnings[0].text == (
        "3 pods (`batch/b`, `default/a`, `default/c`) can't be scheduled: 0/3 nodes are available: "
        "3 Insufficient cpu."
    )
    assert report.warnings[1].text == f"Pod `default/d` can't be scheduled: {NO_MEMORY}"
    assert summary_line(report).endswith("0 pods running, 6 pending · 2 warnings")


def test_many_unschedulable_pods_name_a_few_and_count_the_rest() -> None:
    pods = [pod(f"p{i}", unscheduled=("Unschedulable", NO_CPU)) for i in range(5)]
    (warning,) = assess(snapshot([node("node-1")], pods)).warnings
    assert warning.text.startswith("5 pods (`default/p0`, `default/p1`, `default/p2` and 2 more) can't be")
    assert len(warning.subjects) == 5


def test_image_pull_failures_are_pending_reasons_and_grouped_warnings() -> None:
    back_off = 'Back-off pulling image "registry.example/app:nope"'
    pods = [
        pod("web-1", phase="Pending", waiting=("ImagePullBackOff", back_off)),
        pod("web-2", phase="Pending", waiting=("ImagePullBackOff", back_off)),
        pod("job-1", phase="Pending", waiting=("ErrImagePull", "rpc error: not found")),
        pod("starting", phase="Pending", waiting=("ContainerCreating", "")),
    ]
    report = assess(snapshot([node("node-1")], pods))
    assert [(p.name, p.reason, p.container, p.node) for p in report.workload.pending] == [
        ("job-1", "ErrImagePull", "app", "node-1"),
        ("starting", "ContainerCreating", "app", "node-1"),
        ("web-1", "ImagePullBackOff", "app", "node-1"),
        ("web-2", "ImagePullBackOff", "app", "node-1"),
    ]
    assert report.workload.pending[2].message == back_off
    assert [(w.code, w.subjects) for w in report.warnings] == [
        ("ImagePullFailure", ("default/job-1",)),
        ("ImagePullFailure", ("default/web-1", "default/web-2")),
    ]
    assert report.warnings[1].text == (
        "2 pods (`default/web-1`, `default/web-2`) can't pull their image: Back-off pulling image "
        '"registry.example/app:nope".'
    )
    # Pending pods still hold their requests on the node they are bound to.
    assert report.nodes[0].cpu.requested == 400


def test_a_missing_secret_is_a_container_config_warning() -> None:
    message = 'secret "db-password" not found'
    report = assess(
        snapshot(
            [node("node-1")], [pod("api", phase="Pending", waiting=("CreateContainerConfigError", message))]
        )
    )
    assert report.workload.pending[0].reason == "CreateContainerConfigError"
    (warning,) = report.warnings
    assert warning.code == "ContainerConfigError"
    assert warning.text == 'Pod `default/api` can\'t start a container: secret "db-password" not found.'


def test_a_crash_looping_pod_is_running_not_ready_and_restart_heavy() -> None:
    message = "back-off 5m0s restarting failed container=app pod=api-1_default(uid)"
    crashing = pod(
        "api-1", ready=False, waiting=("CrashLoopBackOff", message), restarts=7, last_reason="OOMKilled"
    )
    steady = pod("api-2", restarts=4, last_reason="Error")
    report = assess(snapshot([node("node-1")], [crashing, steady]))
    w = report.workload
    assert (w.pods.running, w.pods.pending) == (2, 0)
    (not_ready,) = w.not_ready
    assert (not_ready.key, not_ready.phase, not_ready.reason, not_ready.container) == (
        "default/api-1",
        "Running",
        "CrashLoopBackOff",
        "app",
    )
    assert not_ready.message == message and not_ready.node == "node-1"
    (restarting,) = w.restarting
    assert (restarting.key, restarting.restarts, restarting.last_termination_reason) == (
        "default/api-1",
        7,
        "OOMKilled",
    )
    (warning,) = report.warnings
    assert (warning.code, warning.subjects) == ("CrashLoop", ("default/api-1",))
    assert warning.text == (
        "Pod `default/api-1` is crash-looping: container `app` restarted 7 times, last stopped: OOMKilled."
    )
    lower = assess(snapshot([node("node-1")], [crashing, steady]), restart_threshold=3)
    assert [(p.name, p.last_termination_reason) for p in lower.workload.restarting] == [
        ("api-1", "OOMKilled"),
        ("api-2", "Error (exit 137)"),
    ]


def test_a_running_pod_failing_its_readiness_probe_is_listed_with_the_condition() -> None:
    unready = pod("web", ready=False)
    unready["status"]["conditions"][1].update(
        reason="ContainersNotReady", message="containers with unready status: [app]"
    )
    report = assess(snapshot([node("node-1")], [unready, pod("leaving", ready=False, terminating=True)]))
    (problem,) = report.workload.not_ready
    assert (problem.name, problem.reason, problem.message, problem.container) == (
        "web",
        "ContainersNotReady",
        "containers with unready status: [app]",
        "",
    )
    assert report.warnings == ()  # the deployment, if any, says it; a pod on its way out is no problem


def test_a_running_pod_without_conditions_is_judged_by_its_containers() -> None:
    bare = pod("bare", ready=False)
    del bare["status"]["conditions"]
    report = assess(snapshot([node("node-1")], [bare]))
    assert [p.name for p in report.workload.not_ready] == ["bare"]


def test_terminated_pods_hold_no_requests() -> None:
    pods = [
        pod("done", phase="Succeeded", cpu="2", memory="2Gi", ready=False),
        pod("broke", phase="Failed", cpu="2", memory="2Gi", ready=False, restarts=50),
        pod("live", cpu="1", memory="1Gi"),
    ]
    report = assess(snapshot([node("node-1")], pods))
    n = report.nodes[0]
    assert (n.cpu.requested, n.memory.requested, n.pods) == (1000, GI, 1)
    assert (report.workload.pods.succeeded, report.workload.pods.failed) == (1, 1)
    assert report.workload.restarting == ()  # a finished pod has nothing left to fix
    assert summary_line(report).endswith("1 pod running, 1 failed · no warnings")


def test_pods_on_unknown_nodes_and_unknown_phases_are_counted_but_not_placed() -> None:
    pods = [
        pod("ghost", node="gone-node"),
        pod("odd", node=None, phase="Exploding"),
        {"metadata": {"name": "new"}},
    ]
    report = assess(snapshot([node("node-1")], pods))
    assert report.nodes[0].pods == 0 and report.totals.pods == 0
    assert (report.workload.pods.running, report.workload.pods.unknown) == (1, 2)


# --- requests ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {
                "containers": [
                    container(cpu="100m", memory="100Mi"),
                    container("b", cpu="200m", memory="50Mi"),
                ]
            },
            (300, 150 * MI),
        ),
        # An init container bigger than the app containers' sum sets the request…
        (
            {
                "containers": [container(cpu="100m", memory="100Mi")],
                "initContainers": [container("i", "500m", "1Gi")],
            },
            (500, GI),
        ),
        # … a smaller one doesn't, and the rule is per resource.
        (
            {
                "containers": [container(cpu="1", memory="100Mi")],
                "initContainers": [container("i", "500m", "1Gi")],
            },
            (1000, GI),
        ),
        # The peak of init containers, not their sum: they run one after the other.
        (
            {
                "containers": [container(cpu="100m")],
                "initContainers": [container("i1", "300m"), container("i2", "400m")],
            },
            (400, 128 * MI),
        ),
        # A sidecar (restartable init container) keeps running: it adds to the app containers and to every
        # later init container.
        (
            {
                "containers": [container(cpu="200m", memory=None)],
                "initContainers": [
                    container("proxy", "100m", None, restartPolicy="Always"),
                    container("migrate", "300m", None),
                ],
            },
            (400, 0),
        ),
        (
            {
                "containers": [container(cpu="500m", memory=None)],
                "initContainers": [
                    container("proxy", "100m", None, restartPolicy="Always"),
                    container("migrate", "300m", None),
                ],
            },
            (600, 0),
        ),
        # RuntimeClass overhead comes on top; pod-level requests replace the containers'.
        (
            {
                "containers": [container(cpu="100m", memory="100Mi")],
                "overhead": {"cpu": "250m", "memory": "120Mi"},
            },
            (350, 220 * MI),
        ),
        (
            {"containers": [container(cpu="100m", memory="100Mi")], "resources": {"requests": {"cpu": "1"}}},
            (1000, 100 * MI),
        ),
        ({"containers": [{"name": "no-requests"}]}, (0, 0)),
        ({}, (0, 0)),
    ],
)
def test_pod_requests_follow_the_scheduler(spec: dict, expected: tuple[int, int]) -> None:
    assert pod_requests(spec) == expected


def test_node_requests_use_the_init_container_rule() -> None:
    p = pod("with-init", init=[container("setup", cpu="2", memory="64Mi")], cpu="500m", memory="1Gi")
    report = assess(snapshot([node("node-1")], [p]))
    assert (report.nodes[0].cpu.requested, report.nodes[0].memory.requested) == (2000, GI)


# --- metrics ----------------------------------------------------------------------------------------------


def test_usage_comes_from_node_metrics_when_present() -> None:
    nodes = [node("a"), node("b")]
    metrics = {"a": usage("1500m", "4Gi"), "b": usage("3800000000n", "15Gi"), "unknown": usage("1", "1Gi")}
    report = assess(snapshot(nodes, [pod("p", node="a")], node_metrics=metrics))
    a, b = report.nodes
    assert (a.cpu.usage, a.cpu.usage_percent, a.memory.usage, a.memory.usage_percent) == (
        1500,
        37.5,
        4 * GI,
        25.0,
    )
    assert (b.cpu.usage, b.cpu.usage_percent) == (3800, 95.0)
    totals = report.totals
    assert totals.metrics_available and totals.nodes_metered == 2
    assert (totals.cpu.usage, totals.cpu.usage_percent, totals.cpu.metered_allocatable) == (5300, 66.25, None)
    assert [(w.code, w.text) for w in report.warnings] == [
        ("NodeHighUsage", "Node `b` is using 95% of its cpu (3.8 of 4)."),
        ("NodeHighUsage", "Node `b` is using 94% of its memory (15Gi of 16Gi)."),
    ]
    assert "cpu 1% requested, 66% used · memory 0% requested, 59% used" in summary_line(report)


def test_without_metrics_there_is_no_usage_and_no_usage_warning() -> None:
    report = assess(snapshot([node("a")], node_metrics=None))
    assert report.nodes[0].cpu.usage is None and report.totals.cpu.usage is None
    assert not report.totals.metrics_available and report.totals.nodes_metered == 0
    assert "used" not in summary_line(report)


def test_usage_of_part_of_the_nodes_is_measured_against_those_nodes() -> None:
    report = assess(
        snapshot([node("a", cpu="4"), node("b", cpu="12")], node_metrics={"a": usage("2", "8Gi")})
    )
    totals = report.totals
    assert totals.metrics_available and totals.nodes_metered == 1
    assert (totals.cpu.usage, totals.cpu.allocatable, totals.cpu.metered_allocatable) == (2000, 16000, 4000)
    assert totals.cpu.usage_percent == 50.0 and totals.memory.usage_percent == 50.0
    assert report.nodes[1].cpu.usage is None


# --- quantities -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "millicores"),
    [
        ("250m", 250),
        ("1", 1000),
        ("2", 2000),
        ("0.5", 500),
        (".5", 500),
        ("1.", 1000),
        ("1.5", 1500),
        ("+1", 1000),
        (" 100m ", 100),
        ("100u", 1),
        ("1n", 1),
        ("2000000n", 2),
        ("1234567n", 2),
        ("1e3", 1_000_000),
        ("1E3", 1_000_000),
        ("1e-3", 1),
        ("5e-1", 500),
        ("1k", 1_000_000),
        ("1Ki", 1_024_000),
        ("0", 0),
        ("0m", 0),
        (2, 2000),
        (0.25, 250),
        (1e-9, 1),
        ("1e999999999", MAX_QUANTITY),
        ("9" * 60, MAX_QUANTITY),
        ("8Ei", MAX_QUANTITY),
        (10**100, MAX_QUANTITY),
        ("1e-999999999", 1),
        # garbage
        ("", 0),
        (" ", 0),
        ("abc", 0),
        ("1.2.3", 0),
        ("1Mi5", 0),
        ("m", 0),
        ("1mi", 0),
        ("1 m", 0),
        ("-1", 0),
        ("-250m", 0),
        (-5, 0),
        (None, 0),
        (True, 0),
        ([1], 0),
        ({"cpu": 1}, 0),
        (math.nan, 0),
        (math.inf, 0),
        ("1" * 10_000, 0),
        ("0x10", 0),
        ("1e", 0),
        ("\u0661", 0),
    ],
)
def test_parse_cpu(value: object, millicores: int) -> None:
    assert parse_cpu(value) == millicores


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("128Mi", 128 * MI),
        ("1Gi", GI),
        ("0.5Gi", GI // 2),
        ("1.5Ki", 1536),
        ("1Ki", 1024),
        ("1Ti", 2**40),
        ("1Pi", 2**50),
        ("1Ei", 2**60),
        ("1k", 1000),
        ("1M", 10**6),
        ("1G", 10**9),
        ("1T", 10**12),
        ("1P", 10**15),
        ("1E", 10**18),
        ("1e3", 1000),
        ("1E6", 10**6),
        ("123", 123),
        ("1500m", 2),
        ("1u", 1),
        ("10E", MAX_QUANTITY),
        ("8Ei", MAX_QUANTITY),
        ("7.99Ei", -(-799 * 2**60 // 100)),
        (1024, 1024),
        (0.5, 1),
        ("", 0),
        ("Gi", 0),
        ("1GB", 0),
        ("1gi", 0),
        ("-1Gi", 0),
        (None, 0),
        ({}, 0),
        (False, 0),
        ("NaN", 0),
        ("inf", 0),
    ],
)
def test_parse_memory(value: object, size: int) -> None:
    assert parse_memory(value) == size


@pytest.mark.parametrize(
    ("millicores", "text"), [(0, "0"), (1, "1m"), (250, "250m"), (1000, "1"), (3500, "3.5"), (1234, "1.23")]
)
def test_format_cpu(millicores: int, text: str) -> None:
    assert format_cpu(millicores) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0"), (512, "512"), (1024, "1Ki"), (128 * MI, "128Mi"), (int(15.6 * GI), "15.6Gi"), (2**60, "1Ei")],
)
def test_format_memory(size: int, text: str) -> None:
    assert format_memory(size) == text


# --- hostile and malformed objects ------------------------------------------------------------------------

HOSTILE_PODS: list[object] = [
    None,
    "pod",
    42,
    [],
    {},
    {"status": None},
    {"status": "x"},
    {"metadata": [], "spec": "x", "status": []},
    {"spec": {"nodeName": ["node-1"], "containers": "abc"}},
    {
        "spec": {
            "nodeName": "node-1",
            "containers": [
                None,
                5,
                "c",
                {"resources": {"requests": "x"}},
                {"resources": {"requests": {"cpu": {}, "memory": [1]}}},
                {"resources": {"requests": {"cpu": "-5", "memory": "-1Gi"}}},
                {"resources": {"requests": {"cpu": "1e40", "memory": "9Ei"}}},
            ],
            "initContainers": {"a": 1},
            "overhead": "x",
        }
    },
    {
        "metadata": {"name": 5, "namespace": None},
        "status": {"phase": 5, "conditions": [1, None, {"type": None}]},
    },
    {
        "status": {
            "phase": "Running",
            "conditions": "x",
            "containerStatuses": [
                {"restartCount": -5, "state": "x"},
                {"restartCount": 10**30, "lastState": {"terminated": "x"}},
                {"restartCount": "7", "state": {"waiting": "x"}},
                {"restartCount": 1.5, "state": {"waiting": {"reason": 3}}},
                {
                    "restartCount": math.nan,
                    "ready": "yes",
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": None}},
                },
            ],
        }
    },
    {
        "status": {
            "phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": None, "message": ["x"]}],
        }
    },
    {
        "metadata": {"name": "p", "deletionTimestamp": 5},
        "status": {"phase": "Running", "initContainerStatuses": 3},
    },
]

HOSTILE_NODES: list[object] = [
    None,
    "node",
    {},
    {"metadata": None},
    {"metadata": {"name": None}},
    {"metadata": {"name": "node-1"}},
    {"metadata": {"name": "node-1"}, "status": {"allocatable": {"cpu": "8"}}},  # a repeat: counted once
    {"metadata": {"name": "n2"}, "spec": "x", "status": "x"},
    {
        "metadata": {"name": "n3"},
        "spec": {"unschedulable": "yes"},
        "status": {
            "allocatable": {"cpu": {}, "memory": -1, "pods": "many"},
            "capacity": [],
            "conditions": [
                {"type": "Ready", "status": "True", "lastTransitionTime": "yesterday"},
                {"type": "MemoryPressure", "status": True},
                "x",
            ],
        },
    },
    {
        "metadata": {"name": "n4"},
        "status": {
            "capacity": {"cpu": "2", "memory": "1e40"},
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "9" * 10_000}],
        },
    },
]

HOSTILE_WORKLOADS: list[object] = [
    None,
    {},
    {"metadata": {"name": "x"}},
    {"metadata": {"name": "neg"}, "spec": {"replicas": -3}},
    {"metadata": {"name": "str"}, "spec": {"replicas": "3"}, "status": {"readyReplicas": "3"}},
    {
        "metadata": {"name": "huge", "namespace": 7},
        "spec": {"replicas": 1e300},
        "status": {"readyReplicas": math.inf},
    },
    {"metadata": {"name": "nan"}, "spec": {"replicas": math.nan}, "status": "x"},
]


def hostile_snapshot() -> ClusterSnapshot:
    return ClusterSnapshot(
        nodes=tuple(HOSTILE_NODES),  # type: ignore[arg-type]
        pods=tuple(HOSTILE_PODS),  # type: ignore[arg-type]
        deployments=tuple(HOSTILE_WORKLOADS),  # type: ignore[arg-type]
        statefulsets=tuple(HOSTILE_WORKLOADS),  # type: ignore[arg-type]
        daemonsets=tuple(HOSTILE_WORKLOADS),  # type: ignore[arg-type]
        node_metrics={"node-1": "x", "n2": {"usage": "x"}, "n3": {"usage": {"cpu": [], "memory": "1e99"}}},
        taken_at=NOW,
    )


def test_hostile_objects_never_raise_and_are_read_sensibly() -> None:
    report = assess(hostile_snapshot())
    assert [n.name for n in report.nodes] == ["n2", "n3", "n4", "node-1"]
    n2, n3, n4, node_1 = report.nodes
    assert not n2.ready and n2.cpu.allocatable == 0 and n2.cpu.requested_percent is None
    assert n3.ready and n3.ready_since is None and not n3.unschedulable and n3.pressures == ()
    assert (n3.cpu.allocatable, n3.memory.allocatable, n3.pods_allocatable) == (0, 0, 0)
    assert (n3.memory.usage, n3.cpu.usage) == (MAX_QUANTITY, 0)
    assert (n4.cpu.allocatable, n4.memory.allocatable) == (2000, MAX_QUANTITY)
    assert node_1.cpu.usage is None  # its metrics object was garbage
    # The one pod bound to node-1 requested 1e40 CPU (clamped) and negative amounts (zero).
    assert node_1.pods == 1 and node_1.cpu.requested == MAX_QUANTITY
    # No allocatable: not judged over-committed; "Ready" but not a healthy-looking report either.
    assert "NodeOvercommitted" not in codes(report)
    pods = report.workload.pods
    assert pods.total == len([p for p in HOSTILE_PODS if isinstance(p, dict)])
    restarting = [p for p in report.workload.restarting]
    assert [p.restarts for p in restarting] == [MAX_QUANTITY + 1]  # -5 → 0, "7" and nan → 0, 1.5 → 1
    deployments = {d.name: d for d in report.workload.deployments}
    assert set(deployments) == {"x", "neg", "str", "huge", "nan"}
    assert (deployments["x"].desired, deployments["neg"].desired, deployments["str"].desired) == (1, 0, 1)
    assert (deployments["huge"].desired, deployments["huge"].ready) == (MAX_QUANTITY, 0)
    assert deployments["nan"].desired == 1
    for warning in report.warnings:
        assert warning.severity in (CRITICAL, WARNING) and warning.text
    summary_line(report)


@pytest.mark.parametrize("field", ["nodes", "pods", "deployments", "statefulsets", "daemonsets"])
def test_each_hostile_list_alone_never_raises(field: str) -> None:
    everything = hostile_snapshot()
    only = dataclasses.replace(healthy_snapshot(), **{field: getattr(everything, field)})
    assert isinstance(assess(only), CheckReport)


@pytest.mark.parametrize("metrics", [None, {}, {"node-1": None}, {"node-1": {"usage": None}}, "x", [1]])
def test_odd_metrics_never_raise(metrics: object) -> None:
    report = assess(snapshot([node("node-1")], node_metrics=metrics))  # type: ignore[arg-type]
    assert report.nodes[0].cpu.usage is None


@pytest.mark.parametrize(
    ("stamp_text", "since"),
    [
        ("2025-06-01T11:00:00", dt.datetime(2025, 6, 1, 11, 0, tzinfo=dt.UTC)),
        ("2025-06-01T13:00:00+02:00", dt.datetime(2025, 6, 1, 11, 0, tzinfo=dt.UTC)),
        ("0001-01-01T00:00:00+05:00", None),
        ("9999-12-31T23:59:59-05:00", None),
    ],
)
def test_transition_times_are_read_in_utc(stamp_text: str, since: dt.datetime | None) -> None:
    down = node("a", ready=False)
    down["status"]["conditions"][0]["lastTransitionTime"] = stamp_text
    report = assess(dataclasses.replace(snapshot([down]), taken_at=NOW.replace(tzinfo=None)))
    assert report.nodes[0].ready_since == since
    if since is not None:
        assert report.warnings[0].text == "Node `a` is not ready since 2025-06-01 11:00 UTC (1h ago)."


# --- scale ------------------------------------------------------------------------------------------------


def big_snapshot(*, nodes: int = 100, pods: int = 3000) -> ClusterSnapshot:
    """A large cluster: every 60th pod unschedulable, every 100th crash-looping, the rest running."""
    node_list = [node(f"node-{i:03d}", cpu="8", memory="32Gi") for i in range(nodes)]
    pod_list = []
    for i in range(pods):
        name, namespace = f"pod-{i:04d}", f"team-{i % 20:02d}"
        if i % 60 == 0:
            pod_list.append(pod(name, namespace, unscheduled=("Unschedulable", NO_CPU)))
        elif i % 100 == 1:
            pod_list.append(
                pod(
                    name,
                    namespace,
                    f"node-{i % nodes:03d}",
                    ready=False,
                    restarts=9,
                    waiting=("CrashLoopBackOff", "back-off"),
                    last_reason="Error",
                )
            )
        else:
            pod_list.append(pod(name, namespace, f"node-{i % nodes:03d}", cpu="200m", memory="256Mi"))
    deployments = [deployment(f"app-{i:03d}", 10, namespace=f"team-{i % 20:02d}") for i in range(300)]
    metrics = {f"node-{i:03d}": usage("2", "8Gi") for i in range(nodes)}
    return snapshot(node_list, pod_list, deployments, node_metrics=metrics)


def test_a_large_cluster_is_assessed_with_the_right_counts() -> None:
    report = assess(big_snapshot())
    unschedulable, crashing = 50, 30
    running = 3000 - unschedulable
    w = report.workload
    assert (w.pods.pending, w.pods.running, w.pods.total) == (unschedulable, running, 3000)
    assert (len(w.pending), len(w.not_ready), len(w.restarting), len(w.deployments)) == (50, 30, 30, 300)
    assert report.totals.pods == running and sum(n.pods for n in report.nodes) == running
    assert report.totals.nodes_ready == report.totals.nodes_total == 100
    requested = (running - crashing) * 200 + crashing * 100
    assert report.totals.cpu.requested == requested and report.totals.cpu.allocatable == 800_000
    assert report.totals.cpu.usage == 200_000
    assert [(w.code, len(w.subjects)) for w in report.warnings][:1] == [("PodsUnschedulable", 50)]
    assert codes(report).count("CrashLoop") == crashing and len(report.warnings) == 1 + crashing
