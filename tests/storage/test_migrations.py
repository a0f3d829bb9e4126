"""Migrations: idempotent, concurrency-safe, and producing exactly the schema the models declare."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from threading import Barrier

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata, produce_migrations, render_python_code
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables)
from storage.engine import make_engine
from storage.migrations import current_revision, head_revision, upgrade
from storage.migrations.rendering import render_item

REPO_ROOT = Path(__file__).resolve().parents[2]
BACKENDS = pytest.mark.parametrize("fresh_db_url", ["sqlite", "postgresql"], indirect=True)


def _schema_diffs(engine: Engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)


def _partial_index_sql(engine: Engine) -> str:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            query = "SELECT sql FROM sqlite_master WHERE name = 'uq_clusters_team_name_live'"
        else:
            query = "SELECT indexdef FROM pg_indexes WHERE indexname = 'uq_clusters_team_name_live'"
        return conn.exec_driver_sql(query).scalar_one()


@BACKENDS
def test_upgrade_is_idempotent_and_matches_models(fresh_db_url: str) -> None:
    engine = make_engine(fresh_db_url)
    try:
        assert current_revision(engine) is None
        head = head_revision()
        assert upgrade(engine) == head
        assert upgrade(engine) == head  # every start calls it again
        assert current_revision(engine) == head
        assert _schema_diffs(engine) == []
        # compare_metadata ignores index predicates, so check the partial unique index directly.
        index_sql = _partial_index_sql(engine)
        assert "UNIQUE" in index_sql.upper()
        assert "deleted" in index_sql and "WHERE" in index_sql.upper()
    finally:
        engine.dispose()


@BACKENDS
def test_upgrade_accepts_a_url(fresh_db_url: str) -> None:
    assert upgrade(fresh_db_url) == head_revision()
    engine = make_engine(fresh_db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


RACER = """
import pathlib, sys, time
from storage.migrations import upgrade
url, me, go = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
me.touch()
while not go.exists():
    time.sleep(0.005)
print(upgrade(url))
"""


@BACKENDS
def test_concurrent_upgrades_from_separate_processes(fresh_db_url: str, tmp_path: Path) -> None:
    """Several kaas processes starting at once on an empty database: all succeed, one schema results."""
    racers = 3
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(racers)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, fresh_db_url, str(flag), str(go)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag in ready
    ]
    try:
        deadline = time.monotonic() + 60
        while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
            time.sleep(0.01)
        go.touch()  # release them together, imports done, so the migrations really overlap
        outputs = [proc.communicate(timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == head_revision()
    engine = make_engine(fresh_db_url)
    try:
        assert _schema_diffs(engine) == []
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
    finally:
        engine.dispose()


@BACKENDS
def test_concurrent_upgrades_from_threads(fresh_db_url: str) -> None:
    """Threads of one process, each with its own engine, may also call upgrade at the same time."""
    racers = 4
    engines = [make_engine(fresh_db_url) for _ in range(racers)]
    barrier = Barrier(racers)

    def race(engine: Engine) -> str:
        barrier.wait()
        return upgrade(engine)

    try:
        with ThreadPoolExecutor(racers) as pool:
            assert list(pool.map(race, engines)) == [head_revision()] * racers
        assert _schema_diffs(engines[0]) == []
    finally:
        for engine in engines:
            engine.dispose()


@BACKENDS
def test_models_detect_a_drifted_schema(fresh_db_url: str) -> None:
    """The comparison used above is not vacuous: a missing index shows up as a difference."""
    engine = make_engine(fresh_db_url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("DROP INDEX ix_clusters_owner_id"))
        assert [diff[0] for diff in _schema_diffs(engine)] == ["add_index"]
    finally:
        engine.dispose()


@BACKENDS
def test_autogenerated_revisions_use_portable_types(fresh_db_url: str) -> None:
    """A future `alembic revision --autogenerate` must write plain SQLAlchemy types, JSON included."""
    engine = make_engine(fresh_db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            ops = produce_migrations(context, SQLModel.metadata)
        code = render_python_code(ops.upgrade_ops, render_item=render_item)
    finally:
        engine.dispose()
    assert "sa.JSON()" in code and "sa.DateTime(timezone=True)" in code and "sa.String(length=63)" in code
    for unportable in ("sqlmodel", "storage", "postgresql.", "sqlite.", "JSONB", "AutoString"):
        assert unportable not in code
