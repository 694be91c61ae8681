"""CSV import of billing data: validation with line numbers, idempotent upserts, batches, progress."""

from __future__ import annotations

import asyncio
import csv
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

import storage.importer.report as importer_report
import storage.importer.rows as importer_rows
import storage.importer.run as importer_run
import storage.importer.values as importer_values
import storage.importer.writer as importer_writer
from storage.database import Database
from storage.importer import ImportFileError, ImportReport, RowError, import_csv
from storage.models import Account, Charge, Meter, Payment

ACCOUNTS_HEADER = "provider,account,address,holder,balance,due_date,last_payment_amount,last_payment_date"
METERS_HEADER = (
    "provider,account,meter_id,kind,zone,unit,last_value,last_date,max_monthly_delta,precision,automatic"
)

ACCOUNTS = f"""{ACCOUNTS_HEADER}
teplo,1001-001,"вул. Шевченка, 12, кв. 45",Шевченко Тарас Григорович,1234.50,2026-12-15,980.00,10.10.2026
teplo,1001002,"просп. Перемоги, 3",Коваль Олена Петрівна,-150,,,
voda,2002001,"вул. Садова, 5",Бондар Ігор,"1 234,50",15.12.2026,"120,5",2026-10-01
"""
METERS = f"""{METERS_HEADER}
teplo,1001001,H-1,heat,,Gcal,12.345,2026-10-20,5,3,no
voda,2002001,W-7,cold_water,,m³,1234.5,2026-10-20,30,,
voda,2002001,E-1,electricity,day,kWh,100,,,0,true
voda,2002001,E-1,electricity,night,kWh,50,,,0,TRUE
"""
CHARGES = """provider,account,period,service,amount
teplo,1001001,2026-10,Heating,1200.00
teplo,1001001,2026-10,Hot water,320.40
teplo,1001001,2026-10,Recalculation,-35.10
voda,2002001,2026-10,Water,"99,99"
"""
PAYMENTS = """provider,account,date,amount,channel
teplo,1001001,2026-10-10,980.00,bank
teplo,1001001,2026-10-10,980.00,
voda,2002001,01.10.2026,120.50,Privat24
"""


def write(tmp_path: Path, name: str, text: str, *, bom: bool = False, newline: str = "\n") -> Path:
    path = tmp_path / name
    data = text.replace("\n", newline).encode("utf-8")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


async def run(
    db: Database, config: Any, kind: str, tmp_path: Path, text: str, **options: Any
) -> ImportReport:
    return await import_csv(db, config, kind, write(tmp_path, f"{kind}.csv", text), **options)  # type: ignore[arg-type]


async def rows(db: Database, model: Any) -> list[tuple[Any, ...]]:
    """Every row of the model's table, all columns, ordered by id."""
    table = model.__table__
    async with db.unit_of_work() as uow:
        result = await uow.session.execute(select(table).order_by(table.c.id))
        return [tuple(row) for row in result]


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    return {model.__name__: await rows(db, model) for model in (Account, Meter, Charge, Payment)}


async def import_all(db: Database, config: Any, tmp_path: Path) -> list[ImportReport]:
    return [
        await run(db, config, kind, tmp_path, text)
        for kind, text in (
            ("accounts", ACCOUNTS),
            ("meters", METERS),
            ("charges", CHARGES),
            ("payments", PAYMENTS),
        )
    ]


async def account(db: Database, provider_id: str, number: str) -> Account:
    async with db.unit_of_work() as uow:
        query = select(Account).where(Account.provider_id == provider_id, Account.number == number)
        return (await uow.session.execute(query)).scalar_one()


# --- good files ---------------------------------------------------------------------------------


