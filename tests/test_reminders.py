"""Scheduled reminders on a seeded database (SQLite and PostgreSQL): who gets which reminder, once
only (re-runs, two processes at once), quiet hours, opt-outs, inactive chats, far time zones, and
the APScheduler jobs built from the config. Time is passed in, never mocked."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy import event, insert, select

from bot.notices_cli import list_notices, run_notice
from domain.config import Config, parse_config
from domain.windows import span_for_period
from scheduler.notices import add_reminder_jobs, job_specs, next_run, notice_problems, previous_fire
from scheduler.reminders import (
    WINDOW_CLOSES,
    WINDOW_OPENS,
    ReminderError,
    ReminderSettings,
    RunResult,
    daily_checks,
    release_time,
    run_named,
    window_text,
)
from storage.database import Database
from storage.migrate import upgrade
from storage.models import Account, Binding, Chat, Meter, NoticeRun, OutboxMessage, Reading
from tests.conftest import TEST_CONFIG
from tests.seed import seed

KYIV = ZoneInfo("Europe/Kyiv")
LOCALES = ("uk", "ru", "zh", "en", "de")  # de: not offered, gets the default locale's texts
SETTINGS = ReminderSettings(channels=("telegram", "viber"))
NOTICES = [
    {"id": "fraud-warning", "cron": "0 10 1 10-12,1-4 *", "text_key": "fraud_warning"},
    {
        "id": "heating-deadline",
        "cron": "0 11 1 10 *",
        "text_key": "heating_application_deadline",
        "text": {"en": "{provider}: apply by 15 October."},
    },
]


def kyiv(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=KYIV).astimezone(UTC)


def with_providers(**changes: Any) -> Config:
    """The test config with every provider changed as given (e.g. notices, timezone)."""
    data = dict(TEST_CONFIG)
    data["providers"] = [{**provider, **changes} for provider in TEST_CONFIG["providers"]]
    return parse_config(data, environ={})


@pytest.fixture
def cfg() -> Config:
    return with_providers(notices=NOTICES)


async def add_chat(
    db: Database,
    key: str,
    accounts: list[int],
    locale: str = "en",
    channel: str = "telegram",
    active: bool = True,
    notifications: dict[str, bool] | None = None,
) -> int:
    async with db.unit_of_work() as uow:
        chat = Chat(
            channel=channel,
            chat_key=key,
            user_key=key,
            locale=locale,
            state="",
            state_data={},
            notifications=notifications or {},
            active=active,
        )
        uow.session.add(chat)
        await uow.session.flush()
        for account_id in accounts:
            uow.session.add(Binding(chat_id=chat.id, account_id=account_id))
        await uow.commit()
        return chat.id


async def add_account(db: Database, provider: str, number: str, balance: str, automatic: bool = False) -> int:
    """An account with one meter (automatic or not), due 15 Dec 2026."""
    async with db.unit_of_work() as uow:
        account = Account(
            provider_id=provider,
            number=number,
            address="вул. Садова, 1",
            holder="Іваненко Іван",
            balance=Decimal(balance),
            due_date=date(2026, 12, 15),
        )
        uow.session.add(account)
        await uow.session.flush()
        uow.session.add(
            Meter(account_id=account.id, serial=f"M{number}", kind="heat", unit="Gcal", automatic=automatic)
        )
        await uow.commit()
        return account.id


async def submit_reading(db: Database, account_id: int, period: str, when: datetime) -> None:
    async with db.unit_of_work() as uow:
        meters = await uow.readings.meters_of(account_id)
        for meter in meters:
            await uow.session.execute(
                insert(Reading).values(
                    meter_id=meter.id,
                    period=period,
                    value=Decimal("130"),
                    submitted_at=when,
                    channel="telegram",
                    receipt="TEST-0001",
                )
            )
        await uow.commit()


async def outbox(db: Database) -> dict[str, OutboxMessage]:
    """Reminder rows by dedup key, with chat keys instead of ids in the key."""
    async with db.unit_of_work() as uow:
        keys = {chat.id: chat.chat_key for chat in (await uow.session.execute(select(Chat))).scalars()}
        rows = list((await uow.session.execute(select(OutboxMessage))).scalars())
    result: dict[str, OutboxMessage] = {}
    for row in rows:
        assert row.dedup_key is not None
        parts = row.dedup_key.split(":")  # rem:{provider}:{kind}:{period}:{chat}[:{account}]
        parts[4] = keys[int(parts[4])]
        short = ":".join(parts[2:])
        assert short not in result
        result[short] = row
    return result


async def runs(db: Database) -> dict[tuple[str, str], NoticeRun]:
    async with db.unit_of_work() as uow:
        rows = (await uow.session.execute(select(NoticeRun))).scalars()
        return {(row.notice, row.period): row for row in rows}


class Residents:
    """The seeded accounts plus a few, and chats that cover every rule."""

    def __init__(self, accounts: dict[str, int]) -> None:
        self.accounts = accounts

    @property
    def shevchenko(self) -> int:  # teplo, owes 1520.40, three manual meters and an automatic one
        return self.accounts["1001001"]

    @property
    def koval(self) -> int:  # teplo, in credit (-150.00), one manual meter
        return self.accounts["1001002"]


@pytest.fixture
async def residents(any_db: Database) -> Residents:
    accounts = await seed(any_db)
    accounts["1001003"] = await add_account(any_db, "teplo", "1001003", "500.00", automatic=True)
    accounts["1001004"] = await add_account(any_db, "teplo", "1001004", "50.00")  # owes exactly the minimum
    r = Residents(accounts)
    await add_chat(any_db, "en", [r.shevchenko], "en")
    await add_chat(any_db, "uk", [r.koval], "uk")
    await add_chat(any_db, "two", [r.shevchenko, r.koval], "ru")  # two accounts of teplo
    await add_chat(any_db, "auto", [accounts["1001003"]], "zh")  # only an automatic meter
    await add_chat(any_db, "min", [accounts["1001004"]], "en")
    await add_chat(any_db, "voda", [accounts["2002001"]], "zh")
    await add_chat(any_db, "viber", [r.shevchenko], "uk", channel="viber")
    await add_chat(any_db, "console", [r.shevchenko], "en", channel="console")
    await add_chat(any_db, "blocked", [r.shevchenko], "en", active=False)
    await add_chat(any_db, "no-window", [r.shevchenko], "en", notifications={"window": False})
    off = dict.fromkeys(("window", "payment", "notices"), False)
    await add_chat(any_db, "all-off", [r.shevchenko], "en", notifications=off)
    await add_chat(any_db, "nobody", [], "en")
    return r


# --- the audiences ------------------------------------------------------------------------------


def keys(rows: dict[str, OutboxMessage], prefix: str) -> set[str]:
    return {key for key in rows if key.startswith(prefix)}


async def test_window_opens_on_the_first_day_to_accounts_without_readings(any_db, cfg, residents):
    r = residents
    await submit_reading(any_db, r.accounts["1001004"], "2026-11", kyiv(date(2026, 11, 20), 8))
    await submit_reading(any_db, r.koval, "2026-10", kyiv(date(2026, 10, 21)))  # last month's: still due
    assert await daily_checks(any_db, cfg, "teplo", kyiv(date(2026, 11, 19)), SETTINGS) == [
        RunResult("teplo:payment-due", "2026-11", 0)
    ]  # the window is not open yet

    results = await daily_checks(any_db, cfg, "teplo", kyiv(date(2026, 11, 20)), SETTINGS)
    assert [(x.name, x.period, x.queued) for x in results] == [
        ("teplo:window-opens", "2026-11", 5),
        ("teplo:payment-due", "2026-11", 0),
    ]
    rows = await outbox(any_db)
    # Not: the submitted account, the automatic meter, window off, all off, inactive, console, voda.
    assert set(rows) == {
        f"window-opens:2026-11:en:{r.shevchenko}",
        f"window-opens:2026-11:uk:{r.koval}",
        f"window-opens:2026-11:two:{r.shevchenko}",
        f"window-opens:2026-11:two:{r.koval}",
        f"window-opens:2026-11:viber:{r.shevchenko}",
    }
    en = rows[f"window-opens:2026-11:en:{r.shevchenko}"]
    assert en.payload["text"] == (
        "The meter reading window is open: City Heating accepts readings for November 2026 from "
        "November 20, 2026 to November 25, 2026 inclusive. Account 1001001: open the menu and tap "
        "Submit readings."
    )
    assert (en.kind, en.status, en.priority) == ("reminder", "pending", 100)
    assert en.not_before == kyiv(date(2026, 11, 20))
    uk = rows[f"window-opens:2026-11:uk:{r.koval}"].payload["text"]
    assert "1001002" in uk and "листопад 2026" in uk and "20 листопада 2026" in uk
    assert "1001002" in rows[f"window-opens:2026-11:two:{r.koval}"].payload["text"]

    # The next days (a catch-up after downtime, accounts bound later) reach only the new ones.
    await add_chat(any_db, "late", [r.koval], "en")
    results = await daily_checks(any_db, cfg, "teplo", kyiv(date(2026, 11, 22)), SETTINGS)
    assert [(x.name, x.queued) for x in results] == [("teplo:window-opens", 1), ("teplo:payment-due", 0)]
    assert f"window-opens:2026-11:late:{r.koval}" in await outbox(any_db)
    log = (await runs(any_db))[("teplo:window-opens", "2026-11")]
    assert log.queued_count == 6 and log.finished_at == kyiv(date(2026, 11, 22))


async def test_window_closes_soon_goes_to_those_who_have_not_submitted_meanwhile(any_db, cfg, residents):
    r = residents
    await daily_checks(any_db, cfg, "teplo", kyiv(date(2026, 11, 20)), SETTINGS)
    await submit_reading(any_db, r.koval, "2026-11", kyiv(date(2026, 11, 21)))
    results = await daily_checks(any_db, cfg, "teplo", kyiv(date(2026, 11, 23)), SETTINGS)
    assert [(x.name, x.queued) for x in results] == [("teplo:window-opens", 0), ("teplo:payment-due", 0)]

    results = await daily_checks(any_db, cfg, "teplo", kyiv(date(2026, 11, 24)), SETTINGS)
    assert [(x.name, x.queued) for x in results] == [("teplo:window-closes", 4), ("teplo:payment-due", 0)]
    rows = await outbox(any_db)
    assert keys(rows, "window-closes") == {
        f"window-closes:2026-11:en:{r.shevchenko}",
        f"window-closes:2026-11:two:{r.shevchenko}",
        f"window-closes:2026-11:viber:{r.shevchenko}",
        f"window-closes:2026-11:min:{r.accounts['1001004']}",
    }
    assert rows[f"window-closes:2026-11:en:{r.shevchenko}"].payload["text"] == (
        "Reminder: the reading window of City Heating closes on November 25, 2026 inclusive, and "
        "account 1001001 has no readings for November 2026 yet. Open the menu and tap Submit readings."
    )
    # The last day catches up (e.g. after a day of downtime) without repeating anything; then it is over.
    results = await daily_checks(any_db, cfg, "teplo", kyiv(date(2026, 11, 25)), SETTINGS)
    assert [(x.name, x.queued) for x in results] == [("teplo:window-closes", 0), ("teplo:payment-due", 0)]
    results = await daily_checks(any_db, cfg, "teplo", kyiv(date(2026, 11, 26)), SETTINGS)
    assert [x.name for x in results] == ["teplo:payment-due"]


@pytest.fixture
async def voda_resident(db: Database) -> int:
    """An account of voda (window -2..3) bound to chat 'w'; returns the account id."""
    account = await add_account(db, "voda", "2009999", "0.00")
    await add_chat(db, "w", [account], "en")
    return account


async def test_a_wrapping_window_and_a_short_one(db, voda_resident):
    """voda's window -2..3 wraps the month end: it opens on Nov 29 for period 2026-11 and its closing
    reminder comes on Dec 2; a two-day window has no closing reminder."""
    cfg = with_providers(notices=[])
    first = await daily_checks(db, cfg, "voda", kyiv(date(2026, 11, 29)), SETTINGS)
    closing = await daily_checks(db, cfg, "voda", kyiv(date(2026, 12, 2)), SETTINGS)
    assert (first[0].name, first[0].period, first[0].queued) == ("voda:window-opens", "2026-11", 1)
    assert (closing[0].name, closing[0].period, closing[0].queued) == ("voda:window-closes", "2026-11", 1)
    assert keys(await outbox(db), "window") == {
        f"window-opens:2026-11:w:{voda_resident}",
        f"window-closes:2026-11:w:{voda_resident}",
    }
    two_days = {**TEST_CONFIG["providers"][1], "reading_window": {"from_day": 1, "to_day": 2}}
    short = parse_config({**TEST_CONFIG, "providers": [two_days]}, environ={})
    for day in (1, 2):
        results = await daily_checks(db, short, "voda", kyiv(date(2027, 1, day)), SETTINGS)
        assert [x.name for x in results] == ["voda:window-opens", "voda:payment-due"]


async def test_payment_due_n_days_before_only_to_those_owing_more_than_the_minimum(any_db, cfg, residents):
    r = residents
    results = await daily_checks(any_db, cfg, "teplo", kyiv(date(2026, 12, 11)), SETTINGS)
    assert [(x.name, x.period, x.queued) for x in results] == [("teplo:payment-due", "2026-12", 0)]
    results = await daily_checks(any_db, cfg, "teplo", kyiv(date(2026, 12, 12)), SETTINGS)
    assert [(x.name, x.period, x.queued) for x in results] == [("teplo:payment-due", "2026-12", 5)]
    results = await daily_checks(any_db, cfg, "voda", kyiv(date(2026, 12, 12)), SETTINGS)
    assert [(x.name, x.queued) for x in results] == [("voda:payment-due", 1)]
    rows = await outbox(any_db)
    # Not: in credit (koval), exactly the minimum (1001004), payment off, inactive, console.
    assert keys(rows, "payment-due") == {
        f"payment-due:2026-12:en:{r.shevchenko}",
        f"payment-due:2026-12:two:{r.shevchenko}",
        f"payment-due:2026-12:viber:{r.shevchenko}",
        f"payment-due:2026-12:no-window:{r.shevchenko}",
        f"payment-due:2026-12:auto:{r.accounts['1001003']}",
        f"payment-due:2026-12:voda:{r.accounts['2002001']}",
    }
    assert rows[f"payment-due:2026-12:en:{r.shevchenko}"].payload["text"] == (
        "Payment reminder: account 1001001 (City Heating) has UAH\xa01,520.40 to pay by December 15, 2026. "
        "Open the menu and tap Pay. If you have paid already, please ignore this message."
    )
    uk = rows[f"payment-due:2026-12:viber:{r.shevchenko}"].payload["text"]
    assert "1\xa0520,40\xa0₴" in uk and "15 грудня 2026" in uk
    # Later days catch up without repeating; after the due date nothing is due any more.
    for day in (13, 14, 15, 16):
        results = await daily_checks(any_db, cfg, "teplo", kyiv(date(2026, 12, day)), SETTINGS)
        assert sum(x.queued for x in results) == 0
    bigger = ReminderSettings(channels=SETTINGS.channels, min_debt=Decimal("1000"))
    await run_named(any_db, cfg, "voda:payment-due", "2026-12", kyiv(date(2026, 12, 14)), bigger)
    assert len(keys(await outbox(any_db), "payment-due")) == 6  # 312.75 < 1000: nobody new


async def test_provider_notices_reach_every_bound_chat_once(any_db, cfg, residents):
    now = kyiv(date(2026, 10, 1))
    result = await run_named(any_db, cfg, "teplo:fraud-warning", "2026-10", now, SETTINGS)
    assert result == RunResult("teplo:fraud-warning", "2026-10", 7)
    rows = await outbox(any_db)
    assert {key.rsplit(":", 1)[1] for key in rows} == {"en", "uk", "two", "auto", "min", "viber", "no-window"}
    en = rows["fraud-warning:2026-10:en"].payload["text"]
    assert en.startswith("Beware of fraud. City Heating never authorises anyone") and en.endswith(
        "Hotline: +380 44 000 00 00"
    )
    assert "Теплокомуненерго" in rows["fraud-warning:2026-10:uk"].payload["text"]
    assert "供热公司" in rows["fraud-warning:2026-10:auto"].payload["text"]
    # A config text overrides the catalog in its language; others fall back to the catalog text.
    await run_named(any_db, cfg, "teplo:heating-deadline", "2026-10", now, SETTINGS)
    rows = await outbox(any_db)
    assert rows["heating-deadline:2026-10:en"].payload["text"] == "City Heating: apply by 15 October."
    uk = rows["heating-deadline:2026-10:uk"].payload["text"]  # the catalog text (translated by the lead)
    assert uk.startswith("Теплокомуненерго: ") and uk.endswith("Гаряча лінія: +380 44 000 00 00")
    # Again: nobody twice. Another month is another notice.
    assert (await run_named(any_db, cfg, "teplo:fraud-warning", "2026-10", now, SETTINGS)).queued == 0
    assert (await run_named(any_db, cfg, "teplo:fraud-warning", "2026-11", now, SETTINGS)).queued == 7
    log = await runs(any_db)
    assert log[("teplo:fraud-warning", "2026-10")].queued_count == 7


async def test_batches_cover_everyone(any_db, cfg, residents):
    tiny = ReminderSettings(channels=SETTINGS.channels, batch_size=2)
    await run_named(any_db, cfg, "teplo:fraud-warning", "2026-10", kyiv(date(2026, 10, 1)), tiny)
    await run_named(any_db, cfg, "teplo:window-opens", "2026-11", kyiv(date(2026, 11, 20)), tiny)
    rows = await outbox(any_db)
    assert len(keys(rows, "fraud-warning")) == 7 and len(keys(rows, "window-opens")) == 6


async def test_window_texts_are_each_locales_own_rendering(any_db, cfg, residents):
    """The window texts are rendered once per locale and the database puts in the account number:
    the same texts as rendered per resident; a locale the bot does not offer gets the default's."""
    r = residents
    for locale in ("zh", "de"):
        await add_chat(any_db, f"l-{locale}", [r.koval], locale)
    provider = cfg.provider("teplo")
    span = span_for_period(provider.reading_window, "2026-11", provider.tz)
    await run_named(any_db, cfg, "teplo:window-opens", "2026-11", kyiv(date(2026, 11, 20)), SETTINGS)
    await run_named(any_db, cfg, "teplo:window-closes", "2026-11", kyiv(date(2026, 11, 24)), SETTINGS)
    async with any_db.unit_of_work() as uow:
        locales = {chat.id: chat.locale for chat in (await uow.session.execute(select(Chat))).scalars()}
        numbers = {
            account.id: account.number for account in (await uow.session.execute(select(Account))).scalars()
        }
        rows = (await uow.session.execute(select(OutboxMessage))).scalars().all()
    rendered = set()
    for row in rows:
        assert row.dedup_key is not None
        _, _, kind, _, chat, account = row.dedup_key.split(":")
        locale = locales[int(chat)] if locales[int(chat)] in cfg.bot.locales else cfg.bot.default_locale
        assert row.payload["text"] == window_text(provider, kind, span, locale, numbers[int(account)])
        rendered.add((kind, locales[int(chat)]))
    assert rendered == {(kind, locale) for kind in (WINDOW_OPENS, WINDOW_CLOSES) for locale in LOCALES}


