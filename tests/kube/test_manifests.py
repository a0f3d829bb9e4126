"""parse_manifests on hostile and realistic input; labels, namespaces and apply order."""

from __future__ import annotations

import re

import pytest

from providers.kube import manifests as m
from providers.kube.errors import InvalidManifest
from providers.kube.manifests import (
    APPLY_ORDER,
    MAX_DOCUMENTS,
    MAX_MANIFEST_BYTES,
    Manifest,
    apply_rank,
    in_apply_order,
    is_crd,
    is_namespace,
    label_objects,
    namespace_for,
    parse_manifests,
    sanitize_label_value,
)


def obj(kind: str = "ConfigMap", name: str = "cfg", api: str = "v1", extra: str = "") -> str:
    return f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}\n{extra}"


BOMB = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
"""

HOSTILE = [
    pytest.param(
        obj() + "---\n" + obj(name="two") + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: x: y\n",
        r"^manifest document 3 \(line 14, column 10\): mapping values are not allowed",
        id="invalid-yaml",
    ),
    pytest.param(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n",
        r"document 1 \(line 4, column 1\).*tab",
        id="tab-indent",
    ),
    pytest.param(
        obj(extra="data:\n  a: 'unclosed\n"),
        r"document 1 \(line \d+, column \d+\): while scanning a quoted scalar",
        id="unclosed-quote",
    ),
    pytest.param(BOMB, r"document 1 \(line \d+, column \d+\).*aliases.*billion laughs", id="billion-laughs"),
    pytest.param("a: &a [*a]\n", r"recursive alias", id="recursive-alias"),
    pytest.param(
        "x:\n" + "".join("  " * n + f"- l{n}:\n" for n in range(150)), r"nested more than 100", id="deep"
    ),
    pytest.param("[" * 5000 + "]" * 5000, r"nesting", id="very-deep-flow"),
    pytest.param(
        "!!python/object/apply:os.system ['touch /tmp/pwned']\n",
        r"document 1 \(line 1, column 1\): the tag !!python/object/apply:os.system is not allowed",
        id="python-tag",
    ),
    pytest.param(obj(extra="data: !custom {a: 1}\n"), r"the tag !custom is not allowed", id="custom-tag"),
    pytest.param(
        obj(extra="data: {a: 1, a: 2}\n"),
        r"line 5, column \d+\): the mapping key 'a' appears twice",
        id="dup-key",
    ),
    pytest.param(
        obj() + "data:\n  a: b\x07\n", r"line 6, column 7\): the control character U\+0007", id="control"
    ),
    pytest.param(
        obj().encode() + b"data:\n  a: \xff\xfe\n", r"not UTF-8 text: byte 0xff on line 6", id="non-utf8"
    ),
    pytest.param(
        obj() + "data:\n  big: " + "x" * MAX_MANIFEST_BYTES + "\n",
        r"is [\d,]+ bytes; the limit is 2,097,152 bytes \(2 MiB\)",
        id="too-big",
    ),
    pytest.param("---\n" * (MAX_DOCUMENTS + 1), r"more than 1000 YAML documents", id="1001-documents"),
    pytest.param(
        "".join("---\n" + obj(name=f"c{n}") for n in range(MAX_DOCUMENTS + 1)),
        r"more than 1000 YAML documents",
        id="1001-objects",
    ),
    pytest.param(
        "kind: ConfigMap\nmetadata: {name: a}\n",
        r"document 1 \(line 1\) has no `apiVersion`",
        id="no-apiversion",
    ),
    pytest.param(
        "apiVersion: v1\nmetadata: {name: a}\n", r"document 1 \(line 1\) has no `kind`", id="no-kind"
    ),
    pytest.param(
        "apiVersion: v1\nkind: 3\nmetadata: {name: a}\n", r"`kind` must be a string", id="kind-number"
    ),
    pytest.param(
        "apiVersion: v1\nkind: ConfigMap\n", r"\(ConfigMap\) has no `metadata` mapping", id="no-metadata"
    ),
    pytest.param(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: {}}\n", r"has no `metadata.name`", id="no-name"
    ),
    pytest.param(
        "apiVersion: v1\nkind: Pod\nmetadata: {generateName: web-}\n",
        r"uses `metadata.generateName`; kaas needs a fixed `metadata.name`",
        id="generate-name",
    ),
    pytest.param(obj(name="Web"), r"invalid name 'Web': names must be lowercase", id="uppercase-name"),
    pytest.param(obj(name="a" * 254), r"254 characters long; the limit is 253", id="name-too-long"),
    pytest.param(
        obj(name="web_1"), r"invalid name 'web_1': it must be a DNS-1123 subdomain", id="underscore-name"
    ),
    pytest.param(obj(extra="  namespace: My.Space\n"), r"invalid namespace 'My.Space'", id="bad-namespace"),
    pytest.param(obj(extra="  namespace: " + "n" * 64 + "\n"), r"invalid namespace", id="long-namespace"),
    pytest.param(obj(extra="  labels: [a, b]\n"), r"`metadata.labels` must be a mapping", id="labels-list"),
    pytest.param(
        "just a string\n", r"document 1 \(line 1\) is a string, not a Kubernetes object", id="scalar"
    ),
    pytest.param("42\n", r"is a number, not a Kubernetes object", id="number"),
    pytest.param(
        "---\n- a\n- b\n", r"document 1 \(line 1\) is a list, not a Kubernetes object", id="list-doc"
    ),
    pytest.param(
        obj(name="web") + "---\n" + obj(kind="Secret", name="web") + "---\n" + obj(name="web"),
        r"ConfigMap 'web' appears twice: documents 1 and 3 both define it",
        id="duplicates",
    ),
    pytest.param(
        "apiVersion: v1\nkind: List\nitems:\n- "
        + obj(name="a").replace("\n", "\n  ")
        + "\n- "
        + obj(name="a").replace("\n", "\n  "),
        r"document 1 defines it twice",
        id="duplicates-in-list",
    ),
    pytest.param(
        "apiVersion: v1\nkind: List\nitems:\n"
        + "".join(f"- {{apiVersion: v1, kind: ConfigMap, metadata: {{name: c{n}}}}}\n" for n in range(1001)),
        r"more than 1000 objects",
        id="1001-list-items",
    ),
    pytest.param(
        "apiVersion: v1\nkind: List\nitems:\n- 7\n",
        r"document 1 \(line 1\), item 1 is a number",
        id="list-item-scalar",
    ),
    pytest.param("", r"^manifest: the manifest has no objects$", id="empty"),
    pytest.param("# only\n# comments\n", r"the manifest has no objects", id="only-comments"),
    pytest.param("---\n# c\n---\n...\n---\n", r"the manifest has no objects", id="only-separators"),
]


@pytest.mark.parametrize(("text", "message"), HOSTILE)
def test_hostile_input_is_refused_with_a_located_message(text: str | bytes, message: str) -> None:
    with pytest.raises(InvalidManifest) as caught:
        parse_manifests(text)
    assert re.search(message, caught.value.message), caught.value.message
    assert caught.value.hint


def test_source_names_the_input_in_messages() -> None:
    with pytest.raises(InvalidManifest, match=r"^deploy\.yaml document 1 \(line 2, column 5\)"):
        parse_manifests("a: b\nc: d: e\n", source="deploy.yaml")


def test_document_numbers_count_leading_comments_and_separators_like_yaml() -> None:
    text = "# header\n---\n" + obj(name="a") + "---\n---\n" + "apiVersion: v1\nkind: Pod\nmetadata: x: y\n"
    with pytest.raises(InvalidManifest, match=r"^manifest document 3 \(line 11, column \d+\)"):
        parse_manifests(text)


def test_the_python_parser_applies_the_same_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(m, "_LOADER", m._loader_class(m._PureParser))
    with pytest.raises(InvalidManifest, match="billion laughs"):
        parse_manifests(BOMB)
    with pytest.raises(InvalidManifest, match=r"document 2 \(line 6, column \d+\): mapping values"):
        parse_manifests(obj() + "---\nkind: x: y\n")
    parsed = parse_manifests(APP)
    assert (len(parsed), parsed[0].kind, parsed[-1].name) == (
        9,
        "CustomResourceDefinition",
        "system:shop-reader",
    )


def test_aliases_within_the_limit_are_expanded() -> None:
    text = (
        obj(kind="ConfigMap", name="a", extra="data: &d {k: v}\n")
        + "---\n"
        + obj(name="b", extra="data: *d\n")
    )
    # Aliases do not cross documents, so the second document refers to an undefined anchor.
    with pytest.raises(InvalidManifest, match=r"document 2 .*undefined alias"):
        parse_manifests(text)
    base = "x-base: &base {app: web}\n"
    (only,) = parse_manifests(base + obj(extra="  labels:\n    <<: *base\n    tier: front\n"))
    assert only.obj["metadata"]["labels"] == {"app": "web", "tier": "front"}


APP = """\
# The shop app, as a user would paste it.
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.shop.example.com
spec:
  group: shop.example.com
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        envFrom:
        - configMapRef: {name: web-config}
        - secretRef: {name: web-secret}
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  LOG_LEVEL: info
---
apiVersion: v1
kind: Secret
metadata:
  name: web-secret
