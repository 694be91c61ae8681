"""One import, start to end: the file's records parsed by the kind's row parser into batches,
handed to the batch writer, the rejected ones reported; the progress callback fed."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Callable
from pathlib import Path

from domain.config import Config
from domain.metrics import IMPORT_ROWS
from domain.services import MissingNames
from storage.database import Database
from storage.importer.accounts import ACCOUNTS
from storage.importer.charges import CHARGES
from storage.importer.meters import METERS
from storage.importer.payments import PAYMENTS
from storage.importer.report import IMPORT_KINDS, ImportKind, ImportReport, RowError
from storage.importer.rows import KindSpec, RowParser
from storage.importer.source import Source
from storage.importer.values import Rejected
from storage.importer.writer import Batch, Writer

#: While a batch is being written, the parser lets the event loop run (and the write go on to its
#: next statement) every this many records.
YIELD_EVERY = 50

_KINDS: dict[ImportKind, KindSpec] = {
    "accounts": ACCOUNTS,
    "meters": METERS,
    "charges": CHARGES,
    "payments": PAYMENTS,
}


def _report_progress(source: Source, progress: Callable[[int], None] | None) -> None:
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
    source = Source(Path(path))
    writer = Writer(db, spec, report)
    names = MissingNames(config, kind)
    try:
        parse = RowParser(spec, source.header(), providers)
        batch = Batch()
        try:
            for line, fields in source.records():
                batch.records += 1
                try:
                    batch.rows.append((line, parse(fields)))
                    report.warnings += names.check(batch.rows[-1][1])
                except Rejected as problem:
                    batch.errors.append(RowError(line, str(problem)))
                if batch.records >= batch_size:
                    await writer.submit(batch)
                    batch = Batch()
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
    for result in ("inserted", "updated", "rejected"):
        IMPORT_ROWS.labels(kind=kind, result=result).inc(getattr(report, result))
    return report