async def test_good_files_of_every_kind(any_db, config, tmp_path):
    reports = await import_all(any_db, config, tmp_path)
    assert [(r.inserted, r.updated, r.rejected, r.ok) for r in reports] == [
        (3, 0, 0, True),
        (4, 0, 0, True),
        (4, 0, 0, True),
        (3, 0, 0, True),
    ]
    assert all(r.errors == [] for r in reports)

    first = await account(any_db, "teplo", "1001001")  # '1001-001' normalized
    assert first.address == "вул. Шевченка, 12, кв. 45"
    assert first.holder == "Шевченко Тарас Григорович"
    assert isinstance(first.balance, Decimal) and first.balance == Decimal("1234.50")
    assert str(first.balance) == "1234.50"  # exact, no float artefacts
    assert (first.due_date, first.last_payment_amount, first.last_payment_date) == (
        date(2026, 12, 15),
        Decimal("980.00"),
        date(2026, 10, 10),
    )
    second = await account(any_db, "teplo", "1001002")
    assert (second.balance, second.due_date, second.last_payment_amount) == (Decimal("-150.00"), None, None)
    water = await account(any_db, "voda", "2002001")
    assert (water.balance, water.due_date, water.last_payment_amount) == (
        Decimal("1234.50"),
        date(2026, 12, 15),
        Decimal("120.50"),
    )

    async with any_db.unit_of_work() as uow:
        meters = (await uow.session.execute(select(Meter).order_by(Meter.id))).scalars().all()
        charges = (await uow.session.execute(select(Charge).order_by(Charge.id))).scalars().all()
        payments = (await uow.session.execute(select(Payment).order_by(Payment.id))).scalars().all()
    heat = meters[0]
    assert (heat.account_id, heat.serial, heat.kind, heat.zone, heat.unit) == (
        first.id,
        "H-1",
        "heat",
        "",
        "Gcal",
    )
    assert (heat.last_value, heat.last_date, heat.max_monthly_delta) == (
        Decimal("12.345"),
        date(2026, 10, 20),
        Decimal("5"),
    )
    assert (heat.precision, heat.automatic) == (3, False)
    assert meters[1].last_value == Decimal("1234.5") and meters[1].precision == 3  # defaults
    assert [(m.zone, m.precision, m.automatic) for m in meters[2:]] == [("day", 0, True), ("night", 0, True)]
    assert [(c.service, c.amount) for c in charges] == [
        ("Heating", Decimal("1200.00")),
        ("Hot water", Decimal("320.40")),
        ("Recalculation", Decimal("-35.10")),  # corrections may be negative
        ("Water", Decimal("99.99")),
    ]
    assert [(p.account_id, p.paid_on, p.amount, p.channel) for p in payments] == [
        (first.id, date(2026, 10, 10), Decimal("980.00"), "bank"),
        (first.id, date(2026, 10, 10), Decimal("980.00"), ""),
        (water.id, date(2026, 10, 1), Decimal("120.50"), "Privat24"),
    ]


async def test_bom_crlf_column_order_and_extra_columns(any_db, config, tmp_path):
    text = (
        "Holder , ACCOUNT,comment,provider,address,last_payment_date,balance,last_payment_amount,due_date\n"
        "Бондар Ігор,3003003,ignored,voda,вул. Садова,,0.10,,\n"
    )
    path = write(tmp_path, "accounts.csv", text, bom=True, newline="\r\n")
    report = await import_csv(any_db, config, "accounts", path)
    assert (report.inserted, report.rejected) == (1, 0)
    stored = await account(any_db, "voda", "3003003")
    assert (stored.holder, stored.address, stored.balance) == ("Бондар Ігор", "вул. Садова", Decimal("0.10"))


# --- bad rows -----------------------------------------------------------------------------------

LONG = "x" * 301
MIXED_ACCOUNTS = f"""{ACCOUNTS_HEADER}
teplo,1001-001,"вул. Шевченка, 12",Шевченко Тарас,1234.50,2026-12-15,980.00,10.10.2026
gas,1001002,addr,Holder,1,,,
teplo,12,addr,Holder,1,,,
teplo,1001003,"вул. Садова, 5,
під'їзд 2",Коваль Олена,"1 234,50",,,
teplo,1001004,addr,Holder,"12,3,4",,,
teplo,1001005,addr,Holder,12.345,,,
teplo,1001006,addr,Holder,1,2026-02-30,,
voda,1001007,addr,,1,,,
voda,1001008,{LONG},Holder,1,,,
voda,1001009,addr,Holder,1

voda,2002-001,addr,Holder,-150,,,
teplo,1001010,addr,Holder,NaN,15.13.2026,0,
teplo,1001011,addr,Holder,1e5,,,
teplo,1001012,addr,Holder,1234567890123,,,
teplo,1001013,"вул. Довга,
буд. 1",Holder,bad,,,
teplo,1001014,addr,Holder,bad,,,
"""


