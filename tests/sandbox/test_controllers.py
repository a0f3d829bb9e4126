"""The sandbox controllers, driven directly on a ClusterStore with a fake clock (no HTTP, no sleeping)."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.sandbox import controllers, defaults, machines
from providers.sandbox.controllers import scheduler
from providers.sandbox.resources import BUILTIN_REGISTRY, ResourceType
from providers.sandbox.state import StateDB
from providers.sandbox.store import ClusterStore, rfc3339


def _rt(api_version: str, kind: str) -> ResourceType:
    rt = BUILTIN_REGISTRY.by_kind(api_version, kind)
    assert rt is not None
    return rt


NS = _rt("v1", "Namespace")
NODE = _rt("v1", "Node")
POD = _rt("v1", "Pod")
SVC = _rt("v1", "Service")
DEPLOY = _rt("apps/v1", "Deployment")
RS = _rt("apps/v1", "ReplicaSet")
STS = _rt("apps/v1", "StatefulSet")
DS = _rt("apps/v1", "DaemonSet")
JOB = _rt("batch/v1", "Job")
CRD = _rt("apiextensions.k8s.io/v1", "CustomResourceDefinition")

HASH = re.compile(r"^[bcdfghjklmnpqrstvwxz2456789]{10}$")
SUFFIX = re.compile(r"^[bcdfghjklmnpqrstvwxz2456789]{5}$")


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


class Cluster:
    """A store plus controllers, written to the way the API layer does (defaults, generation, reconcile)."""

    def __init__(self, path: Path, *, version: str = "v1.32.5", **settings):
        self.clock = Clock()
        self.db = StateDB(path / "state.db")
        self.store = ClusterStore("test", self.db, clock=self.clock)
        self.ctx = controllers.ControllerContext(
            store=self.store,
            settings=controllers.ControllerSettings(strict=True, **settings),
            kubernetes_version=version,
            ca_pem="-----BEGIN CERTIFICATE-----\nsandbox\n",
        )
        self.node_count = 0
        with self.store.lock:
            for ns in ("default", "kube-system"):
                self.create(NS, {"metadata": {"name": ns}})

    # -- writes as the API layer makes them ----------------------------------------------------------

    def reconcile(self) -> None:
        with self.store.lock:
            controllers.reconcile(self.ctx)

    def advance(self, seconds: float) -> None:
        self.clock.now += seconds
        self.reconcile()

    def create(self, rt: ResourceType, obj: dict) -> dict:
        with self.store.lock:
            obj = defaults.apply_defaults(
                rt, {"apiVersion": rt.group_version, "kind": rt.kind, **obj}, store=self.store
            )
            stored = self.store.create(rt, obj)
            controllers.reconcile(self.ctx)
            return stored

    def update(self, rt: ResourceType, namespace: str, name: str, change) -> dict:
        with self.store.lock:
            old = self.store.get(rt.key, namespace, name)
            assert old is not None
            new = copy.deepcopy(old)
            change(new)
            new = defaults.apply_defaults(rt, new, store=self.store)
            if defaults.generation_changed(old, new):
                new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
            stored = self.store.replace(rt, new)
            controllers.reconcile(self.ctx)
            return stored

    def delete(self, rt: ResourceType, namespace: str, name: str, policy: str = "Background") -> None:
        with self.store.lock:
            obj = self.store.get(rt.key, namespace, name)
            assert obj is not None
            if rt is NS or policy == "Foreground":
                pending = copy.deepcopy(obj)
                pending["metadata"]["deletionTimestamp"] = rfc3339(self.clock())
                if rt is NS:
                    pending["status"]["phase"] = "Terminating"
                else:
                    pending["metadata"].setdefault("finalizers", []).append("foregroundDeletion")
                self.store.replace(rt, pending)
            else:
                self.store.remove(rt, namespace, name)
            controllers.reconcile(self.ctx)

    def add_node(self, machine_type: str = "e2-standard-4", **kw) -> str:
        node = machines.node_object("sbx", self.node_count, machine_type, "v1.32.5", now=self.clock(), **kw)
        self.node_count += 1
        self.create(NODE, node)
        return node["metadata"]["name"]

    def set_ready(self, node_name: str, status: str) -> None:
        def change(node: dict) -> None:
            for cond in node["status"]["conditions"]:
                if cond["type"] == "Ready":
                    cond["status"] = status
                    cond["lastTransitionTime"] = rfc3339(self.clock())

        self.update(NODE, "", node_name, change)

    # -- reads -----------------------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str, name: str) -> dict | None:
        return self.store.get(rt.key, namespace, name)

    def pods(self, namespace: str = "default", **labels: str) -> list[dict]:
        return [
            p
            for p in self.store.list(POD.key, namespace)
            if all(p["metadata"].get("labels", {}).get(k) == v for k, v in labels.items())
        ]

    def rss(self, namespace: str = "default") -> list[dict]:
        return self.store.list(RS.key, namespace)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    yield c
    c.db.close()


def deployment(
    name: str = "web",
    replicas: int = 3,
    image: str = "nginx:1.27",
    *,
    cpu: str | None = None,
    strategy: dict | None = None,
    **spec,
) -> dict:
    container: dict = {"name": "main", "image": image, "ports": [{"name": "http", "containerPort": 8080}]}
    if cpu:
        container["resources"] = {"requests": {"cpu": cpu}}
    body: dict = {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}},
            **spec,
        },
    }
    if strategy:
        body["spec"]["strategy"] = strategy
    return body


def set_image(image: str):
    def change(d: dict) -> None:
        d["spec"]["template"]["spec"]["containers"][0]["image"] = image

    return change


def set_replicas(n: int):
    def change(d: dict) -> None:
        d["spec"]["replicas"] = n

    return change


def rollout_status(d: dict) -> str:
    """kubectl's DeploymentStatusViewer, condensed: what `kubectl rollout status` would print."""
    status = d.get("status", {})
    replicas = d["spec"].get("replicas", 1)
    if d["metadata"].get("generation", 0) > status.get("observedGeneration", 0):
        return "waiting for spec update to be observed"
    for cond in status.get("conditions", []):
        if cond["type"] == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return "exceeded its progress deadline"
    updated = status.get("updatedReplicas", 0)
    if updated < replicas:
        return f"{updated} out of {replicas} new replicas have been updated"
    if status.get("replicas", 0) > updated:
        return f"{status.get('replicas', 0) - updated} old replicas are pending termination"
    if status.get("availableReplicas", 0) < updated:
        return f"{status.get('availableReplicas', 0)} of {updated} updated replicas are available"
    return "successfully rolled out"


