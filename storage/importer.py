"""Streaming, idempotent import of billing CSV files (accounts, meters, charges, payments).

The file is read record by record (never whole), validated row by row and written in batches
of ``batch_size`` records, each batch in its own transaction: a crash leaves whole batches
behind, never half a row, and running the import again completes it.

Every write is an upsert on the table's natural key, so re-importing a file changes nothing:

- accounts by (provider_id, number), meters by (account_id, serial, zone),
  charges by (account_id, period, service) — changed rows are updated;
- payments by (account_id, paid_on, amount, channel) — existing ones are left alone.

Per batch the importer runs one query to resolve account ids, one to load the rows that
already exist (to tell inserted from updated from unchanged rows, which are not written at
all), and one Core ``INSERT ... ON CONFLICT`` for the new and changed rows: executed per row
through the driver's executemany on SQLite, once over ``unnest(column arrays)`` on PostgreSQL.
Lookups pass their keys as one list parameter too, so no statement comes near PostgreSQL's
32767-parameter limit, whatever ``batch_size``. No ORM objects are built, no query runs per row.

Bad rows are reported with the physical line where the record starts (the header is line 1)
and a reason naming the column and the value; good rows are kept. Money and meter values are
parsed into ``Decimal`` (never float) and must fit their columns.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal, get_args

from sqlalchemy import (
    Column,
    ColumnElement,
    Select,
    String,
    Table,
    bindparam,
    func,
    literal_column,
    select,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.domain.text import normalize_account_number
from storage.database import Database
from storage.models import Base
from storage.upsert import insert_for

ImportKind = Literal["accounts", "meters", "charges", "payments"]
IMPORT_KINDS: tuple[ImportKind, ...] = get_args(ImportKind)

#: At most this many rejected rows are kept in ``ImportReport.errors`` (``rejected`` counts all).
MAX_REPORTED_ERRORS = 1000

METER_KINDS = ("cold_water", "hot_water", "heat", "electricity", "gas")
METER_ZONES = ("", "day", "night")
DEFAULT_PRECISION = 3
MAX_PRECISION = 6
MONEY_PLACES = 2
# Money is Numeric(14, 2): 12 digits before the point. Meter values are Numeric(15, 6): 9 digits
# before the point, so that every value has at most 15 significant digits and survives SQLite's
# floating-point storage of NUMERIC exactly.
MAX_INTEGER_DIGITS = 12
MAX_METER_INTEGER_DIGITS = 9

_CENT = Decimal("0.01")


class ImportFileError(Exception):
    """The file as a whole cannot be imported (unreadable, no header, missing columns)."""


@dataclass(frozen=True)
class RowError:
    """A rejected record: the physical line where it starts (header = 1) and why."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ImportReport:
    """What one import did; ``errors`` keeps the first ``MAX_REPORTED_ERRORS`` rejected rows."""

    kind: ImportKind
    path: str
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.rejected == 0

    @property
    def errors_truncated(self) -> bool:
        return self.rejected > len(self.errors)


class _Rejected(Exception):
    """A value (or a whole row) is not acceptable; the message is the reason shown to the user."""


# ---------------------------------------------------------------------------------------------
# One parser per column type: ``parser(column, stripped_raw_value, ...) -> value``.

_SIMPLE_NUMBER = re.compile(r"(?:-(?=[0-9.]*[1-9]))?(?:[1-9][0-9]{0,11}|0)(?:\.([0-9]+))?")
_NUMBER = re.compile(r"([+-]?)([0-9]{1,3}(?:[ \u00a0\u2009\u202f][0-9]{3})+|[0-9]+)(?:[.,]([0-9]+))?")
_GROUP_SEPARATORS = re.compile(r"[ \u00a0\u2009\u202f]")
_DOTTED_DATE = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})")
_PERIOD = re.compile(r"([0-9]{4})-([0-9]{2})")
# Lone surrogates are what undecodable bytes turn into (errors="surrogateescape").
_SURROGATES = re.compile("[\udc80-\udcff]")
_PLAIN_ACCOUNT = re.compile(r"(?=[0-9A-Za-z]{3,32}\Z)[A-Za-z]*[0-9][0-9A-Za-z]*")
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})

