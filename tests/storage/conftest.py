"""Fixtures running every storage test on a real SQLite file and a real PostgreSQL database.

Each pytest(-xdist) worker creates its own PostgreSQL database (`kaas_test_<worker>_<random>`) via the
`postgres` maintenance database, migrates it once, empties the tables before each test and drops the
database at the end. PostgreSQL must be reachable: these tests fail rather than skip without it.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from psycopg import sql
from sqlalchemy.engine import Engine
from sqlmodel import Session

from storage import repo
from storage.crypto import Crypto
from storage.engine import make_engine, session_factory
from storage.migrations import upgrade
from storage.models import Cluster

ADMIN_URL = os.environ.get("STORAGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
T0 = dt.datetime(2025, 1, 1, 12, 0, tzinfo=dt.UTC)


def _database_url(name: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


def create_pg_database(worker_id: str) -> tuple[str, str]:
    """Create an empty database with a unique name; return (name, URL)."""
    name = f"kaas_test_{worker_id}_{secrets.token_hex(4)}".lower()
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, _database_url(name)


def drop_pg_database(name: str) -> None:
    """Drop a test database, disconnecting any leftover sessions."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_url(worker_id: str) -> Iterator[str]:
    """A migrated PostgreSQL database private to this test worker."""
    name, url = create_pg_database(worker_id)
    try:
        upgrade(url)
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture
def fresh_db_url(request: pytest.FixtureRequest, tmp_path: Path, worker_id: str) -> Iterator[str]:
    """URL of a brand-new, never migrated database of the backend named by the test's parameter."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    name, url = create_pg_database(worker_id)
    try:
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'kaas.db'}")
        upgrade(eng)
    else:
        eng = make_engine(request.getfixturevalue("pg_url"))
        with eng.begin() as conn:
            conn.exec_driver_sql("TRUNCATE audit_events, operations, clusters RESTART IDENTITY CASCADE")
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def new_session(engine: Engine) -> Iterator[Callable[[], Session]]:
    """The production session factory; every session it made is closed after the test."""
    factory = session_factory(engine)
    made: list[Session] = []

    def make() -> Session:
        session = factory()
        made.append(session)
        return session

    yield make
    for session in made:
        session.close()


@pytest.fixture
def session(new_session: Callable[[], Session]) -> Session:
    return new_session()


@pytest.fixture
def crypto() -> Crypto:
    return Crypto(Fernet.generate_key())


@pytest.fixture
def make_cluster(session: Session) -> Callable[..., Cluster]:
    """Create a cluster with sensible defaults; keyword arguments override them."""

    def make(**overrides: object) -> Cluster:
        values: dict = {
            "team_id": "T1",
            "name": "demo",
            "owner_id": "U1",
            "profile": "sandbox",
            "kind": "sandbox",
            "node_count": 3,
            "version": "1.32",
            "machine_type": None,
        }
        values.update(overrides)
        return repo.create_cluster(session, **values)

    return make
