"""Engine construction per backend, the default database file, sessions and UTC timestamps."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage.engine import default_database_url, make_engine, session_factory
from storage.models import AuditEvent


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u@db.example:5432/kaas", "postgresql+psycopg"),
        ("postgres://u@db.example/kaas", "postgresql+psycopg"),
        ("postgresql+psycopg://u@db.example/kaas", "postgresql+psycopg"),
    ],
)
def test_postgres_urls_use_psycopg3(url: str, driver: str) -> None:
    engine = make_engine(url)  # no connection is made until first use
    try:
        assert engine.url.drivername == driver
        assert engine.pool._pre_ping  # type: ignore[attr-defined]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "url",
    ["sqlite://", "sqlite:///:memory:", "sqlite:///file::memory:?uri=true", "mysql://u@h/db", "oracle://h/x"],
)
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        make_engine(url)


def test_sqlite_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'k.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_sqlite_savepoints_roll_back_with_the_transaction(tmp_path: Path) -> None:
    # The sqlite3 module's legacy mode would let a released SAVEPOINT escape the outer transaction.
    engine = make_engine(f"sqlite:///{tmp_path / 'k.db'}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        with engine.connect() as conn:
            with conn.begin() as outer:
                with conn.begin_nested():
                    conn.exec_driver_sql("INSERT INTO t VALUES (1)")
                outer.rollback()
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    finally:
        engine.dispose()


def test_default_database_url_creates_private_file(tmp_path: Path) -> None:
    home = tmp_path / "home" / ".kaas"
    url = default_database_url(home)
    path = home / "kaas.db"
    assert url == f"sqlite:///{path}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert default_database_url(home) == url  # idempotent, keeps the file
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    finally:
        engine.dispose()


def test_session_factory_keeps_objects_loaded_after_commit(engine: Engine) -> None:
    make = session_factory(engine)
    with make() as session:
        assert isinstance(session, Session)
        event = AuditEvent(team_id="T", actor_id="U", action="a", result="ok")
        session.add(event)
        session.commit()
    assert event.action == "a"  # no DetachedInstanceError: expire_on_commit is off


def test_timestamps_come_back_aware_utc(engine: Engine) -> None:
    paris = dt.timezone(dt.timedelta(hours=2))
    at = dt.datetime(2025, 6, 1, 14, 30, 15, 123456, tzinfo=paris)
    with session_factory(engine)() as session:
        session.add(AuditEvent(at=at, team_id="T", actor_id="U", action="a", result="ok"))
        session.commit()
        session.expunge_all()
        stored = session.exec(sa.select(AuditEvent.at)).scalar_one()  # type: ignore[call-overload]
    assert stored.tzinfo is not None
    assert stored.utcoffset() == dt.timedelta(0)
    assert stored == at  # same instant: the +02:00 offset was converted, not dropped


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    with session_factory(engine)() as session:
        session.add(
            AuditEvent(at=dt.datetime(2025, 1, 1), team_id="T", actor_id="U", action="a", result="ok")
        )
        with pytest.raises(sa.exc.StatementError, match="naive datetime"):
            session.commit()