_ANY = "any"
_NON_NEGATIVE = "non-negative"
_POSITIVE = "positive"


def _show(raw: str) -> str:
    """The value as quoted in a reason, shortened when it is long."""
    return repr(raw if len(raw) <= 40 else raw[:37] + "...")


def _require(column: str, raw: str) -> None:
    if not raw:
        raise _Rejected(f"{column}: required, but empty")


def _decimal(
    column: str, raw: str, places: int, sign: str, what: str, max_digits: int = MAX_INTEGER_DIGITS
) -> Decimal:
    simple = _SIMPLE_NUMBER.fullmatch(raw)  # '1234.5', '-150': the common case, parsed as is
    fits = simple is not None and len(raw.partition(".")[0].lstrip("-")) <= max_digits
    if fits and (simple[1] is None or len(simple[1]) <= places):  # type: ignore[index]
        value = Decimal(raw)
    else:
        value = _spelled_decimal(column, raw, places, what, max_digits)
    if sign != _ANY and value <= 0:
        if value < 0:
            raise _Rejected(f"{column}: {_show(raw)} must not be negative")
        if sign == _POSITIVE:
            raise _Rejected(f"{column}: {_show(raw)} must be greater than zero")
    return value


def _spelled_decimal(column: str, raw: str, places: int, what: str, max_digits: int) -> Decimal:
    """'+1 234,50', '007', '-0' and everything wrong: separators, sign, size and places checked."""
    _require(column, raw)
    match = _NUMBER.fullmatch(raw)
    if match is None:
        raise _Rejected(f"{column}: {_show(raw)} is not {what}")
    minus, integer, fraction = match.groups()
    fraction = fraction or ""
    if len(fraction) > places:
        raise _Rejected(f"{column}: {_show(raw)} has more than {places} decimal places")
    integer = _GROUP_SEPARATORS.sub("", integer).lstrip("0") or "0"
    if len(integer) > max_digits:
        raise _Rejected(f"{column}: {_show(raw)} is too large (at most {max_digits} digits before the point)")
    value = Decimal(f"{minus}{integer}.{fraction or '0'}")
    return abs(value) if value == 0 else value  # no negative zero


def _money(column: str, raw: str, sign: str = _ANY) -> Decimal:
    return _decimal(column, raw, MONEY_PLACES, sign, "an amount").quantize(_CENT)


def _meter_value(column: str, raw: str, places: int, sign: str = _NON_NEGATIVE) -> Decimal:
    return _decimal(column, raw, places, sign, "a number", MAX_METER_INTEGER_DIGITS)


def _date(column: str, raw: str) -> date:
    if len(raw) == 10 and raw[4] == "-" and raw[7] == "-" and raw.isascii():
        try:  # the common case; only YYYY-MM-DD has these dashes and length
            return date.fromisoformat(raw)
        except ValueError:
            pass
    else:
        _require(column, raw)
        dotted = _DOTTED_DATE.fullmatch(raw)
        try:
            if dotted:
                return date(int(dotted[3]), int(dotted[2]), int(dotted[1]))
        except ValueError:
            pass
    raise _Rejected(f"{column}: {_show(raw)} is not a date (use YYYY-MM-DD or DD.MM.YYYY)")


def _period(column: str, raw: str) -> str:
    _require(column, raw)
    match = _PERIOD.fullmatch(raw)
    if match is None or not 1 <= int(match[2]) <= 12:
        raise _Rejected(f"{column}: {_show(raw)} is not a billing period (use YYYY-MM)")
    return raw


