"""The import's outcome: what was inserted, updated and rejected (with the line and the reason of
each rejected record), and the error of a file that cannot be imported at all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

ImportKind = Literal["accounts", "meters", "charges", "payments"]
IMPORT_KINDS: tuple[ImportKind, ...] = get_args(ImportKind)

#: At most this many rejected rows are kept in ``ImportReport.errors`` (``rejected`` counts all).
MAX_REPORTED_ERRORS = 1000


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
    warnings: list[str] = field(default_factory=list)  # e.g. codes without a name in some language

    @property
    def ok(self) -> bool:
        return self.rejected == 0

    @property
    def errors_truncated(self) -> bool:
        return self.rejected > len(self.errors)

    def add_batch(self, inserted: int, updated: int, errors: list[RowError]) -> None:
        """Count one written batch; keep its errors, by line, while there is room."""
        self.inserted += inserted
        self.updated += updated
        self.rejected += len(errors)
        room = MAX_REPORTED_ERRORS - len(self.errors)
        if room > 0:
            self.errors.extend(sorted(errors, key=lambda error: error.line)[:room])
