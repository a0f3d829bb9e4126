"""Server-side field validation of written objects, like the API server's `fieldValidation` directive.

* Unknown fields (not in the kind's schema) are reported as dotted paths. `fieldValidation=Strict` rejects
  them with the real `strict decoding error: unknown field "spec.bogusField"` (400), `Warn` (the default)
  returns one warning per field, `Ignore` skips the check.
* Type errors (a string where an integer belongs, a list where an object belongs, …) and, for custom
  resources, the CRD schema's `enum`, `minimum`/`maximum`, `minLength`/`maxLength`, `pattern`,
  `minItems`/`maxItems`, `multipleOf` and `required` are checked in every mode and rejected with a 422
  `Invalid`, worded like the API server's CRD validation. Built-in kinds get the same wording (a real server
  answers a 400 decoding error for those instead).

Schemas: built-in kinds use the `kubernetes` client model field tables (`openapi.model_fields`); custom
resources their CRD's `openAPIV3Schema`, honouring `x-kubernetes-preserve-unknown-fields`,
`additionalProperties`, `x-kubernetes-int-or-string` and `x-kubernetes-embedded-resource`. `metadata` is
always ObjectMeta. Both are compiled lazily into `_Node` trees that are cached (per model name, and per CRD
schema object), so a write costs one iterative walk of the object: no recursion, and objects nested deeper
than `MAX_DEPTH` are rejected with a 400 instead of exhausting the stack further along.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import re
import threading
from collections import OrderedDict

from providers.sandbox import errors, openapi
from providers.sandbox.resources import ResourceType

MODES = ("Strict", "Warn", "Ignore")
MAX_DEPTH = 128
"""Deepest nesting of objects/arrays accepted in a written object."""
MAX_REPORTED = 100
"""At most this many unknown fields / field errors are spelled out in one response."""

QUANTITY_PATTERN = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_QUANTITY = re.compile(QUANTITY_PATTERN)

# -- compiled schema nodes --------------------------------------------------------------------------------


class _Node:
    """What is allowed at one place in an object.

    `type` is None (anything) or one of string, integer, number, boolean, object, array, int-or-string,
    quantity, bytes.
    For objects, `props` maps known keys to nodes (None: content not described, nothing is unknown),
    `values` is the node of map values and `preserve` allows other keys; `items` is the node of array items.
    Children of models and CRD schemas are filled in on first use (`expand`).
    """

    __slots__ = (
        "_pending",
        "enum",
        "exclusive_max",
        "exclusive_min",
        "items",
        "max_items",
        "max_length",
        "maximum",
        "min_items",
        "min_length",
        "minimum",
        "multiple_of",
        "pattern",
        "preserve",
        "props",
        "required",
        "type",
        "values",
    )

    def __init__(self, type_: str | None = None):
        self.type = type_
        self.props: dict[str, _Node] | None = None
        self.values: _Node | None = None
        self.items: _Node | None = None
        self.preserve = False
        self.required: tuple[str, ...] = ()
        self.enum: list | None = None
        self.minimum = self.maximum = None
        self.exclusive_min = self.exclusive_max = False
        self.min_length = self.max_length = self.min_items = self.max_items = None
        self.pattern: re.Pattern | None = None
        self.multiple_of = None
        self._pending = None

    def expand(self) -> _Node:
        pending = self._pending
        if pending is not None:
            with _EXPAND_LOCK:
                if self._pending is not None:
                    self._pending(self)
                    self._pending = None
        return self


_EXPAND_LOCK = threading.RLock()
_ANY = _Node()
_SCALARS = {
    t: _Node(t) for t in ("string", "integer", "number", "boolean", "int-or-string", "quantity", "bytes")
}
_OPAQUE = _Node("object")  # an object whose content is free-form (FieldsV1, RawExtension)


def _node_for_type(t: openapi.TypeRef) -> _Node:
    if t.kind == "list":
        node = _Node("array")
        node.items = _node_for_type(t.inner)  # type: ignore[arg-type]
        return node
    if t.kind == "map":
        node = _Node("object")
        node.props = {}
        node.values = _node_for_type(t.inner)  # type: ignore[arg-type]
        return node
    if t.kind == "model":
        return _model_node(t.name)
    if t.kind == "special":
        if t.name == openapi.QUANTITY:
            return _SCALARS["quantity"]
        if t.name == openapi.INT_OR_STRING:
            return _SCALARS["int-or-string"]
        if t.name in (openapi.TIME, openapi.MICRO_TIME):
            return _SCALARS["string"]
        if t.name in (openapi.FIELDS_V1, openapi.RAW_EXTENSION):
            return _OPAQUE
        return _ANY
    if t.name in _SCALARS:
        return _SCALARS[t.name]
    return _ANY


def _fill_model(node: _Node, model: str) -> None:
    fields = openapi.model_fields(model)
    if fields:
        node.props = {f.json: _node_for_type(f.type) for f in fields}
    # else: a model this client version lacks, so its content cannot be checked (props stay None)


@functools.cache
def _model_node(model: str) -> _Node:
    """The node of a client model; its fields are compiled on first use (models may be recursive)."""
    node = _Node("object")
    node._pending = functools.partial(_fill_model, model=model)
    return node


def _object_meta() -> _Node:
    return _model_node("V1ObjectMeta")


def _type_meta_props() -> dict[str, _Node]:
    return {"apiVersion": _SCALARS["string"], "kind": _SCALARS["string"], "metadata": _object_meta()}


def _compile_pattern(pattern: object) -> re.Pattern | None:
    if not isinstance(pattern, str):
        return None
    try:
        return _pattern(pattern)
    except (re.error, RecursionError, ValueError):
        return None


@functools.lru_cache(maxsize=1024)
def _pattern(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def _number(v: object) -> float | int | None:
    return v if isinstance(v, int | float) and not isinstance(v, bool) else None


def _int(v: object) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def _schema_node(schema: object, *, root: bool = False) -> _Node:
    """A node for one CRD (structural) schema; properties, items and additionalProperties compile lazily."""
    if not isinstance(schema, dict):
        return _ANY
    t = schema.get("type")
    node = _Node()
    if schema.get("x-kubernetes-int-or-string") is True:
        node.type = "int-or-string"
    elif t in ("string", "integer", "number", "boolean", "object", "array"):
        node.type = t
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        node.enum = enum
    node.minimum, node.maximum = _number(schema.get("minimum")), _number(schema.get("maximum"))
    node.exclusive_min = schema.get("exclusiveMinimum") is True
    node.exclusive_max = schema.get("exclusiveMaximum") is True
    node.min_length, node.max_length = _int(schema.get("minLength")), _int(schema.get("maxLength"))
    node.min_items, node.max_items = _int(schema.get("minItems")), _int(schema.get("maxItems"))
    multiple = _number(schema.get("multipleOf"))
    node.multiple_of = multiple if multiple else None
    node.pattern = _compile_pattern(schema.get("pattern"))
    required = schema.get("required")
    if isinstance(required, list):
        node.required = tuple(r for r in required if isinstance(r, str))
    embedded = schema.get("x-kubernetes-embedded-resource") is True
    structured = (
        node.type == "object"
        or "properties" in schema
        or "additionalProperties" in schema
        or embedded
        or root
    )
    if structured or node.type == "array" or "items" in schema:
        node._pending = functools.partial(
            _fill_schema, schema=schema, root=root, embedded=embedded, structured=structured
        )
    return node


def _fill_schema(node: _Node, schema: dict, root: bool, embedded: bool, structured: bool) -> None:
    if structured:
        props = schema.get("properties")
        node.props = {k: _schema_node(v) for k, v in props.items()} if isinstance(props, dict) else {}
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            node.values = _schema_node(extra)
        elif extra is True:
            node.values = _ANY
        node.preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        if embedded:
            for key, value in _type_meta_props().items():
                node.props.setdefault(key, value)
            node.props["metadata"] = _object_meta()
        if root:
            node.props.update(_type_meta_props())
    items = schema.get("items")
    if isinstance(items, dict):
        node.items = _schema_node(items)


_CRD_ROOTS: OrderedDict[int, tuple[object, _Node]] = OrderedDict()
_CRD_LOCK = threading.Lock()
_MAX_CRD_ROOTS = 512


def _root_node(rt: ResourceType) -> _Node:
    if rt.model:
        return _model_node(rt.model) if openapi.model_fields(rt.model) else _free_root()
    schema = rt.schema
    if not isinstance(schema, dict):
        return _free_root()
    key = id(schema)
    with _CRD_LOCK:
        hit = _CRD_ROOTS.get(key)
        if hit is not None and hit[0] is schema:
            _CRD_ROOTS.move_to_end(key)
            return hit[1]
    node = _schema_node(schema, root=True)
    if node.type is None:
        node.type = "object"
    with _CRD_LOCK:
        _CRD_ROOTS[key] = (schema, node)  # holding the schema keeps its id from being reused
        while len(_CRD_ROOTS) > _MAX_CRD_ROOTS:
            _CRD_ROOTS.popitem(last=False)
    return node


@functools.cache
def _free_root() -> _Node:
    """Root of a kind without a schema: anything, but metadata is still ObjectMeta."""
    node = _Node("object")
    node.props = _type_meta_props()
    node.preserve = True
    return node


# -- the walk ---------------------------------------------------------------------------------------------


def _json_type(v: object) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return "object"
    if isinstance(v, list | tuple):
        return "array"
    return type(v).__name__


def _fmt(v: object) -> str:
    """A value as the API server prints it in field errors (Go's %q for strings, %v otherwise)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    try:
        return json.dumps(v, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return repr(type(v))


def _render(chain: tuple | None) -> str:
    """``(((None, 'spec'), 'containers'), 0)`` → ``.spec.containers[0]``."""
    parts = []
    while chain is not None:
        chain, seg = chain
        parts.append(f"[{seg}]" if isinstance(seg, int) else f".{seg}")
    return "".join(reversed(parts))


def _segments(chain: tuple | None) -> list:
    out = []
    while chain is not None:
        chain, seg = chain
        out.append(seg)
    out.reverse()
    return out


def _type_ok(kind: str, v: object) -> bool:
    if kind == "string":
        return isinstance(v, str)
    if kind == "integer":
        return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    if kind == "number":
        return isinstance(v, int | float) and not isinstance(v, bool)
    if kind == "boolean":
        return isinstance(v, bool)
    if kind == "object":
        return isinstance(v, dict)
    if kind == "array":
        return isinstance(v, list)
    if kind == "int-or-string":
        return isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool))
    return True


