"""End to end over real HTTP: residents' requests from Telegram and Viber, posted into the
operators' Telegram group, answered there and relayed back through the outbox and the delivery
loop; the heating application's deadline, a stranger in the group, the unanswered reminder."""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.channels.senders import TelegramSender, ViberSender
from bot.channels.telegram import TelegramChannel
from domain.config import Config, parse_config
from handlers.engine import Engine
from scheduler.delivery import DeliveryLoop
from scheduler.request_reminders import remind_unanswered, report_undelivered
from storage.database import Database
from storage.models import OutboxMessage, RequestEvent, ServiceRequest
from tests.conftest import TEST_CONFIG
from tests.fakes.telegram_api import BOT_ID, BOT_USERNAME, TOKEN, FakeTelegramAPI, SentMessage, fake_telegram
from tests.fakes.viber_api import TOKEN as VIBER_TOKEN
from tests.fakes.viber_api import fake_viber
from tests.seed import seed
from tests.test_delivery import settings
from tests.test_telegram_e2e import Telegram, running, text_of
from tests.test_viber_e2e import USER, start_viber

CHAT = 5_100_001
GROUP = -1_001_234_567
OPERATOR = 777_001
STRANGER = 777_999


def requests_config(api: FakeTelegramAPI) -> Config:
    data: dict[str, Any] = copy.deepcopy(TEST_CONFIG)
    data["providers"][0]["requests"] = [{"id": "heating", "deadline": "10-16", "min_seasons": 1}]
    data["telegram"] = {
        "token": TOKEN,
        "api_base_url": api.base_url,
        "polling_timeout": 1,
        "operators_chat_id": GROUP,
        "operators": [OPERATOR],
    }
    return parse_config(data, environ={})


@dataclass
class Desk(Telegram):
    """The Telegram bot with the operators' group, and helpers that act as an operator."""

    def group_message(self, user: int, text: str, replying_to: SentMessage | None) -> int:
        message = self.api.message(GROUP, user_id=user, text=text)
        message["chat"] = {"id": GROUP, "type": "supergroup", "title": "Operators"}
        if replying_to is not None:
            message["reply_to_message"] = {
                "message_id": replying_to.message_id,
                "date": int(time.time()),
                "chat": message["chat"],
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Utilibot", "username": BOT_USERNAME},
                "text": replying_to.text,
            }
        return self.api.push_update({"message": message})

    async def operator_says(self, user: int, text: str, replying_to: SentMessage | None) -> list[SentMessage]:
        return await self.exchange(GROUP, lambda: self.group_message(user, text, replying_to))


async def wait_for(api_sent: Any, count: int, timeout: float = 10.0) -> list[Any]:
    """Wait until ``api_sent()`` lists at least ``count`` messages."""
    deadline = time.monotonic() + timeout
    while len(api_sent()) < count:
        assert time.monotonic() < deadline, f"expected {count} messages, got {api_sent()}"
        await asyncio.sleep(0.05)
    return list(api_sent())


@asynccontextmanager
async def delivering(db: Database, senders: list[Any], now: datetime) -> AsyncIterator[None]:
    loop = DeliveryLoop(db, senders, settings(), lambda: now)
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        await asyncio.wait_for(loop.delivering.wait(), 5)
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def desk(db: Database, now: datetime) -> AsyncIterator[Desk]:
    accounts = await seed(db)
    async with fake_telegram() as api:
        config = requests_config(api)
        channel = TelegramChannel(config, Engine(config, db, clock=lambda: now), db)
        async with running(channel), delivering(db, [TelegramSender(TOKEN, api.base_url, 30)], now):
            yield Desk(api, channel, db, accounts)


async def file_leak(desk: Desk) -> list[SentMessage]:
    await desk.bind(CHAT, "teplo", "1001001", "1234,50")
    await desk.press(CHAT, "req:new")
    asked = await desk.press(CHAT, "req:k:leak")
    assert asked[0].text is not None and asked[0].text.startswith(
        "If water is flowing, call the 24-hour hotline of City Heating now: +380 44 000 00 00."
    )
    assert "Describe your request" in text_of(asked[1:])
    photos = await desk.say(CHAT, "Water is dripping from the bathroom ceiling")
    assert "Skip" in str(photos[0].buttons)
    added = await desk.exchange(CHAT, lambda: desk.api.push_photo(CHAT))
    assert text_of(added).startswith("1 photo added.")
    (summary,) = await desk.press(CHAT, "req:done")
    assert "Kind: Problem: leak" in (summary.text or "") and "1 photo" in (summary.text or "")
    submit = next(data for data in summary.callback_data if data.startswith("req:submit:"))
    return await desk.press(CHAT, submit)


