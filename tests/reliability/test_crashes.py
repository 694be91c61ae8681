"""Crashes: kill -9 during an import and during reading confirmations, failures and cancellation at
every point of a confirmation. The database stays consistent (no half rows, no half receipts), and
running the interrupted work again completes it.

The third crash of the issue — kill -9 in the middle of a broadcast, then resume: nobody skipped,
repeats within the in-flight window — is tests/test_broadcast_crash.py.
"""

from __future__ import annotations

import asyncio
import csv
import gc
import os
import signal
import sqlite3
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import event, func, select

from domain.config import Config
from domain.i18n import translator
from handlers.engine import Engine
from handlers.types import Incoming
from storage.database import Database
from storage.migrate import upgrade
from storage.models import Chat, Reading
from tests.reliability.invariants import assert_consistent, assert_sound, snapshot
from tests.reliability.test_hostile_inputs import clone, seed_all, templates

REPO = Path(__file__).resolve().parents[2]
BATCH = 1000  # the importer's batch size as `utilibot import` uses it
ROWS = 30_000
FIRST_NUMBER = 5_000_000
METERS_PER_ACCOUNT = 3  # the seeded account 1001001 has three manual meters (and a smart one)


# --- kill -9 during an import ---------------------------------------------------------------------


def account_row(index: int) -> list[str]:
    number = FIRST_NUMBER + index
    return [
        "teplo",
        str(number),
        f"вул. Тестова, {index % 300}, кв. {index % 97}",
        f"Прізвище{index} Ім'я По-батькові",
        f"{index % 5000}.{index % 100:02d}",
        "2026-12-15",
        f"{index % 900 + 1}.50",
        "2026-10-10",
    ]


def meter_row(index: int) -> list[str]:
    return ["teplo", str(FIRST_NUMBER + index), f"M-{index}", "hot_water", "", "m3", f"{index % 1000}.125",
            "2026-10-22", "30", "3", "false"]  # fmt: skip


