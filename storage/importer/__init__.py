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

The modules, one concern each: ``run`` (one import, start to end: ``import_csv``), ``source``
(reading the file), ``report`` (the outcome, ``ImportFileError``), ``values`` (the parsers of
one column type), ``rows`` (a kind's spec and the row parser built from it), one module per kind
(``accounts``, ``meters``, ``charges``, ``payments``) and ``writer`` (the batch writer).
"""

from storage.importer.report import (
    IMPORT_KINDS,
    MAX_REPORTED_ERRORS,
    ImportFileError,
    ImportKind,
    ImportReport,
    RowError,
)
from storage.importer.run import import_csv

__all__ = [
    "IMPORT_KINDS",
    "MAX_REPORTED_ERRORS",
    "ImportFileError",
    "ImportKind",
    "ImportReport",
    "RowError",
    "import_csv",
]
