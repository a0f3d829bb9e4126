"""Decoding Kubernetes protobuf request bodies (providers/sandbox/protobuf.py).

The wire bytes are built by a tiny encoder below whose field numbers are written out by hand from
k8s.io/api and k8s.io/apimachinery generated.proto files, independently of the decoder's table, so a wrong
table entry fails here. Bodies mimic Go's gogo-protobuf output: every non-pointer field is written, zero or
not (empty strings, `0`, `false`, empty messages), and maps are written with sorted keys.
"""

from __future__ import annotations

import base64
import json
import random
import time

import pytest

from providers.sandbox import errors, protobuf

# --- a minimal protobuf encoder ------------------------------------------------------------------------


def varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64  # negative int32/int64 are sign-extended to 10 bytes
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def num(number: int, value: int) -> bytes:
    """A varint field (int32, int64, bool)."""
    return key(number, 0) + varint(int(value))


def ld(number: int, payload: bytes) -> bytes:
    """A length-delimited field (string, bytes, message)."""
    return key(number, 2) + varint(len(payload)) + payload


def s(number: int, text: str) -> bytes:
    return ld(number, text.encode())


def msg(number: int, *fields: bytes) -> bytes:
    return ld(number, b"".join(fields))


def string_map(number: int, entries: dict[str, str]) -> bytes:
    return b"".join(msg(number, s(1, k), s(2, v)) for k, v in sorted(entries.items()))


def bytes_map(number: int, entries: dict[str, bytes]) -> bytes:
    return b"".join(msg(number, s(1, k), ld(2, v)) for k, v in sorted(entries.items()))


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    # runtime.Unknown: 1 typeMeta {1 apiVersion, 2 kind}, 2 raw, 3 contentEncoding, 4 contentType
    return b"k8s\x00" + msg(1, s(1, api_version), s(2, kind)) + ld(2, raw) + s(3, "") + s(4, "")


def object_meta(
    name: str = "",
    namespace: str = "",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    *extra: bytes,
) -> bytes:
    """metav1.ObjectMeta with Go's zero fields: 1 name, 2 generateName, 3 namespace, 4 selfLink, 5 uid,
    6 resourceVersion, 7 generation, 8 creationTimestamp (empty Time), 11 labels, 12 annotations."""
    return (
        s(1, name)
        + s(2, "")
        + s(3, namespace)
        + s(4, "")
        + s(5, "")
        + s(6, "")
        + num(7, 0)
        + msg(8)
        + string_map(11, labels or {})
        + string_map(12, annotations or {})
        + b"".join(extra)
    )


def quantity(number: int, value: str) -> bytes:
    return msg(number, s(1, value))  # resource.Quantity {1 string}


def quantity_map(number: int, entries: dict[str, str]) -> bytes:
    return b"".join(msg(number, s(1, k), quantity(2, v)) for k, v in sorted(entries.items()))


def int_or_string(number: int, value: int | str) -> bytes:
    # intstr.IntOrString {1 type (0 int, 1 string), 2 intVal, 3 strVal}
    if isinstance(value, str):
        return msg(number, num(1, 1), num(2, 0), s(3, value))
    return msg(number, num(1, 0), num(2, value), s(3, ""))


def container(name: str, image: str, *extra: bytes) -> bytes:
    """core/v1 Container with Go's zero fields: 1 name, 2 image, 5 workingDir, 8 resources,
    13 terminationMessagePath, 14 imagePullPolicy, 16 stdin, 17 stdinOnce, 18 tty,
    20 terminationMessagePolicy."""
    return (
        s(1, name)
        + s(2, image)
        + s(5, "")
        + msg(8)
        + s(13, "")
        + s(14, "")
        + num(16, 0)
        + num(17, 0)
        + num(18, 0)
        + s(20, "")
        + b"".join(extra)
    )


