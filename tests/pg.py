"""Throwaway PostgreSQL databases for the tests and the benchmarks.

A database is created under an admin URL ($UTILIBOT_TEST_PG_URL, or the local ``postgres`` user),
optionally migrated, used, and dropped with everything in it. The tests' fixtures (tests/conftest.py,
tests/test_migrations.py) and the benchmarks (benchmarks/*.py) all go through these functions.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage.database import Database
from storage.migrate import upgrade
from storage.models import Base

PG_ENV = "UTILIBOT_TEST_PG_URL"
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def default_admin_url() -> str:
    """$UTILIBOT_TEST_PG_URL, or the local server's ``postgres`` database."""
    return os.environ.get(PG_ENV) or PG_DEFAULT


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[Database]:
    """A Database on ``url``, disposed of (its connections closed) at the end."""
    database = Database(url)
    try:
        yield database
    finally:
        await database.dispose()


async def create_database(admin_url: str, prefix: str) -> str:
    """Create an empty database ``{prefix}_{pid}_{random}`` on the server of ``admin_url``; returns
    its URL (with the admin's credentials). Raises when the server cannot be reached or refuses."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    async with opened(admin_url) as admin, admin.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def migrate(url: str) -> None:
    """Bring the database at ``url`` to the head revision."""
    async with opened(url) as database:
        await upgrade(database)


async def drop_database(admin_url: str, url: str) -> None:
    """Drop the database of ``url`` (made by create_database), closing whatever is still connected."""
    async with opened(admin_url) as admin, admin.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        name = make_url(url).database
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def truncate_all(db: Database) -> None:
    """Empty every table of the models in a migrated PostgreSQL database (ids start at 1 again)."""
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    async with db.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