async def test_batch_queries_walk_the_keyset_without_planner_statistics(db, cfg):
    """SQLite without sqlite_stat1 (as the bot leaves it) would plan the batches' channel and provider
    tests on the (channel, chat_key) and (provider_id, number) indexes, so that every batch walks the
    whole audience again: each batch must be a range on chats.id or bindings (chat_id, …) instead."""
    account = await add_account(db, "teplo", "1001001", "1520.40")
    for n in range(3):
        await add_chat(db, f"c{n}", [account], "en")
    statements: dict[str, Any] = {}

    def record(_conn, _cursor, statement, parameters, _context, executemany):
        if "chats" in statement and not executemany and statement.lstrip().startswith(("SELECT", "INSERT")):
            statements[statement] = parameters

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    tiny = ReminderSettings(channels=SETTINGS.channels, batch_size=2)
    for name, period, day in (
        ("teplo:fraud-warning", "2026-11", date(2026, 11, 2)),
        ("teplo:window-opens", "2026-11", date(2026, 11, 20)),
        ("teplo:payment-due", "2026-12", date(2026, 12, 12)),
    ):
        assert (await run_named(db, cfg, name, period, kyiv(day), tiny)).queued == 3
    event.remove(db.engine.sync_engine, "before_cursor_execute", record)
    async with db.engine.connect() as connection:
        stat = "SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'"
        assert not (await connection.exec_driver_sql(stat)).all()
        plans = {
            statement: [
                row[3]
                for row in await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            ]
            for statement, parameters in statements.items()
        }
    assert len(plans) == 5  # notice and window: find the batch's end, insert it; payment: select the batch
    for statement, plan in plans.items():
        assert not any("(channel=" in step or "(provider_id=" in step for step in plan), (statement, plan)
        walks = [
            step for step in plan if step.startswith("SEARCH") and ("rowid>" in step or "chat_id>" in step)
        ]
        assert walks, (statement, plan)


