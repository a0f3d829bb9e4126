"""Repository functions over clusters, operations and the audit trail.

Every function takes the `Session` first and everything else by keyword. Functions that write commit
their own unit of work by default, so callers never hold a lock across slow work such as a provider
call. To make several writes atomic (a cluster and its create operation), pass `commit=False` to all
but the last, or commit yourself; `claim_operations` always commits, since unclaimed-but-locked rows
help no one. If a write fails the session is rolled back, which also releases SQLite's write lock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from storage.crypto import Crypto
from storage.errors import NameTaken, StorageError
from storage.fields import aware, clip, require_fits
from storage.models import (
    AuditEvent,
    Cluster,
    ClusterState,
    Operation,
    OperationStatus,
    utcnow,
)
from storage.states import check_transition
from storage.tx import unit_of_work

MAX_PAGE = 200
AUDIT_RESULTS = frozenset({"ok", "denied", "invalid", "error"})
_ENQUEUE_STATUSES = frozenset({OperationStatus.QUEUED, OperationStatus.AWAITING_APPROVAL})
_LIVE = col(Cluster.state) != ClusterState.DELETED.value


# --- clusters -------------------------------------------------------------------------------------


def _live_cluster(session: Session, *, team_id: str, name: str) -> Cluster | None:
    stmt = select(Cluster).where(Cluster.team_id == team_id, Cluster.name == name, _LIVE)
    return session.exec(stmt).first()


def create_cluster(
    session: Session,
    *,
    team_id: str,
    name: str,
    owner_id: str,
    profile: str,
    kind: str,
    node_count: int,
    version: str,
    machine_type: str | None,
    now: dt.datetime | None = None,
    commit: bool = True,
) -> Cluster:
    """Record a new cluster in state `requested`; raise `NameTaken` if the team already has a live one."""
    require_fits(
        Cluster,
        team_id=team_id,
        name=name,
        owner_id=owner_id,
        provider_profile=profile,
        provider_kind=kind,
        version=version,
        machine_type=machine_type,
    )
    stamp = aware(now) if now is not None else utcnow()
    with unit_of_work(session, commit=commit):
        if _live_cluster(session, team_id=team_id, name=name) is not None:
            raise NameTaken(team_id=team_id, name=name)
        cluster = Cluster(
            team_id=team_id,
            name=name,
            owner_id=owner_id,
            provider_profile=profile,
            provider_kind=kind,
            state=ClusterState.REQUESTED.value,
            node_count=node_count,
            version=version,
            machine_type=machine_type,
            created_at=stamp,
            updated_at=stamp,
        )
        try:
            # The check above is only a fast path: on PostgreSQL a concurrent insert can still win,
            # and the partial unique index is the real arbiter.
            with session.begin_nested():
                session.add(cluster)
        except IntegrityError:
            if _live_cluster(session, team_id=team_id, name=name) is not None:
                raise NameTaken(team_id=team_id, name=name) from None
            raise
    return cluster


def get_cluster(
    session: Session, *, team_id: str, name: str, include_deleted: bool = False
) -> Cluster | None:
    """The team's live cluster called `name`; with `include_deleted`, else its most recently deleted one."""
    stmt = select(Cluster).where(Cluster.team_id == team_id, Cluster.name == name)
    if not include_deleted:
        return session.exec(stmt.where(_LIVE)).first()
    deleted_last = sa.case((col(Cluster.state) == ClusterState.DELETED.value, 1), else_=0)
    return session.exec(stmt.order_by(deleted_last, col(Cluster.id).desc())).first()


def get_cluster_by_id(session: Session, *, cluster_id: int) -> Cluster | None:
    """The cluster with this id (deleted or not), freshly read from the database."""
    return session.get(Cluster, cluster_id, populate_existing=True)


def list_clusters(
    session: Session, *, team_id: str, owner_id: str | None = None, offset: int = 0, limit: int = 20
) -> tuple[list[Cluster], int]:
    """One page of the team's live clusters (optionally one owner's), by name, and the total count."""
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"need offset >= 0 and 1 <= limit <= {MAX_PAGE}")
    conditions = [Cluster.team_id == team_id, _LIVE]
    if owner_id is not None:
        conditions.append(Cluster.owner_id == owner_id)
    total = session.exec(select(sa.func.count()).select_from(Cluster).where(*conditions)).one()
    page = select(Cluster).where(*conditions).order_by(col(Cluster.name), col(Cluster.id))
    return list(session.exec(page.offset(offset).limit(limit)).all()), total


