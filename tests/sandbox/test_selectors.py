"""Label and field selectors: grammar, matching, canonical text and the API server's error messages."""

from __future__ import annotations

import pytest

from providers.sandbox.errors import BadRequest
from providers.sandbox.selectors import (
    LabelSelector,
    parse_field_selector,
    parse_label_selector,
    selector_from_spec,
    selector_to_string,
)

WEB = {"app": "web", "tier": "frontend", "release": "3"}

# --------------------------------------------------------------------------------------------------------
# Label selector text


@pytest.mark.parametrize(
    ("text", "labels", "expected"),
    [
        ("", WEB, True),
        ("", None, True),
        ("app=web", WEB, True),
        ("app==web", WEB, True),
        ("app=db", WEB, False),
        ("app!=db", WEB, True),
        ("app!=web", WEB, False),
        ("missing!=x", WEB, True),  # != also selects objects without the label
        ("app in (web,db)", WEB, True),
        ("app in (db, cache)", WEB, False),
        ("app notin (db,cache)", WEB, True),
        ("missing notin (a)", WEB, True),
        ("app notin (web)", WEB, False),
        ("app", WEB, True),
        ("missing", WEB, False),
        ("!missing", WEB, True),
        ("!app", WEB, False),
        ("app=web,tier=frontend", WEB, True),
        ("app=web,tier=backend", WEB, False),
        ("  app = web ,\ttier\n in ( frontend ) ", WEB, True),
        ("release>2", WEB, True),
        ("release<3", WEB, False),
        ("app>1", WEB, False),  # a non-integer label satisfies neither Gt nor Lt
        ("missing>1", WEB, False),
        ("empty=", {"empty": ""}, True),
        ("empty=", {"empty": "x"}, False),
        ("k in ()", {"k": ""}, True),
        ("k in (,a)", {"k": ""}, True),
        ("in=notin", {"in": "notin"}, True),  # keywords are plain words outside operator position
        ("k in (in,notin)", {"k": "notin"}, True),
        ("example.com/role=db", {"example.com/role": "db"}, True),
        ("app=web", None, False),
        ("!app", None, True),
        ("app=web", {}, False),
    ],
)
def test_label_selector_matches(text: str, labels: dict | None, expected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is expected


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("", ""),
        ("b=2,a=1", "a=1,b=2"),  # sorted by key, like the server
        ("x==y", "x==y"),
        ("tier in (web, api , db)", "tier in (api,db,web)"),
        ("tier notin (b,a,b)", "tier notin (a,b)"),
        (" !gone , here ", "!gone,here"),
        ("n>5,m<7", "m<7,n>5"),
        ("k=", "k="),
    ],
)
def test_label_selector_canonical_text(text: str, canonical: str) -> None:
    assert str(parse_label_selector(text)) == canonical
    assert str(parse_label_selector(canonical)) == canonical  # the canonical form parses to itself


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("app in web", "unable to parse requirement: found 'web', expected: '('"),
        ("app in (web", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("app in (web))", "found ')', expected: ',' or 'end of string'"),
        ("app in ((web)", "unable to parse requirement: found '(', expected: ',', ')' or identifier"),
        ("app in (a b)", "found 'b', expected: ',' or ')'"),
        ("app notin", "unable to parse requirement: found '', expected: '('"),
        ("=web", "found '=', expected: !, identifier, or 'end of string'"),
        ("(", "found '(', expected: !, identifier, or 'end of string'"),
        (",app", "found ',', expected: !, identifier, or 'end of string'"),
        ("app,", "found '', expected: identifier after ','"),
        ("app,,b", "found ',', expected: identifier after ','"),
        ("app web", "found 'web', expected: in, notin, =, ==, !=, gt, lt"),
        ("app=web=x", "found '=', expected: ',' or 'end of string'"),
        ("app=(x)", "unable to parse requirement: found '(', expected: identifier"),
        ("!app=web", "found '=', expected: ',' or 'end of string'"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        ("!!a", "unable to parse requirement: found '!', expected: identifier"),
        ("a@b=c", 'Invalid value: "a@b": name part must consist of alphanumeric characters'),
        ("-a=b", "name part must consist of alphanumeric characters"),
        ("a/b/c=d", "a qualified name must consist of alphanumeric characters"),
        ("/a=b", "prefix part must be non-empty"),
        ("Bad_Prefix/a=b", "prefix part a lowercase RFC 1123 subdomain"),
        ("example.com/=b", "name part must be non-empty"),
        ("a=b@c", 'values[a]: Invalid value: "b@c": a valid label must be an empty string'),
        ("a in (ok,-bad)", 'Invalid value: "-bad"'),
        ("a>x", "for 'Gt', 'Lt' operators, the value must be an integer"),
        ("a<", "for 'Gt', 'Lt' operators, the value must be an integer"),
        ("a>1.5", "the value must be an integer"),
        ("k" * 64, "name part must be no more than 63 characters"),
        ("a=" + "v" * 64, "must be no more than 63 characters"),
        ("p" * 254 + "/x=1", "prefix part must be no more than 253 characters"),
    ],
)
def test_label_selector_errors(text: str, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_label_selector(text)
    assert message in caught.value.message
    assert caught.value.code == 400


def test_label_selector_valid_limits_are_accepted() -> None:
    key = "a." * 100 + "b/" + "k" * 63
    sel = parse_label_selector(f"{key}={'v' * 63}")
    assert sel.matches({key: "v" * 63})


@pytest.mark.parametrize(
    "text",
    [
        "k" * 10_000,  # one enormous key
        "a=" + "v" * 10_000,
        "a in (" + "x," * 5_000,  # never closed
        "(" * 10_000,
        "!" * 10_000,
        "a=b " * 2_500,
        "\x00=1",
        "ключ=значение",
        "a=b\u00a0",  # a non-breaking space is not whitespace to the lexer, so it is part of the value
    ],
)
def test_hostile_label_selectors_fail_cleanly(text: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_label_selector(text)
    # Errors never echo a 10k-character input back in full.
    assert len(caught.value.message) < 1_000


def test_many_requirements_parse() -> None:
    text = ",".join(f"k{i}=v{i}" for i in range(2_000))
    sel = parse_label_selector(text)
    assert len(sel.requirements) == 2_000
    assert sel.matches({f"k{i}": f"v{i}" for i in range(2_000)})
    assert not sel.matches({f"k{i}": f"v{i}" for i in range(1_999)})


@pytest.mark.parametrize("value", [None, 42, ["app=web"], b"app=web"])
def test_label_selector_wrong_types(value: object) -> None:
    with pytest.raises(BadRequest, match="must be a string"):
        parse_label_selector(value)  # type: ignore[arg-type]


def test_empty_property() -> None:
    assert parse_label_selector("").empty
    assert parse_label_selector("   ").empty
    assert not parse_label_selector("a").empty
    assert not selector_from_spec(None, empty_matches_all=False).empty


# --------------------------------------------------------------------------------------------------------
# metav1.LabelSelector objects


def _expr(key: str, operator: str, *values: str) -> dict:
    return {"key": key, "operator": operator, "values": list(values)}


@pytest.mark.parametrize(
    ("spec", "empty_matches_all", "labels", "expected"),
    [
        (None, True, WEB, True),
        (None, False, WEB, False),
        ({}, True, WEB, True),
        ({}, False, WEB, False),
        ({"matchLabels": {}, "matchExpressions": []}, False, {}, False),
        ({"matchLabels": None}, True, {}, True),
        ({"matchLabels": {"app": "web"}}, False, WEB, True),
        ({"matchLabels": {"app": "db"}}, True, WEB, False),
        (
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["frontend", "x"]}]},
            True,
            WEB,
            True,
        ),
        (
            {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["frontend"]}]},
            True,
            WEB,
            False,
        ),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, True, WEB, True),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, True, WEB, False),
        ({"matchExpressions": [{"key": "zzz", "operator": "DoesNotExist", "values": []}]}, True, WEB, True),
        (
            {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]},
            False,
            {"app": "web"},
            False,
        ),
    ],
)
def test_selector_from_spec(spec: dict | None, empty_matches_all: bool, labels: dict, expected: bool) -> None:
    assert selector_from_spec(spec, empty_matches_all=empty_matches_all).matches(labels) is expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("app=web", "must be an object"),
        ({"matchLabels": ["app"]}, "matchLabels must be an object"),
        ({"matchLabels": {"app": 1}}, "matchLabels[app] must be a string"),
        ({"matchLabels": {"a@": "x"}}, 'Invalid value: "a@"'),
        ({"matchLabels": {"app": "-x"}}, 'Invalid value: "-x"'),
        ({"matchExpressions": {"key": "a"}}, "matchExpressions must be a list"),
        ({"matchExpressions": ["a"]}, "matchExpressions[0] must be an object"),
        ({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}, 'Unsupported value: "Gt"'),
        ({"matchExpressions": [{"key": "a", "operator": "in", "values": ["1"]}]}, 'Unsupported value: "in"'),
        ({"matchExpressions": [{"key": "a"}]}, 'Unsupported value: "None"'),
        ({"matchExpressions": [{"operator": "Exists"}]}, "key must be a string"),
        ({"matchExpressions": [{"key": "a", "operator": "In"}]}, "values set can't be empty"),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]}, "must be a list of strings"),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": [1]}]}, "must be a list of strings"),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]},
            "values set must be empty",
        ),
    ],
)
def test_selector_from_spec_errors(spec: object, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        selector_from_spec(spec)  # type: ignore[arg-type]
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    {"key": "tier", "operator": "NotIn", "values": ["z", "a"]},
                    {"key": "canary", "operator": "DoesNotExist"},
                    {"key": "zone", "operator": "Exists"},
                ],
            },
            "app=web,!canary,tier notin (a,z),zone",
        ),
        ({}, ""),
        (None, ""),
    ],
)
def test_selector_to_string(spec: dict | None, text: str) -> None:
    assert selector_to_string(spec) == text
    if text:
        # The text form selects the same objects as the object form.
        assert parse_label_selector(text) == selector_from_spec(spec)


