"""REST semantics of one virtual cluster: routing, verbs, admission, patches, lists and watch set-up.

`ClusterApi.handle` takes an `ApiRequest` (already authenticated) and returns an `ApiResponse`, or a
`WatchPlan` that the HTTP server turns into a stream. Nothing here knows about HTTP servers or TLS, so the
same code answers real kubectl over HTTPS and direct calls in tests.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from providers.sandbox import (
    bodies,
    controllers,
    defaults,
    discovery,
    errors,
    metrics,
    names,
    openapi,
    patching,
    selectors,
    tables,
    validation,
)
from providers.sandbox.resources import METRICS_GROUP, Registry, ResourceType
from providers.sandbox.state import dumps
from providers.sandbox.store import ClusterStore, meta, rfc3339

JSON = "application/json"
PATCH_TYPES = {
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
}
FIELD_VALIDATION_DEFAULT = "Warn"


@dataclass
class ApiRequest:
    """An authenticated request, with the path split after the cluster prefix."""

    method: str
    parts: list[str]
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    """Lower-case header names."""
    body: bytes = b""


@dataclass
class ApiResponse:
    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Target:
    """What a resource URL names."""

    rt: ResourceType
    namespace: str | None
    name: str | None = None
    subresource: str | None = None


@dataclass
class WatchPlan:
    """Everything the server needs to stream a watch."""

    target: Target
    label: selectors.LabelSelector
    fields: selectors.FieldSelector
    since: int | None
    send_initial: bool
    """Start with ADDED events for every current object."""
    bookmark_initial: bool
    """Client sent `sendInitialEvents`: end the initial state with the initial-events-end bookmark."""
    bookmarks: bool
    timeout: float
    table_version: str | None


def json_response(status: int, obj: object, headers: dict[str, str] | None = None) -> ApiResponse:
    return ApiResponse(status, dumps(obj).encode(), JSON, headers or {})


def error_response(err: errors.ApiError) -> ApiResponse:
    return json_response(err.code, err.status())


def _bool_param(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def _fold_string_data(secret: dict) -> dict:
    """A Secret's write-only `stringData` merged into `data` (base64), as the API server stores it."""
    string_data = secret.get("stringData")
    if not isinstance(string_data, dict):
        return secret
    data = dict(secret.get("data") or {})
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    folded = {k: v for k, v in secret.items() if k != "stringData"}
    folded["data"] = data
    return folded


def parse_target(registry: Registry, parts: list[str]) -> Target | None:
    """Resolve `api/v1/namespaces/ns/pods/name/status`-style segments to a Target, or None."""
    if parts[:1] == ["api"] and len(parts) >= 3:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 4:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        inner = registry.by_path(group, version, rest[2])
        if inner is not None and inner.namespaced:
            namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        return None
    rt = registry.by_path(group, version, rest[0])
    if rt is None:
        return None
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if name is not None and rt.namespaced and namespace is None:
        return None
    return Target(rt, namespace, name, sub)