def pod_spec(*fields: bytes) -> bytes:
    """core/v1 PodSpec zero fields: 3 restartPolicy, 6 dnsPolicy, 8 serviceAccountName, 9 serviceAccount,
    10 nodeName, 11 hostNetwork, 12 hostPID, 13 hostIPC, 16 hostname, 17 subdomain, 19 schedulerName."""
    zeros = (
        s(3, "")
        + s(6, "")
        + s(8, "")
        + s(9, "")
        + s(10, "")
        + num(11, 0)
        + num(12, 0)
        + num(13, 0)
        + s(16, "")
        + s(17, "")
        + s(19, "")
    )
    return b"".join(fields) + zeros


# --- the objects kubectl and helm send ---------------------------------------------------------------


def test_helm_release_secret():
    release = base64.b64encode(b"\x1f\x8b\x08\x00gzipped-release-json")
    labels = {"name": "web", "owner": "helm", "status": "deployed", "version": "1"}
    raw = (
        msg(1, object_meta("sh.helm.release.v1.web.v1", "", labels))  # 1 metadata
        + bytes_map(2, {"release": release})  # 2 data map<string, bytes>
        + s(3, "helm.sh/release.v1")  # 3 type
    )
    assert protobuf.decode(envelope("v1", "Secret", raw)) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "sh.helm.release.v1.web.v1", "labels": labels},
        "data": {"release": base64.b64encode(release).decode()},
        "type": "helm.sh/release.v1",
    }


def test_kubectl_create_secret_generic_keeps_empty_values_and_immutable():
    raw = (
        msg(1, object_meta("creds", "team-a"))
        + num(5, 1)  # 5 immutable (*bool)
        + bytes_map(2, {"empty": b"", "password": b"s3cr\xffet"})
        + s(3, "Opaque")
    )
    obj = protobuf.decode(envelope("v1", "Secret", raw))
    assert obj["metadata"] == {"name": "creds", "namespace": "team-a"}
    assert obj["immutable"] is True
    assert obj["data"] == {"empty": "", "password": base64.b64encode(b"s3cr\xffet").decode()}


def test_namespace():
    # Namespace: 1 metadata, 2 spec {1 finalizers}, 3 status {1 phase}
    raw = msg(1, object_meta("team-a")) + msg(2) + msg(3, s(1, ""))
    assert protobuf.decode(envelope("v1", "Namespace", raw)) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "team-a"},
        "spec": {},
        "status": {},
    }
    raw = msg(1, object_meta("t")) + msg(2, s(1, "kubernetes"))
    assert protobuf.decode(envelope("v1", "Namespace", raw))["spec"] == {"finalizers": ["kubernetes"]}


def test_configmap():
    # ConfigMap: 1 metadata, 2 data map<string,string>, 3 binaryData map<string,bytes>, 4 immutable
    raw = (
        msg(1, object_meta("settings", "default"))
        + string_map(2, {"a": "1", "blank": "", "multi": "x\ny\n"})
        + bytes_map(3, {"bin": b"\x00\x01\x02"})
    )
    obj = protobuf.decode(envelope("v1", "ConfigMap", raw))
    assert obj == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "default"},
        "data": {"a": "1", "blank": "", "multi": "x\ny\n"},
        "binaryData": {"bin": "AAEC"},
    }
    immutable = protobuf.decode(envelope("v1", "ConfigMap", msg(1, object_meta("x")) + num(4, 0)))
    assert immutable["immutable"] is False  # a pointer: false was set explicitly and is kept