def helm_ready(d: dict) -> bool:
    """helm's readiness rule for a Deployment (status counters equal spec.replicas and Available=True)."""
    status = d.get("status", {})
    replicas = d["spec"].get("replicas", 1)
    counts = [status.get(k, 0) for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")]
    available = any(c["type"] == "Available" and c["status"] == "True" for c in status.get("conditions", []))
    return counts == [replicas] * 4 and available


def cond(obj: dict, type_: str) -> dict:
    return next(c for c in obj.get("status", {}).get("conditions", []) if c["type"] == type_)


# -- deployments and replica sets -------------------------------------------------------------------


def test_deployment_runs_three_pods_through_an_owned_replica_set(cluster: Cluster) -> None:
    for _ in range(3):
        cluster.add_node()
    cluster.create(DEPLOY, deployment())
    d = cluster.get(DEPLOY, "default", "web")
    [rs] = cluster.rss()
    rs_hash = rs["metadata"]["labels"]["pod-template-hash"]
    assert HASH.match(rs_hash) and rs["metadata"]["name"] == f"web-{rs_hash}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", "pod-template-hash": rs_hash}
    assert rs["spec"]["template"]["metadata"]["labels"]["pod-template-hash"] == rs_hash
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert rs["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": "web",
            "uid": d["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    pods = cluster.pods()
    assert len(pods) == 3 and all(p["status"]["phase"] == "Running" for p in pods)
    for p in pods:
        prefix, _, suffix = p["metadata"]["name"].rpartition("-")
        assert prefix == rs["metadata"]["name"] and SUFFIX.match(suffix)
        assert p["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
        assert p["metadata"]["labels"] == {"app": "web", "pod-template-hash": rs_hash}
    assert len({p["spec"]["nodeName"] for p in pods}) == 3, "least-allocated scoring spreads the replicas"
    assert rs["status"] == {
        "replicas": 3,
        "fullyLabeledReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "observedGeneration": 1,
    }
    status = d["status"]
    assert {
        k: status.get(k)
        for k in (
            "observedGeneration",
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
        )
    } == {
        "observedGeneration": 1,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 3,
        "availableReplicas": 3,
        "unavailableReplicas": None,
    }
    assert (cond(d, "Available")["status"], cond(d, "Available")["reason"]) == (
        "True",
        "MinimumReplicasAvailable",
    )
    progressing = cond(d, "Progressing")
    assert progressing["reason"] == "NewReplicaSetAvailable"
    assert progressing["message"] == f'ReplicaSet "web-{rs_hash}" has successfully progressed.'
    assert [c["type"] for c in status["conditions"]] == ["Available", "Progressing"]
    assert rollout_status(d) == "successfully rolled out" and helm_ready(d)
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"


def test_image_change_rolls_out_to_a_new_replica_set(cluster: Cluster) -> None:
    for _ in range(3):
        cluster.add_node()
    cluster.create(DEPLOY, deployment())
    [old_rs] = cluster.rss()
    cluster.update(DEPLOY, "default", "web", set_image("nginx:1.28"))
    d = cluster.get(DEPLOY, "default", "web")
    assert d["metadata"]["generation"] == 2 and d["status"]["observedGeneration"] == 2
    by_name = {r["metadata"]["name"]: r for r in cluster.rss()}
    assert len(by_name) == 2
    old = by_name.pop(old_rs["metadata"]["name"])
    [new] = by_name.values()
    assert old["spec"]["replicas"] == 0 and old["status"]["replicas"] == 0
    assert (
        new["spec"]["replicas"] == 3
        and new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    )
    pods = cluster.pods()
    assert len(pods) == 3
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"nginx:1.28"}
    assert {p["metadata"]["labels"]["pod-template-hash"] for p in pods} == {
        new["metadata"]["labels"]["pod-template-hash"]
    }
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert rollout_status(d) == "successfully rolled out" and helm_ready(d)
    assert (
        cond(d, "Progressing")["message"]
        == f'ReplicaSet "{new["metadata"]["name"]}" has successfully progressed.'
    )


def test_rolling_update_steps_keep_minimum_availability(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, pod_start_seconds=5)
    for _ in range(3):
        cluster.add_node()
    cluster.create(DEPLOY, deployment(replicas=4))
    cluster.advance(5)
    assert rollout_status(cluster.get(DEPLOY, "default", "web")) == "successfully rolled out"
    cluster.update(DEPLOY, "default", "web", set_image("nginx:1.28"))
    seen = []
    for _ in range(40):
        d = cluster.get(DEPLOY, "default", "web")
        seen.append(rollout_status(d))
        ready = [
            p
            for p in cluster.pods()
            if p["status"]["phase"] == "Running" and cond(p, "Ready")["status"] == "True"
        ]
        # 25% of 4: at most one pod unavailable and at most one surplus pod at any time.
        assert len(ready) >= 3 and len(cluster.pods()) <= 5
        if seen[-1] == "successfully rolled out":
            break
        cluster.advance(5)
    assert seen[-1] == "successfully rolled out"
    assert any("new replicas have been updated" in s or "pending termination" in s for s in seen), seen
    assert {p["spec"]["containers"][0]["image"] for p in cluster.pods()} == {"nginx:1.28"}
    cluster.db.close()


def test_recreate_removes_old_pods_before_creating_new_ones(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, pod_start_seconds=5)
    cluster.add_node()
    cluster.create(DEPLOY, deployment(replicas=2, strategy={"type": "Recreate"}))
    cluster.advance(5)
    cluster.update(DEPLOY, "default", "web", set_image("nginx:1.28"))
    images = {p["spec"]["containers"][0]["image"] for p in cluster.pods()}
    assert images == {"nginx:1.28"}, "with Recreate the old pods are gone before new ones exist"
    d = cluster.get(DEPLOY, "default", "web")
    assert cond(d, "Available")["status"] == "False"
    cluster.advance(5)
    d = cluster.get(DEPLOY, "default", "web")
    assert rollout_status(d) == "successfully rolled out" and helm_ready(d)
    assert "rollingUpdate" not in d["spec"]["strategy"]
    cluster.db.close()


def test_scale_down_removes_unscheduled_pods_first(cluster: Cluster) -> None:
    cluster.add_node("e2-standard-2")  # 1930m allocatable: one 1500m pod fits
    cluster.create(DEPLOY, deployment(replicas=3, cpu="1500m"))
    running = [p for p in cluster.pods() if p["status"]["phase"] == "Running"]
    assert len(running) == 1 and len(cluster.pods()) == 3
    cluster.update(DEPLOY, "default", "web", set_replicas(1))
    assert [p["metadata"]["name"] for p in cluster.pods()] == [running[0]["metadata"]["name"]]
    d = cluster.get(DEPLOY, "default", "web")
    assert rollout_status(d) == "successfully rolled out" and helm_ready(d)


def test_scale_to_zero_and_back(cluster: Cluster) -> None:
    cluster.add_node()
    cluster.create(DEPLOY, deployment(replicas=2))
    cluster.update(DEPLOY, "default", "web", set_replicas(0))
    d = cluster.get(DEPLOY, "default", "web")
    assert cluster.pods() == []
    assert set(d["status"]) == {"observedGeneration", "conditions"}, "zero counters are omitted, as in Go"
    assert cond(d, "Available")["status"] == "True" and rollout_status(d) == "successfully rolled out"
    cluster.update(DEPLOY, "default", "web", set_replicas(2))
    assert len(cluster.pods()) == 2 and helm_ready(cluster.get(DEPLOY, "default", "web"))


def test_revision_history_limit_prunes_old_replica_sets(cluster: Cluster) -> None:
    cluster.add_node()
    cluster.create(DEPLOY, deployment(replicas=1, revisionHistoryLimit=1))
    for tag in ("1.28", "1.29", "1.30"):
        cluster.update(DEPLOY, "default", "web", set_image(f"nginx:{tag}"))
    revisions = sorted(
        int(r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) for r in cluster.rss()
    )
    assert revisions == [3, 4]


def test_rollback_reuses_the_old_replica_set_with_a_new_revision(cluster: Cluster) -> None:
    cluster.add_node()
    cluster.create(DEPLOY, deployment(replicas=1))
    [first] = cluster.rss()
    cluster.update(DEPLOY, "default", "web", set_image("nginx:1.28"))
    cluster.update(DEPLOY, "default", "web", set_image("nginx:1.27"))
    assert len(cluster.rss()) == 2
    again = cluster.get(RS, "default", first["metadata"]["name"])
    assert again["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert again["spec"]["replicas"] == 1


def test_paused_deployment_does_not_roll_out(cluster: Cluster) -> None:
    cluster.add_node()
    cluster.create(DEPLOY, deployment(replicas=2))

    def pause_and_change(d: dict) -> None:
        d["spec"]["paused"] = True
        d["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.28"

    cluster.update(DEPLOY, "default", "web", pause_and_change)
    d = cluster.get(DEPLOY, "default", "web")
    assert len(cluster.rss()) == 1 and {p["spec"]["containers"][0]["image"] for p in cluster.pods()} == {
        "nginx:1.27"
    }
    assert (cond(d, "Progressing")["status"], cond(d, "Progressing")["reason"]) == (
        "Unknown",
        "DeploymentPaused",
    )
    cluster.update(DEPLOY, "default", "web", lambda d: d["spec"].pop("paused"))
    assert {p["spec"]["containers"][0]["image"] for p in cluster.pods()} == {"nginx:1.28"}
    assert rollout_status(cluster.get(DEPLOY, "default", "web")) == "successfully rolled out"


def test_progress_deadline_exceeded_when_pods_cannot_be_scheduled(cluster: Cluster) -> None:
    cluster.add_node("e2-standard-2")
    cluster.create(DEPLOY, deployment(replicas=1, cpu="8", progressDeadlineSeconds=60))
    assert rollout_status(cluster.get(DEPLOY, "default", "web")).startswith("0 of 1 updated")
    cluster.advance(30)
    assert cond(cluster.get(DEPLOY, "default", "web"), "Progressing")["status"] == "True"
    cluster.advance(31)
    d = cluster.get(DEPLOY, "default", "web")
    assert (cond(d, "Progressing")["status"], cond(d, "Progressing")["reason"]) == (
        "False",
        "ProgressDeadlineExceeded",
    )
    assert rollout_status(d) == "exceeded its progress deadline"


def test_replica_set_adopts_matching_orphan_pods(cluster: Cluster) -> None:
    cluster.add_node()
    cluster.create(
        POD,
        {
            "metadata": {"name": "stray", "namespace": "default", "labels": {"tier": "x"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        },
    )
    cluster.create(
        RS,
        {
            "metadata": {"name": "keep", "namespace": "default"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"tier": "x"}},
                "template": {
                    "metadata": {"labels": {"tier": "x"}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]},
                },
            },
        },
    )
    names = sorted(p["metadata"]["name"] for p in cluster.pods())
    assert len(names) == 2 and "stray" in names
    stray = cluster.get(POD, "default", "stray")
    assert stray["metadata"]["ownerReferences"][0]["name"] == "keep"


# -- scheduler ------------------------------------------------------------------------------------------


def _pod(name: str, *, cpu: str | None = None, memory: str | None = None, **spec) -> dict:
    requests = {k: v for k, v in (("cpu", cpu), ("memory", memory)) if v}
    container: dict = {"name": "c", "image": "busybox"}
    if requests:
        container["resources"] = {"requests": requests}
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"containers": [container], **spec}}


def _scheduled(pod: dict) -> dict:
    return cond(pod, "PodScheduled")


def test_insufficient_cpu_on_every_node_gives_the_schedulers_message(cluster: Cluster) -> None:
    for _ in range(3):
        cluster.add_node("e2-standard-2")
    cluster.create(POD, _pod("big", cpu="5"))
    pod = cluster.get(POD, "default", "big")
    assert pod["status"]["phase"] == "Pending" and "nodeName" not in pod["spec"]
    c = _scheduled(pod)
    assert (c["status"], c["reason"]) == ("False", "Unschedulable")
    assert c["message"] == (
        "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: "
        "3 No preemption victims found for incoming pod."
    )


def test_mixed_reasons_are_counted_and_sorted(cluster: Cluster) -> None:
    nodes = [cluster.add_node("e2-standard-2") for _ in range(3)]
    for name in nodes[1:]:
        cluster.update(NODE, "", name, lambda n: n["metadata"]["labels"].update(disk="ssd"))
    cluster.create(POD, _pod("picky", cpu="3", nodeSelector={"disk": "ssd"}))
    assert _scheduled(cluster.get(POD, "default", "picky"))["message"] == (
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2 Insufficient cpu. "
        "preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
        "2 No preemption victims found for incoming pod."
    )


@pytest.mark.parametrize(
    ("breakage", "pod_kw", "reason", "preemption"),
    [
        ("cordon", {}, "node(s) were unschedulable", "Preemption is not helpful for scheduling"),
        (
            "taint",
            {},
            "node(s) had untolerated taint {dedicated: gpu}",
            "Preemption is not helpful for scheduling",
        ),
        (
            "not-ready",
            {},
            "node(s) had untolerated taint {node.kubernetes.io/not-ready: }",
            "Preemption is not helpful for scheduling",
        ),
        ("none", {"memory": "64Gi"}, "Insufficient memory", "No preemption victims found for incoming pod"),
        ("full", {}, "Too many pods", "No preemption victims found for incoming pod"),
        (
            "none",
            {"nodeSelector": {"kubernetes.io/os": "windows"}},
            "node(s) didn't match Pod's node affinity/selector",
            "Preemption is not helpful for scheduling",
        ),
        (
            "none",
            {
                "affinity": {
                    "nodeAffinity": {
                        "requiredDuringSchedulingIgnoredDuringExecution": {
                            "nodeSelectorTerms": [
                                {
                                    "matchExpressions": [
                                        {
                                            "key": "topology.kubernetes.io/zone",
                                            "operator": "In",
                                            "values": ["mars-1"],
                                        }
                                    ]
                                }
                            ]
                        }
                    }
                }
            },
            "node(s) didn't match Pod's node affinity/selector",
            "Preemption is not helpful for scheduling",
        ),
    ],
)
def test_unschedulable_reasons(
    cluster: Cluster, breakage: str, pod_kw: dict, reason: str, preemption: str
) -> None:
    node = cluster.add_node("e2-standard-2")
    if breakage == "cordon":
        cluster.update(NODE, "", node, lambda n: n["spec"].update(unschedulable=True))
    elif breakage == "taint":
        cluster.update(
            NODE,
            "",
            node,
            lambda n: n["spec"].update(taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
        )
    elif breakage == "not-ready":
        cluster.set_ready(node, "False")
    elif breakage == "full":
        cluster.update(NODE, "", node, lambda n: n["status"]["allocatable"].update(pods="1"))
        cluster.create(POD, _pod("first"))
        assert cluster.get(POD, "default", "first")["spec"]["nodeName"] == node
    kw = dict(pod_kw)
    cluster.create(POD, _pod("victim", cpu=kw.pop("cpu", None), memory=kw.pop("memory", None), **kw))
    assert _scheduled(cluster.get(POD, "default", "victim"))["message"] == (
        f"0/1 nodes are available: 1 {reason}. preemption: 0/1 nodes are available: 1 {preemption}."
    )


def test_tolerations_and_matching_affinity_allow_scheduling(cluster: Cluster) -> None:
    node = cluster.add_node()
    cluster.update(
        NODE,
        "",
        node,
        lambda n: n["spec"].update(taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]),
    )
    cluster.create(
        POD,
        _pod(
            "ok",
            tolerations=[{"key": "dedicated", "operator": "Equal", "value": "gpu"}],
            affinity={
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
                        ]
                    }
                }
            },
        ),
    )
    assert cluster.get(POD, "default", "ok")["spec"]["nodeName"] == node


