"""The GKE provider: the provider protocol on top of `google-cloud-container` (ClusterManagerClient, REST).

Handles name a GKE long-running Operation plus the cluster, so `poll` needs nothing else:

    {"op": "create", "operation": "operation-…" | None, "cluster": "<name>"}
    {"op": "delete" | "scale", "operation": "…", "cluster": "<name>"}
    {"op": "upgrade", "stage": "master" | "nodes", "operation": "…", "cluster": "<name>", "version": "1.32"}

An upgrade is two GKE operations (control plane, then the node pool). `poll` moves from the first to the
second itself and records the second operation in the handle it was given; if that update is lost (a crash),
the next poll still finds the node pool upgrading, or upgraded, from the cluster's own state.

Cluster names are `<name>-<6 hex of sha256(request_id)>`, so a retried `start_create` meets its own cluster
(409 ALREADY_EXISTS → a handle that polls the cluster's status) and equal names from different workspaces
do not clash.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import google.auth.exceptions
import requests
import yaml
from google.api_core import exceptions as gexc
from google.cloud import container_v1
from google.oauth2.credentials import Credentials
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from providers.base import ClusterDescription, ClusterSpec, Progress
from providers.errors import (
    ClusterNotFound,
    InvalidClusterRequest,
    PermanentProviderError,
    ProviderConfigError,
    TransientProviderError,
)

KIND = "gke"
POOL = "default-pool"
REQUEST_LABEL = "kaas-request"
AUTH_PLUGIN = "gke-gcloud-auth-plugin"


class GkeSettings(BaseModel):
    """A `providers.yml` profile of kind gke. Secrets are never inline: `token_env` or `token_file` names
    where a Google OAuth access token is found."""

    model_config = ConfigDict(extra="forbid")

    project: str = Field(min_length=1)
    location: str = Field(min_length=1)
    network: str | None = None
    machine_type: str = "e2-standard-4"
    versions: list[str] = Field(default_factory=lambda: ["1.30", "1.31", "1.32", "1.33"], min_length=1)
    machine_types: list[str] = Field(
        default_factory=lambda: [
            "e2-medium",
            "e2-standard-2",
            "e2-standard-4",
            "e2-standard-8",
            "e2-standard-16",
            "n2-standard-2",
            "n2-standard-4",
            "n2-standard-8",
        ],
        min_length=1,
    )
    api_endpoint: str = "container.googleapis.com"
    token_env: str | None = None
    token_file: str | None = None
    kubeconfig_auth: Literal["exec", "token"] = "exec"
    timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("versions")
    @classmethod
    def _minors(cls, value: list[str]) -> list[str]:
        for v in value:
            if not re.fullmatch(r"\d+\.\d+", v):
                raise ValueError(f"{v!r} is not a Kubernetes minor like 1.32")
        return sorted(value, key=lambda v: tuple(int(p) for p in v.split(".")))

    @field_validator("api_endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if not re.fullmatch(r"(https?://)?[A-Za-z0-9.\-\[\]:]+/?", value):
            raise ValueError(f"{value!r} is not a host[:port] or http(s)://host[:port]")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _consistent(self) -> GkeSettings:
        if self.machine_type not in self.machine_types:
            raise ValueError(f"machine_type: {self.machine_type!r} is not in machine_types")
        if not self.token_env and not self.token_file:
            raise ValueError("token_env or token_file: one must name where the access token comes from")
        if self.token_env and self.token_file:
            raise ValueError("token_env, token_file: set only one")
        return self


def _settings_error(e: ValidationError) -> str:
    parts = []
    for err in e.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "invalid gke settings: " + "; ".join(parts)


def from_profile(settings: Mapping, *, env: Mapping[str, str]) -> GkeProvider:
    """Build a provider from a profile's settings; the access token is read from `env` or a file now."""
    try:
        parsed = GkeSettings.model_validate(dict(settings))
    except ValidationError as e:
        raise ProviderConfigError(_settings_error(e), provider=KIND) from e
    if parsed.token_env:
        token = (env.get(parsed.token_env) or "").strip()
        if not token:
            raise ProviderConfigError(
                f"token_env: environment variable {parsed.token_env} is not set or empty", provider=KIND
            )
    else:
        path = Path(os.path.expanduser(parsed.token_file or ""))
        try:
            token = path.read_text().strip()
        except OSError as e:
            raise ProviderConfigError(f"token_file: cannot read {path}: {e.strerror}", provider=KIND) from e
        if not token:
            raise ProviderConfigError(f"token_file: {path} is empty", provider=KIND)
    return GkeProvider(parsed, token)


