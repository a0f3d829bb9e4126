"""PATCH semantics of the Kubernetes API: JSON patch, merge patch, strategic merge patch, server-side apply.

Every function takes JSON-like values and returns new objects; inputs are never mutated. Errors follow the
API server's split: a patch document that cannot be understood is a 400 `BadRequest`, a well-formed patch
that cannot be applied to this object is a 422 `Invalid`, and a server-side apply that would overwrite
another manager's field is a 409 `Conflict`.

Strategic merge patch needs to know, per list field, whether the list is merged by a key, merged as a set of
primitives, or replaced whole. The real server reads that from Go struct tags; here it is the `_KEYED_LISTS`
table, keyed by field name. `ports` is the one name whose key depends on where it sits: under a container it
merges by `containerPort`, directly under a `spec` (a Service) by `port`, and elsewhere (NetworkPolicy rules,
Endpoints subsets) it is atomic. The choice is made from the parent field name rather than from the items,
because NetworkPolicy ports also carry a `port` key yet must be replaced whole.

Server-side apply is a faithful-in-spirit simplification of structured-merge-diff: field ownership is
tracked as sets of paths (`f:<field>`, `k:{"<key>":<value>}` for keyed list items, `v:<value>` for set
members, an atomic list being a single leaf), stored in `metadata.managedFields` as FieldsV1.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from providers.sandbox.errors import BadRequest, Conflict, Invalid

MAX_DEPTH = 128
"""Deepest nesting accepted in objects and patches. Real objects stay far below this (deep CRD schemas reach
about 60); the limit keeps the recursive algorithms well inside Python's recursion limit."""

Path = tuple[str, ...]
"""A field path in the managedFields sense, e.g. ``("f:spec", "f:containers", 'k:{"name":"app"}')``."""


class _Missing:
    """Sentinel for "no value at this location" (distinct from a JSON null)."""

    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()
_DELETE = object()
"""Returned by the map merge when the patch says `$patch: delete`."""


# --------------------------------------------------------------------------------------------------------
# JSON helpers


def _clone(value: Any) -> Any:
    """Deep copy of JSON data; cheaper than `copy.deepcopy` and only one stack frame per nesting level."""
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clone(v) for v in value]
    return value


