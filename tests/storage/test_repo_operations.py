"""Operations: idempotent enqueueing, exclusive claiming, leases, progress and completion."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import repo
from storage.engine import make_engine, session_factory
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
    assert repo.claim_operations(session, owner="w1", lease_seconds=LEASE, now=T0, limit=10) == []


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


def test_claim_sets_lease_and_attempts(session: Session, cluster: Cluster) -> None:
    first, _ = _enqueue(session, cluster, "a")
    second, _ = _enqueue(session, cluster, "b")
    claimed = repo.claim_operations(session, owner="w1", lease_seconds=LEASE, now=T0, limit=1)
    assert [op.id for op in claimed] == [first.id]  # oldest first
    op = claimed[0]
    assert (op.status, op.lease_owner, op.attempts) == ("running", "w1", 1)
    assert op.lease_expires_at == T0 + dt.timedelta(seconds=LEASE)
    assert op.started_at == T0
    rest = repo.claim_operations(session, owner="w2", lease_seconds=LEASE, now=T0, limit=10)
    assert [op.id for op in rest] == [second.id]
    assert repo.claim_operations(session, owner="w3", lease_seconds=LEASE, now=T0, limit=10) == []


def _claim_everything(make_session: Callable[[], Session], workers: int, total: int) -> Counter[int]:
    barrier = Barrier(workers)

    def worker(index: int) -> list[int]:
        session = make_session()
        try:
            barrier.wait()
            mine: list[int] = []
            while True:
                batch = repo.claim_operations(
                    session, owner=f"w{index}", lease_seconds=LEASE, now=T0, limit=3
                )
                if not batch:
                    return mine
                mine.extend(op.id for op in batch if op.id is not None)
        finally:
            session.close()

    with ThreadPoolExecutor(workers) as pool:
        claims = [op_id for ids in pool.map(worker, range(workers)) for op_id in ids]
    counts = Counter(claims)
    assert len(counts) == total, "every operation is claimed"
    assert max(counts.values()) == 1, "no operation is claimed twice"
    return counts


def test_concurrent_claims_never_overlap(
    engine: Engine, session: Session, new_session: Callable[[], Session], cluster: Cluster
) -> None:
    total = 60
    for i in range(total):
        _enqueue(session, cluster, f"op-{i}")
    _claim_everything(new_session, workers=8, total=total)
    assert _count(engine, "status = 'running' AND attempts = 1") == total


def test_claims_from_separate_engines_never_overlap(
    engine: Engine, session: Session, cluster: Cluster
) -> None:
    """Like two kaas processes: each with its own engine and connection pool."""
    total = 60
    for i in range(total):
        _enqueue(session, cluster, f"op-{i}")
    engines = [make_engine(str(engine.url.render_as_string(hide_password=False))) for _ in range(2)]
    factories = [session_factory(e) for e in engines]
    turn = iter(range(1_000))

    def make_session() -> Session:
        return factories[next(turn) % 2]()  # workers alternate between the two "processes"

    try:
        _claim_everything(make_session, workers=6, total=total)
    finally:
        for e in engines:
            e.dispose()
    assert _count(engine, "status = 'running' AND attempts = 1") == total


def test_expired_lease_is_reclaimed_and_the_old_owner_is_fenced(session: Session, cluster: Cluster) -> None:
    op, _ = _enqueue(session, cluster, "k")
    repo.claim_operations(session, owner="w1", lease_seconds=LEASE, now=T0, limit=5)

    almost = T0 + dt.timedelta(seconds=LEASE - 1)
    assert repo.claim_operations(session, owner="w2", lease_seconds=LEASE, now=almost, limit=5) == []
    assert repo.heartbeat(session, op_id=op.id, owner="w1", lease_seconds=LEASE, now=almost)

    expired = almost + dt.timedelta(seconds=LEASE)
    reclaimed = repo.claim_operations(session, owner="w2", lease_seconds=LEASE, now=expired, limit=5)
    assert [o.id for o in reclaimed] == [op.id]
    assert (reclaimed[0].lease_owner, reclaimed[0].attempts) == ("w2", 2)
    assert reclaimed[0].started_at == T0  # the first start is kept

    # The old owner wakes up: every write it attempts is refused.
    assert not repo.heartbeat(session, op_id=op.id, owner="w1", lease_seconds=LEASE, now=expired)
    assert not repo.save_progress(session, op_id=op.id, owner="w1", step="stale", progress=99)
    assert not repo.finish_operation(session, op_id=op.id, owner="w1", status="succeeded", now=expired)

    assert repo.heartbeat(session, op_id=op.id, owner="w2", lease_seconds=LEASE, now=expired)
    assert repo.save_progress(
        session, op_id=op.id, owner="w2", step="polling", progress=40, provider_state={"handle": "op-123"}
    )
    stored = repo.get_operation(session, op_id=op.id)
    assert stored is not None
    assert (stored.status, stored.lease_owner, stored.step, stored.progress) == (
        "running",
        "w2",
        "polling",
        40,
    )
    assert stored.provider_state == {"handle": "op-123"}
    assert stored.lease_expires_at == expired + dt.timedelta(seconds=LEASE)


def test_progress_keeps_provider_state_unless_given(session: Session, cluster: Cluster) -> None:
    op, _ = _enqueue(session, cluster, "k")
    repo.claim_operations(session, owner="w1", lease_seconds=LEASE, now=T0, limit=1)
    assert repo.save_progress(
        session, op_id=op.id, owner="w1", step="start", progress=5, provider_state={"h": 1}
    )
    assert repo.save_progress(session, op_id=op.id, owner="w1", step="x" * 500, progress=250)
    stored = repo.get_operation(session, op_id=op.id)
    assert stored is not None
    assert stored.provider_state == {"h": 1}
    assert len(stored.step) == 200 and stored.progress == 100


def test_finish_operation(session: Session, cluster: Cluster) -> None:
    op, _ = _enqueue(session, cluster, "k")
    repo.claim_operations(session, owner="w1", lease_seconds=LEASE, now=T0, limit=1)
    with pytest.raises(ValueError):
        repo.finish_operation(session, op_id=op.id, owner="w1", status="running", now=T0)
    done = T0 + dt.timedelta(minutes=3)
    assert repo.finish_operation(
        session, op_id=op.id, owner="w1", status="failed", error="E" * 9000, now=done
    )
    stored = repo.get_operation(session, op_id=op.id)
    assert stored is not None
    assert (stored.status, stored.finished_at, stored.lease_expires_at) == ("failed", done, None)
    assert stored.error is not None and len(stored.error) == 4000
    # Finished operations are never claimed again, nor finished twice.
    later = done + dt.timedelta(hours=1)
    assert repo.claim_operations(session, owner="w2", lease_seconds=LEASE, now=later, limit=5) == []
    assert not repo.finish_operation(session, op_id=op.id, owner="w1", status="succeeded", now=later)
    assert not repo.heartbeat(session, op_id=op.id, owner="w1", lease_seconds=LEASE, now=later)


def test_unknown_operation_is_refused_quietly(session: Session) -> None:
    assert not repo.heartbeat(session, op_id=12345, owner="w1", lease_seconds=LEASE, now=T0)
    assert not repo.save_progress(session, op_id=12345, owner="w1", step="s", progress=1)
    assert not repo.finish_operation(session, op_id=12345, owner="w1", status="cancelled", now=T0)
    assert repo.get_operation(session, op_id=12345) is None


def test_latest_operation(session: Session, cluster: Cluster, make_cluster: Callable[..., Cluster]) -> None:
    other = make_cluster(name="other")
    assert repo.latest_operation(session, cluster_id=cluster.id) is None
    _enqueue(session, cluster, "first")
    second, _ = _enqueue(session, cluster, "second")
    _enqueue(session, other, "third")
    latest = repo.latest_operation(session, cluster_id=cluster.id)
    assert latest is not None and latest.id == second.id


@pytest.mark.parametrize(("lease", "limit"), [(0, 1), (-5, 1), (30, 0)])
def test_claim_rejects_nonsense(session: Session, lease: float, limit: int) -> None:
    with pytest.raises(ValueError):
        repo.claim_operations(session, owner="w", lease_seconds=lease, now=T0, limit=limit)


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
    repo.claim_operations(session, owner="w", lease_seconds=LEASE, now=T0, limit=5)
    assert repo.count_unfinished(session) == 1
    repo.finish_operation(session, op_id=queued.id, owner="w", status="succeeded", now=T0)
    assert repo.count_unfinished(session) == 0


def test_zero_lease_heartbeat_releases_the_operation(session: Session, cluster: Cluster) -> None:
    op, _ = _enqueue(session, cluster, "k")
    repo.claim_operations(session, owner="w1", lease_seconds=LEASE, now=T0, limit=1)
    assert repo.heartbeat(session, op_id=op.id, owner="w1", lease_seconds=0, now=T0)
    taken = repo.claim_operations(session, owner="w2", lease_seconds=LEASE, now=T0, limit=1)
    assert [o.id for o in taken] == [op.id]
    with pytest.raises(ValueError):
        repo.heartbeat(session, op_id=op.id, owner="w2", lease_seconds=-1, now=T0)