def set_cluster_state(
    session: Session,
    cluster: Cluster,
    new_state: ClusterState | str,
    *,
    reason: str | None = None,
    now: dt.datetime,
    commit: bool = True,
) -> Cluster:
    """Move `cluster` to `new_state` if the state machine allows it from its current stored state.

    The row is locked and re-read first, so two concurrent changes cannot both pass the check against a
    stale state. Raises `InvalidTransition`. `cluster` is updated in place and also returned.
    """
    stamp = aware(now)
    with unit_of_work(session, commit=commit):
        current = session.get(Cluster, cluster.id, with_for_update=True, populate_existing=True)
        if current is None:
            raise StorageError(f"cluster {cluster.id} no longer exists")
        check_transition(current.state, new_state)
        current.state = ClusterState(new_state).value
        current.state_reason = clip(Cluster, "state_reason", reason)
        current.updated_at = stamp
        if current.state == ClusterState.DELETED:
            current.deleted_at = stamp
    if current is not cluster:
        # The caller's object belongs to another (or no) session: mirror the change without making
        # it look modified there.
        for field in ("state", "state_reason", "updated_at", "deleted_at"):
            set_committed_value(cluster, field, getattr(current, field))
    return current


_UPDATABLE = frozenset({"provider_ref", "endpoint", "version", "node_count", "kubeconfig_encrypted"})


def update_cluster(
    session: Session, *, cluster_id: int, values: dict[str, Any], now: dt.datetime, commit: bool = True
) -> None:
    """Set provider-reported fields of a cluster (not its state: use `set_cluster_state`).

    `kubeconfig_encrypted` may only be cleared here; `save_kubeconfig` encrypts new ones.
    """
    unknown = set(values) - _UPDATABLE
    if unknown:
        raise ValueError(f"cannot update cluster fields {sorted(unknown)}")
    if values.get("kubeconfig_encrypted") is not None:
        raise ValueError("use save_kubeconfig to store a kubeconfig")
    with unit_of_work(session, commit=commit):
        session.exec(
            sa.update(Cluster)
            .where(col(Cluster.id) == cluster_id)
            .values(**values, updated_at=aware(now))
            .execution_options(synchronize_session=False)
        )


def save_kubeconfig(
    session: Session,
    cluster: Cluster,
    *,
    crypto: Crypto,
    kubeconfig: str,
    now: dt.datetime | None = None,
    commit: bool = True,
) -> None:
    """Store the cluster's kubeconfig, encrypted; the plaintext never reaches the database."""
    token = crypto.encrypt(kubeconfig)
    stamp = aware(now) if now is not None else utcnow()
    with unit_of_work(session, commit=commit):
        session.exec(
            sa.update(Cluster)
            .where(col(Cluster.id) == cluster.id)
            .values(kubeconfig_encrypted=token, updated_at=stamp)
            .execution_options(synchronize_session=False)
        )
    set_committed_value(cluster, "kubeconfig_encrypted", token)
    set_committed_value(cluster, "updated_at", stamp)


def read_kubeconfig(cluster: Cluster, *, crypto: Crypto) -> str | None:
    """The cluster's kubeconfig in clear, None if none was saved; `DecryptionError` on a wrong key."""
    if cluster.kubeconfig_encrypted is None:
        return None
    return crypto.decrypt(cluster.kubeconfig_encrypted)


# --- operations -----------------------------------------------------------------------------------


def get_operation_by_key(session: Session, *, idempotency_key: str) -> Operation | None:
    """The operation recorded under this idempotency key, if any."""
    stmt = (
        select(Operation)
        .where(Operation.idempotency_key == idempotency_key)
        .execution_options(populate_existing=True)
    )
    return session.exec(stmt).first()