def _json_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values, where `true` is not `1` (Python's `==` says it is)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict):
        return (
            isinstance(b, dict) and a.keys() == b.keys() and all(_json_equal(v, b[k]) for k, v in a.items())
        )
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(_json_equal, a, b))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _ident(value: Any) -> str:
    """A hashable identity for a JSON value (set membership, merge-key lookup)."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise BadRequest(f"not a JSON value: {value!r}") from e


def _brief(value: Any, limit: int = 120) -> str:
    try:
        text = json.dumps(value, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        text = repr(type(value))
    return text if len(text) <= limit else text[:limit] + "..."


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    # Iterative on purpose: this is the check that protects the recursive code from hostile nesting.
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Iterable[Any] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _check_depth(value: Any, what: str, limit: int = MAX_DEPTH) -> None:
    if _too_deep(value, limit):
        raise BadRequest(f"the {what} is nested more than {limit} levels deep")


def _check_stored_depth(value: Any, what: str) -> None:
    # Stored objects get more room than patches: their managedFields mirror the object's own depth a few
    # levels down, and refusing to patch an object that exists would leave it stuck.
    _check_depth(value, what, 2 * MAX_DEPTH)


def _require_object(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise BadRequest(f"the {what} must be a JSON object, not {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _bounded(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn a RecursionError (input nested deeper than the depth checks foresaw) into a 400."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except RecursionError:
            raise BadRequest("the request is nested too deeply to be processed") from None

    return wrapper


# --------------------------------------------------------------------------------------------------------
# RFC 6902 JSON patch

_JSON_PATCH_OPS = {"add", "remove", "replace", "move", "copy", "test"}


def _parse_pointer(pointer: Any, where: str) -> list[str]:
    if not isinstance(pointer, str):
        raise BadRequest(f"{where}: a JSON pointer must be a string, not {_json_type(pointer)}")
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise BadRequest(
            f'{where}: invalid JSON pointer {_brief(pointer)}: it must be empty or start with "/"'
        )
    tokens = pointer.split("/")[1:]
    for token in tokens:
        # "~" may only introduce the escapes ~0 ("~") and ~1 ("/").
        if token.replace("~0", "").replace("~1", "").count("~"):
            raise BadRequest(
                f'{where}: invalid JSON pointer {_brief(pointer)}: "~" must be followed by 0 or 1'
            )
    return [t.replace("~1", "/").replace("~0", "~") for t in tokens]


def _parse_operation(i: int, op: Any) -> dict:
    where = f"operation {i}"
    if not isinstance(op, dict):
        raise BadRequest(f"{where}: each JSON patch operation must be an object, not {_json_type(op)}")
    name = op.get("op")
    if name not in _JSON_PATCH_OPS:
        raise BadRequest(
            f"{where}: unknown JSON patch op {_brief(name)}: "
            "must be one of add, remove, replace, move, copy, test"
        )
    if "path" not in op:
        raise BadRequest(f'{where}: the "{name}" operation requires a "path"')
    parsed = {"op": name, "path": _parse_pointer(op["path"], where), "raw": op["path"], "i": i}
    if name in ("add", "replace", "test"):
        if "value" not in op:
            raise BadRequest(f'{where}: the "{name}" operation requires a "value"')
        parsed["value"] = op["value"]
    if name in ("move", "copy"):
        if "from" not in op:
            raise BadRequest(f'{where}: the "{name}" operation requires a "from" pointer')
        parsed["from"] = _parse_pointer(op["from"], where)
        parsed["raw_from"] = op["from"]
    return parsed


def _array_index(token: str, length: int, *, allow_end: bool, op: dict) -> int:
    if token == "-" and allow_end:
        return length
    # RFC 6901: decimal without leading zeros; "-" (one past the end) is only meaningful for "add".
    if not token.isdigit() or not token.isascii() or (len(token) > 1 and token[0] == "0"):
        raise Invalid(
            f'{op["op"]} operation does not apply: invalid array index "{token}" in path "{op["raw"]}"'
        )
    index = int(token)
    if index > length or (index == length and not allow_end):
        raise Invalid(
            f"{op['op']} operation does not apply: index {index} is out of range for an array of {length} "
            f'items at path "{op["raw"]}"'
        )
    return index


def _missing_path(op: dict, raw: Any) -> Invalid:
    return Invalid(f'{op["op"]} operation does not apply: doc is missing path: "{raw}"')


def _walk(doc: Any, tokens: list[str], op: dict, raw: Any) -> Any:
    node = doc
    for token in tokens:
        if isinstance(node, dict):
            if token not in node:
                raise _missing_path(op, raw)
            node = node[token]
        elif isinstance(node, list):
            node = node[_array_index(token, len(node), allow_end=False, op=op)]
        else:
            raise _missing_path(op, raw)
    return node


def _jp_add(doc: Any, tokens: list[str], value: Any, op: dict) -> Any:
    if not tokens:
        return value
    parent = _walk(doc, tokens[:-1], op, op["raw"])
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_array_index(last, len(parent), allow_end=True, op=op), value)
    else:
        raise _missing_path(op, op["raw"])
    return doc


def _jp_remove(doc: Any, tokens: list[str], op: dict, raw: Any) -> Any:
    """Remove the value at `tokens` and return it."""
    if not tokens:
        raise Invalid(f"{op['op']} operation does not apply: the whole document cannot be removed")
    parent = _walk(doc, tokens[:-1], op, raw)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _missing_path(op, raw)
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_array_index(last, len(parent), allow_end=False, op=op))
    raise _missing_path(op, raw)


def _jp_replace(doc: Any, tokens: list[str], value: Any, op: dict) -> Any:
    if not tokens:
        return value
    parent = _walk(doc, tokens[:-1], op, op["raw"])
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _missing_path(op, op["raw"])
        parent[last] = value
    elif isinstance(parent, list):
        parent[_array_index(last, len(parent), allow_end=False, op=op)] = value
    else:
        raise _missing_path(op, op["raw"])
    return doc


def _jp_apply(doc: Any, op: dict) -> Any:
    name, tokens = op["op"], op["path"]
    if name == "add":
        return _jp_add(doc, tokens, _clone(op["value"]), op)
    if name == "remove":
        _jp_remove(doc, tokens, op, op["raw"])
        return doc
    if name == "replace":
        return _jp_replace(doc, tokens, _clone(op["value"]), op)
    if name == "test":
        have = _walk(doc, tokens, op, op["raw"])
        if not _json_equal(have, op["value"]):
            raise Invalid(
                f'test operation failed: the value at "{op["raw"]}" is {_brief(have)}, '
                f"not {_brief(op['value'])}"
            )
        return doc
    source = op["from"]
    if name == "copy":
        return _jp_add(doc, tokens, _clone(_walk(doc, source, op, op["raw_from"])), op)
    if tokens == source:
        _walk(doc, source, op, op["raw_from"])  # moving a value onto itself still requires it to exist
        return doc
    if tokens[: len(source)] == source:
        raise Invalid(f'move operation does not apply: "{op["raw_from"]}" cannot be moved into its own child')
    value = _jp_remove(doc, source, op, op["raw_from"])
    return _jp_add(doc, tokens, value, op)


@_bounded
def json_patch(doc: dict, ops: list) -> dict:
    """Apply an RFC 6902 JSON patch (a list of operations) to `doc`.

    A malformed patch (not a list, unknown op, missing member, bad pointer syntax) raises `BadRequest`;
    an operation that cannot apply (missing path, index out of range, failed test) raises `Invalid`.
    """
    if not isinstance(ops, list):
        raise BadRequest(f"a JSON patch must be an array of operations, not {_json_type(ops)}")
    _require_object(doc, "object to patch")
    _check_depth(ops, "JSON patch")
    _check_stored_depth(doc, "object to patch")
    # Parse everything first so a malformed operation late in the list is a 400 even if an earlier one fails.
    parsed = [_parse_operation(i, op) for i, op in enumerate(ops)]
    result = _clone(doc)
    for op in parsed:
        result = _jp_apply(result, op)
    if not isinstance(result, dict):
        raise Invalid(f"the patched document must be a JSON object, not {_json_type(result)}")
    if _too_deep(result, 2 * MAX_DEPTH):
        raise Invalid(f"the patched document is nested more than {2 * MAX_DEPTH} levels deep")
    return result


# --------------------------------------------------------------------------------------------------------
# RFC 7386 JSON merge patch


def _merge_into(target: dict, patch: dict) -> dict:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict):
            current = target.get(key)
            target[key] = _merge_into(current if isinstance(current, dict) else {}, value)
        else:
            target[key] = _clone(value)
    return target


@_bounded
def merge_patch(doc: dict, patch: dict) -> dict:
    """Apply an RFC 7386 JSON merge patch: objects merge recursively, null deletes, anything else replaces.

    The patch itself must be an object (a patch for an API object); a non-object raises `BadRequest`.
    """
    _require_object(patch, "merge patch")
    _require_object(doc, "object to patch")
    _check_depth(patch, "merge patch")
    _check_stored_depth(doc, "object to patch")
    return _merge_into(_clone(doc), patch)


# --------------------------------------------------------------------------------------------------------
# Strategic merge patch

_KEYED_LISTS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "topologySpreadConstraints": "topologyKey",
    "schedulingGates": "name",
    "resourceClaims": "name",
}
"""List field → merge key, wherever the field appears."""

_KEYED_LISTS_IN: dict[tuple[str, str], str] = {
    ("containers", "ports"): "containerPort",
    ("initContainers", "ports"): "containerPort",
    ("ephemeralContainers", "ports"): "containerPort",
    ("spec", "ports"): "port",  # Service
    ("status", "addresses"): "type",  # Node
    ("status", "podIPs"): "ip",
    ("status", "hostIPs"): "ip",
    ("", "secrets"): "name",  # ServiceAccount
}
"""(parent field, list field) → merge key, for names whose strategy depends on where they appear.
The parent of a list item's fields is the list's own name; the parent of top-level fields is ""."""

_SET_LISTS = {"finalizers", "podCIDRs"}
"""Lists of primitives merged as ordered sets."""

_DATA_DOLLAR_KEYS = {"$ref", "$schema"}
"""Keys that start with "$" but are data, not directives (JSONSchemaProps inside CRDs)."""

_ATOMIC = ("atomic", "")
_SET = ("set", "")


def _is_directive_only(item: Any) -> bool:
    return isinstance(item, dict) and set(item) == {"$patch"}


class _StrategicMerge:
    """One strategic-merge computation.

    `lenient` is used by server-side apply, which must accept any object a client may apply: a keyed list
    whose items lack the key is then treated as atomic instead of being rejected. `directives` is off for
    apply configurations, where "$" keys are plain (if odd) field names.
    """

    def __init__(self, *, lenient: bool = False, directives: bool = True):
        self.lenient = lenient
        self.directives = directives

    def strategy(self, parent: str, field: str, patch_list: list) -> tuple[str, str]:
        key = _KEYED_LISTS_IN.get((parent, field)) or _KEYED_LISTS.get(field)
        if key:
            if self.lenient and not all(
                isinstance(i, dict) and (key in i or (self.directives and "$patch" in i)) for i in patch_list
            ):
                return _ATOMIC
            return ("keyed", key)
        if field in _SET_LISTS:
            if self.lenient and any(
                isinstance(i, dict | list) and not _is_directive_only(i) for i in patch_list
            ):
                return _ATOMIC
            return _SET
        return _ATOMIC

    def is_directive(self, key: str) -> bool:
        return self.directives and key.startswith("$") and key not in _DATA_DOLLAR_KEYS

    # -- maps ---------------------------------------------------------------------------------------------

    def merge_map(self, target: dict, patch: dict, parent: str) -> Any:
        """Merge `patch` into `target` (which this computation owns and may mutate); may return `_DELETE`."""
        if self.directives and "$patch" in patch:
            directive = patch["$patch"]
            if directive == "replace":
                return self.merge_map({}, {k: v for k, v in patch.items() if k != "$patch"}, parent)
            if directive == "delete":
                return _DELETE
            if directive != "merge":
                raise BadRequest(
                    f'invalid patch: unknown "$patch" directive {_brief(directive)}: '
                    "must be replace, delete or merge"
                )
        orders, removals = self._directives(target, patch)
        before = {f: self._keys_of(target.get(f), parent, f) for f in orders}
        for field, values in removals.items():
            current = target.get(field)
            if isinstance(current, list):
                unwanted = {_ident(v) for v in values}
                target[field] = [v for v in current if _ident(v) not in unwanted]
        for key, value in patch.items():
            if self.is_directive(key):
                continue
            if value is None:
                target.pop(key, None)
            elif isinstance(value, dict):
                current = target.get(key)
                merged = self.merge_map(current if isinstance(current, dict) else {}, value, key)
                if merged is _DELETE:
                    target.pop(key, None)
                else:
                    target[key] = merged
            elif isinstance(value, list):
                target[key] = self.merge_list(target.get(key), value, parent, key)
            else:
                target[key] = value
        for field, order in orders.items():
            if isinstance(target.get(field), list):
                target[field] = self._reorder(target[field], before[field], order, parent, field, patch)
        return target

    def _directives(self, target: dict, patch: dict) -> tuple[dict[str, list], dict[str, list]]:
        """Validate the map-level directives of `patch`; apply `$retainKeys`; return the list directives."""
        orders: dict[str, list] = {}
        removals: dict[str, list] = {}
        for key, value in patch.items():
            if not self.is_directive(key) or key == "$patch":
                continue
            if key == "$retainKeys":
                self._retain_keys(target, patch, value)
                continue
            directive, _, field = key.partition("/")
            if directive == "$setElementOrder" and field:
                orders[field] = self._directive_list(key, value)
            elif directive == "$deleteFromPrimitiveList" and field:
                removals[field] = self._directive_list(key, value)
            else:
                raise BadRequest(
                    f"invalid patch: unknown directive {_brief(key)}; supported directives are $patch, "
                    "$retainKeys, $setElementOrder/<field> and $deleteFromPrimitiveList/<field>"
                )
        return orders, removals

    @staticmethod
    def _directive_list(key: str, value: Any) -> list:
        if not isinstance(value, list):
            raise BadRequest(f'invalid patch: "{key}" must be a list, not {_json_type(value)}')
        return value

    def _retain_keys(self, target: dict, patch: dict, retain: Any) -> None:
        if not isinstance(retain, list) or not all(isinstance(k, str) for k in retain):
            raise BadRequest('invalid patch: "$retainKeys" must be a list of field names')
        allowed = set(retain)
        for key, value in patch.items():
            if value is not None and not self.is_directive(key) and key not in allowed:
                raise Invalid(
                    f'invalid patch: "{key}" is set but not listed in $retainKeys {sorted(allowed)}'
                )
        for key in [k for k in target if k not in allowed]:
            del target[key]

    # -- lists --------------------------------------------------------------------------------------------

    def fresh(self, value: Any, parent: str, field: str) -> Any:
        """A patch value with no counterpart in the target: directives processed, nulls dropped."""
        if isinstance(value, dict):
            return self.merge_map({}, value, field)
        if isinstance(value, list):
            return self.merge_list(None, value, parent, field)
        return value

    def merge_list(self, current: Any, patch: list, parent: str, field: str) -> list:
        kind, key = self.strategy(parent, field, patch)
        if kind == "keyed":
            return self._merge_keyed(current if isinstance(current, list) else [], patch, field, key)
        if kind == "set":
            return self._merge_set(current if isinstance(current, list) else [], patch, field)
        out = []
        for item in patch:
            if self.directives and _is_directive_only(item):
                continue
            # Items of an atomic list are new values; nested lists inside lists carry no strategy.
            value = self.fresh(item, field, field) if isinstance(item, dict) else _clone(item)
            if value is not _DELETE:
                out.append(value)
        return out

    def _merge_set(self, current: list, patch: list, field: str) -> list:
        replace = False
        items = []
        for item in patch:
            if self.directives and _is_directive_only(item) and item["$patch"] == "replace":
                replace = True
            elif isinstance(item, dict | list):
                raise BadRequest(
                    f'invalid patch: "{field}" is a list of values and cannot hold {_brief(item)}'
                )
            else:
                items.append(item)
        out = [] if replace else list(current)
        seen = {_ident(v) for v in out}
        for item in items:
            ident = _ident(item)
            if ident not in seen:
                seen.add(ident)
                out.append(item)
        return out

    def _merge_keyed(self, current: list, patch: list, field: str, key: str) -> list:
        replace = any(self.directives and _is_directive_only(i) and i["$patch"] == "replace" for i in patch)
        out: list[Any] = [] if replace else list(current)
        position = {
            _ident(item[key]): i for i, item in enumerate(out) if isinstance(item, dict) and key in item
        }
        for item in patch:
            if not isinstance(item, dict):
                raise BadRequest(
                    f'invalid patch: "{field}" is merged by "{key}" and its items must be objects, '
                    f"not {_brief(item)}"
                )
            if self.directives and _is_directive_only(item):
                if item["$patch"] == "replace":
                    continue
                raise BadRequest(
                    f'invalid patch: a "$patch" item in "{field}" must also set the merge key "{key}"'
                )
            if key not in item:
                raise BadRequest(f"map: {_brief(item)} does not contain declared merge key: {key}")
            ident = _ident(item[key])
            at = position.get(ident)
            merged = self.merge_map(out[at] if at is not None else {}, item, field)
            if merged is _DELETE:
                if at is not None:
                    out[at] = _DELETE
                    del position[ident]
            elif at is None:
                position[ident] = len(out)
                out.append(merged)
            else:
                out[at] = merged
        return [item for item in out if item is not _DELETE]

    # -- $setElementOrder ---------------------------------------------------------------------------------

    def _identity(self, parent: str, field: str, sample: list) -> Callable[[Any], str]:
        kind, key = self.strategy(parent, field, sample)
        if kind == "keyed":
            return lambda item: _ident(item.get(key)) if isinstance(item, dict) else _ident(item)
        return _ident

    def _keys_of(self, value: Any, parent: str, field: str) -> list[str]:
        if not isinstance(value, list):
            return []
        identity = self._identity(parent, field, [])
        return [identity(item) for item in value]

    def _reorder(
        self, merged: list, before: list[str], order: list, parent: str, field: str, patch: dict
    ) -> list:
        """Order `merged` as `$setElementOrder` asks, slotting items only the server knows about back in
        next to their original neighbours (the algorithm of the real server)."""
        if self.strategy(parent, field, [])[0] == "atomic":
            return merged
        identity = self._identity(parent, field, [])
        rank: dict[str, int] = {}
        for i, item in enumerate(order):
            rank.setdefault(identity(item), i)
        self._check_order(rank, patch.get(field), identity, field)
        origin = {k: i for i, k in reversed(list(enumerate(before)))}
        listed = sorted((x for x in merged if identity(x) in rank), key=lambda x: rank[identity(x)])
        server_only = [x for x in merged if identity(x) not in rank]
        out, i, j = [], 0, 0
        while i < len(server_only) and j < len(listed):
            left, right = origin.get(identity(server_only[i]), -1), origin.get(identity(listed[j]), -1)
            if left >= 0 and right >= 0 and left < right:
                out.append(server_only[i])
                i += 1
            else:
                out.append(listed[j])
                j += 1
        return out + server_only[i:] + listed[j:]

    def _check_order(
        self, rank: dict[str, int], patch_list: Any, identity: Callable[[Any], str], field: str
    ) -> None:
        if not isinstance(patch_list, list):
            return
        ranks = []
        for item in patch_list:
            if isinstance(item, dict) and self.directives and "$patch" in item:
                continue
            ident = identity(item)
            if ident not in rank:
                raise BadRequest(
                    f'invalid patch: "$setElementOrder/{field}" does not list {_brief(item)} '
                    f'that the patch sets in "{field}"'
                )
            ranks.append(rank[ident])
        if ranks != sorted(ranks):
            raise BadRequest(
                f'invalid patch: the items of "{field}" are not in the order "$setElementOrder/{field}" gives'
            )


@_bounded
def strategic_merge_patch(doc: dict, patch: dict) -> dict:
    """Apply a Kubernetes strategic merge patch to a built-in object.

    Maps merge recursively and null deletes; lists merge by their merge key (see `_KEYED_LISTS`), as sets
    (`finalizers`), or are replaced. Directives: `$patch: replace|delete|merge` (on maps and list items),
    `$retainKeys`, `$setElementOrder/<field>`, `$deleteFromPrimitiveList/<field>`. Unknown directives and
    malformed patches raise `BadRequest`; a patch contradicting its own `$retainKeys` raises `Invalid`.
    """
    _require_object(patch, "strategic merge patch")
    _require_object(doc, "object to patch")
    _check_depth(patch, "strategic merge patch")
    _check_stored_depth(doc, "object to patch")
    merged = _StrategicMerge().merge_map(_clone(doc), patch, "")
    return {} if merged is _DELETE else merged


# --------------------------------------------------------------------------------------------------------
# Field sets (managedFields)

_UNOWNED_METADATA = {
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
}
"""Metadata the server owns itself: never part of a manager's field set, never taken from an apply."""


