"""Test hygiene shared by every test: a clean environment and no stray state directories."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the developer's kaas or kubectl configuration."""
    for name in list(os.environ):
        if name.startswith(("KAAS_", "SLACK_")) or name in ("KUBECONFIG",):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KAAS_HOME", str(tmp_path_factory.mktemp("kaas-home")))


POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"


def _admin_execute(sql: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A fresh, empty database per test: a SQLite file, or a new PostgreSQL database on 127.0.0.1:5432."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'kaas.db'}"
        return
    import uuid

    name = f"kaas_t_{uuid.uuid4().hex[:12]}"
    _admin_execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_SERVER}/{name}"
    finally:
        _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