async def test_a_telegram_problem_with_a_photo_is_answered_from_the_group_and_closed(desk: Desk):
    (registered,) = await file_leak(desk)
    assert registered.text == "Request #1 registered, we answer within 2 working hours."

    (post,) = await wait_for(lambda: desk.api.sent_to(GROUP), 1)
    assert post.text is not None
    lines = post.text.splitlines()
    assert lines[0] == "Звернення #1 — Проблема: протікання"  # the operators read the bot's language
    assert "Особовий рахунок: 1001001" in lines and "Власник: Ш******о Т. Г." in lines
    assert "Water is dripping from the bathroom ceiling" in lines and "Додано 1 фото" in lines

    (sent,) = await desk.operator_says(OPERATOR, "A plumber is on the way, 30 minutes.", post)
    assert sent.text == "Відповідь надіслано мешканцю (звернення #1)."
    (answer,) = await wait_for(
        lambda: desk.api.sent_to(CHAT)[-1:] if "Answer" in (desk.api.sent_to(CHAT)[-1].text or "") else [], 1
    )
    assert (answer.text or "").startswith("Answer to your request #1:\nA plumber is on the way, 30 minutes.")

    (shown,) = await desk.press(CHAT, "req:show:1")
    assert "Request #1 — Problem: leak: answered" in (shown.text or "")
    assert "Operator: A plumber is on the way" in (shown.text or "")
    (closed,) = await desk.press(CHAT, "req:solved:1")
    assert (closed.text or "").startswith("Request #1 is closed.")
    refused = await desk.press(CHAT, "req:w:1")
    assert text_of(refused).startswith("Request #1 is closed. Reopen it to write to it.")

    async with desk.db.unit_of_work() as uow:
        request = await uow.session.get(ServiceRequest, 1)
        moves = [
            (e.old_status, e.new_status) for e in (await uow.session.execute(select(RequestEvent))).scalars()
        ]
        messages = await uow.requests.messages(1)
    assert request is not None and request.status == "closed" and request.first_answer_at is not None
    assert moves == [("", "new"), ("new", "answered"), ("answered", "closed")]
    assert [(m.direction, len(m.media)) for m in messages] == [("in", 1), ("out", 0)]
    assert messages[0].media == ["AgACphoto800"]  # the largest size's file id


async def test_a_stranger_in_the_group_is_not_relayed(desk: Desk, caplog: pytest.LogCaptureFixture):
    await file_leak(desk)
    (post,) = await wait_for(lambda: desk.api.sent_to(GROUP), 1)
    with caplog.at_level(logging.INFO):
        answered = await desk.operator_says(STRANGER, "I am not an operator", post)
    assert answered == []
    assert "is not an operator; ignored" in caplog.text
    hint = await desk.operator_says(OPERATOR, "Which one?", None)
    assert hint == []  # operators talking among themselves: no noise
    (hint,) = await desk.operator_says(OPERATOR, "/take", None)
    assert (
        "reply to the bot's message about their request" in (hint.text or "").replace("’", "'") or hint.text
    )
    async with desk.db.unit_of_work() as uow:
        messages = await uow.requests.messages(1)
    assert [m.direction for m in messages] == ["in"]


async def test_the_heating_application_is_refused_after_the_deadline(desk: Desk):
    await desk.bind(CHAT, "teplo", "1001001", "1234,50")
    await desk.press(CHAT, "req:new")
    (refused,) = await desk.press(CHAT, "req:k:heating")
    assert "from April 16, 2026 to October 16, 2026" in (refused.text or "")
    assert "they open again on April 16, 2027" in (refused.text or "")
    assert (await desk.chat_row(CHAT)).state == ""
    async with desk.db.unit_of_work() as uow:
        assert await uow.requests.list_of_chat((await desk.chat_row(CHAT)).id) == []


async def test_an_unanswered_request_is_reminded_once_per_working_day(desk: Desk, now: datetime):
    await file_leak(desk)
    await wait_for(lambda: desk.api.sent_to(GROUP), 1)
    config = desk.channel._config
    assert await remind_unanswered(config, desk.db, lambda: now + timedelta(hours=1)) == 0  # not due yet
    later = now + timedelta(hours=3)
    assert await remind_unanswered(config, desk.db, lambda: later) == 1
    assert await remind_unanswered(config, desk.db, lambda: later + timedelta(hours=1)) == 0  # today: done
    async with desk.db.unit_of_work() as uow:
        query = select(OutboxMessage.payload).where(OutboxMessage.not_before == later)
        (reminder,) = (await uow.session.execute(query)).scalars()
    assert reminder["text"] == (
        "Звернення #1 — Проблема: протікання\nБез відповіді вже 3 год.; відповідь обіцяли протягом 2 годин."
    )
    saturday = now + timedelta(days=4)
    assert await remind_unanswered(config, desk.db, lambda: saturday) == 0
    assert await remind_unanswered(config, desk.db, lambda: saturday + timedelta(days=2)) == 1  # Monday


