"""The operator's side of broadcasts: /broadcast and /broadcasts through the engine, end to end over
the fake Bot API with the delivery loop running; non-operators see nothing of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from sqlalchemy import insert, select

from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_sender import TelegramSender
from domain.config import Config
from handlers import operator
from handlers.engine import Engine
from handlers.types import Incoming, Reply
from scheduler.delivery import DeliveryLoop
from storage.database import Database
from storage.migrate import upgrade
from storage.models import Binding, Broadcast, Chat
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI, SentMessage, fake_telegram
from tests.seed import seed
from tests.test_delivery import MovingClock, daytime, settings, wait_finished
from tests.test_telegram_e2e import running, telegram_config

OPERATOR = 424_242
STRANGER = 515_151
RESIDENT = 8_000_000


def with_operator_router(engine: Engine) -> Engine:
    """Until the engine includes handlers/operator.py itself."""
    if "/broadcast" not in engine.router.commands:
        engine.router.include(operator.router)
    return engine


async def add_residents(db: Database, accounts: dict[str, int]) -> None:
    """Chats 8000000.. : three bound to 1001001 (teplo, owes 1520.40), one to 1001002 (teplo, owes
    nothing), two to 2002001 (voda, owes 312.75), two unbound; languages uk/en/zh."""
    layout = [
        ("1001001", "uk"),
        ("1001001", "en"),
        ("1001001", "zh"),
        ("1001002", "uk"),
        ("2002001", "uk"),
        ("2002001", "en"),
        (None, "uk"),
        (None, "ru"),
    ]
    async with db.unit_of_work() as uow:
        for index, (number, locale) in enumerate(layout):
            key = str(RESIDENT + index)
            values = {"channel": "telegram", "chat_key": key, "user_key": key, "locale": locale}
            values |= {"state": "", "state_data": {}, "notifications": {}, "active": True}
            await uow.session.execute(insert(Chat).values(**values))
            chat_id = (await uow.session.execute(select(Chat.id).where(Chat.chat_key == key))).scalar_one()
            if number is not None:
                uow.session.add(Binding(chat_id=chat_id, account_id=accounts[number]))
        await uow.commit()


@dataclass
class Bot:
    api: FakeTelegramAPI
    channel: TelegramChannel
    db: Database

    async def say(self, chat: int, text: str) -> list[SentMessage]:
        before = len(self.api.sent_to(chat))
        update_id = self.api.push_message(chat, text, "en")
        await self.api.wait_confirmed(update_id)
        await self.channel.drain()
        return self.api.sent_to(chat)[before:]

    async def press(self, chat: int, data: str) -> SentMessage:
        before = len(self.api.sent_to(chat))
        update_id = self.api.push_callback(chat, data, "en")
        await self.api.wait_confirmed(update_id)
        await self.channel.drain()
        (reply,) = self.api.sent_to(chat)[before:]
        return reply


@pytest.fixture
async def bot(db: Database, config: Config) -> AsyncIterator[Bot]:
    accounts = await seed(db)
    await add_residents(db, accounts)
    clock = daytime()
    async with fake_telegram() as api:
        settings_ = telegram_config(config, api, operators=[OPERATOR])
        engine = with_operator_router(Engine(settings_, db, clock=clock))
        channel = TelegramChannel(settings_, engine, db)
        delivery = DeliveryLoop(db, [TelegramSender(TOKEN, api.base_url, 30)], settings(), clock)
        stop = asyncio.Event()
        task = asyncio.create_task(delivery.run(stop))
        try:
            async with running(channel):
                yield Bot(api, channel, db)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)


async def test_operator_broadcast_end_to_end(bot: Bot):
    (ask,) = await bot.say(OPERATOR, "/broadcast")
    assert "text of the broadcast" in ask.text and "cancel" in ask.callback_data

    (audience,) = await bot.say(OPERATOR, "uk: Завтра без гарячої води.\nen: No hot water tomorrow.")
    assert {"op:all", "op:prov", "op:addr", "op:debt", "op:lang"} <= set(audience.callback_data)

    providers = await bot.press(OPERATOR, "op:prov")
    assert {"op:p:teplo", "op:p:voda"} <= set(providers.callback_data)
    preview = await bot.press(OPERATOR, "op:p:teplo")
    assert "Recipients: 4" in preview.text and "company: City Heating" in preview.text
    assert "No hot water tomorrow." in preview.text and "op:ok" in preview.callback_data

    await bot.press(OPERATOR, "op:aud")
    ask_debt = await bot.press(OPERATOR, "op:debt")
    assert "op:d" in ask_debt.callback_data
    (preview,) = await bot.say(OPERATOR, "1 000")
    assert "Recipients: 3" in preview.text and "owe more than 1,000" in preview.text

    await bot.press(OPERATOR, "op:aud")
    await bot.press(OPERATOR, "op:addr")
    (nobody,) = await bot.say(OPERATOR, "САДОВА")
    assert "Recipients: 0" in nobody.text and "op:ok" not in nobody.callback_data

    everyone = await bot.press(OPERATOR, "op:all")
    assert "Recipients: 9" in everyone.text  # eight residents and the operator's own chat
    await bot.press(OPERATOR, "op:aud")
    await bot.press(OPERATOR, "op:prov")
    await bot.press(OPERATOR, "op:p:teplo")
    kind = await bot.press(OPERATOR, "op:ok")
    assert {"op:k:e", "op:k:c"} <= set(kind.callback_data) and "21:00–09:00" in kind.text
    queued = await bot.press(OPERATOR, "op:k:c")
    assert queued.text.startswith("Broadcast #1 is queued for 4 recipients")

    done = await wait_finished(bot.db, 1)
    assert (done.status, done.sent_count, done.emergency) == ("done", 4, False)
    await bot.api.wait_for(lambda: any("finished" in (m.text or "") for m in bot.api.sent_to(OPERATOR)), 5)
    texts = {str(m.chat_id): m.text for m in bot.api.sent if str(m.chat_id).startswith("8000")}
    assert texts == {
        str(RESIDENT): "Завтра без гарячої води.",
        str(RESIDENT + 1): "No hot water tomorrow.",
        str(RESIDENT + 2): "Завтра без гарячої води.",  # no Chinese text: the default language
        str(RESIDENT + 3): "Завтра без гарячої води.",
    }
    report = bot.api.sent_to(OPERATOR)[-1]
    assert report.text == "Broadcast #1 finished.\nSent: 4 · Failed: 0 · Total: 4"

    (listing,) = await bot.say(OPERATOR, "/broadcasts")
    assert "#1 · done" in listing.text and "sent 4, failed 0, left 0 of 4" in listing.text
    assert not [data for data in listing.callback_data if data.startswith("op:stop")]


async def test_operator_cancels_a_queued_broadcast(db: Database, config: Config):
    accounts = await seed(db)
    await add_residents(db, accounts)
    settings_ = config.model_copy(
        update={"telegram": config.telegram.model_copy(update={"token": TOKEN, "operators": [OPERATOR]})}
    )
    clock = MovingClock(daytime()())
    engine = with_operator_router(Engine(settings_, db, clock=clock))

    async def say(text: str = "", action: str = "") -> Reply:
        kind = "action" if action else "text"
        incoming = Incoming("telegram", str(OPERATOR), str(OPERATOR), "en", kind, text, action)
        (reply,) = await engine.handle(incoming)
        return reply

    await say("/broadcast")
    await say("Water is back.")
    await say(action="op:debt")
    await say(action="op:d")
    await say(action="op:ok")
    queued = await say(action="op:k:e")
    assert "queued for 5 recipients" in queued.text  # debtors: three chats of 1001001, two of 2002001
    listing = await say("/broadcasts")
    assert "op:stop:1" in [b.action for row in listing.buttons for b in row]
    assert "emergency" in listing.text
    confirm = await say(action="op:stop:1")
    assert "not sent yet will be dropped" in confirm.text
    cancelled = await say(action="op:stopok:1")
    assert cancelled.text.startswith("Broadcast #1 is cancelled: 5 messages")
    again = await say(action="op:stopok:1")
    assert again.text == "Broadcast #1 is not running."
    async with db.unit_of_work() as uow:
        broadcast = (await uow.session.execute(select(Broadcast))).scalar_one()
        assert await uow.outbox.status_counts(1) == {"cancelled": 5}
    assert broadcast.status == "cancelled" and broadcast.cancelled_count == 5


async def test_texts_that_cannot_be_sent_are_explained(db: Database, config: Config):
    settings_ = config.model_copy(
        update={"telegram": config.telegram.model_copy(update={"token": TOKEN, "operators": [OPERATOR]})}
    )
    engine = with_operator_router(Engine(settings_, db, clock=daytime()))

    async def say(text: str) -> str:
        (reply,) = await engine.handle(Incoming("telegram", str(OPERATOR), str(OPERATOR), "en", "text", text))
        return reply.text

    await say("/broadcast")
    assert "two texts for uk" in await say("uk: a\nuk: b")
    assert "before the first language code" in await say("Hello\nen: Hello")
    assert "at most 4096" in await say("x" * 5000)
    assert "Who should get it?" in await say("en: fine")


async def test_non_operators_get_the_answer_to_any_unknown_text(db: Database, config: Config):
    settings_ = config.model_copy(
        update={"telegram": config.telegram.model_copy(update={"token": TOKEN, "operators": [OPERATOR]})}
    )
    engine = with_operator_router(Engine(settings_, db, clock=daytime()))

    async def answer(text: str = "", action: str = "", user: int = STRANGER) -> list[tuple[str, list[str]]]:
        kind = "action" if action else "text"
        replies = await engine.handle(Incoming("telegram", str(user), str(user), "en", kind, text, action))
        return [(reply.text, [b.action for row in reply.buttons for b in row]) for reply in replies]

    unknown = await answer("/no-such-command")
    assert "did not understand" in unknown[0][0]
    for text in ("/broadcast", "/broadcasts", "/broadcast@utilibot_test_bot"):
        assert await answer(text) == unknown
    for action in ("op:all", "op:list", "op:stop:1", "op:stopok:1", "op:k:e"):
        assert await answer(action=action) == unknown
    assert await answer("uk: hello") == unknown  # no broadcast draft was started
    async with db.unit_of_work() as uow:
        chat = await uow.chats.get_for_update("telegram", str(STRANGER))
    assert chat is not None and chat.state == ""
    # The same words from an operator do start the flow.
    assert "text of the broadcast" in (await answer("/broadcast", user=OPERATOR))[0][0]


# --- the CLI's side (in-process; the subprocess and kill -9 are in test_broadcast_crash.py) -------


async def test_cli_counts_confirms_detaches_and_refuses_a_twin(tmp_path, config: Config, capsys):
    from bot.broadcast_cli import BroadcastOptions, broadcast, broadcast_status

    db_url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    settings_ = config.model_copy(
        update={
            "database": config.database.model_copy(update={"url": db_url}),
            "telegram": config.telegram.model_copy(update={"token": TOKEN}),
        }
    )
    db = Database(db_url)
    await upgrade(db)
    await add_residents(db, await seed(db))
    text = tmp_path / "text.txt"
    text.write_text("[uk]\nВода буде.\n[en]\nWater is back.\n", encoding="utf-8")
    options = BroadcastOptions(text_file=text, provider="voda", debtors=True)

    assert await broadcast(settings_, BroadcastOptions(text_file=text, dry_run=True)) == 0
    assert "Recipients: 8 — everyone (telegram)" in capsys.readouterr().out
    assert await broadcast(settings_, options, ask=lambda prompt: "n") == 1
    assert "Cancelled; nothing queued." in capsys.readouterr().out
    questions: list[str] = []
    detached = BroadcastOptions(text_file=text, provider="voda", debtors=True, detach=True)
    assert await broadcast(settings_, detached, ask=lambda prompt: questions.append(prompt) or "y") == 0
    out = capsys.readouterr().out
    assert questions == ["Send this broadcast to 2 recipients? [y/N] "]
    assert "Recipients: 2 — provider voda, owing more than 0 (telegram)" in out
    assert "Broadcast #1 queued for 2 recipients." in out and "broadcast-status 1 --follow" in out
    assert (
        await broadcast(settings_, BroadcastOptions(text_file=text, provider="voda", debtors=True, yes=True))
        == 1
    )
    assert "The same broadcast is already running: #1" in capsys.readouterr().out

    assert await broadcast_status(settings_, None) == 0
    assert "queued" in capsys.readouterr().out
    assert await broadcast_status(settings_, 1, cancel=True) == 0
    assert "Broadcast #1 cancelled: 2 message(s) will not be sent." in capsys.readouterr().out
    assert await broadcast_status(settings_, 1) == 0
    details = capsys.readouterr().out
    assert "Broadcast #1: cancelled" in details and "[en] Water is back." in details
    await db.dispose()
