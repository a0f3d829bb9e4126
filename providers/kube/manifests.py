"""Reading the Kubernetes manifests users hand to kaas, and preparing them for apply.

The YAML comes from users, so it is parsed defensively: a size and a document limit, no language-specific
tags, a bound on nesting, and a bound on alias expansion. That last one matters because PyYAML shares the
object an alias points to, so a "billion laughs" document is small in memory when loaded but explodes as soon
as anything walks it (deep copies for labelling, JSON for the API server). The composer below therefore
counts every node a document would have once its aliases are expanded, and refuses past `MAX_NODES`.

Every problem becomes an `InvalidManifest` whose message names the source and the document (and, for YAML
syntax, the line and column), so the user can find it in their file.
"""

from __future__ import annotations

import bisect
import copy
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from providers.kube.errors import InvalidManifest

MAX_MANIFEST_BYTES = 2 * 1024 * 1024
MAX_DOCUMENTS = 1000
"""At most this many YAML documents in one input, and at most this many objects after `List`s are expanded."""
MAX_NODES = 200_000
"""Nodes (scalars, sequences, mappings) in the whole input, counting an aliased subtree at every reference."""
MAX_DEPTH = 100
"""Nesting of sequences and mappings; real manifests stay well below 30."""

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
# PyYAML's own line breaks, so line numbers computed here agree with its marks.
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_DOCUMENT_MARKER = re.compile(r"---(?:[ \t]|$)")
_NON_PRINTABLE = re.compile(r"[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_RBAC_GROUP = "rbac.authorization.k8s.io"
_HASH_LENGTH = 8

_HINT_YAML = "Fix the YAML at that position (a YAML linter such as `yamllint` shows the same problem)."
_HINT_SPLIT = "Split the manifest into several smaller ones and deploy them one after another."


try:
    # libyaml parses several times faster; only the composer (which does the counting) has to be Python.
    from yaml.cyaml import CParser as _FastParser
except ImportError:  # pragma: no cover - PyYAML wheels ship libyaml; source builds may not
    _FastParser = None


class _PureParser(Reader, Scanner, Parser):
    """PyYAML's Python parser, for installations without libyaml."""

    def __init__(self, stream: str):
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)


class _Refused(yaml.MarkedYAMLError):
    """A limit of this module was hit while composing; carries its own hint."""

    def __init__(self, problem: str, mark: object, hint: str):
        super().__init__(problem=problem, problem_mark=mark)
        self.hint = hint


class _CountingComposer(Composer):
    """PyYAML's composer plus the limits: expanded node count, nesting depth, duplicate keys, no recursion."""

    def _start_counting(self) -> None:
        self.total_nodes = 0
        self._depth = 0
        self._sizes: dict[int, int] = {}

    def compose_document(self):
        # Node ids are only unique while their document is alive, and aliases never cross documents.
        self._sizes = {}
        return super().compose_document()

    def compose_node(self, parent, index):
        mark = self.peek_event().start_mark
        if self.check_event(AliasEvent):
            node = super().compose_node(parent, index)
            size = self._sizes.get(id(node))
            if size is None:
                raise _Refused(
                    "an alias refers to a collection that contains it (a recursive alias)",
                    mark,
                    "Remove the recursive alias; Kubernetes objects cannot be recursive.",
                )
            self._count(size, mark)
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(
                f"the document is nested more than {MAX_DEPTH} levels deep",
                mark,
                "Flatten the structure; Kubernetes objects are never nested this deeply.",
            )
        self._count(1, mark)
        node = super().compose_node(parent, index)
        self._depth -= 1
        if isinstance(node, SequenceNode):
            children = node.value
        elif isinstance(node, MappingNode):
            self._refuse_duplicate_keys(node)
            children = [n for pair in node.value for n in pair]
        else:
            children = []
        self._sizes[id(node)] = 1 + sum(self._sizes[id(child)] for child in children)
        return node

    def _count(self, nodes: int, mark: object) -> None:
        self.total_nodes += nodes
        if self.total_nodes > MAX_NODES:
            raise _Refused(
                f"the YAML would expand to more than {MAX_NODES:,} nodes once its aliases are expanded"
                " (too many aliases, or aliases of aliases: a 'billion laughs' expansion)",
                mark,
                "Write the repeated parts out instead of nesting aliases, or split the manifest.",
            )

    @staticmethod
    def _refuse_duplicate_keys(node: MappingNode) -> None:
        # PyYAML silently keeps the last value; the API server's strict validation and kubectl refuse them.
        seen: set[tuple[str, str]] = set()
        for key, _ in node.value:
            if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
                continue
            if (key.tag, key.value) in seen:
                raise _Refused(
                    f"the mapping key {key.value!r} appears twice",
                    key.start_mark,
                    "Keep one of the two keys; YAML mappings cannot repeat a key.",
                )
            seen.add((key.tag, key.value))


