"""Load: 500 concurrent simulated residents through the engine — no error, no lost update, memory flat.

The CI version runs every resident once through a whole flow (bind, readings with Confirm, balance) and
takes about ten seconds; the full version keeps all 500 busy for 60 s and is opt-in:

    UTILIBOT_SLOW_TESTS=1 python -m pytest -q -m slow tests/reliability/test_load.py

"Memory flat" is the resident set size (VmRSS from /proc/self/status) after a warm-up round compared
with the end of the run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import pytest
from sqlalchemy import func, select

from domain.config import Config
from handlers.engine import Engine
from handlers.types import Incoming
from storage.database import Database
from storage.models import Binding, Reading
from tests.reliability.invariants import assert_sound
from tests.reliability.test_hostile_inputs import capture, clone, seed_all, walk

RESIDENTS = 500
SLOW_ENV = "UTILIBOT_SLOW_TESTS"

# account → (the fact, the values of its manual meters in the order the bot asks for them)
ACCOUNTS = {
    "1001001": ("1234.50", ["4600.5", "1240", "130.456"]),
    "1001002": ("980", ["130"]),
}


def rss_mb() -> float:
    """This process's resident set size in MB (Linux /proc; the peak from getrusage elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Resident:
    engine: Engine
    chat: str
    number: str
    errors: list[str]
    receipts: list[str] = field(default_factory=list)
    steps: int = 0
    latencies: list[float] = field(default_factory=list)

    async def step(self, expected: str, text: str = "", action: str = "") -> str:
        kind = "action" if action else "text"
        started = time.perf_counter()
        replies = await self.engine.handle(
            Incoming("telegram", self.chat, self.chat, "en", kind, text, action)
        )
        self.latencies.append(time.perf_counter() - started)
        self.steps += 1
        out = "\n".join(reply.text for reply in replies)
        if expected not in out:
            self.errors.append(f"{self.chat} {text or action!r}: expected {expected!r}, got {out[:120]!r}")
        return out

    async def bind(self) -> None:
        fact, _ = ACCOUNTS[self.number]
        await self.step("Which company", action="acc:add")
        await self.step("account number", action="accp:teplo")
        await self.step("To confirm it is yours", self.number)
        await self.step("is added", fact)

    async def submit(self) -> None:
        _, values = ACCOUNTS[self.number]
        await self.step("Meter 1 of", action="rd")
        for index, value in enumerate(values):
            last = index == len(values) - 1
            await self.step("Please check your readings" if last else f"Meter {index + 2} of", value)
        out = await self.step("Receipt No.", action="rd:confirm")
        if "Receipt No. " in out:
            self.receipts.append(out.split("Receipt No. ")[1].rstrip("."))

    async def look_around(self) -> None:
        await self.step("Account " + self.number, action="bal")
        await self.step("Accepted readings", action="rd:hist")


def residents(
    engine: Engine, count: int, errors: list[str], numbers: tuple[str, ...] = tuple(ACCOUNTS)
) -> list[Resident]:
    return [
        Resident(engine, f"load-{index:04d}", numbers[index % len(numbers)], errors) for index in range(count)
    ]


async def check_no_lost_update(db: Database, crowd: list[Resident], bindings: int) -> None:
    """Every confirmed summary is in the database whole, once; every binding is there."""
    async with db.unit_of_work() as uow:
        readings = int(await uow.session.scalar(select(func.count()).select_from(Reading)) or 0)
        receipts = int(await uow.session.scalar(select(func.count(func.distinct(Reading.receipt)))) or 0)
        bound = int(await uow.session.scalar(select(func.count()).select_from(Binding)) or 0)
    expected = sum(len(r.receipts) * len(ACCOUNTS[r.number][1]) for r in crowd)
    assert readings == expected, (readings, expected)
    assert receipts == sum(len(r.receipts) for r in crowd)
    assert bound == bindings, (bound, bindings)
    await assert_sound(db)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def errors_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


async def bound_chats(db: Database, engine: Engine, crowd: list[Resident]) -> None:
    """Put residents straight into the state after binding (a template chat per account, cloned)."""
    for number, (fact, _) in ACCOUNTS.items():
        script = [("action", "acc:add"), ("action", "accp:teplo"), ("text", number), ("text", fact)]
        await walk(engine, "telegram", f"template-{number}", script)
        template = await capture(db, "telegram", f"template-{number}")
        await clone(db, template, "telegram", [r.chat for r in crowd if r.number == number])