# --- once only ----------------------------------------------------------------------------------


async def test_two_processes_at_once_queue_each_chat_once(any_db, cfg, residents):
    other = Database(any_db.url)
    try:
        tiny = ReminderSettings(channels=SETTINGS.channels, batch_size=2)
        now = kyiv(date(2026, 11, 20))
        first, second = await asyncio.gather(
            daily_checks(any_db, cfg, "teplo", now, tiny), daily_checks(other, cfg, "teplo", now, tiny)
        )
        notices = await asyncio.gather(
            run_named(any_db, cfg, "teplo:fraud-warning", "2026-11", now, tiny),
            run_named(other, cfg, "teplo:fraud-warning", "2026-11", now, tiny),
        )
    finally:
        await other.dispose()
    assert first[0].queued + second[0].queued == 6
    assert notices[0].queued + notices[1].queued == 7
    rows = await outbox(any_db)  # raises on a duplicate key
    assert len(keys(rows, "window-opens")) == 6 and len(keys(rows, "fraud-warning")) == 7
    log = await runs(any_db)
    assert log[("teplo:window-opens", "2026-11")].queued_count == 6
    assert log[("teplo:fraud-warning", "2026-11")].queued_count == 7


async def test_named_runs_check_what_they_are_asked(any_db, cfg, residents):
    now = kyiv(date(2026, 11, 26))
    with pytest.raises(ReminderError, match="unknown reminder 'teplo:nope'"):
        await run_named(any_db, cfg, "teplo:nope", "2026-11", now, SETTINGS)
    with pytest.raises(ReminderError, match="no provider 'gas'"):
        await run_named(any_db, cfg, "gas:window-opens", "2026-11", now, SETTINGS)
    with pytest.raises(ReminderError, match="YYYY-MM"):
        await run_named(any_db, cfg, "teplo:window-opens", "2026-13", now, SETTINGS)
    closed = await run_named(any_db, cfg, "teplo:window-closes", "2026-11", now, SETTINGS)
    assert closed.queued == 0 and "closed on 2026-11-25" in closed.skipped
    ahead = await run_named(any_db, cfg, "teplo:window-opens", "2026-12", now, SETTINGS)
    assert ahead.queued == 6  # an operator may announce the next window early
    assert (await run_named(any_db, cfg, "teplo:payment-due", "2026-12", now, SETTINGS)).queued == 5
    assert (await run_named(any_db, cfg, "teplo:payment-due", "2026-10", now, SETTINGS)).skipped


