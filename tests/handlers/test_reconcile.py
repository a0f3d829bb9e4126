"""The periodic reconcile notices clusters changed or deleted outside kaas, and records it."""

from __future__ import annotations

from sqlmodel import select

from bot.runtime import Core
from handlers.reconcile import DELETING_ELSEWHERE, VANISHED
from storage.models import AuditEvent
from tests.handlers.conftest import ALICE, RecordingSink


def test_out_of_band_changes_are_recorded_and_vanished_clusters_marked(
    core: Core, sink: RecordingSink
) -> None:
    created = core.clusters.create(ALICE, name="drifty", nodes=2, idempotency_key="drift")
    assert sink.final(created.operation_id).status == "succeeded"
    assert core.reconciler.run_once() == []  # nothing changed yet

    sandbox = core.sandboxes[0]
    ref = sandbox.list_clusters()[0].id
    sandbox.resize(ref, 4)  # someone scaled it in the provider's console
    drifts = core.reconciler.run_once()
    assert [d.cluster for d in drifts] == ["drifty"] and "node_count 2 -> 4" in drifts[0].change
    assert core.clusters.info(ALICE, "drifty").node_count == 4

    sandbox.delete_cluster(ref)  # and then deleted it there (still deleting, or already gone)
    assert core.reconciler.run_once()[0].change in (DELETING_ELSEWHERE, VANISHED)
    info = core.clusters.info(ALICE, "drifty")
    assert info.state == "failed" and info.state_reason in (DELETING_ELSEWHERE, VANISHED)
    assert core.reconciler.run_once() == []  # failed clusters are not checked again

    # The owner cleans up: deleting a vanished cluster succeeds.
    deleted = core.clusters.delete(ALICE, "drifty", idempotency_key="drift-del")
    assert sink.final(deleted.operation_id).status == "succeeded"
    with core.runner._sessions() as s:
        details = [a.detail for a in s.exec(select(AuditEvent).where(AuditEvent.action == "reconcile"))]
    assert len(details) == 2 and info.state_reason in details