def test_no_nodes_at_all(cluster: Cluster) -> None:
    cluster.create(POD, _pod("lonely"))
    assert (
        _scheduled(cluster.get(POD, "default", "lonely"))["message"] == "no nodes available to schedule pods"
    )


def test_preemption_policy_never_changes_the_suffix() -> None:
    from collections import Counter

    message = scheduler.unschedulable_message(
        {"preemptionPolicy": "Never"}, 2, Counter({"Insufficient cpu": 2}), Counter()
    )
    assert message == (
        "0/2 nodes are available: 2 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
    )


def test_init_containers_count_as_a_maximum_and_requests_accumulate(cluster: Cluster) -> None:
    cluster.add_node("e2-standard-2")  # 1930m
    init = _pod("init", cpu="500m")
    init["spec"]["initContainers"] = [
        {"name": "setup", "image": "busybox", "resources": {"requests": {"cpu": "1900m"}}}
    ]
    cluster.create(POD, init)
    assert cluster.get(POD, "default", "init")["spec"].get("nodeName"), (
        "1900m init + 500m app needs only 1900m"
    )
    cluster.create(POD, _pod("second", cpu="100m"))
    assert "nodeName" not in cluster.get(POD, "default", "second")["spec"], (
        "500m + 100m... 1900m is still held"
    )