async def test_mixed_accounts_file_keeps_good_rows_and_reports_lines(any_db, config, tmp_path):
    report = await run(any_db, config, "accounts", tmp_path, MIXED_ACCOUNTS)
    assert (report.inserted, report.updated, report.rejected, report.ok) == (3, 0, 13, False)
    assert [error.line for error in report.errors] == [3, 4, 7, 8, 9, 10, 11, 12, 15, 16, 17, 18, 20]
    reasons = {error.line: error.reason for error in report.errors}
    assert reasons[3] == "provider: 'gas' is not a configured provider (known: teplo, voda)"
    assert reasons[4] == "account: '12' is not an account number"
    assert reasons[7] == "balance: '12,3,4' is not an amount"
    assert str(report.errors[2]) == "line 7: balance: '12,3,4' is not an amount"
    assert reasons[8] == "balance: '12.345' has more than 2 decimal places"
    assert reasons[9] == "due_date: '2026-02-30' is not a date (use YYYY-MM-DD or DD.MM.YYYY)"
    assert reasons[10] == "holder: required, but empty"
    assert reasons[11] == "address: 301 characters, at most 300 allowed"
    assert reasons[12] == "the record has 5 fields, the header has 8"
    # Every problem of a row is listed.
    assert reasons[15] == (
        "balance: 'NaN' is not an amount; "
        "due_date: '15.13.2026' is not a date (use YYYY-MM-DD or DD.MM.YYYY); "
        "last_payment_amount: '0' must be greater than zero"
    )
    assert reasons[16] == "balance: '1e5' is not an amount"
    assert reasons[17].startswith("balance: '1234567890123' is too large")
    assert reasons[18] == reasons[20] == "balance: 'bad' is not an amount"  # a record's first line

    multiline = await account(any_db, "teplo", "1001003")
    assert multiline.address == "вул. Садова, 5,\nпід'їзд 2"
    assert multiline.balance == Decimal("1234.50")
    assert (await account(any_db, "voda", "2002001")).balance == Decimal("-150.00")
    assert len(await rows(any_db, Account)) == 3


async def test_meter_rows_are_validated(any_db, config, tmp_path):
    await run(any_db, config, "accounts", tmp_path, ACCOUNTS)
    text = f"""{METERS_HEADER}
teplo,1001001,H-1,heat,,Gcal,12.345,2026-10-20,5,3,no
teplo,1001001,H-2,steam,,Gcal,1,,,,
teplo,1001001,H-3,heat,evening,Gcal,1,,,,
teplo,1001001,H-4,heat,,Gcal,-1,,,,
teplo,1001001,H-5,heat,,Gcal,1.2345,,0.5,,
teplo,1001001,H-6,heat,,Gcal,1.5,,,0,maybe
teplo,9999999,H-7,heat,,Gcal,1,,,,
teplo,1001001,H-8,heat,,Gcal,1,,0,7,
teplo,1001001,,heat,,,1,,,,
voda,2002001,W-1,Cold_Water,Day,m³,"1 234,567891",,,6,1
"""
    report = await run(any_db, config, "meters", tmp_path, text)
    assert (report.inserted, report.rejected) == (2, 8)
    reasons = {error.line: error.reason for error in report.errors}
    assert reasons == {
        3: "kind: 'steam' is not one of 'cold_water', 'hot_water', 'heat', 'electricity', 'gas'",
        4: "zone: 'evening' is not one of '', 'day', 'night'",
        5: "last_value: '-1' must not be negative",
        6: "last_value: '1.2345' has more than 3 decimal places (precision 3)",
        7: "automatic: 'maybe' is not true/false (use true, false, 1, 0, yes or no); "
        "last_value: '1.5' has more than 0 decimal places (precision 0)",
        8: "account: '9999999' is an unknown account of 'teplo'",
        9: "max_monthly_delta: '0' must be greater than zero; "
        "precision: '7' is not a whole number from 0 to 6",
        10: "meter_id: required, but empty; unit: required, but empty",
    }
    async with any_db.unit_of_work() as uow:
        water = (await uow.session.execute(select(Meter).where(Meter.serial == "W-1"))).scalar_one()
    assert (water.kind, water.zone, water.last_value, water.precision, water.automatic) == (
        "cold_water",
        "day",
        Decimal("1234.567891"),
        6,
        True,
    )


