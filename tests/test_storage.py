"""Storage on SQLite and PostgreSQL: migrations match the models, inbox dedup, engine state per chat."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text

from handlers.engine import Engine
from handlers.types import Incoming
from scheduler.housekeeping import purge_old_records
from storage.migrate import current_revision, head_revision, upgrade
from storage.models import Base, Binding, Chat, VerificationAttempt
from tests.seed import seed


async def test_migrations_match_models_and_are_idempotent(any_db):
    assert await current_revision(any_db) == head_revision()
    assert await upgrade(any_db) == (head_revision(), head_revision())

    def diff(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        return compare_metadata(context, Base.metadata)

    async with any_db.engine.connect() as connection:
        assert await connection.run_sync(diff) == []


async def test_inbox_deduplicates_and_claims_once(any_db, now):
    async with any_db.unit_of_work() as uow:
        first = await uow.inbox.store("telegram", "100", "{}", now)
        again = await uow.inbox.store("telegram", "100", "{}", now)
        other_channel = await uow.inbox.store("viber", "100", "{}", now)
        await uow.commit()
    assert first is not None and again is None and other_channel is not None
    async with any_db.unit_of_work() as uow:
        assert [row.id for row in await uow.inbox.pending("telegram")] == [first]
        assert await uow.inbox.claim(first, now) is True
        assert await uow.inbox.claim(first, now) is False
        await uow.commit()
    async with any_db.unit_of_work() as uow:
        assert await uow.inbox.pending("telegram") == []
        assert await uow.inbox.purge_handled(now + timedelta(days=8)) == 1
        await uow.commit()


async def test_engine_flow_and_attempt_log(any_db, config, now):
    await seed(any_db)
    engine = Engine(config, any_db, clock=lambda: now)

    async def say(text="", action=""):
        incoming = Incoming("telegram", "42", "42", "en", "action" if action else "text", text, action)
        return "\n".join(reply.text for reply in await engine.handle(incoming))

    await say("/start")
    await say(action="acc:add")
    await say(action="accp:voda")
    await say("2002001")
    assert "could not confirm" in await say("Коваль")
    await say("2002001")
    assert "Ш******о" in await say("шевченко")
    async with any_db.unit_of_work() as uow:
        attempts = (await uow.session.execute(select(VerificationAttempt.success))).scalars().all()
        bindings = (await uow.session.execute(select(func.count()).select_from(Binding))).scalar_one()
        chat = (await uow.session.execute(select(Chat))).scalar_one()
    assert sorted(attempts) == [False, True]
    assert bindings == 1
    assert chat.locale == "en" and chat.state == "" and chat.current_account_id is not None


async def test_one_chat_is_handled_one_update_at_a_time(any_db, config, now):
    await seed(any_db)
    engine = Engine(config, any_db, clock=lambda: now)
    steps = [
        ("action", "acc:add", ""),
        ("action", "accp:teplo", ""),
        ("text", "", "1001001"),
        ("text", "", "1234.50"),
    ]
    # Fire the whole conversation at once, twice over for two chats: order per chat must hold.
    tasks = [
        engine.handle(Incoming("telegram", chat, chat, "en", kind, text, action))
        for kind, action, text in steps
        for chat in ("a", "b")
    ]
    results = await asyncio.gather(*tasks)
    assert all(results)
    async with any_db.unit_of_work() as uow:
        count = (await uow.session.execute(select(func.count()).select_from(Binding))).scalar_one()
    assert count == 2


async def test_decimals_round_trip_exactly(any_db):
    """SQLite keeps NUMERIC as a float: the column sizes guarantee at most 15 significant digits."""
    from decimal import Decimal

    from storage.models import Account, Meter

    async with any_db.unit_of_work() as uow:
        account = Account(
            provider_id="p", number="1", address="a", holder="h", balance=Decimal("999999999999.99")
        )
        uow.session.add(account)
        await uow.session.flush()
        uow.session.add(
            Meter(
                account_id=account.id,
                serial="s",
                kind="gas",
                zone="",
                unit="m3",
                last_value=Decimal("123456789.123457"),
                precision=6,
            )
        )
        await uow.commit()
    async with any_db.unit_of_work() as uow:
        account = (await uow.session.execute(select(Account))).scalar_one()
        meter = (await uow.session.execute(select(Meter))).scalar_one()
    assert account.balance == Decimal("999999999999.99")
    assert meter.last_value == Decimal("123456789.123457")


async def test_json_is_stored_as_utf8_and_a_lone_surrogate_still_stores(any_db):
    """JSON columns keep text as UTF-8 (not \\uXXXX escapes: half the size in Cyrillic); a value with
    a lone surrogate, which UTF-8 cannot carry, keeps the escapes; rows written escaped still read."""
    async with any_db.unit_of_work() as uow:
        for key, data in (("utf8", {"text": "Привіт, 世界"}), ("lone", {"text": "a\ud800b"}), ("old", {})):
            uow.session.add(Chat(channel="telegram", chat_key=key, state_data=data))
        await uow.commit()
    async with any_db.unit_of_work() as uow:
        old = '{"text": "\\u041f\\u0440\\u0438\\u0432\\u0456\\u0442"}'  # as written before
        await uow.session.execute(
            text("UPDATE chats SET state_data = :old WHERE chat_key = 'old'"), {"old": old}
        )
        await uow.commit()
    async with any_db.unit_of_work() as uow:
        stored = text("SELECT chat_key, CAST(state_data AS TEXT) FROM chats")
        raw = {key: value for key, value in await uow.session.execute(stored)}
        data = {
            chat.chat_key: chat.state_data for chat in (await uow.session.execute(select(Chat))).scalars()
        }
    assert "Привіт, 世界" in raw["utf8"] and "\\u" not in raw["utf8"]
    assert "\\ud800" in raw["lone"]
    assert data == {"utf8": {"text": "Привіт, 世界"}, "lone": {"text": "a\ud800b"}, "old": {"text": "Привіт"}}


async def test_housekeeping_gives_sqlite_planner_statistics(db, now):
    """Without sqlite_stat1 SQLite may plan a query on the wrong index; the daily housekeeping
    refreshes the statistics (PRAGMA optimize, or ANALYZE where that would skip unqueried tables)."""
    await seed(db)
    statistics = text("SELECT tbl FROM sqlite_stat1")
    async with db.engine.connect() as connection:
        has_table = text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
        assert (await connection.execute(has_table)).scalar_one() == 0
    await purge_old_records(db, lambda: now)
    async with db.engine.connect() as connection:
        analyzed = set((await connection.execute(statistics)).scalars())
    assert {"accounts", "meters"} <= analyzed