async def test_500_concurrent_residents_short(
    db: Database, config: Config, now: datetime, caplog: pytest.LogCaptureFixture
):
    """500 residents at once: 100 bind their account live while all 500 submit readings (the other 400
    start bound); about ten seconds on SQLite. The latencies printed show the unfairness the 60-second
    test fails on (p50 a few ms, p99 seconds)."""
    caplog.set_level(logging.ERROR)
    await seed_all(db)
    engine = Engine(config, db, lambda: now)
    errors: list[str] = []
    # The 400 that start bound have the one-meter account (fewer steps: the test stays near ten seconds).
    binding = residents(engine, RESIDENTS, errors)[:100]
    bound = residents(engine, RESIDENTS, errors, ("1001002",))[100:]
    crowd = binding + bound
    await bound_chats(db, engine, bound)
    started = time.perf_counter()

    async def bind_then_submit(resident: Resident) -> None:
        await resident.bind()
        await resident.submit()

    # Warm-up: a first wave (caches, compiled statements, the pool), then the RSS to compare with.
    await asyncio.gather(*(resident.submit() for resident in bound[:100]))
    warm = rss_mb()
    await asyncio.gather(*(bind_then_submit(r) for r in binding), *(r.submit() for r in bound[100:]))
    elapsed = time.perf_counter() - started
    grown = rss_mb() - warm

    assert not errors, f"{len(errors)} errors, e.g.\n  " + "\n  ".join(errors[:10])
    assert not errors_logged(caplog)
    assert all(len(resident.receipts) == 1 for resident in crowd)
    await check_no_lost_update(db, crowd, bindings=len(crowd) + len(ACCOUNTS))  # + the templates
    latencies = [latency for resident in crowd for latency in resident.latencies]
    steps = sum(resident.steps for resident in crowd)
    print(
        f"{RESIDENTS} residents, {steps} updates in {elapsed:.1f} s ({steps / elapsed:.0f}/s), "
        f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
        f"RSS {warm:.0f} MB after warm-up, {grown:+.1f} MB at the end"
    )
    assert grown < 40, f"RSS grew by {grown:.1f} MB"




@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get(SLOW_ENV) != "1",
    reason=f"the 60-second load test runs on demand: {SLOW_ENV}=1 python -m pytest -q -m slow "
    "tests/reliability/test_load.py",
)
@pytest.mark.timeout(400)
@pytest.mark.parametrize("any_db", ["sqlite", "postgresql"], indirect=True)
async def test_500_concurrent_residents_for_60_seconds(
    any_db: Database, config: Config, now: datetime, caplog: pytest.LogCaptureFixture
):
    db = any_db
    caplog.set_level(logging.ERROR)
    await seed_all(db)
    engine = Engine(config, db, lambda: now)
    errors: list[str] = []
    crowd = residents(engine, RESIDENTS, errors)
    await bound_chats(db, engine, crowd)
    duration, warm_up = 60.0, 10.0
    began = time.monotonic()
    deadline = began + duration
    samples: list[tuple[float, float]] = []
    first_error: list[float] = []

    async def live(resident: Resident) -> None:
        while time.monotonic() < deadline:
            await resident.submit()
            await resident.look_around()
            if errors and not first_error:
                first_error.append(time.monotonic() - began)

    async def sample() -> None:
        while time.monotonic() < deadline:
            samples.append((time.monotonic() - began, rss_mb()))
            await asyncio.sleep(2)

    await asyncio.gather(sample(), *(live(resident) for resident in crowd))
    steps = sum(resident.steps for resident in crowd)
    latencies = [latency for resident in crowd for latency in resident.latencies]
    confirmations = Counter(len(resident.receipts) for resident in crowd)
    after_warm_up = [rss for moment, rss in samples if moment >= warm_up]
    grown = max(after_warm_up) - after_warm_up[0]
    print(
        f"{db.dialect}: {RESIDENTS} residents for {duration:.0f} s: {steps} updates "
        f"({steps / duration:.0f}/s), "
        f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
        f"max {max(latencies):.1f} s; {len(errors)} wrong answers (first after {first_error or '-'} s); "
        f"confirmations per resident {sorted(confirmations.items())[:5]}...; RSS {after_warm_up[0]:.0f} MB "
        f"after warm-up, max {max(after_warm_up):.0f} MB"
    )
    assert not errors, f"{len(errors)} errors, e.g.\n  " + "\n  ".join(errors[:10])
    assert not errors_logged(caplog)
    await check_no_lost_update(db, crowd, bindings=len(crowd) + len(ACCOUNTS))
    assert min(len(resident.receipts) for resident in crowd) >= 1
    assert grown < 50, f"RSS grew by {grown:.1f} MB after the warm-up: {samples}"