def _type_error(path: str, expected: str, v: object) -> tuple[str, str]:
    actual = _json_type(v)
    return path, f'Invalid value: "{actual}": {path} in body must be of type {expected}: "{actual}"'


def _scalar_error(node: _Node, path: str, v: object) -> tuple[str, str] | None:
    """Type and value checks of one non-container value (or of a container against a scalar type)."""
    kind = node.type
    if kind == "quantity":
        if (isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)) or (
            isinstance(v, str) and _QUANTITY.match(v)
        ):
            return None
        return (
            path,
            f"Invalid value: {_fmt(v)}: quantities must match the regular expression '{QUANTITY_PATTERN}'",
        )
    if kind == "bytes":
        if not isinstance(v, str):
            return _type_error(path, "string", v)
        try:
            base64.b64decode(v.replace("\n", "").replace("\r", ""), validate=True)
        except (binascii.Error, ValueError):
            return path, f"Invalid value: {_fmt(v)}: illegal base64 data"
        return None
    if kind is not None and not _type_ok(kind, v):
        return _type_error(path, "integer,string" if kind == "int-or-string" else kind, v)
    if node.enum is not None and not _in_enum(v, node.enum):
        supported = ", ".join(_fmt(e) for e in node.enum)
        return path, f"Unsupported value: {_fmt(v)}: supported values: {supported}"
    n = _number(v)
    if n is not None:
        if node.minimum is not None and (n <= node.minimum if node.exclusive_min else n < node.minimum):
            op = "greater than" if node.exclusive_min else "greater than or equal to"
            return path, f"Invalid value: {_fmt(v)}: {path} in body should be {op} {_fmt(node.minimum)}"
        if node.maximum is not None and (n >= node.maximum if node.exclusive_max else n > node.maximum):
            op = "less than" if node.exclusive_max else "less than or equal to"
            return path, f"Invalid value: {_fmt(v)}: {path} in body should be {op} {_fmt(node.maximum)}"
        if node.multiple_of is not None and not _is_multiple(n, node.multiple_of):
            return (
                path,
                f"Invalid value: {_fmt(v)}: {path} in body should be a multiple of {_fmt(node.multiple_of)}",
            )
    if isinstance(v, str):
        if node.min_length is not None and len(v) < node.min_length:
            return (
                path,
                f"Invalid value: {_fmt(v)}: {path} in body should be at least {node.min_length} chars long",
            )
        if node.max_length is not None and len(v) > node.max_length:
            return (
                path,
                f"Invalid value: {_fmt(v)}: {path} in body should be at most {node.max_length} chars long",
            )
        if node.pattern is not None and not node.pattern.search(v):
            return path, f"Invalid value: {_fmt(v)}: {path} in body should match '{node.pattern.pattern}'"
    return None


