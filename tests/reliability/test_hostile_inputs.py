"""The hostile-input corpus at every conversation step: through the engine (every case at every step on
SQLite, the steps that write once more on PostgreSQL), and a representative subset through the real
Telegram channel (polling over HTTP against the fake Bot API, and its webhook) and the real Viber
channel (signed callbacks to its webhook).

Each case must get a clear answer (a non-empty text that is not the generic apology) or a 4xx; the
channel must still answer /start afterwards; and the database must stay consistent: the invariant
checker compares snapshots before and after, and nothing is stored that should not be (no binding,
no reading, no billing change, no inbox row for a refused request).

Chats are put at a step by cloning a template chat (its state, state data, locale and bindings) that
was walked there through the engine, so every case starts from a fresh chat at that step.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from bot.channels.telegram import TelegramChannel
from domain.config import Config
from domain.verification import AccountFacts, fact_matches, mask_holder
from handlers.engine import Engine
from handlers.types import Incoming, Reply
from storage.database import Database
from storage.models import Account, Binding, Chat, InboxUpdate, Meter
from tests.fakes.telegram_api import TOKEN as TELEGRAM_TOKEN
from tests.fakes.telegram_api import FakeTelegramAPI, SentMessage, fake_telegram, free_port
from tests.fakes.viber_api import TOKEN as VIBER_TOKEN
from tests.fakes.viber_api import fake_viber, sign
from tests.reliability import corpus
from tests.reliability.corpus import CASES, CHANNEL_SUBSET, STEP_NAMES, STEP_SCRIPTS, Case
from tests.reliability.invariants import assert_consistent, snapshot
from tests.seed import seed
from tests.test_telegram_e2e import running, telegram_config
from tests.test_viber_e2e import ACTION_MARKER, Viber, start_viber

APOLOGY = "something went wrong"
LEAKS = ("<class '", "Traceback", "object at 0x", TELEGRAM_TOKEN, VIBER_TOKEN)

# An account whose address and holder look like markup: echoed back, they must arrive verbatim.
MARKUP_NUMBER = "1009009"
MARKUP_ADDRESS = '<b>вул.</b> &lt;Садова&gt; <a href="https://evil.example">5</a>, кв. 9 {0.__class__} %s'
MARKUP_HOLDER = "<i>Зло</i>&amp;Хакер Іван"
MARKUP_PAYMENT = "777.77"


# --- putting chats at a step ----------------------------------------------------------------------

_TEMPLATE_IDS = itertools.count(1)


@dataclass(frozen=True)
class Template:
    """A chat's whole conversation position: what a clone needs to be at the same step."""

    state: str
    data: dict[str, Any]
    locale: str | None
    current_account_id: int | None
    accounts: tuple[int, ...]


async def walk(engine: Engine, channel: str, chat: str, script: list[tuple[str, str]]) -> list[Reply]:
    replies: list[Reply] = []
    for kind, value in script:
        text, action = (value, "") if kind == "text" else ("", value)
        replies = await engine.handle(Incoming(channel, chat, chat, "en", kind, text, action))
    return replies


async def capture(db: Database, channel: str, chat_key: str) -> Template:
    async with db.unit_of_work() as uow:
        chat = await uow.chats.get_for_update(channel, chat_key)
        assert chat is not None
        bound = await uow.accounts.bound_to_chat(chat.id)
        return Template(
            chat.state,
            dict(chat.state_data or {}),
            chat.locale,
            chat.current_account_id,
            tuple(account.id for account in bound),
        )


async def templates(db: Database, engine: Engine, steps: tuple[str, ...] = STEP_NAMES) -> dict[str, Template]:
    """Walk one chat per step there through the engine; each step's template."""
    found = {}
    for step in steps:
        script, state = STEP_SCRIPTS[step]
        key = f"template-{step}-{next(_TEMPLATE_IDS)}"
        await walk(engine, "console", key, script)
        found[step] = await capture(db, "console", key)
        assert found[step].state == state, (step, found[step])
    return found


