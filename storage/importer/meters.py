"""Meters files: the account, serial, kind, zone, unit, last value and date, the largest monthly
change, precision, automatic; values checked against the row's precision; upserted by
(account_id, serial, zone)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from storage.importer import values
from storage.importer.rows import Field, KindSpec, account_key_fields, field_of
from storage.importer.values import MAX_PRECISION

METER_KINDS = ("cold_water", "hot_water", "heat", "electricity", "gas")
METER_ZONES = ("", "day", "night")


def _meter_fields(providers: frozenset[str]) -> tuple[Field, ...]:
    return (
        *account_key_fields(providers),
        field_of("meter_id", "serial", values.text, 64),
        field_of("kind", "kind", values.choice, METER_KINDS),
        field_of("zone", "zone", values.choice, METER_ZONES),
        field_of("unit", "unit", values.text, 16),
        # Decimal places are checked against the row's precision by _check_meter.
        field_of("last_value", "last_value", values.meter_value, MAX_PRECISION, optional=True),
        field_of("last_date", "last_date", values.date_value, optional=True),
        field_of(
            "max_monthly_delta",
            "max_monthly_delta",
            values.meter_value,
            MAX_PRECISION,
            values.POSITIVE,
            optional=True,
        ),
        field_of("precision", "precision", values.precision),
        field_of("automatic", "automatic", values.flag),
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


METERS = KindSpec(
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
)
