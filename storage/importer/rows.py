"""A kind of import file as a spec (its fields, natural key, updated columns, cross-field check),
and the row parser built from a spec and a file's header: fields located once per column."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from storage.importer import values
from storage.importer.report import ImportFileError
from storage.importer.values import Parse, Rejected


@dataclass(frozen=True)
class Field:
    """A CSV column, the row key its parsed value goes to, and the parser of its stripped value."""

    column: str
    key: str
    parse: Parse


def field_of(column: str, key: str, parser: Callable[..., Parse], *args: Any, **options: Any) -> Field:
    """The field of ``column`` parsed by ``parser(column, *args, **options)``."""
    return Field(column, key, parser(column, *args, **options))


def account_key_fields(providers: frozenset[str]) -> tuple[Field, ...]:
    return (
        field_of("provider", "provider_id", values.provider, providers),
        field_of("account", "number", values.account_number),
    )


@dataclass(frozen=True)
class KindSpec:
    """One kind of file: its required columns, its fields, its table and how its rows are upserted."""

    table: str
    required: tuple[str, ...]
    fields: Callable[[frozenset[str]], tuple[Field, ...]]
    key: tuple[str, ...]
    update: tuple[str, ...]  # compared and overwritten on conflict; empty: conflicts are left alone
    references_account: bool = True
    check: Callable[[dict[str, Any]], list[str]] | None = None


def _check_header(header: list[str], spec: KindSpec) -> None:
    duplicates = sorted({name for name in header if name and header.count(name) > 1})
    if duplicates:
        raise ImportFileError(f"duplicate column(s) in the header: {', '.join(duplicates)}")
    missing = [name for name in spec.required if name not in header]
    if missing:
        raise ImportFileError(
            f"missing column(s): {', '.join(missing)} (the header has: {', '.join(header) or 'nothing'})"
        )


class RowParser:
    """Turns a record's fields into the row to write, or raises Rejected listing every problem."""

    def __init__(self, spec: KindSpec, header: list[str], providers: frozenset[str]) -> None:
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
            raise Rejected(f"the record has {len(fields)} fields, the header has {self.width}")
        fields.append("")
        try:  # the common case: a good record, converted without collecting problems
            row = {key: parse(fields[index].strip()) for key, index, parse in self.plan}
            if self.check is None or not self.check(row):
                return row
        except Rejected:
            pass
        raise Rejected("; ".join(self._problems(fields)))

    def _problems(self, fields: list[str]) -> list[str]:
        """Every problem of a bad record, field by field, then across fields."""
        row: dict[str, Any] = {}
        problems: list[str] = []
        for key, index, parse in self.plan:
            try:
                row[key] = parse(fields[index].strip())
            except Rejected as problem:
                problems.append(str(problem))
        if self.check is not None:
            problems.extend(self.check(row))
        return problems
