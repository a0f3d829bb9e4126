"""The outbox: messages users see, written in the same transaction as the state change they report.

Writers (`publish`, `strip_buttons`) run inside the caller's transaction. Senders `claim` what is due —
newer than what was delivered, past its retry time, and for a message already posted at most one update
per `min_interval` — then report `delivered`, `retry` or `give_up`, each fenced by the claim so that two
senders never both deliver one version. PostgreSQL senders skip each other's rows (`FOR UPDATE SKIP
LOCKED`); SQLite ones take turns under its write lock.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.fields import aware, clip
from storage.models import OutboxMessage
from storage.tx import begin_write, unit_of_work

MAX_NOTES = 50
"""Step notes kept per message; a message with more keeps the newest (the thread shows what it saw)."""


def publish(
    session: Session,
    *,
    key: str,
    audience: str,
    team_id: str,
    body: dict[str, Any],
    note: str | None,
    final: bool,
    now: dt.datetime,
    cluster_id: int | None = None,
    operation_id: int | None = None,
) -> None:
    """Inside the caller's transaction: the message `key` gets `body` as its newest version, and `note`
    (if new) as its newest step note. A final message is never reopened by a later write."""
    begin_write(session)
    stamp = aware(now)
    row = session.exec(
        select(OutboxMessage)
        .where(col(OutboxMessage.key) == key)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        session.add(
            OutboxMessage(
                key=key,
                audience=audience,
                team_id=team_id,
                cluster_id=cluster_id,
                operation_id=operation_id,
                body=body,
                notes=[note] if note else [],
                final=final,
                created_at=stamp,
                updated_at=stamp,
            )
        )
        session.flush()
        return
    if row.final:
        return
    notes = list(row.notes)
    if note and (not notes or notes[-1] != note):
        notes.append(note)
    dropped = max(0, len(notes) - MAX_NOTES)
    row.notes = notes[dropped:]
    row.delivered_notes = max(0, row.delivered_notes - dropped)
    row.body = body
    row.final = final
    row.version += 1
    row.updated_at = stamp
    session.add(row)
    session.flush()


def strip_buttons(session: Session, *, cluster_id: int, now: dt.datetime) -> int:
    """Inside the caller's transaction: take the buttons off every message about a cluster that is gone,
    so no live Delete stays on a deleted cluster's messages. Returns how many messages changed."""
    begin_write(session)
    rows = session.exec(
        select(OutboxMessage).where(col(OutboxMessage.cluster_id) == cluster_id).with_for_update()
    ).all()
    changed = 0
    for row in rows:
        if not row.body.get("buttons"):
            continue
        row.body = {**row.body, "buttons": []}
        row.version += 1
        row.updated_at = aware(now)
        session.add(row)
        changed += 1
    session.flush()
    return changed


def _due(audience: str | None, now: dt.datetime, min_interval: float):
    conditions = [
        col(OutboxMessage.version) > col(OutboxMessage.delivered_version),
        sa.or_(col(OutboxMessage.next_attempt_at).is_(None), col(OutboxMessage.next_attempt_at) <= now),
        sa.or_(col(OutboxMessage.claimed_until).is_(None), col(OutboxMessage.claimed_until) <= now),
        sa.or_(
            col(OutboxMessage.message_ts).is_(None),
            col(OutboxMessage.last_sent_at).is_(None),
            col(OutboxMessage.last_sent_at) <= now - dt.timedelta(seconds=min_interval),
        ),
    ]
    if audience is not None:
        conditions.append(col(OutboxMessage.audience) == audience)
    return sa.and_(*conditions)


def any_due(session: Session, *, audience: str | None, now: dt.datetime, min_interval: float) -> bool:
    """Whether `claim` would find anything (a plain read, no lock)."""
    stmt = select(col(OutboxMessage.id)).where(_due(audience, aware(now), min_interval)).limit(1)
    found = session.exec(stmt).first() is not None
    session.rollback()
    return found


