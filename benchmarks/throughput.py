"""Throughput benchmark: residents doing whole flows through the real Telegram adapter, vs. an echo bot.

The bot runs in this process: TelegramChannel (aiogram's Bot, long polling) + Engine + the database,
exactly as ``utilibot run`` composes them. The fake Bot API (tests/fakes/telegram_api.py) and the
simulated residents run in a child process on 127.0.0.1, so neither shares the bot's CPU. A
resident pushes an update into the fake's getUpdates queue, waits for all the messages the bot
answers it with (sendMessage / sendPhoto), then does the next step. Latency of an update = from
the moment the fake queued it to the arrival of the bot's last reply to it, both on the fake's
clock.

One cycle of a resident (11 updates; a new chat starts with /start):

    Add account → account number → the fact (last payment)          bind
    Submit readings → meter 1 → meter 2 → Confirm                   readings (the receipt)
    Balance → Pay (amount, payment QR as a PNG, links)              balance, pay
    My accounts: remove → yes                                       so the next cycle binds again

Phases, each measured over the same fixed time after a warm-up:

1. baseline: a bare aiogram echo bot (Dispatcher + one message handler answering the same text)
   polling the same fake server; residents send texts as fast as it answers → echo updates/s;
2. per database (SQLite file, then PostgreSQL in a fresh database that is dropped afterwards):
   * saturation: as many updates as the bot handles (200 residents, closed loop) → updates/s and
     the ratio to the echo bot (goal ≥ 0.5);
   * paced: the residents together offer 0.5 × the echo bot's rate (the goal's load; if the bot's
     own maximum is below that, 0.8 × and 0.5 × its maximum instead, and the report says so) →
     p50/p99 latency of every update and of the reading confirmation (goal: p99 ≤ 50 ms);
3. a profile (pyinstrument, wall-clock of the bot's main thread) of a saturation run on SQLite;
   the top costs are printed and the full report is written next to the temp files.

    python benchmarks/throughput.py                  # 20 s per phase, 200 residents
    python benchmarks/throughput.py --quick          # 5 s per phase
    python benchmarks/throughput.py --only sqlite    # skip PostgreSQL (or --only postgresql)
    python benchmarks/throughput.py --no-profile

PostgreSQL: --pg-url (an admin URL; default $UTILIBOT_TEST_PG_URL or
postgresql+asyncpg://postgres@127.0.0.1:5432/postgres); skipped with the reason when unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import resource
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._support import FakeAPIProcess, cpu_ticks, others_cores, serve_fake_api  # noqa: E402
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI  # noqa: E402

RESIDENTS = 200
ECHO_FIRST_CHAT = 100_000_000
STEP_TIMEOUT = 30.0  # a step not answered within this is counted as lost
PACED_SHARE = 0.5  # of the echo bot's rate: the goal's load
FALLBACK_SHARES = (0.8, 0.5)  # of the bot's own maximum, when the goal's load is beyond it
METER_START = Decimal("100.000")

# --- the simulated residents (child process) ------------------------------------------------------


@dataclass(frozen=True)
class Step:
    label: str
    kind: str  # "text" | "action"
    value: str
    replies: int  # messages the bot answers this update with
    marker: str = ""  # text the last reply must contain (checked by the calibration pass)


def cycle_steps(cycle: int, account_id: int, number: str) -> list[Step]:
    """One resident cycle: bind, readings (2 meters), confirm, balance, pay, remove."""
    first = f"{METER_START + cycle:.3f}"
    second = f"{METER_START + cycle + Decimal('0.5'):.3f}"
    steps = [Step("start", "text", "/start", 1, "Hello")] if cycle == 1 else []
    return [
        *steps,
        Step("add", "action", "acc:add", 1, "account number"),
        Step("number", "text", number, 1, "last payment"),
        Step("fact", "text", "100.00", 1, "is added"),
        Step("readings", "action", "rd", 2, "Meter 1 of 2"),
        Step("value1", "text", first, 1, "Meter 2 of 2"),
        Step("value2", "text", second, 1, "Please check your readings"),
        Step("confirm", "action", "rd:confirm", 1, "Receipt No."),
        Step("balance", "action", "bal", 1, "To pay"),
        Step("pay", "action", "pay", 2, "After paying"),
        Step("remove", "action", f"acc:del:{account_id}", 1, "Remove account"),
        Step("remove-ok", "action", f"acc:delok:{account_id}", 1, "is removed"),
    ]


class Resident:
    def __init__(self, api: BenchAPI, chat_id: int, account: tuple[int, str] | None) -> None:
        self.api, self.chat_id, self.account = api, chat_id, account
        self.cycle, self.queue = 0, []  # type: ignore[var-annotated]
        self.expected = 0
        self.got: list[tuple[float, str, str]] = []  # (time, method, text) of the current step
        self.done: asyncio.Future[float] | None = None
        self.unexpected = 0
        self.counter = 0

    def next_step(self) -> Step:
        if self.account is None:  # echo
            self.counter += 1
            return Step("echo", "text", f"hello {self.counter}", 1, "hello")
        if not self.queue:
            self.cycle += 1
            self.queue = cycle_steps(self.cycle, *self.account)
        return self.queue.pop(0)

    def arrived(self, moment: float, method: str, text: str) -> None:
        if self.done is None or self.done.done():
            self.unexpected += 1
            return
        self.got.append((moment, method, text))
        if len(self.got) >= self.expected:
            self.done.set_result(moment)

    async def do(self, step: Step) -> tuple[float, float]:
        """Push the step's update; (pushed at, last reply at) on the fake's clock."""
        self.expected, self.got = step.replies, []
        self.done = asyncio.get_running_loop().create_future()
        pushed = time.monotonic()
        if step.kind == "text":
            self.api.push_message(self.chat_id, step.value, "en")
        else:
            self.api.push_callback(self.chat_id, step.value, "en")
        answered = await asyncio.wait_for(self.done, STEP_TIMEOUT)
        return pushed, answered


class BenchAPI(FakeTelegramAPI):
    """The fake Bot API that forgets what it served (the tests' fake keeps every call) and hands each
    message straight to the resident it is for instead of waking every waiter."""

    def __init__(self) -> None:
        super().__init__()
        self.residents: dict[str, Resident] = {}
        self.requests = 0

    def _record(self, method: str, params: dict[str, Any], status: int = 200) -> None:
        self.requests += 1
        self._notify()

    def _remember(
        self, method: str, message: dict[str, Any], params: dict[str, Any], text: str | None, photo: Any
    ) -> None:
        resident = self.residents.get(str(message["chat"]["id"]))
        if resident is not None:
            resident.arrived(time.monotonic(), method, text or "")


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


async def run_phase(api: BenchAPI, spec: dict[str, Any]) -> dict[str, Any]:
    """Run the residents of one phase; figures over [start + warmup, start + warmup + seconds)."""
    api.updates.clear()
    accounts = [tuple(account) for account in spec.get("accounts") or []]
    residents = [
        Resident(api, spec["first_chat"] + index, accounts[index % len(accounts)] if accounts else None)  # type: ignore[arg-type]
        for index in range(spec["residents"])
    ]
    api.residents = {str(resident.chat_id): resident for resident in residents}
    loop = asyncio.get_running_loop()
    start = loop.time()
    begin, end = start + spec["warmup"], start + spec["warmup"] + spec["seconds"]
    interval = spec["residents"] / spec["rate"] if spec.get("rate") else 0.0
    latencies: dict[str, list[float]] = defaultdict(list)
    completed = lost = steps = 0
    cpu = time.process_time()
    requests = api.requests

    async def resident_loop(index: int, resident: Resident) -> None:
        nonlocal completed, lost, steps
        due = start + (interval * index / len(residents) if interval else 0.0)
        while True:
            if interval and due > loop.time():
                await asyncio.sleep(due - loop.time())
            if loop.time() >= end:
                return
            step = resident.next_step()
            try:
                pushed, answered = await resident.do(step)
            except TimeoutError:
                lost += 1
                return
            steps += 1
            if begin <= answered < end:
                completed += 1
            if begin <= pushed < end:
                latencies[step.label].append(answered - pushed)
            due = max(due + interval, loop.time()) if interval else due

    await asyncio.gather(*(resident_loop(i, r) for i, r in enumerate(residents)))
    window_cpu = time.process_time() - cpu
    every = [value for values in latencies.values() for value in values]
    return {
        "completed": completed,
        "steps": steps,
        "seconds": spec["seconds"],
        "rate": completed / spec["seconds"],
        "lost": lost,
        "unexpected": sum(r.unexpected for r in residents),
        "cycles": sum(max(r.cycle - 1, 0) for r in residents),
        "p50": percentile(every, 0.50),
        "p99": percentile(every, 0.99),
        "max": max(every, default=float("nan")),
        "labels": {
            label: [len(values), percentile(values, 0.5), percentile(values, 0.99)]
            for label, values in sorted(latencies.items())
        },
        "server_cpu": window_cpu / (loop.time() - start),
        "server_requests": api.requests - requests,
    }


async def calibrate(api: BenchAPI, spec: dict[str, Any]) -> list[str]:
    """One resident, two cycles, slowly: every step must get exactly its replies with its marker."""
    api.updates.clear()
    resident = Resident(api, spec["first_chat"], tuple(spec["accounts"][0]))  # type: ignore[arg-type]
    api.residents = {str(resident.chat_id): resident}
    problems: list[str] = []
    while resident.cycle < 3:
        step = resident.next_step()
        if resident.cycle == 3:
            break
        try:
            await resident.do(step)
        except TimeoutError:
            problems.append(f"cycle {resident.cycle} {step.label}: fewer than {step.replies} replies")
            break
        await asyncio.sleep(0.3)  # anything more that comes is one reply too many
        texts = [text for _, _, text in resident.got]
        if resident.unexpected:
            problems.append(f"cycle {resident.cycle} {step.label}: more than {step.replies} replies")
            resident.unexpected = 0
        if step.marker not in texts[-1]:
            problems.append(f"cycle {resident.cycle} {step.label}: {texts[-1][:80]!r} lacks {step.marker!r}")
    return problems


async def answer(api: BenchAPI, command: str) -> str:
    """The child's answer to a command (a JSON spec): calibrate, or run one phase."""
    spec = json.loads(command)
    if spec["cmd"] == "calibrate":
        result: Any = await calibrate(api, spec)
    else:
        result = await run_phase(api, spec)
    api.residents = {}
    gc.collect()
    return json.dumps(result)


class Driver(FakeAPIProcess):
    """The child process: fake Bot API + residents."""

    async def ask(self, spec: dict[str, Any]) -> Any:
        line = await asyncio.get_running_loop().run_in_executor(None, self.command, json.dumps(spec))
        return json.loads(line)


# --- the bots (this process) ----------------------------------------------------------------------


def bench_config(base_url: str) -> Any:
    from domain.config import parse_config

    return parse_config(
        {
            "telegram": {"token": TOKEN, "api_base_url": base_url, "polling_timeout": 10},
            "bot": {"default_locale": "uk", "timezone": "Europe/Kyiv", "max_verification_failures": 3},
            "providers": [
                {
                    "id": "teplo",
                    "name": {"uk": "Теплокомуненерго", "en": "City Heating"},
                    "timezone": "Europe/Kyiv",
                    "verification": "last_payment",
                    "reading_window": {"from_day": 1, "to_day": -1},  # always open
                    "hotline": "+380 44 000 00 00",
                    "payment_links": [
                        {"title": {"en": "Pay online"}, "url": "https://pay.example/?a={account}&s={amount}"}
                    ],
                    "payment_qr": {
                        "standard": "nbu",
                        "name": "КП Теплокомуненерго",
                        "iban": "UA223052990000026001234567890",
                        "code": "40538421",
                        "purpose": "Опалення, о/р {account}, {period}",
                    },
                }
            ],
        },
        environ={},
    )


async def seed_accounts(db: Any, count: int) -> list[tuple[int, str]]:
    """``count`` accounts of teplo with two manual meters, charges and a payment each."""
    from sqlalchemy import insert, select

    from storage.models import Account, Charge, Meter, Payment

    now = datetime.now(UTC)
    numbers = [f"7{index:06d}" for index in range(count)]
    async with db.unit_of_work() as uow:
        await uow.session.execute(
            insert(Account),
            [
                {
                    "provider_id": "teplo",
                    "number": number,
                    "address": f"вул. Шевченка, {index % 200 + 1}, кв. {index % 150 + 1}",
                    "holder": "Шевченко Тарас Григорович",
                    "balance": Decimal("1520.40"),
                    "due_date": date(2026, 12, 15),
                    "last_payment_amount": Decimal("100.00"),
                    "last_payment_date": date(2026, 10, 10),
                    "updated_at": now,
                }
                for index, number in enumerate(numbers)
            ],
        )
        rows = (await uow.session.execute(select(Account.id, Account.number).order_by(Account.id))).all()
        ids = [row.id for row in rows]
        meters = [
            {
                "account_id": account_id,
                "serial": f"M{account_id}-{kind}",
                "kind": kind,
                "zone": "",
                "unit": "m3",
                "last_value": METER_START,
                "last_date": date(2026, 10, 22),
                "max_monthly_delta": Decimal("1000"),
                "precision": 3,
                "automatic": False,
            }
            for account_id in ids
            for kind in ("hot_water", "cold_water")
        ]
        await uow.session.execute(insert(Meter), meters)
        charges = [
            {"account_id": account_id, "period": "2026-10", "service": service, "amount": Decimal(amount)}
            for account_id in ids
            for service, amount in (("Heating", "1200.00"), ("Hot water", "320.40"))
        ]
        await uow.session.execute(insert(Charge), charges)
        payments = [
            {
                "account_id": account_id,
                "paid_on": date(2026, 10, 10),
                "amount": Decimal("100.00"),
                "channel": "bank",
            }
            for account_id in ids
        ]
        await uow.session.execute(insert(Payment), payments)
        await uow.commit()
    return [(row.id, row.number) for row in rows]


class EchoBot:
    """The baseline: aiogram's Dispatcher with one handler answering every text with itself."""

    def __init__(self, base_url: str) -> None:
        from aiogram import Bot, Dispatcher
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer
        from aiogram.types import Message

        self.bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(base_url)))
        self.dp = Dispatcher()

        @self.dp.message()
        async def echo(message: Message) -> None:
            await message.answer(message.text or "")

        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> EchoBot:
        self.task = asyncio.create_task(
            self.dp.start_polling(self.bot, handle_signals=False, polling_timeout=10, close_bot_session=True)
        )
        await asyncio.sleep(0.5)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.dp.stop_polling()
        assert self.task is not None
        await asyncio.wait_for(self.task, 15)


