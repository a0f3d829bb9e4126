"""Label and field selectors, parsed and matched the way the Kubernetes API server does it.

Label selectors follow the grammar of `k8s.io/apimachinery/pkg/labels`::

    selector    := "" | requirement ("," requirement)*
    requirement := ["!"] KEY
                 | KEY ("=" | "==" | "!=") [VALUE]
                 | KEY ("in" | "notin") "(" [VALUE ("," [VALUE])*] ")"
                 | KEY (">" | "<") INTEGER

Field selectors are the simpler `field=value,field!=value` form, restricted per resource to the fields the
real server indexes. Error messages reuse the server's wording so that what kubectl prints teaches the
real rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum, StrEnum

from providers.sandbox.errors import BadRequest
from providers.sandbox.names import subdomain_errors

NAME_MAX = 63
"""Longest name part of a qualified name, and longest label value."""

_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_NAME_RULE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric "
    "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
_VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used "
    "for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
_ECHO_MAX = 80
"""Longest user text echoed back in an error; a 10k-character key should not produce a 10k-character error."""


def _echo(text: str) -> str:
    return text if len(text) <= _ECHO_MAX else f"{text[:_ECHO_MAX]}...({len(text)} characters)"


# ----------------------------------------------------------------------------------------------------------
# Validation of keys and values


def qualified_name_errors(key: str) -> list[str]:
    """Why `key` is not a qualified name (``[prefix/]name``), in the API server's words; empty when valid."""
    parts = key.split("/")
    if len(parts) > 2:
        return [
            f"a qualified name {_NAME_RULE} with an optional DNS subdomain prefix and '/' "
            "(e.g. 'example.com/MyName')"
        ]
    problems = []
    if len(parts) == 2:
        prefix, name = parts
        if not prefix:
            problems.append("prefix part must be non-empty")
        else:
            problems.extend(f"prefix part {p}" for p in subdomain_errors(prefix))
    else:
        name = parts[0]
    if not name:
        problems.append("name part must be non-empty")
    elif len(name) > NAME_MAX:
        problems.append(f"name part must be no more than {NAME_MAX} characters")
    if name and not _NAME.match(name):
        problems.append(f"name part {_NAME_RULE}")
    return problems


def label_value_errors(value: str) -> list[str]:
    """Why `value` is not a valid label value (the empty string is valid); empty when valid."""
    problems = []
    if len(value) > NAME_MAX:
        problems.append(f"must be no more than {NAME_MAX} characters")
    if value and not _NAME.match(value):
        problems.append(_VALUE_RULE)
    return problems


def _check_key(key: str) -> None:
    problems = qualified_name_errors(key)
    if problems:
        raise _RequirementError(f'key: Invalid value: "{_echo(key)}": {"; ".join(problems)}')


def _check_value(key: str, value: str) -> None:
    problems = label_value_errors(value)
    if problems:
        raise _RequirementError(
            f'values[{_echo(key)}]: Invalid value: "{_echo(value)}": {"; ".join(problems)}'
        )


# ----------------------------------------------------------------------------------------------------------
# Label selector model


class Operator(StrEnum):
    """Requirement operators, valued by their `metav1.LabelSelectorRequirement` spelling where one exists."""

    EQUALS = "="
    DOUBLE_EQUALS = "=="
    NOT_EQUALS = "!="
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"
    GREATER_THAN = "Gt"
    LESS_THAN = "Lt"


_SET_OPS = {Operator.IN, Operator.NOT_IN}
_EXACT_OPS = {Operator.EQUALS, Operator.DOUBLE_EQUALS, Operator.NOT_EQUALS}
_NUMERIC_OPS = {Operator.GREATER_THAN, Operator.LESS_THAN}
_INFIX = {
    Operator.EQUALS: "=",
    Operator.DOUBLE_EQUALS: "==",
    Operator.NOT_EQUALS: "!=",
    Operator.IN: " in ",
    Operator.NOT_IN: " notin ",
    Operator.GREATER_THAN: ">",
    Operator.LESS_THAN: "<",
}


class _RequirementError(Exception):
    """A single requirement is invalid; the parser prefixes it with "unable to parse requirement"."""


