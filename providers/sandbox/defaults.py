"""Server-side defaulting: what the API server fills in before it stores an object.

`apply_defaults` is called for creates and updates alike, so every step only fills what is missing and keeps
what the stored object already had (a Service keeps its clusterIP and nodePorts across a PUT that omits them).
Allocation conflicts (a clusterIP or nodePort already taken) are answered with the API server's 422 messages.
"""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import secrets

from providers.sandbox import errors
from providers.sandbox.machines import quantity_or_zero
from providers.sandbox.resources import ResourceType
from providers.sandbox.store import ClusterStore, meta

SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
KUBERNETES_SERVICE_IP = "10.96.0.1"
NODE_PORT_RANGE = (30000, 32767)
_DYNAMIC_SERVICE_IPS = (int(SERVICE_CIDR.network_address) + 256, int(SERVICE_CIDR.broadcast_address) - 1)
"""Dynamic allocation stays out of the lowest /24, which clusters keep for well-known addresses (kube-dns)."""

DEFAULT_TOLERATION_SECONDS = 300
_POD_TEMPLATE_KINDS = {
    ("apps/v1", "Deployment"),
    ("apps/v1", "ReplicaSet"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("batch/v1", "Job"),
}
_SPEC_GENERATION_KINDS = {
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "CustomResourceDefinition",
    "PodDisruptionBudget",
    "Ingress",
    "IngressClass",
    "NetworkPolicy",
}
"""Built-in kinds whose registry strategy bumps metadata.generation when the spec changes."""
_BUILTIN_GROUPS = {
    "v1",
    "apps/v1",
    "batch/v1",
    "networking.k8s.io/v1",
    "rbac.authorization.k8s.io/v1",
    "policy/v1",
    "storage.k8s.io/v1",
    "autoscaling/v1",
    "autoscaling/v2",
    "apiextensions.k8s.io/v1",
    "coordination.k8s.io/v1",
}


def apply_defaults(rt: ResourceType, obj: dict, *, store: ClusterStore) -> dict:
    """A copy of `obj` with the API server's defaults for its kind filled in."""
    out = copy.deepcopy(obj)
    if not isinstance(out.get("metadata"), dict):
        out["metadata"] = {}
    key = (rt.group_version, rt.kind)
    existing = _existing(rt, out, store)
    if key in _POD_TEMPLATE_KINDS:
        spec = _dict(out, "spec")
        template = spec.get("template")
        if isinstance(template, dict) and isinstance(template.get("spec"), dict):
            default_pod_spec(template["spec"])
    handler = _HANDLERS.get(key)
    if handler is not None:
        handler(out, store=store, existing=existing)
    return out


def _existing(rt: ResourceType, obj: dict, store: ClusterStore) -> dict | None:
    m = obj["metadata"]
    name = m.get("name")
    if not isinstance(name, str):
        return None
    return store.get(rt.key, (m.get("namespace") or "") if rt.namespaced else "", name)


def _dict(parent: dict, key: str) -> dict:
    value = parent.get(key)
    if not isinstance(value, dict):
        value = {}
        parent[key] = value
    return value


def _list_of_dicts(value: object) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# -- pods ------------------------------------------------------------------------------------------


def _image_pull_policy(image: object) -> str:
    if not isinstance(image, str):
        return "IfNotPresent"
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if "@" in image:
        return "IfNotPresent"
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _default_probe(probe: object) -> None:
    if not isinstance(probe, dict):
        return
    for field, value in (
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ):
        probe.setdefault(field, value)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def default_container(c: dict) -> None:
    c.setdefault("imagePullPolicy", _image_pull_policy(c.get("image")))
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    resources = c.get("resources")
    if not isinstance(resources, dict):
        resources = c["resources"] = {}
    limits = resources.get("limits")
    if isinstance(limits, dict) and limits:
        requests = resources.get("requests")
        if not isinstance(requests, dict):
            requests = resources["requests"] = {}
        for name, value in limits.items():
            requests.setdefault(name, value)
    for port in _list_of_dicts(c.get("ports")):
        port.setdefault("protocol", "TCP")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(c.get(probe))


def default_pod_spec(spec: dict) -> None:
    """Defaults of a PodSpec, shared by pods and the pod templates of workloads."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for c in _list_of_dicts(spec.get(key)):
            default_container(c)
    for volume in _list_of_dicts(spec.get("volumes")):
        for source in ("configMap", "secret", "downwardAPI", "projected"):
            if isinstance(volume.get(source), dict):
                volume[source].setdefault("defaultMode", 420)
        if isinstance(volume.get("hostPath"), dict):
            volume["hostPath"].setdefault("type", "")


def _all_containers(spec: dict) -> list[dict]:
    return _list_of_dicts(spec.get("initContainers")) + _list_of_dicts(spec.get("containers"))


def qos_class(spec: dict) -> str:
    """Guaranteed, Burstable or BestEffort, from the containers' cpu/memory requests and limits."""
    containers = _all_containers(spec)
    any_set = False
    guaranteed = bool(containers)
    for c in containers:
        resources = c.get("resources") if isinstance(c.get("resources"), dict) else {}
        requests = resources.get("requests") if isinstance(resources.get("requests"), dict) else {}
        limits = resources.get("limits") if isinstance(resources.get("limits"), dict) else {}
        for name in ("cpu", "memory"):
            req = quantity_or_zero(requests.get(name)) if name in requests else None
            lim = quantity_or_zero(limits.get(name)) if name in limits else None
            if (req is not None and req != 0) or (lim is not None and lim != 0):
                any_set = True
            if lim is None or lim == 0 or (req is not None and req != lim):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _default_tolerations(spec: dict) -> None:
    tolerations = spec.get("tolerations")
    if not isinstance(tolerations, list):
        tolerations = []
    present = {(t.get("key"), t.get("effect")) for t in _list_of_dicts(tolerations)}
    blanket = any(
        not t.get("key") and t.get("operator") == "Exists" and t.get("effect") in (None, "", "NoExecute")
        for t in _list_of_dicts(tolerations)
    )
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"):
        if blanket or (key, "NoExecute") in present:
            continue
        tolerations.append(
            {
                "key": key,
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
            }
        )
    spec["tolerations"] = tolerations


def _service_account_volume(spec: dict) -> None:
    if spec.get("automountServiceAccountToken") is False:
        return
    volumes = spec.get("volumes") if isinstance(spec.get("volumes"), list) else []
    if any(isinstance(v, dict) and str(v.get("name", "")).startswith("kube-api-access-") for v in volumes):
        return
    name = f"kube-api-access-{secrets.token_hex(3)[:5]}"
    volumes.append(
        {
            "name": name,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {
                        "configMap": {
                            "name": "kube-root-ca.crt",
                            "items": [{"key": "ca.crt", "path": "ca.crt"}],
                        }
                    },
                    {
                        "downwardAPI": {
                            "items": [
                                {
                                    "path": "namespace",
                                    "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                                }
                            ]
                        }
                    },
                ],
            },
        }
    )
    spec["volumes"] = volumes
    for c in _all_containers(spec):
        mounts = c.get("volumeMounts") if isinstance(c.get("volumeMounts"), list) else []
        if not any(
            isinstance(m, dict) and m.get("mountPath") == "/var/run/secrets/kubernetes.io/serviceaccount"
            for m in mounts
        ):
            mounts.append(
                {"name": name, "readOnly": True, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
            )
        c["volumeMounts"] = mounts


def _pod(obj: dict, *, store: ClusterStore, existing: dict | None) -> None:
    spec = _dict(obj, "spec")
    default_pod_spec(spec)
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("priority", 0)
    account = spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"
    spec["serviceAccountName"] = account
    spec["serviceAccount"] = account
    _default_tolerations(spec)
    if existing is None:
        _service_account_volume(spec)
    status = _dict(obj, "status")
    status.setdefault("phase", "Pending")
    status["qosClass"] = qos_class(spec)


# -- workloads -------------------------------------------------------------------------------------


def _deployment(obj: dict, *, store: ClusterStore, existing: dict | None) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("replicas", 1)
    strategy = _dict(spec, "strategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _dict(strategy, "rollingUpdate")
        rolling.setdefault("maxSurge", "25%")
        rolling.setdefault("maxUnavailable", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)


def _replica_set(obj: dict, *, store: ClusterStore, existing: dict | None) -> None:
    _dict(obj, "spec").setdefault("replicas", 1)


def _stateful_set(obj: dict, *, store: ClusterStore, existing: dict | None) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = _dict(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        _dict(strategy, "rollingUpdate").setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    policy = _dict(spec, "persistentVolumeClaimRetentionPolicy")
    policy.setdefault("whenDeleted", "Retain")
    policy.setdefault("whenScaled", "Retain")
    for claim in _list_of_dicts(spec.get("volumeClaimTemplates")):
        claim.setdefault("apiVersion", "v1")
        claim.setdefault("kind", "PersistentVolumeClaim")
        claim_spec = _dict(claim, "spec")
        claim_spec.setdefault("volumeMode", "Filesystem")
        claim.setdefault("status", {"phase": "Pending"})


def _daemon_set(obj: dict, *, store: ClusterStore, existing: dict | None) -> None:
    spec = _dict(obj, "spec")
    strategy = _dict(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _dict(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)


def _job(obj: dict, *, store: ClusterStore, existing: dict | None) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("completionMode", "NonIndexed")
    if "completions" not in spec and "parallelism" not in spec:
        # Neither set: one pod that must succeed once. Parallelism alone means a work queue (no completions).
        spec["completions"] = 1
    spec.setdefault("parallelism", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    if existing is not None:
        # The selector and its labels are generated from the uid once (by the job controller); keep them.
        old_spec = existing.get("spec") or {}
        if "selector" not in spec and "selector" in old_spec:
            spec["selector"] = copy.deepcopy(old_spec["selector"])
        old_labels = ((old_spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        template_meta = _dict(_dict(spec, "template"), "metadata")
        labels = template_meta.get("labels") if isinstance(template_meta.get("labels"), dict) else {}
        for key in (
            "batch.kubernetes.io/controller-uid",
            "batch.kubernetes.io/job-name",
            "controller-uid",
            "job-name",
        ):
            if key in old_labels:
                labels.setdefault(key, old_labels[key])
        template_meta["labels"] = labels


def _cron_job(obj: dict, *, store: ClusterStore, existing: dict | None) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_spec = _dict(_dict(spec, "jobTemplate"), "spec")
    job_spec.setdefault("completionMode", "NonIndexed")
    job_spec.setdefault("backoffLimit", 6)
    job_spec.setdefault("suspend", False)
    job_spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    template = job_spec.get("template")
    if isinstance(template, dict) and isinstance(template.get("spec"), dict):
        default_pod_spec(template["spec"])


# -- services --------------------------------------------------------------------------------------


def _used_service_ips(store: ClusterStore, skip: tuple[str, str]) -> set[str]:
    used = set() if skip == ("default", "kubernetes") else {KUBERNETES_SERVICE_IP}
    for svc in store.list("services"):
        m = meta(svc)
        if (m.get("namespace", ""), m.get("name")) == skip:
            continue
        spec = svc.get("spec") or {}
        used.update(ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if isinstance(ip, str))
    return used


def _used_node_ports(store: ClusterStore, skip: tuple[str, str]) -> set[int]:
    used: set[int] = set()
    for svc in store.list("services"):
        m = meta(svc)
        if (m.get("namespace", ""), m.get("name")) == skip:
            continue
        for port in _list_of_dicts((svc.get("spec") or {}).get("ports")):
            if isinstance(port.get("nodePort"), int):
                used.add(port["nodePort"])
    return used


def _allocate_ip(namespace: str, name: str, used: set[str]) -> str:
    low, high = _DYNAMIC_SERVICE_IPS
    size = high - low + 1
    start = int(hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest(), 16) % size
    for step in range(size):
        candidate = str(ipaddress.ip_address(low + (start + step) % size))
        if candidate not in used:
            return candidate
    raise errors.Invalid("Internal error occurred: failed to allocate a serviceIP: range is full")


def _service(obj: dict, *, store: ClusterStore, existing: dict | None) -> None:
    m = obj["metadata"]
    namespace, name = m.get("namespace", "") or "", str(m.get("name", ""))
    spec = _dict(obj, "spec")
    old_spec = (existing or {}).get("spec") or {}
    kind = spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["sessionAffinity"] == "ClientIP":
        config = _dict(_dict(spec, "sessionAffinityConfig"), "clientIP")
        config.setdefault("timeoutSeconds", 10800)
    ports = _list_of_dicts(spec.get("ports"))
    for port in ports:
        port.setdefault("protocol", "TCP")
        if "targetPort" not in port and "port" in port:
            port["targetPort"] = port["port"]
    if kind == "ExternalName":
        return
    if existing is not None:
        for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if key not in spec and key in old_spec:
                spec[key] = copy.deepcopy(old_spec[key])
    ip = spec.get("clusterIP") or (spec.get("clusterIPs") or [None])[0]
    if ip in (None, ""):
        ip = _allocate_ip(namespace, name, _used_service_ips(store, (namespace, name)))
    elif ip != "None":
        try:
            parsed = ipaddress.ip_address(ip)
        except ValueError as e:
            raise errors.invalid(
                "Service",
                name,
                [
                    (
                        "spec.clusterIPs[0]",
                        f'Invalid value: "{ip}": must be a valid IP address, '
                        "(e.g. 10.9.8.7 or 2001:db8::ffff)",
                    )
                ],
            ) from e
        if parsed not in SERVICE_CIDR:
            raise errors.invalid(
                "Service",
                name,
                [
                    (
                        "spec.clusterIPs",
                        f'Invalid value: []string{{"{ip}"}}: failed to allocate IP {ip}: the provided IP '
                        f"({ip}) is not in the valid range. The range of valid IPs is {SERVICE_CIDR}",
                    )
                ],
            )
        if ip != old_spec.get("clusterIP") and ip in _used_service_ips(store, (namespace, name)):
            raise errors.invalid(
                "Service",
                name,
                [
                    (
                        "spec.clusterIPs",
                        f'Invalid value: []string{{"{ip}"}}: failed to allocate IP {ip}: provided IP is '
                        "already allocated",
                    )
                ],
            )
    spec["clusterIP"] = ip
    spec["clusterIPs"] = [ip]
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
        if kind == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
        if kind == "NodePort" or spec.get("allocateLoadBalancerNodePorts", True):
            _node_ports(spec, ports, old_spec, store, namespace, name)


def _node_ports(
    spec: dict, ports: list[dict], old_spec: dict, store: ClusterStore, namespace: str, name: str
) -> None:
    used = _used_node_ports(store, (namespace, name))
    old_by_key = {
        (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
        for p in _list_of_dicts(old_spec.get("ports"))
    }
    mine: set[int] = set()
    for i, port in enumerate(ports):
        wanted = port.get("nodePort")
        if wanted in (None, 0):
            wanted = old_by_key.get((port.get("port"), port.get("protocol", "TCP")))
        if isinstance(wanted, int) and not isinstance(wanted, bool) and wanted:
            low, high = NODE_PORT_RANGE
            if not low <= wanted <= high:
                raise errors.invalid(
                    "Service",
                    name,
                    [
                        (
                            f"spec.ports[{i}].nodePort",
                            f"Invalid value: {wanted}: provided port is not in the valid "
                            f"range. The range of valid ports is {low}-{high}",
                        )
                    ],
                )
            if wanted in used or wanted in mine:
                raise errors.invalid(
                    "Service",
                    name,
                    [
                        (
                            f"spec.ports[{i}].nodePort",
                            f"Invalid value: {wanted}: provided port is already allocated",
                        )
                    ],
                )
            port["nodePort"] = wanted
            mine.add(wanted)
    for port in ports:
        if port.get("nodePort") in (None, 0):
            port["nodePort"] = _allocate_port(namespace, name, port, used | mine)
            mine.add(port["nodePort"])


def _allocate_port(namespace: str, name: str, port: dict, used: set[int]) -> int:
    low, high = NODE_PORT_RANGE
    size = high - low + 1
    start = int(hashlib.sha256(f"{namespace}/{name}/{port.get('port')}".encode()).hexdigest(), 16) % size
    for step in range(size):
        candidate = low + (start + step) % size
        if candidate not in used:
            return candidate
    raise errors.Invalid("Internal error occurred: failed to allocate a nodePort: range is full")


# -- other kinds -----------------------------------------------------------------------------------


def _namespace(obj: dict, *, store: ClusterStore, existing: dict | None) -> None:
    m = obj["metadata"]
    labels = m.get("labels") if isinstance(m.get("labels"), dict) else {}
    if isinstance(m.get("name"), str):
        labels["kubernetes.io/metadata.name"] = m["name"]
    m["labels"] = labels
    spec = _dict(obj, "spec")
    spec.setdefault("finalizers", ["kubernetes"])
    _dict(obj, "status").setdefault("phase", "Active")


def _secret(obj: dict, *, store: ClusterStore, existing: dict | None) -> None:
    obj.setdefault("type", "Opaque")


def _pvc(obj: dict, *, store: ClusterStore, existing: dict | None) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("volumeMode", "Filesystem")
    if "storageClassName" not in spec:
        for sc in store.list("storageclasses.storage.k8s.io"):
            annotations = meta(sc).get("annotations") or {}
            if annotations.get("storageclass.kubernetes.io/is-default-class") == "true":
                spec["storageClassName"] = meta(sc)["name"]
                break
    _dict(obj, "status").setdefault("phase", "Pending")


def _pv(obj: dict, *, store: ClusterStore, existing: dict | None) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    _dict(obj, "status").setdefault("phase", "Available")


def _crd(obj: dict, *, store: ClusterStore, existing: dict | None) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("scope", "Namespaced")
    names = _dict(spec, "names")
    if isinstance(names.get("kind"), str):
        names.setdefault("singular", names["kind"].lower())
        names.setdefault("listKind", f"{names['kind']}List")
    conversion = _dict(spec, "conversion")
    conversion.setdefault("strategy", "None")


_HANDLERS = {
    ("v1", "Pod"): _pod,
    ("v1", "Service"): _service,
    ("v1", "Namespace"): _namespace,
    ("v1", "Secret"): _secret,
    ("v1", "PersistentVolumeClaim"): _pvc,
    ("v1", "PersistentVolume"): _pv,
    ("apps/v1", "Deployment"): _deployment,
    ("apps/v1", "ReplicaSet"): _replica_set,
    ("apps/v1", "StatefulSet"): _stateful_set,
    ("apps/v1", "DaemonSet"): _daemon_set,
    ("batch/v1", "Job"): _job,
    ("batch/v1", "CronJob"): _cron_job,
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): _crd,
}


# -- generation ------------------------------------------------------------------------------------


def generation_changed(old: dict, new: dict) -> bool:
    """Whether an update from `old` to `new` increments metadata.generation, as the kind's registry does.

    Workloads, CRDs and the like bump on any spec change (Deployments also on annotation changes, which they
    copy to their ReplicaSets); custom resources on any change outside metadata and status; kinds without a
    spec (ConfigMap, Secret, …) and the core kinds whose strategies do not track generation never do.
    """
    kind = new.get("kind") or old.get("kind")
    api_version = new.get("apiVersion") or old.get("apiVersion") or ""
    if kind in _SPEC_GENERATION_KINDS and api_version in _BUILTIN_GROUPS:
        if old.get("spec") != new.get("spec"):
            return True
        return kind == "Deployment" and (meta(old).get("annotations") or {}) != (
            meta(new).get("annotations") or {}
        )
    if api_version in _BUILTIN_GROUPS or api_version == "metrics.k8s.io/v1beta1":
        return False
    strip = {"metadata", "status", "apiVersion", "kind"}
    return {k: v for k, v in old.items() if k not in strip} != {
        k: v for k, v in new.items() if k not in strip
    }
