"""Streaming, idempotent import of billing CSV files (accounts, meters, charges, payments).

The file is read record by record (never whole), validated row by row and written in batches
of ``batch_size`` records, each batch in its own transaction: a crash leaves whole batches
behind, never half a row, and running the import again completes it. One batch is written at
a time, in file order, while the event loop parses the next one.

Every write is an upsert on the table's natural key, so re-importing a file changes nothing:

- accounts by (provider_id, number), meters by (account_id, serial, zone),
  charges by (account_id, period, service) — changed rows are updated;
- payments by (account_id, paid_on, amount, channel) — existing ones are left alone.

Per batch the importer runs one query to resolve account ids, one to load the rows that
already exist (to tell inserted from updated from unchanged rows, which are not written at
all), and one Core ``INSERT ... ON CONFLICT`` for the new and changed rows. On PostgreSQL the
insert runs once over ``unnest(column arrays)``; on SQLite as ``VALUES (...), (...), ...`` (as
few statements as the parameter limit allows), the lookups' rows come back as one JSON value,
and the statements, compiled once per import, go straight to aiosqlite's connection. Lookups
pass their keys as one list parameter too, so no statement comes near PostgreSQL's
32767-parameter limit, whatever ``batch_size``. No ORM objects are built, no query runs per
row. An import into SQLite ends by refreshing the planner's statistics (``Database.optimize``).

Bad rows are reported with the physical line where the record starts (the header is line 1)
and a reason naming the column and the value; good rows are kept. Money and meter values are
parsed into ``Decimal`` (never float) and must fit their columns.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any, Literal, get_args

from sqlalchemy import (
    Column,
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

from domain.config import Config
from domain.text import normalize_account_number
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

#: While a batch is being written, the parser lets the event loop run (and the write go on to its
#: next statement) every this many records.
YIELD_EVERY = 50

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
# One parser factory per column type: ``factory(column, ...)`` returns ``parse(stripped_raw)``,
# which returns the value (None for an empty value where ``optional``) or raises _Rejected with
# the reason. A parser runs for every field of every record: the common case first, in as few
# steps as it can.

_Parse = Callable[[str], Any]

_SIMPLE_NUMBER = re.compile(r"(?:-(?=[0-9.]*[1-9]))?(?:[1-9][0-9]{0,11}|0)(?:\.([0-9]+))?")
# The common cases as _decimal takes them, size and places included: parsed by Decimal as they are.
_PLAIN_MONEY = re.compile(r"(?:-(?=[0-9.]*[1-9]))?(?:[1-9][0-9]{0,11}|0)(?:\.[0-9]{1,2})?")
_PLAIN_METER_VALUE = re.compile(r"(?:[1-9][0-9]{0,8}|0)(?:\.([0-9]{1,6}))?")
_NUMBER = re.compile(r"([+-]?)([0-9]{1,3}(?:[ \u00a0\u2009\u202f][0-9]{3})+|[0-9]+)(?:[.,]([0-9]+))?")
_GROUP_SEPARATORS = re.compile(r"[ \u00a0\u2009\u202f]")
_DOTTED_DATE = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})")
_PERIOD = re.compile(r"([0-9]{4})-([0-9]{2})")
# Lone surrogates are what undecodable bytes turn into (errors="surrogateescape").
_SURROGATES = re.compile("[\udc80-\udcff]")
_PLAIN_ACCOUNT = re.compile(r"(?=[0-9A-Za-z]{3,32}\Z)[A-Za-z]*[0-9][0-9A-Za-z]*")
_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False, "": False}
_PRECISIONS = {str(places): places for places in range(MAX_PRECISION + 1)}

_ANY = "any"
_NON_NEGATIVE = "non-negative"
_POSITIVE = "positive"


def _show(raw: str) -> str:
    """The value as quoted in a reason, shortened when it is long."""
    return repr(raw if len(raw) <= 40 else raw[:37] + "...")


def _empty(column: str) -> _Rejected:
    return _Rejected(f"{column}: required, but empty")


def _decimal(
    column: str, raw: str, places: int, sign: str, what: str, max_digits: int = MAX_INTEGER_DIGITS
) -> Decimal:
    simple = _SIMPLE_NUMBER.fullmatch(raw)  # '1234.5', '-150': parsed as is
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
    if not raw:
        raise _empty(column)
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


def _money(column: str, sign: str = _ANY, optional: bool = False) -> _Parse:
    def parse(raw: str) -> Decimal | None:
        if _PLAIN_MONEY.fullmatch(raw):  # the common case, as _decimal takes it
            value = Decimal(raw).quantize(_CENT)
            if sign == _ANY or value > 0:
                return value
        if optional and not raw:
            return None
        return _decimal(column, raw, MONEY_PLACES, sign, "an amount").quantize(_CENT)

    return parse


def _meter_value(column: str, places: int, sign: str = _NON_NEGATIVE, optional: bool = False) -> _Parse:
    def parse(raw: str) -> Decimal | None:
        plain = _PLAIN_METER_VALUE.fullmatch(raw)  # the common case, as _decimal takes it
        if plain and (plain[1] is None or len(plain[1]) <= places):
            value = Decimal(raw)
            if sign == _NON_NEGATIVE or value > 0:
                return value
        if optional and not raw:
            return None
        return _decimal(column, raw, places, sign, "a number", MAX_METER_INTEGER_DIGITS)

    return parse


def _date(column: str, optional: bool = False) -> _Parse:
    def parse(raw: str) -> date | None:
        if len(raw) == 10 and raw[4] == "-" and raw[7] == "-" and raw.isascii():
            try:  # the common case; only YYYY-MM-DD has these dashes and length
                return date.fromisoformat(raw)
            except ValueError:
                pass
        else:
            if not raw:
                if optional:
                    return None
                raise _empty(column)
            dotted = _DOTTED_DATE.fullmatch(raw)
            try:
                if dotted:
                    return date(int(dotted[3]), int(dotted[2]), int(dotted[1]))
            except ValueError:
                pass
        raise _Rejected(f"{column}: {_show(raw)} is not a date (use YYYY-MM-DD or DD.MM.YYYY)")

    return parse


def _period(column: str) -> _Parse:
    def parse(raw: str) -> str:
        if not raw:
            raise _empty(column)
        match = _PERIOD.fullmatch(raw)
        if match is None or not 1 <= int(match[2]) <= 12:
            raise _Rejected(f"{column}: {_show(raw)} is not a billing period (use YYYY-MM)")
        return raw

    return parse


def _text(column: str, max_length: int, required: bool = True) -> _Parse:
    def parse(raw: str) -> str:
        if not raw and required:
            raise _empty(column)
        if "\x00" in raw or (not raw.isascii() and _SURROGATES.search(raw)):  # PostgreSQL refuses NUL
            raise _Rejected(f"{column}: {_show(raw)} contains bytes that are not valid UTF-8 text")
        if len(raw) > max_length:
            raise _Rejected(f"{column}: {len(raw)} characters, at most {max_length} allowed")
        return raw

    return parse


def _choice(column: str, choices: Sequence[str]) -> _Parse:
    allowed = frozenset(choices)
    listed = ", ".join(repr(choice) for choice in choices)

    def parse(raw: str) -> str:
        value = raw.lower()
        if value not in allowed:
            if not raw:
                raise _empty(column)
            raise _Rejected(f"{column}: {_show(raw)} is not one of {listed}")
        return value

    return parse


def _flag(column: str) -> _Parse:
    def parse(raw: str) -> bool:
        value = _FLAGS.get(raw.lower())
        if value is None:
            raise _Rejected(f"{column}: {_show(raw)} is not true/false (use true, false, 1, 0, yes or no)")
        return value

    return parse


def _precision(column: str) -> _Parse:
    def parse(raw: str) -> int:
        precision = _PRECISIONS.get(raw.lstrip("0") or "0") if raw else DEFAULT_PRECISION
        if precision is None:
            raise _Rejected(f"{column}: {_show(raw)} is not a whole number from 0 to {MAX_PRECISION}")
        return precision

    return parse


def _provider(column: str, providers: frozenset[str]) -> _Parse:
    known = ", ".join(sorted(providers))

    def parse(raw: str) -> str:
        if raw not in providers:
            if not raw:
                raise _empty(column)
            raise _Rejected(f"{column}: {_show(raw)} is not a configured provider (known: {known})")
        return raw

    return parse


def _account_number(column: str) -> _Parse:
    def parse(raw: str) -> str:
        if _PLAIN_ACCOUNT.fullmatch(raw):  # the common case, same result as the full normalization
            return raw.upper()
        if not raw:
            raise _empty(column)
        number = normalize_account_number(raw)
        if number is None:
            raise _Rejected(f"{column}: {_show(raw)} is not an account number")
        return number

    return parse


# ---------------------------------------------------------------------------------------------
# One validator per kind: the fields of its file, and a check across fields where one is needed.


@dataclass(frozen=True)
class _Field:
    """A CSV column, the row key its parsed value goes to, and the parser of its stripped value."""

    column: str
    key: str
    parse: _Parse


def _field(column: str, key: str, parser: Callable[..., _Parse], *args: Any, **options: Any) -> _Field:
    """The field of ``column`` parsed by ``parser(column, *args, **options)``."""
    return _Field(column, key, parser(column, *args, **options))


def _account_key_fields(providers: frozenset[str]) -> tuple[_Field, ...]:
    return (
        _field("provider", "provider_id", _provider, providers),
        _field("account", "number", _account_number),
    )


def _account_fields(providers: frozenset[str]) -> tuple[_Field, ...]:
    return (
        *_account_key_fields(providers),
        _field("address", "address", _text, 300),
        _field("holder", "holder", _text, 200),
        _field("balance", "balance", _money),  # negative: paid in advance
        _field("due_date", "due_date", _date, optional=True),
        _field("last_payment_amount", "last_payment_amount", _money, _POSITIVE, optional=True),
        _field("last_payment_date", "last_payment_date", _date, optional=True),
    )


def _meter_fields(providers: frozenset[str]) -> tuple[_Field, ...]:
    return (
        *_account_key_fields(providers),
        _field("meter_id", "serial", _text, 64),
        _field("kind", "kind", _choice, METER_KINDS),
        _field("zone", "zone", _choice, METER_ZONES),
        _field("unit", "unit", _text, 16),
        # Decimal places are checked against the row's precision by _check_meter.
        _field("last_value", "last_value", _meter_value, MAX_PRECISION, optional=True),
        _field("last_date", "last_date", _date, optional=True),
        _field(
            "max_monthly_delta", "max_monthly_delta", _meter_value, MAX_PRECISION, _POSITIVE, optional=True
        ),
        _field("precision", "precision", _precision),
        _field("automatic", "automatic", _flag),
    )


def _check_meter(row: dict[str, Any]) -> list[str]:
    """Meter values may have at most the meter's ``precision`` decimal places."""
    precision = row.get("precision")
    if precision is None:
        return []
    problems = []
    for column in ("last_value", "max_monthly_delta"):
        value = row.get(column)
        if value is not None and _places(value) > precision:
            problems.append(
                f"{column}: {str(value)!r} has more than {precision} decimal places (precision {precision})"
            )
    return problems


