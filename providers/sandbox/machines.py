"""Machine types a sandbox node can be, Kubernetes resource quantities, and the Node objects themselves.

Allocatable resources follow GKE's kube-reserved formula, so a pod that fits (or does not fit) an
`e2-standard-2` node in the sandbox behaves the same on a real GKE node of that type.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# -- quantities -------------------------------------------------------------------------------------

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
}
_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(.*)$")
_EXPONENT = re.compile(r"^[eE]([+-]?[0-9]+)$")
_MAX_TEXT = 64
_MAX_EXPONENT = 60


def parse_quantity(value: str | int | float) -> Decimal:
    """A Kubernetes resource quantity (`"100m"`, `"1.5"`, `"128Mi"`, `"1e3"`, `"500M"`) as an exact Decimal.

    JSON numbers are accepted as the API server does. Raises ValueError for anything else, naming the input.
    """
    if isinstance(value, bool):
        raise ValueError(f"quantities must be strings or numbers, not {value!r}")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"quantity {value!r} is not a finite number")
        return Decimal(repr(value))
    if not isinstance(value, str):
        raise ValueError(f"quantities must be strings or numbers, not {type(value).__name__}")
    if not value or len(value) > _MAX_TEXT:
        raise ValueError(f"quantity {value[:_MAX_TEXT]!r} must be 1-{_MAX_TEXT} characters")
    match = _QUANTITY.match(value)
    if match is None:
        raise ValueError(
            f"quantity {value!r} must match the regular expression "
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        )
    number_text, suffix = match.groups()
    try:
        number = Decimal(number_text if not number_text.endswith(".") else number_text + "0")
    except InvalidOperation as e:  # pragma: no cover - the regex admits only valid numbers
        raise ValueError(f"quantity {value!r} has an invalid number") from e
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    exp = _EXPONENT.match(suffix)
    if exp is not None:
        exponent = int(exp.group(1))
        if abs(exponent) > _MAX_EXPONENT:
            raise ValueError(f"quantity {value!r} has an out-of-range exponent")
        return number.scaleb(exponent)
    raise ValueError(f"quantity {value!r} has an unknown suffix {suffix!r}")


def quantity_or_zero(value: object) -> Decimal:
    """`parse_quantity`, but 0 for a missing or malformed value (controllers never fail on bad input)."""
    if value is None:
        return Decimal(0)
    try:
        return parse_quantity(value)  # type: ignore[arg-type]
    except ValueError:
        return Decimal(0)


def format_cpu(cores: Decimal | float | int) -> str:
    """CPU in the API's canonical form: whole cores as `"2"`, otherwise millicores `"1930m"`."""
    value = Decimal(str(cores)) if isinstance(cores, float) else Decimal(cores)
    millis = (value * 1000).to_integral_value(rounding="ROUND_CEILING")
    if millis % 1000 == 0:
        return str(int(millis // 1000))
    return f"{int(millis)}m"


def format_memory(size: Decimal | float | int) -> str:
    """Bytes in the largest binary unit that divides them exactly (`"4Gi"`, `"6398771Ki"`), else bytes."""
    value = int(Decimal(str(size)) if isinstance(size, float) else Decimal(size))
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = _BINARY[suffix]
        if value and value % unit == 0:
            return f"{value // unit}{suffix}"
    return str(value)


# -- machine types ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MachineType:
    name: str
    cpu: int
    memory_gib: float
    provider: str
    """`gke`, `aks` or `sandbox`: decides zones, OS image and provider ID of the node."""
    pods: int = 110
    disk_gib: int = 100

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gib * 2**30)


def _types(*items: MachineType) -> dict[str, MachineType]:
    return {m.name: m for m in items}


MACHINE_TYPES: dict[str, MachineType] = _types(
    MachineType("e2-medium", 2, 4, "gke"),
    MachineType("e2-standard-2", 2, 8, "gke"),
    MachineType("e2-standard-4", 4, 16, "gke"),
    MachineType("e2-standard-8", 8, 32, "gke"),
    MachineType("e2-standard-16", 16, 64, "gke"),
    MachineType("n2-standard-2", 2, 8, "gke"),
    MachineType("n2-standard-4", 4, 16, "gke"),
    MachineType("n2-standard-8", 8, 32, "gke"),
    MachineType("Standard_B2s", 2, 4, "aks"),
    MachineType("Standard_D2s_v3", 2, 8, "aks"),
    MachineType("Standard_D4s_v3", 4, 16, "aks"),
    MachineType("Standard_D8s_v3", 8, 32, "aks"),
    MachineType("sandbox-small", 2, 4, "sandbox"),
    MachineType("sandbox-large", 8, 32, "sandbox"),
)
DEFAULT_MACHINE_TYPE = "e2-standard-4"

_EVICTION_THRESHOLD = 100 * 2**20


def reserved_cpu_millis(cores: int) -> int:
    """GKE's kube-reserved CPU: 6% of the first core, 1% of the next, 0.5% of the next 2, 0.25% above 4."""
    millis = Decimal(0)
    for start, end, rate in ((0, 1, "0.06"), (1, 2, "0.01"), (2, 4, "0.005"), (4, 10**6, "0.0025")):
        share = max(0, min(cores, end) - start)
        millis += Decimal(share) * 1000 * Decimal(rate)
    return int(millis.to_integral_value(rounding="ROUND_CEILING"))


def reserved_memory_bytes(total: int) -> int:
    """GKE's kube-reserved memory plus the 100Mi hard-eviction threshold."""
    gib = 2**30
    if total < gib:
        return 255 * 2**20 + _EVICTION_THRESHOLD
    reserved = Decimal(0)
    for start, end, rate in (
        (0, 4, "0.25"),
        (4, 8, "0.20"),
        (8, 16, "0.10"),
        (16, 128, "0.06"),
        (128, 10**6, "0.02"),
    ):
        share = max(0, min(total, end * gib) - start * gib)
        reserved += Decimal(share) * Decimal(rate)
    return int(reserved) + _EVICTION_THRESHOLD


def capacity(machine: MachineType) -> dict[str, str]:
    return {
        "cpu": str(machine.cpu),
        "ephemeral-storage": format_memory(machine.disk_gib * 2**30),
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": format_memory(machine.memory_bytes),
        "pods": str(machine.pods),
    }


def allocatable(machine: MachineType) -> dict[str, str]:
    disk = machine.disk_gib * 2**30
    memory = machine.memory_bytes - reserved_memory_bytes(machine.memory_bytes)
    return {
        "cpu": format_cpu(Decimal(machine.cpu * 1000 - reserved_cpu_millis(machine.cpu)) / 1000),
        "ephemeral-storage": str(disk - disk // 10),
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": f"{memory // 1024}Ki",
        "pods": str(machine.pods),
    }


# -- nodes -----------------------------------------------------------------------------------------

_PLACES = {
    "gke": ("us-central1", ("us-central1-a", "us-central1-b", "us-central1-c")),
    "aks": ("eastus", ("eastus-1", "eastus-2", "eastus-3")),
    "sandbox": ("sandbox", ("sandbox-a", "sandbox-b", "sandbox-c")),
}
_OS = {
    "gke": ("Container-Optimized OS from Google", "6.6.72+", "containerd://1.7.24"),
    "aks": ("Ubuntu 22.04.5 LTS", "5.15.0-1079-azure", "containerd://1.7.25-1"),
    "sandbox": ("Ubuntu 24.04.2 LTS", "6.8.0-60-generic", "containerd://1.7.27"),
}


def node_name(cluster_name: str, index: int) -> str:
    return f"{cluster_name}-pool-{index}"


def node_internal_ip(index: int) -> str:
    return f"10.0.{index // 250}.{index % 250 + 2}"


def pod_cidr(index: int) -> str:
    """The /24 of 10.244.0.0/14 that pods on node `index` get their IPs from."""
    return f"10.{244 + (index // 256) % 4}.{index % 256}.0/24"


def _digest(*parts: object) -> str:
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()


def node_conditions(now: str, *, ready: bool) -> list[dict]:
    def cond(type_: str, status: str, reason: str, message: str) -> dict:
        return {
            "type": type_,
            "status": status,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }

    return [
        cond(
            "MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"
        ),
        cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        cond("Ready", "True", "KubeletReady", "kubelet is posting ready status")
        if ready
        else cond("Ready", "False", "KubeletNotReady", "container runtime network not ready"),
    ]


def node_object(
    cluster_name: str,
    index: int,
    machine_type: str,
    kubelet_version: str,
    *,
    ready: bool = True,
    now: float | None = None,
) -> dict:
    """A Node as a managed node pool would register it (name `<cluster>-pool-<index>`).

    `now` stamps the conditions (defaults to the wall clock); pass the store's clock when it is faked.
    """
    from providers.sandbox.store import rfc3339

    machine = MACHINE_TYPES[machine_type]
    name = node_name(cluster_name, index)
    region, zones = _PLACES[machine.provider]
    zone = zones[index % len(zones)]
    os_image, kernel, runtime = _OS[machine.provider]
    stamp = rfc3339(time.time() if now is None else now)
    digest = _digest(cluster_name, index, machine_type)
    if machine.provider == "gke":
        provider_id = f"gce://sandbox-project/{zone}/{name}"
    elif machine.provider == "aks":
        provider_id = (
            f"azure:///subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
            f"mc_sandbox_{cluster_name}/providers/Microsoft.Compute/virtualMachineScaleSets/"
            f"{cluster_name}-pool/virtualMachines/{index}"
        )
    else:
        provider_id = f"sandbox://{cluster_name}/{name}"
    cidr = pod_cidr(index)
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/instance-type": machine.name,
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": machine.name,
                "topology.kubernetes.io/region": region,
                "topology.kubernetes.io/zone": zone,
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr], "providerID": provider_id},
        "status": {
            "capacity": capacity(machine),
            "allocatable": allocatable(machine),
            "conditions": node_conditions(stamp, ready=ready),
            "addresses": [
                {"type": "InternalIP", "address": node_internal_ip(index)},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": digest[:32],
                "systemUUID": "-".join(
                    digest[a:b] for a, b in ((32, 40), (40, 44), (44, 48), (48, 52), (52, 64))
                ),
                "bootID": _digest("boot", digest)[:32],
                "kernelVersion": kernel,
                "osImage": os_image,
                "containerRuntimeVersion": runtime,
                "kubeletVersion": kubelet_version,
                "kubeProxyVersion": kubelet_version,
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        },
    }
