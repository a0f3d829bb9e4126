"""One virtual cluster: its durable record, object store, controllers and API, and its lifecycle phases."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from enum import StrEnum

from providers.sandbox import controllers, machines, versions
from providers.sandbox.api import ClusterApi
from providers.sandbox.controllers.common import NAMESPACE, NODE, POD, SERVICE
from providers.sandbox.state import StateDB
from providers.sandbox.store import ClusterStore, meta, rfc3339

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Phase(StrEnum):
    PROVISIONING = "Provisioning"
    RUNNING = "Running"
    DELETING = "Deleting"


@dataclass
class ClusterRecord:
    """What the sandbox persists about a cluster besides its objects."""

    id: str
    name: str
    token: str
    version: str
    machine_type: str
    node_count: int
    phase: str
    created_at: float
    ready_at: float
    delete_at: float | None = None
    next_node: int = 0
    labels: dict[str, str] = field(default_factory=dict)


class VirtualCluster:
    """A cluster hosted by the sandbox server at `/clusters/<id>`."""

    def __init__(
        self,
        record: ClusterRecord,
        db: StateDB,
        *,
        clock,
        settings: controllers.ControllerSettings,
        server_address: str,
        ca_pem: str,
    ):
        self.record = record
        self.db = db
        self.store = ClusterStore(record.id, db, clock=clock)
        self.ctx = controllers.ControllerContext(
            store=self.store, settings=settings, kubernetes_version=self.git_version, ca_pem=ca_pem
        )
        self.api = ClusterApi(
            self.store,
            self.ctx,
            version_info=lambda: versions.version_info(self.record.version),
            server_address=server_address,
        )

    @property
    def git_version(self) -> str:
        return versions.PATCH_RELEASES[self.record.version]

    def save(self) -> None:
        self.db.save_cluster(self.record.id, asdict(self.record))

    # -- lifecycle -----------------------------------------------------------------------------------

    def bootstrap(self) -> None:
        """Create what every new cluster has: system namespaces, nodes, the `kubernetes` service."""
        with self.store.lock, self.db.transaction():
            for ns in SYSTEM_NAMESPACES:
                if self.store.get(NAMESPACE.key, "", ns) is None:
                    self.store.create(
                        NAMESPACE,
                        {
                            "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
                            "spec": {"finalizers": ["kubernetes"]},
                            "status": {"phase": "Active"},
                        },
                    )
            if self.store.get(SERVICE.key, "default", "kubernetes") is None:
                self.store.create(
                    SERVICE,
                    {
                        "metadata": {
                            "name": "kubernetes",
                            "namespace": "default",
                            "labels": {"component": "apiserver", "provider": "kubernetes"},
                        },
                        "spec": {
                            "type": "ClusterIP",
                            "clusterIP": "10.96.0.1",
                            "clusterIPs": ["10.96.0.1"],
                            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                            "sessionAffinity": "None",
                            "ipFamilies": ["IPv4"],
                            "ipFamilyPolicy": "SingleStack",
                            "internalTrafficPolicy": "Cluster",
                        },
                    },
                )
            self._resize_nodes(self.record.node_count)
            controllers.reconcile(self.ctx)
            self.record.phase = Phase.RUNNING
            self.save()

    def nodes(self) -> list[dict]:
        return self.store.list(NODE.key)

    def _add_node(self) -> dict:
        """A new node of the cluster's machine type, named after the next free index."""
        node = machines.node_object(
            self.record.name,
            self.record.next_node,
            self.record.machine_type,
            self.git_version,
            now=self.store.clock(),
        )
        self.record.next_node += 1
        return self.store.create(NODE, node)

    def _resize_nodes(self, count: int) -> None:
        current = self.nodes()
        for _ in range(count - len(current)):
            self._add_node()
        if count < len(current):
            # Remove the newest nodes first, like a managed node pool scaling down.
            doomed = sorted(current, key=_node_age_order)[count:]
            doomed_names = {meta(n)["name"] for n in doomed}
            for pod in self.store.list(POD.key):
                if (pod.get("spec") or {}).get("nodeName") in doomed_names:
                    self.store.remove(POD, meta(pod).get("namespace", ""), meta(pod)["name"])
            for node in doomed:
                self.store.remove(NODE, "", meta(node)["name"])

    def resize(self, count: int) -> None:
        """Set the node count; pods on removed nodes are rescheduled by their controllers."""
        with self.store.lock, self.db.transaction():
            self._resize_nodes(count)
            self.record.node_count = count
            controllers.reconcile(self.ctx)
            self.save()

    def upgrade(self, minor: str) -> None:
        """Move the control plane and every node's kubelet to `minor`."""
        with self.store.lock, self.db.transaction():
            self.record.version = minor
            self.ctx.kubernetes_version = self.git_version
            for node in self.nodes():
                updated = copy.deepcopy(node)
                info = updated.setdefault("status", {}).setdefault("nodeInfo", {})
                info["kubeletVersion"] = self.git_version
                info["kubeProxyVersion"] = self.git_version
                self.store.replace(NODE, updated)
            controllers.reconcile(self.ctx)
            self.save()

    def set_node_ready(self, node_name: str, ready: bool) -> None:
        """Flip a node's Ready condition (a dead kubelet reports Unknown)."""
        with self.store.lock, self.db.transaction():
            node = self.store.get(NODE.key, "", node_name)
            if node is None:
                raise KeyError(node_name)
            updated = copy.deepcopy(node)
            now = self.store.clock()
            for cond in updated.setdefault("status", {}).setdefault("conditions", []):
                if cond.get("type") == "Ready":
                    status = "True" if ready else "Unknown"
                    if cond.get("status") != status:
                        cond["lastTransitionTime"] = rfc3339(now)
                    cond["status"] = status
                    cond["reason"] = "KubeletReady" if ready else "NodeStatusUnknown"
                    cond["message"] = (
                        "kubelet is posting ready status" if ready else "Kubelet stopped posting node status."
                    )
                    cond["lastHeartbeatTime"] = rfc3339(now)
            self.store.replace(NODE, updated)
            controllers.reconcile(self.ctx)

    def replace_node(self, node_name: str) -> str:
        """Drain and delete a node and add a fresh one in its place; returns the new node's name."""
        with self.store.lock, self.db.transaction():
            if self.store.get(NODE.key, "", node_name) is None:
                raise KeyError(node_name)
            for pod in self.store.list(POD.key):
                if (pod.get("spec") or {}).get("nodeName") == node_name:
                    self.store.remove(POD, meta(pod).get("namespace", ""), meta(pod)["name"])
            self.store.remove(NODE, "", node_name)
            node = self._add_node()
            controllers.reconcile(self.ctx)
            self.save()
            return meta(node)["name"]


def _node_age_order(node: dict) -> tuple[str, int]:
    """Oldest first: by creation time, then by the pool index at the end of the name."""
    suffix = meta(node)["name"].rpartition("-")[2]
    return meta(node).get("creationTimestamp", ""), int(suffix) if suffix.isdigit() else 0