class UtiliBot:
    """What ``utilibot run`` runs for Telegram: TelegramChannel + Engine on one database."""

    def __init__(self, config: Any, db: Any) -> None:
        from bot.channels.telegram import TelegramChannel
        from handlers.engine import Engine

        self.channel = TelegramChannel(config, Engine(config, db), db)
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> UtiliBot:
        await self.channel.start()
        self.task = asyncio.create_task(self.channel.run(self.stop))
        await asyncio.wait_for(self.channel.ready.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 20)


# --- phases and the report ------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    figures: dict[str, Any]
    cpu: float  # this process's CPU share of one core during the phase
    offered: float | None = None
    statements: float | None = None  # SQL statements per update
    others: float = 0.0  # cores busy with other processes of the machine during the phase
    begin_wait: float | None = None  # seconds per update waiting in BEGIN IMMEDIATE (SQLite)
    notes: list[str] = field(default_factory=list)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.seconds = 5 if args.quick else args.seconds
        self.warmup = 1 if args.quick else 3
        self.next_chat = 200_000_000
        self.phases: list[Phase] = []
        self.statements = 0  # SQL statements the bot ran (counted while a utilibot phase runs)
        self.begin_wait = 0.0  # seconds spent in SQLite's BEGIN IMMEDIATE (waiting for the write lock)

    def chats(self) -> int:
        first, self.next_chat = self.next_chat, self.next_chat + 1_000_000
        return first

    async def phase(
        self, driver: Driver, name: str, accounts: list[tuple[int, str]] | None, rate: float | None = None
    ) -> Phase:
        spec = {
            "cmd": "phase",
            "residents": self.args.residents,
            "first_chat": self.chats(),
            "seconds": self.seconds,
            "warmup": self.warmup,
            "rate": rate,
            "accounts": accounts,
        }
        cpu, wall, statements, begin_wait = (
            time.process_time(),
            time.monotonic(),
            self.statements,
            self.begin_wait,
        )
        ticks = cpu_ticks()
        figures = await driver.ask(spec)
        phase = Phase(name, figures, (time.process_time() - cpu) / (time.monotonic() - wall), rate)
        phase.others = others_cores(ticks, cpu_ticks(), phase.cpu + figures["server_cpu"])
        if accounts is not None:
            phase.statements = (self.statements - statements) / max(figures["steps"], 1)
            phase.begin_wait = (self.begin_wait - begin_wait) / max(figures["steps"], 1)
        self.phases.append(phase)
        report(phase, self.phases[0])
        return phase

    async def echo(self, driver: Driver) -> Phase:
        async with EchoBot(driver.base_url):
            return await self.phase(driver, "echo bot (baseline), saturation", None)

    async def utilibot(self, driver: Driver, label: str, url: str, echo: Phase, profile: bool) -> None:
        from sqlalchemy import event

        from storage.database import Database
        from storage.migrate import upgrade

        db = Database(url)

        def before(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            self.statements += 1
            conn.info["bench_started"] = time.perf_counter()

        def after(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            if statement.startswith("BEGIN"):  # SQLite: waiting for the write lock
                self.begin_wait += time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())

        event.listen(db.engine.sync_engine, "before_cursor_execute", before)
        event.listen(db.engine.sync_engine, "after_cursor_execute", after)
        try:
            await upgrade(db)
            accounts = await seed_accounts(db, self.args.residents + 1)
            config = bench_config(driver.base_url)
            gc.collect()
            gc.freeze()  # as `utilibot run` does once the delivery loop starts
            async with UtiliBot(config, db):
                problems = await driver.ask(
                    {"cmd": "calibrate", "first_chat": self.chats(), "accounts": accounts[-1:]}
                )
                if problems:
                    raise SystemExit("the flow does not go as scripted:\n  " + "\n  ".join(problems))
                flows = accounts[:-1]
                saturated = await self.phase(driver, f"utilibot on {label}, saturation", flows)
                goal = PACED_SHARE * echo.figures["rate"]
                if goal <= 0.95 * saturated.figures["rate"]:
                    await self.phase(driver, f"utilibot on {label}, paced at the goal's load", flows, goal)
                else:
                    print(
                        f"    the goal's load ({goal:.0f}/s = {PACED_SHARE} × echo) is beyond this bot's "
                        f"maximum: paced at {' and '.join(map(str, FALLBACK_SHARES))} × its maximum instead",
                        flush=True,
                    )
                    for share in FALLBACK_SHARES:
                        rate = share * saturated.figures["rate"]
                        await self.phase(driver, f"utilibot on {label}, paced {share} × max", flows, rate)
                if profile:
                    await self.profile(driver, flows)
        finally:
            await db.dispose()

    async def profile(self, driver: Driver, accounts: list[tuple[int, str]]) -> None:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
        try:
            phase = await self.phase(driver, "utilibot on SQLite, saturation, PROFILED", accounts)
        finally:
            profiler.stop()
        phase.notes.append("profiled: slower than without the profiler")
        print_profile(profiler, self.args.profile_out)


def report(phase: Phase, baseline: Phase) -> None:
    f = phase.figures
    labels = f["labels"]
    confirm = labels.get("confirm")
    parts = [
        f"{phase.name:<46}",
        f"{f['rate']:8.1f} updates/s",
        f"ratio {f['rate'] / baseline.figures['rate']:.3f}",
        f"p50 {f['p50'] * 1000:7.1f} ms  p99 {f['p99'] * 1000:7.1f} ms",
    ]
    if confirm:
        parts.append(
            f"confirm p50 {confirm[1] * 1000:6.1f} ms p99 {confirm[2] * 1000:6.1f} ms (n={confirm[0]})"
        )
    if phase.offered:
        parts.append(f"offered {phase.offered:.0f}/s")
    if phase.statements is not None:
        parts.append(f"SQL {phase.statements:.1f}/update")
    if phase.begin_wait:
        parts.append(f"BEGIN wait {phase.begin_wait * 1000:.1f} ms/update")
    parts.append(f"bot CPU {phase.cpu * 100:.0f}%  fake CPU {f['server_cpu'] * 100:.0f}%")
    parts.append(f"others {phase.others:.2f} cores")
    if f["lost"] or f["unexpected"]:
        parts.append(f"LOST {f['lost']} UNEXPECTED {f['unexpected']}")
    print("  ".join(parts), flush=True)
    if phase.figures["labels"].keys() - {"echo"}:
        detail = ", ".join(
            f"{label} {values[1] * 1000:.0f}/{values[2] * 1000:.0f}" for label, values in labels.items()
        )
        print(f"    per step p50/p99 ms: {detail}", flush=True)


IDLE_FUNCTIONS = {"poll", "select", "epoll.poll", "select.epoll.poll"}


def _package(path: str | None) -> str | None:
    """'sqlalchemy', 'utilibot:handlers/readings', 'stdlib:asyncio' … None for built-in frames."""
    if not path or path.startswith("<"):
        return None
    path = path.replace("\\", "/")
    if "site-packages/" in path:
        return path.split("site-packages/")[1].split("/")[0].removesuffix(".py")
    if path.startswith(str(ROOT) + "/"):
        rel = path[len(str(ROOT)) + 1 :]
        return "utilibot:" + "/".join(rel.split("/")[:2]).removesuffix(".py")
    tail = path.split("/lib/python3")[-1].split("/")
    return "stdlib:" + (tail[1].removesuffix(".py") if len(tail) > 1 else path)


def print_profile(profiler: Any, out: str) -> None:
    """Where the bot's main thread spent its time: by package (time in C functions goes to the
    package that called them; waiting in epoll is 'idle'), by function, and inclusive per function
    of the project. SQLAlchemy's ORM runs inside greenlets, which the profiler shows as separate
    roots: their time counts to sqlalchemy, not to the project function that awaited them."""
    session = profiler.last_session
    root = session.root_frame()
    total = root.time if root is not None else 0.0
    by_package: dict[str, float] = defaultdict(float)
    by_function: dict[str, float] = defaultdict(float)
    inclusive: dict[str, float] = defaultdict(float)

    def walk(frame: Any, owner: str, ancestors: frozenset[str]) -> None:
        package = _package(frame.file_path)
        key = f"{frame.function} ({frame.file_path_short or ''}:{frame.line_no})"
        if frame.function in IDLE_FUNCTIONS and package is None:
            by_package["idle (waiting in epoll)"] += frame.time
            by_function["idle (waiting in epoll)"] += frame.time
            return
        self_time = frame.total_self_time
        by_package[package or owner] += self_time
        if package is None and frame.function == "[self]":
            key = f"[self] of {owner}"
        by_function[key] += self_time
        if package is not None and package.startswith("utilibot:") and key not in ancestors:
            inclusive[key] += frame.time
        for child in frame.children:
            if not child.is_synthetic:  # [self] / [await] frames: already in total_self_time
                walk(child, package or owner, ancestors | {key})

    if root is not None:
        walk(root, "(native)", frozenset())
    print(f"\n  profile: {total:.1f} s of the bot's main thread (wall clock, 0.5 ms samples)")
    print("  self time by package:")
    for name, seconds in sorted(by_package.items(), key=lambda item: -item[1])[:16]:
        print(f"    {seconds / total * 100:5.1f}%  {name}")
    print("  self time by function (top 25):")
    for name, seconds in sorted(by_function.items(), key=lambda item: -item[1])[:25]:
        print(f"    {seconds / total * 100:5.1f}%  {name}")
    print("  inclusive time of the project's functions (top 25; SQLAlchemy's greenlet work not included):")
    for name, seconds in sorted(inclusive.items(), key=lambda item: -item[1])[:25]:
        print(f"    {seconds / total * 100:5.1f}%  {name}")
    Path(out).write_text(profiler.output_text(unicode=True, color=False, show_all=True), encoding="utf-8")
    print(f"  full call tree: {out}\n", flush=True)


async def run(args: argparse.Namespace) -> None:
    bench = Bench(args)
    driver = Driver(__file__)
    try:
        print(
            f"{args.residents} residents, {bench.seconds} s per phase after a {bench.warmup} s warm-up, "
            f"fake Bot API in process {driver.process.pid}, bot in process {os.getpid()}",
            flush=True,
        )
        gc.collect()
        gc.freeze()
        echo = await bench.echo(driver)
        with tempfile.TemporaryDirectory() as workdir:
            if args.only in (None, "sqlite"):
                url = f"sqlite+aiosqlite:///{Path(workdir) / 'bench.db'}"
                await bench.utilibot(driver, "SQLite", url, echo, profile=not args.no_profile)
            if args.only in (None, "postgresql"):
                from tests.pg import create_database, drop_database

                try:
                    pg_url = await create_database(args.pg_url, "utilibot_bench")
                except Exception as error:
                    print(f"PostgreSQL skipped: {error!s:.160}", flush=True)
                else:
                    try:
                        await bench.utilibot(driver, "PostgreSQL", pg_url, echo, profile=False)
                    finally:
                        await drop_database(args.pg_url, pg_url)
    finally:
        driver.close()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nbot process peak RSS {rss:.0f} MB", flush=True)
    summary(bench.phases)


def summary(phases: list[Phase]) -> None:
    echo = phases[0].figures["rate"]
    print("\nsummary (goal: saturation ratio ≥ 0.5; paced p99 of a reading confirmation ≤ 50 ms):")
    for phase in phases:
        f = phase.figures
        confirm = f["labels"].get("confirm")
        verdicts = []
        if "saturation" in phase.name and phase is not phases[0] and "PROFILED" not in phase.name:
            verdicts.append("ratio goal " + ("met" if f["rate"] / echo >= 0.5 else "NOT met"))
        if "paced" in phase.name and confirm:
            verdicts.append("latency goal " + ("met" if confirm[2] <= 0.050 else "NOT met"))
        line = f"  {phase.name:<46} {f['rate']:8.1f}/s  ratio {f['rate'] / echo:.3f}"
        line += f"  p99 {f['p99'] * 1000:.1f} ms"
        if confirm:
            line += f"  confirm p99 {confirm[2] * 1000:.1f} ms"
        print(line + ("  — " + ", ".join(verdicts) if verdicts else ""))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="5 s per phase instead of --seconds")
    parser.add_argument("--seconds", type=int, default=20, help="measured seconds per phase (default 20)")
    parser.add_argument("--residents", type=int, default=RESIDENTS, help="concurrent chats (default 200)")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one database only")
    parser.add_argument("--no-profile", action="store_true", help="skip the profiled run")
    parser.add_argument("--pg-url", help="default: $UTILIBOT_TEST_PG_URL or the local postgres")
    parser.add_argument(
        "--profile-out",
        default=str(Path(tempfile.gettempdir()) / "utilibot-throughput-profile.txt"),
        help="where the profiled run's call tree is written",
    )
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve_fake_api(BenchAPI, answer))
        return
    from tests.pg import default_admin_url

    args.pg_url = args.pg_url or default_admin_url()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
