"""The delivery engine against the fake Bot API over real HTTP: outcomes, exact rates, quiet hours,
priorities, cancellation, live progress, crash recovery, the delivery role; Viber's broadcast."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

import scheduler.delivery.recorder
from bot.channels.telegram_sender import TelegramSender
from bot.channels.viber.sender import ViberSender
from domain.broadcast import BroadcastTextError, parse_texts
from domain.quiet_hours import quiet_hours_from_config
from scheduler.delivery import DeliveryLoop, DeliverySettings, in_flight_window
from scheduler.rate_limit import RateLimiter
from scheduler.sending import DeliveryResult, Outcome
from storage.database import Database
from storage.models import Account, Binding, Broadcast, Chat, OutboxMessage
from storage.repositories.broadcasts import Audience
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI, fake_telegram
from tests.fakes.viber_api import TOKEN as VIBER_TOKEN
from tests.fakes.viber_api import fake_viber

KYIV = ZoneInfo("Europe/Kyiv")
FIRST_CHAT = 7_000_000
OPERATOR = 999_000


class MovingClock:
    """Wall time that runs like the real one from a chosen moment; ``jump`` moves it."""

    def __init__(self, start: datetime) -> None:
        self._base = start
        self._t0 = time.monotonic()

    def __call__(self) -> datetime:
        return self._base + timedelta(seconds=time.monotonic() - self._t0)

    def jump(self, moment: datetime) -> None:
        self._base = moment
        self._t0 = time.monotonic()


def daytime() -> MovingClock:
    return MovingClock(datetime(2026, 11, 24, 12, 0, tzinfo=KYIV).astimezone(UTC))


async def add_chats(
    db: Database, count: int, first: int = FIRST_CHAT, locale: str = "en", channel: str = "telegram"
) -> list[int]:
    """``count`` active chats with keys first, first + 1, ...; returns their database ids."""
    rows = [
        {
            "channel": channel,
            "chat_key": str(first + index),
            "user_key": str(first + index),
            "locale": locale,
            "state": "",
            "state_data": {},
            "notifications": {},
            "active": True,
        }
        for index in range(count)
    ]
    async with db.unit_of_work() as uow:
        await uow.session.execute(insert(Chat), rows)
        query = select(Chat.id).where(Chat.chat_key.in_([row["chat_key"] for row in rows])).order_by(Chat.id)
        ids = list((await uow.session.execute(query)).scalars())
        await uow.commit()
    return ids


async def queue_broadcast(
    db: Database,
    texts: dict[str, str],
    now: datetime,
    audience: Audience | None = None,
    emergency: bool = False,
    operator: int | None = None,
) -> tuple[int, int]:
    """Create and queue a broadcast; (its id, recipients)."""
    async with db.unit_of_work() as uow:
        broadcast = await uow.broadcasts.create(
            created_by="test",
            texts=texts,
            default_locale=next(iter(texts)),
            audience=audience or Audience(),
            emergency=emergency,
            now=now,
            progress_channel="telegram" if operator else "",
            progress_chat_key=str(operator) if operator else "",
            progress_locale="en" if operator else "",
        )
        total = await uow.broadcasts.queue(broadcast, now)
        await uow.commit()
    return broadcast.id, total


async def broadcast_row(db: Database, broadcast_id: int) -> Broadcast:
    async with db.unit_of_work() as uow:
        row = await uow.broadcasts.get(broadcast_id)
    assert row is not None
    return row


async def wait_until(predicate: Any, timeout: float = 15.0, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)


async def wait_finished(db: Database, broadcast_id: int, timeout: float = 15.0) -> Broadcast:
    async def finished() -> bool:
        return (await broadcast_row(db, broadcast_id)).status in ("done", "cancelled")

    await wait_until(finished, timeout)
    return await broadcast_row(db, broadcast_id)


def settings(**overrides: Any) -> DeliverySettings:
    fast = {
        "poll_interval": 0.05,
        "flush_interval": 0.05,
        "progress_interval": 0.2,
        "backoff_base": 0.1,
        "role_retry": 0.1,
        "shutdown_grace": 2.0,
        "startup_pause": 0.0,
        "freeze_gc": False,  # process-wide; not inside the test runner
    }
    return DeliverySettings(**{**fast, **overrides})


@asynccontextmanager
async def delivering(
    db: Database, api: FakeTelegramAPI, rate: int, clock: Any, **overrides: Any
) -> AsyncIterator[DeliveryLoop]:
    loop = DeliveryLoop(db, [TelegramSender(TOKEN, api.base_url, rate)], settings(**overrides), clock)
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        await asyncio.wait_for(loop.delivering.wait(), 5)
        yield loop
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def busiest_window(times: Sequence[float], window: float = 1.0) -> int:
    """The most calls in any closed window of ``window`` seconds."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(ordered):
        while ordered[start] < moment - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def sends_per_chat(api: FakeTelegramAPI) -> Counter[str]:
    return Counter(str(message.chat_id) for message in api.sent if message.method == "sendMessage")


