"""Programmatic Alembic: `utilibot db upgrade`, and automatic upgrades of SQLite by `run` and `demo`.

An upgrade runs in one transaction (PostgreSQL and SQLite both have transactional DDL). Two
upgrades at once — `db upgrade` started on several hosts of a deployment, or several `run`
processes upgrading one SQLite file — take turns: on PostgreSQL a transaction-scoped advisory lock,
on SQLite the write lock of ``BEGIN IMMEDIATE``. The second one then finds the schema up to date and
changes nothing.
"""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from storage.database import Database


def migrations_dir() -> Path:
    """The Alembic environment shipped in this package (Alembic needs a real folder: the package
    must be installed unzipped, as pip does)."""
    folder = resources.files("storage") / "migrations"
    if not isinstance(folder, Path):
        raise RuntimeError(f"the migrations must be on the file system, not in {folder!r}")
    return folder

MIGRATION_LOCK_KEY = 0x7574696C6D696772  # "utilmigr": serializes concurrent upgrades on PostgreSQL


def alembic_config(url: str) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade_on(connection: Connection, url: str, revision: str) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _downgrade_on(connection: Connection, url: str, revision: str) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


def _current_on(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _lock_on(connection: Connection) -> None:
    """Wait for any other upgrade of this database to finish (released at commit)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})


async def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the database to ``revision``; returns (before, after). Idempotent, also when several
    processes upgrade the same database at once."""
    async with db.engine.connect() as connection:
        await connection.run_sync(_lock_on)
        before = await connection.run_sync(_current_on)
        await connection.run_sync(_upgrade_on, db.url, revision)
        await connection.commit()
        after = await connection.run_sync(_current_on)
    return before, after


async def downgrade(db: Database, revision: str) -> tuple[str | None, str | None]:
    """Take the database back to ``revision`` ('-1': one step, 'base': empty); returns (before, after)."""
    async with db.engine.connect() as connection:
        await connection.run_sync(_lock_on)
        before = await connection.run_sync(_current_on)
        await connection.run_sync(_downgrade_on, db.url, revision)
        await connection.commit()
        after = await connection.run_sync(_current_on)
    return before, after


def revisions() -> list[str]:
    """Every revision from the first to the head, in order."""
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://"))
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://")).get_current_head()


def upgrade_sync(url: str, revision: str = "head") -> tuple[str | None, str | None]:
    async def _run() -> tuple[str | None, str | None]:
        db = Database(url)
        try:
            return await upgrade(db, revision)
        finally:
            await db.dispose()

    return asyncio.run(_run())


async def current_revision(db: Database) -> str | None:
    async with db.engine.connect() as connection:
        return await connection.run_sync(_current_on)
