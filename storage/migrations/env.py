"""Alembic environment for kaas: the target schema is `SQLModel.metadata` from `storage.models`.

Normally run through `storage.migrations.upgrade`, which passes an open, locked connection in
`config.attributes["connection"]`; with a URL instead (`sqlalchemy.url`), it opens and locks its own.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.migrations.rendering import render_item

config = context.config
target_metadata = SQLModel.metadata


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_item=render_item,
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (`alembic upgrade --sql`)."""
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations on the given connection, or on a freshly opened and locked one."""
    connection = config.attributes.get("connection")
    if connection is not None:
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables for later revisions.
        _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
        return

    from storage.engine import make_engine
    from storage.migrations import locked_migration_connection

    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with locked_migration_connection(engine) as locked:
            _configure(connection=locked, render_as_batch=locked.dialect.name == "sqlite")
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