def _places(value: Decimal) -> int:
    """The decimal places ``value`` is written with ('12.340': 3), its exponent negated.

    Read off ``str(value)``, several times faster than ``as_tuple()``, unless that is in scientific
    notation (which a meter value, at most 6 places and 9 digits before the point, never is).
    """
    text = str(value)
    if "E" in text:
        return -int(value.as_tuple().exponent)
    point = text.find(".")
    return 0 if point < 0 else len(text) - point - 1


def _charge_fields(providers: frozenset[str]) -> tuple[_Field, ...]:
    return (
        *_account_key_fields(providers),
        _field("period", "period", _period),
        _field("service", "service", _text, 100),
        _field("amount", "amount", _money),  # negative: a correction
    )


def _payment_fields(providers: frozenset[str]) -> tuple[_Field, ...]:
    return (
        *_account_key_fields(providers),
        _field("date", "paid_on", _date),
        _field("amount", "amount", _money, _POSITIVE),
        _field("channel", "channel", _text, 100, False),
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
            (field.key, position.get(field.column, self.width), field.parse)
            for field in spec.fields(providers)
        ]
        self.check = spec.check

    def __call__(self, fields: list[str]) -> dict[str, Any]:
        if len(fields) != self.width:
            raise _Rejected(f"the record has {len(fields)} fields, the header has {self.width}")
        fields.append("")
        try:  # the common case: a good record, converted without collecting problems
            row = {key: parse(fields[index].strip()) for key, index, parse in self.plan}
            if self.check is None or not self.check(row):
                return row
        except _Rejected:
            pass
        raise _Rejected("; ".join(self._problems(fields)))

    def _problems(self, fields: list[str]) -> list[str]:
        """Every problem of a bad record, field by field, then across fields."""
        row: dict[str, Any] = {}
        problems: list[str] = []
        for key, index, parse in self.plan:
            try:
                row[key] = parse(fields[index].strip())
            except _Rejected as problem:
                problems.append(str(problem))
        if self.check is not None:
            problems.extend(self.check(row))
        return problems