# --- quiet hours and time zones -----------------------------------------------------------------


async def test_quiet_hours_hold_reminders_until_morning_in_the_providers_zone(any_db, cfg, residents):
    r = residents
    evening = kyiv(date(2026, 11, 20), 22, 30)
    await daily_checks(any_db, cfg, "teplo", evening, SETTINGS)
    row = (await outbox(any_db))[f"window-opens:2026-11:en:{r.shevchenko}"]
    assert row.not_before == kyiv(date(2026, 11, 21), 9)
    early = kyiv(date(2026, 11, 21), 6, 15)
    await run_named(any_db, cfg, "teplo:fraud-warning", "2026-11", early, SETTINGS)
    assert (await outbox(any_db))["fraud-warning:2026-11:en"].not_before == kyiv(date(2026, 11, 21), 9)
    # On the last evening the closing reminder would arrive after the window closed: not queued.
    last_evening = kyiv(date(2026, 11, 25), 21, 5)
    results = await daily_checks(any_db, cfg, "teplo", last_evening, SETTINGS)
    assert results[0].name == "teplo:window-closes" and results[0].queued == 0 and results[0].skipped
    # The due date's night: it would arrive the day after: not queued; the evening before quiet is fine.
    results = await daily_checks(any_db, cfg, "teplo", kyiv(date(2026, 12, 15), 23), SETTINGS)
    assert results == [RunResult("teplo:payment-due", "2026-12", 0)]
    results = await daily_checks(any_db, cfg, "teplo", kyiv(date(2026, 12, 15), 20, 59), SETTINGS)
    assert results == [RunResult("teplo:payment-due", "2026-12", 5)]


