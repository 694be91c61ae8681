"""Programmatic Alembic: `utilibot db upgrade`, and automatic upgrades of SQLite by `run` and `demo`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from storage.database import Database

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _upgrade_on(connection: Connection, url: str, revision: str) -> None:
    config = alembic_config(url)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _current_on(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(db: Database, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the database to ``revision``; returns (before, after). Idempotent."""
    async with db.engine.connect() as connection:
        before = await connection.run_sync(_current_on)
        await connection.run_sync(_upgrade_on, db.url, revision)
        await connection.commit()
        after = await connection.run_sync(_current_on)
    return before, after


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
