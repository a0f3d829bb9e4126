"""Repository functions over app releases: what kaas deployed on which cluster, and its inventory."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session, col, select

from storage.fields import aware, clip, require_fits
from storage.models import AppRelease, ReleaseStatus, utcnow
from storage.tx import begin_write

_LIVE = col(AppRelease.status) != ReleaseStatus.REMOVED.value


def get_release(session: Session, *, cluster_id: int, app: str, version: str) -> AppRelease | None:
    """The live release of `app` at `version` ("" for none) on a cluster."""
    stmt = (
        select(AppRelease)
        .where(AppRelease.cluster_id == cluster_id, AppRelease.app == app, _LIVE)
        .where(AppRelease.version == version)
        .execution_options(populate_existing=True)
    )
    return session.exec(stmt).first()


def get_release_by_id(session: Session, *, release_id: int) -> AppRelease | None:
    return session.get(AppRelease, release_id, populate_existing=True)


def list_releases(session: Session, *, cluster_id: int, app: str | None = None) -> list[AppRelease]:
    """Live releases of a cluster (of one app when given), by app then version."""
    stmt = select(AppRelease).where(AppRelease.cluster_id == cluster_id, _LIVE)
    if app is not None:
        stmt = stmt.where(AppRelease.app == app)
    stmt = stmt.order_by(col(AppRelease.app), col(AppRelease.version))
    return list(session.exec(stmt.execution_options(populate_existing=True)).all())


def open_release(
    session: Session,
    *,
    team_id: str,
    cluster_id: int,
    app: str,
    version: str,
    namespace: str,
    source_kind: str,
    source: str,
    deployed_by: str,
    helm_release: str | None = None,
    now: dt.datetime | None = None,
) -> AppRelease:
    """The live release for this app version, created or (on a redeploy) reset to deploying. Not committed.

    A redeploy keeps the inventory already recorded, so objects applied before stay known until the new
    deploy has applied its own.
    """
    require_fits(AppRelease, app=app, version=version, namespace=namespace, deployed_by=deployed_by)
    stamp = aware(now) if now is not None else utcnow()
    begin_write(session)
    release = get_release(session, cluster_id=cluster_id, app=app, version=version)
    if release is None:
        release = AppRelease(
            team_id=team_id,
            cluster_id=cluster_id,
            app=app,
            version=version,
            namespace=namespace,
            source_kind=source_kind,
            source=clip(AppRelease, "source", source),
            helm_release=helm_release,
            deployed_by=deployed_by,
            created_at=stamp,
            updated_at=stamp,
        )
    else:
        release.namespace = namespace
        release.source_kind = source_kind
        release.source = clip(AppRelease, "source", source)
        release.helm_release = helm_release
        release.deployed_by = deployed_by
        release.status = ReleaseStatus.DEPLOYING
        release.message = ""
        release.updated_at = stamp
    session.add(release)
    session.flush()
    return release


def update_release(
    session: Session, *, release_id: int, values: dict[str, Any], now: dt.datetime, commit: bool = True
) -> AppRelease | None:
    """Set fields of a release (status, message, objects, operation_id…)."""
    begin_write(session)
    release = get_release_by_id(session, release_id=release_id)
    if release is None:
        return None
    for key, value in values.items():
        if key == "message":
            value = clip(AppRelease, "message", value)
        setattr(release, key, value)
    release.updated_at = aware(now)
    session.add(release)
    if commit:
        session.commit()
    else:
        session.flush()
    return release