def _in_enum(v: object, enum: list) -> bool:
    return any(e == v and isinstance(e, bool) == isinstance(v, bool) for e in enum)


def _is_multiple(n: float, m: float) -> bool:
    q = n / m
    return math.isfinite(q) and abs(q - round(q)) < 1e-9


def _too_deep(chain: tuple | None) -> errors.BadRequest:
    where = _render(chain).lstrip(".") or "<root>"
    return errors.BadRequest(f"the object is nested too deeply: more than {MAX_DEPTH} levels at {where}")


def _walk(rt: ResourceType, obj: object, *, want_unknown: bool) -> tuple[list[tuple], list[tuple[str, str]]]:
    """One pass over `obj`, in document order: (chains of unknown fields, (field, message) problems).

    Raises BadRequest when the object nests deeper than MAX_DEPTH. Values that no schema describes (under
    unknown or free-form fields) are still walked, for that limit only.
    """
    unknown: list[tuple] = []
    problems: list[tuple[str, str]] = []
    # (value, node or None, path chain, depth, is an unknown field)
    stack: list[tuple[object, _Node | None, tuple | None, int, bool]] = [
        (obj, _root_node(rt), None, 1, False)
    ]
    pop, push = stack.pop, stack.append
    while stack:
        value, node, chain, depth, is_unknown = pop()
        if is_unknown:
            unknown.append(chain)  # type: ignore[arg-type]
        if value is None:
            continue
        is_dict = isinstance(value, dict)
        if not is_dict and not isinstance(value, list):
            if node is not None and (node.type is not None or node.enum is not None):
                problem = _scalar_error(node, _render(chain)[1:], value)
                if problem:
                    problems.append(problem)
            continue
        if depth > MAX_DEPTH:
            raise _too_deep(chain)
        if node is not None:
            if node._pending is not None:
                node.expand()
            if node.type is not None and node.type != ("object" if is_dict else "array"):
                problem = _scalar_error(node, _render(chain)[1:], value)
                if problem:
                    problems.append(problem)
                node = None  # walk it for the depth limit only
        child_depth = depth + 1
        if is_dict:
            if node is None or (node.props is None and node.values is None):
                for key, child in reversed(list(value.items())):  # type: ignore[union-attr]
                    if isinstance(child, dict | list):
                        push((child, None, (chain, str(key)), child_depth, False))
                continue
            props, values, preserve = node.props or {}, node.values, node.preserve
            for key, child in reversed(list(value.items())):  # type: ignore[union-attr]
                sub = props.get(key)
                flag = False
                if sub is None:
                    if values is not None:
                        sub = values
                    elif not preserve and want_unknown:
                        flag = True
                if flag or child is not None:
                    push((child, sub, (chain, key if type(key) is str else str(key)), child_depth, flag))
            if node.required:
                missing = [r for r in node.required if value.get(r) is None]  # type: ignore[union-attr]
                if missing:
                    base = _render(chain)[1:]
                    problems.extend((f"{base}.{r}" if base else r, "Required value") for r in missing)
            continue
        n = len(value)  # type: ignore[arg-type]
        sub = None
        if node is not None:
            sub = node.items
            if node.min_items is not None and n < node.min_items:
                path = _render(chain)[1:]
                problems.append(
                    (path, f"Invalid value: {n}: {path} in body should have at least {node.min_items} items")
                )
            if node.max_items is not None and n > node.max_items:
                problems.append(
                    (_render(chain)[1:], f"Too many: {n}: must have at most {node.max_items} items")
                )
        if sub is None:
            for i in range(n - 1, -1, -1):
                child = value[i]  # type: ignore[index]
                if isinstance(child, dict | list):
                    push((child, None, (chain, i), child_depth, False))
        else:
            for i in range(n - 1, -1, -1):
                push((value[i], sub, (chain, i), child_depth, False))  # type: ignore[index]
    return unknown, problems


