"""Server-side Table rendering (`providers.sandbox.tables`): negotiation, columns, cells and ages."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from providers.sandbox import tables
from providers.sandbox.errors import BadRequest
from providers.sandbox.resources import BUILTIN, BUILTIN_REGISTRY, ResourceType

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
KUBECTL_ACCEPT = (
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
    "application/json"
)


def ago(**kw: float) -> str:
    return (NOW - timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%SZ")


def rt(gv: str, plural: str) -> ResourceType:
    group, _, version = gv.rpartition("/")
    found = BUILTIN_REGISTRY.by_path(group, version, plural)
    assert found is not None
    return found


PODS, NODES = rt("v1", "pods"), rt("v1", "nodes")
WIDGETS = ResourceType(group="example.com", version="v1", kind="Widget", plural="widgets", namespaced=True)


def render(resource: ResourceType, *objs: dict, **kw) -> dict:
    doc = tables.table(resource, list(objs), now=NOW, **kw)
    json.dumps(doc)  # always serialisable
    for row in doc["rows"]:
        assert len(row["cells"]) == len(doc["columnDefinitions"])
    return doc


def cells(resource: ResourceType, obj: dict, **kw) -> dict:
    """The single row of `obj` as {column name: cell}."""
    doc = render(resource, obj, **kw)
    return {c["name"]: v for c, v in zip(doc["columnDefinitions"], doc["rows"][0]["cells"], strict=True)}


def columns(resource: ResourceType, **kw) -> list[tuple[str, str, int]]:
    return [(c["name"], c["type"], c["priority"]) for c in render(resource, **kw)["columnDefinitions"]]


def obj(name: str = "x", created: str | None = None, **fields) -> dict:
    meta = {"name": name, "namespace": "default", "creationTimestamp": created or ago(minutes=5)}
    meta.update(fields.pop("metadata", {}))
    return {"metadata": meta, **fields}


# -- human durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "<invalid>"),
        (-2, "<invalid>"),
        (-1.5, "0s"),
        (-0.5, "0s"),
        (0, "0s"),
        (1.9, "1s"),
        (59, "59s"),
        (119, "119s"),
        (120, "2m"),
        (200, "3m20s"),
        (599, "9m59s"),
        (600, "10m"),
        (659, "10m"),
        (3599, "59m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60 * 25, "3h25m"),
        (8 * 3600 - 1, "7h59m"),
        (8 * 3600, "8h"),
        (47 * 3600 + 3599, "47h"),
        (48 * 3600, "2d"),
        (3 * 86400 + 5 * 3600, "3d5h"),
        (8 * 86400 - 1, "7d23h"),
        (8 * 86400, "8d"),
        (400 * 86400, "400d"),
        (2 * 365 * 86400, "2y"),
        (3 * 365 * 86400 + 10 * 86400, "3y10d"),
        (8 * 365 * 86400, "8y"),
        (20 * 365 * 86400 + 100 * 86400, "20y"),
    ],
)
def test_human_duration_matches_apimachinery(seconds: float, text: str) -> None:
    assert tables.human_duration(timedelta(seconds=seconds)) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "<unknown>"),
        ("", "<unknown>"),
        ("yesterday", "<unknown>"),
        (42, "<unknown>"),
        ("0001-01-01T00:00:00Z", "<unknown>"),
        ("2024-05-01T11:55:00Z", "5m"),
        ("2024-05-01T11:59:59.999999Z", "0s"),
        ("2024-05-01T11:58:00.123456789Z", "119s"),
        ("2024-05-01T13:55:00+02:00", "5m"),
        ("2024-05-01T06:55:00-05:00", "5m"),
        ("2024-05-01T12:00:30Z", "<invalid>"),
        ("2024-13-45T99:00:00Z", "<unknown>"),
    ],
)
def test_age_of_timestamps(value: object, text: str) -> None:
    assert tables.since(value, NOW) == text


def test_naive_now_is_utc() -> None:
    assert tables.since("2024-05-01T11:55:00Z", NOW.replace(tzinfo=None)) == "5m"


# -- negotiation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "version"),
    [
        (KUBECTL_ACCEPT, "v1"),
        (
            "application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io",
            "v1beta1",
        ),
        ("application/json;as=Table;v=v1beta1;g=meta.k8s.io", "v1beta1"),
        ("application/json ; as = Table ; v = v1 ; g = meta.k8s.io", "v1"),
        ("APPLICATION/JSON;AS=TABLE;V=V1;G=META.K8S.IO", "v1"),
        ('application/json;as="Table";v="v1";g="meta.k8s.io"', "v1"),
        ("application/json;q=0.9;as=Table;v=v1;g=meta.k8s.io", "v1"),
        ("application/json;as=Table;v=v1;g=meta.k8s.io;q=0.1,application/json;q=1", "v1"),
        ("application/json;g=meta.k8s.io;v=v1;as=Table", "v1"),
        ("*/*;as=Table;v=v1;g=meta.k8s.io", "v1"),
        ("application/*;as=Table;v=v1beta1;g=meta.k8s.io", "v1beta1"),
        (
            "application/yaml;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io",
            "v1beta1",
        ),
        ("application/json;as=Table;v=v2;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io", "v1"),
        ("application/json", None),
        ("*/*", None),
        ("application/json;as=Table", None),
        ("application/json;as=Table;v=v1", None),
        ("application/json;as=Table;g=meta.k8s.io", None),
        ("application/json;as=Table;v=v1;g=apps", None),
        ("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io", None),
        ("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io", None),
        ("text/html;as=Table;v=v1;g=meta.k8s.io", None),
        ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json", None),
        ("application/json;as=Table;v=v1;g=meta.k8s.io;v=v9", None),
    ],
)
def test_negotiate(accept: str, version: str | None) -> None:
    assert tables.negotiate(accept) == version


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "",
        " ",
        ",,,,",
        ";;;;",
        "====",
        "application/json;;;=;==;as",
        "application/json;as=;v=;g=",
        "application/json;as=Table;v",
        'application/json;as="Table;v=v1;g=meta.k8s.io',
        "\x00\x01\x02;as=Table",
        "☃/☃;as=☃;v=☃;g=☃",
        "application/json;" + "a=b;" * 10_000,
        "a" * 100_000,
        ",".join(["application/json;as=Table;v=v3;g=meta.k8s.io"] * 2_000),
        12345,
        b"application/json;as=Table;v=v1;g=meta.k8s.io",
        ["application/json;as=Table;v=v1;g=meta.k8s.io"],
    ],
)
def test_negotiate_garbage_is_none_not_an_error(accept: object) -> None:
    assert tables.negotiate(accept) is None  # type: ignore[arg-type]


# -- envelope and includeObject ----------------------------------------------------------------------


def test_envelope_with_list_meta() -> None:
    doc = render(
        PODS,
        obj("a"),
        obj("b"),
        list_meta={"resourceVersion": "42", "continue": "tok", "remainingItemCount": 3},
    )
    assert doc["kind"] == "Table"
    assert doc["apiVersion"] == "meta.k8s.io/v1"
    assert doc["metadata"] == {"resourceVersion": "42", "continue": "tok", "remainingItemCount": 3}
    assert [r["cells"][0] for r in doc["rows"]] == ["a", "b"]


def test_envelope_without_list_meta_uses_the_single_objects_resource_version() -> None:
    one = render(PODS, obj("a", metadata={"resourceVersion": "17"}))
    assert one["metadata"] == {"resourceVersion": "17"}
    assert render(PODS, obj("a"), obj("b"))["metadata"] == {}
    empty = render(PODS, list_meta={"resourceVersion": "9", "continue": ""})
    assert empty["rows"] == [] and empty["metadata"] == {"resourceVersion": "9"}
    assert len(empty["columnDefinitions"]) == 9


def test_v1beta1_table() -> None:
    doc = render(PODS, obj("a"), version="v1beta1")
    assert doc["apiVersion"] == "meta.k8s.io/v1beta1"
    assert doc["rows"][0]["object"]["apiVersion"] == "meta.k8s.io/v1beta1"
    with pytest.raises(ValueError):
        tables.table(PODS, [], now=NOW, version="v2")


@pytest.mark.parametrize("include", ["Metadata", ""])
def test_include_metadata_embeds_partial_object_metadata(include: str) -> None:
    pod = obj("a", metadata={"labels": {"app": "web"}, "resourceVersion": "5"}, spec={"containers": []})
    row = render(PODS, pod, include_object=include)["rows"][0]
    assert row["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": pod["metadata"],
    }
    row["object"]["metadata"]["labels"]["app"] = "changed"
    assert pod["metadata"]["labels"]["app"] == "web"  # a copy, not the stored object


def test_include_object_embeds_the_whole_object() -> None:
    pod = obj("a", spec={"containers": [{"name": "c", "image": "nginx"}]})
    row = render(PODS, pod, include_object="Object")["rows"][0]
    assert row["object"]["spec"] == pod["spec"]
    assert row["object"]["kind"] == "Pod" and row["object"]["apiVersion"] == "v1"
    assert "kind" not in pod


def test_include_none_has_no_object() -> None:
    row = render(PODS, obj("a"), include_object="None")["rows"][0]
    assert "object" not in row


@pytest.mark.parametrize("include", ["none", "object", "Everything", "Metadata "])
def test_unknown_include_object_is_a_bad_request(include: str) -> None:
    with pytest.raises(BadRequest, match="unrecognized includeObject value"):
        tables.table(PODS, [], now=NOW, include_object=include)


# -- pods --------------------------------------------------------------------------------------------


def test_pod_columns() -> None:
    assert columns(PODS) == [
        ("Name", "string", 0),
        ("Ready", "string", 0),
        ("Status", "string", 0),
        ("Restarts", "string", 0),
        ("Age", "string", 0),
        ("IP", "string", 1),
        ("Node", "string", 1),
        ("Nominated Node", "string", 1),
        ("Readiness Gates", "string", 1),
    ]
    assert render(PODS)["columnDefinitions"][0]["format"] == "name"


def container(name: str = "c", **status) -> dict:
    return {"name": name, "restartCount": 0, "ready": False, **status}


def pod(phase: str, statuses: list[dict] | None = None, n: int = 1, **kw) -> dict:
    spec = {"containers": [{"name": f"c{i}", "image": "nginx"} for i in range(n)]}
    spec.update(kw.pop("spec", {}))
    status = {"phase": phase, **kw.pop("status", {})}
    if statuses is not None:
        status["containerStatuses"] = statuses
    return obj("p", spec=spec, status=status, **kw)


RUNNING = {"running": {"startedAt": ago(minutes=4)}}


@pytest.mark.parametrize(
    ("p", "ready", "status"),
    [
        (pod("Pending"), "0/1", "Pending"),
        (
            pod("Pending", [container(state={"waiting": {"reason": "ContainerCreating"}})]),
            "0/1",
            "ContainerCreating",
        ),
        (pod("Pending", [container(state={"waiting": {"reason": "ErrImagePull"}})]), "0/1", "ErrImagePull"),
        (pod("Running", [container(ready=True, state=RUNNING)]), "1/1", "Running"),
        (pod("Running", [container(ready=False, state=RUNNING)]), "0/1", "Running"),
        (
            pod(
                "Running",
                [container("a", ready=True, state=RUNNING), container("b", ready=True, state=RUNNING)],
                n=2,
            ),
            "2/2",
            "Running",
        ),
        (
            pod("Running", [container(state={"waiting": {"reason": "CrashLoopBackOff"}})]),
            "0/1",
            "CrashLoopBackOff",
        ),
        (
            pod("Succeeded", [container(state={"terminated": {"exitCode": 0, "reason": "Completed"}})]),
            "0/1",
            "Completed",
        ),
        (
            pod("Failed", [container(state={"terminated": {"exitCode": 1, "reason": "Error"}})]),
            "0/1",
            "Error",
        ),
        (pod("Failed", [container(state={"terminated": {"exitCode": 137}})]), "0/1", "ExitCode:137"),
        (pod("Failed", [container(state={"terminated": {"exitCode": 0, "signal": 9}})]), "0/1", "Signal:9"),
        (pod("Failed", status={"reason": "Evicted", "message": "low on memory"}), "0/1", "Evicted"),
        (
            pod(
                "Running",
                [container(ready=True, state=RUNNING)],
                metadata={"deletionTimestamp": ago(seconds=3)},
            ),
            "1/1",
            "Terminating",
        ),
        (
            pod(
                "Succeeded",
                [container(state={"terminated": {"exitCode": 0, "reason": "Completed"}})],
                metadata={"deletionTimestamp": ago(seconds=3)},
            ),
            "0/1",
            "Completed",
        ),
        (
            pod(
                "Running",
                [container(ready=True, state=RUNNING)],
                status={"reason": "NodeLost"},
                metadata={"deletionTimestamp": ago(seconds=3)},
            ),
            "1/1",
            "Unknown",
        ),
        (
            pod(
                "Pending",
                status={
                    "conditions": [{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}]
                },
            ),
            "0/1",
            "SchedulingGated",
        ),
        (pod("", None), "0/1", ""),
    ],
)
def test_pod_ready_and_status(p: dict, ready: str, status: str) -> None:
    row = cells(PODS, p)
    assert (row["Ready"], row["Status"]) == (ready, status)


def test_completed_container_next_to_a_running_one_reads_running_or_not_ready() -> None:
    statuses = [
        container("a", state={"terminated": {"exitCode": 0, "reason": "Completed"}}),
        container("b", ready=True, state=RUNNING),
    ]
    ready_pod = pod("Running", statuses, n=2, status={"conditions": [{"type": "Ready", "status": "True"}]})
    assert cells(PODS, ready_pod)["Status"] == "Running"
    assert cells(PODS, pod("Running", statuses, n=2))["Status"] == "NotReady"


def test_pod_init_containers() -> None:
    init = {"initContainers": [{"name": "i0", "image": "busybox"}, {"name": "i1", "image": "busybox"}]}
    done = {"name": "i0", "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}

    def status_of(*init_statuses: dict) -> str:
        p = pod(
            "Pending",
            [container(state={"waiting": {"reason": "PodInitializing"}})],
            spec=init,
            status={"initContainerStatuses": list(init_statuses)},
        )
        return cells(PODS, p)["Status"]

    assert status_of({"name": "i0", "state": {"running": {}}}) == "Init:0/2"
    assert status_of(done, {"name": "i1", "state": {"running": {}}}) == "Init:1/2"
    assert (
        status_of({"name": "i0", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}) == "Init:Error"
    )
    assert status_of({"name": "i0", "state": {"terminated": {"exitCode": 2}}}) == "Init:ExitCode:2"
    assert status_of({"name": "i0", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}) == (
        "Init:CrashLoopBackOff"
    )
    assert status_of(done, {**done, "name": "i1"}) == "PodInitializing"


def test_sidecar_init_containers_count_towards_ready() -> None:
    spec = {"initContainers": [{"name": "side", "image": "envoy", "restartPolicy": "Always"}]}
    side = {"name": "side", "started": True, "ready": True, "restartCount": 1, "state": RUNNING}
    p = pod(
        "Running",
        [container("c0", ready=True, state=RUNNING)],
        spec=spec,
        status={"initContainerStatuses": [side]},
    )
    row = cells(PODS, p)
    assert (row["Ready"], row["Status"], row["Restarts"]) == ("2/2", "Running", "1")


def test_pod_restarts_with_last_restart_age() -> None:
    restarted = container(
        ready=True,
        state=RUNNING,
        restartCount=5,
        lastState={"terminated": {"exitCode": 1, "finishedAt": ago(minutes=2)}},
    )
    assert cells(PODS, pod("Running", [restarted]))["Restarts"] == "5 (2m ago)"
    assert cells(PODS, pod("Running", [container(restartCount=3, state=RUNNING)]))["Restarts"] == "3"
    assert cells(PODS, pod("Running", [container(state=RUNNING)]))["Restarts"] == "0"


def test_pod_wide_cells_and_age() -> None:
    p = pod(
        "Running",
        [container(ready=True, state=RUNNING)],
        spec={"nodeName": "node-1", "readinessGates": [{"conditionType": "a"}, {"conditionType": "b"}]},
        status={
            "podIPs": [{"ip": "10.244.1.7"}, {"ip": "fd00::7"}],
            "nominatedNodeName": "node-2",
            "conditions": [{"type": "a", "status": "True"}, {"type": "b", "status": "False"}],
        },
    )
    p["metadata"]["creationTimestamp"] = ago(minutes=3, seconds=20)
    row = cells(PODS, p)
    assert (row["Age"], row["IP"], row["Node"], row["Nominated Node"], row["Readiness Gates"]) == (
        "3m20s",
        "10.244.1.7",
        "node-1",
        "node-2",
        "1/2",
    )
    bare = cells(PODS, pod("Pending"))
    assert (bare["IP"], bare["Node"], bare["Nominated Node"], bare["Readiness Gates"]) == ("<none>",) * 4
    assert cells(PODS, pod("Running", status={"podIP": "10.0.0.9"}))["IP"] == "10.0.0.9"
    assert cells(PODS, {"metadata": {"name": "no-age"}})["Age"] == "<unknown>"


def test_finished_pods_carry_a_completed_row_condition() -> None:
    ok = render(PODS, pod("Succeeded"))["rows"][0]
    assert ok["conditions"] == [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }
    ]
    assert render(PODS, pod("Failed"))["rows"][0]["conditions"][0]["reason"] == "Failed"
    assert "conditions" not in render(PODS, pod("Running"))["rows"][0]


# -- nodes -------------------------------------------------------------------------------------------


def node(ready: str | None = "True", unschedulable: bool = False, labels: dict | None = None) -> dict:
    n = obj("node-1", metadata={"labels": labels or {}}, created=ago(days=3, hours=5))
    n["spec"] = {"unschedulable": True} if unschedulable else {}
    conditions = [{"type": "MemoryPressure", "status": "False"}]
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready})
    n["status"] = {
        "conditions": conditions,
        "addresses": [
            {"type": "Hostname", "address": "node-1"},
            {"type": "InternalIP", "address": "172.18.0.2"},
        ],
        "nodeInfo": {
            "kubeletVersion": "v1.32.5",
            "osImage": "Debian GNU/Linux 12",
            "kernelVersion": "6.1.0",
            "containerRuntimeVersion": "containerd://1.7.24",
        },
    }
    return n


def test_node_columns() -> None:
    assert [c[0] for c in columns(NODES)] == [
        "Name",
        "Status",
        "Roles",
        "Age",
        "Version",
        "Internal-IP",
        "External-IP",
        "OS-Image",
        "Kernel-Version",
        "Container-Runtime",
    ]
    assert [c[2] for c in columns(NODES)] == [0, 0, 0, 0, 0, 1, 1, 1, 1, 1]


@pytest.mark.parametrize(
    ("n", "status"),
    [
        (node("True"), "Ready"),
        (node("False"), "NotReady"),
        (node("Unknown"), "NotReady"),
        (node(None), "Unknown"),
        (node("True", unschedulable=True), "Ready,SchedulingDisabled"),
        (node("False", unschedulable=True), "NotReady,SchedulingDisabled"),
    ],
)
def test_node_status(n: dict, status: str) -> None:
    assert cells(NODES, n)["Status"] == status


@pytest.mark.parametrize(
    ("labels", "roles"),
    [
        ({}, "<none>"),
        ({"node-role.kubernetes.io/control-plane": ""}, "control-plane"),
        (
            {"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": "true"},
            "control-plane,worker",
        ),
        ({"kubernetes.io/role": "master"}, "master"),
        ({"kubernetes.io/role": ""}, "<none>"),
        ({"node-role.kubernetes.io/": ""}, "<none>"),
        ({"kubernetes.io/hostname": "node-1"}, "<none>"),
    ],
)
def test_node_roles(labels: dict, roles: str) -> None:
    assert cells(NODES, node(labels=labels))["Roles"] == roles


def test_node_cells() -> None:
    row = cells(NODES, node())
    assert row == {
        "Name": "node-1",
        "Status": "Ready",
        "Roles": "<none>",
        "Age": "3d5h",
        "Version": "v1.32.5",
        "Internal-IP": "172.18.0.2",
        "External-IP": "<none>",
        "OS-Image": "Debian GNU/Linux 12",
        "Kernel-Version": "6.1.0",
        "Container-Runtime": "containerd://1.7.24",
    }
    bare = cells(NODES, obj("n"))
    assert (bare["Status"], bare["Version"], bare["OS-Image"]) == ("Unknown", "", "<unknown>")


# -- workloads ---------------------------------------------------------------------------------------

TEMPLATE = {
    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}, {"name": "log", "image": "fluent"}]}
}
SELECTOR = {
    "matchLabels": {"app": "web", "tier": "fe"},
    "matchExpressions": [
        {"key": "env", "operator": "In", "values": ["prod", "dev"]},
        {"key": "canary", "operator": "DoesNotExist"},
    ],
}


def test_deployment() -> None:
    deploy = rt("apps/v1", "deployments")
    assert columns(deploy) == [
        ("Name", "string", 0),
        ("Ready", "string", 0),
        ("Up-to-date", "string", 0),
        ("Available", "string", 0),
        ("Age", "string", 0),
        ("Containers", "string", 1),
        ("Images", "string", 1),
        ("Selector", "string", 1),
    ]
    d = obj(
        "web",
        spec={"replicas": 3, "selector": SELECTOR, "template": TEMPLATE},
        status={"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    )
    assert cells(deploy, d) == {
        "Name": "web",
        "Ready": "2/3",
        "Up-to-date": 3,
        "Available": 2,
        "Age": "5m",
        "Containers": "web,log",
        "Images": "nginx:1.27,fluent",
        "Selector": "app=web,!canary,env in (dev,prod),tier=fe",  # sorted by key
    }
    fresh = cells(deploy, obj("new", spec={"template": TEMPLATE}))
    assert (fresh["Ready"], fresh["Up-to-date"], fresh["Available"], fresh["Selector"]) == ("0/1", 0, 0, "")
    bad = obj("bad", spec={"selector": {"matchExpressions": [{"key": "a", "operator": "Near"}]}})
    assert cells(deploy, bad)["Selector"] == "<invalid>"


def test_replicaset_statefulset_daemonset() -> None:
    rs = cells(
        rt("apps/v1", "replicasets"),
        obj(
            "web-5d8f",
            spec={"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE},
            status={"replicas": 2, "readyReplicas": 1},
        ),
    )
    assert (rs["Desired"], rs["Current"], rs["Ready"], rs["Selector"]) == (2, 2, 1, "app=web")
    assert cells(rt("apps/v1", "replicasets"), obj("empty"))["Selector"] == "<none>"

    sts = rt("apps/v1", "statefulsets")
    assert [c[0] for c in columns(sts)] == ["Name", "Ready", "Age", "Containers", "Images"]
    assert (
        cells(sts, obj("db", spec={"replicas": 3, "template": TEMPLATE}, status={"readyReplicas": 1}))[
            "Ready"
        ]
        == "1/3"
    )

    ds = rt("apps/v1", "daemonsets")
    assert [c[0] for c in columns(ds)][:8] == [
        "Name",
        "Desired",
        "Current",
        "Ready",
        "Up-to-date",
        "Available",
        "Node Selector",
        "Age",
    ]
    row = cells(
        ds,
        obj(
            "agent",
            spec={"template": {"spec": {"nodeSelector": {"os": "linux"}}}},
            status={
                "desiredNumberScheduled": 3,
                "currentNumberScheduled": 3,
                "numberReady": 2,
                "updatedNumberScheduled": 3,
                "numberAvailable": 2,
            },
        ),
    )
    assert [row[k] for k in ("Desired", "Current", "Ready", "Up-to-date", "Available", "Node Selector")] == [
        3,
        3,
        2,
        3,
        2,
        "os=linux",
    ]
    assert cells(ds, obj("bare"))["Node Selector"] == "<none>"


def test_jobs() -> None:
    jobs = rt("batch/v1", "jobs")
    assert [c[0] for c in columns(jobs)][:5] == ["Name", "Status", "Completions", "Duration", "Age"]
    done = obj(
        "done",
        spec={"completions": 1, "template": TEMPLATE},
        status={
            "succeeded": 1,
            "startTime": ago(minutes=5),
            "completionTime": ago(minutes=4, seconds=48),
            "conditions": [{"type": "Complete", "status": "True"}],
        },
    )
    row = cells(jobs, done)
    assert (row["Status"], row["Completions"], row["Duration"]) == ("Complete", "1/1", "12s")
    running = cells(jobs, obj("run", spec={"parallelism": 3}, status={"startTime": ago(minutes=3)}))
    assert (running["Status"], running["Completions"], running["Duration"]) == ("Running", "0/1 of 3", "3m")
    pending = cells(jobs, obj("new", spec={"completions": 5}))
    assert (pending["Completions"], pending["Duration"]) == ("0/5", "")
    failed = obj("f", status={"conditions": [{"type": "Failed", "status": "True"}]})
    assert cells(jobs, failed)["Status"] == "Failed"
    suspended = obj("s", status={"conditions": [{"type": "Suspended", "status": "True"}]})
    assert cells(jobs, suspended)["Status"] == "Suspended"
    assert cells(jobs, obj("t", metadata={"deletionTimestamp": ago(seconds=1)}))["Status"] == "Terminating"


def test_cronjobs() -> None:
    cj = rt("batch/v1", "cronjobs")
    assert [c[0] for c in columns(cj)][:7] == [
        "Name",
        "Schedule",
        "Timezone",
        "Suspend",
        "Active",
        "Last Schedule",
        "Age",
    ]
    row = cells(
        cj,
        obj(
            "nightly",
            spec={"schedule": "0 3 * * *", "suspend": False, "jobTemplate": {"spec": {"template": TEMPLATE}}},
            status={"active": [{"name": "nightly-1"}], "lastScheduleTime": ago(hours=2)},
        ),
    )
    assert [row[k] for k in ("Schedule", "Timezone", "Suspend", "Active", "Last Schedule")] == [
        "0 3 * * *",
        "<none>",
        "False",
        1,
        "120m",
    ]
    never = cells(cj, obj("n", spec={"schedule": "@hourly", "timeZone": "Europe/Paris", "suspend": True}))
    assert [never[k] for k in ("Timezone", "Suspend", "Active", "Last Schedule")] == [
        "Europe/Paris",
        "True",
        0,
        "<none>",
    ]


# -- services and networking -------------------------------------------------------------------------

SVC = rt("v1", "services")


def service(**spec) -> dict:
    return obj("svc", spec={"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], **spec})


def test_service_columns() -> None:
    assert columns(SVC) == [
        ("Name", "string", 0),
        ("Type", "string", 0),
        ("Cluster-IP", "string", 0),
        ("External-IP", "string", 0),
        ("Port(s)", "string", 0),
        ("Age", "string", 0),
        ("Selector", "string", 1),
    ]


@pytest.mark.parametrize(
    ("svc", "expected"),
    [
        (
            service(type="ClusterIP", ports=[{"port": 80, "protocol": "TCP"}], selector={"app": "web"}),
            ["ClusterIP", "10.96.0.10", "<none>", "80/TCP", "app=web"],
        ),
        (
            service(
                type="NodePort",
                ports=[
                    {"port": 80, "nodePort": 30080, "protocol": "TCP"},
                    {"port": 53, "nodePort": 30053, "protocol": "UDP"},
                ],
            ),
            ["NodePort", "10.96.0.10", "<none>", "80:30080/TCP,53:30053/UDP", "<none>"],
        ),
        (
            service(type="ClusterIP", ports=[{"port": 8080}], externalIPs=["1.2.3.4", "5.6.7.8"]),
            ["ClusterIP", "10.96.0.10", "1.2.3.4,5.6.7.8", "8080/TCP", "<none>"],
        ),
        (
            service(type="LoadBalancer", ports=[{"port": 443, "nodePort": 31443, "protocol": "TCP"}]),
            ["LoadBalancer", "10.96.0.10", "<pending>", "443:31443/TCP", "<none>"],
        ),
        (
            {
                **service(type="LoadBalancer"),
                "status": {
                    "loadBalancer": {
                        "ingress": [
                            {"ip": "203.0.113.9"},
                            {"hostname": "lb.example.com"},
                            {"ip": "203.0.113.9"},
                        ]
                    }
                },
            },
            ["LoadBalancer", "10.96.0.10", "203.0.113.9,lb.example.com", "<none>", "<none>"],
        ),
        (
            service(type="ExternalName", externalName="db.example.com", clusterIP="", clusterIPs=[]),
            ["ExternalName", "<none>", "db.example.com", "<none>", "<none>"],
        ),
        (
            service(clusterIP="None", clusterIPs=["None"], ports=[{"port": 5432, "protocol": "TCP"}]),
            ["ClusterIP", "None", "<none>", "5432/TCP", "<none>"],
        ),
        (
            obj("legacy", spec={"clusterIP": "10.96.0.1", "ports": [{"port": 443}]}),
            ["ClusterIP", "10.96.0.1", "<none>", "443/TCP", "<none>"],
        ),
    ],
)
def test_service_cells(svc: dict, expected: list) -> None:
    row = cells(SVC, svc)
    assert [row[k] for k in ("Type", "Cluster-IP", "External-IP", "Port(s)", "Selector")] == expected


@pytest.mark.parametrize(
    ("subsets", "text"),
    [
        ([], "<none>"),
        (
            [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}]}],
            "10.0.0.1:80,10.0.0.2:80",
        ),
        (
            [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]}],
            "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more...",
        ),
        (
            [{"addresses": [{"ip": f"10.0.0.{i}"} for i in range(5)], "ports": [{"port": 80}]}],
            "10.0.0.0:80,10.0.0.1:80,10.0.0.2:80 + 2 more...",
        ),
        ([{"addresses": [{"ip": "10.0.0.1"}]}], "10.0.0.1"),
        ([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 80}]}], "[fd00::1]:80"),
        ([{"notReadyAddresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80}]}], ""),
    ],
)
def test_endpoints(subsets: list, text: str) -> None:
    ep = rt("v1", "endpoints")
    assert cells(ep, obj("web", subsets=subsets))["Endpoints"] == text


def test_ingress() -> None:
    ing = rt("networking.k8s.io/v1", "ingresses")
    assert [c[0] for c in columns(ing)] == ["Name", "Class", "Hosts", "Address", "Ports", "Age"]
    row = cells(
        ing,
        obj(
            "web",
            spec={
                "ingressClassName": "nginx",
                "rules": [{"host": h} for h in ("a.io", "b.io", "c.io", "d.io")],
                "tls": [{"hosts": ["a.io"]}],
            },
            status={"loadBalancer": {"ingress": [{"ip": "172.18.0.5"}]}},
        ),
    )
    assert [row[k] for k in ("Class", "Hosts", "Address", "Ports")] == [
        "nginx",
        "a.io,b.io,c.io + 1 more...",
        "172.18.0.5",
        "80, 443",
    ]
    bare = cells(ing, obj("any", spec={"rules": [{"http": {}}]}))
    assert [bare[k] for k in ("Class", "Hosts", "Address", "Ports")] == ["<none>", "*", "", "80"]


# -- config, storage, policy, rbac, events, autoscaling ----------------------------------------------


def test_configmaps_secrets_serviceaccounts_namespaces() -> None:
    cm = cells(rt("v1", "configmaps"), obj("cfg", data={"a": "1", "b": "2"}, binaryData={"c": "AA=="}))
    assert cm["Data"] == 3
    secret = cells(
        rt("v1", "secrets"), obj("tls", type="kubernetes.io/tls", data={"tls.crt": "", "tls.key": ""})
    )
    assert (secret["Type"], secret["Data"]) == ("kubernetes.io/tls", 2)
    assert cells(rt("v1", "secrets"), obj("s"))["Type"] == "Opaque"
    assert cells(rt("v1", "serviceaccounts"), obj("default", secrets=[{"name": "t"}]))["Secrets"] == 1
    ns = rt("v1", "namespaces")
    assert cells(ns, obj("prod", status={"phase": "Active"}))["Status"] == "Active"
    assert cells(ns, obj("old", metadata={"deletionTimestamp": ago(seconds=1)}))["Status"] == "Terminating"


def test_events() -> None:
    ev = rt("v1", "events")
    cols = render(ev)["columnDefinitions"]
    assert [(c["name"], c["priority"]) for c in cols] == [
        ("Last Seen", 0),
        ("Type", 0),
        ("Reason", 0),
        ("Object", 0),
        ("Subobject", 1),
        ("Source", 1),
        ("Message", 0),
        ("First Seen", 1),
        ("Count", 1),
        ("Name", 1),
    ]
    assert cols[-1]["format"] == "name"
    event = obj(
        "web.17a",
        type="Warning",
        reason="BackOff",
        message="  Back-off restarting  \n",
        involvedObject={"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{web}"},
        source={"component": "kubelet", "host": "node-1"},
        count=4,
        firstTimestamp=ago(minutes=30),
        lastTimestamp=ago(seconds=40),
    )
    assert render(ev, event)["rows"][0]["cells"] == [
        "40s",
        "Warning",
        "BackOff",
        "pod/web-1",
        "spec.containers{web}",
        "kubelet, node-1",
        "Back-off restarting",
        "30m",
        4,
        "web.17a",
    ]
    new_style = obj(
        "e2",
        type="Normal",
        reason="Scheduled",
        involvedObject={"kind": "Node"},
        eventTime="2024-05-01T11:59:00.000000Z",
        reportingComponent="default-scheduler",
    )
    row = cells(ev, new_style)
    assert (row["Last Seen"], row["Object"], row["Source"], row["First Seen"], row["Count"]) == (
        "60s",
        "node",
        "default-scheduler",
        "60s",
        1,
    )
    series = obj(
        "e3",
        series={"count": 9, "lastObservedTime": "2024-05-01T11:59:50.000000Z"},
        eventTime=ago(minutes=10),
    )
    assert (cells(ev, series)["Last Seen"], cells(ev, series)["Count"]) == ("10s", 9)


def test_persistent_volumes_and_claims() -> None:
    pv = cells(
        rt("v1", "persistentvolumes"),
        obj(
            "pv-1",
            spec={
                "capacity": {"storage": "10Gi"},
                "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "standard",
                "claimRef": {"namespace": "default", "name": "data"},
            },
            status={"phase": "Bound"},
        ),
    )
    assert [
        pv[k]
        for k in (
            "Capacity",
            "Access Modes",
            "Reclaim Policy",
            "Status",
            "Claim",
            "StorageClass",
            "VolumeAttributesClass",
            "VolumeMode",
        )
    ] == ["10Gi", "RWO,RWX", "Retain", "Bound", "default/data", "standard", "<unset>", "<unset>"]
    pvc_rt = rt("v1", "persistentvolumeclaims")
    bound = cells(
        pvc_rt,
        obj(
            "data",
            spec={"volumeName": "pv-1", "storageClassName": "standard", "volumeMode": "Filesystem"},
            status={"phase": "Bound", "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"]},
        ),
    )
    assert [
        bound[k] for k in ("Status", "Volume", "Capacity", "Access Modes", "StorageClass", "VolumeMode")
    ] == ["Bound", "pv-1", "10Gi", "RWO", "standard", "Filesystem"]
    pending = cells(
        pvc_rt, obj("wait", spec={"resources": {"requests": {"storage": "1Gi"}}}, status={"phase": "Pending"})
    )
    assert [pending[k] for k in ("Status", "Volume", "Capacity", "Access Modes")] == ["Pending", "", "", ""]


def test_storage_classes() -> None:
    sc = rt("storage.k8s.io/v1", "storageclasses")
    default = obj(
        "standard",
        provisioner="rancher.io/local-path",
        volumeBindingMode="WaitForFirstConsumer",
        metadata={"annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
    )
    assert render(sc, default)["rows"][0]["cells"][:5] == [
        "standard (default)",
        "rancher.io/local-path",
        "Delete",
        "WaitForFirstConsumer",
        False,
    ]
    assert render(sc, obj("fast", provisioner="x", reclaimPolicy="Retain", allowVolumeExpansion=True))[
        "rows"
    ][0]["cells"][:5] == ["fast", "x", "Retain", "Immediate", True]


def test_pdb_rolebinding_quota_lease_controllerrevision() -> None:
    pdb = cells(
        rt("policy/v1", "poddisruptionbudgets"),
        obj("web", spec={"minAvailable": "50%"}, status={"disruptionsAllowed": 1}),
    )
    assert [pdb[k] for k in ("Min Available", "Max Unavailable", "Allowed Disruptions")] == ["50%", "N/A", 1]
    rb_rt = rt("rbac.authorization.k8s.io/v1", "rolebindings")
    rb = cells(
        rb_rt,
        obj(
            "admins",
            roleRef={"kind": "ClusterRole", "name": "admin"},
            subjects=[
                {"kind": "User", "name": "alice"},
                {"kind": "Group", "name": "ops"},
                {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"},
                {"kind": "User", "name": "bob"},
            ],
        ),
    )
    assert [rb[k] for k in ("Role", "Users", "Groups", "ServiceAccounts")] == [
        "ClusterRole/admin",
        "alice, bob",
        "ops",
        "tools/ci",
    ]
    quota = cells(
        rt("v1", "resourcequotas"),
        obj(
            "q",
            status={
                "hard": {"requests.cpu": "2", "pods": "10", "limits.memory": "4Gi"},
                "used": {"requests.cpu": "500m", "limits.memory": "1Gi"},
            },
        ),
    )
    assert (quota["Request"], quota["Limit"]) == (
        "pods: 0/10, requests.cpu: 500m/2",
        "limits.memory: 1Gi/4Gi",
    )
    assert (
        cells(rt("coordination.k8s.io/v1", "leases"), obj("l", spec={"holderIdentity": "node-1"}))["Holder"]
        == "node-1"
    )
    cr = cells(
        rt("apps/v1", "controllerrevisions"),
        obj(
            "agent-7f",
            revision=3,
            metadata={
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "controller": True}
                ]
            },
        ),
    )
    assert (cr["Controller"], cr["Revision"]) == ("daemonset.apps/agent", 3)


def test_hpa_targets() -> None:
    v2 = rt("autoscaling/v2", "horizontalpodautoscalers")
    assert [c[0] for c in columns(v2)] == [
        "Name",
        "Reference",
        "Targets",
        "MinPods",
        "MaxPods",
        "Replicas",
        "Age",
    ]
    hpa = obj(
        "web",
        spec={
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
                },
                {
                    "type": "Resource",
                    "resource": {
                        "name": "memory",
                        "target": {"type": "AverageValue", "averageValue": "500Mi"},
                    },
                },
                {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"averageValue": "10"}}},
            ],
        },
        status={
            "currentReplicas": 3,
            "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 42}}}
            ],
        },
    )
    row = cells(v2, hpa)
    assert [row[k] for k in ("Reference", "Targets", "MinPods", "MaxPods", "Replicas")] == [
        "Deployment/web",
        "cpu: 42%/80%, memory: <unknown>/500Mi + 1 more...",
        "2",
        10,
        3,
    ]
    assert cells(v2, obj("none", spec={"maxReplicas": 3}))["Targets"] == "<none>"
    assert cells(v2, obj("none", spec={"maxReplicas": 3}))["MinPods"] == "<unset>"
    v1 = rt("autoscaling/v1", "horizontalpodautoscalers")
    old = obj(
        "old",
        spec={
            "scaleTargetRef": {"kind": "Deployment", "name": "api"},
            "maxReplicas": 4,
            "targetCPUUtilizationPercentage": 70,
        },
        status={"currentCPUUtilizationPercentage": 12},
    )
    assert cells(v1, old)["Targets"] == "cpu: 12%/70%"


@pytest.mark.parametrize(
    ("gv", "plural"),
    [
        ("rbac.authorization.k8s.io/v1", "roles"),
        ("rbac.authorization.k8s.io/v1", "clusterroles"),
        ("apiextensions.k8s.io/v1", "customresourcedefinitions"),
        ("v1", "limitranges"),
    ],
)
def test_kinds_without_printer_get_created_at(gv: str, plural: str) -> None:
    resource = rt(gv, plural)
    doc = render(resource, obj("thing", created="2024-04-30T08:15:00Z"))
    assert [(c["name"], c["type"], c["format"]) for c in doc["columnDefinitions"]] == [
        ("Name", "string", "name"),
        ("Created At", "date", ""),
    ]
    assert doc["rows"][0]["cells"] == ["thing", "2024-04-30T08:15:00Z"]
    assert render(resource, {"metadata": {"name": "z"}})["rows"][0]["cells"] == ["z", "0001-01-01T00:00:00Z"]


# -- custom resources --------------------------------------------------------------------------------

CRD_COLUMNS = [
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas", "description": "Wanted copies."},
    {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio", "priority": 1},
    {"name": "Enabled", "type": "boolean", "jsonPath": ".spec.enabled"},
    {"name": "First-Port", "type": "integer", "jsonPath": ".spec.ports[0].port"},
    {"name": "Last-Port", "type": "integer", "jsonPath": ".spec.ports[-1].port"},
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "App", "type": "string", "jsonPath": ".metadata.labels['app.kubernetes.io/name']"},
    {"name": "Tags", "type": "string", "jsonPath": ".spec.tags"},
    {"name": "Size", "type": "string", "jsonPath": ".spec.size"},
    {"name": "Missing", "type": "string", "jsonPath": ".status.nothing.here"},
    {"name": "Broken", "type": "string", "jsonPath": ".spec..deep"},
    {"name": "Started", "type": "date", "jsonPath": ".status.startedAt", "format": "date-time"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
]

WIDGET = obj(
    "w1",
    metadata={"labels": {"app.kubernetes.io/name": "shop"}},
    spec={
        "replicas": 3,
        "ratio": 0.5,
        "enabled": True,
        "ports": [{"port": 80}, {"port": 443}],
        "tags": ["a", "b"],
        "size": 12,
    },
    status={
        "phase": "Running",
        "startedAt": ago(hours=2, minutes=5),
        "conditions": [{"type": "Synced", "status": "True"}, {"type": "Ready", "status": "False"}],
    },
)


def test_crd_printer_columns() -> None:
    doc = render(WIDGETS, WIDGET, crd_columns=CRD_COLUMNS)
    defs = doc["columnDefinitions"]
    assert defs[0] == tables.NAME
    assert [(c["name"], c["type"], c["priority"]) for c in defs[1:4]] == [
        ("Phase", "string", 0),
        ("Replicas", "integer", 0),
        ("Ratio", "number", 1),
    ]
    assert defs[1]["description"] == "Custom resource definition column (in JSONPath format): .status.phase"
    assert defs[2]["description"] == "Wanted copies."
    assert defs[13]["format"] == "date-time"
    row = dict(zip([c["name"] for c in defs], doc["rows"][0]["cells"], strict=True))
    assert row == {
        "Name": "w1",
        "Phase": "Running",
        "Replicas": 3,
        "Ratio": 0.5,
        "Enabled": True,
        "First-Port": 80,
        "Last-Port": 443,
        "Ready": "False",
        "App": "shop",
        "Tags": "[a b]",
        "Size": "12",
        "Missing": None,
        "Broken": None,
        "Started": "125m",
        "Age": "5m",
    }


@pytest.mark.parametrize(
    ("column", "value", "cell"),
    [
        ({"type": "integer"}, "7", None),
        ({"type": "integer"}, 7.9, 7),
        ({"type": "integer"}, True, None),
        ({"type": "number"}, 3, 3),
        ({"type": "boolean"}, "true", None),
        ({"type": "string"}, {"b": 1, "a": "x"}, "map[a:x b:1]"),
        ({"type": "string"}, False, "false"),
        ({"type": "string"}, 2.0, "2"),
        ({"type": "date"}, "not a date", "<invalid>"),
        ({"type": "date"}, 12, None),
        ({"type": "date"}, "2024-05-01T11:59:00Z", "60s"),
        ({"type": "weird"}, "x", None),
        ({"type": "string"}, None, None),
    ],
)
def test_crd_cell_types(column: dict, value: object, cell: object) -> None:
    col = {"name": "C", "jsonPath": "{.spec.v}", **column}
    assert cells(WIDGETS, obj("w", spec={"v": value}), crd_columns=[col])["C"] == cell


def test_crd_without_printer_columns_shows_age() -> None:
    for crd_columns in (None, []):
        doc = render(WIDGETS, WIDGET, crd_columns=crd_columns)
        assert [(c["name"], c["type"]) for c in doc["columnDefinitions"]] == [
            ("Name", "string"),
            ("Age", "date"),
        ]
        assert doc["rows"][0]["cells"] == ["w1", "5m"]


def test_include_object_for_custom_resources() -> None:
    full = render(WIDGETS, WIDGET, include_object="Object")["rows"][0]["object"]
    assert (full["kind"], full["apiVersion"], full["spec"]["size"]) == ("Widget", "example.com/v1", 12)


# -- robustness --------------------------------------------------------------------------------------

GARBAGE: list[dict] = [
    {},
    {"metadata": None, "spec": None, "status": None},
    {"metadata": "x", "spec": [], "status": 3},
    {
        "metadata": {"name": 5, "creationTimestamp": 7, "labels": [], "deletionTimestamp": "x"},
        "spec": {
            "containers": "x",
            "replicas": "three",
            "ports": [None, 1, {"port": "80", "nodePort": "x"}],
            "selector": "app=web",
            "template": {"spec": {"containers": [None, {"name": 1}]}},
            "rules": [None, "x"],
            "metrics": [{"type": 3}, None],
            "completions": "x",
            "initContainers": {},
        },
        "status": {
            "conditions": [None, {"type": "Ready"}],
            "containerStatuses": [{"state": "x"}, None, 5],
            "initContainerStatuses": [{"state": {"terminated": None, "waiting": "x"}}],
            "addresses": "x",
            "loadBalancer": {"ingress": [None, {"ip": 4}]},
            "podIPs": "x",
            "startTime": "x",
            "currentMetrics": "x",
        },
        "subsets": [None, {"addresses": [None], "ports": [None]}],
        "involvedObject": "x",
        "series": "x",
        "data": ["x"],
        "secrets": {},
        "subjects": [None],
        "roleRef": None,
    },
]


@pytest.mark.parametrize("resource", [*BUILTIN, WIDGETS], ids=lambda r: f"{r.group_version}/{r.plural}")
def test_every_type_survives_garbage(resource: ResourceType) -> None:
    for include in ("None", "Object", "Metadata"):
        doc = render(resource, *GARBAGE, include_object=include)
        assert len(doc["rows"]) == len(GARBAGE)
    cols = render(resource)["columnDefinitions"]
    assert all(set(c) == {"name", "type", "format", "description", "priority"} for c in cols)
    names = [c for c in cols if c["format"] == "name"]
    if resource.plural == "events":
        assert names == [cols[-1]] and names[0]["priority"] == 1  # as kube-apiserver prints events
    else:
        assert cols[0]["name"] == "Name" and cols[0]["format"] == "name" and names == [cols[0]]


def test_crd_columns_with_garbage_definitions() -> None:
    bad = [
        None,
        {"name": "NoPath", "type": "string"},
        {"name": 3, "type": None, "jsonPath": "[[[["},
        {"name": "Star", "type": "string", "jsonPath": ".spec.ports[*].port"},
        {"name": "Filter", "type": "string", "jsonPath": ".spec.ports[?(@.port!=80)].port"},
    ]
    row = cells(WIDGETS, WIDGET, crd_columns=bad)
    assert (row["NoPath"], row[""], row["Star"], row["Filter"]) == (None, None, "80", "443")
