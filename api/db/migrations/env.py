"""Alembic environment: configured in code by ``api.db.migrate``, never by an ini file.

``api.db.migrate`` opens an async connection and runs Alembic inside ``connection.run_sync``,
passing the connection in ``config.attributes["connection"]``; that also works from inside a
running event loop (the app's lifespan). Without one (the plain ``alembic`` command with a
config that sets ``sqlalchemy.url``), this file opens its own async engine.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from api.db.models import Base
from api.db.session import build_migration_engine

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite alters tables by copying them ("batch" mode).
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def do_run_migrations(connection: Connection) -> None:
    """Run the migrations on an open (sync-facing) connection."""
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """Open an engine from ``sqlalchemy.url`` and run the migrations through it."""
    engine = build_migration_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    """Emit the SQL to stdout instead of running it (``--sql``)."""
    url = config.get_main_option("sqlalchemy.url")
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=bool(url and url.startswith("sqlite")),
    )
    with context.begin_transaction():
        context.run_migrations()


_connection = config.attributes.get("connection")
if context.is_offline_mode():
    run_migrations_offline()
elif _connection is not None:
    do_run_migrations(_connection)
else:
    asyncio.run(run_async_migrations())
