"""Several `utilibot run` processes on one database: roles, webhooks behind a load balancer, two
delivery workers, and one poller per bot.

The process tests run the real CLI as subprocesses (``python -m bot run --role …``) against one
PostgreSQL database (the ``pg_url`` fixture; skipped with the reason when none is reachable) and
the fake Bot API served by this test process, which records every call with its time:

* two ``--role web`` processes in webhook mode, each on its own port, and one ``--role worker``:
  1,000 updates from 200 chats, each chat's updates one after another (as Telegram sends them),
  spread over both web processes, some delivered a second time to the other process — later, or
  while the first delivery is still being handled (Telegram's retry after a timeout);
* two ``--role worker`` processes and a broadcast to 5,000 chats: one delivers, the other stands
  by and takes over when the first is stopped half-way;
* a second poller for the same bot refuses to start (SQLite lock file and PostgreSQL advisory lock).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select, text

from bot.channels.telegram import SECRET_HEADER, TelegramChannel
from bot.roles import AlreadyPolling, PollerLock, Role, poller_lock_key, telegram_bot_id
from domain.config import Config, TelegramConfig, load_config
from handlers.engine import Engine
from handlers.types import Incoming, Reply
from storage.database import Database
from storage.importer import import_csv
from storage.models import Binding, Chat, InboxUpdate
from tests.fakes.telegram_api import BOT_ID, BOT_USERNAME, TOKEN, FakeTelegramAPI, fake_telegram, free_port
from tests.pg import opened, truncate_all
from tests.test_delivery import add_chats, broadcast_row, busiest_window, queue_broadcast

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "bot" / "demo"
SECRET = "scale-out-secret"
WEBHOOK_PATH = "/telegram"

CHATS = 200
FIRST_CHAT = 8_100_000
CONVERSATION: list[tuple[str, str]] = [  # (kind, text or callback data) → the reply it gets
    ("text", "/start"),
    ("action", "acc:add"),
    ("action", "accp:teplo"),
    ("text", "1001001"),
    ("text", "1234.50"),
]
REPLIES = [
    "Hello!",
    "Which company's receipt is it?",
    "Type the personal account number",
    "To confirm it is yours",
    "Account 1001001 is added and selected.",
]

slow = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("UTILIBOT_SLOW_TESTS") != "1",
        reason="slow (about 25 s): run with UTILIBOT_SLOW_TESTS=1 python -m pytest -m slow "
        "tests/test_scale_out.py",
    ),
]

BROADCAST_CHATS = 5_000
BROADCAST_RATE = 500
HAND_OVER_AFTER = 2_000


# --- set-up helpers -----------------------------------------------------------------------------


def write_config(
    path: Path,
    db_url: str,
    api: FakeTelegramAPI,
    mode: str = "webhook",
    listen: str = "127.0.0.1:8080",
    rate: int = 30,
) -> Path:
    """The demo providers on ``db_url`` with Telegram against the fake API; quiet hours off."""
    demo = (DEMO / "config.toml").read_text(encoding="utf-8")
    bot_section = (
        f'[bot]\ndelivery_rate_per_second = {rate}\nquiet_hours = {{ start = "00:00", end = "00:00" }}\n'
    )
    assert "[bot]\n" in demo
    telegram = f'[telegram]\napi_base_url = "{api.base_url}"\nmode = "{mode}"\npolling_timeout = 1\n'
    if mode == "webhook":
        telegram += (
            f'webhook_url = "https://bot.example.test{WEBHOOK_PATH}"\n'
            f'webhook_secret = "{SECRET}"\nlisten = "{listen}"\n'
        )
    path.write_text(
        f'[database]\nurl = "{db_url}"\n\n{telegram}\n' + demo.replace("[bot]\n", bot_section),
        encoding="utf-8",
    )
    return path


async def reset(url: str) -> None:
    """Empty every table of the (already migrated) PostgreSQL test database."""
    async with opened(url) as db:
        await truncate_all(db)


class BotProcess:
    """One `utilibot run` subprocess; its output goes to a log file."""

    def __init__(self, name: str, config: Path, *args: str, folder: Path) -> None:
        self.name = name
        self.config = config
        self.args = args
        self.log_path = folder / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> BotProcess:
        environment = {key: value for key, value in os.environ.items() if not key.startswith("UTILIBOT_")}
        environment["UTILIBOT_TELEGRAM_TOKEN"] = TOKEN
        with self.log_path.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "-c",
                str(self.config),
                *self.args,
                cwd=ROOT,
                env=environment,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    async def wait_log(self, needle: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.log():
            assert self.process is not None
            if self.process.returncode is not None:
                raise AssertionError(f"{self.name} exited ({self.process.returncode}):\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {needle!r} not logged within {timeout} s:\n{self.log()}")
            await asyncio.sleep(0.05)

    async def wait_exit(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), timeout)

    async def stop(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await self.wait_exit(timeout)

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()


@asynccontextmanager
async def processes(*bots: BotProcess) -> AsyncIterator[list[BotProcess]]:
    """Start the processes together; stop them with SIGTERM at the end (each must exit with 0)."""
    started: list[BotProcess] = []
    try:
        for bot in bots:
            started.append(await bot.start())
        yield started
        codes = await asyncio.gather(*(bot.stop() for bot in started))
        for bot, code in zip(started, codes, strict=True):
            assert code == 0, f"{bot.name} exited with {code}:\n{bot.log()}"
            assert TOKEN.split(":")[1] not in bot.log()  # the token's secret part is never logged
    finally:
        for bot in started:
            bot.kill()
        for bot in started:
            if bot.process is not None:
                await bot.process.wait()


# --- updates as Telegram sends them -------------------------------------------------------------


def telegram_update(update_id: int, chat: int, kind: str, value: str, serial: int) -> dict[str, Any]:
    user = {"id": chat, "is_bot": False, "first_name": "Test", "language_code": "en"}
    chat_object = {"id": chat, "type": "private", "first_name": "Test"}
    if kind == "text":
        message = {"message_id": serial, "date": int(time.time()), "chat": chat_object, "from": user}
        return {"update_id": update_id, "message": {**message, "text": value}}
    bot_user = {"id": BOT_ID, "is_bot": True, "first_name": "Utilibot Test", "username": BOT_USERNAME}
    bot_message = {"message_id": serial, "date": int(time.time()), "chat": chat_object, "from": bot_user}
    query = {"id": f"cb{update_id}", "from": user, "chat_instance": f"ci{chat}", "message": bot_message}
    return {"update_id": update_id, "callback_query": {**query, "data": value}}


class LoadBalancer:
    """Posts updates to the web processes the way Telegram does through a load balancer: one chat's
    updates one after another, each to any process, some delivered twice."""

    def __init__(self, session: aiohttp.ClientSession, ports: list[int], seed: int = 8) -> None:
        self.session = session
        self.urls = [f"http://127.0.0.1:{port}{WEBHOOK_PATH}" for port in ports]
        self.random = random.Random(seed)
        self.statuses: Counter[int] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.overlapping_chats: set[int] = set()  # chats that had a retry while the first was in hand
        self.background: set[asyncio.Task[int]] = set()

    async def post(self, url: str, update: dict[str, Any]) -> int:
        headers = {SECRET_HEADER: SECRET}
        async with self.session.post(url, json=update, headers=headers) as response:
            await response.read()
            self.statuses[response.status] += 1
            return response.status

    async def deliver(self, chat: int, update: dict[str, Any]) -> None:
        """Deliver until a 200, with the duplicates this update was chosen for."""
        first, other = self.random.sample(self.urls, 2)
        dice = self.random.random()
        if dice < 0.10:  # a retry while the first delivery is still being handled
            self.duplicates["overlapping"] += 1
            self.overlapping_chats.add(chat)
            tasks = [asyncio.create_task(self.post(url, update)) for url in (first, other)]
            self.background.update(tasks)
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if any(task.result() == 200 for task in done):
                return  # the next update goes as soon as one of the two was acknowledged
            await asyncio.gather(*tasks)
            return
        while await self.post(first, update) != 200:
            await asyncio.sleep(0.1)
        if dice < 0.20:  # a late retry, e.g. the acknowledgement was lost on the way back
            self.duplicates["late"] += 1
            assert await self.post(other, update) == 200

    async def conversation(self, chat: int, updates: list[dict[str, Any]]) -> None:
        for update in updates:
            await self.deliver(chat, update)

    async def settle(self) -> None:
        if self.background:
            await asyncio.gather(*self.background)


# --- one chat at a time, across processes -------------------------------------------------------


async def test_one_chat_is_never_handled_by_two_processes_at_once(any_db, config, now):
    """Two engines with their own connection pools and in-process locks, as two processes have:
    only the database's lock on the chat row keeps one chat's updates apart."""
    second_db = Database(any_db.url)
    engines = [Engine(config, any_db, clock=lambda: now), Engine(config, second_db, clock=lambda: now)]
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)

    async def probe(ctx: Any) -> list[Reply]:
        began = time.monotonic()
        await asyncio.sleep(0.03)
        spans[ctx.incoming.chat_id].append((began, time.monotonic()))
        return [Reply("probed")]

    for engine in engines:
        engine.router.commands["/probe"] = probe
    try:
        # "new" does not exist yet (both processes race to create it); "old" does.
        await engines[0].handle(Incoming("telegram", "old", "old", "en", "text", "/start"))
        jobs = [
            engines[index % 2].handle(Incoming("telegram", chat, chat, "en", "text", "/probe"))
            for index in range(8)
            for chat in ("new", "old", f"other{index}")
        ]
        results = await asyncio.gather(*jobs)
    finally:
        await second_db.dispose()
    assert all(reply.text == "probed" for replies in results for reply in replies)
    for chat in ("new", "old"):
        ordered = sorted(spans[chat])
        assert len(ordered) == 8
        assert all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(ordered)), chat
    others = sorted(span for index in range(8) for span in spans[f"other{index}"])
    overlapping = any(end > next_start for (_, end), (next_start, _) in itertools.pairwise(others))
    if any_db.dialect == "postgresql":  # different chats are not serialized (SQLite writes are)
        assert overlapping


# --- webhooks behind a load balancer ------------------------------------------------------------


async def test_two_web_processes_handle_each_update_once_and_each_chat_in_order(pg_url, tmp_path):
    await reset(pg_url)
    async with fake_telegram() as api:
        ports = [free_port(), free_port()]
        web_configs = [
            write_config(tmp_path / f"web{n}.toml", pg_url, api, listen=f"127.0.0.1:{port}")
            for n, port in enumerate(ports, 1)
        ]
        config = load_config(str(web_configs[0]))
        db = Database(pg_url)
        try:
            report = await import_csv(db, config, "accounts", DEMO / "accounts.csv")
            assert report.rejected == 0
            web = [
                BotProcess(f"web{n}", path, "--role", "web", folder=tmp_path)
                for n, path in enumerate(web_configs, 1)
            ]
            worker = BotProcess("worker", web_configs[0], "--role", "worker", folder=tmp_path)
            async with processes(*web, worker):
                for bot, port in zip(web, ports, strict=True):
                    await bot.wait_log(f"webhook listening on 127.0.0.1:{port}")
                await worker.wait_log("utilibot is running (role worker: scheduler and delivery)")

                chats = [FIRST_CHAT + index for index in range(CHATS)]
                script = {
                    chat: [
                        telegram_update(1_000 + step * CHATS + index, chat, kind, value, serial=step + 1)
                        for step, (kind, value) in enumerate(CONVERSATION)
                    ]
                    for index, chat in enumerate(chats)
                }
                began = time.monotonic()
                connector = aiohttp.TCPConnector(limit=0)
                async with aiohttp.ClientSession(connector=connector) as session:
                    balancer = LoadBalancer(session, ports)
                    await asyncio.gather(*(balancer.conversation(chat, script[chat]) for chat in chats))
                    await balancer.settle()
                elapsed = time.monotonic() - began
            # The processes stopped gracefully (updates in hand finished): every reply is recorded.
            inbox = await inbox_rows(db)
            chat_rows, bindings = await chat_states(db)
        finally:
            await db.dispose()

    updates = CHATS * len(CONVERSATION)
    print(
        f"\n{updates} updates over 2 web processes in {elapsed:.1f} s ({updates / elapsed:.0f}/s); "
        f"duplicates: {dict(balancer.duplicates)}; HTTP statuses: {dict(balancer.statuses)}"
    )
    assert balancer.duplicates["overlapping"] > 20 and balancer.duplicates["late"] > 20
    assert set(balancer.statuses) == {200}
    # Every update stored once and handled once.
    assert len(inbox) == updates and {row.status for row in inbox} == {"done"}
    assert len({row.update_key for row in inbox}) == updates
    # Only the web processes received; each registered the webhook; nobody polled.
    assert len(api.calls_of("setWebhook")) == 2 and not api.calls_of("getUpdates")
    assert len(api.calls_of("answerCallbackQuery")) == 2 * CHATS  # each button press answered once
    # Each update answered exactly once: one reply per step, per chat.
    for chat in chats:
        texts = [message.text or "" for message in api.sent_to(chat)]
        replies = [next(r for r in REPLIES if t.startswith(r)) for t in texts if t.startswith(tuple(REPLIES))]
        assert sorted(replies) == sorted(REPLIES), (chat, texts)
        if chat not in balancer.overlapping_chats:
            assert replies == REPLIES, (chat, texts)  # even the replies arrived in order
    # Per chat the updates were handled in the order they were sent...
    by_chat: dict[int, list[InboxUpdate]] = defaultdict(list)
    for row in inbox:
        by_chat[chat_of(row)].append(row)
    for chat, rows in by_chat.items():
        rows.sort(key=lambda row: int(row.update_key))
        handled = [row.handled_at for row in rows]
        assert all(a is not None and b is not None and a < b for a, b in itertools.pairwise(handled)), chat
    # ...and the conversations came out right: every chat added its account and is back at the menu.
    assert len(chat_rows) == CHATS and bindings == CHATS
    assert all(row.state == "" and row.current_account_id is not None for row in chat_rows)
    for bot in web:
        assert "role web: 1 channel(s)" in bot.log() and "delivery: running" not in bot.log()


def chat_of(row: InboxUpdate) -> int:
    raw = json.loads(row.payload)
    if "message" in raw:
        return int(raw["message"]["chat"]["id"])
    return int(raw["callback_query"]["message"]["chat"]["id"])


async def inbox_rows(db: Database) -> list[InboxUpdate]:
    async with db.unit_of_work() as uow:
        return list((await uow.session.execute(select(InboxUpdate).order_by(InboxUpdate.id))).scalars())


async def chat_states(db: Database) -> tuple[list[Chat], int]:
    async with db.unit_of_work() as uow:
        chats = list((await uow.session.execute(select(Chat))).scalars())
        bindings = (await uow.session.execute(select(func.count()).select_from(Binding))).scalar_one()
    return chats, bindings


# --- two delivery workers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "hand_over", [pytest.param(False, id="standby"), pytest.param(True, marks=slow, id="hand-over")]
)
async def test_two_workers_deliver_a_broadcast_once_per_chat_within_the_global_rate(
    pg_url, tmp_path, hand_over
):
    """One worker delivers, the other stands by; with ``hand_over`` the first is stopped half-way
    and the other takes over (within the delivery loop's 5-s retry)."""
    await reset(pg_url)
    db = Database(pg_url)
    try:
        await add_chats(db, BROADCAST_CHATS, first=FIRST_CHAT)
        async with fake_telegram() as api:
            config = write_config(tmp_path / "worker.toml", pg_url, api, rate=BROADCAST_RATE)
            first = BotProcess("worker1", config, "--role", "worker", folder=tmp_path)
            second = BotProcess("worker2", config, "--role", "worker", folder=tmp_path)
            began = time.monotonic()
            async with processes(first, second):
                # Whichever asks first delivers; the other stands by.
                await first.wait_log("delivery: ")
                await second.wait_log("delivery: ")
                active, standby = (first, second) if "running for" in first.log() else (second, first)
                assert "running for telegram" in active.log()
                assert "standing by" in standby.log() and "running for" not in standby.log()
                broadcast_id, total = await queue_broadcast(
                    db, {"en": "Hot water is off tomorrow 10:00–14:00."}, datetime.now(UTC)
                )
                assert total == BROADCAST_CHATS
                handed_over_at = 0
                if hand_over:
                    await api.wait_for(lambda: len(api.calls_of("sendMessage")) >= HAND_OVER_AFTER, 30)
                    assert await active.stop() == 0  # stopped half-way: the other one takes over
                    handed_over_at = len(api.calls_of("sendMessage"))
                    await standby.wait_log("running for telegram", timeout=15)
                done = await wait_done(db, broadcast_id, timeout=45)
                if not hand_over:
                    assert "running for" not in standby.log()  # it stood by all along
            elapsed = time.monotonic() - began
            calls = list(api.calls_of("sendMessage"))
    finally:
        await db.dispose()

    per_chat = Counter(str(call.params["chat_id"]) for call in calls if call.status == 200)
    busiest = busiest_window([call.time for call in calls])
    print(
        f"\n{BROADCAST_CHATS} chats by two workers at {BROADCAST_RATE}/s in {elapsed:.1f} s, "
        f"handed over after {handed_over_at} sends; busiest 1-s window {busiest}"
    )
    if hand_over:
        assert HAND_OVER_AFTER <= handed_over_at < BROADCAST_CHATS
    assert set(per_chat) == {str(FIRST_CHAT + index) for index in range(BROADCAST_CHATS)}
    assert set(per_chat.values()) == {1}  # each chat once, across the hand-over too
    assert busiest <= BROADCAST_RATE
    assert (done.status, done.sent_count, done.failed_count) == ("done", BROADCAST_CHATS, 0)


async def wait_done(db: Database, broadcast_id: int, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        row = await broadcast_row(db, broadcast_id)
        if row.status == "done":
            return row
        assert time.monotonic() < deadline, f"broadcast not finished: {row.sent_count} sent"
        await asyncio.sleep(0.2)


# --- one poller per bot -------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_second_poller_for_the_same_bot_refuses_to_start(backend, request, tmp_path):
    if backend == "postgresql":
        url = request.getfixturevalue("pg_url")
        await reset(url)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    async with fake_telegram() as api:
        config = write_config(tmp_path / "config.toml", url, api, mode="polling")
        first = BotProcess("first", config, folder=tmp_path)  # --role all
        second = BotProcess("second", config, "--role", "web", folder=tmp_path)
        worker = BotProcess("worker", config, "--role", "worker", folder=tmp_path)
        async with processes(first):
            await first.wait_log("this process is the poller for bot 123456")
            await api.wait_for(lambda: api.calls_of("getUpdates"), 15)
            # A worker does not poll: it may run beside the poller (checked once, on SQLite).
            async with processes(*[worker] * (backend == "sqlite")):
                try:
                    await second.start()
                    assert await second.wait_exit() == 2
                finally:
                    second.kill()
                if backend == "sqlite":
                    await worker.wait_log("utilibot is running (role worker")
            refusal = second.log()
            update = api.push_message(77, "/start")
            await api.wait_for(lambda: api.sent_to(77), 15)  # the first poller still works
            assert api.confirmed_offset > update
    assert "another utilibot process is already polling Telegram for bot 123456" in refusal
    assert f"pid {first.pid} on host" in refusal
    assert ("lock file" if backend == "sqlite" else "PostgreSQL advisory lock") in refusal
    assert 'mode = "webhook"' in refusal and "Traceback" not in refusal
    assert TOKEN.split(":")[1] not in refusal


async def test_the_poller_lock_is_exclusive_and_released(any_db):
    bot_id = telegram_bot_id(TOKEN)
    other_db = Database(any_db.url)
    first, second = PollerLock(any_db, bot_id), PollerLock(other_db, bot_id)
    try:
        await first.acquire()
        with pytest.raises(AlreadyPolling, match=f"pid {os.getpid()} on host"):
            await second.acquire()
        another_bot = PollerLock(other_db, "654321")
        await another_bot.acquire()  # another bot: its own lock
        await another_bot.release()
        await first.release()
        await second.acquire()
        assert second.held and await second.still_held()
    finally:
        await second.release()
        await other_db.dispose()


async def test_a_poller_lock_lost_with_its_connection_is_taken_again(pg_url):
    db, other = Database(pg_url), Database(pg_url)
    lock = PollerLock(db, "777")
    try:
        await lock.acquire()
        async with other.engine.connect() as connection:  # the database drops the holder's session
            await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND objid::bigint = :low AND granted"
                ),
                {"low": poller_lock_key("777") & 0xFFFFFFFF},
            )
        assert not await lock.still_held()
        await lock.reacquire()
        assert await lock.still_held()
    finally:
        await lock.release()
        await db.dispose()
        await other.dispose()