def _text(column: str, raw: str, max_length: int, required: bool = True) -> str:
    if required:
        _require(column, raw)
    if "\x00" in raw or (not raw.isascii() and _SURROGATES.search(raw)):  # PostgreSQL refuses NUL
        raise _Rejected(f"{column}: {_show(raw)} contains bytes that are not valid UTF-8 text")
    if len(raw) > max_length:
        raise _Rejected(f"{column}: {len(raw)} characters, at most {max_length} allowed")
    return raw


def _choice(column: str, raw: str, choices: Sequence[str]) -> str:
    if "" not in choices:
        _require(column, raw)
    value = raw.lower()
    if value not in choices:
        allowed = ", ".join(repr(choice) for choice in choices)
        raise _Rejected(f"{column}: {_show(raw)} is not one of {allowed}")
    return value


def _flag(column: str, raw: str) -> bool:
    value = raw.lower()
    if not value or value in _FALSE:
        return False
    if value in _TRUE:
        return True
    raise _Rejected(f"{column}: {_show(raw)} is not true/false (use true, false, 1, 0, yes or no)")


def _precision(column: str, raw: str) -> int:
    if not raw:
        return DEFAULT_PRECISION
    if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_PRECISION:
        raise _Rejected(f"{column}: {_show(raw)} is not a whole number from 0 to {MAX_PRECISION}")
    return int(raw)


def _provider(column: str, raw: str, providers: frozenset[str]) -> str:
    _require(column, raw)
    if raw not in providers:
        known = ", ".join(sorted(providers))
        raise _Rejected(f"{column}: {_show(raw)} is not a configured provider (known: {known})")
    return raw


def _account_number(column: str, raw: str) -> str:
    _require(column, raw)
    if _PLAIN_ACCOUNT.fullmatch(raw):  # the common case, same result as the full normalization
        return raw.upper()
    number = normalize_account_number(raw)
    if number is None:
        raise _Rejected(f"{column}: {_show(raw)} is not an account number")
    return number


# ---------------------------------------------------------------------------------------------
# One validator per kind: the fields of its file, and a check across fields where one is needed.


@dataclass(frozen=True)
class _Field:
    """A CSV column, the row key its parsed value goes to, and its parser with extra arguments.

    An empty value of an ``optional`` field is None (not parsed).
    """

    column: str
    key: str
    parse: Callable[..., Any]
    args: tuple[Any, ...] = ()
    optional: bool = False


def _account_key_fields(providers: frozenset[str]) -> tuple[_Field, ...]:
    return (
        _Field("provider", "provider_id", _provider, (providers,)),
        _Field("account", "number", _account_number),
    )


def _account_fields(providers: frozenset[str]) -> tuple[_Field, ...]:
    return (
        *_account_key_fields(providers),
        _Field("address", "address", _text, (300,)),
        _Field("holder", "holder", _text, (200,)),
        _Field("balance", "balance", _money),  # negative: paid in advance
        _Field("due_date", "due_date", _date, optional=True),
        _Field("last_payment_amount", "last_payment_amount", _money, (_POSITIVE,), optional=True),
        _Field("last_payment_date", "last_payment_date", _date, optional=True),
    )


def _meter_fields(providers: frozenset[str]) -> tuple[_Field, ...]:
    return (
        *_account_key_fields(providers),
        _Field("meter_id", "serial", _text, (64,)),
        _Field("kind", "kind", _choice, (METER_KINDS,)),
        _Field("zone", "zone", _choice, (METER_ZONES,)),
        _Field("unit", "unit", _text, (16,)),
        # Decimal places are checked against the row's precision by _check_meter.
        _Field("last_value", "last_value", _meter_value, (MAX_PRECISION,), optional=True),
        _Field("last_date", "last_date", _date, optional=True),
        _Field(
            "max_monthly_delta",
            "max_monthly_delta",
            _meter_value,
            (
                MAX_PRECISION,
                _POSITIVE,
            ),
            optional=True,
        ),
        _Field("precision", "precision", _precision),
        _Field("automatic", "automatic", _flag),
    )