def test_a_new_node_takes_the_pending_pods(cluster: Cluster) -> None:
    for _ in range(3):
        cluster.add_node("e2-standard-2")
    cluster.create(DEPLOY, deployment(replicas=4, cpu="1500m"))
    pending = [p for p in cluster.pods() if p["status"]["phase"] == "Pending"]
    assert len(pending) == 1
    assert _scheduled(pending[0])["message"].startswith("0/3 nodes are available: 3 Insufficient cpu.")
    node = cluster.add_node("e2-standard-2")
    assert all(p["status"]["phase"] == "Running" for p in cluster.pods())
    assert cluster.get(POD, "default", pending[0]["metadata"]["name"])["spec"]["nodeName"] == node
    assert _scheduled(cluster.get(POD, "default", pending[0]["metadata"]["name"]))["status"] == "True"
    assert helm_ready(cluster.get(DEPLOY, "default", "web"))


# -- kubelet ----------------------------------------------------------------------------------------------


def test_running_pod_status_looks_like_a_kubelets(cluster: Cluster) -> None:
    node_name = cluster.add_node()
    cluster.create(POD, _pod("p", cpu="100m", memory="64Mi"))
    pod = cluster.get(POD, "default", "p")
    node = cluster.get(NODE, "", node_name)
    status = pod["status"]
    assert status["phase"] == "Running" and status["qosClass"] == "Burstable"
    assert status["hostIP"] == node["status"]["addresses"][0]["address"]
    assert status["podIP"].startswith("10.244.0.") and status["podIPs"] == [{"ip": status["podIP"]}]
    assert status["startTime"] == rfc3339(cluster.clock())
    assert [c["type"] for c in status["conditions"]] == [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    assert all(c["status"] == "True" for c in status["conditions"])
    [cs] = status["containerStatuses"]
    assert cs["name"] == "c" and cs["ready"] is True and cs["started"] is True and cs["restartCount"] == 0
    assert cs["image"] == "docker.io/library/busybox:latest"
    assert cs["imageID"].startswith("docker.io/library/busybox@sha256:")
    assert re.match(r"^containerd://[0-9a-f]{64}$", cs["containerID"])
    assert cs["state"] == {"running": {"startedAt": rfc3339(cluster.clock())}}


def test_pod_start_delay_and_unique_pod_ips(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, pod_start_seconds=10)
    cluster.add_node()
    cluster.create(DEPLOY, deployment(replicas=20))
    assert {p["status"]["phase"] for p in cluster.pods()} == {"Pending"}
    assert all(p["spec"].get("nodeName") for p in cluster.pods()), "bound at once, started later"
    cluster.advance(9)
    assert {p["status"]["phase"] for p in cluster.pods()} == {"Pending"}
    cluster.advance(1)
    pods = cluster.pods()
    assert {p["status"]["phase"] for p in pods} == {"Running"}
    assert len({p["status"]["podIP"] for p in pods}) == 20
    cluster.db.close()


def test_sub_second_start_delays_are_honoured(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, pod_start_seconds=0.5)
    cluster.clock.now += 0.9  # late in a second: the whole-second timestamps alone would start it at once
    cluster.add_node()
    cluster.create(POD, _pod("quick", restartPolicy="Never"))
    assert cluster.get(POD, "default", "quick")["status"]["phase"] == "Pending"
    cluster.advance(0.4)
    assert cluster.get(POD, "default", "quick")["status"]["phase"] == "Pending"
    cluster.advance(0.1)
    assert cluster.get(POD, "default", "quick")["status"]["phase"] == "Running"
    cluster.advance(0.5)
    assert cluster.get(POD, "default", "quick")["status"]["phase"] == "Succeeded"
    cluster.db.close()


# -- node lifecycle --------------------------------------------------------------------------------------


def test_not_ready_node_is_tainted_and_its_pods_move_after_the_grace_period(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, node_eviction_seconds=40)
    nodes = [cluster.add_node() for _ in range(3)]
    cluster.create(DEPLOY, deployment(replicas=6))
    victim = nodes[0]
    doomed = {p["metadata"]["name"] for p in cluster.pods() if p["spec"]["nodeName"] == victim}
    assert doomed
    cluster.set_ready(victim, "Unknown")
    node = cluster.get(NODE, "", victim)
    taints = {(t["key"], t["effect"]): t for t in node["spec"]["taints"]}
    assert set(taints) == {
        ("node.kubernetes.io/not-ready", "NoSchedule"),
        ("node.kubernetes.io/not-ready", "NoExecute"),
    }
    assert taints[("node.kubernetes.io/not-ready", "NoExecute")]["timeAdded"] == rfc3339(cluster.clock())
    on_victim = [p for p in cluster.pods() if p["spec"]["nodeName"] == victim]
    assert {cond(p, "Ready")["status"] for p in on_victim} == {"False"}
    assert cluster.get(DEPLOY, "default", "web")["status"]["availableReplicas"] == 6 - len(doomed)
    cluster.advance(39)
    assert {p["metadata"]["name"] for p in cluster.pods() if p["spec"]["nodeName"] == victim} == doomed
    cluster.advance(1)
    pods = cluster.pods()
    assert len(pods) == 6 and not doomed & {p["metadata"]["name"] for p in pods}
    assert all(p["spec"]["nodeName"] != victim and p["status"]["phase"] == "Running" for p in pods)
    assert helm_ready(cluster.get(DEPLOY, "default", "web"))
    cluster.set_ready(victim, "True")
    assert "taints" not in cluster.get(NODE, "", victim)["spec"]
    cluster.db.close()


def test_pods_tolerating_not_ready_forever_stay(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, node_eviction_seconds=5)
    node = cluster.add_node()
    cluster.create(
        POD,
        _pod(
            "stubborn",
            tolerations=[
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}
            ],
        ),
    )
    cluster.create(
        POD,
        _pod(
            "brief",
            tolerations=[
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 2,
                }
            ],
        ),
    )
    cluster.create(POD, _pod("normal"))
    cluster.set_ready(node, "False")
    cluster.advance(2)
    assert sorted(p["metadata"]["name"] for p in cluster.pods()) == ["normal", "stubborn"]
    cluster.advance(3)
    assert [p["metadata"]["name"] for p in cluster.pods()] == ["stubborn"]
    cluster.set_ready(node, "True")
    assert cond(cluster.get(POD, "default", "stubborn"), "Ready")["status"] == "True"
    cluster.db.close()