def test_kubectl_create_deployment():
    """`kubectl create deployment web --image=nginx --replicas=2`."""
    app = {"app": "web"}
    raw = (
        msg(1, object_meta("web", "", app))
        + msg(
            2,  # DeploymentSpec
            num(1, 2),  # 1 replicas (*int32)
            msg(2, string_map(1, app)),  # 2 selector: LabelSelector {1 matchLabels}
            msg(
                3,  # 3 template: PodTemplateSpec {1 metadata, 2 spec}
                msg(1, object_meta("", "", app)),
                msg(2, pod_spec(msg(2, container("nginx", "nginx", s(13, "/dev/termination-log"))))),
            ),
            msg(4, s(1, "")),  # 4 strategy {1 type}
            num(5, 0),  # 5 minReadySeconds
            num(7, 0),  # 7 paused
        )
        + msg(3)  # status
    )
    # Container field 13 appears twice (zero from Go, then the value); the last one wins, as in Go.
    assert protobuf.decode(envelope("apps/v1", "Deployment", raw)) == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": app},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": app},
            "template": {
                "metadata": {"labels": app},
                "spec": {
                    "containers": [
                        {
                            "name": "nginx",
                            "image": "nginx",
                            "resources": {},
                            "terminationMessagePath": "/dev/termination-log",
                        }
                    ]
                },
            },
            "strategy": {},
        },
        "status": {},
    }


def test_deployment_with_the_rest_of_the_pod_spec():
    raw = msg(1, object_meta("api", "prod")) + msg(
        2,
        num(1, 0),  # replicas 0 is a set pointer: kept
        msg(
            2,
            msg(2, s(1, "tier"), s(2, "In"), s(3, "web"), s(3, "api")),  # matchExpressions
        ),
        msg(
            3,
            msg(1, object_meta("", "", {"app": "api"}, {"note": "x"})),
            msg(
                2,
                pod_spec(
                    msg(1, s(1, "scratch"), msg(2, msg(2, s(1, "Memory")))),  # Volume{name, emptyDir}
                    msg(1, s(1, "conf"), msg(2, msg(19, msg(1, s(1, "api-conf")), num(3, 0o644)))),
                    msg(1, s(1, "tls"), msg(2, msg(6, s(1, "api-tls")))),  # secret volume
                    msg(20, container("init", "busybox", s(3, "sh"), s(3, "-c"), s(4, "true"))),
                    msg(
                        2,
                        container(
                            "api",
                            "example/api:1.0",
                            s(4, "--port=8080"),
                            msg(6, s(1, "http"), num(2, 0), num(3, 8080), s(4, "TCP"), s(5, "")),
                            msg(7, s(1, "MODE"), s(2, "prod")),
                            msg(
                                7,  # env with valueFrom.configMapKeyRef {1 LocalObjectReference, 2 key}
                                s(1, "LEVEL"),
                                s(2, ""),
                                msg(3, msg(3, msg(1, s(1, "api-conf")), s(2, "level"))),
                            ),
                            msg(
                                7,  # env with valueFrom.secretKeyRef, optional=true
                                s(1, "TOKEN"),
                                s(2, ""),
                                msg(3, msg(4, msg(1, s(1, "api-tls")), s(2, "token"), num(3, 1))),
                            ),
                            msg(8, quantity_map(1, {"cpu": "500m", "memory": "256Mi"})),
                            msg(9, s(1, "conf"), num(2, 1), s(3, "/etc/api")),
                            s(14, "IfNotPresent"),
                        ),
                    ),
                    num(4, 30),  # terminationGracePeriodSeconds
                    string_map(7, {"disk": "ssd"}),  # nodeSelector
                    msg(14),  # securityContext (pointer, empty)
                    msg(22, s(1, "dedicated"), s(2, "Equal"), s(3, "api"), s(4, "NoSchedule")),
                    num(25, -5),  # priority, negative int32 sign-extended to 10 bytes
                ),
            ),
        ),
        msg(4, s(1, "RollingUpdate"), msg(2, int_or_string(1, 0), int_or_string(2, "25%"))),
    )
    obj = protobuf.decode(envelope("apps/v1", "Deployment", raw))
    spec = obj["spec"]
    assert spec["replicas"] == 0
    assert spec["selector"] == {
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "api"]}]
    }
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"},
    }
    template = spec["template"]
    assert template["metadata"] == {"labels": {"app": "api"}, "annotations": {"note": "x"}}
    pod = template["spec"]
    assert pod["volumes"] == [
        {"name": "scratch", "emptyDir": {"medium": "Memory"}},
        {"name": "conf", "configMap": {"name": "api-conf", "defaultMode": 0o644}},
        {"name": "tls", "secret": {"secretName": "api-tls"}},
    ]
    assert pod["initContainers"][0]["command"] == ["sh", "-c"]
    assert pod["initContainers"][0]["args"] == ["true"]
    main = pod["containers"][0]
    assert main["args"] == ["--port=8080"]
    assert main["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert main["env"] == [
        {"name": "MODE", "value": "prod"},
        {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "api-conf", "key": "level"}}},
        {
            "name": "TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "api-tls", "key": "token", "optional": True}},
        },
    ]
    assert main["resources"] == {"limits": {"cpu": "500m", "memory": "256Mi"}}
    assert main["volumeMounts"] == [{"name": "conf", "readOnly": True, "mountPath": "/etc/api"}]
    assert main["imagePullPolicy"] == "IfNotPresent"
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["nodeSelector"] == {"disk": "ssd"}
    assert pod["securityContext"] == {}
    assert pod["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "api", "effect": "NoSchedule"}
    ]
    assert pod["priority"] == -5
    for zero in ("restartPolicy", "dnsPolicy", "serviceAccountName", "hostNetwork", "schedulerName"):
        assert zero not in pod