def enqueue_operation(
    session: Session,
    *,
    kind: str,
    cluster: Cluster,
    requester_id: str,
    idempotency_key: str,
    params: Mapping[str, Any],
    channel_id: str | None = None,
    thread_ts: str | None = None,
    status: OperationStatus | str = OperationStatus.QUEUED,
    payload: str | None = None,
    crypto: Crypto | None = None,
    now: dt.datetime | None = None,
    commit: bool = True,
) -> tuple[Operation, bool]:
    """Record an operation unless one with this idempotency key exists.

    Returns `(operation, True)` when created, or the existing operation and False — also when another
    process inserts the same key concurrently (the unique index decides; a savepoint absorbs the loss).
    A `payload` (text that may hold secrets, such as a pasted manifest) is stored encrypted with `crypto`.
    """
    if payload is not None and crypto is None:
        raise ValueError("a payload is stored encrypted: pass crypto")
    if OperationStatus(status) not in _ENQUEUE_STATUSES:
        raise ValueError(f"a new operation must be queued or awaiting_approval, not {status!r}")
    if not idempotency_key:
        raise ValueError("idempotency_key must not be empty")
    require_fits(
        Operation,
        kind=kind,
        requester_id=requester_id,
        idempotency_key=idempotency_key,
        channel_id=channel_id,
        thread_ts=thread_ts,
    )
    stamp = aware(now) if now is not None else utcnow()
    with unit_of_work(session, commit=commit):
        existing = get_operation_by_key(session, idempotency_key=idempotency_key)
        if existing is not None:
            return existing, False
        operation = Operation(
            kind=kind,
            cluster_id=cluster.id,
            team_id=cluster.team_id,
            requester_id=requester_id,
            channel_id=channel_id,
            thread_ts=thread_ts,
            status=OperationStatus(status).value,
            params=dict(params),
            payload_encrypted=crypto.encrypt(payload) if payload is not None and crypto else None,
            idempotency_key=idempotency_key,
            created_at=stamp,
            updated_at=stamp,
        )
        try:
            with session.begin_nested():
                session.add(operation)
        except IntegrityError:
            existing = get_operation_by_key(session, idempotency_key=idempotency_key)
            if existing is None:  # some other constraint failed, e.g. the cluster is gone
                raise
            return existing, False
    return operation, True


def read_payload(operation: Operation, *, crypto: Crypto) -> str | None:
    """The decrypted payload of an operation, if it has one."""
    if operation.payload_encrypted is None:
        return None
    return crypto.decrypt(operation.payload_encrypted)


def get_operation(session: Session, *, op_id: int) -> Operation | None:
    """The operation with this id, freshly read (runners in other sessions change it)."""
    return session.get(Operation, op_id, populate_existing=True)


def count_unfinished(session: Session) -> int:
    """How many operations are queued or running (awaiting approval is excluded: it waits on a human)."""
    active = [OperationStatus.QUEUED.value, OperationStatus.RUNNING.value]
    stmt = select(sa.func.count()).select_from(Operation).where(col(Operation.status).in_(active))
    return session.exec(stmt).one()


def latest_operation(session: Session, *, cluster_id: int) -> Operation | None:
    """The most recently recorded operation on a cluster, if any."""
    stmt = (
        select(Operation)
        .where(Operation.cluster_id == cluster_id)
        .order_by(col(Operation.id).desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return session.exec(stmt).first()


# --- audit ----------------------------------------------------------------------------------------


def record_audit(
    session: Session,
    *,
    team_id: str,
    actor_id: str,
    action: str,
    result: str,
    cluster: Cluster | None = None,
    cluster_name: str | None = None,
    detail: str = "",
    now: dt.datetime | None = None,
    commit: bool = True,
) -> AuditEvent:
    """Append an audit event; over-long text (e.g. a name a user typed) is shortened, never refused."""
    if result not in AUDIT_RESULTS:
        raise ValueError(f"result must be one of {sorted(AUDIT_RESULTS)}, not {result!r}")
    event = AuditEvent(
        at=aware(now) if now is not None else utcnow(),
        team_id=clip(AuditEvent, "team_id", team_id),
        actor_id=clip(AuditEvent, "actor_id", actor_id),
        action=clip(AuditEvent, "action", action),
        cluster_name=clip(AuditEvent, "cluster_name", cluster_name or (cluster.name if cluster else None)),
        cluster_id=cluster.id if cluster else None,
        result=result,
        detail=clip(AuditEvent, "detail", detail) or "",
    )
    with unit_of_work(session, commit=commit):
        session.add(event)
    return event


def list_audit(session: Session, *, team_id: str, limit: int = 100) -> list[AuditEvent]:
    """The team's most recent audit events, newest first."""
    if not 1 <= limit <= 10_000:
        raise ValueError("limit must be between 1 and 10000")
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.team_id == team_id)
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .limit(limit)
    )
    return list(session.exec(stmt).all())
