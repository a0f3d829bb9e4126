"""A small client for any cluster kaas holds a kubeconfig for, built on the official `kubernetes` package.

It speaks plain JSON to the API (discovery, get, list with pagination, server-side apply, create, delete),
so it works with built-in kinds and custom resources alike without generated model classes, and it maps every
failure onto `providers.kube.errors`: the runner then knows what to retry and what to report.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import urllib3
import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from providers.kube.errors import ClusterUnreachable, KubeError, UnknownKind

FIELD_MANAGER = "kaas"
LIST_PAGE = 500
"""Objects per list request: big clusters are read in pages instead of one response of many megabytes."""


@dataclass(frozen=True)
class Resource:
    """One kind a cluster serves, as its discovery documents describe it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    verbs: frozenset[str]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The URL path of the collection (or of one object when `name` is given)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{quote(name, safe='')}"
        return base


def _status_message(status: int, data: bytes) -> tuple[str, str]:
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("kind") == "Status":
        return str(body.get("message") or body.get("reason") or status), str(body.get("reason") or "")
    text = data[:300].decode("utf-8", "replace").strip()
    return (text or f"HTTP {status}"), ""


class KubeClient:
    """Talks to one cluster. Thread-safe; discovery is cached until `refresh_discovery()`."""

    def __init__(self, api: k8s.ApiClient, *, timeout: float = 30.0):
        self._api = api
        self._timeout = timeout
        self._lock = threading.Lock()
        self._resources: list[Resource] | None = None

    @classmethod
    def from_kubeconfig(cls, kubeconfig: str, *, timeout: float = 30.0) -> KubeClient:
        """A client for the current context of `kubeconfig` (text).

        The `kubernetes` loader keeps inline certificate data in private temporary files it removes at exit;
        tokens stay in memory.
        """
        try:
            data = yaml.safe_load(kubeconfig)
        except yaml.YAMLError as e:
            raise KubeError(f"the stored kubeconfig is not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise KubeError("the stored kubeconfig is not a mapping")
        try:
            api = k8s_config.new_client_from_config_dict(data)
        except Exception as e:  # the loader raises ConfigException, ValueError, KeyError on bad files
            raise KubeError(f"the stored kubeconfig can't be used: {e}") from None
        # Retries are ours to decide (the runner backs off); the client must not retry silently for minutes.
        api.rest_client.pool_manager.connection_pool_kw["retries"] = False
        return cls(api, timeout=timeout)

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- raw requests --------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: dict | None = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> dict | None:
        """One API call; the decoded JSON body, or None for 404. Errors become `providers.kube.errors`."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        method, url, headers, _, _ = self._api.param_serialize(
            method, path, query_params=query or [], header_params=headers, auth_settings=["BearerToken"]
        )
        try:
            response = self._api.call_api(
                method,
                url,
                header_params=headers,
                # The REST layer serialises JSON bodies itself; other types (apply YAML) go as text.
                body=body if body is None or content_type == "application/json" else json.dumps(body),
                _request_timeout=timeout or self._timeout,
            )
            data = response.read()
        except k8s.ApiException as e:  # TLS failures surface as status 0
            raise ClusterUnreachable(f"the cluster's API did not answer: {e.reason}") from None
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise ClusterUnreachable(f"the cluster's API did not answer: {type(e).__name__}") from None
        status = response.status
        if 200 <= status < 300:
            return json.loads(data) if data else {}
        if status == 404:
            return None
        message, reason = _status_message(status, data)
        if status == 429 or status >= 500:
            retry_after = response.getheader("Retry-After")
            raise ClusterUnreachable(
                f"the cluster's API is busy ({status}): {message}",
                retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
            )
        if status in (401, 403):
            message = f"the cluster refused kaas's credentials: {message}"
        raise KubeError(message, status=status, reason=reason)

    # -- discovery -----------------------------------------------------------------------------------

    def refresh_discovery(self) -> None:
        with self._lock:
            self._resources = None

    def resources(self) -> list[Resource]:
        """Every top-level kind the cluster serves (subresources left out), preferred versions first."""
        with self._lock:
            if self._resources is not None:
                return self._resources
        found: list[Resource] = []
        core = self.request("GET", "/api/v1") or {}
        found.extend(self._parse_resource_list("", "v1", core))
        groups = self.request("GET", "/apis") or {}
        for group in groups.get("groups") or []:
            preferred = (group.get("preferredVersion") or {}).get("version")
            versions = [v.get("version") for v in group.get("versions") or [] if v.get("version")]
            for version in sorted(versions, key=lambda v: v != preferred):
                listing = self.request("GET", f"/apis/{group['name']}/{version}")
                if listing:
                    found.extend(self._parse_resource_list(group["name"], version, listing))
        with self._lock:
            self._resources = found
        return found

    @staticmethod
    def _parse_resource_list(group: str, version: str, listing: dict) -> Iterator[Resource]:
        for item in listing.get("resources") or []:
            name = str(item.get("name", ""))
            if not name or "/" in name:
                continue
            yield Resource(
                group=group,
                version=version,
                kind=str(item.get("kind", "")),
                plural=name,
                namespaced=bool(item.get("namespaced")),
                verbs=frozenset(item.get("verbs") or ()),
            )

    def resource_for(self, api_version: str, kind: str) -> Resource:
        """The served resource for an apiVersion and kind (discovery is refreshed once if missing)."""
        group, _, version = api_version.rpartition("/")
        for attempt in range(2):
            for resource in self.resources():
                if resource.kind == kind and resource.group == group and resource.version == version:
                    return resource
            if attempt == 0:
                self.refresh_discovery()
        raise UnknownKind(
            f"the cluster does not serve {kind} in {api_version}"
            + (" (is its CustomResourceDefinition installed?)" if group and "k8s.io" not in group else ""),
            status=404,
            reason="NotFound",
        )

    def resource_of(self, obj: dict) -> Resource:
        return self.resource_for(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))

    # -- objects -------------------------------------------------------------------------------------

    def get(self, resource: Resource, name: str, namespace: str | None = None) -> dict | None:
        return self.request("GET", resource.path(namespace, name))

    def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Iterator[dict]:
        """Every object of a kind, read page by page; list items get their apiVersion and kind back."""
        query: list[tuple[str, str]] = [("limit", str(LIST_PAGE))]
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        token = ""
        while True:
            paged = query + ([("continue", token)] if token else [])
            page = self.request("GET", resource.path(namespace), query=paged)
            if page is None:
                return
            for item in page.get("items") or []:
                item.setdefault("apiVersion", resource.api_version)
                item.setdefault("kind", resource.kind)
                yield item
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return

    def apply(self, obj: dict, *, force: bool = True, dry_run: bool = False) -> dict:
        """Server-side apply of `obj` as field manager `kaas` (create or update, idempotent)."""
        resource = self.resource_of(obj)
        meta = obj.get("metadata") or {}
        query = [("fieldManager", FIELD_MANAGER), ("force", "true" if force else "false")]
        if dry_run:
            query.append(("dryRun", "All"))
        result = self.request(
            "PATCH",
            resource.path(meta.get("namespace"), str(meta.get("name", ""))),
            query=query,
            body=obj,
            content_type="application/apply-patch+yaml",
        )
        if result is None:
            raise KubeError(
                f"namespace `{meta.get('namespace')}` does not exist "
                f"(for {obj.get('kind')} {meta.get('name')})",
                status=404,
                reason="NotFound",
            )
        return result

    def create(self, obj: dict) -> dict | None:
        """Create `obj`; None when an object of that name already exists."""
        resource = self.resource_of(obj)
        namespace = (obj.get("metadata") or {}).get("namespace")
        try:
            return self.request("POST", resource.path(namespace), body=obj)
        except KubeError as e:
            if e.status == 409 and e.reason == "AlreadyExists":
                return None
            raise

    def delete(
        self, resource: Resource, name: str, namespace: str | None = None, *, propagation: str = "Background"
    ) -> bool:
        """Delete one object; False when it was already gone."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        return self.request("DELETE", resource.path(namespace, name), body=body) is not None
