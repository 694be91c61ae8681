"""Reading an import file: CSV records of a UTF-8 file (BOM dropped, undecodable bytes kept for the
text parser to reject) with the physical line each starts on, and the bytes read so far."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from storage.importer.report import ImportFileError


class Source:
    """CSV records of a UTF-8 file with their starting line, and the bytes consumed so far."""

    def __init__(self, path: Path) -> None:
        try:
            self._binary = path.open("rb")
        except OSError as error:
            raise ImportFileError(f"cannot read the file ({error.strerror})") from None
        # utf-8-sig drops a BOM; undecodable bytes become lone surrogates that values.text() rejects.
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