def _owned_view(obj: dict, subresource: str) -> dict:
    """The part of `obj` whose fields managers can own: the status alone for the status subresource, else
    everything but type meta, server-set metadata and the status."""
    if subresource == "status":
        return {"status": obj["status"]} if isinstance(obj.get("status"), dict) else {}
    view = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
    if isinstance(view.get("metadata"), dict):
        owned = {k: v for k, v in view["metadata"].items() if k not in _UNOWNED_METADATA}
        if owned:
            view["metadata"] = owned
        else:
            del view["metadata"]  # an emptied metadata is not an applied empty map
    return view


def _key_element(key: str, value: Any) -> str:
    return "k:" + json.dumps({key: value}, separators=(",", ":"))


def _field_set(obj: dict) -> set[Path]:
    """The paths of every leaf, keyed-list item and set member in `obj` (an `_owned_view`)."""
    out: set[Path] = set()
    _collect_map(obj, (), "", out)
    return out


def _collect_map(value: dict, path: Path, name: str, out: set[Path]) -> None:
    for key, child in value.items():
        if child is None:
            continue
        child_path = (*path, f"f:{key}")
        if isinstance(child, dict) and child:
            _collect_map(child, child_path, key, out)
        elif isinstance(child, list):
            _collect_list(child, child_path, name, key, out)
        else:
            out.add(child_path)


