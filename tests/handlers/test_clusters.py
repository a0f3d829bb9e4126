"""The clusters capability end to end through the core: handlers → runner → sandbox provider → storage."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from bot.runtime import Core
from handlers import errors
from handlers.clusters import ACTION_DELETE_CONFIRMED
from storage.models import AuditEvent, Cluster, Operation
from tests.handlers.conftest import ADMIN, ALICE, BOB, MALLORY, RecordingSink
from tests.kubectl import node_names


def _create(core: Core, sink: RecordingSink, name: str = "app", actor=ALICE, **kw):
    accepted = core.clusters.create(actor, name=name, idempotency_key=f"k-{name}", **kw)
    return accepted, sink.final(accepted.operation_id)


def _audit(core: Core) -> list[tuple[str, str, str]]:
    with core.runner._sessions() as s:
        return [(a.actor_id, a.action, a.result) for a in s.exec(select(AuditEvent).order_by(AuditEvent.id))]


def test_create_info_kubeconfig_delete(core: Core, sink: RecordingSink, tmp_path: Path) -> None:
    accepted, final = _create(core, sink, nodes=2, version="1.31")
    assert final.status == "succeeded" and "is ready" in final.text
    assert [b.label for b in final.buttons] == ["Kubeconfig", "Info", "Delete"]
    steps = [u.step for u in sink.updates if u.operation_id == accepted.operation_id]
    assert "creating" in steps and steps[-1] == "done"

    info = core.clusters.info(ALICE, "app")
    assert (info.state, info.version, info.node_count, info.provider_kind) == ("ready", "1.31", 2, "sandbox")
    assert info.endpoint and info.endpoint.startswith("https://127.0.0.1:")
    assert info.last_operation and info.last_operation.status == "succeeded"

    credential = core.clusters.kubeconfig(ALICE, "app")
    assert len(node_names(credential.content, tmp_path)) == 2

    with core.runner._sessions() as s:
        row = s.exec(select(Cluster).where(Cluster.name == "app")).one()
        assert row.kubeconfig_encrypted and "certificate-authority-data" not in row.kubeconfig_encrypted

    confirm = core.clusters.confirm_delete(ALICE, "app")
    assert confirm.buttons[0].action_id == ACTION_DELETE_CONFIRMED and confirm.buttons[0].confirm is not None
    deleted = core.clusters.delete(ALICE, "app", idempotency_key="del-1")
    assert sink.final(deleted.operation_id).status == "succeeded"
    with pytest.raises(errors.NotFound):
        core.clusters.info(ALICE, "app")
    # The name is free again once the cluster is deleted.
    _, final = _create(core, sink, name="app", nodes=1)
    assert final.status == "succeeded"
    assert ("UALICE", "kubeconfig", "ok") in _audit(core)


def test_repeated_request_keys_make_one_operation(core: Core, sink: RecordingSink) -> None:
    first = core.clusters.create(ALICE, name="dup", idempotency_key="same")
    again = core.clusters.create(ALICE, name="dup", idempotency_key="same")
    assert again.duplicate and again.operation_id == first.operation_id
    sink.final(first.operation_id)
    d1 = core.clusters.delete(ALICE, "dup", idempotency_key="click-1")
    d2 = core.clusters.delete(ALICE, "dup", idempotency_key="click-2")  # a double click with a new key
    assert d2.duplicate and d2.operation_id == d1.operation_id
    sink.final(d1.operation_id)
    with core.runner._sessions() as s:
        assert len(s.exec(select(Operation)).all()) == 2
    sandbox = core.sandboxes[0]
    assert sandbox.list_clusters() == []


def test_owner_admin_and_strangers(core: Core, sink: RecordingSink) -> None:
    _create(core, sink, name="mine")
    for actor in (BOB,):
        with pytest.raises(errors.Forbidden):
            core.clusters.kubeconfig(actor, "mine")
        with pytest.raises(errors.Forbidden):
            core.clusters.confirm_delete(actor, "mine")
        with pytest.raises(errors.Forbidden):
            core.clusters.delete(actor, "mine", idempotency_key="bob-del")
    assert core.clusters.info(BOB, "mine").buttons == ()
    with pytest.raises(errors.NotFound):
        core.clusters.info(MALLORY, "mine")  # another workspace sees nothing
    with pytest.raises(errors.Forbidden):
        core.clusters.list(BOB, everyone=True)
    assert [r.name for r in core.clusters.list(ADMIN, everyone=True).rows] == ["mine"]
    assert core.clusters.list(BOB).rows == ()
    assert core.clusters.kubeconfig(ADMIN, "mine").content
    audit = _audit(core)
    assert ("UBOB", "kubeconfig", "denied") in audit and ("UBOB", "delete", "denied") in audit
    assert ("UADMIN", "kubeconfig", "ok") in audit


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"nodes": 0}, errors.InvalidRequest, "outside what profile `sandbox` allows (1 to 10)"),
        ({"nodes": 11}, errors.InvalidRequest, "outside"),
        ({"version": "1.12"}, errors.InvalidRequest, "not offered"),
        ({"profile": "gke-nope"}, errors.InvalidRequest, "no provider profile called `gke-nope`"),
        ({"profile": "manual"}, errors.InvalidRequest, "adopts existing clusters"),
        ({"machine_type": "z9-mega"}, errors.InvalidRequest, "Machine type `z9-mega`"),
    ],
)
def test_invalid_create_requests(core: Core, kwargs, error, fragment) -> None:
    with pytest.raises(error) as e:
        core.clusters.create(ALICE, name="bad", idempotency_key="bad", **kwargs)
    assert fragment in e.value.message and e.value.hint
    assert core.clusters.list(ALICE).rows == ()


def test_name_taken_and_pagination(core: Core, sink: RecordingSink) -> None:
    _create(core, sink, name="taken")
    with pytest.raises(errors.Conflict):
        core.clusters.create(BOB, name="taken", idempotency_key="other")
    with pytest.raises(errors.InvalidRequest):
        core.clusters.list(ALICE, page=5)


EXEC_USER = {
    "users": [
        {
            "name": "u",
            "user": {
                "exec": {
                    "command": "sh",
                    "args": ["-c", "touch /tmp/pwned"],
                    "apiVersion": "client.authentication.k8s.io/v1",
                }
            },
        }
    ]
}


def _kubeconfig(server: str = "https://127.0.0.1:6443", **extra) -> str:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, "certificate-authority-data": "Cg=="}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    doc.update(extra)
    return yaml.safe_dump(doc)


BOMB = textwrap.dedent("""\
    a: &a ["x","x","x","x","x","x","x","x"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a]
    c: [*b,*b,*b,*b,*b,*b,*b,*b]
