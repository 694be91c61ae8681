"""One scripted resident conversation on Telegram and on Viber yields the same texts and the same
button actions: both channels hand the same Incoming to the same engine, and only render differently."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from bot.channels.telegram import TelegramChannel
from bot.channels.viber.rendering import ACTION_MARKER
from domain.config import Config
from handlers.engine import Engine
from storage.database import Database
from tests.fakes.telegram_api import SentMessage as TelegramMessage
from tests.fakes.telegram_api import fake_telegram
from tests.fakes.viber_api import SentMessage as ViberMessage
from tests.fakes.viber_api import fake_viber
from tests.seed import seed
from tests.test_telegram_e2e import Telegram, running, telegram_config
from tests.test_viber_e2e import Viber, start_viber

TELEGRAM_CHAT = 7_000_001
VIBER_USER = "parityUser0000000000A=="
LANGUAGE = "uk"  # the messenger's language: the conversation starts in Ukrainian


@dataclass
class Shown:
    """What the resident saw for one message: its text, the actions of its buttons, its links."""

    text: str
    actions: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)


Step = tuple[str, str]  # ("say", text) or ("press", action)


def script(account_id: int) -> list[Step]:
    return [
        ("say", "/start"),
        ("press", "lang"),
        ("press", "lang:en"),
        ("press", "acc:add"),
        ("press", "accp:teplo"),
        ("say", "1001-001"),
        ("say", "1"),  # a wrong fact
        ("say", "1001 001"),
        ("say", "1 234,50 грн"),
        ("press", "bal"),
        ("press", "acc:list"),
        ("press", f"acc:del:{account_id}"),
        ("press", f"acc:delok:{account_id}"),
        ("press", "acc:list"),
    ]


def from_telegram(messages: list[TelegramMessage]) -> list[Shown]:
    return [Shown(m.text or "", m.callback_data, m.urls) for m in messages]


def from_viber(messages: list[ViberMessage]) -> list[Shown]:
    """Rich-media messages carry buttons of the message before them (Viber has no inline keyboard)."""
    shown: list[Shown] = []
    for message in messages:
        if message.type != "rich_media" or not shown:
            shown.append(Shown(message.text))
        shown[-1].actions += [body.removeprefix(ACTION_MARKER) for body in message.action_bodies]
        shown[-1].urls += message.urls
    return shown


async def on_telegram(tg: Telegram, steps: list[Step]) -> list[list[Shown]]:
    transcript = []
    for kind, value in steps:
        act = tg.say if kind == "say" else tg.press
        transcript.append(from_telegram(await act(TELEGRAM_CHAT, value, LANGUAGE)))
    return transcript


async def on_viber(vb: Viber, steps: list[Step]) -> list[list[Shown]]:
    transcript = []
    for kind, value in steps:
        text = value if kind == "say" else ACTION_MARKER + value
        transcript.append(from_viber(await vb.say(VIBER_USER, text, LANGUAGE)))
    return transcript


async def test_the_same_conversation_on_telegram_and_viber(db: Database, config: Config, now: datetime):
    accounts = await seed(db)
    steps = script(accounts["1001001"])

    async with fake_telegram() as tg_api:
        settings = telegram_config(config, tg_api)
        channel = TelegramChannel(settings, Engine(settings, db, clock=lambda: now), db)
        async with running(channel):
            telegram = await on_telegram(Telegram(tg_api, channel, db, accounts), steps)

    async with fake_viber(clock=lambda: now) as viber_api:
        vb = await start_viber(viber_api, db, config, now)
        try:
            # Viber's own prelude: the welcome as the callback's answer, then the subscription.
            opened = await vb.post(viber_api.event_conversation_started(VIBER_USER, LANGUAGE))
            assert (await vb.post(viber_api.event_subscribed(VIBER_USER, LANGUAGE))).status == 200
            await asyncio.wait_for(vb.channel.drain(), 5)
            viber = await on_viber(vb, steps)
            assert viber_api.refused == []
        finally:
            await vb.shutdown()

    assert opened.json()["text"] == telegram[0][0].text  # the welcome is the engine's /start
    assert viber == telegram
    texts = [shown.text for replies in telegram for shown in replies]
    assert len(telegram) == len(steps) and all(telegram)
    assert texts[0].startswith("Вітаємо!") and texts[2].startswith("Language set: English.")
    assert any("could not confirm" in text for text in texts)
    assert any("1,520.40" in text for text in texts)  # the balance
    assert "removed" in texts[-2] and "no accounts" in texts[-1]