# --- outcomes and the exact rate ----------------------------------------------------------------


async def test_everyone_deliverable_gets_exactly_one_message_at_the_exact_rate(any_db):
    rate, count = 20, 60
    chat_ids = await add_chats(any_db, count)
    blocked, gone, flaky, limited = FIRST_CHAT + 3, FIRST_CHAT + 7, FIRST_CHAT + 11, FIRST_CHAT + 15
    clock = daytime()
    async with fake_telegram() as api:
        api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user", chat_id=blocked)
        api.fail_next("sendMessage", 400, "Bad Request: chat not found", chat_id=gone)
        api.fail_next("sendMessage", 502, "Bad Gateway", count=2, chat_id=flaky)
        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, chat_id=limited)
        broadcast_id, total = await queue_broadcast(any_db, {"en": "Water is off on Monday"}, clock())
        assert total == count
        async with delivering(any_db, api, rate, clock):
            done = await wait_finished(any_db, broadcast_id, timeout=20)
        calls = list(api.calls)

    per_chat = sends_per_chat(api)
    deliverable = {str(FIRST_CHAT + index) for index in range(count)} - {str(blocked), str(gone)}
    assert set(per_chat) == deliverable
    assert set(per_chat.values()) == {1}
    assert (done.status, done.sent_count, done.failed_count, done.total_count) == ("done", 58, 2, 60)

    times = [call.time for call in calls]
    assert busiest_window(times) <= rate
    # 429: the whole sender paused retry_after (1 s) before the next request.
    (limited_call,) = [call for call in calls if call.status == 429]
    after = [call.time - limited_call.time for call in calls if call.time > limited_call.time]
    assert min(after) >= 0.95
    flaky_calls = [call.status for call in calls if str(call.params.get("chat_id")) == str(flaky)]
    assert flaky_calls == [502, 502, 200]

    async with any_db.unit_of_work() as uow:
        chats = {row.chat_key: row.active for row in (await uow.session.execute(select(Chat))).scalars()}
        outbox = {
            row.chat_id: (row.status, row.attempts, row.last_error)
            for row in (await uow.session.execute(select(OutboxMessage))).scalars()
        }
    assert not chats[str(blocked)] and not chats[str(gone)]
    assert sum(chats.values()) == count - 2
    by_key = dict(zip([str(FIRST_CHAT + i) for i in range(count)], chat_ids, strict=True))
    assert outbox[by_key[str(blocked)]][0] == "failed" and "blocked" in outbox[by_key[str(blocked)]][2]
    assert outbox[by_key[str(gone)]][0] == "failed"
    assert outbox[by_key[str(flaky)]][:2] == ("sent", 3)
    assert outbox[by_key[str(limited)]][:2] == ("sent", 1)  # a 429 is not the message's attempt
    assert Counter(status for status, _, _ in outbox.values()) == {"sent": 58, "failed": 2}


