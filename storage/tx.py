"""Transaction helpers shared by the repository functions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlmodel import Session

from storage.engine import SQLITE_BEGIN_OPTION, SQLITE_IMMEDIATE_INFO


def is_sqlite(session: Session) -> bool:
    """Whether `session` talks to SQLite (which needs different locking than PostgreSQL)."""
    return session.get_bind().dialect.name == "sqlite"


def begin_write(session: Session) -> None:
    """Make sure the session's next statements run in a transaction that may write without surprises.

    On SQLite this means a `BEGIN IMMEDIATE` transaction, which takes the database write lock up front.
    Why: in WAL mode a deferred transaction that has read and then writes fails at once with
    SQLITE_BUSY if another connection committed in between (busy_timeout cannot help), whereas
    IMMEDIATE writers simply queue on the busy timeout. A deferred transaction already open on the
    session is committed first; repository functions commit anyway, so only its timing changes.
    On PostgreSQL this is a no-op: row locks (`FOR UPDATE`) give the needed guarantees.
    """
    if not is_sqlite(session):
        return
    if session.in_transaction():
        if session.connection().info.get(SQLITE_IMMEDIATE_INFO):
            return
        session.commit()
    session.connection(execution_options={SQLITE_BEGIN_OPTION: "IMMEDIATE"})


@contextmanager
def unit_of_work(session: Session, *, commit: bool = True) -> Iterator[None]:
    """A write transaction: committed at the end (or only flushed, to compose several), rolled back on error.

    Rolling back also releases SQLite's write lock, which would otherwise block every other writer.
    """
    begin_write(session)
    try:
        yield
        if commit:
            session.commit()
        else:
            session.flush()
    except BaseException:
        session.rollback()
        raise