type: Opaque
stringData:
  PASSWORD: hunter2
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
  namespace: shop
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: web
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 5
---
apiVersion: shop.example.com/v1
kind: Widget
metadata:
  name: blue
spec: {colour: blue}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:shop-reader
rules: []
---
# A trailing empty document, as many generators leave.
"""


def test_a_realistic_app_parses_with_positions() -> None:
    parsed = parse_manifests(APP.encode())
    assert [(x.kind, x.name) for x in parsed] == [
        ("CustomResourceDefinition", "widgets.shop.example.com"),
        ("Deployment", "web"),
        ("Service", "web"),
        ("ConfigMap", "web-config"),
        ("Secret", "web-secret"),
        ("Ingress", "web"),
        ("HorizontalPodAutoscaler", "web"),
        ("Widget", "blue"),
        ("ClusterRole", "system:shop-reader"),
    ]
    assert [x.index for x in parsed] == list(range(1, 10))
    lines = APP.splitlines()
    # The first document starts at its first token (after the comment); the others at their `---`.
    assert parsed[0].line == 2
    for manifest in parsed[1:]:
        assert lines[manifest.line - 1] == "---"
        assert lines[manifest.line].startswith("apiVersion:")
    deployment = parsed[1]
    assert deployment.api_version == "apps/v1"
    assert deployment.namespace is None
    assert parsed[5].namespace == "shop"
    assert parsed[4].obj["stringData"] == {"PASSWORD": "hunter2"}
    assert is_crd(parsed[0]) and not is_crd(parsed[7])


def test_same_name_in_other_kinds_groups_or_namespaces_is_not_a_duplicate() -> None:
    text = "---\n".join(
        [
            obj(kind="ConfigMap", name="web"),
            obj(kind="Secret", name="web"),
            obj(kind="ConfigMap", name="web", extra="  namespace: other\n"),
            obj(kind="Thing", name="web", api="a.example.com/v1"),
            obj(kind="Thing", name="web", api="b.example.com/v1"),
        ]
    )
    assert len(parse_manifests(text)) == 5


def test_versions_of_one_group_are_duplicates() -> None:
    text = obj(kind="Thing", name="web", api="a.example.com/v1") + "---\n"
    text += obj(kind="Thing", name="web", api="a.example.com/v2")
    with pytest.raises(InvalidManifest, match=r"Thing 'web' \(a.example.com\) appears twice"):
        parse_manifests(text)


def test_lists_are_expanded_into_their_items() -> None:
    text = (
        obj(name="first")
        + "---\n"
        + (
            "apiVersion: v1\nkind: List\nitems:\n"
            "- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n"
            "- {apiVersion: v1, kind: Secret, metadata: {name: b}}\n"
            "---\n"
            "apiVersion: apps/v1\nkind: DeploymentList\nitems:\n"
            "- {apiVersion: apps/v1, kind: Deployment, metadata: {name: c}}\n"
        )
    )
    parsed = parse_manifests(text)
    assert [(x.kind, x.name, x.index, x.line) for x in parsed] == [
        ("ConfigMap", "first", 1, 1),
        ("ConfigMap", "a", 2, 5),
        ("Secret", "b", 2, 5),
        ("Deployment", "c", 3, 11),
    ]


def test_manifest_line_and_index_survive_a_byte_order_mark_and_crlf() -> None:
    text = ("\ufeff" + obj(name="a") + "---\n" + obj(name="b")).replace("\n", "\r\n").encode()
    assert [(x.index, x.line) for x in parse_manifests(text)] == [(1, 1), (2, 5)]


def test_workloads_and_their_pods_are_labelled_but_selectors_are_not() -> None:
    text = "---\n".join(
        [
            obj(kind="Deployment", name="web", api="apps/v1", extra=WORKLOAD),
            obj(kind="StatefulSet", name="db", api="apps/v1", extra=WORKLOAD),
            obj(kind="DaemonSet", name="agent", api="apps/v1", extra=WORKLOAD),
            obj(kind="ReplicaSet", name="rs", api="apps/v1", extra=WORKLOAD),
            obj(kind="Job", name="once", api="batch/v1", extra="spec:\n  template:\n    spec: {}\n"),
            obj(kind="CronJob", name="nightly", api="batch/v1", extra=CRONJOB),
            obj(kind="Service", name="web", extra="spec:\n  selector: {app: web}\n"),
            obj(kind="Widget", name="w", api="shop.example.com/v1", extra="spec:\n  template: {}\n"),
        ]
    )
    parsed = parse_manifests(text)
    kaas = {"kaas.dev/app": "shop", "kaas.dev/version": "1.2.3"}
    labelled = label_objects(parsed, kaas)

    for out in labelled:
        assert kaas.items() <= out["metadata"]["labels"].items()
    for out in labelled[:4]:
        assert out["metadata"]["labels"]["app"] == "web"
        assert out["spec"]["template"]["metadata"]["labels"] == {"app": "web", **kaas}
        assert out["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    assert labelled[4]["spec"]["template"]["metadata"]["labels"] == kaas
    job_template = labelled[5]["spec"]["jobTemplate"]["spec"]["template"]
    assert job_template["metadata"]["labels"] == {"job": "nightly", **kaas}
    assert labelled[6]["spec"]["selector"] == {"app": "web"}
    # A custom resource's `template` is its own business.
    assert labelled[7]["spec"]["template"] == {}
    # The parsed objects are untouched.
    assert "kaas.dev/app" not in parsed[0].obj["metadata"]["labels"]
    assert "metadata" not in parsed[4].obj["spec"]["template"]


WORKLOAD = """\
  labels: {app: web}
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec: {containers: [{name: c, image: nginx}]}
"""
CRONJOB = """\
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        metadata:
          labels: {job: nightly}
        spec: {}
