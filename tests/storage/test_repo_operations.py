"""Operations: idempotent enqueueing, composed transactions and lookups (leases: see test_leases)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import leases, repo
from storage.errors import NameTaken
from storage.models import Cluster, Operation, OperationKind, OperationStatus

from .conftest import T0

LEASE = 30


def _enqueue(session: Session, cluster: Cluster, key: str, **extra: object) -> tuple[Operation, bool]:
    return repo.enqueue_operation(
        session,
        kind=OperationKind.CREATE,
        cluster=cluster,
        requester_id="U1",
        idempotency_key=key,
        params={"node_count": 3, "labels": {"team": "web"}},
        **extra,  # type: ignore[arg-type]
    )


def _count(engine: Engine, where: str = "1 = 1") -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"SELECT count(*) FROM operations WHERE {where}").scalar_one()


@pytest.fixture
def cluster(make_cluster: Callable[..., Cluster]) -> Cluster:
    return make_cluster()


def test_enqueue_is_idempotent(engine: Engine, session: Session, cluster: Cluster) -> None:
    op, created = _enqueue(session, cluster, "slack:T1:123.456", channel_id="C1", thread_ts="123.456")
    assert created and op.id is not None
    assert (op.status, op.team_id, op.attempts, op.channel_id) == ("queued", "T1", 0, "C1")
    again, created_again = _enqueue(session, cluster, "slack:T1:123.456")
    assert not created_again and again.id == op.id
    assert _count(engine) == 1
    stored = repo.get_operation(session, op_id=op.id)
    assert stored is not None and stored.params == {"node_count": 3, "labels": {"team": "web"}}


def test_enqueue_awaiting_approval_is_not_claimed(session: Session, cluster: Cluster) -> None:
    op, _ = _enqueue(session, cluster, "k1", status=OperationStatus.AWAITING_APPROVAL)
    assert op.status == "awaiting_approval"
    assert leases.claim_operations(session, owner="w1", lease_seconds=LEASE, now=T0, limit=10) == []


@pytest.mark.parametrize("status", ["running", "succeeded", "failed", "cancelled", "bogus"])
def test_enqueue_refuses_other_statuses(session: Session, cluster: Cluster, status: str) -> None:
    with pytest.raises(ValueError):
        _enqueue(session, cluster, "k", status=status)


@pytest.mark.parametrize("key", ["", "k" * 201, "a\x00b"])
def test_enqueue_refuses_bad_keys(session: Session, cluster: Cluster, key: str) -> None:
    with pytest.raises(ValueError):
        _enqueue(session, cluster, key)


def test_enqueue_race_on_one_key_creates_one_row(
    engine: Engine, new_session: Callable[[], Session], cluster: Cluster
) -> None:
    racers = 8
    barrier = Barrier(racers)

    def race(_: int) -> tuple[int | None, bool]:
        session = new_session()
        barrier.wait()
        op, created = _enqueue(session, cluster, "same-key")
        return op.id, created

    with ThreadPoolExecutor(racers) as pool:
        results = list(pool.map(race, range(racers)))
    assert len({op_id for op_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert _count(engine) == 1


def test_enqueue_for_missing_cluster_is_an_error(session: Session, cluster: Cluster) -> None:
    ghost = Cluster(
        id=99_999, team_id="T1", name="ghost", owner_id="U1", provider_profile="p", provider_kind="k"
    )
    with pytest.raises(sa.exc.IntegrityError, match=r"(?i)foreign key"):
        _enqueue(session, ghost, "k-ghost")


def test_latest_operation(session: Session, cluster: Cluster, make_cluster: Callable[..., Cluster]) -> None:
    other = make_cluster(name="other")
    assert repo.latest_operation(session, cluster_id=cluster.id) is None
    _enqueue(session, cluster, "first")
    second, _ = _enqueue(session, cluster, "second")
    _enqueue(session, other, "third")
    latest = repo.latest_operation(session, cluster_id=cluster.id)
    assert latest is not None and latest.id == second.id


def test_writes_can_be_composed_into_one_transaction(
    engine: Engine, session: Session, make_cluster: Callable[..., Cluster]
) -> None:
    """commit=False lets a handler record a cluster, its operation and the audit entry atomically."""

    def record(name: str) -> Operation:
        cluster = make_cluster(name=name, commit=False)
        op, _ = _enqueue(session, cluster, f"key-{name}", commit=False)
        repo.record_audit(session, team_id="T1", actor_id="U1", action="create", result="ok", commit=False)
        return op

    record("abandoned")
    session.rollback()
    assert _count(engine) == 0
    assert repo.get_cluster(session, team_id="T1", name="abandoned") is None
    assert repo.list_audit(session, team_id="T1") == []

    op = record("kept")
    session.commit()
    assert repo.get_operation_by_key(session, idempotency_key="key-kept") is not None
    assert repo.get_cluster(session, team_id="T1", name="kept") is not None
    assert op.id is not None and _count(engine) == 1


def test_failed_write_releases_the_session(
    session: Session, new_session: Callable[[], Session], make_cluster: Callable[..., Cluster]
) -> None:
    """After a refused write the session holds no lock (SQLite would block every other writer)."""
    make_cluster()
    with pytest.raises(NameTaken):
        make_cluster()
    other = new_session()
    repo.record_audit(other, team_id="T1", actor_id="U1", action="x", result="ok")
    assert not session.in_transaction()


def test_get_operation_by_key_and_count_unfinished(session: Session, cluster: Cluster) -> None:
    assert repo.get_operation_by_key(session, idempotency_key="nope") is None
    assert repo.count_unfinished(session) == 0
    queued, _ = _enqueue(session, cluster, "q")
    _enqueue(session, cluster, "approval", status=OperationStatus.AWAITING_APPROVAL)
    found = repo.get_operation_by_key(session, idempotency_key="q")
    assert found is not None and found.id == queued.id
    assert repo.count_unfinished(session) == 1
    leases.claim_operations(session, owner="w", lease_seconds=LEASE, now=T0, limit=5)
    assert repo.count_unfinished(session) == 1
    leases.finish_operation(session, op_id=queued.id, owner="w", status="succeeded", now=T0)
    assert repo.count_unfinished(session) == 0