def test_cordoned_node_gets_the_unschedulable_taint(cluster: Cluster) -> None:
    node = cluster.add_node()
    cluster.update(NODE, "", node, lambda n: n["spec"].update(unschedulable=True))
    assert [(t["key"], t["effect"]) for t in cluster.get(NODE, "", node)["spec"]["taints"]] == [
        ("node.kubernetes.io/unschedulable", "NoSchedule")
    ]
    cluster.update(NODE, "", node, lambda n: n["spec"].pop("unschedulable"))
    assert "taints" not in cluster.get(NODE, "", node)["spec"]


def test_pods_of_a_removed_node_are_collected_and_replaced(cluster: Cluster) -> None:
    first, second = cluster.add_node(), cluster.add_node()
    cluster.create(DEPLOY, deployment(replicas=4))
    cluster.delete(NODE, "", first)
    pods = cluster.pods()
    assert len(pods) == 4 and {p["spec"]["nodeName"] for p in pods} == {second}


# -- garbage collection and namespaces --------------------------------------------------------------------


def test_deleting_a_deployment_cascades_in_the_background(cluster: Cluster) -> None:
    cluster.add_node()
    cluster.create(DEPLOY, deployment())
    cluster.create(DEPLOY, deployment("other", replicas=1))
    cluster.delete(DEPLOY, "default", "web")
    assert [r["metadata"]["name"].rsplit("-", 1)[0] for r in cluster.rss()] == ["other"]
    assert {p["metadata"]["labels"]["app"] for p in cluster.pods()} == {"other"}


def test_foreground_deletion_removes_dependents_first(cluster: Cluster) -> None:
    cluster.add_node()
    cluster.create(DEPLOY, deployment())
    seen: list[str] = []
    original_remove = cluster.store.remove

    def spy(rt: ResourceType, namespace: str, name: str) -> dict:
        seen.append(rt.kind)
        return original_remove(rt, namespace, name)

    cluster.store.remove = spy  # type: ignore[method-assign]
    cluster.delete(DEPLOY, "default", "web", policy="Foreground")
    assert cluster.get(DEPLOY, "default", "web") is None and cluster.rss() == [] and cluster.pods() == []
    assert seen == ["Pod", "Pod", "Pod", "ReplicaSet", "Deployment"]


def test_dangling_owner_references_are_dropped_or_collected(cluster: Cluster) -> None:
    cm = _rt("v1", "ConfigMap")
    owner = cluster.create(cm, {"metadata": {"name": "owner", "namespace": "default"}})
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    ghost = {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "0000-gone"}
    cluster.create(
        cm, {"metadata": {"name": "both", "namespace": "default", "ownerReferences": [ref, ghost]}}
    )
    cluster.create(cm, {"metadata": {"name": "orphan", "namespace": "default", "ownerReferences": [ghost]}})
    assert cluster.get(cm, "default", "orphan") is None
    assert cluster.get(cm, "default", "both")["metadata"]["ownerReferences"] == [ref]
    cluster.delete(cm, "default", "owner")
    assert cluster.get(cm, "default", "both") is None


