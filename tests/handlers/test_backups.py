"""Backup and restore through the core: an operation each, audited, verified with /usr/bin/kubectl."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlmodel import select

from bot.runtime import Core
from handlers import errors
from handlers.apps import DeployRequest
from storage.models import AuditEvent, Backup
from tests.handlers.conftest import ADMIN, ALICE, BOB, RecordingSink
from tests.handlers.test_apps import APP, _kubectl
from tests.manifests import pvc

PVC = "---\n" + pvc("data", storage_class="fast-ssd", size="5Gi")


def _ready(core: Core, sink: RecordingSink, name: str, actor=ALICE) -> None:
    accepted = core.clusters.create(actor, name=name, nodes=2, idempotency_key=f"create-{name}")
    assert sink.final(accepted.operation_id).status == "succeeded"


def _backup(core: Core, sink: RecordingSink, cluster: str, key: str, **kw):
    accepted = core.backups.backup(ALICE, cluster, idempotency_key=key, **kw)
    return sink.final(accepted.operation_id, timeout=90)


def _restore(core: Core, sink: RecordingSink, cluster: str, backup: str, key: str, actor=ALICE, **kw):
    accepted = core.backups.restore(actor, cluster, backup, idempotency_key=key, **kw)
    return sink.final(accepted.operation_id, timeout=90)


def _gone(core: Core, tmp_path: Path, cluster: str, namespace: str) -> None:
    _kubectl(core, tmp_path, cluster, "delete", "namespace", namespace, "--wait=false")
    deadline = time.monotonic() + 60
    while _kubectl(core, tmp_path, cluster, "get", "namespace", namespace, check=False).returncode == 0:
        assert time.monotonic() < deadline, f"namespace {namespace} was not deleted"
        time.sleep(0.2)


def test_backup_delete_namespace_restore_and_objects_are_back(
    core: Core, sink: RecordingSink, tmp_path: Path
) -> None:
    _ready(core, sink, "prod")
    deployed = core.apps.deploy(
        ALICE, DeployRequest(cluster="prod", app="web", manifest=APP + PVC), idempotency_key="d"
    )
    assert sink.final(deployed.operation_id, timeout=90).status == "succeeded"

    final = _backup(core, sink, "prod", "b1")
    assert final.status == "succeeded", final.text
    assert "prod-" in final.text and "web/data: fast-ssd, 5Gi" in final.text
    assert "NOT" in final.text and "VolumeSnapshot" in final.text and "Velero" in final.text
    listing = core.backups.backups(ALICE, "prod")
    assert len(listing.rows) == 1
    row = listing.rows[0]
    assert row.pvcs == 1 and row.size_bytes > 0 and dict(row.kinds)["Deployment"] == 1
    assert "hunter2" not in final.text

    _gone(core, tmp_path, "prod", "web")
    restored = _restore(core, sink, "prod", row.name, "r1")
    assert restored.status == "succeeded", restored.text
    for kind, name in (
        ("deploy", "web"),
        ("svc", "web"),
        ("cm", "web-config"),
        ("secret", "web-secret"),
        ("ingress", "web"),
        ("hpa", "web"),
        ("widgets", "gear"),
        ("pvc", "data"),
    ):
        _kubectl(core, tmp_path, "prod", "get", kind, name, "-n", "web")
    secret = json.loads(
        _kubectl(core, tmp_path, "prod", "get", "secret", "web-secret", "-n", "web", "-o", "json").stdout
    )
    assert secret["data"]["password"] == "aHVudGVyMg=="

    again = _restore(core, sink, "prod", row.name, "r2")
    assert again.status == "succeeded" and "0 created" in again.text and "already there" in again.text

    _ready(core, sink, "staging")
    copied = _restore(core, sink, "staging", row.name, "r3", namespace="web")
    assert copied.status == "succeeded", copied.text
    _kubectl(core, tmp_path, "staging", "get", "widgets", "gear", "-n", "web")

    with core.runner.sessions() as s:
        actions = [(a.action, a.result) for a in s.exec(select(AuditEvent).order_by(AuditEvent.id))]
    assert ("backup", "ok") in actions and actions.count(("restore", "ok")) == 3


def test_only_owners_and_admins_back_up_list_and_restore(core: Core, sink: RecordingSink) -> None:
    _ready(core, sink, "alices")
    _ready(core, sink, "bobs", actor=BOB)
    with pytest.raises(errors.Forbidden):
        core.backups.backup(BOB, "alices", idempotency_key="x")
    with pytest.raises(errors.Forbidden):
        core.backups.backups(BOB, "alices")
    assert _backup(core, sink, "alices", "b").status == "succeeded"
    name = core.backups.backups(ALICE, "alices").rows[0].name
    # Bob owns the target but not the source: the backup holds Alice's Secrets.
    with pytest.raises(errors.Forbidden):
        core.backups.restore(BOB, "bobs", name, idempotency_key="steal")
    assert _restore(core, sink, "bobs", name, "admin", actor=ADMIN).status == "succeeded"
    with pytest.raises(errors.NotFound):
        core.backups.restore(ALICE, "alices", "no-such-backup", idempotency_key="nope")
    with core.runner.sessions() as s:
        denied = [a.action for a in s.exec(select(AuditEvent)) if a.result == "denied"]
    assert sorted(denied) == ["back up", "list backups", "restore"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"not a gzip at all", "not a"), (b"\x1f\x8b\x08\x00" + b"\x00" * 20, "")],
    ids=["garbage", "truncated-gzip"],
)
def test_a_corrupt_archive_fails_the_restore_with_a_clear_message(
    core: Core, sink: RecordingSink, content: bytes, fragment: str
) -> None:
    _ready(core, sink, "prod")
    assert _backup(core, sink, "prod", "b").status == "succeeded"
    with core.runner.sessions() as s:
        backup = s.exec(select(Backup)).one()
    path = core.settings.state_dir / "backups" / backup.store_key
    path.write_bytes(content)
    final = _restore(core, sink, "prod", backup.name, "r")
    assert final.status == "failed"
    assert fragment in final.text and "Traceback" not in final.text
    assert core.clusters.info(ALICE, "prod").state == "ready"


def test_a_backup_of_an_unreachable_cluster_retries_and_says_why(core: Core, sink: RecordingSink) -> None:
    _ready(core, sink, "far")
    core.sandboxes[0].stop()
    accepted = core.backups.backup(ALICE, "far", idempotency_key="b")

    def retrying() -> bool:
        return any(
            u.operation_id == accepted.operation_id and u.step.startswith("retrying") for u in sink.updates
        )

    deadline = time.monotonic() + 30
    while not retrying():
        assert time.monotonic() < deadline, sink.updates
        time.sleep(0.1)
    step = next(
        u.step
        for u in sink.updates
        if u.operation_id == accepted.operation_id and u.step.startswith("retrying")
    )
    assert "did not answer" in step
