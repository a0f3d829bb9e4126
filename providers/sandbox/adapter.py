"""The sandbox provider: the provider protocol on top of a local `Sandbox`.

Handles carry the sandbox cluster id and what was asked, so `poll` needs nothing else. Scale, upgrade and
node replacement finish inside `start_*` (the simulation is instant) and `poll` confirms the result against
the cluster's live state, which is what a resumed operation must rely on.
"""

from __future__ import annotations

import ssl
import urllib.request

from providers.base import ClusterDescription, ClusterSpec, NodeInfo, Progress
from providers.errors import (
    ClusterNotFound,
    InvalidClusterRequest,
    PermanentProviderError,
    TransientProviderError,
)
from providers.sandbox import machines, versions
from providers.sandbox.cluster import Phase
from providers.sandbox.sandbox import Sandbox, SandboxError
from providers.sandbox.store import meta

REQUEST_LABEL = "kaas.dev/request-id"
KIND = "sandbox"


class SandboxProvider:
    """Provider adapter for clusters simulated by `Sandbox`."""

    kind = KIND

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox

    def versions(self) -> list[str]:
        return versions.supported()

    def machine_types(self) -> list[str]:
        return sorted(machines.MACHINE_TYPES)

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SandboxError as e:
            text = str(e)
            if text.startswith("no sandbox cluster"):
                raise ClusterNotFound(text, provider=KIND) from e
            raise InvalidClusterRequest(text, provider=KIND) from e

    # -- starting ------------------------------------------------------------------------------------

    def start_create(self, spec: ClusterSpec) -> dict:
        if spec.request_id:
            for info in self.sandbox.list_clusters():
                vc = self.sandbox.find(info.id)
                if vc is not None and vc.record.labels.get(REQUEST_LABEL) == spec.request_id:
                    return {"op": "create", "ref": info.id}
        labels = {**spec.labels, **({REQUEST_LABEL: spec.request_id} if spec.request_id else {})}
        info = self._call(
            self.sandbox.create_cluster,
            spec.name,
            nodes=spec.node_count,
            machine_type=spec.machine_type or machines.DEFAULT_MACHINE_TYPE,
            version=spec.version,
            labels=labels,
        )
        return {"op": "create", "ref": info.id}

    def start_delete(self, ref: str, *, request_id: str | None = None) -> dict:
        self._call(self.sandbox.delete_cluster, ref)
        return {"op": "delete", "ref": ref}

    def start_scale(self, ref: str, node_count: int, *, request_id: str | None = None) -> dict:
        self._call(self.sandbox.resize, ref, node_count)
        return {"op": "scale", "ref": ref, "nodes": node_count}

    def start_upgrade(self, ref: str, version: str) -> dict:
        info = self._call(self.sandbox.upgrade, ref, version)
        return {"op": "upgrade", "ref": ref, "version": info.version}

    def start_replace_node(self, ref: str, node: str) -> dict:
        new = self._call(self.sandbox.replace_node, ref, node)
        return {"op": "replace-node", "ref": ref, "old": node, "new": new}

    # -- polling -------------------------------------------------------------------------------------

    def poll(self, handle: dict) -> Progress:
        op, ref = handle.get("op"), handle.get("ref")
        if not isinstance(ref, str):
            raise PermanentProviderError(f"malformed sandbox handle: {handle!r}", provider=KIND)
        vc = self.sandbox.find(ref)
        if op == "delete":
            if vc is None:
                return Progress(True, 100, "deleted", ref)
            return Progress(
                False,
                self._elapsed_percent(vc.record.delete_at, self.sandbox.settings.delete_seconds),
                "deleting cluster",
                ref,
            )
        if vc is None:
            raise ClusterNotFound(f"sandbox cluster {ref} no longer exists", provider=KIND)
        if op == "create":
            if vc.record.phase == Phase.RUNNING:
                return Progress(True, 100, "cluster running", ref)
            if vc.record.phase == Phase.DELETING:
                raise PermanentProviderError(f"sandbox cluster {ref} is being deleted", provider=KIND)
            return Progress(
                False,
                self._elapsed_percent(vc.record.ready_at, self.sandbox.settings.create_seconds),
                "provisioning control plane and nodes",
                ref,
            )
        if op == "scale":
            done = len(vc.nodes()) == handle.get("nodes")
            return Progress(done, 100 if done else 50, "resizing node pool", ref)
        if op == "upgrade":
            done = vc.record.version == handle.get("version")
            return Progress(done, 100 if done else 50, "upgrading control plane and nodes", ref)
        if op == "replace-node":
            names = {meta(n)["name"] for n in vc.nodes()}
            done = handle.get("new") in names and handle.get("old") not in names
            return Progress(done, 100 if done else 50, "replacing node", ref)
        raise PermanentProviderError(f"unknown sandbox operation {op!r}", provider=KIND)

    def _elapsed_percent(self, finish_at: float | None, duration: float) -> int:
        if not finish_at or duration <= 0:
            return 99
        left = max(0.0, finish_at - self.sandbox.settings.clock())
        return max(1, min(99, int(100 * (1 - left / duration))))

    def probe(self) -> None:
        """The sandbox answers its health endpoint over CA-verified HTTPS (what `/readyz` asks)."""
        context = ssl.create_default_context(cadata=self.sandbox.ca_pem)
        # No proxy: the sandbox is reached directly, whatever HTTPS_PROXY says.
        opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
        )
        try:
            with opener.open(f"{self.sandbox.url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
                problem = f"HTTP {response.status}"
        except (OSError, ValueError) as e:
            problem = type(e).__name__
        raise TransientProviderError(
            f"the sandbox at {self.sandbox.url} does not answer ({problem})", provider=KIND
        )

    # -- reading -------------------------------------------------------------------------------------

    def kubeconfig(self, ref: str) -> str:
        return self._call(self.sandbox.kubeconfig, ref)

    def describe(self, ref: str) -> ClusterDescription:
        info = self._call(self.sandbox.info, ref)
        vc = self.sandbox.cluster(ref)
        nodes = tuple(
            NodeInfo(
                name=meta(n)["name"],
                ready=any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (n.get("status") or {}).get("conditions") or []
                ),
                version=((n.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", ""),
                machine_type=(meta(n).get("labels") or {}).get("node.kubernetes.io/instance-type", ""),
            )
            for n in vc.nodes()
        )
        state = {Phase.PROVISIONING: "provisioning", Phase.RUNNING: "running", Phase.DELETING: "deleting"}
        return ClusterDescription(
            ref=ref,
            name=info.name,
            state=state.get(Phase(info.phase), "error"),
            version=info.version,
            endpoint=info.endpoint,
            node_count=info.node_count,
            machine_type=info.machine_type,
            nodes=nodes,
        )