def test_object_whose_last_finalizer_is_removed_disappears(cluster: Cluster) -> None:
    cm = _rt("v1", "ConfigMap")
    cluster.create(
        cm, {"metadata": {"name": "held", "namespace": "default", "finalizers": ["example.com/hold"]}}
    )
    cluster.update(
        cm, "default", "held", lambda o: o["metadata"].update(deletionTimestamp=rfc3339(cluster.clock()))
    )
    assert cluster.get(cm, "default", "held") is not None
    cluster.update(cm, "default", "held", lambda o: o["metadata"].pop("finalizers"))
    assert cluster.get(cm, "default", "held") is None


WIDGET_CRD = {
    "metadata": {"name": "widgets.example.com"},
    "spec": {
        "group": "example.com",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                },
            }
        ],
    },
}


def _widget_type(cluster: Cluster) -> ResourceType:
    rt = cluster.store.registry.by_kind("example.com/v1", "Widget")
    assert rt is not None
    return rt


def test_crd_is_established_with_accepted_names(cluster: Cluster) -> None:
    cluster.create(CRD, WIDGET_CRD)
    crd = cluster.get(CRD, "", "widgets.example.com")
    assert crd["status"]["acceptedNames"] == {
        "plural": "widgets",
        "singular": "widget",
        "kind": "Widget",
        "shortNames": ["wd"],
        "listKind": "WidgetList",
    }
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]} == {
        "NamesAccepted": "True",
        "Established": "True",
    }
    assert crd["status"]["storedVersions"] == ["v1"]


def test_deleting_a_crd_deletes_its_custom_resources(cluster: Cluster) -> None:
    cluster.create(CRD, WIDGET_CRD)
    widget = _widget_type(cluster)
    cluster.create(widget, {"metadata": {"name": "gear", "namespace": "default"}, "spec": {"size": 3}})
    assert cluster.store.count(widget.key) == 1
    cluster.delete(CRD, "", "widgets.example.com")
    assert cluster.store.count(widget.key) == 0


def test_namespace_gets_default_service_account_and_root_ca(cluster: Cluster) -> None:
    cluster.create(NS, {"metadata": {"name": "shop"}})
    sa = cluster.store.get("serviceaccounts", "shop", "default")
    ca = cluster.store.get("configmaps", "shop", "kube-root-ca.crt")
    assert sa is not None and ca["data"] == {"ca.crt": cluster.ctx.ca_pem}
    cluster.delete(_rt("v1", "ConfigMap"), "shop", "kube-root-ca.crt")
    assert cluster.store.get("configmaps", "shop", "kube-root-ca.crt") is not None, (
        "the publisher recreates it"
    )


def test_deleting_a_namespace_removes_everything_in_it(cluster: Cluster) -> None:
    cluster.add_node()
    cluster.create(CRD, WIDGET_CRD)
    widget = _widget_type(cluster)
    cluster.create(NS, {"metadata": {"name": "shop"}})
    body = deployment()
    body["metadata"]["namespace"] = "shop"
    cluster.create(DEPLOY, body)
    cluster.create(
        SVC,
        {
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
    )
    cluster.create(widget, {"metadata": {"name": "gear", "namespace": "shop"}, "spec": {"size": 3}})
    cluster.create(widget, {"metadata": {"name": "keep", "namespace": "default"}, "spec": {"size": 1}})
    assert len(cluster.pods("shop")) == 3 and cluster.store.get("endpoints", "shop", "web") is not None
    cluster.delete(NS, "", "shop")
    assert cluster.get(NS, "", "shop") is None
    leftovers = [
        (rkey, o["metadata"]["name"])
        for rkey, o in cluster.store.all_objects()
        if o["metadata"].get("namespace") == "shop"
    ]
    assert leftovers == []
    assert [o["metadata"]["name"] for o in cluster.store.list(widget.key)] == ["keep"]
    assert cluster.get(NS, "", "default") is not None


# -- statefulsets, daemonsets, jobs -----------------------------------------------------------------------


def statefulset(replicas: int = 3, image: str = "redis:7", **spec) -> dict:
    return {
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "redis", "image": image}]},
            },
            **spec,
        },
    }


def test_statefulset_creates_ordered_pods_one_at_a_time(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, pod_start_seconds=5)
    cluster.add_node()
    cluster.create(
        STS,
        statefulset(
            volumeClaimTemplates=[
                {
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }
            ]
        ),
    )
    assert [p["metadata"]["name"] for p in cluster.pods()] == ["db-0"]
    cluster.advance(5)
    assert [p["metadata"]["name"] for p in cluster.pods()] == ["db-0", "db-1"]
    cluster.advance(5)
    cluster.advance(5)
    pods = cluster.pods()
    assert [p["metadata"]["name"] for p in pods] == ["db-0", "db-1", "db-2"]
    db1 = pods[1]
    assert db1["spec"]["hostname"] == "db-1" and db1["spec"]["subdomain"] == "db"
    assert db1["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "db-1"
    assert db1["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "1"
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}} in db1["spec"]["volumes"]
    assert cluster.store.get("persistentvolumeclaims", "default", "data-db-1") is not None
    sts = cluster.get(STS, "default", "db")
    status = sts["status"]
    assert status["replicas"] == status["readyReplicas"] == status["currentReplicas"] == 3
    assert status["updatedReplicas"] == status["availableReplicas"] == 3
    assert status["currentRevision"] == status["updateRevision"]
    assert db1["metadata"]["labels"]["controller-revision-hash"] == status["updateRevision"]
    assert cluster.store.get("controllerrevisions.apps", "default", status["updateRevision"]) is not None

    cluster.update(STS, "default", "db", set_image("redis:7.2"))
    for _ in range(10):
        cluster.advance(5)
    status = cluster.get(STS, "default", "db")["status"]
    assert status["currentRevision"] == status["updateRevision"] != sts["status"]["updateRevision"]
    assert {p["spec"]["containers"][0]["image"] for p in cluster.pods()} == {"redis:7.2"}

    cluster.update(STS, "default", "db", set_replicas(1))
    for _ in range(3):
        cluster.advance(1)
    assert [p["metadata"]["name"] for p in cluster.pods()] == ["db-0"]
    assert cluster.store.get("persistentvolumeclaims", "default", "data-db-2") is not None, (
        "claims are retained"
    )
    cluster.db.close()


