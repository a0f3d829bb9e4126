"""The manual provider: clusters kaas did not create, adopted from a kubeconfig the owner pastes.

kaas never creates or deletes such clusters; "deleting" one only forgets it. Registration verifies the
cluster by calling its `/version` with the pasted credentials, after the safety checks of `kubeconfig.py`.
"""

from __future__ import annotations

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError

from providers import kubeconfig as checks
from providers.base import ClusterDescription, ClusterSpec, Progress
from providers.errors import PermanentProviderError, TransientProviderError

KIND = "manual"
TIMEOUT_SECONDS = 10


class ManualProvider:
    """Adopts existing clusters; `allow_private` permits loopback/private API addresses (local use)."""

    kind = KIND

    def __init__(self, *, allow_private: bool = False):
        self.allow_private = allow_private

    def versions(self) -> list[str]:
        return []

    def machine_types(self) -> list[str]:
        return []

    def verify(self, kubeconfig: str) -> ClusterDescription:
        """Check the kubeconfig is safe, then ask the cluster its version and node count."""
        try:
            doc = yaml.safe_load(kubeconfig)
        except yaml.YAMLError as e:
            raise PermanentProviderError("the kubeconfig is not valid YAML", provider=KIND) from e
        found = checks.problems(doc)
        if found:
            raise PermanentProviderError("; ".join(found), provider=KIND)
        url = checks.server_url(doc)
        refused = checks.address_problem(url, allow_private=self.allow_private)
        if refused:
            raise PermanentProviderError(refused, provider=KIND)
        try:
            api = k8s_config.new_client_from_config_dict(doc)
        except (k8s_config.ConfigException, ValueError, TypeError) as e:
            raise PermanentProviderError(f"the kubeconfig cannot be used: {e}", provider=KIND) from e
        with api:
            try:
                info = k8s.VersionApi(api).get_code(_request_timeout=TIMEOUT_SECONDS)
            except ApiException as e:
                if e.status in (401, 403):
                    raise PermanentProviderError(
                        f"the cluster rejected the kubeconfig's credentials ({e.status} {e.reason})",
                        provider=KIND,
                    ) from e
                raise TransientProviderError(
                    f"the cluster answered {e.status} {e.reason}", provider=KIND
                ) from e
            except (HTTPError, OSError) as e:
                raise PermanentProviderError(f"cannot reach {url}: {type(e).__name__}", provider=KIND) from e
            try:
                nodes = len(k8s.CoreV1Api(api).list_node(_request_timeout=TIMEOUT_SECONDS).items)
            except (ApiException, HTTPError, OSError):
                # Registering needs only /version; a kubeconfig scoped to one namespace cannot list nodes.
                nodes = 0
        minor = f"{info.major}.{info.minor.rstrip('+')}"
        return ClusterDescription(
            ref=url, name="", state="running", version=minor, endpoint=url, node_count=nodes, machine_type=""
        )

    def probe(self) -> None:
        """Registered clusters are reached with their own kubeconfigs, checked when registered."""

    def start_create(self, spec: ClusterSpec) -> dict:
        raise PermanentProviderError("manual clusters are registered, not created", provider=KIND)

    def start_delete(self, ref: str, *, request_id: str | None = None) -> dict:
        return {"op": "forget", "ref": ref}

    def start_scale(self, ref: str, node_count: int, *, request_id: str | None = None) -> dict:
        raise PermanentProviderError("kaas cannot scale a cluster it did not create", provider=KIND)

    def start_upgrade(self, ref: str, version: str) -> dict:
        raise PermanentProviderError("kaas cannot upgrade a cluster it did not create", provider=KIND)

    def start_replace_node(self, ref: str, node: str) -> dict:
        raise PermanentProviderError(
            "kaas cannot replace nodes of a cluster it did not create", provider=KIND
        )

    def poll(self, handle: dict) -> Progress:
        return Progress(True, 100, "forgotten", handle.get("ref"))

    def kubeconfig(self, ref: str) -> str:
        raise PermanentProviderError("the kubeconfig of a registered cluster is kept by kaas", provider=KIND)

    def describe(self, ref: str) -> ClusterDescription:
        raise PermanentProviderError("describe a registered cluster through its kubeconfig", provider=KIND)
