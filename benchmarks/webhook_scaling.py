"""Webhook scaling benchmark: updates per second through 1, 2 and 4 `utilibot run --role web`
processes on one PostgreSQL database, with the CPU each part of the system used.

What runs, all on this machine:

* N web processes (``python -m bot run --role web``), each on its own port, on one fresh
  PostgreSQL database (created for the run and dropped after) with the demo providers and accounts;
* the fake Bot API (tests/fakes/telegram_api.py) in a child process: the bot's replies and button
  answers go there;
* this process as Telegram behind a load balancer: ``--concurrency`` chats at a time, each sending
  its updates one after another (as Telegram does), each update to a random web process, with the
  secret header. Each chat goes through the 5-update account-binding conversation (/start, two
  button presses, the account number, the verification fact): per update one inbox insert, one
  engine transaction with the chat row lock, one reply (plus a button answer for presses).

Measured per configuration, after a warm-up: updates/s = updates / (last answer − first post),
the latency of each webhook call (p50, p99), and CPU seconds (user + system, from /proc) of the
web processes, of PostgreSQL's processes, of the fake API and of this load generator, plus how busy
the whole machine was (from /proc/stat). The scaling ratio is updates/s against 1 process.

    python benchmarks/webhook_scaling.py                       # 1, 2 and 4 processes, 600 chats each
    python benchmarks/webhook_scaling.py --processes 1 2 --chats 200
    python benchmarks/webhook_scaling.py --repeat 3    # interleaved; also prints the best of each
    UTILIBOT_TEST_PG_URL=postgresql+asyncpg://user:pw@host/postgres python benchmarks/webhook_scaling.py

On a 2-core machine the processes compete with PostgreSQL, the fake API and the load generator for
the same two cores, so the ratio shows where the CPU goes rather than how far the bot scales.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from benchmarks._support import FakeAPIProcess, busy_share, cpu_ticks, serve_fake_api  # noqa: E402
from bot.channels.telegram import SECRET_HEADER  # noqa: E402
from domain.config import load_config  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.importer import import_csv  # noqa: E402
from tests.fakes.telegram_api import BOT_ID, BOT_USERNAME, TOKEN, FakeTelegramAPI, free_port  # noqa: E402
from tests.pg import create_database, default_admin_url, drop_database, migrate, truncate_all  # noqa: E402

DEMO = ROOT / "bot" / "demo"
SECRET = "benchmark-secret"
PATH = "/telegram"
CONVERSATION = [
    ("text", "/start"),
    ("action", "acc:add"),
    ("action", "accp:teplo"),
    ("text", "1001001"),
    ("text", "1234.50"),
]
TICK = os.sysconf("SC_CLK_TCK")


# --- the fake Bot API in its own process ----------------------------------------------------------


async def forget_calls(api: FakeTelegramAPI, command: str) -> str | None:
    """The child's answer to 'forget': it drops the calls it keeps (its CPU is measured from outside)."""
    if command != "forget":
        return None
    api.calls.clear()
    api.sent.clear()
    return "ok"


class FakeServer(FakeAPIProcess):
    def forget(self) -> None:
        self.command("forget")


# --- CPU accounting from /proc --------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    pids.append(int(entry.name))
    return pids


@dataclass
class CpuSnapshot:
    web: dict[int, float]
    postgres: dict[int, float]
    fake: float
    generator: float
    machine: tuple[int, int]

    @classmethod
    def take(cls, web_pids: list[int], fake_pid: int) -> CpuSnapshot:
        times = os.times()
        return cls(
            web={pid: cpu_seconds(pid) for pid in web_pids},
            postgres={pid: cpu_seconds(pid) for pid in postgres_pids()},
            fake=cpu_seconds(fake_pid),
            generator=times.user + times.system,
            machine=cpu_ticks(),
        )


@dataclass
class CpuUse:
    web: float
    postgres: float
    fake: float
    generator: float
    machine_busy: float  # fraction of all cores

    def others(self, seconds: float) -> float:
        """Cores used by processes outside the benchmark (other work on a shared machine)."""
        ours = self.web + self.postgres + self.fake + self.generator
        return self.machine_busy * (os.cpu_count() or 1) - ours / seconds

    @classmethod
    def between(cls, before: CpuSnapshot, after: CpuSnapshot) -> CpuUse:
        return cls(
            web=sum(after.web[pid] - before.web.get(pid, 0.0) for pid in after.web),
            postgres=sum(seconds - before.postgres.get(pid, 0.0) for pid, seconds in after.postgres.items()),
            fake=after.fake - before.fake,
            generator=after.generator - before.generator,
            machine_busy=busy_share(before.machine, after.machine),
        )