async def test_charge_and_payment_rows_are_validated(any_db, config, tmp_path):
    await run(any_db, config, "accounts", tmp_path, ACCOUNTS)
    charges = """provider,account,period,service,amount
teplo,1001001,2026-13,Heating,1
teplo,1001001,10.2026,Heating,1
teplo,1001001,2026-10,,1
teplo,1001001,2026-10,Heating,"1,234.50"
teplo,1001001,2026-10,Heating,-0.00
voda,1001001,2026-10,Water,1
"""
    report = await run(any_db, config, "charges", tmp_path, charges)
    assert (report.inserted, report.rejected) == (1, 5)
    assert [str(error) for error in report.errors] == [
        "line 2: period: '2026-13' is not a billing period (use YYYY-MM)",
        "line 3: period: '10.2026' is not a billing period (use YYYY-MM)",
        "line 4: service: required, but empty",
        "line 5: amount: '1,234.50' is not an amount",
        "line 7: account: '1001001' is an unknown account of 'voda'",
    ]
    assert [(c.service, c.amount) for c in await _charges(any_db)] == [("Heating", Decimal("0.00"))]

    payments = """provider,account,date,amount,channel
teplo,1001001,2026-10-10,0,bank
teplo,1001001,2026/10/10,1,bank
teplo,1001001,2026-10-10,-5,bank
teplo,1001001,2026-10-10,5,bank
teplo,1001001,10.10.2026,5.00,bank
"""
    report = await run(any_db, config, "payments", tmp_path, payments)
    assert (report.inserted, report.rejected) == (1, 3)  # line 6 is line 5 again: same key
    assert [error.reason for error in report.errors] == [
        "amount: '0' must be greater than zero",
        "date: '2026/10/10' is not a date (use YYYY-MM-DD or DD.MM.YYYY)",
        "amount: '-5' must not be negative",
    ]


async def _charges(db: Database) -> list[Charge]:
    async with db.unit_of_work() as uow:
        return list((await uow.session.execute(select(Charge).order_by(Charge.id))).scalars())


async def test_an_all_bad_file_writes_nothing(any_db, config, tmp_path):
    text = f"{ACCOUNTS_HEADER}\nfoo,bar,,,,,,\n,,,,,,,\nteplo,,a,b,x,,,\n"
    report = await run(any_db, config, "accounts", tmp_path, text)
    assert (report.inserted, report.updated, report.rejected) == (0, 0, 2)  # the all-empty record is skipped
    assert report.errors[0] == RowError(
        2,
        "provider: 'foo' is not a configured provider (known: teplo, voda); "
        "account: 'bar' is not an account number; address: required, but empty; "
        "holder: required, but empty; balance: required, but empty",
    )
    assert report.errors[1].line == 4
    assert await rows(any_db, Account) == []


