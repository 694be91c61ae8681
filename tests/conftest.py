"""Shared fixtures: a test config, a migrated SQLite file per test, and PostgreSQL when reachable."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from domain.config import Config, parse_config
from storage.database import Database
from storage.migrate import upgrade
from tests.pg import create_database, default_admin_url, drop_database, migrate, truncate_all

TEST_CONFIG: dict[str, Any] = {
    "bot": {"default_locale": "uk", "max_verification_failures": 3, "timezone": "Europe/Kyiv"},
    "providers": [
        {
            "id": "teplo",
            "name": {
                "uk": "Теплокомуненерго",
                "ru": "Теплокоммунэнерго",
                "zh": "供热公司",
                "en": "City Heating",
            },
            "timezone": "Europe/Kyiv",
            "verification": "last_payment",
            "reading_window": {"from_day": 20, "to_day": 25},
            "hotline": "+380 44 000 00 00",
            "hours": {"uk": "Пн–Пт 8:00–17:00", "en": "Mon–Fri 8:00–17:00"},
            "payment_links": [
                {"title": {"en": "Pay online", "uk": "Сплатити"}, "url": "https://pay.example/?a={account}&s={amount}"}
            ],
            "payment_qr": {
                "standard": "nbu",
                "name": "КП Теплокомуненерго",
                "iban": "UA223052990000026001234567890",
                "code": "40538421",
                "purpose": "Опалення, о/р {account}, {period}",
            },
        },
        {
            "id": "voda",
            "name": {"uk": "Водоканал", "ru": "Водоканал", "zh": "自来水公司", "en": "City Water"},
            "timezone": "Europe/Kyiv",
            "verification": "surname",
            "reading_window": {"from_day": -2, "to_day": 3},
            "hotline": "1551",
            "payment_qr": {
                "standard": "st00012",
                "name": "ООО Водоканал",
                "personal_acc": "40702810200000000001",
                "bank_name": "ПАО Сбербанк",
                "bic": "044525225",
                "corresp_acc": "30101810400000000225",
                "payee_inn": "7707083893",
                "purpose": "Водоснабжение, л/с {account}",
            },
        },
    ],
}


@pytest.fixture
def config() -> Config:
    return parse_config(TEST_CONFIG, environ={})


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A real, migrated SQLite file for this test."""
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    await upgrade(database)
    yield database
    await database.dispose()


async def _pg_create() -> tuple[str | None, str]:
    admin_url = default_admin_url()
    try:
        url = await create_database(admin_url, "utilibot_test")
    except Exception as error:
        return None, f"PostgreSQL not reachable at {make_url(admin_url).render_as_string()}: {error!s:.120}"
    await migrate(url)
    return url, ""


def _in_thread(coroutine: Any) -> Any:
    """Run a coroutine to completion on its own loop (fixtures may be set up inside a running loop)."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(asyncio.run(coroutine)))
    thread.start()
    thread.join()
    return result[0] if result else None


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run (dropped after); skips with the reason if none."""
    created = _in_thread(_pg_create())
    if created is None:
        pytest.skip("PostgreSQL tests skipped: could not create a test database")
    url, reason = created
    if url is None:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    yield url
    _in_thread(drop_database(default_admin_url(), url))


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """The same test on a real SQLite file and on PostgreSQL (emptied before each test)."""
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
        await upgrade(database)
    else:
        database = Database(request.getfixturevalue("pg_url"))
        await truncate_all(database)
    yield database
    await database.dispose()