"""


def test_label_objects_overrides_clashing_labels_and_refuses_invalid_values() -> None:
    mine = {"kind": "ConfigMap", "metadata": {"labels": {"kaas.dev/app": "mine"}}}
    (out,) = label_objects([mine], {"kaas.dev/app": "shop"})
    assert out["metadata"]["labels"] == {"kaas.dev/app": "shop"}
    (out,) = label_objects([{"kind": "ConfigMap", "metadata": {"name": "x", "labels": None}}], {"a": "b"})
    assert out["metadata"]["labels"] == {"a": "b"}
    with pytest.raises(ValueError, match="sanitize_label_value"):
        label_objects([], {"kaas.dev/version": "1.2.3+build"})


def test_apply_order_is_stable_and_puts_definitions_first() -> None:
    kinds = [
        "Widget", "Ingress", "Deployment", "Service", "ConfigMap", "Namespace", "CustomResourceDefinition",
        "HorizontalPodAutoscaler", "Secret", "NetworkPolicy", "ClusterRoleBinding", "ClusterRole", "Job",
        "PersistentVolumeClaim", "ServiceAccount", "IngressClass", "PodDisruptionBudget", "CronJob",
    ]  # fmt: skip
    objs = [{"kind": k, "metadata": {"name": f"{k.lower()}-{n}"}} for n in (1, 2) for k in kinds]
    ordered = in_apply_order(objs)
    assert [o["kind"] for o in ordered[:2]] == ["CustomResourceDefinition"] * 2
    assert [o["kind"] for o in ordered[2:4]] == ["Namespace"] * 2
    ranks = [apply_rank(o) for o in ordered]
    assert ranks == sorted(ranks)
    assert [o["kind"] for o in ordered[-4:]] == ["Widget", "NetworkPolicy", "Widget", "NetworkPolicy"]
    for kind in kinds:
        same = [o["metadata"]["name"] for o in ordered if o["kind"] == kind]
        assert same == [f"{kind.lower()}-1", f"{kind.lower()}-2"]
    position = {kind: APPLY_ORDER.index(kind) for kind in APPLY_ORDER}
    assert position["ServiceAccount"] < position["ClusterRoleBinding"] < position["Deployment"]
    assert position["ConfigMap"] < position["Deployment"] < position["HorizontalPodAutoscaler"]
    assert position["Service"] < position["Ingress"]


def test_apply_order_takes_manifests_too() -> None:
    parsed = parse_manifests(APP)
    ordered = in_apply_order(parsed)
    assert all(isinstance(x, Manifest) for x in ordered)
    assert [x.kind for x in ordered] == [
        "CustomResourceDefinition", "Secret", "ConfigMap", "ClusterRole", "Service", "Deployment",
        "HorizontalPodAutoscaler", "Ingress", "Widget",
    ]  # fmt: skip


def test_kind_helpers() -> None:
    assert is_namespace({"apiVersion": "v1", "kind": "Namespace"})
    assert not is_namespace({"apiVersion": "example.com/v1", "kind": "Namespace"})
    assert is_crd({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition"})
    assert not is_crd({"apiVersion": "v1", "kind": "ConfigMap"})


LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@pytest.mark.parametrize(
    ("app", "version", "expected"),
    [
        pytest.param("shop", None, "shop", id="app-only"),
        pytest.param("shop", "1.2.3", "shop-1-2-3", id="dotted-version"),
        pytest.param("My_App", "V2", "my-app-v2", id="underscore-uppercase"),
        pytest.param("--web--", "__1__", "web-1", id="collapse-and-strip"),
        pytest.param("café", "1", "cafe-1", id="accents"),
    ],
)
def test_namespace_for(app: str, version: str | None, expected: str) -> None:
    assert namespace_for(app, version) == expected


def test_namespace_for_long_and_foreign_names_stay_valid_and_distinct() -> None:
    app = "a-really-long-application-name-that-goes-on-and-on-and-on"
    long_ns, longer_ns = namespace_for(app, "v1.2.3-long"), namespace_for(app, "v1.2.3-longer")
    assert long_ns != longer_ns
    for namespace in (long_ns, longer_ns, namespace_for("日本", "1"), namespace_for("中文", "1")):
        assert len(namespace) <= 63 and DNS_LABEL.fullmatch(namespace), namespace
    assert long_ns.startswith("a-really-long-application-name")
    assert namespace_for("日本", "1") != namespace_for("中文", "1")
    assert namespace_for("shop", "1") == namespace_for("shop", "1")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("1.2.3", "1.2.3", id="valid-unchanged"),
        pytest.param("My_App", "My_App", id="case-kept"),
        pytest.param("", "", id="empty"),
        pytest.param("1.2.3+build/7", "1.2.3-build-7", id="plus-and-slash"),
        pytest.param("-v1-", "v1", id="edges"),
        pytest.param("héllo wörld", "hello-world", id="accents"),
    ],
)
def test_sanitize_label_value(value: str, expected: str) -> None:
    assert sanitize_label_value(value) == expected


def test_sanitize_label_value_long_and_foreign_values() -> None:
    long_a, long_b = sanitize_label_value("x" * 70 + "a"), sanitize_label_value("x" * 70 + "b")
    assert long_a != long_b
    for value in (long_a, long_b, sanitize_label_value("日本"), sanitize_label_value("." * 80)):
        assert len(value) <= 63 and LABEL_VALUE.fullmatch(value), value