def test_parallel_statefulset_creates_all_pods_at_once(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, pod_start_seconds=5)
    cluster.add_node()
    cluster.create(STS, statefulset(podManagementPolicy="Parallel"))
    assert [p["metadata"]["name"] for p in cluster.pods()] == ["db-0", "db-1", "db-2"]
    cluster.db.close()


def test_daemonset_runs_one_pod_per_eligible_node(cluster: Cluster) -> None:
    nodes = [cluster.add_node() for _ in range(4)]
    cluster.update(
        NODE,
        "",
        nodes[1],
        lambda n: n["spec"].update(taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]),
    )
    cluster.update(
        NODE, "", nodes[2], lambda n: n["metadata"]["labels"].update({"kubernetes.io/os": "windows"})
    )
    cluster.create(
        DS,
        {
            "metadata": {"name": "agent", "namespace": "kube-system"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {
                        "nodeSelector": {"kubernetes.io/os": "linux"},
                        "containers": [{"name": "a", "image": "agent:1"}],
                    },
                },
            },
        },
    )
    pods = cluster.pods("kube-system")
    assert sorted(p["spec"]["nodeName"] for p in pods) == [nodes[0], nodes[3]]
    assert all(p["status"]["phase"] == "Running" for p in pods)
    status = cluster.get(DS, "kube-system", "agent")["status"]
    assert status == {
        "currentNumberScheduled": 2,
        "numberMisscheduled": 0,
        "desiredNumberScheduled": 2,
        "numberReady": 2,
        "observedGeneration": 1,
        "updatedNumberScheduled": 2,
        "numberAvailable": 2,
    }
    tolerated = {(t["key"], t["effect"]) for t in pods[0]["spec"]["tolerations"]}
    assert ("node.kubernetes.io/not-ready", "NoExecute") in tolerated
    new_node = cluster.add_node()
    assert new_node in {p["spec"]["nodeName"] for p in cluster.pods("kube-system")}
    old_hashes = {p["metadata"]["labels"]["controller-revision-hash"] for p in cluster.pods("kube-system")}
    cluster.update(DS, "kube-system", "agent", set_image("agent:2"))
    pods = cluster.pods("kube-system")
    assert len(pods) == 3 and {p["spec"]["containers"][0]["image"] for p in pods} == {"agent:2"}
    assert not old_hashes & {p["metadata"]["labels"]["controller-revision-hash"] for p in pods}


def test_daemonset_pods_survive_a_not_ready_node(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, node_eviction_seconds=5)
    node = cluster.add_node()
    cluster.create(
        DS,
        {
            "metadata": {"name": "agent", "namespace": "kube-system"},
            "spec": {
                "selector": {"matchLabels": {"app": "agent"}},
                "template": {
                    "metadata": {"labels": {"app": "agent"}},
                    "spec": {"containers": [{"name": "a", "image": "agent:1"}]},
                },
            },
        },
    )
    [pod] = cluster.pods("kube-system")
    cluster.set_ready(node, "Unknown")
    cluster.advance(60)
    assert [p["metadata"]["name"] for p in cluster.pods("kube-system")] == [pod["metadata"]["name"]]
    status = cluster.get(DS, "kube-system", "agent")["status"]
    assert status["desiredNumberScheduled"] == 0 and status["numberMisscheduled"] == 1
    cluster.db.close()


def job(
    name: str = "pi", *, completions: int | None = 3, parallelism: int = 2, fail: bool = False, **spec
) -> dict:
    template: dict = {"spec": {"restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl"}]}}
    if fail:
        template["metadata"] = {"annotations": {"sandbox.kaas.dev/fail": "true"}}
    body: dict = {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"parallelism": parallelism, "template": template, **spec},
    }
    if completions is not None:
        body["spec"]["completions"] = completions
    return body


def test_job_runs_pods_to_completion(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, pod_start_seconds=5)
    cluster.add_node()
    cluster.create(JOB, job())
    j = cluster.get(JOB, "default", "pi")
    uid = j["metadata"]["uid"]
    assert j["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    pods = cluster.pods()
    assert (
        len(pods) == 2 and j["status"]["active"] == 2 and j["status"]["startTime"] == rfc3339(cluster.clock())
    )
    assert pods[0]["metadata"]["labels"]["job-name"] == "pi"
    assert pods[0]["metadata"]["ownerReferences"][0]["kind"] == "Job"
    cluster.advance(5)
    assert {p["status"]["phase"] for p in cluster.pods()} == {"Running"}
    cluster.advance(5)
    assert sorted(p["status"]["phase"] for p in cluster.pods()) == ["Pending", "Succeeded", "Succeeded"]
    for _ in range(2):
        cluster.advance(5)
    j = cluster.get(JOB, "default", "pi")
    assert j["status"]["succeeded"] == 3 and "active" not in j["status"] and "failed" not in j["status"]
    assert j["status"]["completionTime"] == rfc3339(cluster.clock())
    assert [c["type"] for c in j["status"]["conditions"]] == ["SuccessCriteriaMet", "Complete"]
    assert cond(j, "Complete")["status"] == "True"
    [done] = [p for p in cluster.pods() if p["status"]["phase"] == "Succeeded"][:1]
    assert done["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    cluster.db.close()


def test_job_on_1_30_has_no_success_criteria_condition(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, version="v1.30.14")
    cluster.add_node()
    cluster.create(JOB, job(completions=1, parallelism=1))
    j = cluster.get(JOB, "default", "pi")
    assert [c["type"] for c in j["status"]["conditions"]] == ["Complete"]
    cluster.db.close()


def test_job_fails_after_its_backoff_limit(cluster: Cluster) -> None:
    cluster.add_node()
    cluster.create(JOB, job(fail=True, completions=1, parallelism=1, backoffLimit=2))
    j = cluster.get(JOB, "default", "pi")
    assert j["status"]["failed"] == 3 and "succeeded" not in j["status"]
    failed = cond(j, "Failed")
    assert (failed["status"], failed["reason"]) == ("True", "BackoffLimitExceeded")
    assert len(cluster.pods()) == 3 and {p["status"]["phase"] for p in cluster.pods()} == {"Failed"}


def test_job_deadline_and_ttl(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, pod_start_seconds=100)
    cluster.add_node()
    cluster.create(
        JOB, job(completions=1, parallelism=1, activeDeadlineSeconds=30, ttlSecondsAfterFinished=60)
    )
    cluster.advance(30)
    j = cluster.get(JOB, "default", "pi")
    assert cond(j, "Failed")["reason"] == "DeadlineExceeded" and cluster.pods() == []
    cluster.advance(59)
    assert cluster.get(JOB, "default", "pi") is not None
    cluster.advance(1)
    assert cluster.get(JOB, "default", "pi") is None
    cluster.db.close()


def test_indexed_job_completes_every_index(cluster: Cluster) -> None:
    cluster.add_node()
    cluster.create(JOB, job(completions=3, parallelism=3, completionMode="Indexed"))
    j = cluster.get(JOB, "default", "pi")
    assert j["status"]["completedIndexes"] == "0-2" and j["status"]["succeeded"] == 3
    indexes = sorted(
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"] for p in cluster.pods()
    )
    assert indexes == ["0", "1", "2"]
    assert all(
        p["metadata"]["name"].startswith(
            f"pi-{p['metadata']['labels']['batch.kubernetes.io/job-completion-index']}-"
        )
        for p in cluster.pods()
    )


# -- services ------------------------------------------------------------------------------------------------


def test_endpoints_follow_ready_pods(cluster: Cluster) -> None:
    nodes = [cluster.add_node(), cluster.add_node()]
    cluster.create(DEPLOY, deployment(replicas=2))
    cluster.update(NODE, "", nodes[1], lambda n: n["spec"].update(unschedulable=True))
    cluster.create(
        SVC,
        {
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"name": "web", "port": 80, "targetPort": "http"}],
            },
        },
    )
    ep = cluster.store.get("endpoints", "default", "web")
    pods = {p["status"]["podIP"]: p for p in cluster.pods()}
    [subset] = ep["subsets"]
    assert subset["ports"] == [{"name": "web", "port": 8080, "protocol": "TCP"}]
    assert sorted(a["ip"] for a in subset["addresses"]) == sorted(pods)
    addr = subset["addresses"][0]
    assert addr["targetRef"] == {
        "kind": "Pod",
        "namespace": "default",
        "name": pods[addr["ip"]]["metadata"]["name"],
        "uid": pods[addr["ip"]]["metadata"]["uid"],
    }
    assert addr["nodeName"] == pods[addr["ip"]]["spec"]["nodeName"]

    cluster.update(DEPLOY, "default", "web", set_replicas(3))
    [subset] = cluster.store.get("endpoints", "default", "web")["subsets"]
    assert len(subset["addresses"]) == 3
    sick = next(p for p in cluster.pods() if p["spec"]["nodeName"] == nodes[0])
    cluster.set_ready(nodes[0], "False")
    [subset] = cluster.store.get("endpoints", "default", "web")["subsets"]
    assert sick["status"]["podIP"] in {a["ip"] for a in subset["notReadyAddresses"]}
    cluster.delete(SVC, "default", "web")
    assert cluster.store.get("endpoints", "default", "web") is None


