"""Residents' requests through the engine on SQLite and PostgreSQL: bad input refused with nothing
half-stored, the contact change, follow-ups, Solved and Reopen, the operators' group's hints and
a relay to a resident who blocked the bot; the formula-safe export and the retention purge."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.requests_cli import export_requests, safe_cell
from domain.config import Config, ConfigError, parse_config
from domain.requests import normalize_contact, request_number
from handlers.engine import Engine
from handlers.types import Incoming, Reply
from scheduler.housekeeping import purge_old_requests
from scheduler.request_reminders import report_undelivered
from storage.database import Database
from storage.models import OutboxMessage, RequestMessage, ServiceRequest
from tests.conftest import TEST_CONFIG
from tests.seed import seed

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
GROUP = "-100777"
OPERATOR = "4242"


def requests_config() -> Config:
    data: dict[str, Any] = {
        **TEST_CONFIG,
        "telegram": {"operators_chat_id": int(GROUP), "operators": [int(OPERATOR)]},
    }
    return parse_config(data, environ={})


class Clock:
    now = NOW

    def __call__(self) -> datetime:
        return self.now


class Chat:
    """A resident (or the operators' group) talking to the engine."""

    def __init__(self, engine: Engine, chat: str, user: str | None = None) -> None:
        self.engine, self.chat, self.user = engine, chat, user or chat
        self.last: list[Reply] = []

    async def send(self, **fields: Any) -> str:
        self.last = await self.engine.handle(Incoming("telegram", self.chat, self.user, "en", **fields))
        return "\n".join(reply.text for reply in self.last)

    async def say(self, text: str) -> str:
        return await self.send(kind="text", text=text)

    async def press(self, action: str) -> str:
        return await self.send(kind="action", action=action)

    def actions(self) -> list[str]:
        return [button.action for reply in self.last for row in reply.buttons for button in row]


@pytest.fixture
async def setup(any_db: Database) -> tuple[Database, Engine, Clock]:
    await seed(any_db)
    clock = Clock()
    return any_db, Engine(requests_config(), any_db, clock=clock), clock


async def bound(engine: Engine, chat: str = "r1") -> Chat:
    resident = Chat(engine, chat)
    await resident.press("acc:add")
    await resident.press("accp:teplo")
    await resident.say("1001001")
    assert "is added" in await resident.say("1234,50")
    return resident


async def counts(db: Database) -> tuple[int, int]:
    async with db.unit_of_work() as uow:
        requests = await uow.session.scalar(select(func.count()).select_from(ServiceRequest))
        messages = await uow.session.scalar(select(func.count()).select_from(RequestMessage))
    return int(requests or 0), int(messages or 0)


async def file(resident: Chat, kind: str = "charges", text: str = "Why is October so high?") -> int:
    await resident.press("req:new")
    await resident.press(f"req:k:{kind}")
    await resident.say(text)
    await resident.press("req:done")
    submit = next(action for action in resident.actions() if action.startswith("req:submit:"))
    answer = await resident.press(submit)
    number = request_number(answer)
    assert number is not None, answer
    return number


async def test_bad_input_is_refused_and_nothing_is_half_stored(setup):
    db, engine, _ = setup
    resident = await bound(engine)
    await resident.press("req:new")
    assert "What is your request about?" in resident.last[0].text
    await resident.press("req:k:problem")
    assert "The message is empty" in await resident.say("   ")
    assert "too long: 10000 characters, at most 2000" in await resident.say("x" * 10_000)
    assert "Stickers, files and voice messages cannot be attached" in await resident.send(kind="media")
    await resident.say("The radiator in the kitchen is cold")
    refused = await resident.send(kind="media")  # a document, a sticker: not a photo
    assert "Only photos can be attached" in refused and "Skip" in refused.replace("press Skip", "Skip")
    for index in range(6):
        await resident.send(kind="media", media=(f"photo{index}",))
    assert "At most 5 photos can be attached." in resident.last[0].text
    assert await counts(db) == (0, 0)  # nothing stored before Submit
    assert "5 photos" in await resident.press("req:done")
    await resident.press("cancel")
    assert await counts(db) == (0, 0)
    stale = await resident.press("req:submit:deadbeef")
    assert "already sent or cancelled" in stale and await counts(db) == (0, 0)


async def test_a_contact_change_is_validated(setup):
    db, engine, _ = setup
    resident = await bound(engine)
    await resident.press("req:new")
    assert "new phone number" in await resident.press("req:k:contact")
    assert "neither a phone number nor an e-mail" in await resident.say("call me maybe")
    summary = await resident.say("+380 (50) 123-45-67")
    assert "Text: +380501234567" in summary
    submit = next(action for action in resident.actions() if action.startswith("req:submit:"))
    assert "registered, we answer within 24 working hours" in await resident.press(submit)
    async with db.unit_of_work() as uow:
        (request,) = (await uow.session.execute(select(ServiceRequest))).scalars()
        (post,) = (await uow.session.execute(select(OutboxMessage.payload))).scalars()
    assert request.contact == "+380501234567" and request.kind == "contact"
    assert "Телефон: +380501234567" in post["text"]


def test_contacts_and_request_numbers():
    assert normalize_contact(" Olena.K+bills@example.com ") == "Olena.K+bills@example.com"
    assert normalize_contact("050 123 45 67") == "0501234567"
    assert normalize_contact("12345") is None and normalize_contact("a@b") is None
    assert request_number("Звернення #12 — Проблема: протікання\nText #99") == 12
    assert request_number("Hello\n#12") is None and request_number("") is None


async def test_follow_ups_solved_and_reopen_within_seven_days(setup):
    db, engine, clock = setup
    resident = await bound(engine)
    number = await file(resident)
    await resident.press(f"req:w:{number}")
    assert "Added to request" in await resident.say("Also September looks wrong")
    await resident.press(f"req:solved:{number}")
    assert f"Request #{number} is closed. Reopen it to write to it." in await resident.press(
        f"req:w:{number}"
    )
    clock.now = NOW + timedelta(days=6)
    assert "open again" in await resident.press(f"req:reopen:{number}")
    await resident.press(f"req:solved:{number}")
    clock.now = NOW + timedelta(days=14)
    assert "cannot be reopened" in await resident.press(f"req:reopen:{number}")
    listing = await resident.press("req:list")
    assert f"#{number} Question about charges" in listing and ": closed" in listing
    async with db.unit_of_work() as uow:
        texts = [m.text for m in await uow.requests.messages(number)]
        group = [p["text"] for p in (await uow.session.execute(select(OutboxMessage.payload))).scalars()]
    assert texts == ["Why is October so high?", "Also September looks wrong"]
    assert [text.splitlines()[1] for text in group[1:]] == [
        "Мешканець пише:",
        "Мешканець позначив його вирішеним; закрито.",
        "Мешканець відкрив його знову.",
        "Мешканець позначив його вирішеним; закрито.",
    ]


async def test_the_operators_group(setup):
    db, engine, _ = setup
    resident = await bound(engine)
    number = await file(resident)
    async with db.unit_of_work() as uow:
        post = (await uow.session.execute(select(OutboxMessage.payload))).scalars().first()
    assert post is not None
    operator = Chat(engine, GROUP, OPERATOR)
    hint = await operator.send(kind="text", text="thanks", reply_to="Some earlier message of the bot")
    assert hint.startswith("Щоб відповісти мешканцю, відповідайте на повідомлення бота")
    missing = await operator.send(kind="text", text="hi", reply_to="Request #999 — x")
    assert missing == "Звернення #999 не існує."
    photo = await operator.send(kind="media", media=("p",), reply_to=post["text"])
    assert photo.startswith("Мешканцям пересилається лише текст")
    taken = await operator.send(kind="text", text="/take", reply_to=post["text"], user_name="Olha")
    assert taken == f"Звернення #{number} взяв у роботу Olha."

    async with db.unit_of_work() as uow:
        await uow.chats.set_active("telegram", resident.chat, False)  # the resident blocked the bot
        await uow.commit()
    refused = await operator.send(kind="text", text="We will call you", reply_to=post["text"])
    assert refused.startswith("Не доставлено")
    async with db.unit_of_work() as uow:
        request = await uow.session.get(ServiceRequest, number)
        (_, answer) = await uow.requests.messages(number)
        queued = await uow.session.scalar(select(func.count()).select_from(OutboxMessage))
    assert request is not None and request.status == "answered" and request.taken_by == "Olha"
    assert answer.direction == "out" and not answer.delivered
    assert queued == 1  # only the post: nothing was queued for the blocked resident
    closed = await operator.send(kind="text", text="/close", reply_to=post["text"])
    assert closed == f"Звернення #{number} закрито."
    assert "закрито" in await operator.send(kind="text", text="late answer", reply_to=post["text"])


async def test_the_export_is_formula_safe_and_old_requests_are_purged(setup):
    db, engine, _ = setup
    resident = await bound(engine)
    first = await file(resident, text='=HYPERLINK("http://evil")')
    second = await file(resident, text="+1 radiator")
    await resident.press(f"req:solved:{first}")
    out = io.StringIO()
    assert await export_requests(db, out, date(2026, 11, 1), None) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [row["text"] for row in rows] == ['\'=HYPERLINK("http://evil")', "'+1 radiator"]
    assert [row["status"] for row in rows] == ["closed", "new"] and rows[0]["account"] == "1001001"
    out = io.StringIO()
    assert await export_requests(db, out, None, "new") == 1
    assert safe_cell("-2") == "'-2" and safe_cell("@x") == "'@x" and safe_cell("plain") == "plain"

    assert await purge_old_requests(db, lambda: NOW + timedelta(days=364), 365) == 0
    assert await purge_old_requests(db, lambda: NOW + timedelta(days=366), 365) == 1
    async with db.unit_of_work() as uow:
        left = list((await uow.session.execute(select(ServiceRequest.id))).scalars())
        messages = list((await uow.session.execute(select(RequestMessage.request_id))).scalars())
    assert left == [second] and messages == [second]


def test_request_kinds_in_the_config():
    data: dict[str, Any] = {**TEST_CONFIG, "providers": [dict(TEST_CONFIG["providers"][0])]}
    data["providers"][0]["requests"] = [
        {"id": "leak", "answer_hours": 1},
        {"id": "meter_check", "name": {"en": "Meter verification"}, "answer_hours": 48},
    ]
    provider = parse_config(data, environ={}).providers[0]
    assert [kind.id for kind in provider.request_kinds][-2:] == ["other", "meter_check"]
    leak = provider.request_kind("leak")
    assert (leak.answer_hours, leak.urgent) == (1, True)  # the built-in's urgency stays
    data["providers"][0]["requests"] = [{"id": "meter_check"}]
    with pytest.raises(ConfigError, match=r"providers\[0\]: requests\[0\].name: a new kind"):
        parse_config(data, environ={})
    data["providers"][0]["requests"] = [{"id": "heating", "deadline": "16-10"}]
    with pytest.raises(ConfigError, match=r"providers\[0\].requests\[0\].deadline"):
        parse_config(data, environ={})


async def test_an_answer_whose_delivery_failed_is_marked_and_told_once(setup):
    db, engine, _ = setup
    resident = await bound(engine)
    number = await file(resident)
    async with db.unit_of_work() as uow:
        post = (await uow.session.execute(select(OutboxMessage.payload))).scalars().first()
    assert post is not None
    operator = Chat(engine, GROUP, OPERATOR)
    assert (await operator.send(kind="text", text="Checked: correct", reply_to=post["text"])).startswith(
        "Відповідь надіслано"
    )
    config = requests_config()
    assert await report_undelivered(config, db, lambda: NOW) == 0  # not failed (yet)
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            update(OutboxMessage).where(OutboxMessage.dedup_key.is_not(None)).values(status="failed")
        )
        await uow.commit()
    assert await report_undelivered(config, db, lambda: NOW) == 1
    assert await report_undelivered(config, db, lambda: NOW) == 0
    async with db.unit_of_work() as uow:
        (_, answer) = await uow.requests.messages(number)
        told = (await uow.session.execute(select(OutboxMessage.payload).order_by(OutboxMessage.id))).scalars()
        last = list(told)[-1]["text"]
    assert not answer.delivered and last.endswith("він заблокував бота або покинув месенджер.")