def test_bot_ids_never_show_the_secret():
    assert telegram_bot_id("123456:ABC-secret") == "123456"
    odd = telegram_bot_id("not-a-token-secret")
    assert odd.startswith("#") and "secret" not in odd
    assert poller_lock_key("123456") != poller_lock_key("123457")
    assert Role("web").receives and not Role("web").works and Role("all").works


async def test_409_conflict_from_telegram_is_explained_and_polling_goes_on(db, config, now, caplog):
    async with fake_telegram() as api:
        telegram = TelegramConfig(token=TOKEN, api_base_url=api.base_url, polling_timeout=1)
        settings: Config = config.model_copy(update={"telegram": telegram})
        channel = TelegramChannel(settings, Engine(settings, db, clock=lambda: now), db)
        api.fail_next(
            "getUpdates",
            409,
            "Conflict: terminated by other getUpdates request; "
            "make sure that only one bot instance is running",
        )
        stop = asyncio.Event()
        await channel.start()
        with caplog.at_level(logging.WARNING, logger="bot.channels.telegram"):
            task = asyncio.create_task(channel.run(stop))
            try:
                update = api.push_message(42, "/start")
                await api.wait_confirmed(update, timeout=10)
                await api.wait_for(lambda: api.sent_to(42), 10)
            finally:
                stop.set()
                await asyncio.wait_for(task, 10)
    errors = [record for record in caplog.records if "409 Conflict" in record.getMessage()]
    assert len(errors) == 1 and errors[0].levelno == logging.ERROR
    message = errors[0].getMessage()
    assert "bot 123456" in message and "another process is polling Telegram" in message
    assert "webhook mode" in message and TOKEN not in message


def test_run_offers_the_roles():
    environment = {key: value for key, value in os.environ.items() if not key.startswith("UTILIBOT_")}

    def utilibot(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "bot", *args]
        return subprocess.run(command, capture_output=True, text=True, env=environment, cwd=ROOT, timeout=60)

    shown = utilibot("run", "--help")
    assert shown.returncode == 0 and "--role {all,web,worker}" in shown.stdout
    wrong = utilibot("run", "--role", "cook")
    assert wrong.returncode == 2 and "invalid choice: 'cook'" in wrong.stderr