async def clone(db: Database, template: Template, channel: str, keys: list[str]) -> None:
    """New chats ``keys`` at the template's step (a summary gets its own nonce, as a real one would)."""
    async with db.unit_of_work() as uow:
        chats = []
        for key in keys:
            data = dict(template.data)
            if "nonce" in data:
                data["nonce"] = secrets.token_hex(8)
            chat = Chat(
                channel=channel,
                chat_key=key,
                user_key=key,
                locale=template.locale,
                state=template.state,
                state_data=data,
                current_account_id=template.current_account_id,
                notifications={},
                active=True,
            )
            uow.session.add(chat)
            chats.append(chat)
        await uow.session.flush()
        for chat in chats:
            for account_id in template.accounts:
                uow.session.add(Binding(chat_id=chat.id, account_id=account_id))
        await uow.commit()


async def seed_all(db: Database) -> dict[str, int]:
    """The usual seed plus the account with markup in its address and holder."""
    ids = await seed(db)
    async with db.unit_of_work() as uow:
        account = Account(
            provider_id="teplo",
            number=MARKUP_NUMBER,
            address=MARKUP_ADDRESS,
            holder=MARKUP_HOLDER,
            balance=Decimal("10.00"),
            due_date=date(2026, 12, 15),
            last_payment_amount=Decimal(MARKUP_PAYMENT),
            last_payment_date=date(2026, 10, 10),
        )
        uow.session.add(account)
        await uow.session.flush()
        uow.session.add(
            Meter(
                account_id=account.id,
                serial="<b>M-9</b>",
                kind="cold_water",
                zone="",
                unit="m3",
                last_value=Decimal("10"),
                precision=3,
                automatic=False,
            )
        )
        ids[MARKUP_NUMBER] = account.id
        await uow.commit()
    return ids


# --- judging answers --------------------------------------------------------------------------------


def answer_problem(texts: list[str]) -> str | None:
    """Why these answers are not a clear answer, or None."""
    if not texts:
        return "no answer"
    if any(not text.strip() for text in texts):
        return "an empty message"
    joined = "\n".join(texts)
    if APOLOGY in joined:
        return "the generic apology (the handler raised)"
    for leak in LEAKS:
        if leak in joined:
            return f"internals leaked ({leak!r})"
    return None


def is_welcome(text: str | None) -> bool:
    return (text or "").startswith(("Hello!", "Вітаємо!"))


def replies_problem(replies: list[Reply]) -> str | None:
    return answer_problem([reply.text for reply in replies if reply.text or reply.image is None])


def incoming(case: Case, channel: str, chat: str) -> Incoming:
    if case.kind == "action":
        return Incoming(channel, chat, chat, "en", "action", action=case.value)
    if case.kind == "media":
        return Incoming(channel, chat, chat, "en", "media")
    return Incoming(channel, chat, chat, "en", "text", text=case.value)


def report(failures: list[str], total: int) -> str:
    return f"{len(failures)} of {total} cases failed:\n  " + "\n  ".join(failures[:40])


async def run_chunked(coroutines: list[Any], size: int) -> list[Any]:
    """Run the coroutines ``size`` at a time (SQLite: one at a time — its writers queue on a lock whose
    busy handler sleeps, so concurrency only slows it down)."""
    results = []
    for start in range(0, len(coroutines), size):
        results += await asyncio.gather(*coroutines[start : start + size])
    return results


# --- the corpus itself ------------------------------------------------------------------------------


def test_corpus_size_and_sanity():
    assert len(CASES) >= 300, len(CASES)
    assert len(CHANNEL_SUBSET) >= 60, len(CHANNEL_SUBSET)
    categories = {case.category for case in CHANNEL_SUBSET}
    assert categories == {case.category for case in CASES}
    # No case is the right answer at the fact step: hostile input must never bind.
    facts = AccountFacts("вул. Шевченка, 12, кв. 45", "Шевченко Тарас Григорович", Decimal("1234.50"))
    assert not [
        case for case in CASES if case.kind == "text" and fact_matches("last_payment", case.value, facts)
    ]
    assert len([case for case in CASES if len(case.value) >= 10_000]) >= 10


# --- through the engine: every case at every step --------------------------------------------------


@pytest.mark.parametrize("step", STEP_NAMES)
async def test_engine_every_case_at_every_step(db: Database, config: Config, now: datetime, step: str):
    await run_corpus(db, config, now, step)


@pytest.mark.postgres
@pytest.mark.parametrize("any_db", ["postgresql"], indirect=True)
@pytest.mark.parametrize("step", ["fact", "summary"])
async def test_engine_every_case_on_postgresql(any_db: Database, config: Config, now: datetime, step: str):
    """The steps that write (verification attempts; a pending reading summary) once more on PostgreSQL,
    which refuses what SQLite takes (NUL characters in text, integers beyond 64 bits)."""
    await run_corpus(any_db, config, now, step)