class _PlainConstructor(SafeConstructor):
    """SafeConstructor with a clearer refusal of tags it does not know."""

    def construct_undefined(self, node):
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise ConstructorError(
            None,
            None,
            f"the tag {tag} is not allowed: kaas reads plain YAML only (no language-specific or custom tags)",
            node.start_mark,
        )


_PlainConstructor.add_constructor(None, _PlainConstructor.construct_undefined)


def _loader_class(parser: type) -> type:
    """A loader that parses with `parser` and composes and constructs with the checks above."""

    class Loader(_CountingComposer, parser, _PlainConstructor, Resolver):
        def __init__(self, stream: str):
            parser.__init__(self, stream)
            Composer.__init__(self)
            _PlainConstructor.__init__(self)
            Resolver.__init__(self)
            self._start_counting()

    return Loader


_LOADER = _loader_class(_FastParser or _PureParser)


@dataclass(frozen=True)
class Manifest:
    """One Kubernetes object of a user's manifest, with where it came from."""

    obj: dict
    index: int
    """1-based number of the YAML document in the input (a `List` document gives several objects)."""
    line: int
    """1-based line where that document starts."""

    @property
    def api_version(self) -> str:
        return self.obj["apiVersion"]

    @property
    def kind(self) -> str:
        return self.obj["kind"]

    @property
    def name(self) -> str:
        return self.obj["metadata"]["name"]

    @property
    def namespace(self) -> str | None:
        return self.obj["metadata"].get("namespace")


class _Documents:
    """Maps positions in the input to 1-based document numbers, the way PyYAML splits documents.

    A `---` at the start of a line always starts a document (PyYAML ends even quoted scalars there), and a
    leading `---` with only comments or directives before it starts the first document rather than a second.
    """

    def __init__(self, text: str):
        self.text = text
        lines = _LINE_BREAK.split(text)
        self.markers = [n for n, line in enumerate(lines) if _DOCUMENT_MARKER.match(line)]
        before_first = lines[: self.markers[0]] if self.markers else lines
        self.implicit_first = any(
            line.strip() and not line.lstrip().startswith("#") and not line.startswith("%")
            for line in before_first
        )

    def index(self, line: int) -> int:
        """The document containing 0-based `line`."""
        started = bisect.bisect_right(self.markers, line)
        return max(1, started + (1 if self.implicit_first else 0))

    def line_of(self, position: int) -> tuple[int, int]:
        """0-based line and column of a character position."""
        breaks = list(_LINE_BREAK.finditer(self.text, 0, position))
        return len(breaks), position - (breaks[-1].end() if breaks else 0)


def _decode(text: str | bytes, source: str) -> str:
    if isinstance(text, str):
        if len(text) > MAX_MANIFEST_BYTES:
            raise _too_big(source, len(text.encode("utf-8", "surrogatepass")))
        try:
            text = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidManifest(
                f"{source} is not valid UTF-8 text (character {exc.start + 1} cannot be encoded)",
                hint="Save the file as UTF-8.",
            ) from None
    if len(text) > MAX_MANIFEST_BYTES:
        raise _too_big(source, len(text))
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = text[: exc.start].count(b"\n") + 1
        raise InvalidManifest(
            f"{source} is not UTF-8 text: byte 0x{text[exc.start]:02x} on line {line} is not valid UTF-8",
            hint="Save the file as UTF-8 (Kubernetes manifests must be UTF-8).",
        ) from None
    # A byte-order mark would shift columns on line 1; PyYAML ignores it anyway.
    return decoded.removeprefix("\ufeff")


def _too_big(source: str, size: int) -> InvalidManifest:
    return InvalidManifest(
        f"{source} is {size:,} bytes; the limit is {MAX_MANIFEST_BYTES:,} bytes ({_mib(MAX_MANIFEST_BYTES)})",
        hint=_HINT_SPLIT,
    )


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:g} MiB"


