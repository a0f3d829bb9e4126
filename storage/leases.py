"""Who runs which operation: claiming, lease renewal, fencing, per-cluster serialization, cancellation.

The rules the runner relies on, all enforced here by the database:

- A runner claims an operation by writing its own `lease_owner`; every later write of that runner is
  *fenced*: it changes nothing unless the row still names that owner and is still running. Taking an
  operation over rewrites the owner, so a runner that lost its operation can change nothing.
- A runner never claims what it already owns. It takes over another runner's operation only once that lease
  has lapsed (the runner died or stalled: a *crash*, counted) or was released on a clean stop (not counted).
- A queued operation starts only when it is the oldest queued one of its cluster and no other operation
  holds the cluster; starting takes the hold (`cluster_lock`), and the unique index on `cluster_lock` is the
  arbiter when two claimers race. Finishing (or a work that no longer needs it) gives the hold back.
- PostgreSQL claimers skip each other's rows (`FOR UPDATE SKIP LOCKED`); SQLite claimers take turns under its
  single write lock (`BEGIN IMMEDIATE`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.fields import aware, clip
from storage.models import TERMINAL_STATUSES, Operation, OperationStatus
from storage.tx import begin_write, unit_of_work

_QUEUED = OperationStatus.QUEUED.value
_RUNNING = OperationStatus.RUNNING.value
_WAITING = (OperationStatus.QUEUED.value, OperationStatus.AWAITING_APPROVAL.value)
_ACTIVE = (*_WAITING, OperationStatus.RUNNING.value)


def _startable(now: dt.datetime):
    """Queued, not being cancelled, first in its cluster's line, and the cluster is free."""
    holder = aliased(Operation)
    elder = aliased(Operation)
    cluster_free = ~sa.exists().where(
        col(holder.cluster_lock) == col(Operation.cluster_id), col(holder.id) != col(Operation.id)
    )
    first_in_line = ~sa.exists().where(
        col(elder.cluster_id) == col(Operation.cluster_id),
        col(elder.status) == _QUEUED,
        col(elder.cancel_requested).is_(False),
        col(elder.id) < col(Operation.id),
    )
    return sa.and_(
        col(Operation.status) == _QUEUED,
        col(Operation.cancel_requested).is_(False),
        cluster_free,
        first_in_line,
    )


def _abandoned(owner: str, now: dt.datetime):
    """Running, but released on a clean stop, or leased by another runner that stopped renewing."""
    released = col(Operation.lease_owner).is_(None)
    lapsed = sa.and_(
        col(Operation.lease_owner) != owner,
        sa.or_(col(Operation.lease_expires_at).is_(None), col(Operation.lease_expires_at) <= now),
    )
    return sa.and_(col(Operation.status) == _RUNNING, sa.or_(released, lapsed))


def claim_operations(
    session: Session, *, owner: str, lease_seconds: float, now: dt.datetime, limit: int
) -> list[Operation]:
    """Lease up to `limit` operations to `owner`: queued ones that may start, and abandoned running ones.

    Claimed operations are running, leased until `now + lease_seconds`, with `attempts` incremented, and
    `crashes` incremented when the previous runner's lease lapsed. Always commits.
    """
    if lease_seconds <= 0 or limit < 1:
        raise ValueError("lease_seconds and limit must be positive")
    stamp = aware(now)
    expires = stamp + dt.timedelta(seconds=lease_seconds)
    candidates = (
        select(
            col(Operation.id), col(Operation.cluster_id), col(Operation.status), col(Operation.lease_owner)
        )
        .where(sa.or_(_startable(stamp), _abandoned(owner, stamp)))
        .order_by(col(Operation.id))
        .limit(limit)
        .with_for_update(skip_locked=True, of=Operation)  # type: ignore[arg-type]
    )
    claimed: list[int] = []
    with unit_of_work(session):
        for op_id, cluster_id, status, previous_owner in session.exec(candidates).all():
            values: dict[str, Any] = {
                "status": _RUNNING,
                "lease_owner": owner,
                "lease_expires_at": expires,
                "attempts": col(Operation.attempts) + 1,
                "started_at": sa.func.coalesce(col(Operation.started_at), stamp),
                "updated_at": stamp,
            }
            if status == _QUEUED:
                values["cluster_lock"] = cluster_id
            elif previous_owner is not None:
                values["crashes"] = col(Operation.crashes) + 1
            try:
                with session.begin_nested():
                    session.exec(
                        sa.update(Operation)
                        .where(col(Operation.id) == op_id)
                        .values(**values)
                        .execution_options(synchronize_session=False)
                    )
            except IntegrityError:
                continue  # another claimer started an operation of this cluster first: wait our turn
            claimed.append(op_id)
        rows = _fresh(session, claimed)
    return rows


def _fresh(session: Session, ids: Collection[int]) -> list[Operation]:
    if not ids:
        return []
    stmt = (
        select(Operation)
        .where(col(Operation.id).in_(list(ids)))
        .order_by(col(Operation.id))
        .execution_options(populate_existing=True)
    )
    return list(session.exec(stmt).all())


def _owned(op_ids: Collection[int], owner: str):
    return sa.and_(
        col(Operation.id).in_(list(op_ids)),
        col(Operation.lease_owner) == owner,
        col(Operation.status) == _RUNNING,
    )