def test_label_selector_is_hashable_and_comparable() -> None:
    assert parse_label_selector("a=1,b=2") == parse_label_selector("b=2 , a=1")
    assert isinstance(hash(parse_label_selector("a in (x,y)")), int)
    assert LabelSelector() == parse_label_selector("")


# --------------------------------------------------------------------------------------------------------
# Field selectors

POD = {
    "metadata": {"name": "web-1", "namespace": "prod"},
    "spec": {"nodeName": "node-a", "restartPolicy": "Always"},
    "status": {"phase": "Running", "podIP": "10.0.0.5"},
}
EVENT = {
    "metadata": {"name": "e1", "namespace": "prod"},
    "involvedObject": {"kind": "Pod", "name": "web-1", "uid": "u-1"},
    "reason": "Scheduled",
    "source": {"component": "default-scheduler"},
    "type": "Normal",
}


@pytest.mark.parametrize(
    ("text", "plural", "obj", "expected"),
    [
        ("", "pods", POD, True),
        ("metadata.name=web-1", "pods", POD, True),
        ("metadata.name==web-1", "pods", POD, True),
        ("metadata.name!=web-1", "pods", POD, False),
        ("metadata.namespace=prod,status.phase=Running", "pods", POD, True),
        ("metadata.namespace=prod,status.phase!=Running", "pods", POD, False),
        ("spec.nodeName=node-a", "pods", POD, True),
        ("spec.nodeName=", "pods", {"metadata": {"name": "p"}}, True),  # unscheduled pods
        ("spec.nodeName!=", "pods", {"metadata": {"name": "p"}}, False),
        ("status.podIP=10.0.0.5", "pods", POD, True),
        ("spec.schedulerName=", "pods", POD, True),
        ("status.nominatedNodeName=", "pods", POD, True),
        ("spec.serviceAccountName=default", "pods", POD, False),
        ("spec.unschedulable=true", "nodes", {"spec": {"unschedulable": True}}, True),
        ("spec.unschedulable=false", "nodes", {"spec": {}}, True),  # Go's zero value
        ("spec.unschedulable=false", "nodes", {"spec": {"unschedulable": False}}, True),
        ("status.phase=Terminating", "namespaces", {"status": {"phase": "Terminating"}}, True),
        ("type=kubernetes.io/tls", "secrets", {"type": "kubernetes.io/tls"}, True),
        ("type!=helm.sh/release.v1", "secrets", {"type": "Opaque"}, True),
        ("involvedObject.name=web-1,involvedObject.kind=Pod", "events", EVENT, True),
        ("involvedObject.uid=u-2", "events", EVENT, False),
        ("involvedObject.fieldPath=", "events", EVENT, True),
        ("reason=Scheduled,type=Normal", "events", EVENT, True),
        ("source=default-scheduler", "events", EVENT, True),
        ("reportingComponent=", "events", EVENT, True),
        ("status.replicas=3", "replicasets", {"status": {"replicas": 3}}, True),
        ("status.replicas=0", "replicasets", {"status": {}}, True),
        ("status.successful=1", "jobs", {"status": {"succeeded": 1}}, True),
        ("metadata.name=x", "widgets.example.com", {"metadata": {"name": "x"}}, True),
        ("metadata.namespace=", "nodes", {"metadata": {"name": "n"}}, True),  # cluster-scoped
        (r"metadata.name=a\,b", "configmaps", {"metadata": {"name": "a,b"}}, True),
        (r"metadata.name=a\=b\\c", "configmaps", {"metadata": {"name": "a=b\\c"}}, True),
        ("metadata.name=a,", "configmaps", {"metadata": {"name": "a"}}, True),  # empty terms are ignored
        ("metadata.name=web-1", "pods", {}, False),
        ("metadata.name=web-1", "pods", {"metadata": None}, False),
        ("status.phase=", "pods", {"status": {"phase": {"nested": True}}}, True),  # non-scalars read as ""
    ],
)
def test_field_selector_matches(text: str, plural: str, obj: dict, expected: bool) -> None:
    assert parse_field_selector(text, plural=plural).matches(obj) is expected