def next_due_in(
    session: Session, *, audience: str | None, now: dt.datetime, min_interval: float
) -> float | None:
    """Seconds until the earliest undelivered message may be sent (0 if one may now), None if none waits."""
    stamp = aware(now)
    pending = [col(OutboxMessage.version) > col(OutboxMessage.delivered_version)]
    if audience is not None:
        pending.append(col(OutboxMessage.audience) == audience)
    rows = session.exec(
        select(
            col(OutboxMessage.next_attempt_at),
            col(OutboxMessage.last_sent_at),
            col(OutboxMessage.message_ts),
            col(OutboxMessage.claimed_until),
        )
        .where(*pending)
        .order_by(col(OutboxMessage.next_attempt_at).nulls_first())
        .limit(200)
    ).all()
    session.rollback()
    soonest: float | None = None
    for next_attempt, last_sent, message_ts, claimed_until in rows:
        at = stamp if next_attempt is None else aware(next_attempt)
        if message_ts is not None and last_sent is not None:
            at = max(at, aware(last_sent) + dt.timedelta(seconds=min_interval))
        if claimed_until is not None:
            at = max(at, aware(claimed_until))
        wait = max(0.0, (at - stamp).total_seconds())
        soonest = wait if soonest is None else min(soonest, wait)
    return soonest


def claim(
    session: Session,
    *,
    audience: str | None,
    owner: str,
    now: dt.datetime,
    limit: int,
    hold_seconds: float,
    min_interval: float,
) -> list[OutboxMessage]:
    """Claim up to `limit` messages that are due, for `hold_seconds`; `audience=None` claims any."""
    stamp = aware(now)
    stmt = (
        select(OutboxMessage)
        .where(_due(audience, stamp, min_interval))
        .order_by(col(OutboxMessage.next_attempt_at).nulls_first(), col(OutboxMessage.id))
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    with unit_of_work(session):
        rows = list(session.exec(stmt).all())
        for row in rows:
            row.claimed_by = owner
            row.claimed_until = stamp + dt.timedelta(seconds=hold_seconds)
            session.add(row)
    return rows


def _settle(session: Session, *, message_id: int, owner: str, values: dict[str, Any]) -> bool:
    with unit_of_work(session):
        result = session.exec(
            sa.update(OutboxMessage)
            .where(col(OutboxMessage.id) == message_id, col(OutboxMessage.claimed_by) == owner)
            .values(claimed_by=None, claimed_until=None, **values)
            .execution_options(synchronize_session=False)
        )
    return result.rowcount == 1


def delivered(
    session: Session,
    *,
    message_id: int,
    owner: str,
    version: int,
    notes: int,
    message_ts: str | None,
    now: dt.datetime,
) -> bool:
    """Record that `version` (and the first `notes` notes) reached the user; False if the claim was lost."""
    return _settle(
        session,
        message_id=message_id,
        owner=owner,
        values={
            "delivered_version": version,
            "delivered_notes": notes,
            "message_ts": message_ts,
            "last_sent_at": aware(now),
            "next_attempt_at": None,
            "attempts": 0,
            "error": None,
        },
    )


def retry(session: Session, *, message_id: int, owner: str, at: dt.datetime, error: str) -> bool:
    """Try again at `at` (after a 429's Retry-After, or a backoff)."""
    return _settle(
        session,
        message_id=message_id,
        owner=owner,
        values={
            "next_attempt_at": aware(at),
            "attempts": col(OutboxMessage.attempts) + 1,
            "error": clip(OutboxMessage, "error", error),
        },
    )


def give_up(session: Session, *, message_id: int, owner: str, version: int, notes: int, error: str) -> bool:
    """Stop delivering this version (the chat refuses it for good: channel gone, bot removed…)."""
    return _settle(
        session,
        message_id=message_id,
        owner=owner,
        values={
            "delivered_version": version,
            "delivered_notes": notes,
            "error": clip(OutboxMessage, "error", error),
        },
    )


def backlog(session: Session) -> int:
    """How many messages wait for delivery (for /metrics)."""
    stmt = (
        select(sa.func.count())
        .select_from(OutboxMessage)
        .where(col(OutboxMessage.version) > col(OutboxMessage.delivered_version))
    )
    return session.exec(stmt).one()


def get(session: Session, *, key: str) -> OutboxMessage | None:
    """The message recorded under `key`, freshly read."""
    stmt = (
        select(OutboxMessage).where(col(OutboxMessage.key) == key).execution_options(populate_existing=True)
    )
    return session.exec(stmt).first()
