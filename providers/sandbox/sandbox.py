"""The sandbox control API: create, delete, resize, upgrade clusters and break or heal their nodes.

A `Sandbox` owns one state directory (SQLite file, CA), one HTTPS server hosting every cluster, and one
ticker thread that advances time-based behaviour (provisioning delays, node eviction). It is what the sandbox
provider adapter and the tests drive.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from providers.sandbox import controllers, machines, pki, versions
from providers.sandbox.cluster import ClusterRecord, Phase, VirtualCluster
from providers.sandbox.state import StateDB

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
MAX_NODES = 100


class SandboxError(Exception):
    """A control-API request the sandbox refuses (bad name, unknown cluster, out-of-range count)."""


@dataclass
class SandboxSettings:
    """How a sandbox behaves; the defaults suit an interactive `kaas shell`."""

    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    """0 picks a free port on first start; the chosen port is remembered and reused after a restart."""
    create_seconds: float = 0.0
    """Simulated time a cluster spends provisioning before its API answers."""
    delete_seconds: float = 0.0
    """Simulated time a cluster spends deleting before it disappears."""
    tick_seconds: float = 0.2
    """How often time-based behaviour is advanced (provisioning, eviction)."""
    node_eviction_seconds: float = 40.0
    """Grace period before pods leave a NotReady node (Kubernetes' default is 300 s; tests use less)."""
    pod_start_seconds: float = 0.0
    """Delay before a scheduled pod is Running."""
    clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class ClusterInfo:
    """What the control API reports about a cluster."""

    id: str
    name: str
    phase: str
    version: str
    machine_type: str
    node_count: int
    endpoint: str
    created_at: float


class Sandbox:
    """Many virtual clusters behind one HTTPS server, persisted under `settings.state_dir`."""

    def __init__(self, settings: SandboxSettings):
        self.settings = settings
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.db = StateDB(settings.state_dir / "sandbox.db")
        self._ca, self._server_cert = self._load_pki()
        self._clusters: dict[str, VirtualCluster] = {}
        self._lock = threading.RLock()
        self._controller_settings = controllers.ControllerSettings(
            node_eviction_seconds=settings.node_eviction_seconds,
            pod_start_seconds=settings.pod_start_seconds,
        )
        stored_port = self.db.get_meta("port")
        self.port = settings.port or (int(stored_port) if stored_port else 0)
        self._server = None
        self._ticker: threading.Thread | None = None
        self._stopping = threading.Event()
        for _, record in self.db.clusters():
            self._attach(ClusterRecord(**record), load=True)

    # -- PKI -----------------------------------------------------------------------------------------

    def _load_pki(self) -> tuple[pki.KeyPair, pki.KeyPair]:
        ca_cert, ca_key = self.db.get_meta("ca_cert"), self.db.get_meta("ca_key")
        if ca_cert and ca_key:
            ca = pki.KeyPair(ca_cert.encode(), ca_key.encode())
        else:
            ca = pki.make_ca()
            self.db.set_meta("ca_cert", ca.cert_pem.decode())
            self.db.set_meta("ca_key", ca.key_pem.decode())
        server = pki.make_server_cert(ca)
        for name, data in (("server.crt", server.cert_pem), ("server.key", server.key_pem)):
            path = self.settings.state_dir / name
            path.touch(mode=0o600, exist_ok=True)
            path.write_bytes(data)
        return ca, server

    @property
    def ca_pem(self) -> str:
        return self._ca.cert_pem.decode()

    # -- serving -------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://{self.settings.host}:{self.port}"

    def start(self) -> Sandbox:
        """Serve every cluster over HTTPS and start the ticker; returns self for chaining."""
        from providers.sandbox.server import ServerThread, build_app

        if self._server is not None:
            return self
        self._server = ServerThread(
            build_app(self),
            host=self.settings.host,
            port=self.port,
            certfile=self.settings.state_dir / "server.crt",
            keyfile=self.settings.state_dir / "server.key",
            any_port_if_taken=True,
        )
        self.port = self._server.start()
        self.db.set_meta("port", str(self.port))
        self._stopping.clear()
        self._ticker = threading.Thread(target=self._tick_loop, name="sandbox-ticker", daemon=True)
        self._ticker.start()
        return self

    def stop(self) -> None:
        """Stop serving (objects stay on disk); watches are closed."""
        self._stopping.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None
        with self._lock:
            for vc in self._clusters.values():
                vc.store.close_watchers()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def close(self) -> None:
        self.stop()
        self.db.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _tick_loop(self) -> None:
        while not self._stopping.wait(self.settings.tick_seconds):
            try:
                self.tick()
            except Exception:  # a broken tick must not stop time for every other cluster
                log.exception("sandbox tick failed")

    def tick(self) -> None:
        """Advance time-based behaviour of every cluster once (called by the ticker; tests may call it)."""
        now = self.settings.clock()
        with self._lock:
            clusters = list(self._clusters.values())
        for vc in clusters:
            phase = vc.record.phase
            if phase == Phase.PROVISIONING and now >= vc.record.ready_at:
                vc.bootstrap()
            elif phase == Phase.DELETING and vc.record.delete_at is not None and now >= vc.record.delete_at:
                self._drop(vc)
            elif phase == Phase.RUNNING:
                with vc.store.lock:
                    controllers.reconcile(vc.ctx)

    # -- cluster lifecycle ---------------------------------------------------------------------------

    def _attach(self, record: ClusterRecord, *, load: bool) -> VirtualCluster:
        vc = VirtualCluster(
            record,
            self.db,
            clock=self.settings.clock,
            settings=self._controller_settings,
            server_address=f"{self.settings.host}:{self.port}",
            ca_pem=self.ca_pem,
        )
        if load:
            vc.store.load()
        with self._lock:
            self._clusters[record.id] = vc
        return vc

    def create_cluster(
        self,
        name: str,
        *,
        nodes: int = 3,
        machine_type: str = machines.DEFAULT_MACHINE_TYPE,
        version: str = versions.DEFAULT_VERSION,
        labels: dict[str, str] | None = None,
    ) -> ClusterInfo:
        """Start creating a cluster; it is Running after `create_seconds` (at once when 0)."""
        if not isinstance(name, str) or len(name) > 40 or not _NAME.match(name):
            raise SandboxError(
                f"invalid cluster name {name!r}: use 1-40 lowercase letters, digits and '-', "
                "starting and ending with a letter or digit"
            )
        self._check_nodes(nodes)
        if machine_type not in machines.MACHINE_TYPES:
            raise SandboxError(
                f"unknown machine type {machine_type!r}; "
                f"choose one of {', '.join(sorted(machines.MACHINE_TYPES))}"
            )
        minor = versions.normalize(version)
        if minor is None:
            raise SandboxError(
                f"unsupported Kubernetes version {version!r}; choose one of {', '.join(versions.supported())}"
            )
        now = self.settings.clock()
        record = ClusterRecord(
            id=f"{name}-{secrets.token_hex(4)}",
            name=name,
            token=pki.new_token(),
            version=minor,
            machine_type=machine_type,
            node_count=nodes,
            phase=Phase.PROVISIONING,
            created_at=now,
            ready_at=now + self.settings.create_seconds,
            labels=dict(labels or {}),
        )
        vc = self._attach(record, load=False)
        vc.save()
        if self.settings.create_seconds <= 0:
            vc.bootstrap()
        return self.info(record.id)

    def _check_nodes(self, nodes: object) -> None:
        if not isinstance(nodes, int) or isinstance(nodes, bool) or not 0 <= nodes <= MAX_NODES:
            raise SandboxError(f"node count must be a whole number from 0 to {MAX_NODES}, got {nodes!r}")

    def cluster(self, cluster_id: str) -> VirtualCluster:
        with self._lock:
            vc = self._clusters.get(cluster_id)
        if vc is None:
            raise SandboxError(f"no sandbox cluster with id {cluster_id!r}")
        return vc

    def find(self, cluster_id: str) -> VirtualCluster | None:
        """The cluster with this id, or None (used by the HTTP server on every request)."""
        with self._lock:
            return self._clusters.get(cluster_id)

    def info(self, cluster_id: str) -> ClusterInfo:
        return self._info(self.cluster(cluster_id))

    def _info(self, vc: VirtualCluster) -> ClusterInfo:
        r = vc.record
        return ClusterInfo(
            id=r.id,
            name=r.name,
            phase=str(r.phase),
            version=r.version,
            machine_type=r.machine_type,
            node_count=r.node_count,
            endpoint=f"{self.url}/clusters/{r.id}",
            created_at=r.created_at,
        )

    def list_clusters(self) -> list[ClusterInfo]:
        with self._lock:
            ids = sorted(self._clusters)
        return [self.info(i) for i in ids]

    def delete_cluster(self, cluster_id: str) -> ClusterInfo:
        """Start deleting a cluster; it disappears after `delete_seconds` (at once when 0)."""
        vc = self.cluster(cluster_id)
        if vc.record.phase != Phase.DELETING:
            vc.record.phase = Phase.DELETING
            vc.record.delete_at = self.settings.clock() + self.settings.delete_seconds
            vc.save()
        # From the record in hand: the ticker may drop a cluster whose delete time has come at any moment.
        info = self._info(vc)
        if self.settings.delete_seconds <= 0:
            self._drop(vc)
        return info

    def _drop(self, vc: VirtualCluster) -> None:
        with self._lock:
            self._clusters.pop(vc.record.id, None)
        vc.store.close_watchers()
        self.db.drop_cluster(vc.record.id)

    def _running(self, cluster_id: str) -> VirtualCluster:
        vc = self.cluster(cluster_id)
        if vc.record.phase != Phase.RUNNING:
            raise SandboxError(f"cluster {cluster_id} is {vc.record.phase}, not Running")
        return vc

    def resize(self, cluster_id: str, nodes: int) -> ClusterInfo:
        self._check_nodes(nodes)
        self._running(cluster_id).resize(nodes)
        return self.info(cluster_id)

    def upgrade(self, cluster_id: str, version: str) -> ClusterInfo:
        vc = self._running(cluster_id)
        minor = versions.normalize(version)
        if minor is None:
            raise SandboxError(
                f"unsupported Kubernetes version {version!r}; choose one of {', '.join(versions.supported())}"
            )
        current = tuple(int(p) for p in vc.record.version.split("."))
        if tuple(int(p) for p in minor.split(".")) < current:
            raise SandboxError(f"cannot downgrade from {vc.record.version} to {minor}")
        vc.upgrade(minor)
        return self.info(cluster_id)

    def set_node_ready(self, cluster_id: str, node: str, ready: bool) -> None:
        try:
            self._running(cluster_id).set_node_ready(node, ready)
        except KeyError as e:
            raise SandboxError(f"cluster {cluster_id} has no node {node!r}") from e

    def replace_node(self, cluster_id: str, node: str) -> str:
        try:
            return self._running(cluster_id).replace_node(node)
        except KeyError as e:
            raise SandboxError(f"cluster {cluster_id} has no node {node!r}") from e

    def token(self, cluster_id: str) -> str:
        return self.cluster(cluster_id).record.token

    def kubeconfig(self, cluster_id: str) -> str:
        """A kubeconfig that verifies the sandbox CA and authenticates with the cluster's token."""
        import base64

        vc = self.cluster(cluster_id)
        name = f"sandbox-{vc.record.name}"
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": name,
                    "cluster": {
                        "server": f"{self.url}/clusters/{vc.record.id}",
                        "certificate-authority-data": base64.b64encode(self._ca.cert_pem).decode(),
                    },
                }
            ],
            "users": [{"name": f"{name}-admin", "user": {"token": vc.record.token}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": f"{name}-admin"}}],
            "current-context": name,
            "preferences": {},
        }
        return yaml.safe_dump(doc, sort_keys=False)
