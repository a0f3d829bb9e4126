"""Engines and sessions: SQLite (the zero-setup default) or PostgreSQL, chosen by URL."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlmodel import Session

#: Execution option naming how SQLite should BEGIN a transaction ("DEFERRED" or "IMMEDIATE").
SQLITE_BEGIN_OPTION = "kaas_sqlite_begin"
#: Key in `Connection.info` telling whether the current SQLite transaction holds the write lock.
SQLITE_IMMEDIATE_INFO = "kaas_sqlite_immediate"

_SQLITE_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})
_BUSY_TIMEOUT_MS = 5000
DATABASE_FILENAME = "kaas.db"


def _normalise_url(url: str) -> URL:
    parsed = make_url(url)
    scheme, _, driver = parsed.drivername.partition("+")
    if scheme in ("postgresql", "postgres"):  # "postgres" is the Heroku-style spelling
        # psycopg 3 is the driver kaas ships with; a bare "postgresql://" would ask for psycopg2.
        return parsed.set(drivername=f"postgresql+{driver or 'psycopg'}")
    if scheme == "sqlite":
        database = parsed.database or ""
        in_memory = database in ("", ":memory:") or parsed.query.get("mode") == "memory"
        if in_memory or database.startswith("file::memory:"):
            # Every pooled connection would see its own empty database; kaas needs a shared file.
            raise ValueError("an in-memory SQLite database is not supported; use sqlite:///path/to/kaas.db")
        return parsed
    raise ValueError(f"unsupported database URL scheme {scheme!r}; use sqlite:///… or postgresql://…")


def _install_sqlite_listeners(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (below) instead of the sqlite3 module's legacy implicit
        # transactions, which break SAVEPOINT and cannot BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
            cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")  # wait for the lock, don't fail
            cursor.execute("PRAGMA foreign_keys=ON")  # off by default in SQLite
            cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough with WAL, far fewer fsyncs
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = str(conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")).upper()
        if mode not in _SQLITE_BEGIN_MODES:
            raise ValueError(f"unknown SQLite BEGIN mode {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")
        conn.info[SQLITE_IMMEDIATE_INFO] = mode != "DEFERRED"


def make_engine(url: str) -> Engine:
    """Create the engine for a `sqlite:///path` or `postgresql://…` URL, tuned for kaas.

    SQLite gets WAL, a 5 s busy timeout, foreign keys and cross-thread connections; PostgreSQL URLs use
    the psycopg 3 driver with pre-ping so connections dropped by the server are replaced transparently.
    """
    parsed = _normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed, connect_args={"check_same_thread": False})
        _install_sqlite_listeners(engine)
        return engine
    return sa.create_engine(parsed, pool_pre_ping=True)


def default_database_url(home: Path) -> str:
    """URL of the default SQLite database, `home/kaas.db`, creating it (mode 0600) if missing."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = home / DATABASE_FILENAME
    try:
        # Create the empty file ourselves so it is private from the first byte; SQLite would use 0644.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        os.close(fd)
    return f"sqlite:///{path.resolve()}"


def session_factory(engine: Engine) -> Callable[[], Session]:
    """A callable returning new sessions bound to `engine` whose objects stay usable after commit."""

    def new_session() -> Session:
        return Session(engine, expire_on_commit=False)

    return new_session
