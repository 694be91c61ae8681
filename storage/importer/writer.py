"""The batch writer: upserts a batch of parsed rows in one transaction (account ids resolved, the
stored rows loaded, only new and changed rows written in one multi-row INSERT ... ON CONFLICT,
compiled once per import), one batch at a time, in file order, while the next is parsed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from operator import itemgetter
from typing import Any

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

from storage.database import Database
from storage.importer.report import ImportReport, RowError
from storage.importer.rows import KindSpec
from storage.models import Base
from storage.upsert import insert_for


@dataclass
class Batch:
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (line, row)
    errors: list[RowError] = field(default_factory=list)
    records: int = 0


class _Target:
    """What one import writes to: the kind, its table, and its SQLite statements, compiled once."""

    def __init__(self, spec: KindSpec) -> None:
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


def _upsert(session: AsyncSession, table: Table, spec: KindSpec, source: Select[Any] | None = None) -> Any:
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


async def _write_batch(session: AsyncSession, target: _Target, batch: Batch) -> tuple[int, int]:
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


async def _flush(db: Database, target: _Target, batch: Batch, report: ImportReport) -> None:
    inserted = updated = 0
    if batch.rows:
        async with db.unit_of_work() as uow:
            inserted, updated = await _write_batch(uow.session, target, batch)
            await uow.commit()
    report.add_batch(inserted, updated, batch.errors)


class Writer:
    """Writes the batches of one import in file order, one at a time, while the next is parsed.

    ``submit`` starts writing a batch as a task of its own and returns once the batch before it
    is committed (or raises what writing it raised): the event loop parses batch N+1 while
    aiosqlite's thread (or PostgreSQL) writes batch N. Each batch is still one transaction,
    committed in file order, so a crash leaves whole batches, the first ones of the file.
    """

    def __init__(self, db: Database, spec: KindSpec, report: ImportReport) -> None:
        self._db, self._target, self._report = db, _Target(spec), report
        self._pending: asyncio.Task[None] | None = None

    @property
    def busy(self) -> bool:
        """A batch is being written."""
        return self._pending is not None and not self._pending.done()

    async def submit(self, batch: Batch) -> None:
        await self.wait()
        self._pending = asyncio.create_task(_flush(self._db, self._target, batch, self._report))

    async def wait(self) -> None:
        """Until the batch being written is committed; raises what writing it raised."""
        pending, self._pending = self._pending, None
        if pending is not None:
            await pending