def write_csv(path: Path, header: str, rows: Iterator[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header.split(","))
        writer.writerows(rows)


def count(path: Path, table: str) -> int:
    """Rows committed so far, read with a separate connection while the importer writes (WAL)."""
    try:
        with closing(sqlite3.connect(path, timeout=5)) as connection:
            return int(connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


METER_QUERY = """
    SELECT a.number, m.serial, m.kind, m.zone, m.unit, m.last_value, m.last_date, m.max_monthly_delta,
           m.precision, m.automatic
    FROM meters m JOIN accounts a ON a.id = m.account_id ORDER BY m.id
"""


def check_import(path: Path) -> tuple[int, int]:
    """No half rows: whole batches only, every row complete and exactly as in the CSV, the file order."""
    with closing(sqlite3.connect(path)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
        accounts = connection.execute(
            "SELECT number, address, holder, balance, due_date, last_payment_amount, last_payment_date, id"
            " FROM accounts ORDER BY id"
        ).fetchall()
        meters = connection.execute(METER_QUERY).fetchall()
    assert len(accounts) % BATCH == 0 or len(accounts) == ROWS, len(accounts)
    assert len(meters) % BATCH == 0 or len(meters) == ROWS, len(meters)
    for index, row in enumerate(accounts):
        expected = account_row(index)
        assert row[0] == expected[1] and row[1:3] == tuple(expected[2:4]), (index, row)
        assert Decimal(str(row[3])).quantize(Decimal("0.01")) == Decimal(expected[4]), (index, row)
        assert (str(row[4]), str(row[6])) == (expected[5], expected[7]), (index, row)
        assert Decimal(str(row[5])).quantize(Decimal("0.01")) == Decimal(expected[6]), (index, row)
    for index, row in enumerate(meters):
        expected = meter_row(index)
        assert row[:5] == (expected[1], expected[2], expected[3], expected[4], expected[5]), (index, row)
        assert Decimal(str(row[5])) == Decimal(expected[6]) and str(row[6]) == expected[7], (index, row)
        assert Decimal(str(row[7])) == Decimal(expected[8]) and (row[8], row[9]) == (3, 0), (index, row)
    return len(accounts), len(meters)


async def start_import(tmp_path: Path, name: str, config: Path, *files: str) -> asyncio.subprocess.Process:
    log = (tmp_path / f"{name}.log").open("wb")
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "import", "-c", str(config), *files,
        cwd=REPO, stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


async def kill_when(process: asyncio.subprocess.Process, path: Path, table: str, rows: int) -> int:
    """SIGKILL the importer once ``rows`` rows of ``table`` are committed; the count at the kill."""
    for _ in range(3000):
        if count(path, table) >= rows or process.returncode is not None:
            break
        await asyncio.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    assert await process.wait() == -signal.SIGKILL, "the import finished before it could be killed"
    return count(path, table)


async def test_kill_9_during_import_then_rerun_completes(tmp_path: Path):
    accounts, meters = tmp_path / "accounts.csv", tmp_path / "meters.csv"
    write_csv(
        accounts,
        "provider,account,address,holder,balance,due_date,last_payment_amount,last_payment_date",
        (account_row(index) for index in range(ROWS)),
    )
    write_csv(
        meters,
        "provider,account,meter_id,kind,zone,unit,last_value,last_date,max_monthly_delta,precision,automatic",
        (meter_row(index) for index in range(ROWS)),
    )
    database = tmp_path / "bot.db"
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{database}"\n[bot]\ndefault_locale = "en"\n'
        '[[providers]]\nid = "teplo"\nname = { en = "City Heating" }\n',
        encoding="utf-8",
    )
    files = ["--accounts", str(accounts), "--meters", str(meters)]

    # Killed while importing accounts, then again while importing meters.
    first = await start_import(tmp_path, "first", config, *files)
    killed_at = await kill_when(first, database, "accounts", ROWS // 5)
    imported, _ = check_import(database)
    assert 0 < imported < ROWS and imported == killed_at
    second = await start_import(tmp_path, "second", config, *files)
    await kill_when(second, database, "meters", ROWS // 5)
    log = (tmp_path / "second.log").read_text(encoding="utf-8")
    assert f"accounts: {ROWS - imported} inserted, 0 updated, 0 rejected" in log, log
    imported, meters_imported = check_import(database)
    assert imported == ROWS and 0 < meters_imported < ROWS

    url = f"sqlite+aiosqlite:///{database}"
    db = Database(url)
    try:
        await assert_sound(db)
        third = await start_import(tmp_path, "third", config, *files)
        assert await asyncio.wait_for(third.wait(), 60) == 0, (tmp_path / "third.log").read_text()
        log = (tmp_path / "third.log").read_text(encoding="utf-8")
        assert "accounts: 0 inserted, 0 updated, 0 rejected" in log, log
        assert f"meters: {ROWS - meters_imported} inserted, 0 updated, 0 rejected" in log, log
        assert check_import(database) == (ROWS, ROWS)
        await assert_sound(db)
    finally:
        await db.dispose()


# --- a reading confirmation interrupted -----------------------------------------------------------


CONFIRM = "rd:confirm"


async def at_summary(db: Database, engine: Engine, keys: list[str]) -> None:
    """New chats bound to 1001001, each with its own summary of the three meters waiting for Confirm."""
    template = (await templates(db, engine, ("summary",)))["summary"]
    assert len(template.data["meters"]) == METERS_PER_ACCOUNT
    await clone(db, template, "telegram", keys)


async def stored_per_chat(db: Database) -> dict[str, int]:
    async with db.unit_of_work() as uow:
        rows = await uow.session.execute(
            select(Chat.chat_key, func.count(Reading.id)).outerjoin(Reading, Reading.chat_id == Chat.id)
            .group_by(Chat.chat_key)
        )  # fmt: skip
        return {str(key): int(number) for key, number in rows}


def confirm(engine: Engine, key: str) -> Incoming:
    return Incoming("telegram", key, key, "en", "action", action=CONFIRM)


async def finish_and_check(db: Database, engine: Engine, keys: list[str]) -> None:
    """Each chat has all three readings or none; Confirm again completes those with none, once."""
    stored = await stored_per_chat(db)
    assert {stored[key] for key in keys} <= {0, METERS_PER_ACCOUNT}, stored
    await assert_sound(db)
    for key in keys:
        replies = await engine.handle(confirm(engine, key))
        expected = "Receipt No." if stored[key] == 0 else "already saved"
        assert expected in replies[0].text, (key, stored[key], replies[0].text)
    stored = await stored_per_chat(db)
    assert {stored[key] for key in keys} == {METERS_PER_ACCOUNT}, stored
    await assert_sound(db)


APOLOGIES = {
    translator(locale)._("Sorry, something went wrong on our side. Please try again in a minute.")
    for locale in ("uk", "ru", "zh", "en")
}


async def test_confirmation_failing_at_every_statement_stores_all_or_nothing(
    any_db: Database, config: Config, now: datetime
):
    """A database error before each statement of a confirmation in turn: nothing stored, an apology,
    the summary still waiting; Confirm again stores all three readings."""
    await seed_all(any_db)
    engine = Engine(config, any_db, lambda: now)
    await at_summary(any_db, engine, ["probe"])
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(any_db.engine.sync_engine, "before_cursor_execute", record)
    assert "Receipt No." in (await engine.handle(confirm(engine, "probe")))[0].text
    event.remove(any_db.engine.sync_engine, "before_cursor_execute", record)
    assert len(statements) >= 5, statements

    keys = [f"fail-{point}" for point in range(len(statements))]
    await at_summary(any_db, engine, keys)
    before = await snapshot(any_db)
    for point, key in enumerate(keys):
        seen = 0

        def fail(conn, cursor, statement, parameters, context, executemany, point=point):
            nonlocal seen
            seen += 1
            if seen == point + 1:
                raise RuntimeError(f"injected failure before statement {point + 1}")

        event.listen(any_db.engine.sync_engine, "before_cursor_execute", fail)
        try:
            replies = await engine.handle(confirm(engine, key))
        finally:
            event.remove(any_db.engine.sync_engine, "before_cursor_execute", fail)
        assert replies[0].text in APOLOGIES, (point, statements[point], replies[0].text)
    assert_consistent(before, await snapshot(any_db))  # nothing at all was stored
    await finish_and_check(any_db, engine, keys)


async def test_confirmation_whose_commit_fails_stores_nothing(db: Database, config: Config, now: datetime):
    """COMMIT itself fails in the SQLite driver (as SQLITE_FULL or SQLITE_IOERR can make it), leaving the
    transaction open: nothing is stored, and the bot goes on (the next updates are answered)."""
    await seed_all(db)
    engine = Engine(config, db, lambda: now)
    await at_summary(db, engine, ["commit-fails"])
    before = await snapshot(db)
    dialect = db.engine.sync_engine.dialect

    def fail_commit(dbapi_connection):
        raise dialect.dbapi.OperationalError("disk I/O error (injected at COMMIT)")  # type: ignore[union-attr]

    dialect.do_commit = fail_commit  # type: ignore[method-assign]
    try:
        replies = await engine.handle(confirm(engine, "commit-fails"))
    finally:
        del dialect.do_commit
    assert replies[0].text in APOLOGIES
    assert_consistent(before, await snapshot(db))
    for index in range(5):
        welcome = await engine.handle(Incoming("telegram", f"after-{index}", "", "en", "text", "/start"))
        assert welcome[0].text.startswith("Hello!"), welcome[0].text
    await finish_and_check(db, engine, ["commit-fails"])


async def cancel_at(engine: Engine, key: str, delay: float) -> str:
    task = asyncio.create_task(engine.handle(confirm(engine, key)))
    await asyncio.sleep(delay)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        return "cancelled"
    return "finished"


async def confirmation_time(engine: Engine, key: str) -> float:
    started = time.perf_counter()
    assert "Receipt No." in (await engine.handle(confirm(engine, key)))[0].text
    return time.perf_counter() - started


async def test_confirmation_cancelled_at_various_points_stores_all_or_nothing(
    any_db: Database, config: Config, now: datetime
):
    await seed_all(any_db)
    engine = Engine(config, any_db, lambda: now)
    keys = [f"cancel-{index}" for index in range(30)]
    await at_summary(any_db, engine, keys)
    duration = await confirmation_time(engine, keys[0])
    outcomes = []
    for index, key in enumerate(keys[1:]):  # cancelled early, late, and too late
        outcomes.append(await cancel_at(engine, key, duration * 1.5 * index / len(keys)))
        await asyncio.sleep(0.01)  # a commit already handed to the driver's thread completes
        gc.collect(1)  # releases a connection the cancellation leaked (see the next test)
    stored = await stored_per_chat(any_db)
    print(f"outcomes: {Counter(outcomes)}; readings per chat: {Counter(stored[key] for key in keys[1:])}")
    assert "cancelled" in outcomes, outcomes
    await finish_and_check(any_db, engine, keys)


async def test_cancelled_confirmation_does_not_leave_the_database_locked(
    db: Database, config: Config, now: datetime
):
    await seed_all(db)
    engine = Engine(config, db, lambda: now)
    keys = [f"lock-{index}" for index in range(40)]
    await at_summary(db, engine, keys)
    duration = await confirmation_time(engine, keys[0])
    try:
        for index, key in enumerate(keys[1:]):
            await cancel_at(engine, key, duration * 1.5 * index / len(keys))
            probe = asyncio.create_task(
                engine.handle(Incoming("telegram", "probe", "", "en", "text", "/menu"))
            )
            done, _ = await asyncio.wait({probe}, timeout=1.0)
            if not done:
                gc.collect()  # let the probe through before failing
                await probe
            assert done, f"the database stayed locked after a confirmation cancelled at point {index}"
    finally:
        gc.collect()


CONFIRMER = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import UTC, datetime
    from domain.config import parse_config
    from handlers.engine import Engine
    from handlers.types import Incoming
    from storage.database import Database
    from tests.conftest import TEST_CONFIG

    async def main(url, keys):
        db = Database(url)
        now = datetime(2026, 11, 24, 10, tzinfo=UTC)
        engine = Engine(parse_config(TEST_CONFIG, environ={}), db, lambda: now)
        for key in keys:
            replies = await engine.handle(Incoming("telegram", key, key, "en", "action", action="rd:confirm"))
            print(key, "Receipt No." in replies[0].text, flush=True)

    asyncio.run(main(sys.argv[1], open(sys.argv[2]).read().split()))
    """
)


async def test_kill_9_during_confirmations(tmp_path: Path, config: Config, now: datetime):
    url = f"sqlite+aiosqlite:///{tmp_path / 'confirm.db'}"
    db = Database(url)
    try:
        await upgrade(db)
        await seed_all(db)
        engine = Engine(config, db, lambda: now)
        keys = [f"kill-{index:03d}" for index in range(200)]
        await at_summary(db, engine, keys)
        (tmp_path / "keys.txt").write_text("\n".join(keys), encoding="utf-8")
        (tmp_path / "confirmer.py").write_text(CONFIRMER, encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(tmp_path / "confirmer.py"), url, str(tmp_path / "keys.txt"),
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert process.stdout is not None
        done = 0
        while done < 40:
            line = await asyncio.wait_for(process.stdout.readline(), 30)
            assert line.endswith(b" True\n"), line
            done += 1
        process.kill()
        assert await process.wait() == -signal.SIGKILL
        stored = await stored_per_chat(db)
        confirmed = [key for key in keys if stored[key]]
        assert done <= len(confirmed) < len(keys), (done, len(confirmed))
        await finish_and_check(db, engine, keys)
    finally:
        await db.dispose()
