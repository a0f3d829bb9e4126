"""Server-side defaulting, generation bumps, resource quantities and machine types of the sandbox."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from providers.sandbox import defaults, errors, machines
from providers.sandbox.resources import BUILTIN_REGISTRY, ResourceType
from providers.sandbox.state import StateDB
from providers.sandbox.store import ClusterStore


def _rt(api_version: str, kind: str) -> ResourceType:
    rt = BUILTIN_REGISTRY.by_kind(api_version, kind)
    assert rt is not None
    return rt


POD = _rt("v1", "Pod")
SVC = _rt("v1", "Service")
DEPLOY = _rt("apps/v1", "Deployment")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ClusterStore]:
    db = StateDB(tmp_path / "state.db")
    s = ClusterStore("test", db, clock=lambda: 1_750_000_000.0)
    yield s
    db.close()


def service(name: str, **spec) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"ports": [{"port": 80}], **spec},
    }


def add_service(store: ClusterStore, name: str, **spec) -> dict:
    return store.create(SVC, defaults.apply_defaults(SVC, service(name, **spec), store=store))


# -- quantities ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100m", Decimal("0.1")),
        ("0.5", Decimal("0.5")),
        ("2", Decimal(2)),
        (".5", Decimal("0.5")),
        ("1.", Decimal(1)),
        ("+1", Decimal(1)),
        ("-1", Decimal(-1)),
        ("128Mi", Decimal(128 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("1e3", Decimal(1000)),
        ("1E3", Decimal(1000)),
        ("1e-3", Decimal("0.001")),
        ("500M", Decimal(500 * 10**6)),
        ("1k", Decimal(1000)),
        ("1Ki", Decimal(1024)),
        ("1E", Decimal(10**18)),
        ("1Ei", Decimal(2**60)),
        ("250u", Decimal("0.00025")),
        ("3n", Decimal("3e-9")),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("0", Decimal(0)),
        (2, Decimal(2)),
        (0.25, Decimal("0.25")),
    ],
)
def test_parse_quantity(text: str | int | float, value: Decimal) -> None:
    assert machines.parse_quantity(text) == value


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        " 1",
        "1 ",
        "1 Mi",
        "abc",
        "Mi",
        "1Kb",
        "1K",
        "1mi",
        "1.2.3",
        "--1",
        "+-1",
        "1e",
        "1e+",
        "1ee3",
        "0x10",
        ".",
        "1_000",
        "\u0661",
        "1i",
        "1e999",
        "nan",
        "inf",
        "1" * 65,
        "1Gi ",
        "1/2",
        "1,5",
        "\x00",
        True,
        None,
        [],
        {},
        float("nan"),
        float("inf"),
    ],
)
def test_parse_quantity_rejects_hostile_input(text: object) -> None:
    with pytest.raises(ValueError):
        machines.parse_quantity(text)  # type: ignore[arg-type]


def test_quantity_or_zero_never_raises() -> None:
    assert machines.quantity_or_zero("lots") == 0 and machines.quantity_or_zero(None) == 0
    assert machines.quantity_or_zero("64Mi") == 64 * 2**20


@pytest.mark.parametrize(
    ("cores", "text"),
    [
        (Decimal(2), "2"),
        (Decimal("1.93"), "1930m"),
        (Decimal("0.1"), "100m"),
        (Decimal("0.0001"), "1m"),
        (0, "0"),
    ],
)
def test_format_cpu(cores: Decimal, text: str) -> None:
    assert machines.format_cpu(cores) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (4 * 2**30, "4Gi"),
        (3 * 2**20, "3Mi"),
        (6398771 * 1024, "6398771Ki"),
        (1000, "1000"),
        (0, "0"),
    ],
)
def test_format_memory(size: int, text: str) -> None:
    assert machines.format_memory(size) == text


# -- machines and nodes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("machine", "cpu", "memory_reserved_gib"),
    [
        ("e2-standard-2", "1930m", Decimal("1.8")),  # 25% of 4 + 20% of 4
        ("e2-standard-4", "3920m", Decimal("2.6")),  # + 10% of 8
        ("e2-standard-16", "15890m", Decimal("5.48")),  # + 6% of 48
        ("e2-medium", "1930m", Decimal("1.0")),
        ("sandbox-large", "7910m", Decimal("3.56")),
    ],
)
def test_allocatable_follows_gke_reservations(machine: str, cpu: str, memory_reserved_gib: Decimal) -> None:
    m = machines.MACHINE_TYPES[machine]
    alloc = machines.allocatable(m)
    assert alloc["cpu"] == cpu and alloc["pods"] == "110"
    reserved = m.memory_bytes - machines.parse_quantity(alloc["memory"])
    expected = memory_reserved_gib * 2**30 + 100 * 2**20
    assert abs(reserved - expected) < 1024


def test_every_machine_type_the_brief_names_exists() -> None:
    names = {
        "e2-standard-2",
        "e2-standard-4",
        "e2-standard-8",
        "e2-standard-16",
        "e2-medium",
        "n2-standard-2",
        "n2-standard-4",
        "n2-standard-8",
        "Standard_D2s_v3",
        "Standard_D4s_v3",
        "Standard_D8s_v3",
        "Standard_B2s",
        "sandbox-small",
        "sandbox-large",
    }
    assert names <= set(machines.MACHINE_TYPES)
    assert machines.DEFAULT_MACHINE_TYPE in machines.MACHINE_TYPES
    small = machines.capacity(machines.MACHINE_TYPES["sandbox-small"])
    assert (small["cpu"], small["memory"]) == ("2", "4Gi")


def test_node_object_looks_registered() -> None:
    node = machines.node_object("prod", 3, "Standard_D4s_v3", "v1.31.10", now=1_750_000_000.0)
    m = node["metadata"]
    assert m["name"] == "prod-pool-3"
    assert m["labels"]["kubernetes.io/hostname"] == "prod-pool-3"
    assert m["labels"]["node.kubernetes.io/instance-type"] == "Standard_D4s_v3"
    assert m["labels"]["topology.kubernetes.io/region"] == "eastus"
    assert m["labels"]["kubernetes.io/os"] == "linux" and m["labels"]["kubernetes.io/arch"] == "amd64"
    assert node["spec"]["podCIDR"] == "10.244.3.0/24"
    status = node["status"]
    assert status["capacity"]["cpu"] == "4" and status["allocatable"]["cpu"] == "3920m"
    assert {a["type"]: a["address"] for a in status["addresses"]} == {
        "InternalIP": "10.0.0.5",
        "Hostname": "prod-pool-3",
    }
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["lastTransitionTime"] == "2025-06-15T15:06:40Z"
    info = status["nodeInfo"]
    assert info["kubeletVersion"] == info["kubeProxyVersion"] == "v1.31.10"
    assert info["containerRuntimeVersion"].startswith("containerd://1.7.")
    assert (info["operatingSystem"], info["architecture"]) == ("linux", "amd64")
    not_ready = machines.node_object("prod", 0, "e2-medium", "v1.32.5", ready=False, now=0)
    assert next(c for c in not_ready["status"]["conditions"] if c["type"] == "Ready")["status"] == "False"


def test_pod_cidrs_and_ips_do_not_collide_across_many_nodes() -> None:
    cidrs = [ipaddress.ip_network(machines.pod_cidr(i)) for i in range(600)]
    assert len(set(cidrs)) == 600 and all(c.subnet_of(ipaddress.ip_network("10.244.0.0/14")) for c in cidrs)
    assert len({machines.node_internal_ip(i) for i in range(600)}) == 600


# -- pods and pod templates ---------------------------------------------------------------------------


def test_pod_defaults(store: ClusterStore) -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "nginx",
                    "ports": [{"containerPort": 80}],
                    "readinessProbe": {"httpGet": {"port": 80}},
                }
            ]
        },
    }
    out = defaults.apply_defaults(POD, pod, store=store)
    assert "restartPolicy" not in pod["spec"], "the input is not modified"
    spec = out["spec"]
    assert {
        k: spec[k]
        for k in (
            "restartPolicy",
            "dnsPolicy",
            "schedulerName",
            "terminationGracePeriodSeconds",
            "serviceAccountName",
            "securityContext",
            "enableServiceLinks",
        )
    } == {
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler",
        "terminationGracePeriodSeconds": 30,
        "serviceAccountName": "default",
        "securityContext": {},
        "enableServiceLinks": True,
    }
    c = spec["containers"][0]
    assert (
        c["imagePullPolicy"],
        c["terminationMessagePath"],
        c["terminationMessagePolicy"],
        c["resources"],
    ) == ("Always", "/dev/termination-log", "File", {})
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["readinessProbe"] == {
        "httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }
    assert {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    } in spec["tolerations"]
    assert any(v["name"].startswith("kube-api-access-") for v in spec["volumes"])
    assert c["volumeMounts"][0]["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"
    assert out["status"] == {"phase": "Pending", "qosClass": "BestEffort"}
    again = defaults.apply_defaults(POD, out, store=store)
    assert again["spec"]["tolerations"] == spec["tolerations"] and len(again["spec"]["volumes"]) == 1


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("registry.local:5000/team/app", "Always"),
        ("registry.local:5000/team/app:v2", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
        ("", "Always"),
    ],
)
def test_image_pull_policy(store: ClusterStore, image: str, policy: str) -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": image}]},
    }
    assert (
        defaults.apply_defaults(POD, pod, store=store)["spec"]["containers"][0]["imagePullPolicy"] == policy
    )


@pytest.mark.parametrize(
    ("resources", "qos"),
    [
        ([{}], "BestEffort"),
        ([{"requests": {"cpu": "100m"}}], "Burstable"),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}}], "Guaranteed"),
        (
            [{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1024Mi"}}],
            "Guaranteed",
        ),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}], "Burstable"),
        ([{"limits": {"cpu": "1", "memory": "1Gi"}}, {}], "Burstable"),
        ([{"limits": {"cpu": "1"}}], "Burstable"),
    ],
)
def test_qos_class(store: ClusterStore, resources: list[dict], qos: str) -> None:
    containers = [{"name": f"c{i}", "image": "x", "resources": r} for i, r in enumerate(resources)]
    pod = {"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": containers}}
    out = defaults.apply_defaults(POD, pod, store=store)
    assert out["status"]["qosClass"] == qos
    if "limits" in resources[0] and "requests" not in resources[0]:
        assert out["spec"]["containers"][0]["resources"]["requests"] == resources[0]["limits"]


def test_workload_defaults(store: ClusterStore) -> None:
    template = {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}}
    d = defaults.apply_defaults(
        DEPLOY,
        {"metadata": {"name": "d", "namespace": "default"}, "spec": {"template": template}},
        store=store,
    )["spec"]
    assert (d["replicas"], d["revisionHistoryLimit"], d["progressDeadlineSeconds"]) == (1, 10, 600)
    assert d["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
    }
    assert d["template"]["spec"]["restartPolicy"] == "Always"
    assert d["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    assert "tolerations" not in d["template"]["spec"], "admission-time pod defaults do not touch templates"
    recreate = defaults.apply_defaults(
        DEPLOY,
        {"metadata": {"name": "d"}, "spec": {"strategy": {"type": "Recreate"}, "template": template}},
        store=store,
    )["spec"]
    assert recreate["strategy"] == {"type": "Recreate"}

    sts = defaults.apply_defaults(
        _rt("apps/v1", "StatefulSet"),
        {"metadata": {"name": "s"}, "spec": {"template": template}},
        store=store,
    )["spec"]
    assert sts["podManagementPolicy"] == "OrderedReady"
    assert sts["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    ds = defaults.apply_defaults(
        _rt("apps/v1", "DaemonSet"), {"metadata": {"name": "s"}, "spec": {"template": template}}, store=store
    )["spec"]
    assert ds["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    job = defaults.apply_defaults(
        _rt("batch/v1", "Job"), {"metadata": {"name": "j"}, "spec": {"template": template}}, store=store
    )["spec"]
    assert {
        k: job[k] for k in ("parallelism", "completions", "backoffLimit", "completionMode", "suspend")
    } == {
        "parallelism": 1,
        "completions": 1,
        "backoffLimit": 6,
        "completionMode": "NonIndexed",
        "suspend": False,
    }
    queue = defaults.apply_defaults(
        _rt("batch/v1", "Job"),
        {"metadata": {"name": "j"}, "spec": {"parallelism": 3, "template": template}},
        store=store,
    )["spec"]
    assert "completions" not in queue, "a work queue (parallelism only) has no completion count"


def test_namespace_secret_and_pvc_defaults(store: ClusterStore) -> None:
    ns = defaults.apply_defaults(_rt("v1", "Namespace"), {"metadata": {"name": "shop"}}, store=store)
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "shop"}
    assert ns["spec"] == {"finalizers": ["kubernetes"]} and ns["status"] == {"phase": "Active"}
    secret = defaults.apply_defaults(_rt("v1", "Secret"), {"metadata": {"name": "s"}}, store=store)
    assert secret["type"] == "Opaque"
    store.create(
        _rt("storage.k8s.io/v1", "StorageClass"),
        {
            "metadata": {
                "name": "standard",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "x",
        },
    )
    pvc = defaults.apply_defaults(
        _rt("v1", "PersistentVolumeClaim"), {"metadata": {"name": "c"}, "spec": {}}, store=store
    )
    assert pvc["spec"]["storageClassName"] == "standard" and pvc["status"] == {"phase": "Pending"}


# -- services ---------------------------------------------------------------------------------------------


def test_service_defaults(store: ClusterStore) -> None:
    svc = add_service(store, "web", selector={"app": "web"})
    spec = svc["spec"]
    assert spec["type"] == "ClusterIP" and spec["sessionAffinity"] == "None"
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80}]
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert ipaddress.ip_address(spec["clusterIP"]) in ipaddress.ip_network("10.96.0.0/12")
    assert (spec["ipFamilies"], spec["ipFamilyPolicy"], spec["internalTrafficPolicy"]) == (
        ["IPv4"],
        "SingleStack",
        "Cluster",
    )
    assert "nodePort" not in spec["ports"][0]


def test_cluster_ips_are_unique_and_avoid_the_kubernetes_service(store: ClusterStore) -> None:
    add_service(store, "kubernetes", clusterIP="10.96.0.1")
    ips = [add_service(store, f"s{i}")["spec"]["clusterIP"] for i in range(300)]
    assert len(set(ips)) == 300 and "10.96.0.1" not in ips
    assert all(not ip.startswith("10.96.0.") for ip in ips), "dynamic IPs stay out of the static /24"


def test_allocation_skips_addresses_and_ports_taken_by_others(store: ClusterStore) -> None:
    first = add_service(store, "b", type="NodePort")
    ip, port = first["spec"]["clusterIP"], first["spec"]["ports"][0]["nodePort"]
    store.remove(SVC, "default", "b")
    add_service(store, "squatter", type="NodePort", clusterIP=ip, ports=[{"port": 81, "nodePort": port}])
    again = add_service(store, "b", type="NodePort")
    assert again["spec"]["clusterIP"] != ip and again["spec"]["ports"][0]["nodePort"] != port


def test_requested_cluster_ips_are_checked(store: ClusterStore) -> None:
    first = add_service(store, "a", clusterIP="10.96.0.10")
    assert first["spec"]["clusterIP"] == "10.96.0.10"
    with pytest.raises(errors.Invalid, match="provided IP is already allocated"):
        add_service(store, "b", clusterIP="10.96.0.10")
    with pytest.raises(errors.Invalid, match="not in the valid range"):
        add_service(store, "c", clusterIP="192.168.0.1")
    with pytest.raises(errors.Invalid, match="must be a valid IP address"):
        add_service(store, "d", clusterIP="ten.zero")
    headless = add_service(store, "h", clusterIP="None")
    assert headless["spec"]["clusterIPs"] == ["None"]
    external = add_service(store, "x", type="ExternalName", externalName="example.com")
    assert "clusterIP" not in external["spec"] and "ipFamilies" not in external["spec"]


def test_an_update_without_cluster_ip_keeps_it(store: ClusterStore) -> None:
    svc = add_service(store, "web", type="NodePort")
    body = service("web", type="NodePort", ports=[{"port": 80}])
    again = defaults.apply_defaults(SVC, body, store=store)
    assert again["spec"]["clusterIP"] == svc["spec"]["clusterIP"]
    assert again["spec"]["ports"][0]["nodePort"] == svc["spec"]["ports"][0]["nodePort"]


def test_node_ports_are_unique_and_in_range(store: ClusterStore) -> None:
    ports = []
    for i in range(50):
        svc = add_service(
            store, f"np{i}", type="NodePort", ports=[{"port": 80}, {"port": 443, "name": "tls"}]
        )
        ports += [p["nodePort"] for p in svc["spec"]["ports"]]
    assert len(set(ports)) == 100 and all(30000 <= p <= 32767 for p in ports)
    lb = add_service(store, "lb", type="LoadBalancer")
    assert 30000 <= lb["spec"]["ports"][0]["nodePort"] <= 32767
    assert (
        lb["spec"]["externalTrafficPolicy"] == "Cluster"
        and lb["spec"]["allocateLoadBalancerNodePorts"] is True
    )
    with pytest.raises(errors.Invalid, match="provided port is already allocated"):
        add_service(store, "dup", type="NodePort", ports=[{"port": 80, "nodePort": ports[0]}])
    with pytest.raises(errors.Invalid, match="The range of valid ports is 30000-32767"):
        add_service(store, "low", type="NodePort", ports=[{"port": 80, "nodePort": 8080}])
    with pytest.raises(errors.Invalid, match="already allocated"):
        add_service(
            store,
            "twice",
            type="NodePort",
            ports=[{"port": 80, "nodePort": 31000}, {"port": 81, "nodePort": 31000}],
        )


# -- generation -------------------------------------------------------------------------------------------


def _obj(api_version: str, kind: str, **body) -> dict:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x", "generation": 1}, **body}


@pytest.mark.parametrize(
    ("old", "new", "bumps"),
    [
        (
            _obj("apps/v1", "Deployment", spec={"replicas": 1}),
            _obj("apps/v1", "Deployment", spec={"replicas": 2}),
            True,
        ),
        (
            _obj("apps/v1", "Deployment", spec={}),
            {**_obj("apps/v1", "Deployment", spec={}), "metadata": {"name": "x", "annotations": {"a": "b"}}},
            True,
        ),
        (
            _obj("apps/v1", "Deployment", spec={}),
            _obj("apps/v1", "Deployment", spec={}, status={"replicas": 3}),
            False,
        ),
        (
            _obj("apps/v1", "ReplicaSet", spec={}),
            {**_obj("apps/v1", "ReplicaSet", spec={}), "metadata": {"name": "x", "labels": {"a": "b"}}},
            False,
        ),
        (
            _obj("apps/v1", "StatefulSet", spec={"replicas": 1}),
            _obj("apps/v1", "StatefulSet", spec={"replicas": 3}),
            True,
        ),
        (
            _obj("batch/v1", "Job", spec={"suspend": False}),
            _obj("batch/v1", "Job", spec={"suspend": True}),
            True,
        ),
        (_obj("v1", "ConfigMap", data={"a": "1"}), _obj("v1", "ConfigMap", data={"a": "2"}), False),
        (_obj("v1", "Secret", data={"a": "MQ=="}), _obj("v1", "Secret", data={"a": "Mg=="}), False),
        (
            _obj("v1", "Service", spec={"type": "ClusterIP"}),
            _obj("v1", "Service", spec={"type": "NodePort"}),
            False,
        ),
        (
            _obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", spec={"a": 1}),
            _obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", spec={"a": 2}),
            True,
        ),
        (
            _obj("example.com/v1", "Widget", spec={"size": 1}),
            _obj("example.com/v1", "Widget", spec={"size": 2}),
            True,
        ),
        (_obj("example.com/v1", "Widget", data=1), _obj("example.com/v1", "Widget", data=2), True),
        (
            _obj("example.com/v1", "Widget", spec={}),
            _obj("example.com/v1", "Widget", spec={}, status={"ok": True}),
            False,
        ),
    ],
)
def test_generation_changed(old: dict, new: dict, bumps: bool) -> None:
    assert defaults.generation_changed(old, new) is bumps