def test_delete_options_background():
    # DeleteOptions: 1 gracePeriodSeconds, 2 preconditions {1 uid, 2 resourceVersion}, 4 propagationPolicy
    raw = s(4, "Background")
    assert protobuf.decode(envelope("v1", "DeleteOptions", raw)) == {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "propagationPolicy": "Background",
    }
    raw = num(1, 0) + msg(2, s(1, "uid-1"), s(2, "")) + s(5, "All")
    assert protobuf.decode(envelope("meta.k8s.io/v1", "DeleteOptions", raw)) == {
        "apiVersion": "meta.k8s.io/v1",
        "kind": "DeleteOptions",
        "gracePeriodSeconds": 0,
        "preconditions": {"uid": "uid-1", "resourceVersion": ""},
        "dryRun": ["All"],
    }


def test_delete_options_in_any_group_version():
    obj = protobuf.decode(envelope("apps/v1", "DeleteOptions", s(4, "Foreground")))
    assert obj == {"apiVersion": "apps/v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground"}


def test_service_account():
    # ServiceAccount: 1 metadata, 2 secrets []ObjectReference, 3 imagePullSecrets, 4 automount (*bool)
    raw = msg(1, object_meta("builder", "ci")) + msg(3, s(1, "registry")) + num(4, 0)
    assert protobuf.decode(envelope("v1", "ServiceAccount", raw)) == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "builder", "namespace": "ci"},
        "imagePullSecrets": [{"name": "registry"}],
        "automountServiceAccountToken": False,
    }


def test_service():
    # ServiceSpec: 1 ports, 2 selector, 3 clusterIP, 4 type; ServicePort: 1 name, 2 protocol, 3 port,
    # 4 targetPort, 5 nodePort
    port = msg(1, s(1, "80-8080"), s(2, "TCP"), num(3, 80), int_or_string(4, 8080), num(5, 0))
    raw = msg(1, object_meta("web")) + msg(
        2, port, string_map(2, {"app": "web"}), s(3, ""), s(4, "ClusterIP")
    )
    assert protobuf.decode(envelope("v1", "Service", raw))["spec"] == {
        "ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080}],
        "selector": {"app": "web"},
        "type": "ClusterIP",
    }


