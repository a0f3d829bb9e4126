"""The audit trail."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlmodel import Session

from storage import repo
from storage.models import Cluster

from .conftest import T0


def test_record_and_list_newest_first(session: Session, make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster()
    for minutes, action in [(0, "create"), (2, "scale"), (1, "describe")]:
        repo.record_audit(
            session, team_id="T1", actor_id="U1", action=action, result="ok", cluster=cluster,
            now=T0 + dt.timedelta(minutes=minutes),
        )  # fmt: skip
    repo.record_audit(
        session, team_id="T1", actor_id="U2", action="delete", result="denied", cluster_name="nope"
    )
    repo.record_audit(session, team_id="T2", actor_id="U3", action="create", result="ok")

    events = repo.list_audit(session, team_id="T1")
    assert [e.action for e in events] == ["delete", "scale", "describe", "create"]
    assert events[1].cluster_id == cluster.id and events[1].cluster_name == "demo"
    assert events[0].cluster_id is None and events[0].cluster_name == "nope"
    assert [e.action for e in repo.list_audit(session, team_id="T1", limit=2)] == ["delete", "scale"]
    assert all(e.at.tzinfo is not None for e in events)


def test_hostile_text_is_clipped_not_refused(session: Session) -> None:
    event = repo.record_audit(
        session, team_id="T1", actor_id="U" * 100, action="a" * 100, result="invalid",
        cluster_name="'; DROP TABLE clusters; --" * 10, detail="\x00" * 5000,
    )  # fmt: skip
    stored = repo.list_audit(session, team_id="T1")[0]
    assert stored.id == event.id
    assert len(stored.actor_id) == 32 and len(stored.action) == 64
    assert stored.cluster_name is not None and len(stored.cluster_name) == 63
    assert len(stored.detail) == 2000


@pytest.mark.parametrize("result", ["", "OK", "success", "fine"])
def test_unknown_result_is_refused(session: Session, result: str) -> None:
    with pytest.raises(ValueError):
        repo.record_audit(session, team_id="T1", actor_id="U1", action="x", result=result)
