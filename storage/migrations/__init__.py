"""Schema migrations, run in code: `upgrade(engine)` at every start brings the database to head.

No alembic.ini is needed: the Alembic configuration is built here and points at this directory, whose
`env.py` and `versions/` Alembic loads by path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from threading import Lock

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from storage.engine import SQLITE_BEGIN_OPTION, make_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent
# Arbitrary but fixed: every kaas process takes this PostgreSQL advisory lock while migrating.
ADVISORY_LOCK_ID = 0x6B616173_6D696772  # "kaasmigr"
# Alembic's `context`/`op` proxies are module globals, so two threads of one process must not run
# migrations at the same time, whatever the database does.
_PROCESS_LOCK = Lock()


def alembic_config(url: str | None = None) -> Config:
    """An Alembic `Config` for kaas's migrations, built in code (no alembic.ini)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser treats "%" as interpolation; URL-encoded passwords contain it.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of kaas."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - only if the versions directory is emptied
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


@contextmanager
def locked_migration_connection(engine: Engine) -> Iterator[sa.Connection]:
    """A connection inside one transaction that excludes every other migrating process.

    PostgreSQL: a transaction-scoped advisory lock, released by the commit; DDL is transactional there,
    so a second process waits, then finds the schema at head and does nothing. SQLite: BEGIN IMMEDIATE
    takes the database write lock, which serialises migrators the same way.
    """
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection = connection.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_LOCK_ID)))
            yield connection


def upgrade(engine_or_url: Engine | str) -> str:
    """Migrate the database to the newest revision and return it; safe to call at every start."""
    owns_engine = isinstance(engine_or_url, str)
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    try:
        with _PROCESS_LOCK, locked_migration_connection(engine) as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            revision = MigrationContext.configure(connection).get_current_revision()
    finally:
        if owns_engine:
            engine.dispose()
    if revision is None:  # pragma: no cover - upgrade always stamps a revision
        raise RuntimeError("migration finished without recording a revision")
    return revision


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