async def test_persistent_server_errors_give_up_after_the_cap(db):
    await add_chats(db, 2)
    clock = daytime()
    async with fake_telegram() as api:
        api.fail_next("sendMessage", 500, "Internal Server Error", count=100, chat_id=FIRST_CHAT)
        broadcast_id, _ = await queue_broadcast(db, {"en": "Hello"}, clock())
        async with delivering(db, api, 30, clock, backoff_base=0.02, max_attempts=4, per_chat_interval=0.05):
            done = await wait_finished(db, broadcast_id)
    assert (done.sent_count, done.failed_count) == (1, 1)
    assert len(api.calls_of("sendMessage")) == 4 + 1
    async with db.unit_of_work() as uow:
        row = (await uow.session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars().first()
        chat = (await uow.session.execute(select(Chat).order_by(Chat.id))).scalars().first()
    assert row is not None and chat is not None
    assert (
        row.status == "failed" and row.attempts == 4 and row.last_error.startswith("gave up after 4 attempts")
    )
    assert chat.active  # a server error says nothing about the chat


async def test_each_resident_gets_their_language(db):
    await add_chats(db, 2, FIRST_CHAT, locale="uk")
    await add_chats(db, 2, FIRST_CHAT + 10, locale="zh")
    await add_chats(db, 1, FIRST_CHAT + 20, locale="ru")
    clock = daytime()
    async with fake_telegram() as api:
        broadcast_id, _ = await queue_broadcast(db, {"uk": "Вода", "zh": "停水", "en": "Water"}, clock())
        async with delivering(db, api, 30, clock):
            await wait_finished(db, broadcast_id)
    texts = {str(message.chat_id): message.text for message in api.sent}
    assert texts == {
        str(FIRST_CHAT): "Вода",
        str(FIRST_CHAT + 1): "Вода",
        str(FIRST_CHAT + 10): "停水",
        str(FIRST_CHAT + 11): "停水",
        str(FIRST_CHAT + 20): "Вода",  # no Russian text: the broadcast's default (first) language
    }


# --- quiet hours and priorities ------------------------------------------------------------------


async def test_quiet_hours_hold_common_broadcasts_but_not_emergencies(any_db):
    await add_chats(any_db, 3, FIRST_CHAT)
    await add_chats(any_db, 3, FIRST_CHAT + 100, locale="uk")
    clock = MovingClock(datetime(2026, 11, 24, 22, 30, tzinfo=KYIV).astimezone(UTC))
    async with fake_telegram() as api:
        common, _ = await queue_broadcast(any_db, {"en": "Common news"}, clock(), Audience(locale="en"))
        emergency, _ = await queue_broadcast(
            any_db, {"uk": "Аварія!"}, clock(), Audience(locale="uk"), emergency=True
        )
        async with delivering(any_db, api, 30, clock) as loop:
            await wait_finished(any_db, emergency)
            await asyncio.sleep(0.5)
            assert [message.text for message in api.sent] == ["Аварія!"] * 3
            assert (await broadcast_row(any_db, common)).status == "queued"

            clock.jump(datetime(2026, 11, 25, 9, 0, 1, tzinfo=KYIV).astimezone(UTC))
            loop.wake()
            await wait_finished(any_db, common)
    assert [message.text for message in api.sent] == ["Аварія!"] * 3 + ["Common news"] * 3


def test_quiet_hours_wrap_midnight_and_follow_the_config(config):
    hours = quiet_hours_from_config(config)
    assert hours is not None and hours.describe() == "21:00–09:00"
    local = [
        datetime(2026, 11, 24, h, m, tzinfo=KYIV) for h, m in ((20, 59), (21, 0), (3, 0), (8, 59), (9, 0))
    ]
    assert [hours.contains(moment, KYIV) for moment in local] == [False, True, True, True, False]


async def test_emergency_goes_before_common_before_reminders(any_db):
    reminder_chats = await add_chats(any_db, 4, FIRST_CHAT)
    await add_chats(any_db, 4, FIRST_CHAT + 10, locale="ru")
    await add_chats(any_db, 4, FIRST_CHAT + 20, locale="uk")
    clock = daytime()
    now = clock()
    async with any_db.unit_of_work() as uow:
        for chat_id in reminder_chats:
            assert await uow.outbox.enqueue(
                chat_id, "Reminder", dedup_key=f"r:{chat_id}", not_before=now, now=now
            )
            assert not await uow.outbox.enqueue(
                chat_id, "Again", dedup_key=f"r:{chat_id}", not_before=now, now=now
            )
        await uow.commit()
    async with fake_telegram() as api:
        await queue_broadcast(any_db, {"ru": "Common"}, now, Audience(locale="ru"))
        await queue_broadcast(any_db, {"uk": "Emergency"}, now, Audience(locale="uk"), emergency=True)
        async with delivering(any_db, api, 10, clock):

            async def all_sent() -> bool:
                return len(api.sent) >= 12

            await wait_until(all_sent)
    texts = [message.text for message in api.sent]
    assert sorted(texts) == sorted(["Emergency"] * 4 + ["Common"] * 4 + ["Reminder"] * 4)
    # Claimed in priority order; requests run concurrently, so one that opens a new connection may
    # arrive just after the next one: allow adjacent swaps, not priority inversions. (Without
    # priorities the reminders, queued first, would come first.)
    position = {text: [index for index, sent in enumerate(texts) if sent == text] for text in set(texts)}
    mean = {text: sum(indexes) / len(indexes) for text, indexes in position.items()}
    assert mean["Emergency"] < mean["Common"] < mean["Reminder"], texts
    assert max(position["Emergency"]) < min(position["Reminder"]), texts


async def test_a_scheduled_broadcast_waits_for_its_time(db):
    await add_chats(db, 3)
    clock = daytime()
    async with db.unit_of_work() as uow:
        broadcast = await uow.broadcasts.create(
            created_by="test",
            texts={"en": "Later"},
            default_locale="en",
            audience=Audience(),
            emergency=False,
            now=clock(),
            scheduled_at=clock() + timedelta(hours=2),
        )
        await uow.broadcasts.queue(broadcast, clock())
        await uow.commit()
    async with fake_telegram() as api, delivering(db, api, 30, clock) as loop:
        await asyncio.sleep(0.4)
        assert not api.sent and (await broadcast_row(db, broadcast.id)).status == "queued"
        clock.jump(clock() + timedelta(hours=2, seconds=1))
        loop.wake()
        done = await wait_finished(db, broadcast.id)
    assert done.sent_count == 3 and len(api.sent) == 3


async def test_one_chat_gets_at_most_about_one_message_per_second(db):
    (chat_id,) = await add_chats(db, 1)
    clock = daytime()
    now = clock()
    async with db.unit_of_work() as uow:
        for index in range(3):
            await uow.outbox.enqueue(chat_id, f"Reminder {index}", not_before=now, now=now)
        await uow.commit()
    async with fake_telegram() as api, delivering(db, api, 30, clock):
        await api.wait_for(lambda: len(api.sent) >= 3, timeout=5)
    times = [call.time for call in api.calls_of("sendMessage")]
    assert [round(b - a, 1) >= 0.9 for a, b in itertools.pairwise(times)] == [True, True]


# --- cancellation and the operator's live progress ----------------------------------------------


async def test_stopping_never_cuts_a_result_write_short(db, monkeypatch: pytest.MonkeyPatch):
    """A write of results in progress when delivery stops is finished, not cancelled.

    A cancelled asyncpg statement can surface as an ordinary exception (the rollback finds the
    connection busy); taken for a failed write, it once kept the flusher looping forever, so that
    stopping hung. Here a cancelled write fails just that way, and stopping must still be prompt.
    """
    await add_chats(db, 5)
    clock = daytime()
    original = scheduler.delivery.recorder.Tally.write
    writes: list[str] = []

    async def slow_write(self: Any, uow: Any, now: datetime) -> list[int]:
        try:
            await asyncio.sleep(0.5)
        except asyncio.CancelledError:
            writes.append("cancelled")
            raise RuntimeError("cannot perform operation: another operation is in progress") from None
        writes.append("written")
        return await original(self, uow, now)

    monkeypatch.setattr(scheduler.delivery.recorder.Tally, "write", slow_write)
    async with fake_telegram() as api:
        broadcast_id, _ = await queue_broadcast(db, {"en": "Water is off"}, clock())
        async with delivering(db, api, 50, clock):
            await wait_until(lambda: _true(len(api.sent) == 5))
            await asyncio.sleep(0.2)  # a result write is under way now
    assert "cancelled" not in writes and "written" in writes
    assert (await broadcast_row(db, broadcast_id)).sent_count == 5


async def _true(value: bool) -> bool:
    return value


async def test_cancel_a_running_broadcast_with_live_progress(any_db):
    await add_chats(any_db, 40)
    clock = daytime()
    async with fake_telegram() as api:
        broadcast_id, _ = await queue_broadcast(any_db, {"en": "Slow news"}, clock(), operator=OPERATOR)
        async with delivering(any_db, api, 10, clock):
            await api.wait_for(lambda: len(api.sent_to(FIRST_CHAT + 8)) == 1, timeout=5)
            async with any_db.unit_of_work() as uow:
                cancelled = await uow.broadcasts.cancel(broadcast_id, clock())
                await uow.commit()
            assert cancelled is not None and cancelled > 0
            done = await wait_finished(any_db, broadcast_id)
            await api.wait_for(lambda: len(api.sent_to(OPERATOR)) >= 2, timeout=5)
            await asyncio.sleep(0.3)
    assert done.status == "cancelled"
    residents = sum(sends_per_chat(api).values()) - len(api.sent_to(OPERATOR))
    window = in_flight_window(10)
    assert 9 <= residents <= 9 + window
    final = await broadcast_row(any_db, broadcast_id)
    assert final.sent_count == residents
    assert final.sent_count + final.failed_count + final.cancelled_count == final.total_count == 40
    assert final.reported_at is not None
    async with any_db.unit_of_work() as uow:
        counts = await uow.outbox.status_counts(broadcast_id)
    assert counts == {"sent": residents, "cancelled": 40 - residents}

    progress, report = api.sent_to(OPERATOR)
    assert progress.text.startswith(f"Broadcast #{broadcast_id}")
    edits = [call for call in api.calls_of("editMessageText") if call.params["chat_id"] == OPERATOR]
    assert edits and all(call.params["message_id"] == progress.message_id for call in edits)
    assert "cancelled" in edits[-1].params["text"] and f"Sent: {residents}" in edits[-1].params["text"]
    assert report.text == edits[-1].params["text"]
    assert busiest_window([call.time for call in api.calls]) <= 10


# --- crash recovery and the delivery role -------------------------------------------------------


async def test_rows_left_sending_by_a_dead_loop_are_sent_on_restart(any_db):
    await add_chats(any_db, 12)
    clock = daytime()
    broadcast_id, _ = await queue_broadcast(any_db, {"en": "Resume me"}, clock())
    async with any_db.unit_of_work() as uow:  # a loop claimed five rows and died
        claimed = await uow.outbox.claim("telegram", 5, clock())
        await uow.commit()
    assert len(claimed) == 5
    async with fake_telegram() as api, delivering(any_db, api, 30, clock):
        done = await wait_finished(any_db, broadcast_id)
    assert set(sends_per_chat(api).values()) == {1} and len(sends_per_chat(api)) == 12
    assert done.sent_count == 12


async def test_only_one_process_delivers_at_a_time(any_db):
    await add_chats(any_db, 6)
    clock = daytime()
    async with fake_telegram() as api:
        async with delivering(any_db, api, 30, clock):
            second = DeliveryLoop(any_db, [TelegramSender(TOKEN, api.base_url, 30)], settings(), clock)
            stop = asyncio.Event()
            standby = asyncio.create_task(second.run(stop))
            await asyncio.sleep(0.3)
            assert not second.delivering.is_set()
            broadcast_id, _ = await queue_broadcast(any_db, {"en": "Once"}, clock())
            await wait_finished(any_db, broadcast_id)
        await asyncio.wait_for(second.delivering.wait(), 3)  # takes over when the first stops
        stop.set()
        await asyncio.wait_for(standby, 5)
    assert set(sends_per_chat(api).values()) == {1}


# --- the rate limiter on its own ----------------------------------------------------------------


async def test_rate_limiter_holds_with_jittery_network():
    """Requests reach the 'server' at a random moment between start and response (0-40 ms): no
    window of 0.25 s ever sees more than the limit."""
    limiter = RateLimiter(10, window=0.25)
    arrivals: list[float] = []
    rng = random.Random(7)

    async def request() -> None:
        await limiter.acquire()
        start = time.monotonic()
        latency = rng.uniform(0, 0.04)
        arrival_delay = rng.uniform(0, latency)
        await asyncio.sleep(arrival_delay)
        arrivals.append(time.monotonic())
        await asyncio.sleep(latency - arrival_delay)
        limiter.release()
        assert time.monotonic() - start >= latency - 0.005

    began = time.monotonic()
    await asyncio.gather(*(request() for _ in range(120)))
    elapsed = time.monotonic() - began
    assert busiest_window(arrivals, 0.25) <= 10
    assert elapsed < 120 / 40 * 1.25  # close to the allowed 40/s, not far below


async def test_rate_limiter_pause():
    limiter = RateLimiter(100)
    await limiter.acquire()
    limiter.release()
    limiter.pause(0.3)
    began = time.monotonic()
    await limiter.acquire()
    assert time.monotonic() - began >= 0.29


# --- audience -----------------------------------------------------------------------------------


async def test_audience_filters_combine_on_one_account(any_db):
    chats = await add_chats(any_db, 6, locale="uk")
    await add_chats(any_db, 1, FIRST_CHAT + 50, locale="uk", channel="viber")
    accounts = [
        ("teplo", "1", "вул. ШЕВЧЕНКА, 12", "100.00"),
        ("teplo", "2", "просп. Перемоги, 3", "0.00"),
        ("voda", "3", "вул. Шевченка, 12", "500.00"),
        ("voda", "4", "50% discount lane_1", "-10.00"),
    ]
    async with any_db.unit_of_work() as uow:
        ids = []
        for provider, number, address, balance in accounts:
            account = Account(
                provider_id=provider, number=number, address=address, holder="X", balance=Decimal(balance)
            )
            uow.session.add(account)
            await uow.session.flush()
            ids.append(account.id)
        links = [(0, 0), (1, 1), (2, 2), (3, 0), (3, 3), (4, 3)]
        for chat, account in links:
            uow.session.add(Binding(chat_id=chats[chat], account_id=ids[account]))
        english = (await uow.session.execute(select(Chat).where(Chat.id == chats[1]))).scalar_one()
        english.locale = "en"
        blocked = (await uow.session.execute(select(Chat).where(Chat.id == chats[5]))).scalar_one()
        blocked.active = False
        await uow.commit()

    async def count(**filters: Any) -> int:
        async with any_db.unit_of_work() as uow:
            return await uow.broadcasts.count_audience(Audience(**filters))

    assert await count() == 5  # active Telegram chats
    assert await count(channels=("telegram", "viber")) == 6
    assert await count(provider="teplo") == 3
    assert await count(address="шевченка") == 3
    assert await count(address="ШЕВЧЕНКА", provider="voda") == 1
    assert await count(min_debt=Decimal(0)) == 3
    assert await count(min_debt=Decimal(200)) == 1
    assert await count(provider="teplo", min_debt=Decimal(0)) == 2
    assert await count(provider="voda", address="перемоги") == 0  # chat 3 has both, on different accounts
    assert await count(locale="en") == 1
    assert await count(locale="uk", provider="teplo") == 2
    assert (
        await count(address="50%") == 2
        and await count(address="a%1") == 0
        and await count(address="e_1") == 2
    )

    clock = daytime()
    broadcast_id, total = await queue_broadcast(any_db, {"uk": "x"}, clock(), Audience(provider="teplo"))
    assert total == 3
    async with any_db.unit_of_work() as uow:  # queuing again adds nobody
        broadcast = await uow.broadcasts.get(broadcast_id)
        assert broadcast is not None
        assert await uow.broadcasts.queue(broadcast, clock()) == 3
        await uow.commit()
        rows = (await uow.session.execute(select(OutboxMessage.dedup_key))).scalars().all()
    assert sorted(rows) == sorted(f"bc:{broadcast_id}:{chats[i]}" for i in (0, 1, 3))


def test_texts_one_for_all_or_per_language():
    locales = ["uk", "ru", "zh", "en"]
    assert parse_texts("  Hello all \n", locales, "uk").texts == {"uk": "Hello all"}
    parsed = parse_texts("uk: Вода\nбуде\n\nEN: Water\nwill be\n[zh]\n停水\nNote: keep calm", locales, "uk")
    assert parsed.texts == {"uk": "Вода\nбуде", "en": "Water\nwill be", "zh": "停水\nNote: keep calm"}
    assert parsed.for_locale("ru") == "Вода\nбуде" and parsed.for_locale("zh").startswith("停水")
    assert parse_texts("en: Water", locales, "uk").default_locale == "en"
    for raw, code in (
        ("", "empty"),
        ("hi\nuk: Привіт", "leading_text"),
        ("uk: a\nuk: b", "duplicate"),
        ("uk:\nen: b", "empty_section"),
        ("x" * 4097, "too_long"),
        ("uk: " + "😀" * 2049, "too_long"),
    ):
        with pytest.raises(BroadcastTextError) as error:
            parse_texts(raw, locales, "uk")
        assert error.value.code == code


# --- Viber --------------------------------------------------------------------------------------


async def test_viber_broadcast_up_to_300_receivers_per_call(db):
    await add_chats(db, 650, FIRST_CHAT, channel="viber")
    await add_chats(db, 1, OPERATOR, channel="viber")
    clock = daytime()
    async with fake_viber() as viber:
        viber.mark_unsubscribed(str(FIRST_CHAT + 5))
        viber.mark_unsubscribed(str(FIRST_CHAT + 600))
        audience = Audience(channels=("viber",), locale="en")
        async with db.unit_of_work() as uow:
            broadcast = await uow.broadcasts.create(
                created_by="test",
                texts={"en": "Hi Viber"},
                default_locale="en",
                audience=audience,
                emergency=False,
                now=clock(),
                progress_channel="viber",
                progress_chat_key=str(OPERATOR),
                progress_locale="en",
            )
            total = await uow.broadcasts.queue(broadcast, clock())
            await uow.commit()
        sender = ViberSender(VIBER_TOKEN, viber.base_url, "Utility bot")
        loop = DeliveryLoop(db, [sender], settings(), clock)
        stop = asyncio.Event()
        task = asyncio.create_task(loop.run(stop))
        done = await wait_finished(db, broadcast.id)
        await viber.wait_for(lambda: len(viber.sent_to(str(OPERATOR))) == 2, timeout=5)
        stop.set()
        await asyncio.wait_for(task, 5)
    sizes = [len(call.body["broadcast_list"]) for call in viber.calls_of("broadcast_message")]
    assert total == 651 and sum(sizes) == 651 and max(sizes) <= 300 and len(sizes) == 3
    assert not viber.refused
    residents = Counter(message.receiver for message in viber.sent if message.text == "Hi Viber")
    assert len(residents) == 649 and set(residents.values()) == {1}  # the operator is a resident too
    assert (done.sent_count, done.failed_count) == (649, 2)
    (report,) = [message.text for message in viber.sent_to(str(OPERATOR)) if message.text != "Hi Viber"]
    assert report.startswith(f"Broadcast #{broadcast.id} finished.")  # Viber cannot edit: final report only
    async with db.unit_of_work() as uow:
        inactive = (
            (await uow.session.execute(select(Chat.chat_key).where(Chat.active.is_(False)))).scalars().all()
        )
    assert sorted(inactive) == sorted(viber.unsubscribed)


def test_viber_results_map_status_codes():
    from bot.channels.viber.sender import viber_call_results

    body = {"status": 0, "failed_list": [{"receiver": "b", "status": 6}, {"receiver": "c", "status": 11}]}
    outcomes = [r.outcome for r in viber_call_results(body, ["a", "b", "c"])]
    assert outcomes == [Outcome.SENT, Outcome.BLOCKED, Outcome.FAILED]
    limited = viber_call_results({"status": 12, "status_message": "rate"}, ["a", "b"])
    assert [r.outcome for r in limited] == [Outcome.RATE_LIMITED] * 2
    assert (
        viber_call_results({"status": 3}, ["a", "b"])
        == [DeliveryResult(Outcome.RETRY, "viber status 3: ")] * 2
    )