async def test_a_viber_question_is_answered_from_the_telegram_group(db: Database, now: datetime):
    await seed(db)
    async with fake_telegram() as tg_api, fake_viber(clock=lambda: now) as vb_api:
        vb = await start_viber(vb_api, db, requests_config(tg_api), now)
        config = vb.config
        group = TelegramChannel(config, Engine(config, db, clock=lambda: now), db)
        senders = [
            TelegramSender(TOKEN, tg_api.base_url, 30),
            ViberSender(VIBER_TOKEN, vb_api.base_url, config.viber.name),
        ]
        try:
            async with running(group), delivering(db, senders, now):
                await vb.bind(USER, "voda", "2002001", "Шевченко")
                await vb.press(USER, "req:new")
                await vb.press(USER, "req:k:charges")
                await vb.say(USER, "Why was I charged twice for October?")
                sticker = await vb.exchange(
                    USER, vb_api.event_message(USER, {"type": "sticker", "sticker_id": 40100})
                )
                assert sticker[0].text == "Only photos can be attached (not stickers, files or videos)."
                picture = {"type": "picture", "media": "https://dl-media.viber.com/receipt.jpg", "text": ""}
                added = await vb.exchange(USER, vb_api.event_message(USER, picture))
                assert added[0].text.startswith("1 photo added.")
                await vb.press(USER, "req:done")
                summary = vb.api.sent_to(USER)[-1]
                submit = next(b for b in summary.action_bodies if "req:submit:" in b).split("act:", 1)[1]
                (registered,) = await vb.press(USER, submit)
                assert registered.text.startswith("Request #1 registered, we answer within 24 working hours.")
                (post,) = await wait_for(lambda: tg_api.sent_to(GROUP), 1)
                desk = Desk(tg_api, group, db, {})
                (sent,) = await desk.operator_says(
                    OPERATOR, "It was a correction; see the next receipt.", post
                )
                assert sent.text == "Відповідь надіслано мешканцю (звернення #1)."
                answers = await wait_for(
                    lambda: [
                        m for m in vb_api.sent_to(USER) if m.text.startswith("Answer to your request #1")
                    ],
                    1,
                )
                assert "It was a correction; see the next receipt." in answers[0].text
                assert "Додано 1 фото" in (post.text or "")
        finally:
            await vb.shutdown()
    async with db.unit_of_work() as uow:
        rows = list((await uow.session.execute(select(OutboxMessage.status))).scalars())
    assert rows == ["sent", "sent"]


async def test_an_answer_to_a_resident_who_blocked_the_bot_is_marked_and_told(desk: Desk, now: datetime):
    await file_leak(desk)
    (post,) = await wait_for(lambda: desk.api.sent_to(GROUP), 1)
    desk.api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user", chat_id=CHAT)
    (sent,) = await desk.operator_says(OPERATOR, "A plumber is on the way.", post)
    assert sent.text == "Відповідь надіслано мешканцю (звернення #1)."  # queued: not refused yet

    async def failed() -> bool:
        async with desk.db.unit_of_work() as uow:
            query = select(OutboxMessage.status).where(OutboxMessage.dedup_key.is_not(None))
            return list((await uow.session.execute(query)).scalars()) == ["failed"]

    deadline = time.monotonic() + 10
    while not await failed():
        assert time.monotonic() < deadline, "the answer's delivery did not fail"
        await asyncio.sleep(0.05)
    config = desk.channel._config
    assert await report_undelivered(config, desk.db, lambda: now) == 1
    assert await report_undelivered(config, desk.db, lambda: now) == 0  # told once
    (_, _, told) = await wait_for(lambda: desk.api.sent_to(GROUP), 3)  # the post, "sent", this
    assert (told.text or "") == (
        "Звернення #1 — Проблема: протікання\n"
        "Відповідь не дійшла до мешканця: він заблокував бота або покинув месенджер."
    )
    async with desk.db.unit_of_work() as uow:
        (_, answer) = await uow.requests.messages(1)
    assert not answer.delivered
    (again,) = await desk.operator_says(OPERATOR, "Are you there?", post)  # the chat is now inactive
    assert (again.text or "").startswith("Не доставлено")