def test_role_and_binding():
    # PolicyRule: 1 verbs, 2 apiGroups, 3 resources, 4 resourceNames
    rule = msg(2, s(1, "get"), s(1, "list"), s(2, ""), s(3, "pods"))
    role = protobuf.decode(envelope("rbac.authorization.k8s.io/v1", "Role", msg(1, object_meta("r")) + rule))
    assert role["rules"] == [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]
    # RoleBinding: 2 subjects {1 kind, 2 apiGroup, 3 name, 4 namespace},
    # 3 roleRef {1 apiGroup, 2 kind, 3 name}
    raw = (
        msg(1, object_meta("rb"))
        + msg(2, s(1, "ServiceAccount"), s(2, ""), s(3, "builder"), s(4, "ci"))
        + msg(3, s(1, "rbac.authorization.k8s.io"), s(2, "Role"), s(3, "r"))
    )
    binding = protobuf.decode(envelope("rbac.authorization.k8s.io/v1", "RoleBinding", raw))
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "builder", "namespace": "ci"}]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"}


def test_cronjob_template_reaches_the_pod():
    # CronJobSpec: 1 schedule, 5 jobTemplate {1 metadata, 2 JobSpec {6 template}}
    job_spec = msg(
        2, msg(6, msg(1, object_meta()), msg(2, pod_spec(msg(2, container("c", "busybox")), s(3, ""))))
    )
    raw = msg(1, object_meta("nightly")) + msg(2, s(1, "0 3 * * *"), msg(5, msg(1, object_meta()), job_spec))
    obj = protobuf.decode(envelope("batch/v1", "CronJob", raw))
    assert obj["spec"]["schedule"] == "0 3 * * *"
    pod = obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod == {"containers": [{"name": "c", "image": "busybox", "resources": {}}]}


def test_times_owner_references_and_managed_fields():
    fields_v1 = json.dumps({"f:metadata": {"f:labels": {".": {}}}}).encode()
    meta = object_meta(
        "x",
        "",
        None,
        None,
        msg(9, num(1, 1700000000), num(2, 5)),  # 9 deletionTimestamp
        # 13 ownerReferences: 5 apiVersion, 1 kind, 3 name, 4 uid, 6 controller (*bool)
        msg(13, s(5, "apps/v1"), s(1, "ReplicaSet"), s(3, "rs"), s(4, "u-1"), num(6, 1)),
        s(14, "example.com/guard"),  # 14 finalizers
        # 17 managedFields: 1 manager, 2 operation, 3 apiVersion, 4 time, 6 fieldsType, 7 fieldsV1 {1 Raw}
        msg(
            17,
            s(1, "kubectl"),
            s(2, "Update"),
            s(3, "v1"),
            msg(4, num(1, 0)),
            s(6, "FieldsV1"),
            msg(7, ld(1, fields_v1)),
        ),
    )
    obj = protobuf.decode(envelope("v1", "ConfigMap", msg(1, meta)))
    assert obj["metadata"] == {
        "name": "x",
        "deletionTimestamp": "2023-11-14T22:13:20Z",
        "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u-1", "controller": True}
        ],
        "finalizers": ["example.com/guard"],
        "managedFields": [
            {
                "manager": "kubectl",
                "operation": "Update",
                "apiVersion": "v1",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {".": {}}}},
            }
        ],
    }
    go_zero_time = msg(8, num(1, -62135596800))
    obj = protobuf.decode(envelope("v1", "ConfigMap", msg(1, s(1, "y"), go_zero_time)))
    assert obj["metadata"] == {"name": "y"}


def test_lease_micro_time():
    # Lease: 1 metadata, 2 spec {1 holderIdentity, 2 leaseDurationSeconds, 3 acquireTime MicroTime}
    raw = msg(1, object_meta("lock")) + msg(
        2, s(1, "me"), num(2, 15), msg(3, num(1, 1700000000), num(2, 123456789))
    )
    spec = protobuf.decode(envelope("coordination.k8s.io/v1", "Lease", raw))["spec"]
    assert spec == {
        "holderIdentity": "me",
        "leaseDurationSeconds": 15,
        "acquireTime": "2023-11-14T22:13:20.123456Z",
    }


