"""Leases on SQLite and PostgreSQL: exclusive claims, renewal, fencing, crash counting, clean release,
per-cluster serialization and cancellation."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import leases, repo
from storage.engine import make_engine, session_factory
from storage.models import Cluster, Operation, OperationKind, OperationStatus

from .conftest import T0

LEASE = 30


def _enqueue(
    session: Session, cluster: Cluster, key: str, kind: str = OperationKind.CREATE, **extra
) -> Operation:
    op, _ = repo.enqueue_operation(
        session, kind=kind, cluster=cluster, requester_id="U1", idempotency_key=key, params={}, **extra
    )
    return op


def _claim(session: Session, owner: str, now: dt.datetime = T0, limit: int = 10) -> list[int | None]:
    return [
        op.id
        for op in leases.claim_operations(session, owner=owner, lease_seconds=LEASE, now=now, limit=limit)
    ]


def _count(engine: Engine, where: str = "1 = 1") -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql(f"SELECT count(*) FROM operations WHERE {where}").scalar_one()


@pytest.fixture
def clusters(make_cluster: Callable[..., Cluster]) -> Callable[[int], list[Cluster]]:
    return lambda n: [make_cluster(name=f"c{i}") for i in range(n)]


def test_claim_sets_lease_attempts_and_holds_the_cluster(session: Session, clusters) -> None:
    one, two = clusters(2)
    first, second = _enqueue(session, one, "a"), _enqueue(session, two, "b")
    claimed = leases.claim_operations(session, owner="w1", lease_seconds=LEASE, now=T0, limit=1)
    assert [op.id for op in claimed] == [first.id]  # oldest first
    op = claimed[0]
    assert (op.status, op.lease_owner, op.attempts, op.crashes, op.cluster_lock) == (
        "running",
        "w1",
        1,
        0,
        one.id,
    )
    assert op.lease_expires_at == T0 + dt.timedelta(seconds=LEASE)
    assert op.started_at == T0
    assert _claim(session, "w2") == [second.id]
    assert _claim(session, "w3") == []


def test_one_operation_holds_a_cluster_and_the_rest_wait_in_order(session: Session, clusters) -> None:
    (cluster,) = clusters(1)
    ops = [_enqueue(session, cluster, f"k{i}", kind=OperationKind.SCALE) for i in range(3)]
    assert _claim(session, "w1") == [ops[0].id]
    assert _claim(session, "w2") == []  # the cluster is held; the next waits
    assert leases.finish_operation(session, op_id=ops[0].id, owner="w1", status="succeeded", now=T0)
    assert _claim(session, "w2") == [ops[1].id]  # strictly in order
    # A deploy following its rollout lets the next one start.
    assert leases.save_progress(
        session, op_id=ops[1].id, owner="w2", step="s", progress=80, release_cluster=True, now=T0
    )
    assert _claim(session, "w3") == [ops[2].id]
    running = _count(session.get_bind(), "status = 'running'")
    assert running == 2


def test_the_unique_index_refuses_two_holders_of_one_cluster(
    engine: Engine, session: Session, clusters
) -> None:
    (cluster,) = clusters(1)
    a, b = _enqueue(session, cluster, "a"), _enqueue(session, cluster, "b")
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE operations SET cluster_lock = {cluster.id} WHERE id = {a.id}")
    with pytest.raises(Exception, match=r"(?i)unique|duplicate"), engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE operations SET cluster_lock = {cluster.id} WHERE id = {b.id}")


def _claim_everything(make_session: Callable[[], Session], workers: int, total: int) -> Counter[int]:
    barrier = Barrier(workers)

    def worker(index: int) -> list[int]:
        session = make_session()
        try:
            barrier.wait()
            mine: list[int] = []
            while True:
                batch = _claim(session, f"w{index}", limit=3)
                if not batch:
                    return mine
                mine.extend(op_id for op_id in batch if op_id is not None)
        finally:
            session.close()

    with ThreadPoolExecutor(workers) as pool:
        claims = [op_id for ids in pool.map(worker, range(workers)) for op_id in ids]
    counts = Counter(claims)
    assert len(counts) == total, "every startable operation is claimed"
    assert max(counts.values()) == 1, "no operation is claimed twice"
    return counts


def test_concurrent_claims_never_overlap_nor_double_a_cluster(
    engine: Engine, session: Session, new_session: Callable[[], Session], clusters
) -> None:
    many = clusters(30)
    for i, cluster in enumerate(many):
        _enqueue(session, cluster, f"op-{i}")
        _enqueue(session, cluster, f"op-{i}-second", kind=OperationKind.SCALE)
    _claim_everything(new_session, workers=8, total=30)
    assert _count(engine, "status = 'running' AND attempts = 1") == 30
    assert _count(engine, "status = 'queued' AND kind = 'scale'") == 30


def test_claims_from_separate_engines_never_overlap(engine: Engine, session: Session, clusters) -> None:
    """Like two kaas processes: each with its own engine and connection pool."""
    for i, cluster in enumerate(clusters(40)):
        _enqueue(session, cluster, f"op-{i}")
    engines = [make_engine(str(engine.url.render_as_string(hide_password=False))) for _ in range(2)]
    factories = [session_factory(e) for e in engines]
    turn = iter(range(1_000))
    try:
        _claim_everything(lambda: factories[next(turn) % 2](), workers=6, total=40)
    finally:
        for e in engines:
            e.dispose()


def test_a_runner_never_claims_its_own_operation_even_after_its_lease_lapsed(
    session: Session, clusters
) -> None:
    (cluster,) = clusters(1)
    op = _enqueue(session, cluster, "k")
    assert _claim(session, "w1") == [op.id]
    lapsed = T0 + dt.timedelta(seconds=LEASE * 3)
    assert _claim(session, "w1", now=lapsed) == []  # w1 is still running it: never a second copy
    assert _claim(session, "w2", now=lapsed) == [op.id]  # another runner takes it over: a crash
    stored = repo.get_operation(session, op_id=op.id)
    assert stored is not None and (stored.lease_owner, stored.attempts, stored.crashes) == ("w2", 2, 1)
    assert stored.cluster_lock == cluster.id  # the hold moves with the operation
    assert stored.started_at == T0  # the first start is kept


def test_renewal_keeps_the_lease_and_a_lost_operation_is_reported(session: Session, clusters) -> None:
    one, two = clusters(2)
    a, b = _enqueue(session, one, "a"), _enqueue(session, two, "b")
    _claim(session, "w1")
    almost = T0 + dt.timedelta(seconds=LEASE - 1)
    assert leases.renew_leases(session, owner="w1", op_ids=[a.id, b.id], lease_seconds=LEASE, now=almost) == {
        a.id,
        b.id,
    }
    assert _claim(session, "w2", now=T0 + dt.timedelta(seconds=LEASE + 1)) == []  # renewed: not lapsed
    later = almost + dt.timedelta(seconds=LEASE + 1)
    assert leases.renew_leases(session, owner="w1", op_ids=[a.id], lease_seconds=LEASE, now=later) == {a.id}
    assert _claim(session, "w2", now=later) == [b.id]  # b was not renewed in time
    assert leases.renew_leases(session, owner="w1", op_ids=[a.id, b.id], lease_seconds=LEASE, now=later) == {
        a.id
    }
    assert leases.renew_leases(session, owner="w1", op_ids=[], lease_seconds=LEASE, now=later) == set()


def test_the_old_owner_is_fenced_out(session: Session, clusters) -> None:
    (cluster,) = clusters(1)
    op = _enqueue(session, cluster, "k")
    _claim(session, "w1")
    lapsed = T0 + dt.timedelta(seconds=LEASE + 1)
    assert _claim(session, "w2", now=lapsed) == [op.id]
    # The old owner wakes up: every write it attempts is refused.
    assert not leases.save_progress(session, op_id=op.id, owner="w1", step="stale", progress=99, now=lapsed)
    assert not leases.finish_operation(session, op_id=op.id, owner="w1", status="succeeded", now=lapsed)
    assert not leases.save_progress(
        session, op_id=op.id, owner="w1", step="s", progress=1, release_cluster=True, now=lapsed
    )
    assert not leases.fence(session, op_id=op.id, owner="w1", now=lapsed)
    session.rollback()
    assert leases.save_progress(
        session,
        op_id=op.id,
        owner="w2",
        step="polling",
        progress=40,
        provider_state={"handle": "h"},
        now=lapsed,
    )
    stored = repo.get_operation(session, op_id=op.id)
    assert stored is not None
    assert (stored.status, stored.lease_owner, stored.step, stored.progress, stored.provider_state) == (
        "running",
        "w2",
        "polling",
        40,
        {"handle": "h"},
    )


def test_a_clean_release_is_resumed_at_once_and_is_not_a_crash(session: Session, clusters) -> None:
    (cluster,) = clusters(1)
    op = _enqueue(session, cluster, "k")
    _claim(session, "w1")
    leases.release_operations(session, owner="w1", op_ids=[op.id])
    assert _claim(session, "w2") == [op.id]  # no need to wait for the lease to lapse
    stored = repo.get_operation(session, op_id=op.id)
    assert stored is not None and (stored.attempts, stored.crashes, stored.cluster_lock) == (2, 0, cluster.id)


def test_progress_keeps_provider_state_unless_given(session: Session, clusters) -> None:
    (cluster,) = clusters(1)
    op = _enqueue(session, cluster, "k")
    _claim(session, "w1")
    assert leases.save_progress(
        session, op_id=op.id, owner="w1", step="s", progress=5, provider_state={"h": 1}, now=T0
    )
    assert leases.save_progress(session, op_id=op.id, owner="w1", step="x" * 500, progress=250, now=T0)
    stored = repo.get_operation(session, op_id=op.id)
    assert stored is not None
    assert stored.provider_state == {"h": 1}
    assert len(stored.step) == 200 and stored.progress == 100


def test_finish_frees_the_cluster_and_is_final(session: Session, clusters) -> None:
    (cluster,) = clusters(1)
    op = _enqueue(session, cluster, "k")
    _claim(session, "w1")
    with pytest.raises(ValueError):
        leases.finish_operation(session, op_id=op.id, owner="w1", status="running", now=T0)
    done = T0 + dt.timedelta(minutes=3)
    assert leases.finish_operation(
        session, op_id=op.id, owner="w1", status="failed", error="E" * 9000, now=done
    )
    stored = repo.get_operation(session, op_id=op.id)
    assert stored is not None
    assert (stored.status, stored.finished_at, stored.lease_expires_at, stored.cluster_lock) == (
        "failed",
        done,
        None,
        None,
    )
    assert stored.error is not None and len(stored.error) == 4000
    later = done + dt.timedelta(hours=1)
    assert _claim(session, "w2", now=later) == []
    assert not leases.finish_operation(session, op_id=op.id, owner="w1", status="succeeded", now=later)
    assert leases.renew_leases(session, owner="w1", op_ids=[op.id], lease_seconds=LEASE, now=later) == set()


def test_unknown_operation_is_refused_quietly(session: Session) -> None:
    assert leases.renew_leases(session, owner="w1", op_ids=[12345], lease_seconds=LEASE, now=T0) == set()
    assert not leases.save_progress(session, op_id=12345, owner="w1", step="s", progress=1, now=T0)
    assert not leases.finish_operation(session, op_id=12345, owner="w1", status="cancelled", now=T0)


@pytest.mark.parametrize(("lease", "limit"), [(0, 1), (-5, 1), (30, 0)])
def test_claim_rejects_nonsense(session: Session, lease: float, limit: int) -> None:
    with pytest.raises(ValueError):
        leases.claim_operations(session, owner="w", lease_seconds=lease, now=T0, limit=limit)
    with pytest.raises(ValueError):
        leases.renew_leases(session, owner="w", op_ids=[1], lease_seconds=0, now=T0)


def test_cancelled_queued_operations_stop_blocking_and_are_never_claimed(session: Session, clusters) -> None:
    (cluster,) = clusters(1)
    create = _enqueue(session, cluster, "create")
    deploy = _enqueue(session, cluster, "deploy", kind=OperationKind.DEPLOY)
    held = _enqueue(session, cluster, "approval", status=OperationStatus.AWAITING_APPROVAL)
    assert leases.request_cancel(session, op_ids=[create.id, deploy.id, held.id], now=T0) == 3
    delete = _enqueue(session, cluster, "delete", kind=OperationKind.DELETE)
    assert _claim(session, "w1") == [delete.id]  # the cancelled ones do not hold the line
    cancelled = leases.lock_cancelled_waiting(session, limit=10)
    assert [op.id for op in cancelled] == [create.id, deploy.id, held.id]
    for op in cancelled:
        leases.mark_cancelled(session, op_id=op.id, now=T0)
    session.commit()
    assert leases.lock_cancelled_waiting(session, limit=10) == []
    session.rollback()
    assert [op.id for op in leases.active_operations(session, cluster_id=cluster.id)] == [delete.id]
    assert leases.request_cancel(session, op_ids=[], now=T0) == 0


def test_running_operations_are_only_flagged(session: Session, clusters) -> None:
    (cluster,) = clusters(1)
    op = _enqueue(session, cluster, "k")
    _claim(session, "w1")
    assert leases.request_cancel(session, op_ids=[op.id], now=T0) == 1
    assert leases.lock_cancelled_waiting(session, limit=10) == []
    session.rollback()
    stored = repo.get_operation(session, op_id=op.id)
    assert stored is not None and (stored.status, stored.cancel_requested) == ("running", True)
