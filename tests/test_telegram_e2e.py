"""End to end over real HTTP: aiogram's Bot ↔ the fake Bot API, the Telegram channel, the engine, SQLite."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.channels.telegram import MESSAGE_LIMIT, TelegramChannel
from bot.channels.text import split_text
from bot.channels.text import utf16_length as telegram_length
from domain.config import Config, TelegramConfig
from handlers.engine import Engine
from handlers.types import Button, Reply, UrlButton
from storage.database import Database
from storage.models import Chat, InboxUpdate, VerificationAttempt
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI, SentMessage, fake_telegram, free_port
from tests.seed import seed

CHAT = 5_000_001
OTHER = 5_000_002
HOLDER_MASKED = "Ш******о Т. Г."
ADDRESS = "вул. Шевченка, 12, кв. 45"
NOT_UNDERSTOOD = "did not understand"


def telegram_config(config: Config, api: FakeTelegramAPI, **settings: Any) -> Config:
    defaults: dict[str, Any] = {"token": TOKEN, "api_base_url": api.base_url, "polling_timeout": 1}
    telegram = TelegramConfig(**{**defaults, **settings})
    return config.model_copy(update={"telegram": telegram})


@asynccontextmanager
async def running(channel: TelegramChannel) -> AsyncIterator[None]:
    """start() and run() the channel as a task; stop it (and check it stopped cleanly) afterwards."""
    stop = asyncio.Event()
    await channel.start()
    task = asyncio.create_task(channel.run(stop))
    ready = asyncio.create_task(channel.ready.wait())
    await asyncio.wait({task, ready}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    assert channel.ready.is_set(), task.exception() if task.done() else "channel not ready within 5 s"
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


@dataclass
class Telegram:
    """A running bot and the fake Bot API it talks to, with helpers that act as a resident."""

    api: FakeTelegramAPI
    channel: TelegramChannel
    db: Database
    accounts: dict[str, int]

    async def settle(self, update_id: int) -> None:
        """Wait until the update was confirmed (so stored and dispatched) and fully answered."""
        await self.api.wait_confirmed(update_id)
        await self.channel.drain()

    async def exchange(self, chat: int, push: Callable[[], int]) -> list[SentMessage]:
        before = len(self.api.sent_to(chat))
        await self.settle(push())
        return self.api.sent_to(chat)[before:]

    async def say(self, chat: int, text: str, language_code: str = "en") -> list[SentMessage]:
        return await self.exchange(chat, lambda: self.api.push_message(chat, text, language_code))

    async def press(self, chat: int, data: str, language_code: str = "en") -> list[SentMessage]:
        return await self.exchange(chat, lambda: self.api.push_callback(chat, data, language_code))

    async def bind(self, chat: int, provider: str, number: str, fact: str) -> SentMessage:
        await self.press(chat, "acc:add")
        await self.press(chat, f"accp:{provider}")
        await self.say(chat, number)
        (reply,) = await self.say(chat, fact)
        return reply

    async def chat_row(self, chat: int) -> Chat:
        async with self.db.unit_of_work() as uow:
            row = await uow.chats.get_for_update("telegram", str(chat))
        assert row is not None
        return row


def text_of(messages: list[SentMessage]) -> str:
    return "\n".join(message.text or "" for message in messages)


async def inbox_rows(db: Database) -> list[InboxUpdate]:
    async with db.unit_of_work() as uow:
        return list((await uow.session.execute(select(InboxUpdate).order_by(InboxUpdate.id))).scalars())


@pytest.fixture
async def tg(db: Database, config: Config, now: datetime) -> AsyncIterator[Telegram]:
    accounts = await seed(db)
    async with fake_telegram() as api:
        settings = telegram_config(config, api)
        channel = TelegramChannel(settings, Engine(settings, db, clock=lambda: now), db)
        async with running(channel):
            yield Telegram(api, channel, db, accounts)


# --- conversations ------------------------------------------------------------------------------


async def test_start_and_language_switch(tg: Telegram):
    (welcome,) = await tg.say(CHAT, "/start")
    assert "Hello" in welcome.text
    assert {"bal", "acc:list", "acc:add", "help", "lang"} <= set(welcome.callback_data)
    assert "parse_mode" not in welcome.params  # plain text, always

    (chooser,) = await tg.press(CHAT, "lang")
    assert {"lang:uk", "lang:ru", "lang:zh", "lang:en"} <= set(chooser.callback_data)

    (ukrainian,) = await tg.press(CHAT, "lang:uk")
    assert "Українська" in ukrainian.text
    assert (await tg.chat_row(CHAT)).locale == "uk"

    (english,) = await tg.press(CHAT, "lang:en")
    assert english.text.startswith("Language set: English.")
    assert (await tg.chat_row(CHAT)).locale == "en"

    # Every button press is answered (the spinner stops) before the reply is sent.
    methods = [call.method for call in tg.api.calls if call.method in ("answerCallbackQuery", "sendMessage")]
    assert methods[1:] == ["answerCallbackQuery", "sendMessage"] * 3


async def test_add_account_with_the_receipt_fact(tg: Telegram):
    (providers,) = await tg.press(CHAT, "acc:add")
    assert {"accp:teplo", "accp:voda", "cancel"} <= set(providers.callback_data)
    (ask_number,) = await tg.press(CHAT, "accp:teplo")
    assert "account number" in ask_number.text
    (ask_fact,) = await tg.say(CHAT, "1001-001")
    assert "last payment" in ask_fact.text

    (wrong_fact,) = await tg.say(CHAT, "1")
    # Another chat tries an account number that does not exist: exactly the same answer.
    await tg.press(OTHER, "acc:add")
    await tg.press(OTHER, "accp:teplo")
    await tg.say(OTHER, "9999-999")
    (no_such_account,) = await tg.say(OTHER, "1")
    assert wrong_fact.text == no_such_account.text
    assert wrong_fact.callback_data == no_such_account.callback_data
    assert "could not confirm" in wrong_fact.text and "1001001" not in wrong_fact.text

    await tg.say(CHAT, "1001-001")
    (added,) = await tg.say(CHAT, "1 234,50 грн")
    assert "1001001" in added.text and ADDRESS in added.text and HOLDER_MASKED in added.text
    assert "Шевченко Тарас" not in added.text
    assert "bal" in added.callback_data


async def test_second_account_switch_balance_and_remove(tg: Telegram):
    heating, water = tg.accounts["1001001"], tg.accounts["2002001"]
    assert "1001001" in (await tg.bind(CHAT, "teplo", "1001001", "1234.50")).text
    second = await tg.bind(CHAT, "voda", "2002001", "шевченко")
    assert "2002001" in second.text and HOLDER_MASKED in second.text

    (listing,) = await tg.press(CHAT, "acc:list")
    assert "1001001" in listing.text and "2002001" in listing.text
    assert {f"acc:use:{heating}", f"acc:use:{water}", f"acc:del:{heating}", f"acc:del:{water}"} <= set(
        listing.callback_data
    )

    (selected,) = await tg.press(CHAT, f"acc:use:{heating}")
    assert "1001001" in selected.text
    (balance,) = await tg.press(CHAT, "bal")
    assert "1001001" in balance.text and "1,520.40" in balance.text and "2002001" not in balance.text
    assert "acc:list" in balance.callback_data  # "Switch account" with two accounts

    await tg.press(CHAT, f"acc:use:{water}")
    (balance,) = await tg.press(CHAT, "bal")
    assert "2002001" in balance.text and "312.75" in balance.text

    (confirm,) = await tg.press(CHAT, f"acc:del:{water}")
    assert f"acc:delok:{water}" in confirm.callback_data
    (removed,) = await tg.press(CHAT, f"acc:delok:{water}")
    assert "2002001" in removed.text
    (listing,) = await tg.press(CHAT, "acc:list")
    assert "1001001" in listing.text and "2002001" not in listing.text


async def test_lockout_after_three_wrong_facts(tg: Telegram):
    await tg.press(CHAT, "acc:add")
    await tg.press(CHAT, "accp:teplo")
    answers = []
    for _ in range(3):
        await tg.say(CHAT, "1001001")
        answers.append(text_of(await tg.say(CHAT, "999,99")))
    assert "Attempts left: 2" in answers[0] and "Attempts left: 1" in answers[1]
    assert "paused until" in answers[2]

    (refused,) = await tg.press(CHAT, "acc:add")
    assert "paused until" in refused.text
    assert "accp:teplo" not in refused.callback_data

    async with tg.db.unit_of_work() as uow:
        attempts = (await uow.session.execute(select(VerificationAttempt))).scalars().all()
    assert [(a.provider_id, a.account_number, a.success) for a in attempts] == [
        ("teplo", "1001001", False)
    ] * 3


async def test_garbage_keeps_the_bot_alive(tg: Telegram):
    api = tg.api
    garbage: list[Callable[[], int]] = [
        lambda: api.push_sticker(CHAT),
        lambda: api.push_photo(CHAT, caption="my meter"),
        lambda: api.push_message(CHAT, "x" * 3000 + "\n" + "y" * 2000),
        lambda: api.push_message(CHAT, "😀🎉👍"),
        lambda: api.push_message(CHAT, "/unknowncommand"),
        lambda: api.push_callback(CHAT, "zzz:1"),
    ]
    for push in garbage:
        (hint,) = await tg.exchange(CHAT, push)
        assert NOT_UNDERSTOOD in hint.text
        assert "acc:add" in hint.callback_data

    # Update shapes aiogram does not know or cannot parse: stored, marked handled, no reply.
    before = len(api.sent_to(CHAT))
    await tg.settle(api.push_update({"brand_new_update_type": {"x": 1}}))
    await tg.settle(api.push_update({"message": {"message_id": 1, "bogus": True}}))
    group_message = {**api.message(CHAT, text="hi"), "chat": {"id": CHAT, "type": "group"}}
    await tg.settle(api.push_update({"message": group_message}))
    assert len(api.sent_to(CHAT)) == before

    (welcome,) = await tg.say(CHAT, "/start")
    assert "Hello" in welcome.text
    assert {row.status for row in await inbox_rows(tg.db)} == {"done"}


async def test_duplicate_update_is_handled_once(tg: Telegram):
    update = {"update_id": 4242, "message": tg.api.message(CHAT, text="/start")}
    tg.api.push_update(update)
    tg.api.push_update(update)  # Telegram delivering it again (e.g. after a lost confirmation)
    await tg.settle(4242)
    assert len(tg.api.sent_to(CHAT)) == 1
    assert [row.update_key for row in await inbox_rows(tg.db)] == ["4242"]


async def test_command_menu_for_every_language(tg: Telegram):
    assert set(tg.api.commands) == {"uk", "ru", "zh", "en", None}
    names = ["start", "menu", "balance", "readings", "history"]
    names += ["request", "requests", "accounts", "add", "language", "settings", "help", "cancel"]
    for commands in tg.api.commands.values():
        assert [command["command"] for command in commands] == names
        assert all(command["description"] for command in commands)
    english = {c["command"]: c["description"] for c in tg.api.commands["en"]}
    assert english["balance"] == "Check the balance"
    assert tg.api.calls_of("deleteWebhook") and not tg.api.calls_of("setWebhook")


async def test_one_chat_in_order_many_chats_at_once(tg: Telegram):
    # Whole binding conversations of two chats arrive interleaved in one getUpdates batch; each
    # only succeeds if its chat's updates are handled strictly in order.
    api = tg.api
    flows = {
        CHAT: ["acc:add", "accp:teplo", "1001-001", "1234,50"],
        OTHER: ["acc:add", "accp:voda", "2002001", "Шевченко"],
    }
    last = 0
    for step in range(4):
        for chat, flow in flows.items():
            item = flow[step]
            last = api.push_callback(chat, item) if step < 2 else api.push_message(chat, item)
    await tg.settle(last)
    assert HOLDER_MASKED in api.sent_to(CHAT)[-1].text and "1001001" in api.sent_to(CHAT)[-1].text
    assert HOLDER_MASKED in api.sent_to(OTHER)[-1].text and "2002001" in api.sent_to(OTHER)[-1].text
    assert len(api.sent_to(CHAT)) == len(api.sent_to(OTHER)) == 4


# --- delivery problems --------------------------------------------------------------------------


async def test_blocked_or_missing_chat_is_marked_inactive(tg: Telegram, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    await tg.say(CHAT, "/start")
    await tg.say(OTHER, "/start")
    assert (await tg.chat_row(CHAT)).active

    tg.api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user", chat_id=CHAT)
    assert await tg.say(CHAT, "/menu") == []
    assert not (await tg.chat_row(CHAT)).active

    tg.api.fail_next("sendMessage", 400, "Bad Request: chat not found", chat_id=OTHER)
    assert await tg.say(OTHER, "/menu") == []
    assert not (await tg.chat_row(OTHER)).active

    # Writing to the bot again means they unblocked it.
    (menu,) = await tg.say(CHAT, "/menu")
    assert "Main menu" in menu.text
    assert (await tg.chat_row(CHAT)).active
    assert str(CHAT) in caplog.text and TOKEN not in caplog.text


async def test_rate_limit_is_retried_and_server_errors_do_not_stop_the_bot(tg: Telegram):
    tg.api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, chat_id=CHAT)
    (menu,) = await tg.say(CHAT, "/menu")
    assert "Main menu" in menu.text
    attempts = [call for call in tg.api.calls_of("sendMessage") if call.params["chat_id"] == CHAT]
    assert [call.status for call in attempts] == [429, 200]
    assert attempts[1].time - attempts[0].time >= 0.9

    tg.api.fail_next("sendMessage", 502, "Bad Gateway", chat_id=CHAT)
    assert await tg.say(CHAT, "/menu") == []  # logged and dropped
    assert (await tg.chat_row(CHAT)).active
    assert len(await tg.say(CHAT, "/menu")) == 1


async def test_polling_backs_off_and_recovers_from_api_errors(tg: Telegram, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    tg.api.fail_next("getUpdates", 502, "Bad Gateway")
    # The failing getUpdates comes after the one in progress; then a 1 s back-off; then this arrives.
    (menu,) = await tg.say(CHAT, "/menu")
    assert "Main menu" in menu.text
    assert any(call.status == 502 for call in tg.api.calls_of("getUpdates"))
    assert "receiving updates failed" in caplog.text
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text


async def test_stops_promptly_during_a_long_poll(db: Database, config: Config, now: datetime):
    async with fake_telegram() as api:
        settings = telegram_config(config, api, polling_timeout=50)
        channel = TelegramChannel(settings, Engine(settings, db, clock=lambda: now), db)
        await channel.start()
        stop = asyncio.Event()
        task = asyncio.create_task(channel.run(stop))
        await api.wait_for(lambda: api.calls_of("getUpdates"))  # a 50-second long poll is in progress
        started = asyncio.get_running_loop().time()
        stop.set()
        await asyncio.wait_for(task, 5)
        assert asyncio.get_running_loop().time() - started < 1.5


async def test_send_renders_natively(tg: Telegram):
    lines = [f"line {index:04d} " + "ж" * 40 for index in range(120)]  # ~6,000 characters
    buttons = [[Button("One", "one"), Button("Two", "two")], [Button("Three", "three")]]
    links = [UrlButton("Pay", "https://pay.example/?acc=1"), UrlButton("Site", "https://example.org")]
    await tg.channel.send(str(CHAT), [Reply("\n".join(lines), buttons=buttons, links=links)])
    first, second = tg.api.sent_to(CHAT)
    assert telegram_length(first.text) <= MESSAGE_LIMIT and telegram_length(second.text) <= MESSAGE_LIMIT
    assert first.text.split("\n") + second.text.split("\n") == lines  # cut between lines
    assert first.reply_markup is None
    assert second.callback_data == ["one", "two", "three"]
    assert second.buttons[-2:] == [
        [{"text": "Pay", "url": "https://pay.example/?acc=1"}],
        [{"text": "Site", "url": "https://example.org"}],
    ]

    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    await tg.channel.send(
        str(CHAT), [Reply("Pay with this QR <b>code</b>", buttons=buttons, image=png, image_name="qr.png")]
    )
    photo = tg.api.sent_to(CHAT)[2]
    assert photo.method == "sendPhoto" and photo.photo == png
    assert photo.text == "Pay with this QR <b>code</b>"  # markup-looking names go out verbatim
    assert photo.callback_data == ["one", "two", "three"] and "parse_mode" not in photo.params

    await tg.channel.send(str(CHAT), [Reply("long caption " * 100, buttons=buttons, image=png)])
    photo, text = tg.api.sent_to(CHAT)[3:]
    assert (photo.method, photo.text, photo.reply_markup) == ("sendPhoto", None, None)
    assert text.method == "sendMessage" and text.text.startswith("long caption")
    assert text.callback_data == ["one", "two", "three"]


def test_split_text_counts_utf16_and_cuts_long_lines():
    assert split_text("short", MESSAGE_LIMIT) == ["short"]
    assert split_text("  \n ", MESSAGE_LIMIT) == []
    emoji_line = "😀" * 3000  # 6,000 UTF-16 units on one line
    chunks = split_text(emoji_line, MESSAGE_LIMIT)
    assert "".join(chunks) == emoji_line and all(telegram_length(c) <= MESSAGE_LIMIT for c in chunks)
    words = ("word " * 2000).strip()
    chunks = split_text(words, MESSAGE_LIMIT)
    assert all(telegram_length(c) <= MESSAGE_LIMIT for c in chunks)
    assert all(c.endswith("word ") or c.endswith("word") for c in chunks)


# --- restarts and the webhook -------------------------------------------------------------------


async def test_updates_left_pending_by_a_crash_are_handled_at_start(
    db: Database, config: Config, now: datetime
):
    async with fake_telegram() as api:
        async with db.unit_of_work() as uow:
            for update_id, text in ((10, "/start"), (11, "/menu")):
                payload = json.dumps({"update_id": update_id, "message": api.message(CHAT, text=text)})
                await uow.inbox.store("telegram", str(update_id), payload, now)
            await uow.commit()
        settings = telegram_config(config, api)
        channel = TelegramChannel(settings, Engine(settings, db, clock=lambda: now), db)
        async with running(channel):
            welcome, menu = api.sent_to(CHAT)  # recovery runs before ready is set
            assert "Hello" in welcome.text and "Main menu" in menu.text
        assert {row.status for row in await inbox_rows(db)} == {"done"}


async def test_webhook_mode(db: Database, config: Config, now: datetime):
    port = free_port()
    secret = "s3cret-Token_1"
    async with fake_telegram() as api:
        settings = telegram_config(
            config,
            api,
            mode="webhook",
            webhook_url="https://bot.example.test/tg/hook",
            webhook_secret=secret,
            listen=f"127.0.0.1:{port}",
        )
        channel = TelegramChannel(settings, Engine(settings, db, clock=lambda: now), db)
        async with running(channel), aiohttp.ClientSession() as http:
            assert api.webhook["url"] == "https://bot.example.test/tg/hook"
            assert api.webhook["secret_token"] == secret
            assert api.webhook["allowed_updates"] == ["message", "callback_query"]
            assert not api.calls_of("getUpdates")

            url = f"http://127.0.0.1:{port}/tg/hook"
            update = {"update_id": 77, "message": api.message(CHAT, text="/start")}

            async def post(body: bytes, token: str | None = secret) -> int:
                headers = {"Content-Type": "application/json"}
                if token is not None:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = token
                async with http.post(url, data=body, headers=headers) as response:
                    return response.status

            good = json.dumps(update).encode()
            assert await post(good, token=None) == 401
            assert await post(good, token="wrong") == 401
            assert await post(good, token=secret + "x") == 401
            assert await inbox_rows(db) == [] and api.sent_to(CHAT) == []

            assert await post(b"{not json") == 400
            assert await post(b"[1, 2]") == 400
            assert await post(json.dumps({"update_id": "77"}).encode()) == 400
            assert await post(b"\xff\xfe") == 400
            assert await post(b'{"update_id": 1, "pad": "' + b"x" * (1024 * 1024) + b'"}') == 413
            async with http.get(url) as response:
                assert response.status == 405
            assert await inbox_rows(db) == []

            headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
            async with http.post(url, data=good, headers=headers) as response:
                assert response.status == 200
                assert await response.json() == {}
            (welcome,) = api.sent_to(CHAT)  # handled before the 200 went out
            assert "Hello" in welcome.text

            assert await post(good) == 200  # Telegram retrying the same update
            assert len(api.sent_to(CHAT)) == 1

            press = {
                "update_id": 78,
                "callback_query": {
                    "id": "cb-hook",
                    "from": api.user(CHAT),
                    "chat_instance": "x",
                    "data": "lang:en",
                    "message": api.message(CHAT, text="menu"),
                },
            }
            assert await post(json.dumps(press).encode()) == 200
            assert api.sent_to(CHAT)[-1].text.startswith("Language set: English.")
            answered = [call.params["callback_query_id"] for call in api.calls_of("answerCallbackQuery")]
            assert answered == ["cb-hook"]
        assert [row.update_key for row in await inbox_rows(db)] == ["77", "78"]


# --- the fake itself ----------------------------------------------------------------------------


async def test_fake_api_answers_like_the_bot_api():
    async with fake_telegram() as api, aiohttp.ClientSession() as http:
        base = f"{api.base_url}/bot{TOKEN}"
        async with http.post(f"{base}/noSuchMethod") as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }
        async with http.post(f"{api.base_url}/bot42:other/getMe") as response:
            assert response.status == 401

        markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
        request = {"chat_id": 7, "text": "[1]", "reply_markup": markup}
        async with http.post(f"{base}/sendMessage", json=request) as r:
            body = await r.json()
        assert body["ok"] and body["result"]["chat"] == {"id": 7, "type": "private", "first_name": "Test"}
        async with http.post(f"{base}/sendMessage", data={"chat_id": "7", "text": "123"}) as r:
            second = (await r.json())["result"]
        assert second["message_id"] > body["result"]["message_id"]
        json_sent, form_sent = api.sent_to(7)
        assert (json_sent.text, json_sent.callback_data, form_sent.text) == ("[1]", ["a"], "123")

        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3, chat_id=8)
        async with http.post(f"{base}/sendMessage", data={"chat_id": "7", "text": "not chat 8"}) as r:
            assert r.status == 200
        async with http.post(f"{base}/sendMessage", data={"chat_id": "8", "text": "x"}) as r:
            assert r.status == 429
            assert await r.json() == {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 3",
                "parameters": {"retry_after": 3},
            }
        assert [call.status for call in api.calls_of("sendMessage")] == [200, 200, 200, 429]