def _yaml_error(exc: yaml.YAMLError, source: str, documents: _Documents) -> InvalidManifest:
    hint = getattr(exc, "hint", _HINT_YAML)
    if isinstance(exc, yaml.MarkedYAMLError) and (exc.problem_mark or exc.context_mark):
        mark = exc.problem_mark or exc.context_mark
        problem = ": ".join(part for part in (exc.context, exc.problem) if part)
        if documents.text[mark.index : mark.index + 1] == "\t" and "tab" not in problem:
            problem += " (a tab: YAML indents with spaces only)"
        return InvalidManifest(_located(source, documents, mark.line, mark.column, problem), hint=hint)
    return InvalidManifest(f"{source}: {exc}", hint=hint)


def _located(source: str, documents: _Documents, line: int, column: int, problem: str) -> str:
    return f"{source} document {documents.index(line)} (line {line + 1}, column {column + 1}): {problem}"


def _load(text: str, source: str) -> list[tuple[int, int, object]]:
    """(document number, line, data) of every non-empty document."""
    documents = _Documents(text)
    # PyYAML refuses these too, but libyaml reports their position in bytes; finding them first gives the
    # user a line and column.
    bad = _NON_PRINTABLE.search(text)
    if bad:
        line, column = documents.line_of(bad.start())
        problem = f"the control character U+{ord(bad.group()):04X} is not allowed in YAML"
        raise InvalidManifest(
            _located(source, documents, line, column, problem), hint="Remove the character, or quote it."
        )
    loader = _LOADER(text)
    loaded = []
    count = 0
    try:
        while loader.check_node():
            count += 1
            if count > MAX_DOCUMENTS:
                raise InvalidManifest(
                    f"{source} has more than {MAX_DOCUMENTS} YAML documents", hint=_HINT_SPLIT
                )
            line = loader.peek_event().start_mark.line
            data = loader.construct_document(loader.get_node())
            if data is not None:
                loaded.append((documents.index(line), line + 1, data))
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, source, documents) from None
    finally:
        loader.dispose()
    return loaded