def test_release_time_at_the_edges():
    quiet = SETTINGS.quiet_hours
    assert quiet is not None
    for local, expected in [
        (datetime(2026, 3, 28, 20, 59), datetime(2026, 3, 28, 20, 59)),
        (datetime(2026, 3, 28, 21, 0), datetime(2026, 3, 29, 9, 0)),  # DST starts that night
        (datetime(2026, 3, 29, 8, 59), datetime(2026, 3, 29, 9, 0)),
        (datetime(2026, 3, 29, 9, 0), datetime(2026, 3, 29, 9, 0)),
    ]:
        now = local.replace(tzinfo=KYIV).astimezone(UTC)
        assert release_time(now, KYIV, quiet) == expected.replace(tzinfo=KYIV).astimezone(UTC)
    assert release_time(kyiv(date(2026, 1, 1), 3), KYIV, None) == kyiv(date(2026, 1, 1), 3)


async def test_time_zones_far_from_utc(db):
    """Yakutsk (UTC+9) and Kiritimati (UTC+14): the provider's calendar and clock decide."""
    data = dict(TEST_CONFIG)
    base = TEST_CONFIG["providers"][0]
    data["providers"] = [
        {**base, "id": "yakutsk", "timezone": "Asia/Yakutsk"},
        {**base, "id": "kiritimati", "timezone": "Pacific/Kiritimati"},
        {**base, "id": "kyiv", "timezone": "Europe/Kyiv"},
    ]
    cfg = parse_config(data, environ={})
    chats = {}
    for provider in ("yakutsk", "kiritimati", "kyiv"):
        account = await add_account(db, provider, "555", "100.00")
        chats[provider] = (await add_chat(db, provider, [account], "en"), account)
    # 19 Nov 20:00 UTC: Kiritimati's 20 Nov 10:00, Yakutsk's 20 Nov 05:00, Kyiv's 19 Nov 22:00.
    now = datetime(2026, 11, 19, 20, 0, tzinfo=UTC)
    for provider in ("yakutsk", "kiritimati", "kyiv"):
        await daily_checks(db, cfg, provider, now, SETTINGS)
    rows = await outbox(db)
    assert set(rows) == {
        f"window-opens:2026-11:kiritimati:{chats['kiritimati'][1]}",
        f"window-opens:2026-11:yakutsk:{chats['yakutsk'][1]}",
    }
    assert rows[f"window-opens:2026-11:kiritimati:{chats['kiritimati'][1]}"].not_before == now
    # 05:00 in Yakutsk is quiet: out at 09:00 Yakutsk = 00:00 UTC.
    yakutsk = rows[f"window-opens:2026-11:yakutsk:{chats['yakutsk'][1]}"]
    assert yakutsk.not_before == datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    assert "November 20, 2026" in yakutsk.payload["text"]
    # The daily jobs fire at 10:00 on each provider's clock.
    specs = {spec.provider_id: spec for spec in job_specs(cfg, SETTINGS)}
    start = datetime(2026, 11, 19, 0, 0, tzinfo=UTC)
    fire = {p: specs[p].trigger.get_next_fire_time(None, start).astimezone(UTC) for p in specs}
    assert fire == {
        "kiritimati": datetime(2026, 11, 19, 20, 0, tzinfo=UTC),
        "yakutsk": datetime(2026, 11, 19, 1, 0, tzinfo=UTC),
        "kyiv": datetime(2026, 11, 19, 8, 0, tzinfo=UTC),
    }