def test_unknown_fields_are_skipped():
    raw = (
        msg(1, object_meta("x"), s(999, "future"), num(1000, 7))
        + key(77, 1)
        + b"\x00" * 8  # fixed64
        + key(78, 5)
        + b"\x00" * 4  # fixed32
        + msg(79, msg(1, msg(1)))
    )
    assert protobuf.decode(envelope("v1", "ConfigMap", raw)) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x"},
    }


def test_packed_repeated_integers():
    # PodSecurityContext 4 supplementalGroups (repeated int64), packed and unpacked
    packed = ld(4, varint(1000) + varint(2000))
    raw = msg(1, object_meta("p")) + msg(2, pod_spec(msg(14, packed, num(4, 3000))))
    pod = protobuf.decode(envelope("v1", "Pod", raw))
    assert pod["spec"]["securityContext"] == {"supplementalGroups": [1000, 2000, 3000]}


def test_every_table_reference_resolves():
    for name, fields in protobuf.SCHEMA.items():
        for number, field in fields.items():
            assert number > 0, name
            assert field.type in protobuf.SCALARS | protobuf.SPECIAL | protobuf.SCHEMA.keys(), (name, field)
    for message in (*protobuf.KINDS.values(), *protobuf.ANY_VERSION_KINDS.values()):
        assert message in protobuf.SCHEMA


@pytest.mark.parametrize(
    "content_type, expected",
    [
        ("application/vnd.kubernetes.protobuf", True),
        ("Application/Vnd.Kubernetes.Protobuf; charset=binary", True),
        ("application/json", False),
        ("application/vnd.kubernetes.protobuf;stream=watch", True),
        ("", False),
        (None, False),
    ],
)
def test_is_protobuf(content_type, expected):
    assert protobuf.is_protobuf(content_type) is expected
    assert protobuf.PROTOBUF_CONTENT_TYPE == "application/vnd.kubernetes.protobuf"


# --- hostile input -----------------------------------------------------------------------------------

MAGIC = b"k8s\x00"
PROTOBUF = protobuf.PROTOBUF_CONTENT_TYPE
_GARBAGE = random.Random(1234).randbytes(3 * 1024 * 1024)


def _deep(levels: int) -> bytes:
    inner = b""
    for _ in range(levels):
        inner = ld(1, inner)
    return inner


_DEEP_JSON = b"[" * 200_000 + b"]" * 200_000