async def run_corpus(db: Database, config: Config, now: datetime, step: str) -> None:
    await seed_all(db)
    engine = Engine(config, db, clock=lambda: now)
    template = (await templates(db, engine, (step,)))[step]
    keys = [f"{step}:{case.name}" for case in CASES]
    await clone(db, template, "telegram", keys)
    before = await snapshot(db)

    async def one(case: Case, key: str) -> str | None:
        problem = replies_problem(await engine.handle(incoming(case, "telegram", key)))
        return f"{case.name} {case.value[:40]!r}: {problem}" if problem else None

    size = 1 if db.dialect == "sqlite" else 16
    runs = [one(case, key) for case, key in zip(CASES, keys, strict=True)]
    failures = [failure for failure in await run_chunked(runs, size) if failure]
    assert not failures, report(failures, len(CASES))

    after = await snapshot(db)
    # Only the fact step may log (failed) verification attempts; nothing else changes.
    assert_consistent(before, after, may_change={"verification_attempts"} if step == "fact" else set())
    welcome = await engine.handle(Incoming("telegram", keys[-1], keys[-1], "en", "text", "/start"))
    assert is_welcome(welcome[0].text)
    async with db.unit_of_work() as uow:
        chats = (await uow.session.execute(select(Chat).where(Chat.chat_key.in_(keys)))).scalars().all()
    assert len(chats) == len(CASES)  # no chat was duplicated or lost



# --- through Telegram (polling) ----------------------------------------------------------------------


@dataclass
class TelegramRun:
    api: FakeTelegramAPI
    channel: TelegramChannel
    db: Database
    engine: Engine

    async def settle(self, update_id: int) -> None:
        await self.api.wait_confirmed(update_id, timeout=60)
        await self.channel.drain()


@pytest.fixture
async def tg_run(db: Database, config: Config, now: datetime) -> AsyncIterator[TelegramRun]:
    await seed_all(db)
    async with fake_telegram() as api:
        settings = telegram_config(config, api)
        engine = Engine(settings, db, clock=lambda: now)
        channel = TelegramChannel(settings, engine, db)
        async with running(channel):
            yield TelegramRun(api, channel, db, engine)


def push_case(api: FakeTelegramAPI, chat: int, case: Case) -> int:
    if case.kind == "action":
        return api.push_callback(chat, case.value)
    if case.kind == "text":
        return api.push_message(chat, case.value)
    if case.value == "sticker":
        return api.push_sticker(chat)
    if case.value == "photo":
        return api.push_photo(chat, caption="{0.__class__} <b>x</b>")
    content = {
        "voice": {"voice": {"file_id": "v", "file_unique_id": "vu", "duration": 1}},
        "location": {"location": {"latitude": 50.45, "longitude": 30.52}},
        "contact": {"contact": {"phone_number": "'; DROP TABLE chats; --", "first_name": "<b>x</b>"}},
    }[case.value]
    return api.push_update({"message": api.message(chat, **content)})


def telegram_problem(messages: list[SentMessage]) -> str | None:
    if any("parse_mode" in message.params for message in messages):
        return "sent with a parse_mode"
    return answer_problem([message.text or "" for message in messages if message.method == "sendMessage"])


def telegram_subset() -> list[Case]:
    # A lone surrogate cannot come from Telegram (its updates are UTF-8); it has its own test below.
    return [case for case in CHANNEL_SUBSET if not any(0xD800 <= ord(ch) <= 0xDFFF for ch in case.value)]