def _describe(value: object) -> str:
    names = {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return names.get(type(value), f"a {type(value).__name__}")


def _check_object(obj: object, where: str) -> dict:
    """`obj` if it is an object kaas can deploy and track; InvalidManifest otherwise."""
    if not isinstance(obj, dict):
        raise InvalidManifest(
            f"{where} is {_describe(obj)}, not a Kubernetes object",
            hint="Each YAML document must be a mapping with apiVersion, kind and metadata.",
        )
    for field in ("apiVersion", "kind"):
        value = obj.get(field)
        if not isinstance(value, str) or not value.strip():
            raise InvalidManifest(
                f"{where} has no `{field}`" if value is None else f"{where}: `{field}` must be a string",
                hint="Every object needs `apiVersion` and `kind`, e.g. `apiVersion: apps/v1` and "
                "`kind: Deployment`.",
            )
    what = f"{where} ({obj['kind']})"
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        raise InvalidManifest(f"{what} has no `metadata` mapping", hint="Add `metadata:` with a `name:`.")
    name = metadata.get("name")
    if name is None and "generateName" in metadata:
        raise InvalidManifest(
            f"{what} uses `metadata.generateName`; kaas needs a fixed `metadata.name`",
            hint="Names are required because kaas must track what it deployed (to update and delete it).",
        )
    if not isinstance(name, str) or not name:
        raise InvalidManifest(f"{what} has no `metadata.name`", hint="Add a `name:` under `metadata:`.")
    problem = _name_problem(name, obj["apiVersion"])
    if problem:
        raise InvalidManifest(f"{what} has an invalid name {name!r}: {problem}", hint=_HINT_NAMES)
    namespace = metadata.get("namespace")
    if namespace is not None and not _is_label(namespace):
        raise InvalidManifest(
            f"{what} has an invalid namespace {namespace!r}: a namespace must be a DNS-1123 label",
            hint="Namespaces are at most 63 lowercase letters, digits and '-', starting and ending with "
            "a letter or digit.",
        )
    labels = metadata.get("labels")
    if labels is not None and not isinstance(labels, dict):
        raise InvalidManifest(f"{what}: `metadata.labels` must be a mapping", hint=_HINT_NAMES)
    return obj


_HINT_NAMES = (
    "Names are at most 253 lowercase letters, digits, '-' and '.', and start and end with a letter or digit."
)


def _name_problem(name: str, api_version: str) -> str | None:
    if len(name) > 253:
        return f"it is {len(name)} characters long; the limit is 253"
    if _group(api_version) == _RBAC_GROUP:
        # RBAC objects are the exception Kubernetes makes: names like `system:metrics-reader` are valid.
        if "/" in name or "%" in name or name in (".", ".."):
            return "RBAC names cannot contain '/' or '%' or be '.' or '..'"
        return None
    if _DNS_SUBDOMAIN.fullmatch(name):
        return None
    if _DNS_SUBDOMAIN.fullmatch(name.lower()):
        return "names must be lowercase"
    return "it must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.')"


def _is_label(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 63 and bool(_DNS_LABEL.fullmatch(value))


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def _identity(obj: dict) -> tuple[str, str, str | None, str]:
    metadata = obj["metadata"]
    return (_group(obj["apiVersion"]), obj["kind"], metadata.get("namespace"), metadata["name"])


def _is_list(obj: object) -> bool:
    return (
        isinstance(obj, dict)
        and isinstance(obj.get("kind"), str)
        and obj["kind"].endswith("List")
        and isinstance(obj.get("items"), list)
    )


def parse_manifests(text: str | bytes, *, source: str = "manifest") -> list[Manifest]:
    """The Kubernetes objects of a (multi-document) YAML manifest, checked so kaas can deploy and track them.

    Empty documents are skipped and `List` documents (`kind: List`, `kind: DeploymentList`, ...) are
    expanded into their items, as kubectl does. `source` names the input in messages (a file name or URL).
    Raises InvalidManifest naming the document (and line and column) of the first problem.
    """
    loaded = _load(_decode(text, source), source)
    manifests: list[Manifest] = []
    first_seen: dict[tuple, int] = {}
    for index, line, data in loaded:
        where = f"{source} document {index} (line {line})"
        if _is_list(data):
            objects = [
                _check_object(item, f"{where}, item {n}") for n, item in enumerate(data["items"], start=1)
            ]
        else:
            objects = [_check_object(data, where)]
        for obj in objects:
            key = _identity(obj)
            if key in first_seen:
                group, kind, namespace, name = key
                both = (
                    f"document {index} defines it twice"
                    if first_seen[key] == index
                    else f"documents {first_seen[key]} and {index} both define it"
                )
                raise InvalidManifest(
                    f"{source}: {kind} {name!r}"
                    + (f" in namespace {namespace!r}" if namespace else "")
                    + (f" ({group})" if group else "")
                    + f" appears twice: {both}",
                    hint="Remove one of the two copies, or give them different names.",
                )
            first_seen[key] = index
            manifests.append(Manifest(obj=obj, index=index, line=line))
            if len(manifests) > MAX_DOCUMENTS:
                raise InvalidManifest(f"{source} has more than {MAX_DOCUMENTS} objects", hint=_HINT_SPLIT)
    if not manifests:
        raise InvalidManifest(
            f"{source}: the manifest has no objects",
            hint="Paste or link YAML with at least one Kubernetes object (apiVersion, kind, metadata.name).",
        )
    return manifests


def _fold(value: str) -> str:
    return unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")


def _ascii(value: str) -> tuple[str, bool]:
    """`value` in ASCII, and whether letters or digits were lost on the way (not just accents)."""
    # Accents become their base letter (café -> cafe) instead of disappearing.
    folded = _fold(value)
    lost = any(ch.isalnum() and not _fold(ch) for ch in value)
    return folded, lost


def _hashed(value: str, original: str, alnum: str) -> str:
    """`value` cut to fit 63 characters, with a hash of `original` so that distinct inputs stay distinct."""
    digest = hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_LENGTH]
    head = re.sub(f"[^{alnum}]+$", "", value[: 63 - _HASH_LENGTH - 1])
    return f"{head}-{digest}" if head else digest


def sanitize_label_value(value: str) -> str:
    """`value` made into a valid Kubernetes label value (at most 63 of letters, digits, '-', '_', '.').

    Other characters become '-'. A value cut to fit, or whose letters had no ASCII form, ends in a hash of the
    whole, so two such values stay different. Valid values come back unchanged.
    """
    if _LABEL_VALUE.fullmatch(value) and len(value) <= 63:
        return value
    folded, lost = _ascii(value)
    cleaned = re.sub(r"[^-A-Za-z0-9_.]+", "-", folded)
    cleaned = re.sub(r"-{2,}", "-", cleaned)
    cleaned = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", cleaned)
    if len(cleaned) > 63 or lost:
        return _hashed(cleaned, value, "A-Za-z0-9")
    return cleaned


def namespace_for(app: str, version: str | None) -> str:
    """The default namespace of an app's deployment: `APP-VERSION` (or `APP`) as a DNS-1123 label.

    Lowercase letters, digits and '-' only, at most 63 characters. A name cut to fit, or whose letters had no
    ASCII form, ends in a hash of the whole, so `v1.2.3-long` and `v1.2.3-longer` of a long app name do not
    share a namespace.
    """
    original = app if version is None else f"{app}-{version}"
    folded, lost = _ascii(original)
    cleaned = re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-")
    # With nothing usable left (a name in another script, only punctuation) the hash alone still tells apps
    # apart.
    if len(cleaned) > 63 or lost or not cleaned:
        return _hashed(cleaned, original, "a-z0-9")
    return cleaned


_POD_TEMPLATE_KINDS = {
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "DaemonSet"),
    ("apps", "ReplicaSet"),
    ("batch", "Job"),
}