# -- public API -------------------------------------------------------------------------------------------


def unknown_fields(rt: ResourceType, obj: dict) -> list[str]:
    """Dotted paths (``.spec.bogusField``, ``.spec.template.spec.containers[0].imagee``) of the fields of
    `obj` that the kind's schema does not know, in document order."""
    chains, _problems = _walk(rt, obj, want_unknown=True)
    return [_render(c) for c in chains]


def type_errors(rt: ResourceType, obj: dict) -> list[tuple[str, str]]:
    """(field, message) pairs for values of the wrong type or outside the schema's constraints."""
    _chains, problems = _walk(rt, obj, want_unknown=False)
    return problems


def _name(obj: dict) -> str:
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        name = meta.get("name") or meta.get("generateName") or ""
        return name if isinstance(name, str) else ""
    return ""


def check(rt: ResourceType, obj: dict, mode: str) -> list[str]:
    """Validate a written object under `fieldValidation=mode`; return the warnings to send (Warn mode).

    Raises `errors.BadRequest` for an unsupported mode, a non-object body, excessive nesting or (Strict)
    unknown fields, and `errors.Invalid` (422) for type/constraint errors, whatever the mode.
    """
    if mode == "":
        mode = "Warn"
    if mode not in MODES:
        raise errors.BadRequest(
            f'fieldValidation: Unsupported value: {_fmt(mode)}: supported values: "Ignore", "Strict", "Warn"'
        )
    if not isinstance(obj, dict):
        raise errors.BadRequest(f"the body must be a JSON object, not {_json_type(obj)}")
    chains, problems = _walk(rt, obj, want_unknown=mode != "Ignore")
    paths = [_render(c)[1:] for c in chains[:MAX_REPORTED]]
    more = len(chains) - len(paths)
    if paths and mode == "Strict":
        text = ", ".join(f'unknown field "{p}"' for p in paths)
        raise errors.BadRequest(f"strict decoding error: {text}" + (f" (and {more} more)" if more else ""))
    if problems:
        causes = problems[:MAX_REPORTED]
        if len(problems) > len(causes):
            causes.append(("", f"Too many errors: {len(problems) - len(causes)} more not shown"))
        raise errors.invalid(rt.kind, _name(obj), causes, rt.group)
    if mode != "Warn":
        return []
    warnings = [f'unknown field "{p}"' for p in paths]
    if more:
        warnings.append(f"{more} more unknown fields not shown")
    return warnings