async def test_bytes_that_are_not_utf8_reject_their_row_only(any_db, config, tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_bytes(
        f"{ACCOUNTS_HEADER}\n".encode()
        + "teplo,1001001,вул. Садова,Бондар,1,,,\n".encode("cp1251")
        + "teplo,1001002,вул. Садова,Бондар,1,,,\n".encode()
    )
    report = await import_csv(any_db, config, "accounts", path)
    assert (report.inserted, report.rejected) == (1, 1)
    assert report.errors[0].line == 2
    assert "address:" in report.errors[0].reason and "not valid UTF-8" in report.errors[0].reason


# --- whole-file problems ------------------------------------------------------------------------


async def test_missing_columns_raise_before_writing(any_db, config, tmp_path):
    await run(any_db, config, "accounts", tmp_path, ACCOUNTS)
    before = await snapshot(any_db)
    with pytest.raises(ImportFileError, match=r"missing column\(s\): meter_id, max_monthly_delta"):
        await run(
            any_db, config, "meters", tmp_path, "provider,account,kind,zone,unit,last_value,last_date\n"
        )
    with pytest.raises(ImportFileError, match="missing column"):
        await run(any_db, config, "accounts", tmp_path, "provider,account,address\nteplo,1001009,x\n")
    with pytest.raises(ImportFileError, match="duplicate column"):
        await run(any_db, config, "charges", tmp_path, "provider,account,period,service,amount,amount\n")
    with pytest.raises(ImportFileError, match="empty"):
        await run(any_db, config, "payments", tmp_path, "")
    with pytest.raises(ImportFileError, match="cannot read"):
        await import_csv(any_db, config, "payments", tmp_path / "nowhere.csv")
    assert await snapshot(any_db) == before


# --- idempotency --------------------------------------------------------------------------------


async def test_reimport_changes_nothing(any_db, config, tmp_path):
    await import_all(any_db, config, tmp_path)
    before = await snapshot(any_db)
    again = await import_all(any_db, config, tmp_path)
    assert [(r.inserted, r.updated, r.rejected) for r in again] == [(0, 0, 0)] * 4
    assert await snapshot(any_db) == before  # updated_at included: unchanged rows are not written


async def test_changed_rows_are_updated(any_db, config, tmp_path):
    await import_all(any_db, config, tmp_path)
    before = await account(any_db, "voda", "2002001")
    accounts = (
        ACCOUNTS.replace('"1 234,50",15.12.2026', "0,15.12.2026") + "voda,2002002,вул. Нова,Нова Ніна,5,,,\n"
    )
    report = await run(any_db, config, "accounts", tmp_path, accounts)
    assert (report.inserted, report.updated, report.rejected) == (1, 1, 0)
    after = await account(any_db, "voda", "2002001")
    assert (after.id, after.balance, after.holder) == (before.id, Decimal("0.00"), before.holder)
    assert after.updated_at >= before.updated_at

    meters = METERS.replace("W-7,cold_water,,m³,1234.5", "W-7,hot_water,,m³,1240.125")
    report = await run(any_db, config, "meters", tmp_path, meters)
    assert (report.inserted, report.updated) == (0, 1)
    report = await run(any_db, config, "charges", tmp_path, CHARGES.replace("1200.00", "1250.00"))
    assert (report.inserted, report.updated) == (0, 1)
    assert (await _charges(any_db))[0].amount == Decimal("1250.00")
    # A payment's amount is part of its key: a different amount is another payment.
    report = await run(any_db, config, "payments", tmp_path, PAYMENTS.replace("120.50", "121.50"))
    assert (report.inserted, report.updated) == (1, 0)
    assert len(await rows(any_db, Meter)) == 4 and len(await rows(any_db, Payment)) == 4


async def test_duplicate_keys_in_one_batch_last_row_wins(any_db, config, tmp_path):
    text = f"{ACCOUNTS_HEADER}\nteplo,5005005,a,b,1,,,\nteplo,5005-005,a,b,2,,,\nteplo,5005005,a,c,3,,,\n"
    report = await run(any_db, config, "accounts", tmp_path, text)
    assert (report.inserted, report.updated, report.rejected) == (1, 0, 0)
    stored = await account(any_db, "teplo", "5005005")
    assert (stored.holder, stored.balance) == ("c", Decimal("3.00"))


# --- batches, crashes, progress -----------------------------------------------------------------

FIVE = f"""{ACCOUNTS_HEADER}
teplo,6000001,a,h,1,,,
teplo,6000002,a,h,2,,,
teplo,6000003,a,h,oops,,,
teplo,6000004,a,h,4,,,
teplo,6000005,a,h,5,,,
"""


async def test_batches_are_separate_transactions(any_db, config, tmp_path, monkeypatch):
    units = 0
    real = any_db.unit_of_work

    def counting() -> Any:
        nonlocal units
        units += 1
        return real()

    monkeypatch.setattr(any_db, "unit_of_work", counting)
    report = await run(any_db, config, "accounts", tmp_path, FIVE, batch_size=2)
    monkeypatch.undo()
    assert (report.inserted, report.rejected) == (4, 1)
    assert report.errors == [RowError(4, "balance: 'oops' is not an amount")]
    assert units == 3  # records 1-2, 3-4 (one bad), 5
    assert [row[2] for row in await rows(any_db, Account)] == ["6000001", "6000002", "6000004", "6000005"]


async def test_a_crash_leaves_whole_batches_and_a_rerun_completes(any_db, config, tmp_path, monkeypatch):
    real = importer_writer._write_batch
    calls = 0

    async def crashing(session: Any, target: Any, batch: Any) -> tuple[int, int]:
        nonlocal calls
        calls += 1
        result = await real(session, target, batch)
        if calls == 2:
            raise RuntimeError("power cut")  # after writing, before the commit
        return result

    monkeypatch.setattr(importer_writer, "_write_batch", crashing)
    with pytest.raises(RuntimeError, match="power cut"):
        await run(any_db, config, "accounts", tmp_path, FIVE, batch_size=2)
    assert [row[2] for row in await rows(any_db, Account)] == ["6000001", "6000002"]

    monkeypatch.undo()
    report = await run(any_db, config, "accounts", tmp_path, FIVE, batch_size=2)
    assert (report.inserted, report.updated, report.rejected) == (2, 0, 1)
    assert [row[2] for row in await rows(any_db, Account)] == ["6000001", "6000002", "6000004", "6000005"]


TWENTY = ACCOUNTS_HEADER + "\n" + "".join(f"teplo,{6100000 + i},a,h,{i},,,\n" for i in range(20))


async def test_the_next_batch_is_parsed_while_one_is_written(any_db, config, tmp_path, monkeypatch):
    """One write in flight, in file order, while the records after it are parsed."""
    monkeypatch.setattr(importer_run, "YIELD_EVERY", 1)
    real_write, real_parse = importer_writer._write_batch, importer_rows.RowParser.__call__
    parsed: list[int] = []  # balances of the records parsed so far: 0, 1, 2, ...
    writes: list[tuple[list[int], int]] = []  # (balances of the batch, records parsed when written)
    in_flight = most_in_flight = 0

    def parse(self: Any, fields: list[str]) -> dict[str, Any]:
        row = real_parse(self, fields)
        parsed.append(int(row["balance"]))
        return row

    async def write(session: Any, target: Any, batch: Any) -> tuple[int, int]:
        nonlocal in_flight, most_in_flight
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        await asyncio.sleep(0.05)  # a slow disk
        result = await real_write(session, target, batch)
        writes.append(([int(row["balance"]) for _, row in batch.rows], len(parsed)))
        in_flight -= 1
        return result

    monkeypatch.setattr(importer_rows.RowParser, "__call__", parse)
    monkeypatch.setattr(importer_writer, "_write_batch", write)
    report = await run(any_db, config, "accounts", tmp_path, TWENTY, batch_size=6)
    assert (report.inserted, report.rejected) == (20, 0)
    assert most_in_flight == 1
    assert [balances for balances, _ in writes] == [
        [0, 1, 2, 3, 4, 5],
        [6, 7, 8, 9, 10, 11],
        [12, 13, 14, 15, 16, 17],
        [18, 19],
    ]
    assert [count for _, count in writes] == [12, 18, 20, 20]  # the next batch was parsed meanwhile
    assert [row[2] for row in await rows(any_db, Account)] == [str(6100000 + i) for i in range(20)]


async def test_a_failing_batch_keeps_the_batches_before_it_and_writes_none_after(
    any_db, config, tmp_path, monkeypatch
):
    real = importer_writer._write_batch

    async def failing(session: Any, target: Any, batch: Any) -> tuple[int, int]:
        if batch.rows[0][0] == 14:  # the third batch: records on lines 14-19
            raise RuntimeError("disk full")
        return await real(session, target, batch)

    monkeypatch.setattr(importer_writer, "_write_batch", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        await run(any_db, config, "accounts", tmp_path, TWENTY, batch_size=6)
    assert [row[2] for row in await rows(any_db, Account)] == [str(6100000 + i) for i in range(12)]

    monkeypatch.undo()
    report = await run(any_db, config, "accounts", tmp_path, TWENTY, batch_size=6)
    assert (report.inserted, report.updated, report.rejected) == (8, 0, 0)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 7])
