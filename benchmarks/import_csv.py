"""CSV import benchmark: 1,000,000 accounts and 1,500,000 meters into SQLite, vs. raw sqlite3.

Generates accounts.csv and meters.csv in a temp dir (streamed, never held in memory), then, each
in a fresh child process so that its peak RSS (VmHWM) is its own:

* import: ``storage.importer.import_csv`` (what ``utilibot import`` runs: streamed, validated,
  1,000-record batches, one transaction each) — accounts, then meters — into a freshly migrated
  SQLite file;
* baseline: raw ``sqlite3`` ``executemany`` of the same rows into the same schema (a copy of the
  same migrated empty file, the same PRAGMAs as the bot: WAL, synchronous=NORMAL, foreign keys),
  with the same durability: 1,000 rows per transaction. It reads the same files with
  ``csv.reader`` and converts nothing but what the schema needs (numbers, the account id of a
  meter through a subquery on the unique key); no validation, no upsert, no change detection.

Reported: seconds and rows/s per file and in total, the ratio import / baseline (goal ≤ 3×),
the peak RSS of each child (goal ≤ 300 MB for the import), the database sizes; with
``--reimport`` also a second import of the same files (nothing changes: the idempotent path).

    python benchmarks/import_csv.py                 # 1,000,000 accounts + 1,500,000 meters
    python benchmarks/import_csv.py --rows 100000   # scaled down
    python benchmarks/import_csv.py --reimport
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._support import report_to_parent, run_measured, sqlite_bytes, sqlite_connect  # noqa: E402

BATCH = 1000  # rows per transaction, as `utilibot import` writes them
PROVIDERS = ("teplo", "voda")
STREETS = ("вул. Шевченка", "просп. Перемоги", "вул. Садова", "бульв. Лесі Українки", "вул. Хрещатик")
SURNAMES = ("Шевченко", "Коваль", "Бондаренко", "Ткаченко", "Кравченко", "Олійник", "Мельник", "Лисенко")
NAMES = ("Тарас Григорович", "Олена Петрівна", "Ігор Миколайович", "Марія Іванівна")
METER_KINDS = (("hot_water", "m3"), ("cold_water", "m3"), ("electricity", "kWh"), ("heat", "Gcal"))


# --- the files ------------------------------------------------------------------------------------


def account_number(index: int) -> str:
    return f"{10_000_000 + index}"


def write_files(directory: Path, rows: int) -> tuple[Path, Path, int]:
    """accounts.csv with ``rows`` accounts; meters.csv with 1 meter per account, 2 for every other."""
    accounts, meters = directory / "accounts.csv", directory / "meters.csv"
    meter_rows = 0
    with (
        accounts.open("w", newline="", encoding="utf-8") as a,
        meters.open("w", newline="", encoding="utf-8") as m,
    ):
        aw, mw = csv.writer(a), csv.writer(m)
        aw.writerow(
            [
                "provider",
                "account",
                "address",
                "holder",
                "balance",
                "due_date",
                "last_payment_amount",
                "last_payment_date",
            ]
        )
        mw.writerow(
            [
                "provider",
                "account",
                "meter_id",
                "kind",
                "zone",
                "unit",
                "last_value",
                "last_date",
                "max_monthly_delta",
                "precision",
                "automatic",
            ]
        )
        for index in range(rows):
            provider = PROVIDERS[index % 2]
            number = account_number(index)
            balance = (index * 7919) % 400_000 / 100 - 500  # some overpaid, most owing
            aw.writerow(
                [
                    provider,
                    number,
                    f"{STREETS[index % 5]}, {index % 300 + 1}, кв. {index % 180 + 1}",
                    f"{SURNAMES[index % 8]} {NAMES[index % 4]}",
                    f"{balance:.2f}",
                    f"2026-12-{index % 28 + 1:02d}",
                    f"{(index * 104729) % 300_000 / 100 + 1:.2f}",
                    f"2026-10-{index % 28 + 1:02d}",
                ]
            )
            for meter in range(1 if index % 2 else 2):
                kind, unit = METER_KINDS[(index + meter) % 4]
                mw.writerow(
                    [
                        provider,
                        number,
                        f"M{index}-{meter}",
                        kind,
                        "",
                        unit,
                        f"{(index * 31 + meter) % 100_000 / 1000:.3f}",
                        "2026-10-22",
                        "500",
                        "3",
                        "false",
                    ]
                )
                meter_rows += 1
    return accounts, meters, meter_rows


def bench_config() -> Any:
    from domain.config import parse_config

    return parse_config(
        {
            "providers": [
                {"id": provider, "name": {"uk": provider}, "timezone": "Europe/Kyiv"}
                for provider in PROVIDERS
            ]
        },
        environ={},
    )


# --- the two children -----------------------------------------------------------------------------


def child_import(db_path: str, accounts: str, meters: str) -> dict[str, Any]:
    from storage.database import Database
    from storage.importer import import_csv

    async def run() -> dict[str, Any]:
        config = bench_config()
        db = Database(f"sqlite+aiosqlite:///{db_path}")
        figures: dict[str, Any] = {}
        try:
            for kind, path in (("accounts", accounts), ("meters", meters)):
                started = time.perf_counter()
                report = await import_csv(db, config, kind, Path(path))  # type: ignore[arg-type]
                figures[kind] = {
                    "seconds": time.perf_counter() - started,
                    "inserted": report.inserted,
                    "updated": report.updated,
                    "rejected": report.rejected,
                    "errors": [str(error) for error in report.errors[:3]],
                }
        finally:
            await db.dispose()
        return figures

    return asyncio.run(run())


def _batches(path: str) -> Any:
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.reader(file)
        next(reader)
        batch: list[list[str]] = []
        for row in reader:
            batch.append(row)
            if len(batch) >= BATCH:
                yield batch
                batch = []
        if batch:
            yield batch


def child_baseline(db_path: str, accounts: str, meters: str) -> dict[str, Any]:
    connection = sqlite_connect(db_path)
    stamp = "2026-11-24 10:00:00.000000"  # what SQLAlchemy stores for updated_at
    figures: dict[str, Any] = {}
    started, count = time.perf_counter(), 0
    insert_account = (
        "INSERT INTO accounts (provider_id, number, address, holder, balance, due_date, "
        "last_payment_amount, last_payment_date, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    for batch in _batches(accounts):
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            insert_account,
            [(p, n, a, h, float(b), d, float(lp), ld, stamp) for p, n, a, h, b, d, lp, ld in batch],
        )
        connection.execute("COMMIT")
        count += len(batch)
    figures["accounts"] = {"seconds": time.perf_counter() - started, "inserted": count}
    started, count = time.perf_counter(), 0
    insert_meter = (
        "INSERT INTO meters (account_id, serial, kind, zone, unit, last_value, last_date, max_monthly_delta, "
        "precision, automatic) VALUES ((SELECT id FROM accounts WHERE provider_id = ? AND number = ?), "
        "?, ?, ?, ?, ?, ?, ?, ?, ?)"
    )
    for batch in _batches(meters):
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            insert_meter,
            [
                (p, n, s, k, z, u, float(v), d, float(x), int(pr), au == "true")
                for p, n, s, k, z, u, v, d, x, pr, au in batch
            ],
        )
        connection.execute("COMMIT")
        count += len(batch)
    figures["meters"] = {"seconds": time.perf_counter() - started, "inserted": count}
    connection.close()
    return figures


def child(mode: str, db_path: str, accounts: str, meters: str) -> None:
    work = child_baseline if mode == "baseline" else child_import
    report_to_parent(work(db_path, accounts, meters))


def run_child(mode: str, db_path: Path, accounts: Path, meters: Path) -> dict[str, Any]:
    return run_measured(__file__, "--child", mode, str(db_path), str(accounts), str(meters))


# --- the report -----------------------------------------------------------------------------------


def counts(db_path: Path) -> tuple[int, int]:
    connection = sqlite3.connect(db_path)
    try:
        return (
            connection.execute("SELECT count(*) FROM accounts").fetchone()[0],
            connection.execute("SELECT count(*) FROM meters").fetchone()[0],
        )
    finally:
        connection.close()


def size_mb(db_path: Path) -> float:
    return sqlite_bytes(db_path) / 1e6


def line(name: str, figures: dict[str, Any], base: dict[str, Any] | None, rows: dict[str, int]) -> None:
    parts = [f"{name:<22}"]
    total = 0.0
    for kind in ("accounts", "meters"):
        seconds = figures[kind]["seconds"]
        total += seconds
        text = f"{kind} {seconds:7.1f} s ({rows[kind] / seconds:8.0f} rows/s)"
        if base is not None:
            text += f" ×{seconds / base[kind]['seconds']:.2f}"
        parts.append(text)
    text = f"total {total:7.1f} s"
    if base is not None:
        text += f" ratio {total / (base['accounts']['seconds'] + base['meters']['seconds']):.2f}"
    parts.append(text)
    parts.append(f"peak RSS {figures['peak_rss_mb']:6.1f} MB")
    parts.append(f"others {figures['others']:.2f} cores")
    print("  ".join(parts), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--child", nargs=4, metavar=("MODE", "DB", "ACCOUNTS", "METERS"), help=argparse.SUPPRESS
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="accounts (default 1,000,000)")
    parser.add_argument("--reimport", action="store_true", help="also import the same files a second time")
    parser.add_argument("--dir", help="work here instead of a temp dir (kept afterwards)")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    from storage.migrate import upgrade_sync

    with tempfile.TemporaryDirectory() as temp:
        workdir = Path(args.dir or temp)
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        accounts, meters, meter_rows = write_files(workdir, args.rows)
        rows = {"accounts": args.rows, "meters": meter_rows}
        megabytes = (accounts.stat().st_size + meters.stat().st_size) / 1e6
        print(
            f"generated {args.rows:,} accounts + {meter_rows:,} meters ({megabytes:.0f} MB of CSV) "
            f"in {time.perf_counter() - started:.1f} s; SQLite {sqlite3.sqlite_version}, "
            f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs",
            flush=True,
        )
        empty = workdir / "empty.db"
        upgrade_sync(f"sqlite+aiosqlite:///{empty}")
        baseline_db, import_db = workdir / "baseline.db", workdir / "import.db"
        shutil.copy(empty, baseline_db)
        shutil.copy(empty, import_db)

        base = run_child("baseline", baseline_db, accounts, meters)
        line("baseline (sqlite3)", base, None, rows)
        result = run_child("import", import_db, accounts, meters)
        line("utilibot import", result, base, rows)
        for kind in ("accounts", "meters"):
            if result[kind]["rejected"] or result[kind]["inserted"] != rows[kind]:
                print(f"  {kind}: {result[kind]}", flush=True)
        if counts(import_db) != counts(baseline_db) or counts(import_db) != (
            rows["accounts"],
            rows["meters"],
        ):
            raise SystemExit(f"row counts differ: import {counts(import_db)}, baseline {counts(baseline_db)}")
        if args.reimport:
            again = run_child("import", import_db, accounts, meters)
            line("re-import (unchanged)", again, base, rows)
        total_ratio = (result["accounts"]["seconds"] + result["meters"]["seconds"]) / (
            base["accounts"]["seconds"] + base["meters"]["seconds"]
        )
        print(
            f"\ndatabase size: import {size_mb(import_db):.0f} MB, baseline {size_mb(baseline_db):.0f} MB\n"
            f"goals: time ≤ 3 × baseline — {'met' if total_ratio <= 3 else 'NOT met'} ({total_ratio:.2f}×); "
            f"peak RSS ≤ 300 MB — {'met' if result['peak_rss_mb'] <= 300 else 'NOT met'} "
            f"({result['peak_rss_mb']:.0f} MB)",
            flush=True,
        )


if __name__ == "__main__":
    main()
