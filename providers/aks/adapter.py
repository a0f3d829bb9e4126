"""The AKS provider: the provider protocol on Azure Kubernetes Service, through azure-mgmt-containerservice.

A cluster's ref is its managed-cluster name inside the profile's resource group. Long operations are ARM
long-running operations; a handle carries the SDK poller's continuation token, and `poll` rebuilds the
poller from it and advances it by exactly one status request (`_OneStepPolling`), so a new process can
resume any saved handle without blocking. `start_create` names the cluster after a hash of the request id
and looks the name up first, so a retried start adopts the cluster the first attempt began.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.mgmt.containerservice import ContainerServiceClient
from azure.mgmt.core.polling.arm_polling import ARMPolling
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from providers.base import ClusterDescription, ClusterSpec, Progress
from providers.errors import (
    ClusterNotFound,
    InvalidClusterRequest,
    PermanentProviderError,
    ProviderConfigError,
    TransientProviderError,
)

KIND = "aks"
POOL = "nodepool1"
DEFAULT_VERSIONS = ["1.30", "1.31", "1.32", "1.33"]
DEFAULT_MACHINE_TYPES = ["Standard_B2s", "Standard_D2s_v3", "Standard_D4s_v3", "Standard_D8s_v3"]
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_INVALID_CODES = {"InvalidParameter", "BadRequest", "InvalidTemplate", "InvalidRequestContent"}
_STATES = {
    "Succeeded": "running",
    "Creating": "provisioning",
    "Updating": "provisioning",
    "Upgrading": "provisioning",
    "Scaling": "provisioning",
    "Starting": "provisioning",
    "Stopping": "provisioning",
    "Migrating": "provisioning",
    "Deleting": "deleting",
}
_STEPS = {
    "create": "provisioning control plane and nodes",
    "delete": "deleting cluster",
    "scale": "resizing node pool",
    "upgrade": "upgrading control plane and nodes",
}


class AksSettings(BaseModel):
    """One `providers.yml` profile of kind aks. Secrets are named (env var or file), never inlined."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subscription_id: str
    resource_group: str = Field(min_length=1, max_length=90)
    location: str = Field(min_length=1)
    arm_endpoint: str = "https://management.azure.com"
    ca_file: str | None = None
    """A PEM bundle to verify ARM's certificate with (tests, private clouds); the system store otherwise."""
    token_env: str | None = None
    token_file: str | None = None
    default_machine_type: str = "Standard_D2s_v3"
    versions: list[str] = Field(default_factory=lambda: list(DEFAULT_VERSIONS), min_length=1)
    machine_types: list[str] = Field(default_factory=lambda: list(DEFAULT_MACHINE_TYPES), min_length=1)
    node_resource_group: str | None = None
    max_retries: int = Field(default=3, ge=0, le=10)
    """How often the SDK retries 429/5xx/connection failures inside one call before kaas sees them."""

    @field_validator("subscription_id")
    @classmethod
    def _uuid(cls, v: str) -> str:
        if not _UUID.match(v):
            raise ValueError("must be a UUID")
        return v

    @field_validator("arm_endpoint")
    @classmethod
    def _https(cls, v: str) -> str:
        if not v.startswith("https://"):
            raise ValueError("must be an https:// URL")
        return v.rstrip("/")

    @model_validator(mode="after")
    def _one_token_source(self) -> AksSettings:
        if (self.token_env is None) == (self.token_file is None):
            raise ValueError("token_env or token_file: set exactly one")
        if self.default_machine_type not in self.machine_types:
            raise ValueError("default_machine_type must be one of machine_types")
        return self