# --- the jobs -------------------------------------------------------------------------------------


def test_jobs_from_config_with_grace_and_start_up_catch_up(cfg, db):
    morning = kyiv(date(2026, 10, 1), 9, 30)  # before the reminder hour; notices fired this month? no
    scheduler = AsyncIOScheduler(timezone=UTC)
    ids = add_reminder_jobs(scheduler, cfg, db, lambda: morning, SETTINGS)
    assert ids == [
        "reminders:teplo",
        "notice:teplo:fraud-warning",
        "notice:teplo:heating-deadline",
        "reminders:voda",
        "notice:voda:fraud-warning",
        "notice:voda:heating-deadline",
    ]
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert all(job.coalesce and job.misfire_grace_time >= 12 * 3600 for job in jobs.values())
    assert str(jobs["reminders:teplo"].trigger.timezone) == "Europe/Kyiv"

    # Started at 13:00 on 2 October: the daily checks run at once (today's 10:00 may have been
    # missed), and the notices of 1 October (within 3 days) catch up for 2026-10.
    afternoon = kyiv(date(2026, 10, 2), 13)
    scheduler = AsyncIOScheduler(timezone=UTC)
    ids = add_reminder_jobs(scheduler, cfg, db, lambda: afternoon, SETTINGS)
    assert "notice:teplo:fraud-warning:catch-up" in ids and "notice:voda:heating-deadline:catch-up" in ids
    catch_up = next(job for job in scheduler.get_jobs() if job.id == "notice:teplo:fraud-warning:catch-up")
    assert catch_up.kwargs == {"period": "2026-10", "catch_up": True}
    spec = next(s for s in job_specs(cfg, SETTINGS) if s.id == "notice:teplo:fraud-warning")
    assert previous_fire(spec.trigger, afternoon, timedelta(days=3)) == datetime(2026, 10, 1, 10, tzinfo=KYIV)
    assert previous_fire(spec.trigger, kyiv(date(2026, 10, 5)), timedelta(days=3)) is None