def _check_meter(row: dict[str, Any]) -> list[str]:
    """Meter values may have at most the meter's ``precision`` decimal places."""
    precision = row.get("precision")
    if precision is None:
        return []
    problems = []
    for column in ("last_value", "max_monthly_delta"):
        value = row.get(column)
        if value is not None and -int(value.as_tuple().exponent) > precision:
            problems.append(
                f"{column}: {str(value)!r} has more than {precision} decimal places (precision {precision})"
            )
    return problems


def _charge_fields(providers: frozenset[str]) -> tuple[_Field, ...]:
    return (
        *_account_key_fields(providers),
        _Field("period", "period", _period),
        _Field("service", "service", _text, (100,)),
        _Field("amount", "amount", _money),  # negative: a correction
    )


def _payment_fields(providers: frozenset[str]) -> tuple[_Field, ...]:
    return (
        *_account_key_fields(providers),
        _Field("date", "paid_on", _date),
        _Field("amount", "amount", _money, (_POSITIVE,)),
        _Field("channel", "channel", _text, (100, False)),
    )


@dataclass(frozen=True)
class _KindSpec:
    table: str
    required: tuple[str, ...]
    fields: Callable[[frozenset[str]], tuple[_Field, ...]]
    key: tuple[str, ...]
    update: tuple[str, ...]  # compared and overwritten on conflict; empty: conflicts are left alone
    references_account: bool = True
    check: Callable[[dict[str, Any]], list[str]] | None = None


_KINDS: dict[ImportKind, _KindSpec] = {
    "accounts": _KindSpec(
        table="accounts",
        required=(
            "provider",
            "account",
            "address",
            "holder",
            "balance",
            "due_date",
            "last_payment_amount",
            "last_payment_date",
        ),
        fields=_account_fields,
        key=("provider_id", "number"),
        update=("address", "holder", "balance", "due_date", "last_payment_amount", "last_payment_date"),
        references_account=False,
    ),
    "meters": _KindSpec(
        table="meters",
        required=(
            "provider",
            "account",
            "meter_id",
            "kind",
            "zone",
            "unit",
            "last_value",
            "last_date",
            "max_monthly_delta",
        ),
        fields=_meter_fields,
        check=_check_meter,
        key=("account_id", "serial", "zone"),
        update=("kind", "unit", "last_value", "last_date", "max_monthly_delta", "precision", "automatic"),
    ),
    "charges": _KindSpec(
        table="charges",
        required=("provider", "account", "period", "service", "amount"),
        fields=_charge_fields,
        key=("account_id", "period", "service"),
        update=("amount",),
    ),
    "payments": _KindSpec(
        table="payments",
        required=("provider", "account", "date", "amount", "channel"),
        fields=_payment_fields,
        key=("account_id", "paid_on", "amount", "channel"),
        update=(),
    ),
}


# ---------------------------------------------------------------------------------------------
# Reading the file.