@dataclass(frozen=True)
class Requirement:
    """One `key <op> values` term of a label selector."""

    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        """Whether a label set satisfies this requirement."""
        op = self.operator
        present = self.key in labels
        if op is Operator.EXISTS:
            return present
        if op is Operator.DOES_NOT_EXIST:
            return not present
        if op in (Operator.IN, Operator.EQUALS, Operator.DOUBLE_EQUALS):
            return present and labels[self.key] in self.values
        if op in (Operator.NOT_IN, Operator.NOT_EQUALS):
            return not present or labels[self.key] not in self.values
        if not present:
            return False
        try:
            have = int(labels[self.key])
        except (TypeError, ValueError):
            # A label that is not an integer can satisfy neither Gt nor Lt, exactly as on a real server.
            return False
        want = int(self.values[0])
        return have > want if op is Operator.GREATER_THAN else have < want

    def __str__(self) -> str:
        if self.operator is Operator.EXISTS:
            return self.key
        if self.operator is Operator.DOES_NOT_EXIST:
            return f"!{self.key}"
        joined = ",".join(self.values)
        if self.operator in _SET_OPS:
            joined = f"({joined})"
        return f"{self.key}{_INFIX[self.operator]}{joined}"


def new_requirement(key: str, operator: Operator, values: list[str] | tuple[str, ...]) -> Requirement:
    """A validated requirement; raises `_RequirementError` with the API server's wording when invalid."""
    _check_key(key)
    if operator in _SET_OPS and not values:
        raise _RequirementError("for 'in', 'notin' operators, values set can't be empty")
    if operator in _EXACT_OPS and len(values) != 1:
        raise _RequirementError("exact-match compatibility requires one single value")
    if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and values:
        raise _RequirementError("values set must be empty for exists and does not exist")
    if operator in _NUMERIC_OPS:
        if len(values) != 1:
            raise _RequirementError("for 'Gt', 'Lt' operators, exactly one value is required")
        if not re.fullmatch(r"[-+]?[0-9]+", values[0]):
            raise _RequirementError("for 'Gt', 'Lt' operators, the value must be an integer")
    for value in values:
        _check_value(key, value)
    return Requirement(key, operator, tuple(sorted(set(values))))


