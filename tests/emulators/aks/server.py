"""A loopback HTTPS emulator of the ARM API for Microsoft.ContainerService managedClusters and agentPools.

Clusters are backed by sandbox clusters. Writes (PUT, DELETE) answer 201/200/202 with an
`Azure-AsyncOperation` header; the operation reports `InProgress` for `op_seconds` and then `Succeeded`
(or `Failed` with an ARM error), and its effect on the sandbox (create, resize, upgrade, delete) is applied
when it finishes. Faults are injected with `inject()` (an HTTP error for matching requests) and
`fail_next_operation()` (the next LRO ends Failed); `delete_out_of_band()` removes a cluster behind the
adapter's back.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from providers.sandbox import pki
from providers.sandbox.sandbox import Sandbox, SandboxError

RP = "Microsoft.ContainerService"
_CLUSTER = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.ContainerService"
    r"/managedClusters/(?P<name>[^/]+)(?P<rest>/.*)?$",
    re.IGNORECASE,
)
_LIST = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/Microsoft\.ContainerService"
    r"/managedClusters/?$",
    re.IGNORECASE,
)
_OPERATION = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/Microsoft\.ContainerService/locations/(?P<loc>[^/]+)"
    r"/operations/(?P<op>[^/]+)$",
    re.IGNORECASE,
)


@dataclass
class Fault:
    status: int
    code: str
    message: str
    method: str | None = None
    path_contains: str | None = None
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Operation:
    id: str
    cluster: str
    kind: str
    started: float
    seconds: float
    apply: object
    status: str = "InProgress"
    error: dict | None = None
    fail_with: dict | None = None


@dataclass
class ManagedCluster:
    name: str
    rg: str
    location: str
    dns_prefix: str
    sandbox_id: str
    version: str
    count: int
    vm_size: str
    node_resource_group: str
    state: str = "Creating"


class AksEmulator:
    """ARM for AKS on https://127.0.0.1:<port>, authenticating `Authorization: Bearer <token>`."""

    def __init__(self, sandbox: Sandbox, workdir: Path, *, token: str, op_seconds: float = 0.3):
        self.sandbox = sandbox
        self.token = token
        self.op_seconds = op_seconds
        self.lock = threading.RLock()
        self.clusters: dict[str, ManagedCluster] = {}
        self.operations: dict[str, Operation] = {}
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str, str | None]] = []
        """(method, path, api-version) of every request received."""
        self._fail_next: dict | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        ca = pki.make_ca("aks-emulator-ca")
        server = pki.make_server_cert(ca)
        self.ca_file = workdir / "arm-ca.pem"
        self.ca_file.write_bytes(ca.cert_pem)
        (workdir / "arm.crt").write_bytes(server.cert_pem)
        (workdir / "arm.key").write_bytes(server.key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(workdir / "arm.crt", workdir / "arm.key")
        handler = type("Handler", (_Handler,), {"emulator": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="aks-emulator", daemon=True)

    def start(self) -> AksEmulator:
        self._thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)

    # -- test controls -----------------------------------------------------------------------------

    def inject(self, status: int, code: str, message: str, **kw) -> None:
        with self.lock:
            self.faults.append(Fault(status, code, message, **kw))

    def fail_next_operation(self, code: str, message: str) -> None:
        with self.lock:
            self._fail_next = {"code": code, "message": message}

    def delete_out_of_band(self, name: str) -> None:
        with self.lock:
            mc = self.clusters.pop(name.lower())
            self.sandbox.delete_cluster(mc.sandbox_id)

    def find(self, name: str) -> ManagedCluster | None:
        with self.lock:
            return self.clusters.get(name.lower())

    # -- state -------------------------------------------------------------------------------------

    def settle(self) -> None:
        """Finish every operation whose time has come, applying its effect."""
        now = time.monotonic()
        with self.lock:
            for op in self.operations.values():
                if op.status != "InProgress" or now - op.started < op.seconds:
                    continue
                mc = self.clusters.get(op.cluster)
                if op.fail_with is not None:
                    op.status, op.error = "Failed", op.fail_with
                    if mc is not None:
                        mc.state = "Failed"
                    continue
                try:
                    op.apply()  # type: ignore[operator]
                except SandboxError as e:
                    op.status = "Failed"
                    op.error = {"code": "InternalOperationError", "message": str(e)}
                    if mc is not None:
                        mc.state = "Failed"
                    continue
                op.status = "Succeeded"
                if mc is not None and op.kind != "delete":
                    mc.state = "Succeeded"

    def new_operation(self, mc: ManagedCluster, kind: str, apply) -> Operation:
        op = Operation(
            id=secrets.token_hex(8),
            cluster=mc.name.lower(),
            kind=kind,
            started=time.monotonic(),
            seconds=self.op_seconds,
            apply=apply,
            fail_with=self._fail_next,
        )
        self._fail_next = None
        self.operations[op.id] = op
        return op

    def operation_url(self, sub: str, mc: ManagedCluster, op: Operation, api_version: str) -> str:
        return (
            f"{self.url}/subscriptions/{sub}/providers/{RP}/locations/{mc.location}/operations/{op.id}"
            f"?api-version={api_version}"
        )

    def cluster_json(self, sub: str, mc: ManagedCluster) -> dict:
        return {
            "id": f"/subscriptions/{sub}/resourceGroups/{mc.rg}/providers/{RP}/managedClusters/{mc.name}",
            "name": mc.name,
            "type": f"{RP}/ManagedClusters",
            "location": mc.location,
            "properties": {
                "provisioningState": mc.state,
                "powerState": {"code": "Running"},
                "kubernetesVersion": mc.version,
                "currentKubernetesVersion": f"{mc.version}.0",
                "dnsPrefix": mc.dns_prefix,
                "fqdn": f"{mc.dns_prefix}-{mc.sandbox_id[-8:]}.hcp.{mc.location}.azmk8s.io",
                "nodeResourceGroup": mc.node_resource_group,
                "agentPoolProfiles": [{"name": "nodepool1", **self.pool_properties(mc)}],
            },
        }

    def pool_json(self, sub: str, mc: ManagedCluster) -> dict:
        return {
            "id": f"/subscriptions/{sub}/resourceGroups/{mc.rg}/providers/{RP}/managedClusters/{mc.name}"
            "/agentPools/nodepool1",
            "name": "nodepool1",
            "type": f"{RP}/managedClusters/agentPools",
            "properties": self.pool_properties(mc),
        }

    def pool_properties(self, mc: ManagedCluster) -> dict:
        return {
            "count": mc.count,
            "vmSize": mc.vm_size,
            "orchestratorVersion": mc.version,
            "currentOrchestratorVersion": f"{mc.version}.0",
            "mode": "System",
            "type": "VirtualMachineScaleSets",
            "osType": "Linux",
            "provisioningState": mc.state,
        }


class _Handler(BaseHTTPRequestHandler):
    emulator: AksEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:
        pass

    # -- plumbing ----------------------------------------------------------------------------------

    def _send(self, status: int, body: dict | None = None, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", secrets.token_hex(8))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(status, {"error": {"code": code, "message": message}}, headers)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        emu = self.emulator
        parts = urlsplit(self.path)
        api_version = (parse_qs(parts.query).get("api-version") or [None])[0]
        body = self._body()
        with emu.lock:
            emu.requests.append((method, parts.path, api_version))
            for fault in emu.faults:
                if (
                    fault.times > 0
                    and fault.method in (None, method)
                    and (fault.path_contains is None or fault.path_contains in parts.path)
                ):
                    fault.times -= 1
                    return self._error(fault.status, fault.code, fault.message, fault.headers)
        if self.headers.get("Authorization") != f"Bearer {emu.token}":
            return self._error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        if not api_version:
            return self._error(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required.",
            )
        with emu.lock:
            emu.settle()
            m = _OPERATION.match(parts.path)
            if m and method == "GET":
                return self._operation(m.group("op"))
            m = _LIST.match(parts.path)
            if m and method == "GET":
                # managedClusters - List By Resource Group: one page, no nextLink.
                rg = m.group("rg").lower()
                value = [
                    emu.cluster_json(m.group("sub"), mc)
                    for mc in emu.clusters.values()
                    if mc.rg.lower() == rg
                ]
                return self._send(200, {"value": value})
            m = _CLUSTER.match(parts.path)
            if not m:
                return self._error(404, "NotFound", f"no route for {method} {parts.path}")
            self._cluster(
                method,
                m.group("sub"),
                m.group("rg"),
                m.group("name"),
                m.group("rest") or "",
                body,
                api_version,
            )

    # -- routes ------------------------------------------------------------------------------------

    def _operation(self, op_id: str) -> None:
        op = self.emulator.operations.get(op_id)
        if op is None:
            return self._error(404, "NotFound", f"operation {op_id} not found")
        doc: dict = {"id": op.id, "name": op.id, "status": op.status, "startTime": "2026-01-01T00:00:00Z"}
        if op.error:
            doc["error"] = op.error
        self._send(200, doc)

    def _not_found(self, rg: str, name: str) -> None:
        self._error(
            404,
            "ResourceNotFound",
            f"The Resource '{RP}/managedClusters/{name}' under resource group '{rg}' was not found.",
        )

    def _cluster(self, method, sub, rg, name, rest, body, api_version) -> None:
        emu = self.emulator
        mc = emu.clusters.get(name.lower())
        if mc is not None and mc.rg.lower() != rg.lower():
            mc = None
        if rest == "" and method == "GET":
            return self._send(200, emu.cluster_json(sub, mc)) if mc else self._not_found(rg, name)
        if rest == "" and method == "PUT":
            return self._put_cluster(sub, rg, name, mc, body, api_version)
        if rest == "" and method == "DELETE":
            if mc is None:
                return self._send(204)
            if mc.state == "Deleting":
                op = next(
                    o for o in emu.operations.values() if o.cluster == name.lower() and o.kind == "delete"
                )
            else:
                mc.state = "Deleting"

                def apply(mc=mc) -> None:
                    emu.clusters.pop(mc.name.lower(), None)
                    emu.sandbox.delete_cluster(mc.sandbox_id)

                op = emu.new_operation(mc, "delete", apply)
            return self._send(
                202, None, {"Azure-AsyncOperation": emu.operation_url(sub, mc, op, api_version)}
            )
        if mc is None:
            return self._not_found(rg, name)
        if rest.lower() == "/listclusterusercredential" and method == "POST":
            kubeconfig = emu.sandbox.kubeconfig(mc.sandbox_id)
            value = base64.b64encode(kubeconfig.encode()).decode()
            return self._send(200, {"kubeconfigs": [{"name": "clusterUser", "value": value}]})
        if rest.lower() == "/agentpools/nodepool1" and method == "GET":
            return self._send(200, emu.pool_json(sub, mc))
        if rest.lower() == "/agentpools/nodepool1" and method == "PUT":
            props = body.get("properties") or {}
            return self._update(
                sub,
                mc,
                props.get("count", mc.count),
                props.get("orchestratorVersion"),
                api_version,
                pool=True,
            )
        return self._error(404, "NotFound", f"no route for {method} {rest}")

    def _check(self, version: str | None, vm_size: str | None, count: object) -> str | None:
        from providers.sandbox import machines, versions

        if version is not None and versions.normalize(str(version)) is None:
            return f"Version {version} is not supported in this region."
        if vm_size is not None and vm_size not in machines.MACHINE_TYPES:
            return f"The VM size of {vm_size} is not allowed in your subscription in location."
        if not isinstance(count, int) or not 0 <= count <= 100:
            return f"The value of parameter agentPoolProfile.count is invalid: {count!r}."
        return None

    def _put_cluster(self, sub, rg, name, mc, body, api_version) -> None:
        emu = self.emulator
        props = body.get("properties") or {}
        pools = props.get("agentPoolProfiles") or []
        if mc is not None:
            pool = pools[0] if pools else {}
            version = props.get("kubernetesVersion") or pool.get("orchestratorVersion")
            return self._update(sub, mc, pool.get("count", mc.count), version, api_version, pool=False)
        if not pools or not props.get("dnsPrefix"):
            return self._error(400, "InvalidParameter", "agentPoolProfiles and dnsPrefix are required.")
        pool = pools[0]
        version = props.get("kubernetesVersion") or "1.32"
        problem = self._check(version, pool.get("vmSize"), pool.get("count"))
        if problem:
            return self._error(400, "InvalidParameter", problem)
        sandbox_name = re.sub(r"[^a-z0-9-]", "-", name.lower())[:31].strip("-") or "aks"
        try:
            info = emu.sandbox.create_cluster(
                sandbox_name, nodes=pool["count"], machine_type=pool["vmSize"], version=version
            )
        except SandboxError as e:
            return self._error(400, "InvalidParameter", str(e))
        mc = ManagedCluster(
            name=name,
            rg=rg,
            location=body.get("location") or "eastus",
            dns_prefix=props["dnsPrefix"],
            sandbox_id=info.id,
            version=info.version,
            count=pool["count"],
            vm_size=pool["vmSize"],
            node_resource_group=props.get("nodeResourceGroup") or f"MC_{rg}_{name}_{body.get('location')}",
        )
        emu.clusters[name.lower()] = mc
        op = emu.new_operation(mc, "create", lambda: None)
        headers = {"Azure-AsyncOperation": emu.operation_url(sub, mc, op, api_version)}
        self._send(201, emu.cluster_json(sub, mc), headers)

    def _update(self, sub, mc: ManagedCluster, count, version, api_version, *, pool: bool) -> None:
        emu = self.emulator
        if mc.state not in ("Succeeded", "Failed"):
            return self._error(
                409,
                "OperationNotAllowed",
                f"Operation is not allowed because there's an in progress operation on {mc.name} "
                f"(provisioningState {mc.state}).",
            )
        problem = self._check(version, None, count)
        if problem:
            return self._error(400, "InvalidParameter", problem)
        target = emu.sandbox.info(mc.sandbox_id)
        minor = version and str(version)

        def apply(mc=mc, count=count, minor=minor) -> None:
            if minor and minor != mc.version:
                emu.sandbox.upgrade(mc.sandbox_id, minor)
                mc.version = emu.sandbox.info(mc.sandbox_id).version
            if count != target.node_count:
                emu.sandbox.resize(mc.sandbox_id, count)
                mc.count = count

        mc.state = (
            "Upgrading" if minor and minor != mc.version else "Scaling" if count != mc.count else "Updating"
        )
        op = emu.new_operation(mc, "update", apply)
        headers = {"Azure-AsyncOperation": emu.operation_url(sub, mc, op, api_version)}
        self._send(200, emu.pool_json(sub, mc) if pool else emu.cluster_json(sub, mc), headers)