class _Source:
    """CSV records of a UTF-8 file with their starting line, and the bytes consumed so far."""

    def __init__(self, path: Path) -> None:
        try:
            self._binary = path.open("rb")
        except OSError as error:
            raise ImportFileError(f"cannot read the file ({error.strerror})") from None
        # utf-8-sig drops a BOM; undecodable bytes become lone surrogates that _text() rejects.
        self._text = io.TextIOWrapper(
            self._binary, encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
        self._reader = csv.reader(self._text)
        self._reported = 0
        self.line = 1  # where the record being read starts

    def close(self) -> None:
        self._text.close()

    def header(self) -> list[str]:
        first = next(self._reader, None)
        if first is None:
            raise ImportFileError("the file is empty (a header row is required)")
        return [name.strip().lower() for name in first]

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """(line where the record starts, fields); blank records are skipped."""
        while True:
            self.line = self._reader.line_num + 1
            fields = next(self._reader, None)
            if fields is None:
                return
            if fields and (fields[0].strip() or "".join(fields).strip()):
                yield self.line, fields

    def consumed(self) -> int:
        """Bytes read from the file since the previous call."""
        position = self._binary.tell()
        delta, self._reported = position - self._reported, position
        return delta


def _check_header(header: list[str], spec: _KindSpec) -> None:
    duplicates = sorted({name for name in header if name and header.count(name) > 1})
    if duplicates:
        raise ImportFileError(f"duplicate column(s) in the header: {', '.join(duplicates)}")
    missing = [name for name in spec.required if name not in header]
    if missing:
        raise ImportFileError(
            f"missing column(s): {', '.join(missing)} (the header has: {', '.join(header) or 'nothing'})"
        )


class _RowParser:
    """Turns a record's fields into the row to write, or raises _Rejected listing every problem."""

    def __init__(self, spec: _KindSpec, header: list[str], providers: frozenset[str]) -> None:
        _check_header(header, spec)
        self.width = len(header)
        position = {name: index for index, name in enumerate(header) if name}
        # Optional columns the file lacks read the empty string appended after the last field.
        self.plan = [
            (
                field.key,
                field.column,
                position.get(field.column, self.width),
                field.parse,
                field.args,
                field.optional,
            )
            for field in spec.fields(providers)
        ]
        self.check = spec.check

    def __call__(self, fields: list[str]) -> dict[str, Any]:
        if len(fields) != self.width:
            raise _Rejected(f"the record has {len(fields)} fields, the header has {self.width}")
        fields.append("")
        row: dict[str, Any] = {}
        problems: list[str] = []
        for key, column, position, parse, args, optional in self.plan:
            raw = fields[position].strip()
            if optional and not raw:
                row[key] = None
                continue
            try:
                row[key] = parse(column, raw, *args)
            except _Rejected as problem:
                problems.append(str(problem))
        if self.check is not None:
            problems.extend(self.check(row))
        if problems:
            raise _Rejected("; ".join(problems))
        return row


# ---------------------------------------------------------------------------------------------
# Writing one batch.


@dataclass
class _Batch:
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (line, row)
    errors: list[RowError] = field(default_factory=list)
    records: int = 0


async def _lookup(
    session: AsyncSession,
    table: Table,
    key_names: tuple[str, ...],
    value_names: tuple[str, ...],
    keys: Iterable[tuple[Any, ...]],
) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """The rows stored under ``keys`` (natural keys, unique): key → values of ``value_names``.

    One query per batch whose parameters are whole lists, whatever the batch size (no
    32767-parameter limit to chunk around, nothing for SQLAlchemy to expand per execution).
    """
    wanted = set(keys)
    if not wanted:
        return {}
    key_columns = [table.c[name] for name in key_names]
    columns = [*key_columns, *(table.c[name] for name in value_names)]
    if session.get_bind().dialect.name == "postgresql":
        query = _probe_each_key(columns, key_columns, wanted)
    else:
        query = _filter_by_two_columns(columns, key_columns, wanted)
    width = len(key_names)
    found: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for stored in await session.execute(query):
        key = tuple(stored[:width])
        if key in wanted:
            found[key] = tuple(stored[width:])
    return found


def _probe_each_key(
    columns: list[Column[Any]], key_columns: list[Column[Any]], wanted: set[tuple[Any, ...]]
) -> Select[Any]:
    """PostgreSQL: ``unnest(:arrays) CROSS JOIN LATERAL (... WHERE key = that key LIMIT 1)``.

    One unique-index probe per key, a plan that does not depend on table statistics: before the
    first ANALYZE a plain ``= ANY(:array)`` is planned as a scan of all the provider's rows.
    """
    names = [f"k{index}" for index in range(len(key_columns))]
    arrays = [
        bindparam(None, [key[index] for key in wanted], type_=postgresql.ARRAY(column.type))
        for index, column in enumerate(key_columns)
    ]
    keys = func.unnest(*arrays).table_valued(*names).render_derived()
    probe = (
        select(*columns)
        .where(*(column == keys.c[name] for column, name in zip(key_columns, names, strict=True)))
        .limit(1)
        .lateral()
    )
    return select(*probe.c).select_from(keys).join(probe, true())


def _filter_by_two_columns(
    columns: list[Column[Any]], key_columns: list[Column[Any]], wanted: set[tuple[Any, ...]]
) -> Select[Any]:
    """SQLite: ``first IN (SELECT value FROM json_each(:list)) AND second IN (...)``.

    The key's first two columns lead its unique index; the caller keeps the exact keys.
    """

    def one_of(column: Column[Any], values: set[Any]) -> ColumnElement[bool]:
        array = bindparam(None, json.dumps(list(values), default=str), type_=String())  # dates: ISO
        return column.in_(select(literal_column("value")).select_from(func.json_each(array)))

    first, second = key_columns[:2]
    return select(*columns).where(
        one_of(first, {key[0] for key in wanted}), one_of(second, {key[1] for key in wanted})
    )


def _upsert(session: AsyncSession, table: Table, spec: _KindSpec, source: Select[Any] | None = None) -> Any:
    """INSERT ... ON CONFLICT on the natural key: update the ``update`` columns, or do nothing.

    Without ``source`` the statement inserts one row (run it per row); with ``source`` it inserts
    what that SELECT returns, whose columns are those of ``_unnest_rows``.
    """
    statement = insert_for(session, table)
    if source is not None:
        statement = statement.from_select(list(source.selected_columns.keys()), source)
    if not spec.update:
        return statement.on_conflict_do_nothing(index_elements=list(spec.key))
    extra = ("updated_at",) if "updated_at" in table.c else ()
    return statement.on_conflict_do_update(
        index_elements=list(spec.key),
        set_={name: statement.excluded[name] for name in (*spec.update, *extra)},
    )


def _unnest_rows(table: Table, rows: list[dict[str, Any]]) -> Select[Any]:
    """PostgreSQL: the rows as ``SELECT * FROM unnest(:column_arrays)``, one array per column.

    One statement and one parameter per column for the whole batch: no 32767-parameter limit,
    and far fewer round trips than a row-by-row executemany.
    """
    names = list(rows[0])
    arrays = [
        bindparam(None, [row[name] for row in rows], type_=postgresql.ARRAY(table.c[name].type))
        for name in names
    ]
    return select(func.unnest(*arrays).table_valued(*names).render_derived())


def _resolve_accounts(
    batch: _Batch, ids: dict[tuple[Any, ...], tuple[Any, ...]]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Replace (provider_id, number) with account_id; rows of unknown accounts become errors."""
    for line, row in batch.rows:
        provider_id, number = row.pop("provider_id"), row.pop("number")
        found = ids.get((provider_id, number))
        if found is None:
            reason = f"account: {number!r} is an unknown account of {provider_id!r}"
            batch.errors.append(RowError(line, reason))
        else:
            row["account_id"] = found[0]
            yield line, row


def _values_getter(names: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A function returning the tuple of a row's values under ``names`` (fast: operator.itemgetter)."""
    if len(names) >= 2:
        return itemgetter(*names)
    return lambda row: tuple(row[name] for name in names)


async def _write_batch(session: AsyncSession, spec: _KindSpec, batch: _Batch) -> tuple[int, int]:
    """Upsert the batch's rows in ``session``; returns (inserted, updated)."""
    table = Base.metadata.tables[spec.table]
    rows: Iterable[tuple[int, dict[str, Any]]] = batch.rows
    if spec.references_account:
        accounts = Base.metadata.tables["accounts"]
        wanted = ((row["provider_id"], row["number"]) for _, row in batch.rows)
        ids = await _lookup(session, accounts, ("provider_id", "number"), ("id",), wanted)
        rows = _resolve_accounts(batch, ids)
    key_of, values_of = _values_getter(spec.key), _values_getter(spec.update)
    latest = {key_of(row): row for _, row in rows}  # duplicates in the batch: the last one wins
    if not latest:
        return 0, 0
    stored = await _lookup(session, table, spec.key, spec.update, latest)
    now = datetime.now(UTC)
    writes: list[dict[str, Any]] = []
    inserted = updated = 0
    for key, row in latest.items():
        current = stored.get(key)
        if current is None:
            inserted += 1
        elif current != values_of(row):
            updated += 1
        else:
            continue  # unchanged: not written at all
        if "updated_at" in table.c:
            row["updated_at"] = now
        writes.append(row)
    if writes:
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(_upsert(session, table, spec, _unnest_rows(table, writes)))
        else:
            await _executemany(session, _upsert(session, table, spec), writes)
    return inserted, updated


async def _executemany(session: AsyncSession, statement: Any, rows: list[dict[str, Any]]) -> None:
    """Execute ``statement`` once per row (all rows have the same keys) with the driver's executemany.

    The SQL and every value's conversion still come from SQLAlchemy — the statement compiled for
    the session's dialect, each bind parameter type's processor — but are applied column by
    column, skipping SQLAlchemy's per-row parameter handling, which costs more than the database.
    """
    connection = await session.connection()
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect, column_keys=list(rows[0]))
    if compiled.positiontup is None:  # a dialect with named parameters: let SQLAlchemy do it
        await session.execute(statement, rows)
        return
    columns: list[list[Any]] = []
    for name in compiled.positiontup:
        processor = compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
        columns.append(_converted([row[name] for row in rows], processor))
    await connection.exec_driver_sql(compiled.string, list(zip(*columns, strict=True)))


def _converted(values: list[Any], processor: Callable[[Any], Any] | None) -> list[Any]:
    """``values`` through a bind processor, once per distinct value when they repeat (dates, flags)."""
    if processor is None:
        return values
    distinct = set(values)
    if len(distinct) * 2 > len(values):
        return list(map(processor, values))
    converted = {value: processor(value) for value in distinct}
    return [converted[value] for value in values]


async def _flush(db: Database, spec: _KindSpec, batch: _Batch, report: ImportReport) -> None:
    inserted = updated = 0
    if batch.rows:
        async with db.unit_of_work() as uow:
            inserted, updated = await _write_batch(uow.session, spec, batch)
            await uow.commit()
    report.inserted += inserted
    report.updated += updated
    report.rejected += len(batch.errors)
    room = MAX_REPORTED_ERRORS - len(report.errors)
    if room > 0:
        report.errors.extend(sorted(batch.errors, key=lambda error: error.line)[:room])


def _report_progress(source: _Source, progress: Callable[[int], None] | None) -> None:
    if progress is not None:
        consumed = source.consumed()
        if consumed:
            progress(consumed)


async def import_csv(
    db: Database,
    config: Config,
    kind: ImportKind,
    path: Path,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 1000,
) -> ImportReport:
    """Import one CSV file of ``kind``; ``progress(n)`` gets the bytes read since its previous call.

    Raises ImportFileError (before writing anything) when the file cannot be read, is empty or
    lacks required columns; rejected rows are reported, not raised.
    """
    if kind not in _KINDS:
        raise ValueError(f"unknown import kind {kind!r}; use one of {', '.join(IMPORT_KINDS)}")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    spec = _KINDS[kind]
    providers = frozenset(provider.id for provider in config.providers)
    report = ImportReport(kind=kind, path=str(path))
    source = _Source(Path(path))
    try:
        parse = _RowParser(spec, source.header(), providers)
        batch = _Batch()
        try:
            for line, fields in source.records():
                batch.records += 1
                try:
                    batch.rows.append((line, parse(fields)))
                except _Rejected as problem:
                    batch.errors.append(RowError(line, str(problem)))
                if batch.records >= batch_size:
                    await _flush(db, spec, batch, report)
                    batch = _Batch()
                    _report_progress(source, progress)
        except csv.Error as error:
            reason = f"malformed CSV ({error}); the rest of the file was not read"
            batch.errors.append(RowError(source.line, reason))
        await _flush(db, spec, batch, report)
        _report_progress(source, progress)
    finally:
        source.close()
    return report