# --- the load: Telegram behind a load balancer ----------------------------------------------------


def update(update_id: int, chat: int, kind: str, value: str) -> dict[str, Any]:
    user = {"id": chat, "is_bot": False, "first_name": "Bench", "language_code": "en"}
    chat_object = {"id": chat, "type": "private", "first_name": "Bench"}
    if kind == "text":
        message = {"message_id": update_id, "date": int(time.time()), "chat": chat_object, "from": user}
        return {"update_id": update_id, "message": {**message, "text": value}}
    bot = {"id": BOT_ID, "is_bot": True, "first_name": "Utilibot", "username": BOT_USERNAME}
    shown = {"message_id": update_id, "date": int(time.time()), "chat": chat_object, "from": bot}
    query = {"id": f"cb{update_id}", "from": user, "chat_instance": f"ci{chat}", "message": shown}
    return {"update_id": update_id, "callback_query": {**query, "data": value}}


@dataclass
class Load:
    urls: list[str]
    latencies: list[float] = field(default_factory=list)
    failures: int = 0

    async def run(self, first_chat: int, chats: int, concurrency: int, first_update: int) -> int:
        """Every chat's conversation, ``concurrency`` chats at a time; returns the updates sent."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(chats):
            queue.put_nowait(index)
        rng = random.Random(first_chat)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def lane() -> None:
                while not queue.empty():
                    index = queue.get_nowait()
                    for step, (kind, value) in enumerate(CONVERSATION):
                        body = update(first_update + step * chats + index, first_chat + index, kind, value)
                        await self.post(session, rng.choice(self.urls), body)

            await asyncio.gather(*(lane() for _ in range(concurrency)))
        return chats * len(CONVERSATION)

    async def post(self, session: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> None:
        began = time.perf_counter()
        for _ in range(5):
            async with session.post(url, json=body, headers={SECRET_HEADER: SECRET}) as response:
                await response.read()
                if response.status == 200:
                    self.latencies.append(time.perf_counter() - began)
                    return
            self.failures += 1
            await asyncio.sleep(0.1)
        raise RuntimeError(f"update {body['update_id']} was never acknowledged")


# --- one configuration ----------------------------------------------------------------------------


@dataclass
class Result:
    processes: int
    updates: int
    seconds: float
    cpu: CpuUse
    p50: float
    p99: float
    failures: int

    @property
    def rate(self) -> float:
        return self.updates / self.seconds


def write_config(path: Path, db_url: str, api_url: str, port: int) -> Path:
    demo = (DEMO / "config.toml").read_text(encoding="utf-8")
    path.write_text(
        f'[database]\nurl = "{db_url}"\n\n[telegram]\napi_base_url = "{api_url}"\nmode = "webhook"\n'
        f'webhook_url = "https://bot.example.test{PATH}"\nwebhook_secret = "{SECRET}"\n'
        f'listen = "127.0.0.1:{port}"\n\n{demo}',
        encoding="utf-8",
    )
    return path


async def prepare(db: Database, config_path: Path) -> None:
    await truncate_all(db)
    config = load_config(str(config_path))
    await import_csv(db, config, "accounts", DEMO / "accounts.csv")


async def start_web(
    count: int, db_url: str, api_url: str, workdir: Path
) -> tuple[list[subprocess.Popen[bytes]], list[int]]:
    """Start ``count`` web processes on ports of their own; returns them once all listen."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("UTILIBOT_")}
    environment["UTILIBOT_TELEGRAM_TOKEN"] = TOKEN
    processes, ports = [], []
    for index in range(count):
        port = free_port()
        config = write_config(workdir / f"web{index}.toml", db_url, api_url, port)
        log = (workdir / f"web{index}.log").open("wb")
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--role", "web", "-c", str(config)],
                cwd=ROOT,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        ports.append(port)
    deadline = time.monotonic() + 120
    for index, port in enumerate(ports):
        while f"webhook listening on 127.0.0.1:{port}" not in (workdir / f"web{index}.log").read_text():
            if processes[index].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((workdir / f"web{index}.log").read_text())
            await asyncio.sleep(0.1)
    return processes, ports