def test_next_runs_for_the_operator(cfg):
    now = kyiv(date(2026, 11, 21), 12)
    specs = {spec.id: spec for spec in job_specs(cfg, SETTINGS)}
    daily = specs["reminders:teplo"]
    assert next_run(daily, "teplo:window-opens", cfg, now) == datetime(2026, 11, 22, 10, tzinfo=KYIV)
    assert next_run(daily, "teplo:window-closes", cfg, now) == datetime(2026, 11, 24, 10, tzinfo=KYIV)
    assert next_run(daily, "teplo:payment-due", cfg, now) == datetime(2026, 11, 22, 10, tzinfo=KYIV)
    later = kyiv(date(2026, 11, 25), 12)
    assert next_run(daily, "teplo:window-opens", cfg, later) == datetime(2026, 12, 20, 10, tzinfo=KYIV)
    notice = specs["notice:teplo:fraud-warning"]
    assert next_run(notice, "teplo:fraud-warning", cfg, now) == datetime(2026, 12, 1, 10, tzinfo=KYIV)


def test_notice_config_problems_name_the_key():
    cfg = with_providers(
        notices=[
            {"id": "window-opens", "cron": "0 10 1 * *", "text_key": "fraud_warning"},
            {"id": "weekly", "cron": "0 10 * * 1", "text_key": "fraud_warning"},
            {"id": "bad", "cron": "61 10 1 * *", "text_key": "nope"},
            {"id": "empty", "cron": "0 10 1 * *"},
            {"id": "empty", "cron": "0 10 1 * *", "text": {"de": "Hallo"}},
        ]
    )
    problems = "\n".join(notice_problems(cfg))
    assert "providers[0].notices[0].id: must match" in problems
    assert "providers[0].notices[1].cron: fires more than once a month" in problems
    assert "providers[0].notices[2].cron: not a valid crontab" in problems
    assert "providers[0].notices[2].text_key: unknown key 'nope'" in problems
    assert "providers[0].notices[3]: needs a text_key or a text" in problems
    assert "providers[0].notices[4].id: duplicate notice id 'empty'" in problems
    assert "providers[0].notices[4].text: unknown locale(s) ['de']" in problems
    assert notice_problems(with_providers(notices=NOTICES)) == []


