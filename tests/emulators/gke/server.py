"""A loopback emulator of the GKE v1 REST API (container.googleapis.com), backed by a `Sandbox`.

It speaks the JSON the `google-cloud-container` REST transport sends and expects: camelCase fields, enums as
names in responses (ints accepted in requests), `{"error": {"code", "message", "status"}}` on failure.
Mutations return long-running `Operation`s that go PENDING → RUNNING → DONE over `op_seconds`; their effect on
the backing sandbox cluster is applied once, when the operation is first observed finished.

Each cluster's `endpoint` is a small TLS front (its own CA, given as `masterAuth.clusterCaCertificate`) that,
like GKE, accepts the caller's Google OAuth access token as a bearer token and forwards to the sandbox cluster
with the sandbox's own token. Faults: `fail_next`, `fail_next_operation`, `delete_out_of_band`.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import re
import ssl
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from providers.sandbox import pki
from providers.sandbox.sandbox import Sandbox, SandboxError

GKE_PATCH = "4-gke.1000000"
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


# Enum numbers from google/container/v1/cluster_service.proto, for `$alt=json;enum-encoding=int`.
_OP_STATUS = {"PENDING": 1, "RUNNING": 2, "DONE": 3, "ABORTING": 4}
_OP_TYPE = {
    "CREATE_CLUSTER": 1,
    "DELETE_CLUSTER": 2,
    "UPGRADE_MASTER": 3,
    "UPGRADE_NODES": 4,
    "UPDATE_CLUSTER": 6,
    "SET_NODE_POOL_SIZE": 14,
}
_CLUSTER_STATUS = {"PROVISIONING": 1, "RUNNING": 2, "RECONCILING": 3, "STOPPING": 4, "ERROR": 5}
_POOL_STATUS = {"PROVISIONING": 1, "RUNNING": 2, "RECONCILING": 4, "STOPPING": 5, "ERROR": 6}


def _int_enums(doc: dict) -> dict:
    """The same resource with enum fields as numbers (what `enum-encoding=int` asks for)."""
    doc = json.loads(json.dumps(doc))
    if "operationType" in doc:
        doc["operationType"] = _OP_TYPE[doc["operationType"]]
        doc["status"] = _OP_STATUS[doc["status"]]
    elif "nodePools" in doc:
        doc["status"] = _CLUSTER_STATUS[doc["status"]]
        for pool in doc["nodePools"]:
            pool["status"] = _POOL_STATUS[pool["status"]]
    return doc


class ApiError(Exception):
    def __init__(self, code: int, message: str, status: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.code, self.message = code, message
        self.status = status or _STATUS_NAMES.get(code, "UNKNOWN")
        self.headers = headers or {}

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def gke_version(minor: str) -> str:
    return f"{minor}.{GKE_PATCH}"


def minor_of(version: str) -> str | None:
    m = re.match(r"^v?(\d+)\.(\d+)", version or "")
    return f"{int(m.group(1))}.{int(m.group(2))}" if m else None


@dataclass
class Cluster:
    project: str
    location: str
    name: str
    sandbox_id: str
    node_count: int
    machine_type: str
    minor: str
    node_minor: str
    network: str
    labels: dict
    status: str = "PROVISIONING"
    pool_status: str = "PROVISIONING"
    proxy: _ClusterFront | None = None
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    @property
    def path(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/clusters/{self.name}"


@dataclass
class Operation:
    project: str
    location: str
    id: str
    type: str
    cluster: str
    target: str
    started: float
    effect: object = None
    """Called once when the operation finishes (under the emulator's lock)."""
    error: str | None = None
    done_applied: bool = False
    nodes_total: int = 0


class _ClusterFront:
    """TLS front for one cluster: accepts the GKE access token and forwards to the sandbox cluster."""

    def __init__(self, emulator: GkeEmulator, sandbox_id: str):
        self.emulator, self.sandbox_id = emulator, sandbox_id
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _any(self):
                front.forward(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(emulator.cert_file, emulator.key_file)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def forward(self, h: BaseHTTPRequestHandler) -> None:
        header = h.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else None
        sb = self.emulator.sandbox
        if scheme.lower() != "bearer" or token.strip() not in self.emulator.access_tokens:
            self._reply(h, 401, b'{"kind":"Status","status":"Failure","reason":"Unauthorized","code":401}')
            return
        vc = sb.find(self.sandbox_id)
        if vc is None:
            self._reply(h, 503, b"cluster is gone")
            return
        ctx = ssl.create_default_context(cadata=sb.ca_pem)
        conn = http.client.HTTPSConnection(sb.settings.host, sb.port, context=ctx, timeout=30)
        headers = {
            k: v for k, v in h.headers.items() if k.lower() not in ("authorization", "host", "connection")
        }
        headers["Authorization"] = f"Bearer {sb.token(self.sandbox_id)}"
        try:
            conn.request(h.command, f"/clusters/{self.sandbox_id}{h.path}", body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            ctype = resp.getheader("Content-Type", "application/json")
            self._reply(h, resp.status, data, ctype)
        finally:
            conn.close()

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, code: int, data: bytes, ctype: str = "application/json") -> None:
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(data)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class GkeEmulator:
    """The GKE control plane on 127.0.0.1; `url` is what a profile's `api_endpoint` points at."""

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        access_tokens: tuple[str, ...] = ("test-access-token",),
        op_seconds: float = 0.3,
    ):
        self.sandbox = sandbox
        self.access_tokens = set(access_tokens)
        self.op_seconds = op_seconds
        self.clusters: dict[str, Cluster] = {}
        self.operations: dict[str, Operation] = {}
        self.calls: list[tuple[str, str]] = []
        """(method, path) of every request, for tests."""
        self._faults: dict[str, list[str]] = {}
        self._op_faults: dict[str, list[str]] = {}
        self._lock = threading.RLock()
        self._tmp = tempfile.TemporaryDirectory(prefix="gke-emulator-")
        self.ca = pki.make_ca("gke-emulator-cluster-ca")
        serving = pki.make_server_cert(self.ca)
        self.cert_file = Path(self._tmp.name) / "tls.crt"
        self.key_file = Path(self._tmp.name) / "tls.key"
        self.cert_file.write_bytes(serving.cert_pem)
        self.key_file.write_bytes(serving.key_pem)
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _any(self):
                emulator._handle(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> GkeEmulator:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        for c in self.clusters.values():
            if c.proxy:
                c.proxy.stop()
        self._tmp.cleanup()

    def __enter__(self) -> GkeEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- fault injection -----------------------------------------------------------------------------

    def fail_next(self, method: str, kind: str, times: int = 1) -> None:
        """The next `times` calls of `method` (e.g. "create_cluster", "get_operation") fail with `kind`:
        "429" (rate limited, Retry-After), "503", or "quota" (403 RESOURCE_EXHAUSTED)."""
        with self._lock:
            self._faults.setdefault(method, []).extend([kind] * times)

    def fail_next_operation(self, op_type: str, message: str) -> None:
        """The next operation of `op_type` (e.g. "CREATE_CLUSTER") finishes DONE with this error."""
        with self._lock:
            self._op_faults.setdefault(op_type, []).append(message)

    def delete_out_of_band(self, project: str, location: str, name: str) -> None:
        with self._lock:
            c = self.clusters.pop(f"projects/{project}/locations/{location}/clusters/{name}")
            if c.proxy:
                c.proxy.stop()
            with contextlib.suppress(SandboxError):
                self.sandbox.delete_cluster(c.sandbox_id)

    def _fault(self, method: str, project: str) -> None:
        queue = self._faults.get(method)
        if not queue:
            return
        kind = queue.pop(0)
        if kind == "429":
            raise ApiError(
                429,
                "Too many requests: rate limit exceeded for container.googleapis.com.",
                "RESOURCE_EXHAUSTED",
                {"Retry-After": "1"},
            )
        if kind == "503":
            raise ApiError(503, "The service is currently unavailable.", "UNAVAILABLE")
        if kind == "quota":
            raise ApiError(
                403,
                "Insufficient regional quota to satisfy request: resource \"CPUS\": request requires '48.0' "
                "and is short '24.0'. project has a quota of '24.0' with '24.0' available. View and manage "
                f"quotas at https://console.cloud.google.com/iam-admin/quotas?usage=USED&project={project}.",
                "RESOURCE_EXHAUSTED",
            )
        raise AssertionError(f"unknown fault kind {kind!r}")

    # -- HTTP ----------------------------------------------------------------------------------------

    _ROUTES = (
        ("POST", r"^/v1/projects/([^/]+)/locations/([^/]+)/clusters$", "create_cluster"),
        ("GET", r"^/v1/projects/([^/]+)/locations/([^/]+)/clusters$", "list_clusters"),
        ("GET", r"^/v1/projects/([^/]+)/locations/([^/]+)/clusters/([^/:]+)$", "get_cluster"),
        ("DELETE", r"^/v1/projects/([^/]+)/locations/([^/]+)/clusters/([^/:]+)$", "delete_cluster"),
        ("PUT", r"^/v1/projects/([^/]+)/locations/([^/]+)/clusters/([^/:]+)$", "update_cluster"),
        (
            "POST",
            r"^/v1/projects/([^/]+)/locations/([^/]+)/clusters/([^/:]+)/nodePools/([^/:]+):setSize$",
            "set_node_pool_size",
        ),
        (
            "PUT",
            r"^/v1/projects/([^/]+)/locations/([^/]+)/clusters/([^/:]+)/nodePools/([^/:]+)$",
            "update_node_pool",
        ),
        ("GET", r"^/v1/projects/([^/]+)/locations/([^/]+)/operations/([^/:]+)$", "get_operation"),
    )

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        with self._lock:
            self.calls.append((h.command, path))
        try:
            token = h.headers.get("Authorization", "").partition(" ")[2].strip()
            if token not in self.access_tokens:
                raise ApiError(
                    401,
                    "Request had invalid authentication credentials. Expected OAuth 2 access "
                    "token, login cookie or other valid authentication credential.",
                )
            for method, pattern, name in self._ROUTES:
                m = re.match(pattern, path)
                if m and h.command == method:
                    body = json.loads(raw) if raw else {}
                    with self._lock:
                        self._fault(name, m.group(1))
                        self._advance()
                        result = getattr(self, "_" + name)(*m.groups(), body=body)
                    if "enum-encoding=int" in urllib.parse.unquote(h.path.partition("?")[2]):
                        result = _int_enums(result)
                    self._send(h, 200, result)
                    return
            raise ApiError(404, f"Requested entity was not found: {h.command} {path}")
        except ApiError as e:
            self._send(h, e.code, e.body(), e.headers)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, code: int, doc: dict, headers: dict | None = None) -> None:
        data = json.dumps(doc).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json; charset=UTF-8")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)

    # -- operations ----------------------------------------------------------------------------------

    def _new_op(self, c: Cluster, op_type: str, target: str, effect, nodes_total: int = 0) -> Operation:
        op = Operation(
            project=c.project,
            location=c.location,
            id=f"operation-{int(time.time() * 1000)}-{uuid.uuid4().hex[:8]}",
            type=op_type,
            cluster=c.path,
            target=target,
            started=time.monotonic(),
            effect=effect,
            nodes_total=nodes_total,
        )
        faults = self._op_faults.get(op_type)
        if faults:
            op.error = faults.pop(0)
        self.operations[op.id] = op
        return op

    def _fraction(self, op: Operation) -> float:
        if self.op_seconds <= 0:
            return 1.0
        return min(1.0, (time.monotonic() - op.started) / self.op_seconds)

    def _advance(self) -> None:
        for op in self.operations.values():
            if not op.done_applied and self._fraction(op) >= 1.0:
                op.done_applied = True
                if op.effect is not None:
                    op.effect(op)

    def _op_json(self, op: Operation) -> dict:
        frac = self._fraction(op)
        status = "DONE" if op.done_applied else ("PENDING" if frac < 0.1 else "RUNNING")
        if op.nodes_total:
            metrics = [
                {"name": "nodes done", "intValue": str(int(op.nodes_total * frac))},
                {"name": "nodes total", "intValue": str(op.nodes_total)},
            ]
        else:
            metrics = [
                {"name": "progress", "doubleValue": round(frac, 2)},
                {"name": "progress scale", "doubleValue": 1.0},
            ]
        doc = {
            "name": op.id,
            "zone": op.location,
            "operationType": op.type,
            "status": status,
            "selfLink": f"https://container.googleapis.com/v1/projects/{op.project}/locations/{op.location}"
            f"/operations/{op.id}",
            "targetLink": f"https://container.googleapis.com/v1/{op.target}",
            "location": op.location,
            "startTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "progress": {"metrics": metrics},
        }
        if op.done_applied:
            doc["endTime"] = doc["startTime"]
            if op.error:
                doc["error"] = {"code": 9, "message": op.error}
                doc["statusMessage"] = op.error
        return doc

    # -- clusters ------------------------------------------------------------------------------------

    def _cluster(self, project: str, location: str, name: str) -> Cluster:
        c = self.clusters.get(f"projects/{project}/locations/{location}/clusters/{name}")
        if c is None:
            raise ApiError(404, f"Not found: projects/{project}/locations/{location}/clusters/{name}.")
        return c

    def _cluster_json(self, c: Cluster) -> dict:
        doc = {
            "name": c.name,
            "nodePools": [
                {
                    "name": "default-pool",
                    "config": {
                        "machineType": c.machine_type,
                        "diskSizeGb": 100,
                        "imageType": "COS_CONTAINERD",
                    },
                    "initialNodeCount": c.node_count,
                    "version": gke_version(c.node_minor),
                    "status": c.pool_status,
                    "selfLink": f"https://container.googleapis.com/v1/{c.path}/nodePools/default-pool",
                }
            ],
            "network": c.network or "default",
            "resourceLabels": c.labels,
            "selfLink": f"https://container.googleapis.com/v1/{c.path}",
            "zone": c.location,
            "location": c.location,
            "status": c.status,
            "initialClusterVersion": gke_version(c.minor),
            "currentMasterVersion": gke_version(c.minor),
            "currentNodeVersion": gke_version(c.node_minor),
            "currentNodeCount": c.node_count,
            "createTime": c.created,
            "masterAuth": {"clusterCaCertificate": base64.b64encode(self.ca.cert_pem).decode()},
        }
        if c.proxy is not None:
            doc["endpoint"] = c.proxy.endpoint
        return doc

    def _create_cluster(self, project: str, location: str, *, body: dict) -> dict:
        spec = body.get("cluster") or {}
        name = spec.get("name", "")
        path = f"projects/{project}/locations/{location}/clusters/{name}"
        if path in self.clusters:
            raise ApiError(409, f"Already exists: {path}.")
        if not re.match(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$", name):
            raise ApiError(
                400,
                f'Invalid value for field "cluster.name": "{name}". Must be a match of regex '
                "(?:[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?)",
            )
        pools = spec.get("nodePools") or []
        if len(pools) != 1:
            raise ApiError(400, "Exactly one node pool is supported by this emulator.")
        pool = pools[0]
        nodes = int(pool.get("initialNodeCount", 0))
        machine = (pool.get("config") or {}).get("machineType", "e2-medium")
        minor = minor_of(spec.get("initialClusterVersion") or "1.33")
        try:
            info = self.sandbox.create_cluster(name, nodes=nodes, machine_type=machine, version=minor or "?")
        except SandboxError as e:
            raise ApiError(400, f"Invalid argument: {e}") from e
        c = Cluster(
            project,
            location,
            name,
            info.id,
            nodes,
            machine,
            info.version,
            info.version,
            spec.get("network", ""),
            dict(spec.get("resourceLabels") or {}),
        )
        c.proxy = _ClusterFront(self, info.id)
        self.clusters[path] = c

        def finish(op: Operation) -> None:
            if op.error:
                c.status = "ERROR"
                c.pool_status = "ERROR"
            else:
                c.status = c.pool_status = "RUNNING"

        return self._op_json(self._new_op(c, "CREATE_CLUSTER", path, finish, nodes_total=0))

    def _list_clusters(self, project: str, location: str, *, body: dict) -> dict:
        clusters = [c for c in self.clusters.values() if c.project == project and c.location == location]
        return {"clusters": [self._cluster_json(c) for c in clusters]}

    def _get_cluster(self, project: str, location: str, name: str, *, body: dict) -> dict:
        return self._cluster_json(self._cluster(project, location, name))

    def _delete_cluster(self, project: str, location: str, name: str, *, body: dict) -> dict:
        c = self._cluster(project, location, name)
        c.status = "STOPPING"

        def finish(op: Operation) -> None:
            if op.error:
                c.status = "ERROR"
                return
            self.clusters.pop(c.path, None)
            if c.proxy:
                c.proxy.stop()
            with contextlib.suppress(SandboxError):
                self.sandbox.delete_cluster(c.sandbox_id)

        return self._op_json(self._new_op(c, "DELETE_CLUSTER", c.path, finish))

    def _busy(self, c: Cluster) -> None:
        if c.status != "RUNNING" or c.pool_status != "RUNNING":
            raise ApiError(
                400,
                f"Cluster is running incompatible operation. Cluster {c.name} is {c.status}.",
                "FAILED_PRECONDITION",
            )

    def _update_cluster(self, project: str, location: str, name: str, *, body: dict) -> dict:
        c = self._cluster(project, location, name)
        update = body.get("update") or {}
        wanted = update.get("desiredMasterVersion")
        if not wanted:
            raise ApiError(400, "This emulator supports only update.desiredMasterVersion.")
        minor = minor_of(wanted)
        if minor is None or minor not in ("1.30", "1.31", "1.32", "1.33"):
            raise ApiError(400, f'Master version "{wanted}" is unsupported.')
        self._busy(c)
        c.status = "RECONCILING"

        def finish(op: Operation) -> None:
            c.status = "RUNNING"
            if not op.error:
                c.minor = minor

        return self._op_json(self._new_op(c, "UPGRADE_MASTER", c.path, finish))

    def _update_node_pool(self, project: str, location: str, name: str, pool: str, *, body: dict) -> dict:
        c = self._cluster(project, location, name)
        if pool != "default-pool":
            raise ApiError(404, f"Not found: {c.path}/nodePools/{pool}.")
        minor = minor_of(body.get("nodeVersion") or "")
        if minor is None:
            raise ApiError(400, "This emulator supports only nodeVersion updates.")
        if tuple(map(int, minor.split("."))) > tuple(map(int, c.minor.split("."))):
            raise ApiError(400, f"Node version {minor} cannot be newer than the master version {c.minor}.")
        self._busy(c)
        c.pool_status = "RECONCILING"

        def finish(op: Operation) -> None:
            c.pool_status = "RUNNING"
            if not op.error:
                self.sandbox.upgrade(c.sandbox_id, minor)
                c.node_minor = minor

        return self._op_json(
            self._new_op(c, "UPGRADE_NODES", f"{c.path}/nodePools/{pool}", finish, nodes_total=c.node_count)
        )

    def _set_node_pool_size(self, project: str, location: str, name: str, pool: str, *, body: dict) -> dict:
        c = self._cluster(project, location, name)
        if pool != "default-pool":
            raise ApiError(404, f"Not found: {c.path}/nodePools/{pool}.")
        count = int(body.get("nodeCount", 0))
        if not 0 <= count <= 100:
            raise ApiError(400, f'Invalid value for field "nodeCount": {count}.')
        self._busy(c)
        c.pool_status = "RECONCILING"

        def finish(op: Operation) -> None:
            c.pool_status = "RUNNING"
            if not op.error:
                self.sandbox.resize(c.sandbox_id, count)
                c.node_count = count

        return self._op_json(
            self._new_op(
                c,
                "SET_NODE_POOL_SIZE",
                f"{c.path}/nodePools/{pool}",
                finish,
                nodes_total=abs(count - c.node_count) or 1,
            )
        )

    def _get_operation(self, project: str, location: str, op_id: str, *, body: dict) -> dict:
        op = self.operations.get(op_id)
        if op is None or op.project != project or op.location != location:
            raise ApiError(404, f"Not found: operation {op_id}.")
        return self._op_json(op)