class ClusterApi:
    """The Kubernetes REST API of one virtual cluster."""

    def __init__(
        self,
        store: ClusterStore,
        ctx: controllers.ControllerContext,
        *,
        version_info: Callable[[], dict],
        server_address: str,
        watch_timeout: float = 1800.0,
    ):
        self.store = store
        self.ctx = ctx
        self.version_info = version_info
        self.server_address = server_address
        self.watch_timeout = watch_timeout

    # -- entry point ---------------------------------------------------------------------------------

    def handle(self, req: ApiRequest) -> ApiResponse | WatchPlan:
        """Answer one request; every `ApiError` becomes its Status response."""
        try:
            with self.store.lock:
                return self._route(req)
        except errors.ApiError as e:
            return error_response(e)
        except RecursionError:
            return error_response(errors.BadRequest("the request is nested too deeply"))

    def _route(self, req: ApiRequest) -> ApiResponse | WatchPlan:
        parts = req.parts
        if req.method == "GET":
            plain = self._non_resource(parts, req)
            if plain is not None:
                return plain
        target = parse_target(self.store.registry, parts) if parts else None
        if target is None:
            if len(parts) >= 2 and parts[0] in ("api", "apis"):
                raise errors.NotFound("the server could not find the requested resource")
            raise errors.NotFound(f'the server could not find the requested resource ("/{"/".join(parts)}")')
        return self._resource(req, target)

    # -- non-resource endpoints -------------------------------------------------------------------

    def _non_resource(self, parts: list[str], req: ApiRequest) -> ApiResponse | None:
        registry = self.store.registry
        match parts:
            case ["version"]:
                return json_response(200, self.version_info())
            case ["healthz" | "livez" | "readyz"]:
                return ApiResponse(200, b"ok", "text/plain; charset=utf-8")
            case ["api" | "apis" as root]:
                core = root == "api"
                form = discovery.negotiate_discovery(req.headers.get("accept", ""))
                if form != "legacy":
                    doc = discovery.aggregated_discovery(registry, core=core, version=form)
                    return ApiResponse(200, dumps(doc).encode(), discovery.aggregated_content_type(form))
                if core:
                    return json_response(200, discovery.core_versions(self.server_address))
                return json_response(200, discovery.api_group_list(registry))
            case ["apis", group]:
                doc = discovery.api_group(registry, group)
                return json_response(200, doc) if doc else None
            case ["api", version]:
                doc = discovery.api_resource_list(registry, "", version)
                return json_response(200, doc) if doc else None
            case ["apis", group, version]:
                doc = discovery.api_resource_list(registry, group, version)
                return json_response(200, doc) if doc else None
            case ["openapi", "v2"]:
                if "protobuf" in req.headers.get("accept", ""):
                    # kubectl asks for the gnostic protobuf form first; with v3 served it tolerates a 404.
                    raise errors.NotFound("the server could not find the requested resource")
                return json_response(200, openapi.v2_document(registry))
            case ["openapi", "v3"]:
                return json_response(200, openapi.v3_root(registry))
            case ["openapi", "v3", "api", version]:
                doc = openapi.v3_group_version(registry, "", version)
                return json_response(200, doc) if doc else None
            case ["openapi", "v3", "apis", group, version]:
                doc = openapi.v3_group_version(registry, group, version)
                return json_response(200, doc) if doc else None
        return None

    # -- resources -----------------------------------------------------------------------------------

    def _resource(self, req: ApiRequest, t: Target) -> ApiResponse | WatchPlan:
        verb_of = {
            ("GET", False): "list",
            ("GET", True): "get",
            ("POST", False): "create",
            ("PUT", True): "update",
            ("PATCH", True): "patch",
            ("DELETE", True): "delete",
            ("DELETE", False): "deletecollection",
        }
        verb = verb_of.get((req.method, t.name is not None))
        if verb == "list" and _bool_param(req.query.get("watch")):
            verb = "watch"
        if verb is None or verb not in t.rt.verbs:
            raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
        if t.subresource is not None:
            return self._subresource(req, t, verb)
        if t.rt.group == METRICS_GROUP:
            return self._metrics(req, t, verb)
        if t.rt.namespaced and verb == "create" and t.namespace is None:
            raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
        handler = {
            "get": self._get,
            "list": self._list,
            "watch": self._watch,
            "create": self._create,
            "update": self._update,
            "patch": self._patch,
            "delete": self._delete,
            "deletecollection": self._delete_collection,
        }[verb]
        return handler(req, t)

    def _ns(self, t: Target) -> str:
        return t.namespace or "" if t.rt.namespaced else ""

    def _require(self, t: Target) -> dict:
        obj = self.store.get(t.rt.key, self._ns(t), t.name or "")
        if obj is None:
            raise errors.not_found(t.rt.group, t.rt.plural, t.name or "")
        return obj

    def _render(
        self, req: ApiRequest, t: Target, objs: list[dict], list_meta: dict | None
    ) -> ApiResponse | None:
        version = tables.negotiate(req.headers.get("accept"))
        if version is None:
            return None
        doc = tables.table(
            t.rt,
            objs,
            now=self._now_dt(),
            include_object=req.query.get("includeObject", "Metadata"),
            version=version,
            list_meta=list_meta,
            crd_columns=self._crd_columns(t.rt),
        )
        return json_response(200, doc)

    def _now_dt(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.store.clock(), dt.UTC)

    def _crd_columns(self, rt: ResourceType) -> list[dict] | None:
        if rt.model is not None:
            return None
        crd = self.store.get("customresourcedefinitions.apiextensions.k8s.io", "", f"{rt.plural}.{rt.group}")
        for v in ((crd or {}).get("spec") or {}).get("versions") or []:
            if v.get("name") == rt.version:
                return v.get("additionalPrinterColumns")
        return None

    def _get(self, req: ApiRequest, t: Target) -> ApiResponse:
        obj = self._require(t)
        return self._render(req, t, [obj], None) or json_response(200, obj)

    def _selected(
        self, req: ApiRequest, t: Target
    ) -> tuple[selectors.LabelSelector, selectors.FieldSelector]:
        label = selectors.parse_label_selector(req.query.get("labelSelector", ""))
        fields = selectors.parse_field_selector(req.query.get("fieldSelector", ""), plural=t.rt.plural)
        return label, fields

    def _list(self, req: ApiRequest, t: Target) -> ApiResponse:
        label, fields = self._selected(req, t)
        items = [
            o
            for o in self.store.list(t.rt.key, t.namespace if t.rt.namespaced else None)
            if label.matches(meta(o).get("labels")) and fields.matches(o)
        ]
        items, list_meta = self._paginate(req, items)
        return self._render(req, t, items, list_meta) or json_response(
            200,
            {"kind": t.rt.list_kind, "apiVersion": t.rt.group_version, "metadata": list_meta, "items": items},
        )

    def _paginate(self, req: ApiRequest, items: list[dict]) -> tuple[list[dict], dict]:
        list_meta: dict = {"resourceVersion": str(self.store.rv)}
        token = req.query.get("continue")
        if token:
            try:
                start = json.loads(base64.urlsafe_b64decode(token.encode()))
                after = (str(start["ns"]), str(start["name"]))
            except (ValueError, KeyError, TypeError) as e:
                raise errors.BadRequest("invalid continue token; start the list again without it") from e
            items = [o for o in items if (meta(o).get("namespace", ""), meta(o)["name"]) > after]
        limit_text = req.query.get("limit")
        if limit_text:
            try:
                limit = int(limit_text)
            except ValueError as e:
                raise errors.BadRequest(f"invalid limit {limit_text!r}: must be an integer") from e
            if 0 < limit < len(items):
                last = meta(items[limit - 1])
                token = json.dumps({"ns": last.get("namespace", ""), "name": last["name"]})
                list_meta["continue"] = base64.urlsafe_b64encode(token.encode()).decode()
                list_meta["remainingItemCount"] = len(items) - limit
                items = items[:limit]
        return items, list_meta

    def _watch(self, req: ApiRequest, t: Target) -> WatchPlan:
        label, fields = self._selected(req, t)
        rv_text = req.query.get("resourceVersion", "")
        since: int | None = None
        if rv_text not in ("", "0"):
            try:
                since = int(rv_text)
            except ValueError as e:
                raise errors.BadRequest(f"invalid resourceVersion {rv_text!r}") from e
        send_initial = _bool_param(req.query.get("sendInitialEvents"))
        try:
            timeout = min(float(req.query.get("timeoutSeconds") or self.watch_timeout), self.watch_timeout)
        except ValueError as e:
            raise errors.BadRequest("invalid timeoutSeconds: must be a number") from e
        return WatchPlan(
            target=t,
            label=label,
            fields=fields,
            since=since,
            send_initial=send_initial or since is None,
            bookmark_initial=send_initial,
            bookmarks=_bool_param(req.query.get("allowWatchBookmarks")),
            timeout=max(timeout, 0.0),
            table_version=tables.negotiate(req.headers.get("accept")),
        )

    def table_row(self, t: Target, obj: dict, version: str) -> dict:
        """A watch event's object rendered as a one-row Table (what `kubectl get -w` expects)."""
        return tables.table(
            t.rt, [obj], now=self._now_dt(), version=version, crd_columns=self._crd_columns(t.rt)
        )

    # -- writes -----------------------------------------------------------------------------------

    def _dry_run(self, req: ApiRequest) -> bool:
        value = req.query.get("dryRun")
        if value in (None, ""):
            return False
        if value != "All":
            raise errors.BadRequest(f'unsupported dryRun value "{value}": only "All" is allowed')
        return True

    def _field_validation(self, req: ApiRequest) -> str:
        return req.query.get("fieldValidation") or FIELD_VALIDATION_DEFAULT

    def _check_type_meta(self, rt: ResourceType, obj: dict) -> None:
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version and api_version != rt.group_version:
            raise errors.BadRequest(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({rt.group_version})"
            )
        if kind and kind != rt.kind:
            raise errors.BadRequest(
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        if not isinstance(obj.get("metadata", {}), dict):
            raise errors.BadRequest("metadata must be an object")

    def _admit(self, req: ApiRequest, t: Target, obj: dict, *, creating: bool) -> tuple[dict, list[str]]:
        """Type meta, namespace, name and schema checks, then defaults: the object as it will be stored."""
        rt = t.rt
        self._check_type_meta(rt, obj)
        obj = {**obj, "apiVersion": rt.group_version, "kind": rt.kind}
        m = dict(obj.get("metadata") or {})
        if rt.namespaced:
            if m.get("namespace") and m["namespace"] != t.namespace:
                raise errors.BadRequest(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            m["namespace"] = t.namespace
        else:
            m.pop("namespace", None)
        if creating and not m.get("name"):
            prefix = m.get("generateName")
            if not prefix:
                raise errors.invalid(
                    rt.kind,
                    "",
                    [("metadata.name", "Required value: name or generateName is required")],
                    rt.group,
                )
            m["name"] = f"{prefix}{uuid.uuid4().hex[:5]}"
        name = m.get("name")
        if not isinstance(name, str):
            raise errors.BadRequest("metadata.name must be a string")
        if t.name is not None and name != t.name:
            raise errors.BadRequest(
                f"the name of the object ({name}) does not match the name on the URL ({t.name})"
            )
        problems = names.name_errors(rt.kind, name)
        if problems:
            raise errors.invalid(
                rt.kind,
                name,
                [("metadata.name", f'Invalid value: "{name}": {p}') for p in problems],
                rt.group,
            )
        obj["metadata"] = m
        mode = self._field_validation(req)
        warnings = validation.check(rt, obj, mode)
        if mode != "Strict":
            # Like the real server, unknown fields that were warned about or ignored are not stored.
            obj = validation.prune(rt, obj)
        if rt.key == "secrets":
            obj = _fold_string_data(obj)
        if rt.namespaced and creating:
            ns = self.store.get("namespaces", "", t.namespace or "")
            if ns is None:
                raise errors.not_found("", "namespaces", t.namespace or "")
            if meta(ns).get("deletionTimestamp"):
                raise errors.Forbidden(
                    f'{rt.plural} "{name}" is forbidden: unable to create new content in namespace '
                    f"{t.namespace} because it is being terminated"
                )
        return defaults.apply_defaults(rt, obj, store=self.store), warnings

    def _respond_written(self, status: int, obj: dict, warnings: list[str]) -> ApiResponse:
        headers = {"Warning": ", ".join(f'299 - "{w}"' for w in warnings)} if warnings else {}
        return json_response(status, obj, headers)

    def _manager(self, req: ApiRequest) -> str | None:
        return req.query.get("fieldManager") or None

    def _create(self, req: ApiRequest, t: Target) -> ApiResponse:
        obj = bodies.decode_object(req.body, req.headers.get("content-type"))
        obj, warnings = self._admit(req, t, obj, creating=True)
        return self._store_new(req, t, obj, warnings)

    def _store_new(self, req: ApiRequest, t: Target, obj: dict, warnings: list[str]) -> ApiResponse:
        manager = self._manager(req)
        if manager and "managedFields" not in obj.get("metadata", {}):
            obj = patching.record_update_manager(
                None, obj, manager=manager, api_version=t.rt.group_version, now=rfc3339(self.store.clock())
            )
        for transient in ("resourceVersion", "uid", "creationTimestamp", "deletionTimestamp"):
            obj["metadata"].pop(transient, None)
        if self._dry_run(req):
            preview = copy.deepcopy(obj)
            preview["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=rfc3339(self.store.clock()))
            return self._respond_written(201, preview, warnings)
        stored = self.store.create(t.rt, obj)
        controllers.reconcile(self.ctx)
        return self._respond_written(
            201, self.store.get(t.rt.key, self._ns(t), meta(stored)["name"]) or stored, warnings
        )

    def _update(self, req: ApiRequest, t: Target) -> ApiResponse:
        body = bodies.decode_object(req.body, req.headers.get("content-type"))
        old = self._require(t)
        return self._write_update(req, t, old, body)

    def _write_update(
        self, req: ApiRequest, t: Target, old: dict, new: dict, *, record_manager: bool = True
    ) -> ApiResponse:
        """Store `new` as the next state of `old` after preconditions, admission and immutability checks."""
        rt = t.rt
        new_rv = (new.get("metadata") or {}).get("resourceVersion")
        if new_rv and new_rv != meta(old).get("resourceVersion"):
            raise errors.stale(rt.group, rt.plural, t.name or "")
        new, warnings = self._admit(req, t, new, creating=False)
        m = new["metadata"]
        old_m = meta(old)
        for kept in ("uid", "creationTimestamp", "deletionTimestamp", "generation"):
            if kept in old_m:
                m[kept] = old_m[kept]
            else:
                m.pop(kept, None)
        if "status" in rt.subresources:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if defaults.generation_changed(old, new):
            m["generation"] = int(old_m.get("generation", 1)) + 1
        manager = self._manager(req)
        if manager and record_manager:
            new = patching.record_update_manager(
                old, new, manager=manager, api_version=rt.group_version, now=rfc3339(self.store.clock())
            )
        return self._commit_update(req, t, old, new, warnings)

    def _commit_update(
        self, req: ApiRequest, t: Target, old: dict, new: dict, warnings: list[str]
    ) -> ApiResponse:
        new["metadata"]["resourceVersion"] = meta(old).get("resourceVersion")
        if new == old or self._dry_run(req):
            return self._respond_written(200, new, warnings)
        stored = self.store.replace(t.rt, new)
        controllers.reconcile(self.ctx)
        return self._respond_written(
            200, self.store.get(t.rt.key, self._ns(t), t.name or "") or stored, warnings
        )

    def _apply_patch(self, req: ApiRequest, t: Target, live: dict | None) -> dict:
        kind = bodies.media_type(req.headers.get("content-type"))
        if kind not in PATCH_TYPES:
            raise errors.UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types include: "
                f"{', '.join(sorted(PATCH_TYPES))}"
            )
        patch = bodies.decode_document(req.body, kind)
        if kind == "application/json-patch+json":
            if not isinstance(patch, list):
                raise errors.BadRequest("a JSON patch must be a list of operations")
            return patching.json_patch(live or {}, patch)
        if not isinstance(patch, dict):
            raise errors.BadRequest("the patch must be a JSON object")
        if kind == "application/merge-patch+json":
            return patching.merge_patch(live or {}, patch)
        if kind == "application/strategic-merge-patch+json":
            if t.rt.model is None:
                raise errors.UnsupportedMediaType(
                    "strategic merge patch is not supported for custom resources; use a merge patch"
                )
            return patching.strategic_merge_patch(live or {}, patch)
        manager = self._manager(req)
        if not manager:
            raise errors.BadRequest("PATCH with apply-patch requires fieldManager to be set")
        self._check_type_meta(t.rt, patch)
        return patching.server_side_apply(
            live,
            patch,
            manager=manager,
            force=_bool_param(req.query.get("force")),
            now=rfc3339(self.store.clock()),
        )

    def _patch(self, req: ApiRequest, t: Target) -> ApiResponse:
        live = self.store.get(t.rt.key, self._ns(t), t.name or "")
        is_apply = bodies.media_type(req.headers.get("content-type")) == "application/apply-patch+yaml"
        if live is None and not is_apply:
            raise errors.not_found(t.rt.group, t.rt.plural, t.name or "")
        patched = self._apply_patch(req, t, live)
        if not isinstance(patched, dict):
            raise errors.BadRequest("the patched object must be a JSON object")
        if live is None:
            obj, warnings = self._admit(req, t, patched, creating=True)
            return self._store_new(req, t, obj, warnings)
        return self._write_update(req, t, live, patched, record_manager=not is_apply)

    def _delete(self, req: ApiRequest, t: Target) -> ApiResponse:
        opts = bodies.decode_delete_options(req.body, req.headers.get("content-type"))
        obj = self._require(t)
        pre = opts.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != meta(obj).get("uid"):
            raise errors.Conflict(
                f"Precondition failed: UID in precondition: {pre['uid']}, "
                f"UID in object meta: {meta(obj).get('uid')}"
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta(obj).get("resourceVersion"):
            raise errors.stale(t.rt.group, t.rt.plural, t.name or "")
        policy = req.query.get("propagationPolicy") or opts.get("propagationPolicy") or "Background"
        if opts.get("orphanDependents") is True or _bool_param(req.query.get("orphanDependents")):
            policy = "Orphan"
        if policy not in ("Background", "Foreground", "Orphan"):
            raise errors.BadRequest(
                f'unsupported propagationPolicy "{policy}": use Background, Foreground or Orphan'
            )
        if self._dry_run(req) or (opts.get("dryRun") or []) == ["All"]:
            return json_response(200, obj)
        return self._delete_object(t.rt, obj, policy)

    def _delete_object(self, rt: ResourceType, obj: dict, policy: str) -> ApiResponse:
        m = meta(obj)
        ns, name = m.get("namespace", ""), m["name"]
        now = rfc3339(self.store.clock())
        if rt.key == "namespaces" or policy == "Foreground" or m.get("finalizers"):
            if m.get("deletionTimestamp"):
                return json_response(200, obj)
            pending = copy.deepcopy(obj)
            pending["metadata"]["deletionTimestamp"] = now
            pending["metadata"]["deletionGracePeriodSeconds"] = 0
            if rt.key == "namespaces":
                pending.setdefault("status", {})["phase"] = "Terminating"
            elif policy == "Foreground":
                finalizers = pending["metadata"].setdefault("finalizers", [])
                if "foregroundDeletion" not in finalizers:
                    finalizers.append("foregroundDeletion")
            self.store.replace(rt, pending)
            controllers.reconcile(self.ctx)
            return json_response(200, self.store.get(rt.key, ns, name) or pending)
        if policy == "Orphan":
            self._orphan_dependents(m.get("uid"))
        gone = self.store.remove(rt, ns, name)
        controllers.reconcile(self.ctx)
        if rt.key == "pods":
            return json_response(200, gone)
        details = {"name": name, "kind": rt.plural, "uid": m.get("uid")}
        if rt.group:
            details["group"] = rt.group
        return json_response(
            200,
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details},
        )

    def _orphan_dependents(self, uid: str | None) -> None:
        for rkey, obj in list(self.store.all_objects()):
            refs = meta(obj).get("ownerReferences") or []
            if any(r.get("uid") == uid for r in refs):
                rt = self._type_of(rkey, obj)
                if rt is None:
                    continue
                freed = copy.deepcopy(obj)
                freed["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                self.store.replace(rt, freed)

    def _type_of(self, rkey: str, obj: dict) -> ResourceType | None:
        return self.store.registry.by_kind(obj.get("apiVersion", ""), obj.get("kind", ""))

    def _delete_collection(self, req: ApiRequest, t: Target) -> ApiResponse:
        label, fields = self._selected(req, t)
        opts = bodies.decode_delete_options(req.body, req.headers.get("content-type"))
        policy = req.query.get("propagationPolicy") or opts.get("propagationPolicy") or "Background"
        victims = [
            o
            for o in self.store.list(t.rt.key, t.namespace if t.rt.namespaced else None)
            if label.matches(meta(o).get("labels")) and fields.matches(o)
        ]
        if not self._dry_run(req):
            for obj in victims:
                if self.store.get(t.rt.key, meta(obj).get("namespace", ""), meta(obj)["name"]) is not None:
                    self._delete_object(t.rt, obj, policy)
        return json_response(
            200,
            {
                "kind": t.rt.list_kind,
                "apiVersion": t.rt.group_version,
                "metadata": {"resourceVersion": str(self.store.rv)},
                "items": victims,
            },
        )

    # -- subresources -----------------------------------------------------------------------------

    def _subresource(self, req: ApiRequest, t: Target, verb: str) -> ApiResponse:
        sub = t.subresource
        if sub == "log" and t.rt.key == "pods" and verb == "get":
            return self._pod_log(t)
        if sub not in t.rt.subresources or verb not in ("get", "update", "patch"):
            raise errors.NotFound("the server could not find the requested resource")
        live = self._require(t)
        if sub == "scale":
            return self._scale(req, t, live, verb)
        if verb == "get":
            return json_response(200, live)
        if verb == "update":
            incoming = bodies.decode_object(req.body, req.headers.get("content-type"))
        else:
            incoming = self._apply_patch(req, t, live)
        incoming_rv = (incoming.get("metadata") or {}).get("resourceVersion")
        if incoming_rv and incoming_rv != meta(live).get("resourceVersion"):
            raise errors.stale(t.rt.group, t.rt.plural, t.name or "")
        new = copy.deepcopy(live)
        if "status" in incoming:
            new["status"] = incoming["status"]
        else:
            new.pop("status", None)
        return self._commit_update(req, t, live, new, [])

    def _scale_object(self, t: Target, obj: dict) -> dict:
        m = meta(obj)
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: m[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in m
            },
            "spec": {"replicas": spec.get("replicas", 1)},
            "status": {
                "replicas": status.get("replicas", 0),
                "selector": selectors.selector_to_string(spec.get("selector") or {}),
            },
        }

    def _scale(self, req: ApiRequest, t: Target, live: dict, verb: str) -> ApiResponse:
        scale = self._scale_object(t, live)
        if verb == "get":
            return json_response(200, scale)
        if verb == "update":
            incoming = bodies.decode_object(req.body, req.headers.get("content-type"))
        else:
            kind = bodies.media_type(req.headers.get("content-type"))
            patch = bodies.decode_document(req.body, kind)
            if kind == "application/json-patch+json":
                incoming = patching.json_patch(scale, patch if isinstance(patch, list) else [])
            elif isinstance(patch, dict):
                incoming = patching.merge_patch(scale, patch)
            else:
                raise errors.BadRequest("the patch must be a JSON object")
        replicas = (incoming.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid(
                "Scale",
                t.name or "",
                [("spec.replicas", f"Invalid value: {replicas!r}: must be greater than or equal to 0")],
                "autoscaling",
            )
        incoming_rv = (incoming.get("metadata") or {}).get("resourceVersion")
        if incoming_rv and incoming_rv != meta(live).get("resourceVersion"):
            raise errors.stale(t.rt.group, t.rt.plural, t.name or "")
        new = copy.deepcopy(live)
        new.setdefault("spec", {})["replicas"] = replicas
        if defaults.generation_changed(live, new):
            new["metadata"]["generation"] = int(meta(live).get("generation", 1)) + 1
        response = self._commit_update(req, t, live, new, [])
        if response.status != 200:
            return response
        current = self.store.get(t.rt.key, self._ns(t), t.name or "") or new
        return json_response(200, self._scale_object(t, current))

    def _pod_log(self, t: Target) -> ApiResponse:
        pod = self._require(t)
        lines = [
            f"{meta(pod).get('creationTimestamp', '')} sandbox: container {c.get('name')} started "
            f"(image {c.get('image')})"
            for c in (pod.get("spec") or {}).get("containers") or []
        ]
        return ApiResponse(200, ("\n".join(lines) + "\n").encode(), "text/plain")

    # -- metrics.k8s.io ---------------------------------------------------------------------------

    def _metrics(self, req: ApiRequest, t: Target, verb: str) -> ApiResponse:
        now = self.store.clock()
        if t.rt.plural == "nodes":
            if verb == "get":
                return json_response(200, metrics.node_metrics(self.store, t.name or "", now))
            items = metrics.list_node_metrics(self.store, now)
        else:
            if verb == "get":
                return json_response(
                    200, metrics.pod_metrics(self.store, t.namespace or "", t.name or "", now)
                )
            items = metrics.list_pod_metrics(self.store, t.namespace, now)
        label, _ = self._selected(req, t)
        items = [i for i in items if label.matches(meta(i).get("labels"))]
        return json_response(
            200,
            {"kind": f"{t.rt.kind}List", "apiVersion": t.rt.group_version, "metadata": {}, "items": items},
        )