# --- the operators' commands --------------------------------------------------------------------


async def test_notices_list_and_run_from_the_command_line(tmp_path):
    data = {**TEST_CONFIG, "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}}
    data["telegram"] = {"token": "123:abc"}
    data["providers"] = [{**TEST_CONFIG["providers"][0], "notices": NOTICES[:1]}]
    cfg = parse_config(data, environ={})
    db = Database(cfg.database.url)
    try:
        await upgrade(db)
        accounts = await seed(db)
        await add_chat(db, "cli", [accounts["1001001"]], "en")
    finally:
        await db.dispose()

    out = io.StringIO()
    night = kyiv(date(2026, 11, 1), 23)
    assert await run_notice(cfg, "teplo:fraud-warning", "2026-11", night, out) == 0
    assert await run_notice(cfg, "teplo:fraud-warning", "2026-11", night, out) == 0
    assert out.getvalue().splitlines() == [
        "teplo:fraud-warning 2026-11: queued 1 message(s); `utilibot run` delivers them",
        "quiet hours: they go out from 2026-11-02 09:00 EET",
        "teplo:fraud-warning 2026-11: queued 0 message(s); `utilibot run` delivers them",
    ]
    out = io.StringIO()
    assert await list_notices(cfg, kyiv(date(2026, 11, 21), 12), out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["NAME", "SCHEDULE", "NEXT", "RUN", "LAST", "RUN", "PERIOD", "QUEUED"]
    assert lines[1].split()[:5] == ["teplo:window-opens", "daily", "10:00", "Europe/Kyiv", "2026-11-22"]
    fraud = lines[4].split()
    assert fraud[0] == "teplo:fraud-warning" and fraud[-5:] == ["2026-11-01", "23:00", "EET", "2026-11", "1"]


async def test_a_started_scheduler_runs_the_daily_check_at_once_after_a_restart(db):
    """APScheduler runs on the real clock: a window open all month and a reminder hour of 00:00 make
    the start-up catch-up due whatever today is."""
    cfg = with_providers(reading_window={"from_day": 1, "to_day": -1}, notices=[])
    account = await add_account(db, "teplo", "3000001", "0.00")
    await add_chat(db, "restart", [account], "en")
    scheduler = AsyncIOScheduler(timezone=UTC)
    ids = add_reminder_jobs(
        scheduler,
        cfg,
        db,
        lambda: datetime.now(UTC),
        ReminderSettings(hour=0, quiet_hours=None, channels=("telegram",)),
    )
    done: set[str] = set()
    scheduler.add_listener(lambda event: done.add(event.job_id), EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    scheduler.start()
    try:
        for _ in range(100):  # until both daily checks are over: the database goes away after the test
            if done >= set(ids):
                break
            await asyncio.sleep(0.03)
    finally:
        scheduler.shutdown(wait=False)
    (key,) = await outbox(db)
    assert key.startswith(("window-opens:", "window-closes:")) and key.endswith(f":restart:{account}")


async def test_an_account_without_a_due_date_is_due_on_the_providers_payment_due_day(any_db, residents):
    """Billing data without due_date: the provider's payment_due_day (here the 20th) stands in."""
    r = residents
    config = with_providers(payment_due_day=20)
    async with any_db.unit_of_work() as uow:
        account = await uow.session.get(Account, r.shevchenko)
        account.due_date = None
        await uow.commit()
    results = await daily_checks(any_db, config, "teplo", kyiv(date(2026, 12, 16)), SETTINGS)
    assert sum(x.queued for x in results) == 0  # more than 3 days before the 20th
    results = await daily_checks(any_db, config, "teplo", kyiv(date(2026, 12, 17)), SETTINGS)
    rows = await outbox(any_db)
    assert f"payment-due:2026-12:en:{r.shevchenko}" in keys(rows, "payment-due")
    assert "to pay by December 20, 2026" in rows[f"payment-due:2026-12:en:{r.shevchenko}"].payload["text"]