@pytest.mark.parametrize(
    ("text", "plural", "message"),
    [
        ("spec.nodeName=a", "services", "field label not supported: spec.nodeName"),
        ("status.phase=Active", "configmaps", "field label not supported: status.phase"),
        ("spec.unschedulable=true", "pods", "field label not supported: spec.unschedulable"),
        ("type=Opaque", "pods", "field label not supported: type"),
        ("metadata.labels=x", "pods", "field label not supported: metadata.labels"),
        ("=x", "pods", "field label not supported: "),
        (" metadata.name=x", "pods", "field label not supported:  metadata.name"),
        ("metadata.name", "pods", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("metadata.name in (a)", "pods", "can't understand"),
        ("metadata.name=a=b", "pods", "unescaped character in value: '='"),
        ("metadata.name=a\\x", "pods", "invalid escape sequence"),
        ("metadata.name=a\\", "pods", "invalid escape sequence"),
        ("f" * 10_000 + "=x", "pods", "field label not supported: fff"),
    ],
)
def test_field_selector_errors(text: str, plural: str, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_field_selector(text, plural=plural)
    assert message in caught.value.message
    assert len(caught.value.message) < 1_000


@pytest.mark.parametrize("value", [None, 1, {"metadata.name": "x"}])
def test_field_selector_wrong_types(value: object) -> None:
    with pytest.raises(BadRequest, match="must be a string"):
        parse_field_selector(value, plural="pods")  # type: ignore[arg-type]


def test_field_selector_exact_and_text() -> None:
    sel = parse_field_selector(r"metadata.name=a\,b,status.phase!=Failed", plural="pods")
    assert sel.exact("metadata.name") == "a,b"
    assert sel.exact("status.phase") is None  # a != term pins nothing
    assert str(sel) == r"metadata.name=a\,b,status.phase!=Failed"
    assert not sel.empty
    assert parse_field_selector("", plural="pods").empty


def test_many_field_terms() -> None:
    text = ",".join(["metadata.name!=x"] * 5_000)
    assert parse_field_selector(text, plural="pods").matches(POD)
