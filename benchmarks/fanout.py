"""Fan-out benchmark: one reminder to 1,000,000 bound chats queued into the outbox, vs. raw SQL.

Seeds a migrated SQLite file with 1,000,000 active Telegram chats (locales uk/ru/en/zh), one
account each (with one manual meter; balances of 50.01-5,050.00, due 15 Dec 2026), and the binding
between them — with raw INSERT … SELECT
from a generated series, which is not what is measured. Then, each scenario on its own copy of
that file and in its own child process (so that its peak RSS, VmHWM, is its own):

* baseline: one raw ``INSERT … SELECT`` in sqlite3 of the same rows (the text chosen by the chat's
  locale, the dedup key ``rem:{notice}:{period}:{chat}``), in one transaction;
* notice: ``scheduler.reminders.run_notice`` — what the cron job of a provider notice (here the
  fraud warning) runs: INSERT … SELECT in batches of 1,000 chats, one transaction each, with the
  once-only keys and the run log;
* window-opens: ``scheduler.reminders.run_window`` — the daily job's "the reading window is open"
  reminder: INSERT … SELECT per batch of 1,000 (chat, account) pairs, the text rendered once per
  locale and the resident's account number put in by SQL;
* payment-due: ``scheduler.reminders.run_payment`` — "you have X to pay by D" for everyone owing:
  per batch of 1,000 pairs a SELECT, the text rendered per resident (their amount, formatted by
  Babel), one executemany INSERT;
* broadcast: an operator's broadcast to everyone — ``BroadcastRepository.create`` + ``queue``:
  one INSERT … SELECT for all recipients in one transaction.

Each must leave exactly one outbox row per chat. Reported: seconds, rows/s, the ratio to the
baseline, peak RSS of the child (goal ≤ 300 MB), and the outbox's growth of the database file.

    python benchmarks/fanout.py                   # 1,000,000 chats
    python benchmarks/fanout.py --chats 100000    # scaled down
    python benchmarks/fanout.py --only notice     # one scenario (and the baseline)
    python benchmarks/fanout.py --analyze         # with planner statistics (ANALYZE) in the database

The reminder batches are keyset ranges on chats.id / bindings (chat_id, account_id) whatever the
planner's statistics (the channel and provider tests are kept off their indexes); ``--analyze``
shows the same jobs once the planner has statistics, as the daily housekeeping gives it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._support import report_to_parent, run_measured, sqlite_bytes, sqlite_connect  # noqa: E402

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # inside teplo's window (20..25), 12:00 in Kyiv
PERIOD = "2026-11"
DUE_PERIOD = "2026-12"  # the accounts' due dates
STAMP = "2026-11-01 08:00:00.000000"  # a datetime as SQLAlchemy stores it in SQLite
LOCALES = ("uk", "ru", "en", "zh")
FIRST_CHAT_KEY = 100_000_000
SCENARIOS = ("notice", "window-opens", "payment-due", "broadcast")


def bench_config() -> Any:
    from domain.config import parse_config

    return parse_config(
        {
            "bot": {"default_locale": "uk", "timezone": "Europe/Kyiv"},
            "providers": [
                {
                    "id": "teplo",
                    "name": {"uk": "Теплокомуненерго", "ru": "Теплокоммунэнерго", "en": "City Heating"},
                    "timezone": "Europe/Kyiv",
                    "reading_window": {"from_day": 20, "to_day": 25},
                    "hotline": "+380 44 000 00 00",
                    "notices": [{"id": "fraud-warning", "cron": "0 10 1 * *", "text_key": "fraud_warning"}],
                }
            ],
        },
        environ={},
    )


# --- seeding (not measured) -----------------------------------------------------------------------


def seed(db_path: Path, chats: int) -> float:
    """chats, accounts, meters and bindings 1..chats with raw INSERT … SELECT over a series."""
    started = time.perf_counter()
    connection = sqlite3.connect(db_path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    series = f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {chats})"
    connection.execute("BEGIN")
    connection.execute(
        f"""INSERT INTO accounts (id, provider_id, number, address, holder, balance, due_date,
            last_payment_amount, last_payment_date, updated_at)
        {series} SELECT i, 'teplo', printf('%08d', i), 'вул. Шевченка, ' || (i % 300 + 1) || ', кв. ' ||
            (i % 180 + 1), 'Шевченко Тарас Григорович', 50.01 + (i * 7919 % 500000) / 100.0, '2026-12-15',
            100.00, '2026-10-10', '{STAMP}' FROM s"""
    )
    connection.execute(
        f"""INSERT INTO meters (account_id, serial, kind, zone, unit, last_value, last_date,
            max_monthly_delta, precision, automatic)
        {series} SELECT i, 'M' || i, 'hot_water', '', 'm3', 100.0, '2026-10-22', 30, 3, 0 FROM s"""
    )
    locale = "CASE i % 4 " + " ".join(f"WHEN {n} THEN '{code}'" for n, code in enumerate(LOCALES)) + " END"
    connection.execute(
        f"""INSERT INTO chats (id, channel, chat_key, user_key, locale, state, state_data,
            current_account_id, notifications, active, created_at, updated_at)
        {series} SELECT i, 'telegram', CAST({FIRST_CHAT_KEY} + i AS TEXT), CAST({FIRST_CHAT_KEY} + i AS TEXT),
            {locale}, '', '{{}}', i, '{{}}', 1, '{STAMP}', '{STAMP}' FROM s"""
    )
    connection.execute(
        f"""INSERT INTO bindings (chat_id, account_id, created_at) {series} SELECT i, i, '{STAMP}' FROM s"""
    )
    connection.execute("COMMIT")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return time.perf_counter() - started


# --- the scenarios (child processes) --------------------------------------------------------------


def notice_texts() -> tuple[dict[str, str], str]:
    from scheduler.reminders import notice_text

    config = bench_config()
    provider = config.provider("teplo")
    notice = provider.notices[0]
    return {
        locale: notice_text(provider, notice, locale) for locale in config.bot.locales
    }, config.bot.default_locale


def run_baseline(db_path: str, texts: dict[str, str], default: str) -> int:
    connection = sqlite_connect(db_path)
    cases = " ".join("WHEN ? THEN json_object('text', ?)" for _ in texts)
    parameters: list[Any] = [value for locale, text in texts.items() for value in (locale, text)]
    parameters.append(texts[default])
    stamp = NOW.strftime("%Y-%m-%d %H:%M:%S.%f")
    connection.execute("BEGIN IMMEDIATE")
    cursor = connection.execute(
        f"""INSERT INTO outbox (chat_id, kind, payload, priority, status, attempts, not_before,
            last_error, dedup_key, created_at)
        SELECT chats.id, 'reminder', CASE chats.locale {cases} ELSE json_object('text', ?) END, 100,
            'pending', 0, '{stamp}', '', 'rem:teplo:fraud-warning:{PERIOD}:' || chats.id, '{stamp}'
        FROM chats WHERE chats.active = 1 AND chats.channel = 'telegram'
            AND EXISTS (SELECT 1 FROM bindings JOIN accounts ON accounts.id = bindings.account_id
                        WHERE bindings.chat_id = chats.id AND accounts.provider_id = 'teplo')
        ON CONFLICT (dedup_key) DO NOTHING""",
        parameters,
    )
    connection.execute("COMMIT")
    rows = cursor.rowcount
    connection.close()
    return rows


def run_product(scenario: str, db_path: str) -> int:
    from scheduler.reminders import WINDOW_OPENS, ReminderSettings, run_notice, run_payment, run_window
    from storage.database import Database
    from storage.repositories.broadcasts import Audience

    config = bench_config()
    provider = config.provider("teplo")
    settings = ReminderSettings(quiet_hours=None, channels=("telegram",))

    async def run() -> int:
        db = Database(f"sqlite+aiosqlite:///{db_path}")
        try:
            if scenario == "notice":
                result = await run_notice(db, config, settings, provider, provider.notices[0], PERIOD, NOW)
                return result.queued
            if scenario == "window-opens":
                result = await run_window(db, config, settings, provider, WINDOW_OPENS, PERIOD, NOW)
                return result.queued
            if scenario == "payment-due":
                result = await run_payment(db, config, settings, provider, DUE_PERIOD, NOW)
                return result.queued
            async with db.unit_of_work() as uow:
                broadcast = await uow.broadcasts.create(
                    created_by="benchmark",
                    texts=notice_texts()[0],
                    default_locale="uk",
                    audience=Audience(),
                    emergency=False,
                    now=NOW,
                )
                total = await uow.broadcasts.queue(broadcast, NOW)
                await uow.commit()
            return total
        finally:
            await db.dispose()

    return asyncio.run(run())


def child(scenario: str, db_path: str) -> None:
    import scheduler.reminders  # noqa: F401  (imports are not part of the measured time)
    import storage.database  # noqa: F401

    texts, default = notice_texts()
    started = time.perf_counter()
    baseline = scenario == "baseline"
    rows = run_baseline(db_path, texts, default) if baseline else run_product(scenario, db_path)
    report_to_parent({"rows": rows, "seconds": time.perf_counter() - started})


# --- the driver -----------------------------------------------------------------------------------


def outbox_rows(db_path: Path) -> tuple[int, int]:
    """(rows, distinct chats) in the outbox."""
    connection = sqlite3.connect(db_path)
    try:
        return connection.execute("SELECT count(*), count(DISTINCT chat_id) FROM outbox").fetchone()
    finally:
        connection.close()


def file_mb(db_path: Path) -> float:
    return sqlite_bytes(db_path) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", nargs=2, metavar=("SCENARIO", "DB"), help=argparse.SUPPRESS)
    parser.add_argument("--chats", type=int, default=1_000_000, help="bound chats (default 1,000,000)")
    parser.add_argument("--only", choices=SCENARIOS, help="one scenario (the baseline always runs)")
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="run ANALYZE on the seeded database first (what `PRAGMA optimize` would give the planner)",
    )
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    from storage.migrate import upgrade_sync

    scenarios = [args.only] if args.only else list(SCENARIOS)
    with tempfile.TemporaryDirectory() as temp:
        workdir = Path(temp)
        seeded = workdir / "seeded.db"
        upgrade_sync(f"sqlite+aiosqlite:///{seeded}")
        seconds = seed(seeded, args.chats)
        if args.analyze:
            connection = sqlite3.connect(seeded)
            connection.execute("ANALYZE")
            connection.close()
        seeded_mb = file_mb(seeded)
        print(
            f"seeded {args.chats:,} chats + accounts + meters + bindings in {seconds:.1f} s "
            f"({seeded_mb:.0f} MB); SQLite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
            + (", ANALYZE run" if args.analyze else ""),
            flush=True,
        )
        baseline: dict[str, Any] | None = None
        for scenario in ["baseline", *scenarios]:
            db_path = workdir / f"{scenario}.db"
            shutil.copy(seeded, db_path)
            figures = run_measured(__file__, "--child", scenario, str(db_path))
            others = figures["others"]
            rows, chats = outbox_rows(db_path)
            grown = file_mb(db_path) - seeded_mb
            db_path.unlink()
            baseline = baseline or figures
            ratio = figures["seconds"] / baseline["seconds"]
            ok = rows == chats == args.chats == figures["rows"]
            print(
                f"{scenario:<14} {figures['seconds']:7.1f} s  {rows / figures['seconds']:9.0f} rows/s  "
                f"ratio {ratio:6.2f}  peak RSS {figures['peak_rss_mb']:6.1f} MB "
                f"({'≤' if figures['peak_rss_mb'] <= 300 else '>'} 300)  outbox +{grown:.0f} MB "
                f"({grown * 1e6 / max(rows, 1):.0f} B/row)  rows {rows:,}  others {others:.2f} cores"
                + ("" if ok else f"  MISMATCH: {chats:,} chats, reported {figures['rows']:,}"),
                flush=True,
            )


if __name__ == "__main__":
    main()