def _collect_list(items: list, path: Path, parent: str, field: str, out: set[Path]) -> None:
    kind, key = _StrategicMerge(lenient=True, directives=False).strategy(parent, field, items)
    if kind == "atomic":
        out.add(path)
        return
    seen: set[str] = set()
    for item in items:
        element = _key_element(key, item[key]) if kind == "keyed" else "v:" + _ident(item)
        if element in seen:
            raise BadRequest(f"{_path_text(path)}: duplicate entries for key {_path_text((element,))}")
        seen.add(element)
        out.add((*path, element))
        if kind == "keyed":
            _collect_map(item, (*path, element), field, out)


def _path_text(path: Path) -> str:
    """A path as the server prints it in conflicts: ``.spec.containers[name="app"].image``."""
    parts = []
    for element in path:
        kind, body = element[:2], element[2:]
        if kind == "f:":
            parts.append(f".{body}")
        elif kind == "k:":
            try:
                fields = json.loads(body)
                parts.append("[" + ",".join(f"{k}={json.dumps(v)}" for k, v in fields.items()) + "]")
            except (ValueError, AttributeError):
                parts.append(f"[{body}]")
        else:
            parts.append(f"[={body}]")
    return "".join(parts)


def _find_item(items: list, element: str) -> int | None:
    try:
        wanted = json.loads(element[2:])
    except ValueError:
        return None
    for i, item in enumerate(items):
        if element.startswith("v:"):
            found = _json_equal(item, wanted)
        else:
            found = isinstance(wanted, dict) and isinstance(item, dict) and _matches_key(item, wanted)
        if found:
            return i
    return None