async def test_telegram_subset_at_every_step(tg_run: TelegramRun):
    cases = telegram_subset()
    found = await templates(tg_run.db, tg_run.engine)
    chats: dict[int, tuple[str, Case]] = {}
    for index, case in enumerate(cases):
        for step in corpus.channel_steps(index):
            chat = 7_000_000 + STEP_NAMES.index(step) * 1000 + index
            await clone(tg_run.db, found[step], "telegram", [str(chat)])
            chats[chat] = (step, case)
    before = await snapshot(tg_run.db)

    last = 0
    for chat, (_, case) in chats.items():
        last = push_case(tg_run.api, chat, case)
    await tg_run.settle(last)
    failures = []
    for chat, (step, case) in chats.items():
        problem = telegram_problem(tg_run.api.sent_to(chat))
        if problem:
            failures.append(f"{step} {case.name} {case.value[:40]!r}: {problem}")
    assert not failures, report(failures, len(chats))

    # Still alive: every one of those chats gets the welcome.
    answered = {chat: len(tg_run.api.sent_to(chat)) for chat in chats}
    for chat in chats:
        last = tg_run.api.push_message(chat, "/start")
    await tg_run.settle(last)
    for chat in chats:
        welcome = tg_run.api.sent_to(chat)[answered[chat] :]
        assert welcome and "Hello" in (welcome[-1].text or ""), (chats[chat], welcome)

    after = await snapshot(tg_run.db)
    assert after.inbox_statuses == {"done": 2 * len(chats)}  # none failed, none left pending
    assert_consistent(before, after, may_change={"inbox", "verification_attempts"})
    print(f"telegram: {len(cases)} cases at 2 steps each = {len(chats)} updates")


async def test_telegram_odd_updates(tg_run: TelegramRun):
    api = tg_run.api
    before = await snapshot(tg_run.db)
    expected = {}
    last = 0
    for index, (name, outcome, build) in enumerate(corpus.TELEGRAM_UPDATES):
        chat = 8_000_000 + index
        expected[chat] = (name, outcome)
        last = api.push_update(build(chat, api.message))
    await tg_run.settle(last)
    for chat, (name, outcome) in expected.items():
        sent = api.sent_to(chat)
        if outcome == "ignore":
            assert sent == [], name
        else:
            assert telegram_problem(sent) is None, (name, telegram_problem(sent), sent)
    for chat in expected:
        last = api.push_message(chat, "/start")
    await tg_run.settle(last)
    for chat, (name, _) in expected.items():
        assert is_welcome(api.sent_to(chat)[-1].text), name  # (without from: the default language)
    after = await snapshot(tg_run.db)
    assert set(after.inbox_statuses) == {"done"}, after.inbox_statuses
    assert_consistent(before, after, may_change={"inbox", "chats"})


async def test_telegram_lone_surrogate_does_not_block_polling(tg_run: TelegramRun):
    api = tg_run.api
    api.push_message(8_100_001, "a\ud800z")
    update = api.push_message(8_100_002, "/start")
    await api.wait_confirmed(update, timeout=1.5)
    await tg_run.channel.drain()
    assert "Hello" in (api.sent_to(8_100_002)[-1].text or "")


# --- through Telegram's webhook ---------------------------------------------------------------------


@dataclass
class Webhook:
    api: FakeTelegramAPI
    db: Database
    url: str
    http: aiohttp.ClientSession

    async def post(self, body: bytes, token: str | None = corpus.WEBHOOK_SECRET) -> int:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = token
        async with self.http.post(self.url, data=body, headers=headers) as response:
            return response.status


@pytest.fixture
async def webhook(db: Database, config: Config, now: datetime) -> AsyncIterator[Webhook]:
    await seed_all(db)
    port = free_port()
    async with fake_telegram() as api:
        settings = telegram_config(
            config,
            api,
            mode="webhook",
            webhook_url="https://bot.example.test/tg/hook",
            webhook_secret=corpus.WEBHOOK_SECRET,
            listen=f"127.0.0.1:{port}",
        )
        channel = TelegramChannel(settings, Engine(settings, db, clock=lambda: now), db)
        async with running(channel), aiohttp.ClientSession() as http:
            yield Webhook(api, db, f"http://127.0.0.1:{port}/tg/hook", http)


