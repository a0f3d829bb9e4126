"""Repository functions over backups: which archives exist for which cluster, and what they hold."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session, col, select

from storage.fields import aware, require_fits
from storage.models import Backup, Cluster
from storage.tx import begin_write


def record_backup(
    session: Session,
    *,
    cluster: Cluster,
    name: str,
    namespace: str | None,
    store_key: str,
    size_bytes: int,
    object_count: int,
    summary: dict,
    created_by: str,
    operation_id: int,
    now: dt.datetime,
    commit: bool = True,
) -> Backup:
    """Record a finished backup; recording the same operation's backup again returns the first row."""
    require_fits(Backup, name=name, namespace=namespace, store_key=store_key, created_by=created_by)
    begin_write(session)
    existing = session.exec(select(Backup).where(Backup.operation_id == operation_id)).first()
    if existing is not None:
        return existing
    backup = Backup(
        team_id=cluster.team_id,
        cluster_id=cluster.id,
        name=name,
        namespace=namespace,
        store_key=store_key,
        size_bytes=size_bytes,
        object_count=object_count,
        summary=summary,
        created_by=created_by,
        operation_id=operation_id,
        created_at=aware(now),
    )
    session.add(backup)
    if commit:
        session.commit()
    else:
        session.flush()
    return backup


def list_backups(session: Session, *, cluster_id: int, limit: int = 50) -> list[Backup]:
    """A cluster's backups, newest first."""
    stmt = (
        select(Backup)
        .where(Backup.cluster_id == cluster_id)
        .order_by(col(Backup.created_at).desc(), col(Backup.id).desc())
        .limit(limit)
    )
    return list(session.exec(stmt).all())


def find_backup(session: Session, *, team_id: str, name: str) -> Backup | None:
    """A backup of the workspace by name, or by id when `name` is a number."""
    stmt = select(Backup).where(Backup.team_id == team_id)
    stmt = stmt.where(Backup.id == int(name)) if name.isdigit() else stmt.where(Backup.name == name)
    return session.exec(stmt.order_by(col(Backup.id).desc())).first()