async def test_small_batches_report_the_same_lines_and_rows(any_db, config, tmp_path, batch_size):
    """Errors found while parsing and while writing (unknown accounts), across batch boundaries."""
    small = await run(any_db, config, "accounts", tmp_path, MIXED_ACCOUNTS, batch_size=batch_size)
    again = await run(any_db, config, "accounts", tmp_path, MIXED_ACCOUNTS)
    assert (small.inserted, small.rejected, again.inserted, again.updated) == (3, 13, 0, 0)
    assert small.errors == again.errors
    assert [error.line for error in small.errors] == [3, 4, 7, 8, 9, 10, 11, 12, 15, 16, 17, 18, 20]

    meters = f"""{METERS_HEADER}
teplo,1001001,H-1,heat,,Gcal,1,,,,
teplo,9999999,H-2,heat,,Gcal,1,,,,
teplo,1001001,H-3,steam,,Gcal,1,,,,
teplo,9999998,H-4,heat,,Gcal,1,,,,
voda,1001001,H-5,heat,,Gcal,1,,,,
teplo,1001001,H-6,heat,,Gcal,1,,,,
teplo,1001001,H-7,heat,,Gcal,x,,,,
"""
    small = await run(any_db, config, "meters", tmp_path, meters, batch_size=batch_size)
    again = await run(any_db, config, "meters", tmp_path, meters)
    assert (small.inserted, small.rejected, again.inserted, again.updated) == (2, 5, 0, 0)
    assert small.errors == again.errors
    assert [error.line for error in small.errors] == [3, 4, 5, 6, 8]