def _matches_key(item: dict, wanted: dict) -> bool:
    return all(k in item and _json_equal(item[k], v) for k, v in wanted.items())


def _value_at(obj: Any, path: Path) -> Any:
    node = obj
    for element in path:
        if element.startswith("f:"):
            if not isinstance(node, dict) or element[2:] not in node:
                return _MISSING
            node = node[element[2:]]
        else:
            if not isinstance(node, list):
                return _MISSING
            at = _find_item(node, element)
            if at is None:
                return _MISSING
            node = node[at]
    return node


def _remove_at(obj: dict, path: Path) -> None:
    parent = _value_at(obj, path[:-1])
    last = path[-1]
    if last.startswith("f:"):
        if isinstance(parent, dict):
            parent.pop(last[2:], None)
    elif isinstance(parent, list):
        at = _find_item(parent, last)
        if at is not None:
            del parent[at]


def _to_fields_v1(paths: set[Path]) -> dict:
    tree: dict = {}
    for path in paths:
        node = tree
        for element in path:
            node = node.setdefault(element, {})
    for path in paths:
        node = tree
        for element in path:
            node = node[element]
        if node:
            node["."] = {}  # owned *and* has owned children: "." marks the node itself
    return _sorted_tree(tree)


def _sorted_tree(tree: dict) -> dict:
    return {k: _sorted_tree(tree[k]) for k in sorted(tree, key=lambda k: (k != ".", k))}


