"""`utilibot export-readings`: the accepted readings of one period as CSV for the billing system."""

from __future__ import annotations

import csv
from datetime import UTC
from decimal import Decimal
from typing import TextIO

from domain.config import Config
from domain.windows import parse_period, span_for_period
from storage.database import Database

COLUMNS = ["provider", "account", "meter_id", "zone", "value", "previous_value", "submitted_at", "channel"]


def _number(value: Decimal | None, precision: int) -> str:
    if value is None:
        return ""
    return f"{value.quantize(Decimal(1).scaleb(-precision)):f}"


async def export_readings(
    db: Database, config: Config, period: str, out: TextIO, provider_id: str | None = None
) -> int:
    """Write the CSV (one row per meter and zone, the latest correction); returns the number of rows."""
    parse_period(period)
    providers = [config.provider(provider_id)] if provider_id else list(config.providers)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    rows = 0
    async with db.unit_of_work() as uow:
        for provider in providers:
            span = span_for_period(provider.reading_window, period, provider.tz)
            async for row in uow.readings.export(period, span.opens_at, span.closes_at, provider.id):
                writer.writerow(
                    [
                        row.provider,
                        row.account,
                        row.meter_id,
                        row.zone,
                        _number(row.value, row.precision),
                        _number(row.previous_value, row.precision),
                        row.submitted_at.astimezone(UTC).isoformat(timespec="seconds"),
                        row.channel,
                    ]
                )
                rows += 1
    return rows
