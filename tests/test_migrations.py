"""Alembic migrations on SQLite and PostgreSQL: an empty database and one at every earlier revision
reach the head, and the schema then equals the models; upgrades are idempotent, concurrent upgrades
take turns, one step down and up again works, and rows survive an upgrade."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from storage.database import Database
from storage.migrate import current_revision, downgrade, head_revision, revisions, upgrade
from storage.models import Base
from tests.pg import create_database, default_admin_url, drop_database

ROOT = Path(__file__).resolve().parent.parent
REVISIONS = revisions()
PREVIOUS = REVISIONS[:-1]  # every revision an existing installation may be at


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database: a new SQLite file, or a new PostgreSQL database (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    request.getfixturevalue("pg_url")  # skips with the reason when PostgreSQL is not reachable
    url = await create_database(default_admin_url(), "utilibot_migr")
    try:
        yield url
    finally:
        await drop_database(default_admin_url(), url)


async def schema_diff(db: Database) -> list[Any]:
    """What differs between the database's schema and the models (tables, columns, types, indexes,
    unique constraints, foreign keys); [] when they are the same."""

    def diff(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with db.engine.connect() as connection:
        return await connection.run_sync(diff)


async def test_an_empty_database_upgrades_to_the_models_and_again_changes_nothing(empty_url):
    db = Database(empty_url)
    try:
        assert await current_revision(db) is None
        assert await upgrade(db) == (None, head_revision())
        assert await schema_diff(db) == []
        assert await upgrade(db) == (head_revision(), head_revision())  # idempotent
        assert await schema_diff(db) == []
    finally:
        await db.dispose()


@pytest.mark.parametrize("start", PREVIOUS)
async def test_a_database_at_an_earlier_revision_upgrades_to_the_models_keeping_its_rows(empty_url, start):
    db = Database(empty_url)
    try:
        assert await upgrade(db, start) == (None, start)
        async with db.engine.begin() as connection:  # a resident who wrote before the upgrade
            await connection.execute(
                text(
                    "INSERT INTO chats (channel, chat_key, user_key, locale, state, state_data, "
                    "notifications, active, created_at, updated_at) VALUES "
                    "('telegram', '42', '42', 'uk', '', '{}', '{}', true, :at, :at)"
                ),
                {"at": datetime(2026, 11, 24, 10, 0, tzinfo=UTC)},
            )
        assert await upgrade(db) == (start, head_revision())
        assert await schema_diff(db) == []
        async with db.engine.connect() as connection:
            chats = (await connection.execute(text("SELECT chat_key, locale FROM chats"))).all()
        assert [tuple(row) for row in chats] == [("42", "uk")]
    finally:
        await db.dispose()


async def test_one_step_down_and_up_again(empty_url):
    if len(REVISIONS) < 2:
        pytest.skip("only one revision")
    db = Database(empty_url)
    try:
        await upgrade(db)
        assert await downgrade(db, "-1") == (head_revision(), REVISIONS[-2])
        assert await schema_diff(db) != []  # the head's changes are gone
        assert await upgrade(db) == (REVISIONS[-2], head_revision())
        assert await schema_diff(db) == []
    finally:
        await db.dispose()


async def test_concurrent_upgrades_take_turns(empty_url):
    """`db upgrade` started on two hosts at once (or two `run` on one SQLite file): both succeed."""
    first, second = Database(empty_url), Database(empty_url)
    try:
        results = await asyncio.gather(upgrade(first), upgrade(second))
        assert sorted(results, key=str) == sorted(
            [(None, head_revision()), (head_revision(), head_revision())], key=str
        )
        assert await schema_diff(first) == []
    finally:
        await first.dispose()
        await second.dispose()


def test_db_upgrade_command_is_idempotent(empty_url, tmp_path):
    config = tmp_path / "config.toml"
    demo = (ROOT / "bot" / "demo" / "config.toml").read_text(encoding="utf-8")
    config.write_text(f'[database]\nurl = "{empty_url}"\n{demo}', encoding="utf-8")
    environment = {key: value for key, value in os.environ.items() if not key.startswith("UTILIBOT_")}

    def db_upgrade() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", "db", "upgrade", "-c", str(config)],
            capture_output=True,
            text=True,
            env=environment,
            cwd=ROOT,
            timeout=60,
        )

    first, again = db_upgrade(), db_upgrade()
    assert first.returncode == 0 and f"upgraded from empty to {head_revision()}" in first.stdout, first.stderr
    assert again.returncode == 0 and f"up to date (revision {head_revision()})" in again.stdout, again.stderr