def _obj(item: Manifest | dict) -> dict:
    return item.obj if isinstance(item, Manifest) else item


def _add_labels(holder: object, labels: dict[str, str]) -> None:
    """Add `labels` under `holder["metadata"]["labels"]` when `holder` is a mapping (a template)."""
    if not isinstance(holder, dict):
        return
    metadata = holder.get("metadata")
    if not isinstance(metadata, dict):
        metadata = holder["metadata"] = {}
    existing = metadata.get("labels")
    metadata["labels"] = {**(existing if isinstance(existing, dict) else {}), **labels}


def label_objects(manifests: Iterable[Manifest | dict], labels: dict[str, str]) -> list[dict]:
    """Deep copies of the objects with `labels` added to their own labels and to their pod templates.

    Pods of Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs get the labels too, so kaas
    can find them. Selectors are never changed: they are immutable on most workloads, and widening them could
    adopt pods that are not the app's. On a clash, `labels` win, since kaas tracks objects by them.
    """
    for key, value in labels.items():
        if not _LABEL_VALUE.fullmatch(value) or len(value) > 63:
            raise ValueError(f"label {key}={value!r} is not a valid label value; use sanitize_label_value")
    labelled = []
    for item in manifests:
        obj = copy.deepcopy(_obj(item))
        _add_labels(obj, labels)
        spec = obj.get("spec")
        if isinstance(spec, dict):
            kind = (_group(obj.get("apiVersion", "")), obj.get("kind"))
            if kind in _POD_TEMPLATE_KINDS:
                _add_labels(spec.get("template"), labels)
            elif kind == ("batch", "CronJob") and isinstance(spec.get("jobTemplate"), dict):
                job_spec = spec["jobTemplate"].get("spec")
                if isinstance(job_spec, dict):
                    _add_labels(job_spec.get("template"), labels)
        labelled.append(obj)
    return labelled


APPLY_ORDER = (
    "CustomResourceDefinition",
    "Namespace",
    "ResourceQuota",
    "LimitRange",
    "PriorityClass",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Service",
    "DaemonSet",
    "Deployment",
    "StatefulSet",
    "ReplicaSet",
    "Pod",
    "Job",
    "CronJob",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "IngressClass",
    "Ingress",
)
"""Kinds in the order they are created: what others refer to comes first. Other kinds follow, custom
resources among them, once their definitions and namespaces exist. Deleting goes in reverse."""
_RANKS = {kind: rank for rank, kind in enumerate(APPLY_ORDER)}
_Item = TypeVar("_Item", Manifest, dict)


def apply_rank(obj: Manifest | dict) -> int:
    """Position of the object's kind in `APPLY_ORDER`; kinds not listed share the last rank."""
    return _RANKS.get(_obj(obj).get("kind"), len(APPLY_ORDER))


def in_apply_order(objs: Iterable[_Item]) -> list[_Item]:
    """`objs` (Manifests or plain objects, for deploy and restore alike) sorted by `apply_rank`.

    The sort is stable, so objects of the same rank keep the order the user wrote them in.
    """
    return sorted(objs, key=apply_rank)


def is_crd(obj: Manifest | dict) -> bool:
    """Whether the object is a CustomResourceDefinition."""
    obj = _obj(obj)
    return obj.get("kind") == "CustomResourceDefinition" and _group(obj.get("apiVersion", "")) == (
        "apiextensions.k8s.io"
    )


def is_namespace(obj: Manifest | dict) -> bool:
    """Whether the object is a Namespace."""
    obj = _obj(obj)
    return obj.get("kind") == "Namespace" and obj.get("apiVersion") == "v1"