# ---------------------------------------------------------------------------------------------
# Writing one batch.


@dataclass
class _Batch:
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (line, row)
    errors: list[RowError] = field(default_factory=list)
    records: int = 0


class _Target:
    """What one import writes to: the kind, its table, and its SQLite statements, compiled once."""

    def __init__(self, spec: _KindSpec) -> None:
        self.spec = spec
        self.table = Base.metadata.tables[spec.table]
        self.key_of = _tuple_getter(spec.key)
        self.values_of = _tuple_getter(spec.update)
        self.stamped = "updated_at" in self.table.c
        self.sqlite: dict[tuple[Any, ...], Any] = {}  # by what the statement selects or inserts


def _tuple_getter(keys: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """A function returning the tuple of ``row[key]`` for each of ``keys`` (fast: operator.itemgetter)."""
    if len(keys) >= 2:
        return itemgetter(*keys)
    if keys:
        key = keys[0]
        return lambda row: (row[key],)
    return lambda row: ()


async def _driver_connection(session: AsyncSession) -> Any:
    """The aiosqlite connection of the session's transaction: one thread hop per statement.

    Through SQLAlchemy a statement costs four (cursor, execute, fetch, close), each waiting for
    the GIL while the event loop parses the next batch.
    """
    connection = await session.connection()
    return (await connection.get_raw_connection()).driver_connection


async def _lookup(
    session: AsyncSession,
    target: _Target,
    table: Table,
    key_names: tuple[str, ...],
    value_names: tuple[str, ...],
    keys: Iterable[tuple[Any, ...]],
) -> dict[tuple[Any, ...], tuple[Any, ...]]:
    """The rows stored under ``keys`` (natural keys, unique): key → values of ``value_names``.

    On SQLite the result may hold other keys as well (of the same accounts, say): callers only
    look their own keys up. One query per batch whose parameters are whole lists, whatever the
    batch size (no 32767-parameter limit to chunk around, nothing for SQLAlchemy to expand).
    """
    wanted = set(keys)
    if not wanted:
        return {}
    key_columns = [table.c[name] for name in key_names]
    columns = [*key_columns, *(table.c[name] for name in value_names)]
    if session.get_bind().dialect.name == "postgresql":
        stored: Iterable[Sequence[Any]] = await session.execute(_probe_each_key(columns, key_columns, wanted))
    else:
        stored = await _select_as_json(session, target, columns, key_columns, wanted)
    key_of = _tuple_getter(range(len(key_names)))
    values_of = _tuple_getter(range(len(key_names), len(columns)))
    return {key_of(row): values_of(row) for row in stored}


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


async def _select_as_json(
    session: AsyncSession,
    target: _Target,
    columns: list[Column[Any]],
    key_columns: list[Column[Any]],
    wanted: set[tuple[Any, ...]],
) -> list[list[Any]]:
    """SQLite: ``columns`` of the rows whose leading key columns are among those of ``wanted``.

    ``SELECT json_group_array(json_array(columns)) WHERE account_id IN (SELECT value FROM
    json_each(:ids))``; for a key not led by ``account_id`` the same test on each of its first
    two columns. The caller keeps the exact keys. A key led by ``account_id`` (meters, charges,
    payments) is filtered on that column alone: an account has a handful of rows, each id is one
    probe of the unique index; a test on a second column as well lets SQLite, without statistics,
    probe the index with every combination of the two lists (a million for 1,000 meters).

    The rows come back as one JSON value, one row to fetch instead of up to thousands: less work
    on both threads, and aiosqlite's runs the whole query without the GIL (the event loop holds
    it while parsing the next batch; each row fetched would wait for it). Values are as SQLite
    stores them (the JSON of a REAL has 15 significant digits, as many as a stored money or
    meter value has) and go through the columns' result processors, as when SQLAlchemy fetches.
    """
    leading = key_columns[:1] if key_columns[0].name == "account_id" else key_columns[:2]
    compiled = target.sqlite.get(tuple(columns))
    if compiled is None:
        dialect = session.get_bind().dialect
        tests = [
            column.in_(
                select(literal_column("value")).select_from(
                    func.json_each(bindparam(f"list{index}", type_=String()))
                )
            )
            for index, column in enumerate(leading)
        ]
        query = select(func.json_group_array(func.json_array(*columns))).where(*tests)
        processors = [
            (index, processor)
            for index, column in enumerate(columns)
            if (processor := column.type.dialect_impl(dialect).result_processor(dialect, None))
        ]
        compiled = target.sqlite[tuple(columns)] = (query.compile(dialect=dialect).string, processors)
    sql, processors = compiled
    lists = [json.dumps(list({key[index] for key in wanted}), default=str) for index in range(len(leading))]
    ((text,),) = await (await _driver_connection(session)).execute_fetchall(sql, lists)
    rows: list[list[Any]] = json.loads(text)
    for index, processor in processors:
        for row in rows:
            row[index] = processor(row[index])
    return rows


def _upsert(session: AsyncSession, table: Table, spec: _KindSpec, source: Select[Any] | None = None) -> Any:
    """INSERT ... ON CONFLICT on the natural key: update the ``update`` columns, or do nothing.

    Without ``source`` the statement inserts one row of parameters; with ``source`` it inserts
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


async def _insert_values(session: AsyncSession, target: _Target, rows: list[dict[str, Any]]) -> None:
    """SQLite: the upsert of ``rows`` as ``INSERT ... VALUES (...), (...), ... ON CONFLICT ...``.

    As few statements as the dialect's parameter limit allows (one for a batch of 1,000 meters):
    aiosqlite's thread runs each without the GIL, where a row-by-row executemany would wait for
    the GIL after every row while the event loop parses the next batch. The SQL and every value's
    conversion come from SQLAlchemy — the one-row statement compiled for the session's dialect,
    each bind parameter type's processor — applied column by column, without its per-row work.
    """
    names = tuple(rows[0])
    compiled = target.sqlite.get(names)
    if compiled is None:
        dialect = session.get_bind().dialect
        statement = _upsert(session, target.table, target.spec).compile(dialect=dialect, column_keys=names)
        order = statement.positiontup
        assert order is not None, "SQLite parameters are positional"
        one_row = f"({', '.join('?' * len(order))})"
        head, values, tail = statement.string.partition(f" VALUES {one_row}")
        assert values, statement.string
        parameters = [
            (name, statement.binds[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in order
        ]
        per_statement = max(dialect.insertmanyvalues_max_parameters // len(order), 1)
        compiled = target.sqlite[names] = (head, one_row, tail, parameters, per_statement)
    head, one_row, tail, parameters, per_statement = compiled
    columns = [_converted([row[name] for row in rows], processor) for name, processor in parameters]
    driver = await _driver_connection(session)
    for start in range(0, len(rows), per_statement):
        chunk = [column[start : start + per_statement] for column in columns]
        sql = f"{head} VALUES {', '.join([one_row] * len(chunk[0]))}{tail}"
        await driver.execute_fetchall(sql, list(chain.from_iterable(zip(*chunk, strict=True))))


def _converted(values: list[Any], processor: Callable[[Any], Any] | None) -> list[Any]:
    """``values`` through a bind processor, once per distinct value when they repeat (dates, flags)."""
    if processor is None:
        return values
    distinct = set(values)
    if len(distinct) * 2 > len(values):
        return list(map(processor, values))
    converted = {value: processor(value) for value in distinct}
    return [converted[value] for value in values]


async def _write_batch(session: AsyncSession, target: _Target, batch: _Batch) -> tuple[int, int]:
    """Upsert the batch's rows in ``session``; returns (inserted, updated)."""
    spec, key_of, values_of = target.spec, target.key_of, target.values_of
    # The rows by key; of duplicates in the batch the last one wins.
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    if spec.references_account:  # (provider_id, number) replaced with account_id
        accounts = Base.metadata.tables["accounts"]
        wanted = ((row["provider_id"], row["number"]) for _, row in batch.rows)
        ids = await _lookup(session, target, accounts, ("provider_id", "number"), ("id",), wanted)
        for line, row in batch.rows:
            provider_id, number = row.pop("provider_id"), row.pop("number")
            found = ids.get((provider_id, number))
            if found is None:
                batch.errors.append(
                    RowError(line, f"account: {number!r} is an unknown account of {provider_id!r}")
                )
            else:
                row["account_id"] = found[0]
                latest[key_of(row)] = row
    else:
        latest = {key_of(row): row for _, row in batch.rows}
    if not latest:
        return 0, 0
    stored = await _lookup(session, target, target.table, spec.key, spec.update, latest)
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
        if target.stamped:
            row["updated_at"] = now
        writes.append(row)
    if writes:
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(_upsert(session, target.table, spec, _unnest_rows(target.table, writes)))
        else:
            await _insert_values(session, target, writes)
    return inserted, updated


async def _flush(db: Database, target: _Target, batch: _Batch, report: ImportReport) -> None:
    inserted = updated = 0
    if batch.rows:
        async with db.unit_of_work() as uow:
            inserted, updated = await _write_batch(uow.session, target, batch)
            await uow.commit()
    report.inserted += inserted
    report.updated += updated
    report.rejected += len(batch.errors)
    room = MAX_REPORTED_ERRORS - len(report.errors)
    if room > 0:
        report.errors.extend(sorted(batch.errors, key=lambda error: error.line)[:room])


class _Writer:
    """Writes the batches of one import in file order, one at a time, while the next is parsed.

    ``submit`` starts writing a batch as a task of its own and returns once the batch before it
    is committed (or raises what writing it raised): the event loop parses batch N+1 while
    aiosqlite's thread (or PostgreSQL) writes batch N. Each batch is still one transaction,
    committed in file order, so a crash leaves whole batches, the first ones of the file.
    """

    def __init__(self, db: Database, spec: _KindSpec, report: ImportReport) -> None:
        self._db, self._target, self._report = db, _Target(spec), report
        self._pending: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        """A batch is being written."""
        return self._pending is not None and not self._pending.done()

    async def submit(self, batch: _Batch) -> None:
        await self.wait()
        self._pending = asyncio.create_task(_flush(self._db, self._target, batch, self._report))

    async def wait(self) -> None:
        """Until the batch being written is committed; raises what writing it raised."""
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending


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
    writer = _Writer(db, spec, report)
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
                    await writer.submit(batch)
                    batch = _Batch()
                    _report_progress(source, progress)
                elif batch.records % YIELD_EVERY == 0 and writer.busy:
                    await asyncio.sleep(0)  # the write in flight goes on to its next statement
        except csv.Error as error:
            reason = f"malformed CSV ({error}); the rest of the file was not read"
            batch.errors.append(RowError(source.line, reason))
        await writer.submit(batch)
        await writer.wait()
        _report_progress(source, progress)
    finally:
        source.close()
        await writer.wait()  # after an error: no write outlives the call
    await db.optimize()  # the planner's statistics of what was imported (SQLite)
    return report