def prune(rt: ResourceType, obj: dict) -> dict:
    """`obj` without its unknown fields (what a real server stores after Warn/Ignore). Unchanged branches are
    shared with `obj`; `obj` itself is not modified and is returned as is when nothing is unknown."""
    chains, _problems = _walk(rt, obj, want_unknown=True)
    if not chains:
        return obj
    root = dict(obj)
    copies: dict[int, object] = {id(obj): root}
    for chain in chains:
        segs = _segments(chain)
        original: object = obj
        current: object = root
        for seg in segs[:-1]:
            found = _child(original, seg)
            if found is None:
                break
            key, child = found
            copied = copies.get(id(child))
            if copied is None:
                copied = dict(child) if isinstance(child, dict) else list(child)  # type: ignore[call-overload]
                copies[id(child)] = copied
                current[key] = copied  # type: ignore[index]
            original, current = child, copied
        else:
            _drop(current, segs[-1])
    return root


def _child(container: object, seg: object) -> tuple[object, object] | None:
    """(key, child) a path segment names, the child being a container; keys were stringified for paths, so
    non-str keys are matched by their text."""
    found: tuple[object, object] | None = None
    if isinstance(container, list):
        if isinstance(seg, int) and 0 <= seg < len(container):
            found = seg, container[seg]
    elif isinstance(container, dict):
        if seg in container:
            found = seg, container[seg]
        else:
            found = next(((k, v) for k, v in container.items() if str(k) == seg), None)
    if found is None or not isinstance(found[1], dict | list):
        return None
    return found


def _drop(container: object, seg: object) -> None:
    if isinstance(container, dict):
        if seg in container:
            del container[seg]
        else:
            for k in [k for k in container if str(k) == seg]:
                del container[k]