async def test_telegram_webhook_refuses_what_it_must(webhook: Webhook):
    api, db, post = webhook.api, webhook.db, webhook.post
    chat = 9_000_001
    good = {"update_id": 500, "message": api.message(chat, text="/start")}
    before = await snapshot(db)
    for name, token in corpus.WRONG_SECRETS:
        assert await post(json.dumps(good).encode(), token) == 401, name
    for name, body, status in corpus.webhook_bodies(good):
        assert await post(body) == status, name
    assert api.sent == []
    assert_consistent(before, await snapshot(db))  # nothing stored, not even an inbox row

    # Odd but valid update ids are taken; hostile texts get answers through the webhook too.
    for update_id in (2**70, -5, 0):
        update = {"update_id": update_id, "message": api.message(chat, text="/menu")}
        assert await post(json.dumps(update).encode()) == 200, update_id
    assert len(api.sent_to(chat)) == 3
    cases = [case for case in telegram_subset() if case.kind == "text"]
    for index, case in enumerate(cases):
        update = {"update_id": 1000 + index, "message": api.message(chat + 1 + index, text=case.value)}
        assert await post(json.dumps(update).encode()) == 200, case.name
        problem = telegram_problem(api.sent_to(chat + 1 + index))
        assert problem is None, (case.name, problem)
    assert await post(json.dumps(good).encode()) == 200
    assert is_welcome(api.sent_to(chat)[-1].text)
    after = await snapshot(db)
    assert set(after.inbox_statuses) == {"done"}
    assert_consistent(before, after, may_change={"inbox", "chats"})


async def test_telegram_webhook_refuses_too_deeply_nested_json(webhook: Webhook):
    before = await snapshot(webhook.db)
    assert await webhook.post(corpus.DEEP_TELEGRAM_BODY) == 400
    assert_consistent(before, await snapshot(webhook.db))


# --- through Viber ----------------------------------------------------------------------------------


@pytest.fixture
async def vb_run(db: Database, config: Config, now: datetime) -> AsyncIterator[Viber]:
    await seed_all(db)
    async with fake_viber(clock=lambda: now) as api:
        running_viber = await start_viber(api, db, config, now)
        try:
            yield running_viber
        finally:
            await running_viber.shutdown()


def viber_event(vb: Viber, user: str, case: Case) -> dict[str, Any]:
    if case.kind == "action":
        return vb.api.event_text(user, ACTION_MARKER + case.value)
    if case.kind == "text":
        return vb.api.event_text(user, case.value)
    message = {
        "sticker": {"type": "sticker", "sticker_id": 46105},
        "photo": {"type": "picture", "media": "https://dl.example/p.jpg", "text": "{0.__class__}"},
        "voice": {"type": "video", "media": "https://dl.example/v.mp4", "size": 10},
        "location": {"type": "location", "location": {"lat": 50.45, "lon": 30.52}},
        "contact": {"type": "contact", "contact": {"name": "<b>x</b>", "phone_number": "'; --"}},
    }[case.value]
    return vb.api.event_message(user, message)


def viber_problem(vb: Viber, user: str, before: int = 0) -> str | None:
    return answer_problem([m.text for m in vb.api.sent_to(user)[before:] if m.type == "text"])


async def test_viber_subset_at_every_step(vb_run: Viber):
    vb = vb_run
    engine = Engine(vb.config, vb.db, clock=vb.channel._clock)
    found = await templates(vb.db, engine)
    users: dict[str, tuple[str, Case]] = {}
    for index, case in enumerate(CHANNEL_SUBSET):
        for step in corpus.channel_steps(index):
            user = f"rel-{step}-{index:03d}=="
            await clone(vb.db, found[step], "viber", [user])
            users[user] = (step, case)
    before = await snapshot(vb.db)

    for user, (_, case) in users.items():
        posted = await vb.post(viber_event(vb, user, case))
        assert posted.status == 200, (case.name, posted)
    await vb.channel.drain()
    failures = []
    for user, (step, case) in users.items():
        problem = viber_problem(vb, user)
        if problem:
            failures.append(f"{step} {case.name} {case.value[:40]!r}: {problem}")
    assert not failures, report(failures, len(users))
    assert vb.api.refused == []  # every message within Viber's limits

    answered = {user: len(vb.api.sent_to(user)) for user in users}
    for user in users:
        assert (await vb.post(vb.api.event_text(user, "/start"))).status == 200
    await vb.channel.drain()
    for user in users:
        welcome = vb.api.sent_to(user)[answered[user] :]
        assert welcome and "Hello" in welcome[-1].text, (users[user], welcome)

    after = await snapshot(vb.db)
    assert after.inbox_statuses == {"done": 2 * len(users)}
    assert_consistent(before, after, may_change={"inbox", "verification_attempts"})
    print(f"viber: {len(CHANNEL_SUBSET)} cases at 2 steps each = {len(users)} callbacks")