@dataclass(frozen=True)
class LabelSelector:
    """A parsed label selector: the conjunction of its requirements.

    `nothing` marks the selector that matches no object at all (a missing selector where one is required);
    the selector with no requirements and `nothing=False` matches everything.
    """

    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False

    @property
    def empty(self) -> bool:
        """True for the match-everything selector (no requirements)."""
        return not self.nothing and not self.requirements

    def matches(self, labels: dict[str, str] | None) -> bool:
        """Whether an object with these labels is selected."""
        if self.nothing:
            return False
        have = labels or {}
        return all(r.matches(have) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


EVERYTHING = LabelSelector()
NOTHING = LabelSelector(nothing=True)


def _selector(requirements: list[Requirement]) -> LabelSelector:
    # The server sorts requirements by key (stably), which makes the string form canonical.
    return LabelSelector(tuple(sorted(requirements, key=lambda r: r.key)))


# ----------------------------------------------------------------------------------------------------------
# Label selector text: lexer and parser


class _Tok(Enum):
    IDENT = "identifier"
    NOT = "!"
    EQ = "="
    DEQ = "=="
    NEQ = "!="
    GT = ">"
    LT = "<"
    LPAR = "("
    RPAR = ")"
    COMMA = ","
    IN = "in"
    NOTIN = "notin"
    END = "end of string"


_WHITESPACE = " \t\r\n"
_SPECIAL = "!=<>(),"
_SYMBOLS = {
    s.value: s
    for s in (_Tok.NOT, _Tok.EQ, _Tok.DEQ, _Tok.NEQ, _Tok.GT, _Tok.LT, _Tok.LPAR, _Tok.RPAR, _Tok.COMMA)
}
_KEYWORDS = {"in": _Tok.IN, "notin": _Tok.NOTIN}
_BINARY_OPERATORS = "in, notin, =, ==, !=, gt, lt"


def _lex(text: str) -> Iterator[tuple[_Tok, str]]:
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in _WHITESPACE:
            i += 1
        elif ch in _SPECIAL:
            # Longest match: "!=" and "==" are single tokens, "=(" is two.
            two = text[i : i + 2]
            if two in _SYMBOLS:
                yield _SYMBOLS[two], two
                i += 2
            else:
                yield _SYMBOLS[ch], ch
                i += 1
        else:
            start = i
            while i < n and text[i] not in _WHITESPACE and text[i] not in _SPECIAL:
                i += 1
            word = text[start:i]
            yield _KEYWORDS.get(word, _Tok.IDENT), word
    yield _Tok.END, ""


class _Parser:
    """Recursive-descent parser mirroring the API server's, including its error messages."""

    def __init__(self, text: str):
        self.tokens = list(_lex(text))
        self.pos = 0

    def _peek(self, *, keywords: bool = False) -> tuple[_Tok, str]:
        tok, lit = self.tokens[self.pos]
        # "in" and "notin" are keywords only where an operator is expected; elsewhere they are plain words,
        # so `in=notin` and `k in (in)` are valid selectors.
        if not keywords and tok in (_Tok.IN, _Tok.NOTIN):
            return _Tok.IDENT, lit
        return tok, lit

    def _next(self, *, keywords: bool = False) -> tuple[_Tok, str]:
        tok, lit = self._peek(keywords=keywords)
        if tok is not _Tok.END:
            self.pos += 1
        return tok, lit

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self._peek()
            if tok is _Tok.END:
                return requirements
            if tok not in (_Tok.IDENT, _Tok.NOT):
                raise BadRequest(f"found '{_echo(lit)}', expected: !, identifier, or 'end of string'")
            try:
                requirements.append(self._requirement())
            except _RequirementError as e:
                raise BadRequest(f"unable to parse requirement: {e}") from None
            tok, lit = self._next()
            if tok is _Tok.END:
                return requirements
            if tok is not _Tok.COMMA:
                raise BadRequest(f"found '{_echo(lit)}', expected: ',' or 'end of string'")
            tok, lit = self._peek()
            if tok not in (_Tok.IDENT, _Tok.NOT):
                raise BadRequest(f"found '{_echo(lit)}', expected: identifier after ','")

    def _requirement(self) -> Requirement:
        negated = False
        tok, lit = self._next()
        if tok is _Tok.NOT:
            negated = True
            tok, lit = self._next()
        if tok is not _Tok.IDENT:
            raise _RequirementError(f"found '{_echo(lit)}', expected: identifier")
        key = lit
        _check_key(key)
        if negated:
            # Negation only applies to existence; in `!key=value` the caller then trips over the "=".
            return new_requirement(key, Operator.DOES_NOT_EXIST, ())
        if self._peek()[0] in (_Tok.END, _Tok.COMMA):
            return new_requirement(key, Operator.EXISTS, ())
        operator = self._operator()
        values = self._set_values() if operator in _SET_OPS else self._exact_value()
        return new_requirement(key, operator, values)

    def _operator(self) -> Operator:
        tok, lit = self._next(keywords=True)
        operators = {
            _Tok.IN: Operator.IN,
            _Tok.NOTIN: Operator.NOT_IN,
            _Tok.EQ: Operator.EQUALS,
            _Tok.DEQ: Operator.DOUBLE_EQUALS,
            _Tok.NEQ: Operator.NOT_EQUALS,
            _Tok.GT: Operator.GREATER_THAN,
            _Tok.LT: Operator.LESS_THAN,
        }
        if tok not in operators:
            raise _RequirementError(f"found '{_echo(lit)}', expected: {_BINARY_OPERATORS}")
        return operators[tok]

    def _exact_value(self) -> list[str]:
        tok, lit = self._peek()
        if tok in (_Tok.END, _Tok.COMMA):
            return [""]
        self._next()
        if tok is not _Tok.IDENT:
            raise _RequirementError(f"found '{_echo(lit)}', expected: identifier")
        return [lit]

    def _set_values(self) -> list[str]:
        tok, lit = self._next()
        if tok is not _Tok.LPAR:
            raise _RequirementError(f"found '{_echo(lit)}', expected: '('")
        values: list[str] = []
        expect_value = True
        while True:
            tok, lit = self._next()
            if tok is _Tok.RPAR:
                if expect_value:
                    values.append("")  # "()" and "(a,)" select the empty value, as on a real server
                return values
            if tok is _Tok.COMMA:
                if expect_value:
                    values.append("")
                expect_value = True
            elif tok is _Tok.IDENT and expect_value:
                values.append(lit)
                expect_value = False
            elif expect_value:
                raise _RequirementError(f"found '{_echo(lit)}', expected: ',', ')' or identifier")
            else:
                raise _RequirementError(f"found '{_echo(lit)}', expected: ',' or ')'")


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the `labelSelector` query parameter; the empty string selects everything.

    Raises `BadRequest` with the API server's message when the text is not a valid selector.
    """
    if not isinstance(text, str):
        raise BadRequest(f"a label selector must be a string, not {type(text).__name__}")
    return _selector(_Parser(text).parse())


# ----------------------------------------------------------------------------------------------------------
# metav1.LabelSelector objects

_SPEC_OPERATORS = {
    "In": Operator.IN,
    "NotIn": Operator.NOT_IN,
    "Exists": Operator.EXISTS,
    "DoesNotExist": Operator.DOES_NOT_EXIST,
}


def _spec_requirements(spec: dict) -> list[Requirement]:
    match_labels = spec.get("matchLabels") or {}
    expressions = spec.get("matchExpressions") or []
    if not isinstance(match_labels, dict):
        raise BadRequest("selector.matchLabels must be an object of label keys to values")
    if not isinstance(expressions, list):
        raise BadRequest("selector.matchExpressions must be a list")
    out = []
    for key, value in match_labels.items():
        if not isinstance(value, str):
            raise BadRequest(f"selector.matchLabels[{_echo(str(key))}] must be a string")
        out.append(new_requirement(key, Operator.EQUALS, [value]))
    for i, expr in enumerate(expressions):
        if not isinstance(expr, dict):
            raise BadRequest(
                f"selector.matchExpressions[{i}] must be an object with key, operator and values"
            )
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if not isinstance(key, str):
            raise BadRequest(f"selector.matchExpressions[{i}].key must be a string")
        if op not in _SPEC_OPERATORS:
            raise BadRequest(
                f'selector.matchExpressions[{i}].operator: Unsupported value: "{_echo(str(op))}": supported '
                'values: "DoesNotExist", "Exists", "In", "NotIn"'
            )
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise BadRequest(f"selector.matchExpressions[{i}].values must be a list of strings")
        out.append(new_requirement(key, _SPEC_OPERATORS[op], values))
    return out


def selector_from_spec(spec: dict | None, empty_matches_all: bool = True) -> LabelSelector:
    """The selector described by a `metav1.LabelSelector` object (matchLabels + matchExpressions).

    A missing or requirement-free spec selects everything when `empty_matches_all` (list filtering,
    NetworkPolicy `podSelector: {}`) and nothing otherwise (a workload whose selector is unset must not
    adopt every pod in its namespace). Raises `BadRequest` for malformed specs or unknown operators.
    """
    if spec is None:
        return EVERYTHING if empty_matches_all else NOTHING
    if not isinstance(spec, dict):
        raise BadRequest(f"a label selector must be an object, not {type(spec).__name__}")
    try:
        requirements = _spec_requirements(spec)
    except _RequirementError as e:
        raise BadRequest(f"invalid label selector: {e}") from None
    if not requirements:
        return EVERYTHING if empty_matches_all else NOTHING
    return _selector(requirements)


def selector_to_string(spec: dict | None) -> str:
    """Canonical text of a `metav1.LabelSelector` (as in a Scale's `status.selector`); "" when it is empty."""
    return str(selector_from_spec(spec))


# ----------------------------------------------------------------------------------------------------------
# Field selectors

# Each selectable field label maps to (dotted path in the object, value when the path is absent). The defaults
# are the Go zero values a real server would format, so `spec.unschedulable=false` matches a node without it.
_COMMON_FIELDS: dict[str, tuple[str, str]] = {
    "metadata.name": ("metadata.name", ""),
    "metadata.namespace": ("metadata.namespace", ""),
}
_RESOURCE_FIELDS: dict[str, dict[str, tuple[str, str]]] = {
    "pods": {
        "spec.nodeName": ("spec.nodeName", ""),
        "spec.restartPolicy": ("spec.restartPolicy", ""),
        "spec.schedulerName": ("spec.schedulerName", ""),
        "spec.serviceAccountName": ("spec.serviceAccountName", ""),
        "status.phase": ("status.phase", ""),
        "status.podIP": ("status.podIP", ""),
        "status.nominatedNodeName": ("status.nominatedNodeName", ""),
    },
    "nodes": {"spec.unschedulable": ("spec.unschedulable", "false")},
    "namespaces": {"status.phase": ("status.phase", "")},
    "secrets": {"type": ("type", "")},
    "events": {
        "involvedObject.kind": ("involvedObject.kind", ""),
        "involvedObject.namespace": ("involvedObject.namespace", ""),
        "involvedObject.name": ("involvedObject.name", ""),
        "involvedObject.uid": ("involvedObject.uid", ""),
        "involvedObject.apiVersion": ("involvedObject.apiVersion", ""),
        "involvedObject.resourceVersion": ("involvedObject.resourceVersion", ""),
        "involvedObject.fieldPath": ("involvedObject.fieldPath", ""),
        "reason": ("reason", ""),
        "reportingComponent": ("reportingComponent", ""),
        # The server indexes the reporting component under the bare name "source".
        "source": ("source.component", ""),
        "type": ("type", ""),
    },
    "replicasets": {"status.replicas": ("status.replicas", "0")},
    # Jobs expose the count of succeeded pods as `status.successful` (the object field is `succeeded`).
    "jobs": {"status.successful": ("status.succeeded", "0")},
}


def selectable_fields(plural: str) -> dict[str, tuple[str, str]]:
    """Field label → (object path, default) for every field a `plural` list can be filtered by."""
    return {**_COMMON_FIELDS, **_RESOURCE_FIELDS.get(plural, {})}


def _field_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return ""


@dataclass(frozen=True)
class FieldTerm:
    """One `field=value` (or `field!=value`) term."""

    field: str
    value: str
    negated: bool
    path: str
    default: str

    def value_of(self, obj: dict) -> str:
        """The text of this term's field in `obj`, as the server formats it for matching."""
        node: object = obj
        for part in self.path.split("."):
            if not isinstance(node, dict) or part not in node:
                return self.default
            node = node[part]
        return self.default if node is None else _field_text(node)

    def matches(self, obj: dict) -> bool:
        """Whether `obj` satisfies this term."""
        return (self.value_of(obj) == self.value) != self.negated

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")
        return f"{self.field}{'!=' if self.negated else '='}{escaped}"


@dataclass(frozen=True)
class FieldSelector:
    """A parsed field selector: the conjunction of its terms."""

    terms: tuple[FieldTerm, ...] = ()

    @property
    def empty(self) -> bool:
        """True when the selector has no terms and so matches everything."""
        return not self.terms

    def matches(self, obj: dict) -> bool:
        """Whether `obj` satisfies every term."""
        return all(t.matches(obj) for t in self.terms)

    def exact(self, field: str) -> str | None:
        """The value an `=` term requires of `field` (e.g. `metadata.name` for single-object watches)."""
        for term in self.terms:
            if term.field == field and not term.negated:
                return term.value
        return None

    def __str__(self) -> str:
        return ",".join(str(t) for t in self.terms)


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _split_term(term: str) -> tuple[str, str, str] | None:
    # The field part cannot be escaped, so the first operator occurrence splits the term; "!=" and "==" are
    # tried before "=" at each position so that `a!=b` is not read as field "a!" equals "b".
    for i in range(len(term)):
        for op in ("!=", "==", "="):
            if term.startswith(op, i):
                return term[:i], op, term[i + len(op) :]
    return None


def _unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            nxt = value[i + 1 : i + 2]
            if nxt not in ("\\", ",", "="):
                raise BadRequest(f"invalid field selector: invalid escape sequence: \\{nxt}")
            out.append(nxt)
            i += 2
            continue
        if ch in ",=":
            raise BadRequest(
                f"invalid field selector: unescaped character in value: '{ch}' (escape it as \\{ch})"
            )
        out.append(ch)
        i += 1
    return "".join(out)


def parse_field_selector(text: str, *, plural: str) -> FieldSelector:
    """Parse the `fieldSelector` query parameter for a list of `plural`; the empty string selects everything.

    Only the fields the API server supports for that resource are accepted; any other field raises
    `BadRequest("field label not supported: <field>")`, the real server's message.
    """
    if not isinstance(text, str):
        raise BadRequest(f"a field selector must be a string, not {type(text).__name__}")
    fields = selectable_fields(plural)
    terms = []
    for part in sorted(_split_unescaped(text, ",")):
        if not part:
            continue  # the server tolerates empty terms such as a trailing comma
        split = _split_term(part)
        if split is None:
            raise BadRequest(f"invalid selector: '{_echo(text)}'; can't understand '{_echo(part)}'")
        field, op, raw = split
        if field not in fields:
            raise BadRequest(f"field label not supported: {_echo(field)}")
        path, default = fields[field]
        terms.append(FieldTerm(field, _unescape(raw), op == "!=", path, default))
    return FieldSelector(tuple(terms))