def renew_leases(
    session: Session, *, owner: str, op_ids: Collection[int], lease_seconds: float, now: dt.datetime
) -> set[int]:
    """Extend `owner`'s leases on `op_ids` in one statement; return the ids it still holds."""
    if lease_seconds <= 0:
        raise ValueError("lease_seconds must be positive")
    if not op_ids:
        return set()
    stamp = aware(now)
    with unit_of_work(session):
        session.exec(
            sa.update(Operation)
            .where(_owned(op_ids, owner))
            .values(lease_expires_at=stamp + dt.timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )
        held = set(session.exec(select(col(Operation.id)).where(_owned(op_ids, owner))).all())
    return held


def release_operations(session: Session, *, owner: str, op_ids: Collection[int]) -> None:
    """Give `owner`'s operations back on a clean stop: any runner resumes them at once, and no crash is
    counted. They stay running (their provider work is under way) and keep their cluster."""
    if not op_ids:
        return
    with unit_of_work(session):
        session.exec(
            sa.update(Operation)
            .where(_owned(op_ids, owner))
            .values(lease_owner=None, lease_expires_at=None)
            .execution_options(synchronize_session=False)
        )


def fence(session: Session, *, op_id: int, owner: str, now: dt.datetime) -> bool:
    """Inside the caller's transaction: True if `owner` still runs the operation, which stays locked
    against takeover until the caller commits (on PostgreSQL; SQLite holds its write lock anyway)."""
    begin_write(session)
    result = session.exec(
        sa.update(Operation)
        .where(_owned([op_id], owner))
        .values(updated_at=aware(now))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _update_owned(
    session: Session, *, op_id: int, owner: str, values: Mapping[str, Any], commit: bool
) -> bool:
    with unit_of_work(session, commit=commit):
        result = session.exec(
            sa.update(Operation)
            .where(_owned([op_id], owner))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return result.rowcount == 1


def save_progress(
    session: Session,
    *,
    op_id: int,
    owner: str,
    step: str,
    progress: int,
    provider_state: Mapping[str, Any] | None = None,
    release_cluster: bool = False,
    now: dt.datetime,
    commit: bool = True,
) -> bool:
    """Record the current step, percent done and (if given) the provider's resumable handle; with
    `release_cluster`, let the cluster's next operation start while this one goes on (a deploy following
    its rollout changes nothing more).

    Refused (False) unless `owner` still runs the operation, so a runner that lost it cannot overwrite
    what its successor saved.
    """
    values: dict[str, Any] = {
        "step": clip(Operation, "step", step),
        "progress": max(0, min(100, progress)),
        "updated_at": aware(now),
    }
    if provider_state is not None:
        values["provider_state"] = dict(provider_state)
    if release_cluster:
        values["cluster_lock"] = None
    return _update_owned(session, op_id=op_id, owner=owner, values=values, commit=commit)


def finish_operation(
    session: Session,
    *,
    op_id: int,
    owner: str,
    status: OperationStatus | str,
    error: str | None = None,
    now: dt.datetime,
    commit: bool = True,
) -> bool:
    """End the operation with a terminal `status` and free its cluster; False if `owner` no longer runs it."""
    if OperationStatus(status) not in TERMINAL_STATUSES:
        raise ValueError(f"{status!r} is not a final status")
    stamp = aware(now)
    values = {
        "status": OperationStatus(status).value,
        "error": clip(Operation, "error", error),
        "finished_at": stamp,
        "updated_at": stamp,
        "cluster_lock": None,
        "lease_expires_at": None,  # nothing left to lease; lease_owner stays as a record of who ran it
    }
    return _update_owned(session, op_id=op_id, owner=owner, values=values, commit=commit)


def active_operations(session: Session, *, cluster_id: int) -> list[Operation]:
    """The cluster's operations that are queued, awaiting approval or running, oldest first."""
    stmt = (
        select(Operation)
        .where(col(Operation.cluster_id) == cluster_id, col(Operation.status).in_(_ACTIVE))
        .order_by(col(Operation.id))
        .execution_options(populate_existing=True)
    )
    return list(session.exec(stmt).all())


def request_cancel(
    session: Session, *, op_ids: Collection[int], now: dt.datetime, commit: bool = True
) -> int:
    """Ask for these operations to be cancelled (queued ones are, running ones stop where they safely can)."""
    if not op_ids:
        return 0
    with unit_of_work(session, commit=commit):
        result = session.exec(
            sa.update(Operation)
            .where(col(Operation.id).in_(list(op_ids)), col(Operation.status).in_(_ACTIVE))
            .values(cancel_requested=True, updated_at=aware(now))
            .execution_options(synchronize_session=False)
        )
    return result.rowcount


def any_cancelled_waiting(session: Session) -> bool:
    """Whether any queued or approval-held operation was cancelled (a plain read, no lock)."""
    stmt = (
        select(col(Operation.id))
        .where(col(Operation.status).in_(_WAITING), col(Operation.cancel_requested).is_(True))
        .limit(1)
    )
    found = session.exec(stmt).first() is not None
    session.rollback()  # end the read, so the next write starts its own transaction
    return found


def lock_cancelled_waiting(session: Session, *, limit: int) -> list[Operation]:
    """Queued or approval-held operations someone cancelled, locked for the caller to cancel and commit."""
    begin_write(session)
    stmt = (
        select(Operation)
        .where(col(Operation.status).in_(_WAITING), col(Operation.cancel_requested).is_(True))
        .order_by(col(Operation.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return list(session.exec(stmt).all())


def mark_cancelled(session: Session, *, op_id: int, now: dt.datetime) -> None:
    """Inside the caller's transaction: the operation ends cancelled, holding nothing."""
    stamp = aware(now)
    session.exec(
        sa.update(Operation)
        .where(col(Operation.id) == op_id)
        .values(
            status=OperationStatus.CANCELLED.value,
            cluster_lock=None,
            lease_expires_at=None,
            finished_at=stamp,
            updated_at=stamp,
        )
        .execution_options(synchronize_session=False)
    )