async def test_viber_refuses_forged_and_malformed_callbacks(vb_run: Viber):
    vb = vb_run
    user = "rel-forged-0000000000=="
    before = await snapshot(vb.db)
    event = vb.api.event_text(user, "/start")
    body = json.dumps(event).encode()
    for name, signature in corpus.viber_bad_signatures(sign(VIBER_TOKEN, body), sign("another", body)):
        assert (await vb.api.post_raw(vb.url, body, signature)).status == 403, name
    for name, bad, status in corpus.viber_bad_bodies(event, user):
        assert (await vb.api.post_raw(vb.url, bad, sign(VIBER_TOKEN, bad))).status == status, name
    for unhandled in corpus.VIBER_UNHANDLED_EVENTS:
        assert (await vb.post(unhandled)).status == 200, unhandled["event"][:20]
    await vb.channel.drain()
    assert vb.api.sent == []
    assert_consistent(before, await snapshot(vb.db))  # nothing stored at all

    # Odd message contents from a real (validly signed) user: an answer each, then /start works.
    for index, (name, message) in enumerate(corpus.viber_odd_messages()):
        odd_user = f"rel-odd-{index:02d}=="
        assert (await vb.post(vb.api.event_message(odd_user, message))).status == 200, name
        await vb.channel.drain()
        assert viber_problem(vb, odd_user) is None, (name, vb.api.sent_to(odd_user))
        count = len(vb.api.sent_to(odd_user))
        assert (await vb.post(vb.api.event_text(odd_user, "/start"))).status == 200
        await vb.channel.drain()
        assert "Hello" in vb.api.sent_to(odd_user)[count:][-1].text, name
    after = await snapshot(vb.db)
    assert set(after.inbox_statuses) == {"done"}
    assert_consistent(before, after, may_change={"inbox", "chats"})


async def test_viber_refuses_too_deeply_nested_json(vb_run: Viber):
    before = await snapshot(vb_run.db)
    body = corpus.DEEP_VIBER_BODY
    assert (await vb_run.api.post_raw(vb_run.url, body, sign(VIBER_TOKEN, body))).status == 400
    assert_consistent(before, await snapshot(vb_run.db))


# --- markup in names echoed back ----------------------------------------------------------------------


async def test_markup_in_address_and_holder_is_sent_verbatim_on_telegram(tg_run: TelegramRun):
    api, chat = tg_run.api, 9_100_001

    async def say(push: Any) -> list[SentMessage]:
        before = len(api.sent_to(chat))
        await tg_run.settle(push())
        return api.sent_to(chat)[before:]

    await say(lambda: api.push_callback(chat, "acc:add"))
    await say(lambda: api.push_callback(chat, "accp:teplo"))
    await say(lambda: api.push_message(chat, MARKUP_NUMBER))
    (added,) = await say(lambda: api.push_message(chat, MARKUP_PAYMENT))
    assert MARKUP_ADDRESS in (added.text or "") and mask_holder(MARKUP_HOLDER) in (added.text or "")
    (listing,) = await say(lambda: api.push_message(chat, "/accounts"))
    (balance,) = await say(lambda: api.push_message(chat, "/balance"))
    _intro, question = await say(lambda: api.push_message(chat, "/readings"))
    for message in (added, listing, balance):
        assert MARKUP_ADDRESS in (message.text or ""), message.text
    assert "<b>M-9</b>" in (question.text or "")
    sent = api.calls_of("sendMessage") + api.calls_of("sendPhoto")
    assert sent and all("parse_mode" not in call.params for call in sent)


async def test_markup_in_address_and_holder_is_sent_verbatim_on_viber(vb_run: Viber):
    vb, user = vb_run, "rel-markup-000000000=="
    await vb.press(user, "acc:add")
    await vb.press(user, "accp:teplo")
    await vb.say(user, MARKUP_NUMBER)
    (added,) = await vb.say(user, MARKUP_PAYMENT)
    assert MARKUP_ADDRESS in added.text and mask_holder(MARKUP_HOLDER) in added.text
    (listing,) = await vb.say(user, "/accounts")
    (balance,) = await vb.say(user, "/balance")
    assert MARKUP_ADDRESS in listing.text and MARKUP_ADDRESS in balance.text
    assert vb.api.refused == []
    async with vb.db.unit_of_work() as uow:
        rows = (await uow.session.execute(select(InboxUpdate))).scalars().all()
    assert {row.status for row in rows} == {"done"}