async def test_reimporting_the_largest_and_most_precise_values_changes_nothing(any_db, config, tmp_path):
    """What SQLite stores as REAL reads back equal (at most 15 significant digits)."""
    accounts = f"{ACCOUNTS_HEADER}\nteplo,7007007,a,h,999999999999.99,,0.01,\nteplo,7007008,a,h,-0.01,,,\n"
    meters = f"{METERS_HEADER}\nteplo,7007007,M-1,heat,,Gcal,123456789.123456,,999999999.999999,6,yes\n"
    assert (await run(any_db, config, "accounts", tmp_path, accounts)).inserted == 2
    assert (await run(any_db, config, "meters", tmp_path, meters)).inserted == 1
    report = await run(any_db, config, "accounts", tmp_path, accounts)
    assert (report.inserted, report.updated) == (0, 0)
    report = await run(any_db, config, "meters", tmp_path, meters)
    assert (report.inserted, report.updated) == (0, 0)
    report = await run(any_db, config, "accounts", tmp_path, accounts.replace(".99,", ".98,"))
    assert (report.inserted, report.updated) == (0, 1)
    report = await run(any_db, config, "meters", tmp_path, meters.replace(".123456,", ".123457,"))
    assert (report.inserted, report.updated) == (0, 1)
    stored = await account(any_db, "teplo", "7007007")
    assert (stored.balance, stored.last_payment_amount) == (Decimal("999999999999.98"), Decimal("0.01"))


async def test_an_import_into_sqlite_leaves_planner_statistics(db, config, tmp_path):
    await run(db, config, "accounts", tmp_path, ACCOUNTS)
    await run(db, config, "meters", tmp_path, METERS)
    async with db.unit_of_work() as uow:
        analyzed = (await uow.session.execute(text("SELECT DISTINCT tbl FROM sqlite_stat1"))).scalars().all()
    assert "meters" in analyzed


async def test_progress_sums_to_the_file_size(any_db, config, tmp_path):
    lines = [f"teplo,{7000000 + i},вул. Довга {i},Власник,{i}.{i % 100:02d},,," for i in range(300)]
    path = write(tmp_path, "accounts.csv", "\n".join([ACCOUNTS_HEADER, *lines]) + "\n", bom=True)
    calls: list[int] = []
    report = await import_csv(any_db, config, "accounts", path, progress=calls.append, batch_size=50)
    assert report.inserted == 300
    assert sum(calls) == path.stat().st_size
    assert len(calls) >= 2 and all(n > 0 for n in calls)


async def test_a_batch_larger_than_the_parameter_limit(any_db, config, tmp_path):
    """PostgreSQL allows 32767 bind parameters per statement; lookups pass one array instead."""
    count = 33_000
    accounts = "".join(f"teplo,{8000000 + i},a,h,{i % 1000},,,\n" for i in range(count))
    report = await run(
        any_db, config, "accounts", tmp_path, f"{ACCOUNTS_HEADER}\n{accounts}", batch_size=40_000
    )
    assert (report.inserted, report.rejected) == (count, 0)
    charges = "".join(f"teplo,{8000000 + i},2026-10,Heating,{i % 1000}\n" for i in range(count))
    charges = f"provider,account,period,service,amount\n{charges}"
    assert (await run(any_db, config, "charges", tmp_path, charges, batch_size=40_000)).inserted == count
    changed = charges.replace("teplo,8000000,2026-10,Heating,0", "teplo,8000000,2026-10,Heating,0.01")
    again = await run(any_db, config, "charges", tmp_path, changed, batch_size=40_000)
    assert (again.inserted, again.updated) == (0, 1)