class StaticTokenCredential:
    """An azure-core TokenCredential reading its bearer token from an env var or a file (on each call)."""

    def __init__(self, *, env_name: str | None, file: str | None, env: Mapping[str, str]):
        self._env_name, self._file, self._env = env_name, file, env
        self.read()

    def read(self) -> str:
        if self._env_name is not None:
            token = self._env.get(self._env_name, "").strip()
            if not token:
                raise ProviderConfigError(
                    f"aks profile: token_env: environment variable {self._env_name} is unset or empty",
                    provider=KIND,
                )
            return token
        try:
            token = Path(self._file or "").read_text().strip()
        except OSError as e:
            raise ProviderConfigError(
                f"aks profile: token_file: cannot read {self._file}: {e.strerror}", provider=KIND
            ) from e
        if not token:
            raise ProviderConfigError(f"aks profile: token_file: {self._file} is empty", provider=KIND)
        return token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self.read(), int(time.time()) + 3600)


class _OneStepPolling(ARMPolling):
    """ARM polling that makes one status request per `run()` instead of looping until the end."""

    def _poll(self) -> None:
        if not self.finished():
            self.update_status()
        if self.finished():
            super()._poll()


def cluster_name(spec: ClusterSpec) -> str:
    """The managed-cluster name: the spec's name plus a short hash of its request id (AKS allows 63)."""
    base = re.sub(r"[^a-zA-Z0-9-]", "-", spec.name).strip("-")[:50] or "kaas"
    if not spec.request_id:
        return base
    return f"{base}-{hashlib.sha256(spec.request_id.encode()).hexdigest()[:8]}"


def _message(e: HttpResponseError) -> str:
    error = getattr(e, "error", None)
    if error is not None and getattr(error, "message", None):
        return str(error.message)
    return e.message or str(e)


def _code(e: HttpResponseError) -> str:
    error = getattr(e, "error", None)
    return str(getattr(error, "code", "") or "")


def translate(e: AzureError) -> Exception:
    """The provider error for an azure-core exception (raise it `from e`)."""
    if isinstance(e, ResourceNotFoundError):
        return ClusterNotFound(_message(e), provider=KIND)
    if isinstance(e, (ServiceRequestError, ServiceResponseError)):
        return TransientProviderError(f"cannot reach Azure Resource Manager: {e.message}", provider=KIND)
    if isinstance(e, ClientAuthenticationError):
        return PermanentProviderError(_message(e), provider=KIND)
    if isinstance(e, HttpResponseError):
        status = e.status_code or 0
        if status == 429 or status >= 500:
            return TransientProviderError(_message(e), provider=KIND)
        if status == 409 and _code(e) == "OperationNotAllowed":
            return TransientProviderError(_message(e), provider=KIND)
        if status == 400 and _code(e) in _INVALID_CODES:
            return InvalidClusterRequest(_message(e), provider=KIND)
        return PermanentProviderError(_message(e), provider=KIND)
    return PermanentProviderError(str(e), provider=KIND)


def _minor(version: str | None) -> str:
    parts = (version or "").split(".")
    return ".".join(parts[:2])