def cluster_name(spec: ClusterSpec) -> str:
    """`<name>-<6 hex>`; GKE allows 40 characters, lowercase, starting with a letter."""
    digest = hashlib.sha256((spec.request_id or spec.name).encode()).hexdigest()[:6]
    base = re.sub(r"[^a-z0-9-]", "-", spec.name.lower()).strip("-")[:33].rstrip("-") or "kaas"
    if not base[0].isalpha():
        base = ("k" + base)[:33].rstrip("-")
    return f"{base}-{digest}"


def _google_message(e: gexc.GoogleAPICallError) -> tuple[str, str]:
    """Google's own error message and status name, without the client's "METHOD url:" prefix."""
    response = getattr(e, "response", None)
    if response is not None:
        try:
            err = response.json().get("error") or {}
            if err.get("message"):
                return str(err["message"]), str(err.get("status") or "")
        except (ValueError, AttributeError):
            pass
    return str(e.message), ""


def _minor(version: str) -> str:
    m = re.match(r"^v?(\d+)\.(\d+)", version or "")
    return f"{m.group(1)}.{m.group(2)}" if m else version


class GkeProvider:
    """Provider adapter for Google Kubernetes Engine (one project and location per profile)."""

    kind = KIND

    def __init__(self, settings: GkeSettings, token: str):
        self.settings = settings
        self._token = token
        self.client = container_v1.ClusterManagerClient(
            transport="rest",
            client_options={"api_endpoint": settings.api_endpoint},
            credentials=Credentials(token),
        )

    @property
    def _parent(self) -> str:
        return f"projects/{self.settings.project}/locations/{self.settings.location}"

    def _ref(self, name: str) -> str:
        return f"{self._parent}/clusters/{name}"

    def _name(self, ref: str) -> str:
        prefix = f"{self._parent}/clusters/"
        if ref.startswith(prefix) and "/" not in ref[len(prefix) :]:
            return ref[len(prefix) :]
        if re.fullmatch(r"[a-z][-a-z0-9]{0,39}", ref):
            return ref
        raise PermanentProviderError(f"{ref!r} is not a cluster of {self._parent}", provider=KIND)

    def versions(self) -> list[str]:
        return list(self.settings.versions)

    def machine_types(self) -> list[str]:
        return list(self.settings.machine_types)

    def probe(self) -> None:
        self._call("list_clusters", parent=self._parent)

    def _call(self, method: str, **request):
        fn = getattr(self.client, method)
        try:
            return fn(request=request, retry=None, timeout=self.settings.timeout_seconds)
        except gexc.NotFound as e:
            raise ClusterNotFound(_google_message(e)[0], provider=KIND) from e
        except (gexc.TooManyRequests, gexc.ServerError, gexc.DeadlineExceeded, gexc.RetryError) as e:
            raise TransientProviderError(_google_message(e)[0], provider=KIND) from e
        except gexc.GoogleAPICallError as e:
            message, status = _google_message(e)
            if status == "FAILED_PRECONDITION" or isinstance(e, gexc.FailedPrecondition):
                # GKE refuses while another operation runs on the cluster: a cluster still settling.
                raise TransientProviderError(message, provider=KIND) from e
            if isinstance(e, gexc.BadRequest):
                raise InvalidClusterRequest(message, provider=KIND) from e
            raise PermanentProviderError(message, provider=KIND) from e
        except google.auth.exceptions.RefreshError as e:
            # AuthorizedSession met 401 and a bare access token cannot be refreshed.
            raise PermanentProviderError(
                "Google rejected the access token (401 UNAUTHENTICATED) and it cannot be refreshed: "
                "supply a fresh token through token_env or token_file",
                provider=KIND,
            ) from e
        except requests.RequestException as e:
            raise TransientProviderError(
                f"cannot reach {self.settings.api_endpoint}: {type(e).__name__}", provider=KIND
            ) from e

    # -- starting ------------------------------------------------------------------------------------

    def start_create(self, spec: ClusterSpec) -> dict:
        version = _minor(spec.version)
        if version not in self.settings.versions:
            raise InvalidClusterRequest(
                f"version {spec.version!r} is not offered; choose one of {', '.join(self.settings.versions)}",
                provider=KIND,
            )
        machine = spec.machine_type or self.settings.machine_type
        if machine not in self.settings.machine_types:
            raise InvalidClusterRequest(
                f"machine type {machine!r} is not offered; "
                f"choose one of {', '.join(self.settings.machine_types)}",
                provider=KIND,
            )
        name = cluster_name(spec)
        labels = {k: v for k, v in spec.labels.items() if re.fullmatch(r"[a-z][-_a-z0-9]{0,62}", k)}
        if spec.request_id:
            labels[REQUEST_LABEL] = hashlib.sha256(spec.request_id.encode()).hexdigest()[:16]
        cluster = {
            "name": name,
            "initial_cluster_version": version,
            "resource_labels": labels,
            "node_pools": [
                {"name": POOL, "initial_node_count": spec.node_count, "config": {"machine_type": machine}}
            ],
        }
        if self.settings.network:
            cluster["network"] = self.settings.network
        try:
            op = self._call("create_cluster", parent=self._parent, cluster=cluster)
        except PermanentProviderError as e:
            if not isinstance(e.__cause__, gexc.Conflict):
                raise
            # ALREADY_EXISTS: our own earlier attempt (the name carries the request id); follow that cluster.
            self._call("get_cluster", name=self._ref(name))
            return {"op": "create", "operation": None, "cluster": name}
        return {"op": "create", "operation": op.name, "cluster": name}

    def start_delete(self, ref: str, *, request_id: str | None = None) -> dict:
        name = self._name(ref)
        op = self._call("delete_cluster", name=self._ref(name))
        return {"op": "delete", "operation": op.name, "cluster": name}

    def start_scale(self, ref: str, node_count: int, *, request_id: str | None = None) -> dict:
        name = self._name(ref)
        op = self._call(
            "set_node_pool_size", name=f"{self._ref(name)}/nodePools/{POOL}", node_count=node_count
        )
        return {"op": "scale", "operation": op.name, "cluster": name, "nodes": node_count}

    def start_upgrade(self, ref: str, version: str) -> dict:
        name = self._name(ref)
        minor = _minor(version)
        if minor not in self.settings.versions:
            raise InvalidClusterRequest(
                f"version {version!r} is not offered; choose one of {', '.join(self.settings.versions)}",
                provider=KIND,
            )
        op = self._call("update_cluster", name=self._ref(name), update={"desired_master_version": minor})
        return {"op": "upgrade", "stage": "master", "operation": op.name, "cluster": name, "version": minor}

    def start_replace_node(self, ref: str, node: str) -> dict:
        raise PermanentProviderError(
            "GKE has no Kubernetes Engine API call to replace one node: nodes are Compute Engine "
            "instances of the node pool's managed instance group, "
            "and node auto-repair replaces unhealthy ones itself",
            provider=KIND,
        )

    # -- polling -------------------------------------------------------------------------------------

    def _operation(self, handle: dict):
        op = self._call("get_operation", name=f"{self._parent}/operations/{handle['operation']}")
        if op.status == container_v1.Operation.Status.DONE and op.error and op.error.message:
            raise PermanentProviderError(op.error.message, provider=KIND)
        return op

    @staticmethod
    def _percent(op) -> int:
        if op.status == container_v1.Operation.Status.DONE:
            return 100
        metrics = {m.name.lower(): m for m in op.progress.metrics}
        done, total = metrics.get("nodes done"), metrics.get("nodes total")
        if done is not None and total is not None and total.int_value > 0:
            return max(1, min(99, int(100 * done.int_value / total.int_value)))
        prog, scale = metrics.get("progress"), metrics.get("progress scale")
        if prog is not None:
            s = scale.double_value if scale is not None and scale.double_value > 0 else 1.0
            return max(1, min(99, int(100 * prog.double_value / s)))
        return 5 if op.status == container_v1.Operation.Status.PENDING else 50

    @staticmethod
    def _step(op) -> str:
        kind = container_v1.Operation.Type(op.operation_type).name.lower().replace("_", " ")
        return f"{kind}: {container_v1.Operation.Status(op.status).name.lower()}"

    def poll(self, handle: dict) -> Progress:
        op_kind, name = handle.get("op"), handle.get("cluster")
        if not isinstance(name, str) or op_kind not in ("create", "delete", "scale", "upgrade"):
            raise PermanentProviderError(f"malformed gke handle: {handle!r}", provider=KIND)
        ref = self._ref(name)
        if op_kind == "create" and not handle.get("operation"):
            return self._poll_cluster_status(name)
        if op_kind == "upgrade":
            return self._poll_upgrade(handle, name)
        op = self._operation(handle)
        done = op.status == container_v1.Operation.Status.DONE
        return Progress(done, self._percent(op), self._step(op), ref)

    def _poll_cluster_status(self, name: str) -> Progress:
        cluster = self._call("get_cluster", name=self._ref(name))
        status = container_v1.Cluster.Status
        if cluster.status == status.RUNNING:
            return Progress(True, 100, "cluster running", self._ref(name))
        if cluster.status in (status.ERROR, status.DEGRADED):
            raise PermanentProviderError(
                cluster.status_message or f"cluster {name} is {cluster.status.name}", provider=KIND
            )
        if cluster.status == status.STOPPING:
            raise PermanentProviderError(f"cluster {name} is being deleted", provider=KIND)
        return Progress(False, 50, f"cluster {cluster.status.name.lower()}", self._ref(name))

    def _poll_upgrade(self, handle: dict, name: str) -> Progress:
        ref, target = self._ref(name), handle.get("version", "")
        if handle.get("stage") == "master":
            op = self._operation(handle)
            if op.status != container_v1.Operation.Status.DONE:
                return Progress(False, self._percent(op) // 2, "upgrading control plane", ref)
        cluster = self._call("get_cluster", name=ref)
        pool = next((p for p in cluster.node_pools if p.name == POOL), None)
        if pool is None:
            raise PermanentProviderError(f"cluster {name} has no node pool {POOL}", provider=KIND)
        if _minor(pool.version) == target and pool.status == container_v1.NodePool.Status.RUNNING:
            return Progress(True, 100, "control plane and nodes upgraded", ref)
        if handle.get("stage") == "nodes" and handle.get("operation"):
            op = self._operation(handle)
            done = op.status == container_v1.Operation.Status.DONE
            if not done:
                return Progress(False, 50 + self._percent(op) // 2, "upgrading nodes", ref)
        if pool.status != container_v1.NodePool.Status.RUNNING:
            return Progress(False, 50, "upgrading nodes", ref)
        op = self._call(
            "update_node_pool",
            name=f"{ref}/nodePools/{POOL}",
            node_version=target,
            image_type=pool.config.image_type or "COS_CONTAINERD",
        )
        handle.update(stage="nodes", operation=op.name)
        return Progress(False, 50, "upgrading nodes", ref)

    # -- reading -------------------------------------------------------------------------------------

    def describe(self, ref: str) -> ClusterDescription:
        name = self._name(ref)
        c = self._call("get_cluster", name=self._ref(name))
        status = container_v1.Cluster.Status
        state = {
            status.PROVISIONING: "provisioning",
            status.RUNNING: "running",
            status.RECONCILING: "running",
            status.STOPPING: "deleting",
        }.get(c.status, "error")
        pool = next((p for p in c.node_pools if p.name == POOL), None)
        return ClusterDescription(
            ref=self._ref(name),
            name=c.name,
            state=state,
            version=_minor(c.current_master_version),
            endpoint=f"https://{c.endpoint}" if c.endpoint else "",
            node_count=c.current_node_count,
            machine_type=pool.config.machine_type if pool is not None else "",
        )

    def kubeconfig(self, ref: str) -> str:
        name = self._name(ref)
        c = self._call("get_cluster", name=self._ref(name))
        if not c.endpoint or not c.master_auth.cluster_ca_certificate:
            raise TransientProviderError(f"cluster {name} has no endpoint yet", provider=KIND)
        try:
            base64.b64decode(c.master_auth.cluster_ca_certificate, validate=True)
        except ValueError as e:
            raise PermanentProviderError(
                f"cluster {name} reports an invalid CA certificate", provider=KIND
            ) from e
        entry = f"gke_{self.settings.project}_{self.settings.location}_{name}"
        if self.settings.kubeconfig_auth == "token":
            user: dict = {"token": self._token}
        else:
            user = {
                "exec": {
                    "apiVersion": "client.authentication.k8s.io/v1beta1",
                    "command": AUTH_PLUGIN,
                    "installHint": "Install gke-gcloud-auth-plugin for use with kubectl",
                    "provideClusterInfo": True,
                    "interactiveMode": "IfAvailable",
                }
            }
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": entry,
                    "cluster": {
                        "server": f"https://{c.endpoint}",
                        "certificate-authority-data": c.master_auth.cluster_ca_certificate,
                    },
                }
            ],
            "users": [{"name": entry, "user": user}],
            "contexts": [{"name": entry, "context": {"cluster": entry, "user": entry}}],
            "current-context": entry,
            "preferences": {},
        }
        return yaml.safe_dump(doc, sort_keys=False)