HOSTILE = [
    ("empty body", b"", errors.BadRequest),
    ("wrong magic", b"k8s\x01" + msg(1, s(1, "v1"), s(2, "Secret")), errors.BadRequest),
    ("json body", b'{"kind": "Secret"}', errors.BadRequest),
    ("magic only", MAGIC, errors.BadRequest),  # no kind
    ("truncated varint", MAGIC + b"\x0a\x80", errors.BadRequest),
    ("truncated tag", MAGIC + b"\xff", errors.BadRequest),
    ("length past end", MAGIC + b"\x0a\x10" + b"abc", errors.BadRequest),
    ("huge length", MAGIC + b"\x0a" + varint(1 << 62) + b"abc", errors.BadRequest),
    ("11-byte varint", MAGIC + b"\x08" + b"\xff" * 10 + b"\x01", errors.BadRequest),
    ("11-byte tag", MAGIC + b"\x80" * 10 + b"\x01", errors.BadRequest),
    ("group wire type", MAGIC + key(1, 3) + key(1, 4), errors.BadRequest),
    ("wire type 7", MAGIC + key(5, 7), errors.BadRequest),
    ("field number 0", MAGIC + key(0, 2) + b"\x00", errors.BadRequest),
    ("truncated fixed64", envelope("v1", "Secret", key(9, 1) + b"\x00\x00"), errors.BadRequest),
    ("wrong wire type", envelope("v1", "Secret", num(1, 5)), errors.BadRequest),
    ("bad utf-8", envelope("v1", "Secret", msg(1, ld(1, b"\xff\xfe"))), errors.BadRequest),
    ("bad map entry", envelope("v1", "Secret", msg(2, ld(1, b"\xc3"))), errors.BadRequest),
    ("unknown kind", envelope("v1", "Widget", b""), errors.UnsupportedMediaType),
    ("unknown version", envelope("apps/v1beta1", "Deployment", b""), errors.UnsupportedMediaType),
    ("gzip envelope", MAGIC + msg(1, s(1, "v1"), s(2, "Secret")) + s(3, "gzip"), errors.UnsupportedMediaType),
    (
        "deep json in fieldsV1",
        envelope("v1", "Secret", msg(1, msg(17, msg(7, ld(1, _DEEP_JSON))))),
        errors.BadRequest,
    ),
    (
        "bad json in fieldsV1",
        envelope("v1", "Secret", msg(1, msg(17, msg(7, ld(1, b"{nope"))))),
        errors.BadRequest,
    ),
    (
        "deep nesting in metadata.name",
        envelope("v1", "Secret", msg(1, ld(1, _deep(5000)))),
        errors.BadRequest,
    ),
    ("deep nesting as the object", envelope("v1", "Secret", _deep(20_000)), errors.BadRequest),
    ("3 MiB of garbage", _GARBAGE, errors.BadRequest),
    ("magic + 3 MiB of garbage", MAGIC + _GARBAGE[: 3 * 1024 * 1024 - 4], errors.ApiError),
    ("over 3 MiB", MAGIC + b"\x00" * (3 * 1024 * 1024), errors.RequestEntityTooLarge),
]


@pytest.mark.parametrize("body, error", [(b, e) for _, b, e in HOSTILE], ids=[n for n, _, _ in HOSTILE])
def test_hostile_input_is_rejected_quickly(body, error):
    started = time.perf_counter()
    with pytest.raises(error) as info:
        protobuf.decode(body)
    assert time.perf_counter() - started < 2
    assert 400 <= info.value.code < 500


def test_bodies_route_protobuf_content_to_the_decoder():
    from providers.sandbox import bodies

    body = envelope("v1", "Namespace", msg(1, object_meta("via-bodies")))
    obj = bodies.decode_object(body, PROTOBUF + "; charset=binary")
    assert obj["metadata"] == {"name": "via-bodies"}
    opts = bodies.decode_delete_options(envelope("v1", "DeleteOptions", s(4, "Orphan")), PROTOBUF)
    assert opts["propagationPolicy"] == "Orphan"


def test_unknown_kind_asks_for_json():
    with pytest.raises(errors.UnsupportedMediaType, match="application/json"):
        protobuf.decode(envelope("example.com/v1", "Widget", b""))


def test_over_long_varint_message():
    with pytest.raises(errors.BadRequest, match="varint"):
        protobuf.decode(MAGIC + b"\x08" + b"\xff" * 10 + b"\x01")


def test_deeply_nested_unknown_bytes_are_skipped_without_recursing():
    raw = msg(1, object_meta("x")) + ld(50, _deep(20_000))
    assert protobuf.decode(envelope("v1", "ConfigMap", raw))["metadata"] == {"name": "x"}


def test_depth_limit_on_recursive_messages(monkeypatch):
    loop = {1: protobuf.Field("next", "Loop", protobuf.SINGLE)}
    monkeypatch.setitem(protobuf.SCHEMA, "Loop", loop)
    monkeypatch.setitem(protobuf.KINDS, ("v1", "Loop"), "Loop")
    shallow = protobuf.decode(envelope("v1", "Loop", _deep(3)))
    assert shallow == {"apiVersion": "v1", "kind": "Loop", "next": {"next": {"next": {}}}}
    with pytest.raises(errors.BadRequest, match="nested too deeply"):
        protobuf.decode(envelope("v1", "Loop", _deep(protobuf.MAX_DEPTH + 1)))