def stop_web(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(30)


async def scenario(
    count: int, db: Database, server: FakeServer, chats: int, concurrency: int, workdir: Path
) -> Result:
    folder = workdir / f"{count}-processes"
    folder.mkdir()
    await prepare(db, write_config(folder / "import.toml", db.url, server.base_url, 1))
    processes, ports = await start_web(count, db.url, server.base_url, folder)
    try:
        urls = [f"http://127.0.0.1:{port}{PATH}" for port in ports]
        await Load(urls).run(1_000_000, min(100, chats), concurrency, 1)  # warm-up: pools, caches
        server.forget()
        load = Load(urls)
        before = CpuSnapshot.take([p.pid for p in processes], server.process.pid)
        began = time.perf_counter()
        updates = await load.run(2_000_000, chats, concurrency, 1_000_000)
        seconds = time.perf_counter() - began
        after = CpuSnapshot.take([p.pid for p in processes], server.process.pid)
    finally:
        stop_web(processes)
    ordered = sorted(load.latencies)
    return Result(
        processes=count,
        updates=updates,
        seconds=seconds,
        cpu=CpuUse.between(before, after),
        p50=statistics.median(ordered),
        p99=ordered[int(len(ordered) * 0.99) - 1],
        failures=load.failures,
    )


def report(result: Result, baseline: Result) -> None:
    cpu = result.cpu
    print(
        f"{result.processes} web process(es): {result.updates} updates in {result.seconds:5.1f} s = "
        f"{result.rate:6.1f} updates/s  scaling ×{result.rate / baseline.rate:.2f}  "
        f"latency p50 {result.p50 * 1000:5.1f} ms p99 {result.p99 * 1000:6.1f} ms  "
        f"CPU s: web {cpu.web:5.1f} ({cpu.web / result.seconds:.2f} cores), "
        f"PostgreSQL {cpu.postgres:5.1f}, fake API {cpu.fake:4.1f}, load generator {cpu.generator:4.1f}; "
        f"web CPU ms/update {cpu.web / result.updates * 1000:.2f}; "
        f"machine busy {cpu.machine_busy:.0%} of {os.cpu_count()} cores "
        f"(other processes {max(cpu.others(result.seconds), 0.0):.2f} cores)"
        + (f"; retried {result.failures}" if result.failures else ""),
        flush=True,
    )


async def run(admin_url: str, counts: list[int], chats: int, concurrency: int, repeat: int) -> list[Result]:
    url = await create_database(admin_url, "utilibot_bench")
    await migrate(url)
    server = FakeServer(__file__)
    results: list[Result] = []
    db = Database(url)
    print(
        f"{chats} chats x {len(CONVERSATION)} updates per configuration, {concurrency} chats at a time; "
        f"{os.cpu_count()} CPU cores; PostgreSQL {make_url(admin_url).host}",
        flush=True,
    )
    try:
        with tempfile.TemporaryDirectory() as workdir:
            for round_ in range(repeat):
                for count in counts:
                    folder = Path(workdir) / f"round{round_}"
                    folder.mkdir(exist_ok=True)
                    result = await scenario(count, db, server, chats, concurrency, folder)
                    results.append(result)
                    report(result, results[0])
        if repeat > 1:
            print("best of each (the least disturbed run):", flush=True)
            best = {
                count: max((r for r in results if r.processes == count), key=lambda r: r.rate)
                for count in counts
            }
            for count in counts:
                report(best[count], best[counts[0]])
    finally:
        await db.dispose()
        server.close()
        await drop_database(admin_url, url)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4], help="web process counts")
    parser.add_argument("--chats", type=int, default=600, help="chats per configuration (5 updates each)")
    parser.add_argument("--concurrency", type=int, default=64, help="chats in flight at a time")
    parser.add_argument(
        "--repeat", type=int, default=1, help="run the configurations this many times, interleaved"
    )
    parser.add_argument(
        "--pg-url",
        default=default_admin_url(),
        help="an admin URL; a database is created for the run and dropped after "
        "(default: $UTILIBOT_TEST_PG_URL or %(default)s)",
    )
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve_fake_api(FakeTelegramAPI, forget_calls))
        return
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args.pg_url, args.processes, args.chats, args.concurrency, args.repeat))


if __name__ == "__main__":
    main()
