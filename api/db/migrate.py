"""``rag-migrate``: apply or roll back the database migrations (Alembic, configured in code).

``rag-serve`` applies them at start-up with :func:`upgrade`; release steps and rollbacks run
``rag-migrate upgrade`` / ``rag-migrate downgrade REVISION`` against ``RAG_DATABASE_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import SQLAlchemyError

from api.db.session import (
    DEFAULT_CONNECT_TIMEOUT_S,
    SQLITE_BEGIN_IMMEDIATE,
    build_migration_engine,
    describe_url,
    is_sqlite,
)
from api.monitoring.logs import configure_logging
from api.settings import get_service_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Several instances starting together: one migrates, the others wait, then find nothing to do.
_PG_LOCK_KEY = 0x72616700  # "rag\0"


class MigrationError(RuntimeError):
    """A migration could not run (database unreachable, unknown revision, failed step)."""


def build_alembic_config(url: str) -> Config:
    """An Alembic config for ``url``, with no ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolates '%': escape it (URL-encoded passwords contain it).
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    """The newest revision shipped with this code."""
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


async def upgrade(
    url: str, revision: str = "head", *, connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
) -> str | None:
    """Upgrade the database at ``url`` to ``revision``; returns the revision it is now at.

    Safe to call from a running event loop and from several instances at once.
    """
    config = build_alembic_config(url)
    return await _run(url, lambda: command.upgrade(config, revision), config, connect_timeout_s)


async def downgrade(
    url: str, revision: str = "base", *, connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
) -> str | None:
    """Downgrade the database at ``url`` to ``revision`` ("base": drop every table)."""
    config = build_alembic_config(url)
    return await _run(url, lambda: command.downgrade(config, revision), config, connect_timeout_s)


async def current(url: str, *, connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S) -> str | None:
    """The revision the database at ``url`` is at (None: never migrated)."""
    config = build_alembic_config(url)
    return await _run(url, None, config, connect_timeout_s)


async def _run(
    url: str,
    step: Callable[[], None] | None,
    config: Config,
    connect_timeout_s: float,
) -> str | None:
    engine = build_migration_engine(url, connect_timeout_s=connect_timeout_s)
    try:
        _ensure_sqlite_folder(url)
        async with engine.connect() as connection:
            if step is not None and is_sqlite(url):
                # Take SQLite's write lock before reading the version table.
                await connection.execution_options(**{SQLITE_BEGIN_IMMEDIATE: True})
            async with connection.begin():
                if step is not None and connection.dialect.name == "postgresql":
                    # Released at commit; the whole upgrade is one transaction on PostgreSQL.
                    await connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY}
                    )
                return await connection.run_sync(_run_sync, step, config)
    except CommandError as exc:  # e.g. an unknown revision
        raise MigrationError(str(exc)) from exc
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        if is_sqlite(url):
            # aiosqlite stops the worker thread of a failed connect without awaiting it: give
            # the thread a moment, or it reports to a closed loop once asyncio.run() returns.
            await asyncio.sleep(0.05)
        cause = getattr(exc, "orig", None) or exc
        lines = str(cause).strip().splitlines()
        detail = f": {lines[0]}" if lines else ""
        raise MigrationError(
            f"database {describe_url(url)}: {type(cause).__name__}{detail}"
        ) from exc
    finally:
        await engine.dispose()


def _ensure_sqlite_folder(url: str) -> None:
    """Create the folder of a SQLite file (``RAG_DATA_DIR`` on a first start)."""
    parsed = make_url(url)
    database = parsed.database or ""
    not_a_path = database in ("", ":memory:") or database.startswith("file:")  # URI form
    if parsed.get_backend_name() == "sqlite" and not not_a_path:
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _run_sync(
    connection: Connection, step: Callable[[], None] | None, config: Config
) -> str | None:
    if step is not None:
        config.attributes["connection"] = connection
        step()
    return MigrationContext.configure(connection).get_current_revision()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``rag-migrate``."""
    parser = argparse.ArgumentParser(
        prog="rag-migrate",
        description=(
            "Apply or roll back the database schema migrations on RAG_DATABASE_URL "
            "(default: SQLite in RAG_DATA_DIR)."
        ),
        epilog=(
            "examples: rag-migrate upgrade | rag-migrate downgrade -1 | rag-migrate current. "
            "Exit codes: 0 done, 1 failed (e.g. database unreachable), 2 bad usage."
        ),
    )
    parser.add_argument(
        "action",
        nargs="?",
        default="upgrade",
        choices=["upgrade", "downgrade", "current"],
        help="what to do (default: %(default)s)",
    )
    parser.add_argument(
        "revision",
        nargs="?",
        help='target revision: an id, "head", "base" or a relative step like "-1" '
        '(default: "head" to upgrade, required to downgrade)',
    )
    args = parser.parse_args(argv)
    if args.action == "downgrade" and args.revision is None:
        parser.error('downgrade needs a REVISION (e.g. "-1", or "base" to drop every table)')
    if args.action == "current" and args.revision is not None:
        parser.error("current takes no REVISION")

    settings = get_service_settings()
    url = settings.resolved_database_url
    configure_logging(settings)
    logging.getLogger("alembic.runtime.migration").addFilter(_only_steps)
    try:
        if args.action == "current":
            before = after = asyncio.run(current(url))
        else:
            before = asyncio.run(current(url))
            action = upgrade if args.action == "upgrade" else downgrade
            after = asyncio.run(action(url, args.revision or "head"))
    except MigrationError as exc:
        _say(f"rag-migrate: error: {exc}", err=True)
        return 1
    where = describe_url(url)
    if args.action == "current":
        _say(f"rag-migrate: {where} is at {_name(after)} (latest: {_name(head_revision())})")
    elif before == after:
        _say(f"rag-migrate: {where} already at {_name(after)}; nothing to do")
    else:
        _say(f"rag-migrate: {args.action}d {where} from {_name(before)} to {_name(after)}")
    return 0


def _say(line: str, *, err: bool = False) -> None:
    print(line, file=sys.stderr if err else sys.stdout)


def _only_steps(record: logging.LogRecord) -> bool:
    """Keep Alembic's "Running upgrade ..." lines, drop its per-connection chatter."""
    return record.levelno > logging.INFO or record.getMessage().startswith("Running ")


def _name(revision: str | None) -> str:
    return revision or "base (empty)"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
