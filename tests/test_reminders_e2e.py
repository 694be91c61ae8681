"""End to end: a reminder run queues into the outbox, the delivery loop (scheduler/delivery.py) sends
it through aiogram to the fake Bot API over real HTTP — exactly the expected chats, once, even after
a re-run and a restart; a night run waits for the end of the quiet hours."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from domain.config import Config
from scheduler.reminders import ReminderSettings, daily_checks, run_named
from storage.database import Database
from storage.models import OutboxMessage
from tests.fakes.telegram_api import FakeTelegramAPI, fake_telegram
from tests.seed import seed
from tests.test_delivery import delivering
from tests.test_reminders import KYIV, add_chat, kyiv

REMINDERS = ReminderSettings(channels=("telegram",))


class Clock:
    """Wall time running from a chosen moment; ``jump`` moves it (the delivery loop reads it)."""

    def __init__(self, start: datetime) -> None:
        self.jump(start)

    def __call__(self) -> datetime:
        return self._base + timedelta(seconds=time.monotonic() - self._t0)

    def jump(self, moment: datetime) -> None:
        self._base, self._t0 = moment, time.monotonic()


async def unsettled(db: Database) -> int:
    async with db.unit_of_work() as uow:
        query = select(func.count()).where(OutboxMessage.status.in_(("pending", "sending")))
        return int((await uow.session.execute(query)).scalar_one())


async def drained(db: Database, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while await unsettled(db):
        assert time.monotonic() < deadline, "the outbox was not drained in time"
        await asyncio.sleep(0.05)


def attempts_to(api: FakeTelegramAPI, chat: int) -> list[int]:
    return [
        call.status for call in api.calls_of("sendMessage") if str(call.params.get("chat_id")) == str(chat)
    ]


def per_chat(api: FakeTelegramAPI) -> Counter[str]:
    return Counter(str(message.chat_id) for message in api.sent if message.method == "sendMessage")


async def test_a_reminder_run_reaches_exactly_the_expected_chats_once(db: Database, config: Config):
    accounts = await seed(db)
    shevchenko, koval, voda = accounts["1001001"], accounts["1001002"], accounts["2002001"]
    await add_chat(db, "8000001", [shevchenko], "en")
    await add_chat(db, "8000002", [koval], "uk")
    await add_chat(db, "8000003", [shevchenko, koval], "ru")  # two accounts: two reminders
    await add_chat(db, "8000004", [voda], "zh")  # another provider
    await add_chat(db, "8000005", [shevchenko], "en", notifications={"window": False})
    await add_chat(db, "8000006", [shevchenko], "en", active=False)
    await add_chat(db, "8000007", [], "en")
    await add_chat(db, "8000008", [koval], "en")  # has blocked the bot: Telegram answers 403

    opening_day = kyiv(date(2026, 11, 20))
    clock = Clock(opening_day)
    async with fake_telegram() as api:
        api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user", chat_id=8000008)
        results = await daily_checks(db, config, "teplo", opening_day, REMINDERS)
        assert results[0].queued == 5
        async with delivering(db, api, 30, clock, zone=KYIV, per_chat_interval=0.2):
            await drained(db)
        assert per_chat(api) == {"8000001": 1, "8000002": 1, "8000003": 2}
        assert attempts_to(api, 8000008) == [403]
        (en,) = api.sent_to(8000001)
        assert en.text is not None and en.text.startswith("The meter reading window is open: City Heating")
        both = [message.text or "" for message in api.sent_to(8000003)]  # one per account
        assert sorted(("1001001" in text, "1001002" in text) for text in both) == [
            (False, True),
            (True, False),
        ]

        # The scheduler fires again (a restart, a second process): nothing new is queued or sent.
        await daily_checks(db, config, "teplo", opening_day + timedelta(hours=3), REMINDERS)
        await daily_checks(db, config, "teplo", opening_day + timedelta(days=1), REMINDERS)
        async with delivering(db, api, 30, clock, zone=KYIV, per_chat_interval=0.2):
            await asyncio.sleep(0.3)
            await drained(db)
        assert sum(per_chat(api).values()) == 4 and attempts_to(api, 8000008) == [403]

    async with db.unit_of_work() as uow:
        blocked = await uow.chats.get_for_update("telegram", "8000008")
        statuses = Counter((await uow.session.execute(select(OutboxMessage.status))).scalars())
    assert blocked is not None and not blocked.active  # 403: no more reminders for it
    assert statuses == {"sent": 4, "failed": 1}


async def test_a_night_run_goes_out_when_the_quiet_hours_end(db: Database, config: Config):
    accounts = await seed(db)
    await add_chat(db, "8100001", [accounts["1001001"]], "en")
    night = kyiv(date(2026, 12, 12), 23, 30)
    clock = Clock(night)
    async with fake_telegram() as api:
        result = await run_named(db, config, "teplo:payment-due", "2026-12", night, REMINDERS)
        assert result.queued == 1
        async with delivering(db, api, 30, clock, zone=KYIV, per_chat_interval=0.2):
            await asyncio.sleep(0.5)
            assert per_chat(api) == {}  # 23:30 in Kyiv: held
            clock.jump(kyiv(date(2026, 12, 13), 9) + timedelta(seconds=1))
            await api.wait_for_messages(8100001, 1)
            await drained(db)
    (message,) = api.sent_to(8100001)
    assert message.text is not None
    assert "UAH\xa01,520.40" in message.text and "December 15, 2026" in message.text
