"""Delivery-rate benchmark: achieved rate / configured rate, and CPU per 1,000 messages.

Runs the real delivery loop (aiogram Bot, SQLite outbox, the rate limiter) in this process against
the fake Bot API in a separate process on 127.0.0.1, which timestamps every call it receives. The
achieved rate is measured from those timestamps: (calls - 1) / (last - first). Scenarios (each
~20 s of sending): 30 msg/s with 600 recipients (the 30/s baseline, scaled down in size so it
still takes 20 s), 300 msg/s with 6,000, and 1000 msg/s with 20,000 recipients. Also reported:
the busiest 1-second window seen by the server (must never exceed the configured rate) and CPU
seconds of this process per 1,000 messages (the fake server's CPU is not counted).

    python benchmarks/delivery_rate.py            # all three scenarios
    python benchmarks/delivery_rate.py --quick    # 5 s each
    python benchmarks/delivery_rate.py --only 1000

Goal: ratio >= 0.97 at 1000 msg/s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from benchmarks._support import FakeAPIProcess, serve_fake_api  # noqa: E402
from bot.channels.telegram_sender import TelegramSender  # noqa: E402
from scheduler.delivery import DeliveryLoop, DeliverySettings, in_flight_window  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from storage.models import Chat  # noqa: E402
from storage.repositories.broadcasts import Audience  # noqa: E402
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI  # noqa: E402

FIRST_CHAT = 10_000_000
SCENARIOS = {30: 600, 300: 6_000, 1000: 20_000}  # rate → recipients (20 s of sending each)


# --- the fake Bot API in its own process ----------------------------------------------------------


async def dump_calls(api: FakeTelegramAPI, command: str) -> str:
    """The child's answer to any command: the sendMessage call times so far; then it forgets them."""
    calls = [(call.time, str(call.params.get("chat_id")), call.status) for call in api.calls]
    api.calls.clear()
    api.sent.clear()
    return json.dumps(calls)


class FakeServer(FakeAPIProcess):
    def dump(self) -> list[tuple[float, str, int]]:
        return [tuple(call) for call in json.loads(self.command("dump"))]  # type: ignore[misc]


# --- one scenario ---------------------------------------------------------------------------------


@dataclass
class Result:
    rate: int
    recipients: int
    achieved: float
    busiest_window: int
    cpu_per_1000: float
    repeats: int
    seconds: float

    @property
    def ratio(self) -> float:
        return self.achieved / self.rate


async def prepare(db: Database, recipients: int) -> None:
    await upgrade(db)
    rows = [
        {
            "channel": "telegram",
            "chat_key": str(FIRST_CHAT + index),
            "user_key": "",
            "locale": "uk",
            "state": "",
            "state_data": {},
            "notifications": {},
            "active": True,
        }
        for index in range(recipients)
    ]
    async with db.unit_of_work() as uow:
        for start in range(0, len(rows), 5000):
            await uow.session.execute(insert(Chat), rows[start : start + 5000])
        now = datetime.now(UTC)
        broadcast = await uow.broadcasts.create(
            created_by="benchmark",
            texts={"uk": "Планове відключення гарячої води завтра з 10:00 до 14:00."},
            default_locale="uk",
            audience=Audience(),
            emergency=True,  # not held by quiet hours, whenever the benchmark runs
            now=now,
        )
        await uow.broadcasts.queue(broadcast, now)
        await uow.commit()


async def deliver(db: Database, base_url: str, rate: int, recipients: int) -> float:
    """Run the loop until every row is final; returns this process's CPU seconds spent."""
    loop = DeliveryLoop(db, [TelegramSender(TOKEN, base_url, rate)], DeliverySettings(quiet_hours=None))
    stop = asyncio.Event()
    cpu = time.process_time()
    task = asyncio.create_task(loop.run(stop))
    while True:
        await asyncio.sleep(0.5)
        async with db.unit_of_work() as uow:
            broadcast = await uow.broadcasts.get(1)
        if broadcast is not None and broadcast.status == "done":
            break
        if task.done():
            task.result()
            raise RuntimeError("the delivery loop stopped early")
    stop.set()
    await task
    return time.process_time() - cpu


def busiest_window(times: list[float], window: float = 1.0) -> int:
    ordered = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(ordered):
        while ordered[start] < moment - window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def scenario(server: FakeServer, rate: int, recipients: int, workdir: Path) -> Result:
    db = Database(f"sqlite+aiosqlite:///{workdir / f'bench-{rate}.db'}")
    try:
        await prepare(db, recipients)
        cpu = await deliver(db, server.base_url, rate, recipients)
    finally:
        await db.dispose()
    calls = server.dump()
    times = sorted(moment for moment, _, _ in calls)
    delivered = Counter(chat for _, chat, status in calls if status == 200)
    if len(delivered) != recipients:
        raise RuntimeError(f"{recipients - len(delivered)} recipients got nothing")
    seconds = times[-1] - times[0]
    return Result(
        rate=rate,
        recipients=recipients,
        achieved=(len(times) - 1) / seconds,
        busiest_window=busiest_window(times),
        cpu_per_1000=cpu / len(times) * 1000,
        repeats=sum(count - 1 for count in delivered.values()),
        seconds=seconds,
    )


async def run(selected: dict[int, int]) -> list[Result]:
    server = FakeServer(__file__)
    results = []
    try:
        with tempfile.TemporaryDirectory() as workdir:
            for rate, recipients in selected.items():
                result = await scenario(server, rate, recipients, Path(workdir))
                results.append(result)
                report(result, results[0])
    finally:
        server.close()
    return results


def report(result: Result, baseline: Result) -> None:
    print(
        f"rate {result.rate:>5}/s  recipients {result.recipients:>6}  sent in {result.seconds:6.1f} s  "
        f"achieved {result.achieved:8.2f}/s  ratio {result.ratio:.4f}  (vs {baseline.rate}/s baseline "
        f"{result.ratio / baseline.ratio:.4f})  busiest 1-s window {result.busiest_window:>5} "
        f"(limit {result.rate}, {'ok' if result.busiest_window <= result.rate else 'EXCEEDED'})  "
        f"CPU {result.cpu_per_1000:.3f} s/1000 msgs  repeats {result.repeats}  "
        f"in-flight window {in_flight_window(result.rate)}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="5 s per scenario instead of 20 s")
    parser.add_argument("--only", type=int, choices=sorted(SCENARIOS), help="one scenario")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve_fake_api(FakeTelegramAPI, dump_calls))
        return
    logging.basicConfig(level=logging.WARNING)
    selected = {rate: count // 4 if args.quick else count for rate, count in SCENARIOS.items()}
    if args.only:
        selected = {args.only: selected[args.only]}
    asyncio.run(run(selected))


if __name__ == "__main__":
    main()
