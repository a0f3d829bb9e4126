"""API discovery documents (`/api`, `/apis`, `/apis/<group>`, `/api[s]/<gv>`), built from a `Registry`.

Two forms are offered, as by a real API server:

* the legacy one: `APIVersions`, `APIGroupList`, `APIGroup` and one `APIResourceList` per group-version (the
  client then makes one request per group-version);
* aggregated discovery (`APIGroupDiscoveryList`, `apidiscovery.k8s.io/v2` or `v2beta1`), answered on `/api`
  and `/apis` when the Accept header asks for it (`negotiate_discovery`), with the Content-Type
  `aggregated_content_type(version)`. It holds every resource of every group in one response.

Subresources are listed without shortNames/categories: kubectl warns about ambiguous short names otherwise.
All functions are pure and return fresh dicts.
"""

from __future__ import annotations

import base64
import hashlib

from providers.sandbox.resources import METRICS_GROUP, Registry, ResourceType

SUBRESOURCE_VERBS = ["get", "patch", "update"]
SCALE_GROUP, SCALE_VERSION, SCALE_KIND = "autoscaling", "v1", "Scale"
DISCOVERY_GROUP = "apidiscovery.k8s.io"
AGGREGATED_KIND = "APIGroupDiscoveryList"


def core_versions(server_address: str = "127.0.0.1:6443") -> dict:
    """`GET /api`: the legacy `APIVersions` of the core group."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def _group_version(group: str, version: str) -> dict:
    return {"groupVersion": f"{group}/{version}", "version": version}


def _group(name: str, versions: list[str]) -> dict:
    return {
        "name": name,
        "versions": [_group_version(name, v) for v in versions],
        "preferredVersion": _group_version(name, versions[0]),
    }


def api_group_list(registry: Registry) -> dict:
    """`GET /apis`: every named group, its versions and the preferred one (legacy `APIGroupList`)."""
    groups = [_group(name, versions) for name, versions in registry.group_versions().items() if name]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(registry: Registry, group: str) -> dict | None:
    """`GET /apis/<group>`: the `APIGroup`, or None when the group is not served (the core group never is)."""
    versions = registry.group_versions().get(group) if group else None
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(group, versions)}


def storage_version_hash(rt: ResourceType) -> str:
    """An opaque token that changes with the kind's storage version, like the API server's (base64)."""
    digest = hashlib.sha256(f"{rt.group}/{rt.version}/{rt.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


def _resource_entry(rt: ResourceType) -> dict:
    entry: dict = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    if rt.group != METRICS_GROUP:
        entry["storageVersionHash"] = storage_version_hash(rt)
    return entry


def _subresource_entry(rt: ResourceType, sub: str) -> dict:
    entry: dict = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced}
    if sub == "scale":
        entry.update(group=SCALE_GROUP, version=SCALE_VERSION, kind=SCALE_KIND)
    else:
        entry["kind"] = rt.kind
    entry["verbs"] = _subresource_verbs(rt)
    return entry


def _subresource_verbs(rt: ResourceType) -> list[str]:
    return [v for v in SUBRESOURCE_VERBS if v == "get" or v in rt.verbs]


def api_resource_list(registry: Registry, group: str, version: str) -> dict | None:
    """`GET /api/v1` or `/apis/<group>/<version>`: the `APIResourceList`, or None when not served."""
    types = registry.in_group_version(group, version)
    if not types:
        return None
    resources = []
    for rt in types:
        resources.append(_resource_entry(rt))
        resources.extend(_subresource_entry(rt, sub) for sub in rt.subresources)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": resources,
    }


# -- aggregated discovery ---------------------------------------------------------------------------------


def aggregated_content_type(version: str = "v2") -> str:
    """Content-Type of an aggregated discovery response (`version` is ``v2`` or ``v2beta1``)."""
    return f"application/json;g={DISCOVERY_GROUP};v={version};as={AGGREGATED_KIND}"


def _media_ranges(accept: str) -> list[tuple[str, dict[str, str], float]]:
    """Accept header → [(media type, parameters, q)], in the order given (stable-sorted by q)."""
    out = []
    for part in (accept or "").split(","):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        if not media:
            continue
        params: dict[str, str] = {}
        for p in pieces[1:]:
            key, _, value = p.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 1.0
        out.append((media, params, q))
    out.sort(key=lambda r: -r[2])
    return [r for r in out if r[2] > 0]


def negotiate_discovery(accept: str) -> str:
    """Which discovery form an Accept header asks for first: ``v2``, ``v2beta1`` or ``legacy``.

    Only JSON is offered, so protobuf ranges are skipped; a plain JSON or wildcard range means legacy.
    """
    for media, params, _q in _media_ranges(accept):
        if media not in ("application/json", "application/*", "*/*"):
            continue
        if params.get("as") == AGGREGATED_KIND and params.get("g") == DISCOVERY_GROUP:
            if params.get("v") in ("v2", "v2beta1"):
                return params["v"]
            continue
        if "as" in params:
            continue
        return "legacy"
    return "legacy"


def _kind_ref(group: str, version: str, kind: str) -> dict:
    return {"group": group, "version": version, "kind": kind}


def _aggregated_resource(rt: ResourceType) -> dict:
    entry: dict = {
        "resource": rt.plural,
        "responseKind": _kind_ref(rt.group, rt.version, rt.kind),
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        entry["shortNames"] = list(rt.short_names)
    if rt.categories:
        entry["categories"] = list(rt.categories)
    subs = []
    for sub in rt.subresources:
        kind = _kind_ref(SCALE_GROUP, SCALE_VERSION, SCALE_KIND) if sub == "scale" else entry["responseKind"]
        subs.append({"subresource": sub, "responseKind": dict(kind), "verbs": _subresource_verbs(rt)})
    if subs:
        entry["subresources"] = subs
    return entry


def aggregated_discovery(registry: Registry, *, core: bool, version: str = "v2") -> dict:
    """The `APIGroupDiscoveryList` for `/api` (``core=True``: the core group only) or `/apis` (every named
    group), versions preferred first."""
    items = []
    for group, versions in registry.group_versions().items():
        if (group == "") != core:
            continue
        entries = []
        for v in versions:
            resources = [_aggregated_resource(rt) for rt in registry.in_group_version(group, v)]
            entries.append({"version": v, "resources": resources, "freshness": "Current"})
        metadata: dict = {"name": group, "creationTimestamp": None} if group else {"creationTimestamp": None}
        items.append({"metadata": metadata, "versions": entries})
    return {
        "kind": AGGREGATED_KIND,
        "apiVersion": f"{DISCOVERY_GROUP}/{version}",
        "metadata": {},
        "items": items,
    }
