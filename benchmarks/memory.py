"""Memory benchmark: bytes per idle chat in the database, and per active conversation in the process.

1. Database, per idle chat: 100,000 chats rows as the engine leaves them after /start (locale set,
   no step, empty state data, no preferences) are inserted into a migrated database; reported is
   the growth of the SQLite file (after a WAL checkpoint) and, when PostgreSQL is reachable, of
   the chats table with its indexes and TOAST (pg_total_relation_size) in a fresh database that
   is dropped afterwards — per chat, and as a ratio to the baseline: the bytes of the row's own
   values (what any storage has to keep).
2. Process, per active conversation: N chats (default 10,000) are driven through the real Engine
   on SQLite, 200 at a time concurrently: first /start only (idle: the baseline), then each binds
   an account and starts a readings pass, stopping in the middle of it (asked for meter 2 of 2).
   Reported: the growth of this process's RSS and of Python's allocated blocks per chat for the
   idle and for the mid-flow conversations, after a warm-up of 500 chats through the whole flow
   (so that caches that fill once — compiled SQL, translations — are not counted), and the growth
   of the database file per mid-flow conversation (its step data, binding, verification attempt).

    python benchmarks/memory.py                       # 100,000 idle chats, 10,000 conversations
    python benchmarks/memory.py --chats 20000 --conversations 2000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._support import sqlite_bytes  # noqa: E402
from benchmarks.throughput import bench_config, cycle_steps, seed_accounts  # noqa: E402
from handlers.types import Incoming  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.migrate import upgrade  # noqa: E402
from tests.pg import create_database, default_admin_url, drop_database  # noqa: E402

FIRST_CHAT_KEY = 300_000_000
CONCURRENCY = 200
LOCALES = ("uk", "ru", "en", "zh")


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def settle() -> tuple[int, int]:
    """(RSS, Python's allocated blocks) after a full collection."""
    gc.collect()
    return rss_bytes(), sys.getallocatedblocks()


# --- 1. the database --------------------------------------------------------------------------------


def idle_rows(start: int, count: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {
            "channel": "telegram",
            "chat_key": str(FIRST_CHAT_KEY + index),
            "user_key": str(FIRST_CHAT_KEY + index),
            "locale": LOCALES[index % 4],
            "state": "",
            "state_data": {},
            "notifications": {},
            "active": True,
            "created_at": now,
            "updated_at": now,
        }
        for index in range(start, start + count)
    ]


def data_bytes(row: dict[str, Any]) -> int:
    """The bytes of a row's own values: text as UTF-8, JSON as its text, 8 per number and datetime."""
    total = 8  # the id
    for value in row.values():
        if isinstance(value, str):
            total += len(value.encode())
        elif isinstance(value, dict):
            total += len(json.dumps(value))
        else:
            total += 8 if not isinstance(value, bool) else 1
    return total


async def insert_chats(db: Database, count: int) -> None:
    from sqlalchemy import insert

    from storage.models import Chat

    for start in range(0, count, 10_000):
        async with db.unit_of_work() as uow:
            await uow.session.execute(insert(Chat), idle_rows(start, min(10_000, count - start)))
            await uow.commit()


async def database_per_chat(workdir: Path, count: int, pg_admin: str) -> None:
    baseline = data_bytes(idle_rows(0, 1)[0])
    path = workdir / "idle.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(db)
        before = sqlite_bytes(path)
        await insert_chats(db, count)
    finally:
        await db.dispose()
    per_chat = (sqlite_bytes(path) - before) / count
    print(
        f"idle chat in SQLite      {per_chat:7.1f} B/chat  "
        f"({per_chat * 100_000 / 1e6:6.1f} MB per 100k chats)  "
        f"ratio {per_chat / baseline:.2f} to the row's own {baseline} B of values",
        flush=True,
    )
    try:
        pg = await create_database(pg_admin, "utilibot_bench")
    except Exception:
        print("idle chat in PostgreSQL  skipped: not reachable", flush=True)
        return
    from sqlalchemy import text

    db = Database(pg)
    try:
        await upgrade(db)
        size = text("SELECT pg_total_relation_size('chats')")
        async with db.engine.connect() as connection:
            before = (await connection.execute(size)).scalar_one()
        await insert_chats(db, count)
        async with db.engine.connect() as connection:
            after = (await connection.execute(size)).scalar_one()
    finally:
        await db.dispose()
        await drop_database(pg_admin, pg)
    per_chat = (after - before) / count
    print(
        f"idle chat in PostgreSQL  {per_chat:7.1f} B/chat  "
        f"({per_chat * 100_000 / 1e6:6.1f} MB per 100k chats)  "
        f"ratio {per_chat / baseline:.2f} to the row's own {baseline} B of values (table + indexes + TOAST)",
        flush=True,
    )


# --- 2. the process ---------------------------------------------------------------------------------


async def say(engine: Any, chat: int, kind: str, value: str) -> list[Any]:
    text, action = (value, "") if kind == "text" else ("", value)
    return await engine.handle(Incoming("telegram", str(chat), str(chat), "en", kind, text, action))  # type: ignore[arg-type]


async def drive(engine: Any, chats: list[int], script: Any) -> None:
    """Run ``script(chat)`` (a list of steps) for every chat, CONCURRENCY chats at a time."""

    async def one(chat: int) -> None:
        for step in script(chat):
            await say(engine, chat, step.kind, step.value)

    for start in range(0, len(chats), CONCURRENCY):
        await asyncio.gather(*(one(chat) for chat in chats[start : start + CONCURRENCY]))


async def process_per_conversation(workdir: Path, count: int) -> None:
    from handlers.engine import Engine

    path = workdir / "conversations.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(db)
        warmup = 500
        accounts = await seed_accounts(db, count + warmup)
        engine = Engine(bench_config("http://127.0.0.1:9"), db)

        def full_cycle(chat: int) -> list[Any]:
            return cycle_steps(1, *accounts[chat - FIRST_CHAT_KEY])

        def start_only(chat: int) -> list[Any]:
            return cycle_steps(1, *accounts[chat - FIRST_CHAT_KEY])[:1]

        def to_mid_readings(chat: int) -> list[Any]:
            steps = cycle_steps(1, *accounts[chat - FIRST_CHAT_KEY])
            return steps[1 : [step.label for step in steps].index("value2")]  # add … value1

        started = time.perf_counter()
        await drive(engine, list(range(FIRST_CHAT_KEY + count, FIRST_CHAT_KEY + count + warmup)), full_cycle)
        rss0, blocks0 = settle()
        size0 = sqlite_bytes(path)
        chats = list(range(FIRST_CHAT_KEY, FIRST_CHAT_KEY + count))
        await drive(engine, chats, start_only)
        rss1, blocks1 = settle()
        size1 = sqlite_bytes(path)
        await drive(engine, chats, to_mid_readings)
        rss2, blocks2 = settle()
        size2 = sqlite_bytes(path)
        async with db.unit_of_work() as uow:
            from sqlalchemy import func, select

            from storage.models import Chat

            mid = await uow.session.execute(
                select(func.count()).where(
                    Chat.state == "rd:value", Chat.chat_key.in_([str(c) for c in chats])
                )
            )
            in_flow = mid.scalar_one()
        elapsed = time.perf_counter() - started
    finally:
        await db.dispose()
    if in_flow != count:
        raise SystemExit(f"only {in_flow} of {count} chats are in the middle of a readings pass")
    print(
        f"{count:,} conversations through the Engine "
        f"({count * 6 + warmup * 12:,} updates in {elapsed:.0f} s); "
        f"process RSS after warm-up {rss0 / 1e6:.0f} MB",
        flush=True,
    )
    print(
        f"idle, after /start (baseline)  process RSS {(rss1 - rss0) / count:+8.1f} B/chat  "
        f"Python blocks {(blocks1 - blocks0) / count:+6.2f}/chat  "
        f"database {(size1 - size0) / count:+7.1f} B/chat",
        flush=True,
    )
    print(
        f"mid-readings, beyond idle      process RSS {(rss2 - rss1) / count:+8.1f} B/chat  "
        f"Python blocks {(blocks2 - blocks1) / count:+6.2f}/chat  "
        f"database {(size2 - size1) / count:+7.1f} B/chat",
        flush=True,
    )


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as temp:
        workdir = Path(temp)
        print(
            f"Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        await database_per_chat(workdir, args.chats, args.pg_url)
        await process_per_conversation(workdir, args.conversations)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=100_000, help="idle chats for the database figure")
    parser.add_argument("--conversations", type=int, default=10_000, help="conversations in the process")
    parser.add_argument("--pg-url", default=default_admin_url())
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
