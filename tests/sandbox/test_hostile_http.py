"""Hostile and malformed requests get a proper `Status` error, and the server keeps serving."""

from __future__ import annotations

import pytest
import requests

from providers.sandbox.sandbox import ClusterInfo, Sandbox

pytestmark = pytest.mark.e2e

CM = "/api/v1/namespaces/default/configmaps"
BOMB = b"""apiVersion: v1
kind: ConfigMap
metadata: {name: bomb}
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: [*d,*d,*d,*d,*d,*d,*d,*d,*d]
"""


@pytest.fixture(scope="module")
def target(
    sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ClusterInfo, requests.Session]:
    info = sandbox.create_cluster("hostile", nodes=1)
    ca = tmp_path_factory.mktemp("ca") / "ca.crt"
    ca.write_text(sandbox.ca_pem)
    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE would otherwise replace our CA
    session.verify = str(ca)
    session.headers["Authorization"] = f"Bearer {sandbox.token(info.id)}"
    session.post(
        f"{info.endpoint}{CM}", json={"metadata": {"name": "existing"}}, timeout=10
    ).raise_for_status()
    return info, session


def _cm(name: str, **extra) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, **extra}


CASES = [
    # (id, method, path, kwargs, code, reason, message fragment)
    (
        "malformed-json",
        "POST",
        CM,
        {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
        400,
        "BadRequest",
        "json parse error",
    ),
    ("json-array-body", "POST", CM, {"json": [1, 2, 3]}, 400, "BadRequest", "must be a JSON object"),
    (
        "empty-body",
        "POST",
        CM,
        {"data": b"", "headers": {"Content-Type": "application/json"}},
        400,
        "BadRequest",
        "empty",
    ),
    (
        "yaml-bomb",
        "POST",
        CM,
        {"data": BOMB, "headers": {"Content-Type": "application/yaml"}},
        400,
        "BadRequest",
        "aliases are not allowed",
    ),
    (
        "deep-nesting",
        "POST",
        CM,
        {"data": b"[" * 200_000 + b"]" * 200_000, "headers": {"Content-Type": "application/json"}},
        400,
        "BadRequest",
        "deeply",
    ),
    (
        "oversized-body",
        "POST",
        CM,
        {"json": _cm("big", data={"k": "x" * (4 * 1024 * 1024)})},
        413,
        "RequestEntityTooLarge",
        "limit is 3145728",
    ),
    ("unknown-resource", "GET", "/api/v1/namespaces/default/gizmos", {}, 404, "NotFound", "could not find"),
    ("unknown-group", "GET", "/apis/nope.example.com/v1/things", {}, 404, "NotFound", "could not find"),
    (
        "wrong-api-version",
        "POST",
        CM,
        {"json": {**_cm("x"), "apiVersion": "apps/v1"}},
        400,
        "BadRequest",
        "does not match the expected API version",
    ),
    ("wrong-kind", "POST", CM, {"json": {**_cm("x"), "kind": "Secret"}}, 400, "BadRequest", "does not match"),
    ("uppercase-name", "POST", CM, {"json": _cm("Bad_Name")}, 422, "Invalid", "RFC 1123 subdomain"),
    (
        "name-too-long",
        "POST",
        "/api/v1/namespaces",
        {"json": {"metadata": {"name": "n" * 64}}},
        422,
        "Invalid",
        "no more than 63 characters",
    ),
    ("no-name", "POST", CM, {"json": {"metadata": {}}}, 422, "Invalid", "name or generateName is required"),
    (
        "missing-namespace",
        "POST",
        "/api/v1/namespaces/ghost/configmaps",
        {"json": _cm("x")},
        404,
        "NotFound",
        'namespaces "ghost" not found',
    ),
    ("duplicate", "POST", CM, {"json": _cm("existing")}, 409, "AlreadyExists", "already exists"),
    (
        "stale-update",
        "PUT",
        f"{CM}/existing",
        {"json": {**_cm("existing"), "metadata": {"name": "existing", "resourceVersion": "1"}}},
        409,
        "Conflict",
        "the object has been modified",
    ),
    ("bad-label-selector", "GET", f"{CM}?labelSelector=app%20in%20(a", {}, 400, "BadRequest", ""),
    (
        "bad-field-selector",
        "GET",
        f"{CM}?fieldSelector=spec.bogus%3Dx",
        {},
        400,
        "BadRequest",
        "field label not supported",
    ),
    (
        "unsupported-patch-type",
        "PATCH",
        f"{CM}/existing",
        {"data": b"{}", "headers": {"Content-Type": "text/plain"}},
        415,
        "UnsupportedMediaType",
        "accepted media types",
    ),
    (
        "patch-missing-object",
        "PATCH",
        f"{CM}/ghost",
        {"data": b"{}", "headers": {"Content-Type": "application/merge-patch+json"}},
        404,
        "NotFound",
        'configmaps "ghost" not found',
    ),
    ("bad-dry-run", "POST", f"{CM}?dryRun=Some", {"json": _cm("x")}, 400, "BadRequest", "dryRun"),
    (
        "bad-field-validation",
        "POST",
        f"{CM}?fieldValidation=Loose",
        {"json": _cm("x")},
        400,
        "BadRequest",
        "",
    ),
    (
        "strict-unknown-field",
        "POST",
        f"{CM}?fieldValidation=Strict",
        {"json": _cm("x", bogus=1)},
        400,
        "BadRequest",
        'unknown field "bogus"',
    ),
    (
        "wrong-type",
        "POST",
        "/apis/apps/v1/namespaces/default/deployments",
        {"json": {"metadata": {"name": "d"}, "spec": {"replicas": "three"}}},
        422,
        "Invalid",
        "spec.replicas",
    ),
    (
        "name-mismatch",
        "PUT",
        f"{CM}/existing",
        {"json": _cm("other")},
        400,
        "BadRequest",
        "does not match the name",
    ),
    (
        "garbage-protobuf",
        "POST",
        CM,
        {"data": b"k8s\x00\xff\xff\xff", "headers": {"Content-Type": "application/vnd.kubernetes.protobuf"}},
        400,
        "BadRequest",
        "",
    ),
    ("method-not-allowed", "POST", f"{CM}/existing", {"json": _cm("existing")}, 405, "MethodNotAllowed", ""),
    ("bad-limit", "GET", f"{CM}?limit=lots", {}, 400, "BadRequest", "limit"),
    ("bad-continue", "GET", f"{CM}?limit=1&continue=%%%", {}, 400, "BadRequest", "continue"),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "code", "reason", "fragment"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_hostile_request_gets_status_error(target, method, path, kwargs, code, reason, fragment) -> None:
    info, session = target
    resp = session.request(method, f"{info.endpoint}{path}", timeout=30, **kwargs)
    assert resp.status_code == code, resp.text[:500]
    body = resp.json()
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert body["reason"] == reason and body["code"] == code
    assert fragment in body["message"]
    # ...and nothing is lost: the server still answers and the existing object is intact.
    assert session.get(f"{info.endpoint}/version", timeout=10).status_code == 200
    assert session.get(f"{info.endpoint}{CM}/existing", timeout=10).status_code == 200