class AksProvider:
    """Provider adapter for Azure Kubernetes Service managed clusters in one resource group."""

    kind = KIND

    def __init__(self, settings: AksSettings, *, env: Mapping[str, str] | None = None):
        self.settings = settings
        if settings.ca_file is not None and not Path(settings.ca_file).is_file():
            raise ProviderConfigError(
                f"aks profile: ca_file: {settings.ca_file} is not a file", provider=KIND
            )
        self.credential = StaticTokenCredential(
            env_name=settings.token_env, file=settings.token_file, env=os.environ if env is None else env
        )
        kwargs: dict[str, Any] = {"retry_total": settings.max_retries, "polling_interval": 1}
        if settings.ca_file is not None:
            kwargs["connection_verify"] = settings.ca_file
        self.client = ContainerServiceClient(
            self.credential, settings.subscription_id, base_url=settings.arm_endpoint, **kwargs
        )

    def close(self) -> None:
        self.client.close()

    @property
    def _rg(self) -> str:
        return self.settings.resource_group

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AzureError as e:
            raise translate(e) from e

    def probe(self) -> None:
        self._call(lambda: next(iter(self.client.managed_clusters.list_by_resource_group(self._rg)), None))

    def _polling(self) -> _OneStepPolling:
        return _OneStepPolling(0, path_format_arguments={"endpoint": self.settings.arm_endpoint})

    def versions(self) -> list[str]:
        return list(self.settings.versions)

    def machine_types(self) -> list[str]:
        return list(self.settings.machine_types)

    # -- starting ------------------------------------------------------------------------------------

    def _get(self, name: str):
        return self._call(self.client.managed_clusters.get, self._rg, name)

    def _exists(self, name: str) -> bool:
        try:
            self._get(name)
        except ClusterNotFound:
            return False
        return True

    def start_create(self, spec: ClusterSpec) -> dict:
        name = cluster_name(spec)
        if spec.version not in self.settings.versions:
            raise InvalidClusterRequest(
                f"unsupported Kubernetes version {spec.version!r}; choose one of "
                f"{', '.join(self.settings.versions)}",
                provider=KIND,
            )
        machine_type = spec.machine_type or self.settings.default_machine_type
        if machine_type not in self.settings.machine_types:
            raise InvalidClusterRequest(
                f"unknown machine type {machine_type!r}; "
                f"choose one of {', '.join(self.settings.machine_types)}",
                provider=KIND,
            )
        if spec.request_id and self._exists(name):
            # A retried start (the first attempt's handle was never saved): follow the existing cluster.
            return {"op": "create", "cluster": name, "token": None}
        properties: dict[str, Any] = {
            "dnsPrefix": name[:54],
            "kubernetesVersion": spec.version,
            "agentPoolProfiles": [
                {
                    "name": POOL,
                    "count": spec.node_count,
                    "vmSize": machine_type,
                    "orchestratorVersion": spec.version,
                    "mode": "System",
                    "type": "VirtualMachineScaleSets",
                    "osType": "Linux",
                }
            ],
        }
        if self.settings.node_resource_group:
            properties["nodeResourceGroup"] = self.settings.node_resource_group
        body = {
            "location": self.settings.location,
            "tags": {**spec.labels, **({"kaas-request-id": spec.request_id} if spec.request_id else {})},
            "identity": {"type": "SystemAssigned"},
            "properties": properties,
        }
        poller = self._call(
            self.client.managed_clusters.begin_create_or_update, self._rg, name, body, polling=self._polling()
        )
        return {"op": "create", "cluster": name, "token": poller.continuation_token()}

    def start_delete(self, ref: str, *, request_id: str | None = None) -> dict:
        poller = self._call(self.client.managed_clusters.begin_delete, self._rg, ref, polling=self._polling())
        return {"op": "delete", "cluster": ref, "token": poller.continuation_token()}

    def start_scale(self, ref: str, node_count: int, *, request_id: str | None = None) -> dict:
        # Read-modify-write: the PUT replaces the pool, so send back everything Azure reported.
        body = self._call(self.client.agent_pools.get, self._rg, ref, POOL).as_dict()
        body.setdefault("properties", {})["count"] = node_count
        poller = self._call(
            self.client.agent_pools.begin_create_or_update, self._rg, ref, POOL, body, polling=self._polling()
        )
        return {"op": "scale", "cluster": ref, "nodes": node_count, "token": poller.continuation_token()}

    def start_upgrade(self, ref: str, version: str) -> dict:
        if version not in self.settings.versions:
            raise InvalidClusterRequest(
                f"unsupported Kubernetes version {version!r}; "
                f"choose one of {', '.join(self.settings.versions)}",
                provider=KIND,
            )
        # Read-modify-write, as `az aks upgrade` does: a PUT replaces the whole managed cluster.
        body = self._get(ref).as_dict()
        props = body.setdefault("properties", {})
        props["kubernetesVersion"] = version
        for pool in props.get("agentPoolProfiles") or []:
            pool["orchestratorVersion"] = version
        poller = self._call(
            self.client.managed_clusters.begin_create_or_update, self._rg, ref, body, polling=self._polling()
        )
        return {"op": "upgrade", "cluster": ref, "version": version, "token": poller.continuation_token()}

    def start_replace_node(self, ref: str, node: str) -> dict:
        raise PermanentProviderError(
            "AKS does not replace a single node through this adapter; scale the node pool instead",
            provider=KIND,
        )

    # -- polling -------------------------------------------------------------------------------------

    def _resume(self, handle: dict):
        op, name, token = handle.get("op"), handle["cluster"], handle["token"]
        polling = self._polling()
        if op in ("create", "upgrade"):
            return self.client.managed_clusters.begin_create_or_update(
                self._rg, name, None, continuation_token=token, polling=polling
            )
        if op == "scale":
            return self.client.agent_pools.begin_create_or_update(
                self._rg, name, POOL, None, continuation_token=token, polling=polling
            )
        return self.client.managed_clusters.begin_delete(
            self._rg, name, continuation_token=token, polling=polling
        )

    def poll(self, handle: dict) -> Progress:
        op, name = handle.get("op"), handle.get("cluster")
        if op not in _STEPS or not isinstance(name, str) or "token" not in handle:
            raise PermanentProviderError(f"malformed aks handle: {handle!r}", provider=KIND)
        step = _STEPS[op]
        if handle["token"] is None:
            return self._poll_by_state(name, step)
        try:
            poller = self._resume(handle)
            poller.wait()
            status = poller.status()
        except AzureError as e:
            raise translate(e) from e
        except ValueError as e:
            raise PermanentProviderError(f"malformed aks handle token: {e}", provider=KIND) from e
        if status.lower() == "succeeded":
            return Progress(True, 100, step.replace("ing", "ed", 1) if op == "delete" else step, name)
        if status.lower() in ("failed", "canceled", "cancelled"):
            raise PermanentProviderError(f"AKS operation {op} on {name} ended {status}", provider=KIND)
        return Progress(False, 50, step, name)

    def _poll_by_state(self, name: str, step: str) -> Progress:
        state = (self._get(name).as_dict().get("properties") or {}).get("provisioningState", "")
        if state == "Succeeded":
            return Progress(True, 100, step, name)
        if state in ("Failed", "Canceled"):
            raise PermanentProviderError(f"AKS cluster {name} provisioning ended {state}", provider=KIND)
        return Progress(False, 50, step, name)

    # -- reading -------------------------------------------------------------------------------------

    def kubeconfig(self, ref: str) -> str:
        result = self._call(self.client.managed_clusters.list_cluster_user_credentials, self._rg, ref)
        configs = result.as_dict().get("kubeconfigs") or []
        if not configs or not configs[0].get("value"):
            raise PermanentProviderError(f"AKS returned no user kubeconfig for {ref}", provider=KIND)
        value = configs[0]["value"]
        return (base64.b64decode(value) if isinstance(value, str) else bytes(value)).decode()

    def describe(self, ref: str) -> ClusterDescription:
        doc = self._get(ref).as_dict()
        props = doc.get("properties") or {}
        pools = props.get("agentPoolProfiles") or []
        fqdn = props.get("fqdn") or props.get("privateFQDN") or ""
        return ClusterDescription(
            ref=ref,
            name=doc.get("name", ref),
            state=_STATES.get(props.get("provisioningState", ""), "error"),
            version=_minor(props.get("currentKubernetesVersion") or props.get("kubernetesVersion")),
            endpoint=f"https://{fqdn}:443" if fqdn else "",
            node_count=sum(int(p.get("count") or 0) for p in pools),
            machine_type=(pools[0].get("vmSize") or "") if pools else "",
        )


def from_profile(settings: Mapping[str, Any], *, env: Mapping[str, str]) -> AksProvider:
    """An `AksProvider` from a `providers.yml` profile; ProviderConfigError names any bad field."""
    try:
        parsed = AksSettings.model_validate(dict(settings))
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'profile'}: {err['msg']}" for err in e.errors()
        )
        raise ProviderConfigError(f"aks profile: {problems}", provider=KIND) from e
    return AksProvider(parsed, env=env)