def _from_fields_v1(tree: Any, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    if not isinstance(tree, dict):
        return out
    for element, sub in tree.items():
        if element == ".":
            if prefix:
                out.add(prefix)
        elif isinstance(sub, dict) and sub:
            out |= _from_fields_v1(sub, (*prefix, element))
        else:
            out.add((*prefix, element))
    return out


def _prefixes(paths: Iterable[Path]) -> set[Path]:
    return {path[:i] for path in paths for i in range(1, len(path) + 1)}


def _is_member(path: Path) -> bool:
    """Whether the path names a list item (whose existence, not value, is owned)."""
    return bool(path) and not path[-1].startswith("f:")


# --------------------------------------------------------------------------------------------------------
# managedFields entries


def _entry_identity(entry: dict) -> tuple[str, str, str, str]:
    # Update managers are told apart by apiVersion as well; Apply managers are not (as on a real server).
    operation = entry.get("operation", "")
    api_version = entry.get("apiVersion", "") if operation == "Update" else ""
    return (entry.get("manager", ""), operation, api_version, entry.get("subresource", ""))


def _entries(metadata: Any) -> list[dict]:
    fields = metadata.get("managedFields") if isinstance(metadata, dict) else None
    if not isinstance(fields, list):
        return []
    return [_clone(e) for e in fields if isinstance(e, dict)]


def _entry(
    manager: str, operation: str, api_version: str, now: str, paths: set[Path], subresource: str
) -> dict:
    entry = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": _to_fields_v1(paths),
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


def _print_manager(entry: dict) -> str:
    text = json.dumps(entry.get("manager", ""))
    if entry.get("subresource"):
        text += f" with subresource {json.dumps(entry['subresource'])}"
    if entry.get("operation") == "Update":
        text += f" using {entry.get('apiVersion', '')}"
        if entry.get("time"):
            text += f" at {entry['time']}"
    return text


def _conflict_error(conflicts: list[tuple[dict, Path]]) -> Conflict:
    causes = [
        {
            "type": "FieldManagerConflict",
            "message": f"conflict with {_print_manager(e)}",
            "field": _path_text(p),
        }
        for e, p in conflicts
    ]
    if len(conflicts) == 1:
        entry, path = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {_print_manager(entry)}: {_path_text(path)}"
    else:
        by_manager: dict[str, list[str]] = {}
        for entry, path in conflicts:
            by_manager.setdefault(_print_manager(entry), []).append(_path_text(path))
        lines = []
        for manager in sorted(by_manager):
            lines.append(f"conflicts with {manager}:")
            lines.extend(f"- {p}" for p in by_manager[manager])
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return Conflict(message, details={"causes": causes})


def _strip_nulls(value: Any) -> Any:
    """An apply configuration without nulls: in server-side apply a null means "I have no opinion"."""
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def _apply_config(applied: dict, subresource: str) -> dict:
    """The part of an apply configuration that is merged into the object."""
    config = _strip_nulls(applied)
    if subresource == "status":
        return {"status": config["status"]} if isinstance(config.get("status"), dict) else {}
    config.pop("status", None)  # the main resource ignores status, as on kinds with a status subresource
    metadata = config.get("metadata")
    if isinstance(metadata, dict):
        for key in _UNOWNED_METADATA - {"name", "namespace"}:
            metadata.pop(key, None)
    return config


def _remove_abandoned(obj: dict, abandoned: set[Path], keep: set[Path]) -> None:
    """Remove fields no manager owns any more, then maps that became empty because of it."""
    doomed = abandoned - keep
    # Removing a list item removes its fields; removing those first would erase the key that finds the item.
    outermost = [p for p in doomed if not any(p[:i] in doomed for i in range(1, len(p)))]
    for path in sorted(outermost, key=len, reverse=True):
        _remove_at(obj, path)
        # Top-level fields (spec, metadata) stay even when emptied; deeper emptied maps go.
        for end in range(len(path) - 1, 1, -1):
            parent = path[:end]
            if parent in keep or not parent[-1].startswith("f:") or _value_at(obj, parent) != {}:
                break
            _remove_at(obj, parent)


@_bounded
def server_side_apply(
    live: dict | None,
    applied: dict,
    *,
    manager: str,
    force: bool,
    now: str,
    subresource: str = "",
) -> dict:
    """Merge an apply configuration into `live` (None: create) as `manager`, tracking field ownership.

    Fields the configuration sets become owned by `manager`; fields it applied before and leaves out now are
    removed unless another manager owns them. Changing a field another manager owns to a different value
    raises `Conflict` unless `force`, which transfers ownership instead. Returns the new object with an
    updated `metadata.managedFields`.
    """
    _require_object(applied, "apply configuration")
    if live is not None:
        _require_object(live, "live object")
        _check_stored_depth(live, "live object")
    _check_depth(applied, "apply configuration")
    if not isinstance(manager, str) or not manager:
        raise BadRequest("fieldManager must be a non-empty string for server-side apply")
    metadata = applied.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise BadRequest("metadata must be an object")
    if metadata and metadata.get("managedFields"):
        raise BadRequest("metadata.managedFields must be nil")
    api_version = applied.get("apiVersion") or (live or {}).get("apiVersion")
    if not isinstance(api_version, str) or not api_version:
        raise BadRequest("apiVersion must be set in an apply configuration")
    return _server_side_apply(live, applied, manager, force, now, subresource, api_version)


def _server_side_apply(
    live: dict | None, applied: dict, manager: str, force: bool, now: str, subresource: str, api_version: str
) -> dict:
    config = _apply_config(applied, subresource)
    applied_set = _field_set(_owned_view(config, subresource))
    base = _clone(live) if live is not None else {}
    entries = _entries(base.get("metadata"))
    me = (manager, "Apply", "", subresource)
    mine = next((e for e in entries if _entry_identity(e) == me), None)
    previous = _from_fields_v1(mine.get("fieldsV1")) if mine else set()
    others = [(e, _from_fields_v1(e.get("fieldsV1"))) for e in entries if e is not mine]

    conflicts = []
    for entry, owned in others:
        for path in sorted(applied_set & owned):
            have = _value_at(base, path)
            if _is_member(path) or have is _MISSING:
                continue
            if not _json_equal(have, _value_at(config, path)):
                conflicts.append((entry, path))
    if conflicts and not force:
        raise _conflict_error(conflicts)
    taken = {path for _, path in conflicts}
    others = [(entry, owned - taken) for entry, owned in others]

    if isinstance(base.get("metadata"), dict):
        base["metadata"].pop("managedFields", None)
    merged = _StrategicMerge(lenient=True, directives=False).merge_map(base, config, "")
    keep = _prefixes(applied_set.union(*(owned for _, owned in others)))
    _remove_abandoned(merged, previous - applied_set, keep)

    new_entries = []
    for entry, owned in others:
        if not owned:
            continue  # a manager left owning nothing disappears, as on a real server
        if owned != _from_fields_v1(entry.get("fieldsV1")):
            entry["fieldsV1"] = _to_fields_v1(owned)
        new_entries.append(entry)
    mine_entry = _entry(manager, "Apply", api_version, now, applied_set, subresource)
    position = entries.index(mine) if mine else len(entries)
    # Keep this manager's entry where it was, relative to the others that survive.
    survivors_before = sum(1 for e in entries[:position] if any(e is n for n in new_entries))
    new_entries.insert(survivors_before, mine_entry)
    merged.setdefault("metadata", {})["managedFields"] = new_entries
    return merged


@_bounded
def record_update_manager(
    old: dict | None,
    new: dict,
    *,
    manager: str,
    api_version: str,
    now: str,
    subresource: str = "",
) -> dict:
    """Return `new` with an `operation: Update` managedFields entry for `manager` owning what changed.

    Used for POST/PUT/PATCH requests that name a `fieldManager`. Fields the write changed move to `manager`
    from whoever owned them (updates never conflict); fields the write removed are owned by nobody. When `new`
    carries no `managedFields`, those of `old` are the starting point.
    """
    _require_object(new, "object")
    _check_stored_depth(new, "object")
    result = _clone(new)
    metadata = result.setdefault("metadata", {})
    if not isinstance(metadata, dict):
        raise BadRequest("metadata must be an object")
    old = old if isinstance(old, dict) else None
    base_meta = metadata if "managedFields" in metadata else (old or {}).get("metadata")
    entries = _entries(base_meta)
    old_view = _owned_view(old, subresource) if old else {}
    new_view = _owned_view(result, subresource)
    old_set, new_set = _field_set(old_view), _field_set(new_view)
    changed = {
        p
        for p in new_set
        if (p not in old_set) or not _json_equal(_value_at(old_view, p), _value_at(new_view, p))
    }
    gone = old_set - new_set
    me = (manager, "Update", api_version, subresource)
    out = []
    mine: set[Path] = set()
    previous, position = None, None
    for entry in entries:
        owned = _from_fields_v1(entry.get("fieldsV1"))
        if _entry_identity(entry) == me:
            mine, previous, position = owned - gone, entry, len(out)
            continue
        kept = owned - changed - gone
        if not kept:
            continue
        if kept != owned:
            entry["fieldsV1"] = _to_fields_v1(kept)
        out.append(entry)
    if changed or mine:
        entry = _entry(manager, "Update", api_version, now, mine | changed, subresource)
        if not changed and previous is not None:
            entry["time"] = previous.get("time", now)  # a no-op write does not refresh the timestamp
        out.insert(len(out) if position is None else position, entry)
    if out or "managedFields" in metadata:
        metadata["managedFields"] = out
    return result