def test_named_target_ports_split_pods_into_subsets(cluster: Cluster) -> None:
    cluster.add_node()
    for name, port in (("a", 8080), ("b", 9090)):
        cluster.create(
            POD,
            {
                "metadata": {"name": name, "namespace": "default", "labels": {"app": "mix"}},
                "spec": {
                    "containers": [
                        {"name": "c", "image": "x", "ports": [{"name": "http", "containerPort": port}]}
                    ]
                },
            },
        )
    cluster.create(
        SVC,
        {
            "metadata": {"name": "mix", "namespace": "default"},
            "spec": {"selector": {"app": "mix"}, "ports": [{"port": 80, "targetPort": "http"}]},
        },
    )
    subsets = cluster.store.get("endpoints", "default", "mix")["subsets"]
    assert sorted((s["ports"][0]["port"], len(s["addresses"])) for s in subsets) == [(8080, 1), (9090, 1)]


def test_service_without_pods_has_endpoints_without_subsets(cluster: Cluster) -> None:
    cluster.create(
        SVC,
        {
            "metadata": {"name": "empty", "namespace": "default"},
            "spec": {"selector": {"app": "none"}, "ports": [{"port": 80}]},
        },
    )
    ep = cluster.store.get("endpoints", "default", "empty")
    assert ep is not None and "subsets" not in ep


def test_load_balancer_gets_an_ingress_ip(cluster: Cluster) -> None:
    for name in ("lb1", "lb2"):
        cluster.create(
            SVC,
            {
                "metadata": {"name": name, "namespace": "default"},
                "spec": {"type": "LoadBalancer", "selector": {"app": "x"}, "ports": [{"port": 80}]},
            },
        )
    ips = [
        cluster.get(SVC, "default", n)["status"]["loadBalancer"]["ingress"][0]["ip"] for n in ("lb1", "lb2")
    ]
    assert ips == ["172.18.255.1", "172.18.255.2"]
    cluster.update(SVC, "default", "lb1", lambda s: s["spec"].update(type="ClusterIP"))
    assert cluster.get(SVC, "default", "lb1")["status"]["loadBalancer"] == {}


# -- the reconcile loop ----------------------------------------------------------------------------------


def test_reconcile_reaches_a_fixpoint_also_after_a_restart(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path)
    for _ in range(2):
        cluster.add_node()
    cluster.create(DEPLOY, deployment())
    cluster.create(STS, statefulset())
    cluster.create(
        SVC,
        {
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]},
        },
    )
    cluster.create(JOB, job(completions=1, parallelism=1))
    rv = cluster.store.rv
    cluster.reconcile()
    cluster.advance(3600)
    assert cluster.store.rv == rv, "an idle cluster writes nothing"
    reloaded = ClusterStore("test", cluster.db, clock=cluster.clock)
    reloaded.load()
    ctx = controllers.ControllerContext(
        store=reloaded,
        settings=controllers.ControllerSettings(strict=True),
        kubernetes_version="v1.32.5",
        ca_pem=cluster.ctx.ca_pem,
    )
    with reloaded.lock:
        controllers.reconcile(ctx)
    assert reloaded.rv == rv, "a restarted sandbox's first full pass changes nothing either"
    cluster.db.close()


def test_a_failing_controller_does_not_stop_the_others(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from providers.sandbox.controllers import Controller

    def boom(ctx) -> None:
        raise RuntimeError("boom")

    broken = tuple(
        Controller(c.name, c.inputs, boom) if c.name == "endpoints" else c for c in controllers.CONTROLLERS
    )
    monkeypatch.setattr(controllers, "CONTROLLERS", broken)
    cluster.add_node()
    with pytest.raises(RuntimeError, match="boom"):
        cluster.create(DEPLOY, deployment(replicas=1))
    assert [p["status"]["phase"] for p in cluster.pods()] == ["Running"]
    cluster.ctx.settings.strict = False
    cluster.reconcile()  # logged, not raised
