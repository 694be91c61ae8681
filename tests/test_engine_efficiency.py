"""What an update costs the database: no duplicate queries, no no-op writes, images drawn after commit."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

import handlers.payments
from domain.config import Config
from domain.qr_image import decode_png, qr_png
from handlers.engine import Engine
from storage.database import Database
from tests.seed import seed
from tests.test_readings_flow import OPEN, Resident


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """Every SQL statement (and COMMIT, as "COMMIT") the database runs inside the block."""
    seen: list[str] = []

    def executed(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        seen.append(statement)

    def committed(conn: Any) -> None:
        seen.append("COMMIT")

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", executed)
    event.listen(engine, "commit", committed)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", executed)
        event.remove(engine, "commit", committed)


async def bound(db: Database, config: Config) -> Resident:
    await seed(db)
    resident = Resident(Engine(config, db, clock=lambda: OPEN))
    await resident.bind("teplo", "1001001", "1234.50")
    return resident


async def test_menu_presses_on_an_idle_chat_write_nothing_to_the_chat_row(any_db, config):
    resident = await bound(any_db, config)
    await resident.say(action="menu")
    for action in ("bal", "menu", "pay", "chg"):
        with statements(any_db) as seen:
            await resident.say(action=action)
        assert not [s for s in seen if s.lstrip().upper().startswith("UPDATE CHATS")], (action, seen)


@pytest.mark.parametrize("action", ["bal", "pay"])
async def test_balance_and_pay_read_the_bound_accounts_once(any_db, config, action: str):
    resident = await bound(any_db, config)
    with statements(any_db) as seen:
        out = await resident.say(action=action)
    assert "To pay" in out
    assert len([s for s in seen if "JOIN bindings" in s]) == 1, seen


async def test_the_last_reading_looks_up_each_previous_value_once(any_db, config):
    resident = await bound(any_db, config)
    assert "Meter 1 of 3" in await resident.say(action="rd")
    await resident.say("4 600,5")
    await resident.say("1234.5")
    with statements(any_db) as seen:
        out = await resident.say("130.456")
    assert "Please check your readings" in out
    # meter 3 for the check, then the summary's three meters: meter 3 is not looked up again
    assert len([s for s in seen if "readings.period <" in s]) == 3, seen


async def test_the_payment_qr_is_drawn_after_the_commit_with_the_database_free(
    db, config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    resident = await bound(db, config)
    drawn_when: list[int] = []

    def drawing(payload: str, error: str = "M", scale: int = 8, **options: Any) -> bytes:
        drawn_when.append(len(seen))
        # Another writer gets SQLite's write lock at once: the transaction is over.
        other = sqlite3.connect(tmp_path / "test.db", timeout=0)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.rollback()
        finally:
            other.close()
        return qr_png(payload, error, scale, **options)

    monkeypatch.setattr(handlers.payments, "qr_png", drawing)
    with statements(db) as seen:
        await resident.say(action="pay")
    assert drawn_when and all(at >= seen.index("COMMIT") + 1 for at in drawn_when), (drawn_when, seen)
    assert decode_png(resident.last[0].image)[0].startswith("https://bank.gov.ua/qr/")


async def test_a_failed_drawing_leaves_the_text_and_the_bot_alive(
    db, config, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    resident = await bound(db, config)

    def broken(payload: str, error: str = "M", scale: int = 8, **options: Any) -> bytes:
        raise RuntimeError("no ink")

    monkeypatch.setattr(handlers.payments, "qr_png", broken)
    with caplog.at_level(logging.ERROR, logger="handlers.engine"):
        out = await resident.say(action="pay")
    assert "To pay" in out and "IBAN" in out
    assert all(reply.image is None for reply in resident.last)
    assert "drawing an image" in caplog.text
    monkeypatch.undo()
    assert "Main menu" in await resident.say(action="menu")


def test_the_same_payload_is_drawn_once() -> None:
    first = qr_png("https://bank.gov.ua/qr/cached-once")
    assert qr_png("https://bank.gov.ua/qr/cached-once") is first
    assert qr_png("https://bank.gov.ua/qr/cached-once", error="q") is not first
    assert decode_png(first) == ["https://bank.gov.ua/qr/cached-once"]


def test_aiogram_answers_are_parsed_with_pinned_models() -> None:
    import gc

    from aiogram.methods.base import Response

    from bot.channels.telegram_client import CALLED_METHODS, RESPONSE_MODELS

    gc.collect()
    for method in CALLED_METHODS:
        assert Response[method.__returning__] is RESPONSE_MODELS[method.__returning__]  # type: ignore[name-defined]