# --- column parsers (no database) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1234.50", "1234.50"),
        ("1234.5", "1234.50"),
        ("-150", "-150.00"),
        ("1234,50", "1234.50"),
        ("1 234,50", "1234.50"),
        ("1\u00a0234\u202f567,5", "1234567.50"),
        ("+5", "5.00"),
        ("007.10", "7.10"),
        ("-0.00", "0.00"),
        ("999999999999.99", "999999999999.99"),
    ],
)
def test_money_values(raw, expected):
    value = importer_values.money("amount")(raw)
    assert isinstance(value, Decimal) and str(value) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("NaN", "is not an amount"),
        ("inf", "is not an amount"),
        ("-Infinity", "is not an amount"),
        ("1e5", "is not an amount"),
        ("12,3,4", "is not an amount"),
        ("1.234.5", "is not an amount"),
        ("1 23,5", "is not an amount"),
        ("١٢٣", "is not an amount"),
        ("abc", "is not an amount"),
        ("1.", "is not an amount"),
        ("1.005", "has more than 2 decimal places"),
        ("1000000000000", "is too large"),
        ("", "required, but empty"),
    ],
)
def test_bad_money_values(raw, reason):
    with pytest.raises(importer_values.Rejected, match=reason):
        importer_values.money("amount")(raw)


@pytest.mark.parametrize(
    "sign", [importer_values.ANY, importer_values.NON_NEGATIVE, importer_values.POSITIVE]
)
def test_common_numbers_parse_as_the_general_rules_do(sign):
    """The money and meter parsers' shortcut for plain numbers agrees with ``_decimal``."""
    samples = ["0", "0.0", "-0", "-0.00", "5", "-5", "0.01", "-0.01", "12.3", "12.34", "12.345", "1.234567"]
    samples += ["999999999", "1000000000", "999999999999.99", "1000000000000", "-999999999999.99", "007"]
    for raw in samples:
        for parse, general in (
            (
                importer_values.money("c", sign),
                lambda raw: importer_values._decimal("c", raw, 2, sign, "an amount"),
            ),
            (
                importer_values.meter_value("c", 6, sign),
                lambda raw: importer_values._decimal(
                    "c", raw, 6, sign, "a number", importer_values.MAX_METER_INTEGER_DIGITS
                ),
            ),
        ):
            try:
                expected: Any = general(raw)
            except importer_values.Rejected as problem:
                expected = str(problem)
            try:
                value: Any = parse(raw)
            except importer_values.Rejected as problem:
                value = str(problem)
            if isinstance(expected, Decimal) and parse.__qualname__.startswith("money."):
                expected = expected.quantize(Decimal("0.01"))
            assert (value, str(value)) == (expected, str(expected)), raw


def test_meter_values_and_dates():
    assert importer_values.meter_value("v", 6)("123456789.123456") == Decimal("123456789.123456")
    with pytest.raises(importer_values.Rejected, match="at most 9 digits before the point"):
        importer_values.meter_value("v", 3)("1234567890.1")
    with pytest.raises(importer_values.Rejected, match="more than 3 decimal places"):
        importer_values.meter_value("v", 3)("1.0001")
    with pytest.raises(importer_values.Rejected, match="must not be negative"):
        importer_values.meter_value("v", 3)("-0.5")
    assert importer_values.date_value("d")("2026-02-28") == date(2026, 2, 28)
    assert importer_values.date_value("d")("1.2.2026") == date(2026, 2, 1)
    assert importer_values.date_value("d")("29.02.2024") == date(2024, 2, 29)
    for raw in (
        "2026-2-28",
        "2026-02-29",
        "28/02/2026",
        "20260228",
        "２０２６-02-28",
        "2026-W09-6",
        "31.04.2026",
    ):
        with pytest.raises(importer_values.Rejected, match="is not a date"):
            importer_values.date_value("d")(raw)


async def test_reported_errors_are_capped_but_all_counted(any_db, config, tmp_path, monkeypatch):
    monkeypatch.setattr(importer_report, "MAX_REPORTED_ERRORS", 2)
    report = await run(any_db, config, "accounts", tmp_path, FIVE.replace(",h,", ",h,x"), batch_size=2)
    assert (report.inserted, report.rejected, len(report.errors), report.errors_truncated) == (0, 5, 2, True)
    assert [error.line for error in report.errors] == [2, 3]


async def test_a_malformed_csv_stops_at_its_line_and_keeps_what_came_before(any_db, config, tmp_path):
    limit = csv.field_size_limit(200)
    try:
        text = FIVE.replace("teplo,6000004,a,", f'teplo,6000004,"{"y" * 300}",')
        report = await run(any_db, config, "accounts", tmp_path, text)
    finally:
        csv.field_size_limit(limit)
    assert (report.inserted, report.rejected) == (2, 2)
    assert report.errors[0] == RowError(4, "balance: 'oops' is not an amount")
    assert report.errors[1].line == 5
    assert report.errors[1].reason.startswith("malformed CSV (field larger than field limit (200))")