""")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("{not: yaml: at all", "not valid YAML"),
        (BOMB, "not valid YAML"),
        ("x" * (65 * 1024), "larger than 64 KiB"),
        ("- just\n- a list\n", "not a YAML mapping"),
        (_kubeconfig(server="http://127.0.0.1:6443"), "https://"),
        (_kubeconfig(**EXEC_USER), "`exec` is not accepted"),
        (_kubeconfig(users=[{"name": "u", "user": {"tokenFile": "/etc/shadow"}}]), "`tokenFile`"),
        (_kubeconfig(users=[{"name": "u", "user": {"client-key": "/root/.ssh/id_rsa"}}]), "`client-key`"),
        (
            _kubeconfig(
                clusters=[
                    {
                        "name": "c",
                        "cluster": {"server": "https://1.2.3.4", "certificate-authority": "/etc/passwd"},
                    }
                ]
            ),
            "`certificate-authority`",
        ),
        (
            _kubeconfig(
                clusters=[
                    {"name": "c", "cluster": {"server": "https://1.2.3.4", "insecure-skip-tls-verify": True}}
                ]
            ),
            "insecure",
        ),
    ],
)
def test_register_refuses_hostile_kubeconfigs_before_storing(core: Core, text: str, fragment: str) -> None:
    with pytest.raises(errors.InvalidRequest) as e:
        core.clusters.register(ALICE, name="adopted", kubeconfig=text, idempotency_key="reg")
    assert fragment in e.value.message
    assert core.clusters.list(ALICE).rows == ()
    assert not Path("/tmp/pwned").exists()


@pytest.mark.parametrize(
    ("server", "fragment"),
    [
        ("https://169.254.169.254/", "169.254.169.254 is not allowed"),
        ("https://[fe80::1]:6443", "not allowed"),
        ("https://0.0.0.0:6443", "not allowed"),
        ("https://no-such-host.invalid:6443", "cannot be resolved"),
    ],
)
def test_register_refuses_ssrf_targets(core: Core, sink: RecordingSink, server: str, fragment: str) -> None:
    accepted = core.clusters.register(
        ALICE, name="ssrf", kubeconfig=_kubeconfig(server=server), idempotency_key="ssrf"
    )
    final = sink.final(accepted.operation_id)
    assert final.status == "failed" and fragment in final.text
    assert core.clusters.info(ALICE, "ssrf").state == "failed"


def test_register_a_reachable_cluster(core: Core, sink: RecordingSink) -> None:
    _create(core, sink, name="source", nodes=3)
    kubeconfig = core.clusters.kubeconfig(ALICE, "source").content
    accepted = core.clusters.register(BOB, name="adopted", kubeconfig=kubeconfig, idempotency_key="adopt")
    assert sink.final(accepted.operation_id).status == "succeeded"
    info = core.clusters.info(BOB, "adopted")
    source_version = core.clusters.info(ALICE, "source").version
    assert (info.state, info.provider_kind, info.node_count, info.version) == (
        "ready",
        "manual",
        3,
        source_version,
    )
    # Deleting a registered cluster only forgets it: the real cluster keeps running.
    gone = core.clusters.delete(BOB, "adopted", idempotency_key="forget")
    assert sink.final(gone.operation_id).status == "succeeded"
    assert core.clusters.info(ALICE, "source").state == "ready"
    assert len(core.sandboxes[0].list_clusters()) == 1


def test_register_with_rejected_credentials_fails_with_the_reason(core: Core, sink: RecordingSink) -> None:
    _create(core, sink, name="source")
    doc = yaml.safe_load(core.clusters.kubeconfig(ALICE, "source").content)
    doc["users"][0]["user"]["token"] = "wrong"
    accepted = core.clusters.register(
        ALICE, name="badcreds", kubeconfig=yaml.safe_dump(doc), idempotency_key="b"
    )
    final = sink.final(accepted.operation_id)
    assert final.status == "failed" and "rejected the kubeconfig's credentials (401" in final.text


def test_scale_changes_the_node_count_for_owner_and_admin_only(
    core: Core, sink: RecordingSink, tmp_path: Path
) -> None:
    _create(core, sink, name="grow", nodes=1)
    with pytest.raises(errors.Forbidden):
        core.clusters.scale(BOB, "grow", nodes=3, idempotency_key="bob-scale")
    with pytest.raises(errors.InvalidRequest, match="outside what profile"):
        core.clusters.scale(ALICE, "grow", nodes=11, idempotency_key="too-many")
    accepted = core.clusters.scale(ALICE, "grow", nodes=3, idempotency_key="scale-3")
    assert sink.final(accepted.operation_id).status == "succeeded"
    assert core.clusters.info(ALICE, "grow").node_count == 3
    assert len(node_names(core.clusters.kubeconfig(ALICE, "grow").content, tmp_path)) == 3
    accepted = core.clusters.scale(ADMIN, "grow", nodes=2, idempotency_key="admin-scale")
    assert sink.final(accepted.operation_id).status == "succeeded"
    assert core.clusters.info(ALICE, "grow").node_count == 2
    assert ("UBOB", "scale", "denied") in _audit(core)
