"""Meters and submitted readings: per-period latest values, history, and the billing export."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Account, Meter, Reading
from storage.upsert import insert_for


@dataclass(frozen=True)
class Previous:
    """The value a new reading is compared with, and when it was taken."""

    value: Decimal | None
    on: date | None


@dataclass(frozen=True)
class ExportRow:
    provider: str
    account: str
    meter_id: str
    zone: str
    value: Decimal
    previous_value: Decimal | None
    submitted_at: datetime
    channel: str
    precision: int


class ReadingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._previous: dict[tuple[int, str], Previous] = {}

    async def meters_of(self, account_id: int) -> Sequence[Meter]:
        query = (
            select(Meter).where(Meter.account_id == account_id).order_by(Meter.kind, Meter.serial, Meter.zone)
        )
        return (await self.session.execute(query)).scalars().all()

    async def meter_of_account(self, meter_id: int, account_id: int) -> Meter | None:
        """The meter, if it belongs to the account."""
        meter = await self.session.get(Meter, meter_id)
        return meter if meter is not None and meter.account_id == account_id else None

    def _latest_per_meter(self, *conditions: object) -> object:
        """Subquery: the id of the latest reading per meter among those matching ``conditions``."""
        ranked = (
            select(
                Reading.id,
                func.row_number()
                .over(
                    partition_by=Reading.meter_id, order_by=(Reading.submitted_at.desc(), Reading.id.desc())
                )
                .label("rank"),
            )
            .where(*conditions)  # type: ignore[arg-type]
            .subquery()
        )
        return select(ranked.c.id).where(ranked.c.rank == 1)

    async def latest_for_period(self, meter_ids: Sequence[int], period: str) -> dict[int, Reading]:
        """The reading that counts (the latest correction) per meter for ``period``."""
        if not meter_ids:
            return {}
        latest = self._latest_per_meter(Reading.meter_id.in_(meter_ids), Reading.period == period)
        query = select(Reading).where(Reading.id.in_(latest))  # type: ignore[arg-type]
        return {reading.meter_id: reading for reading in (await self.session.execute(query)).scalars()}

    async def previous(self, meter: Meter, period: str) -> Previous:
        """What the new value is checked against: billing's last value or our latest earlier reading.

        Remembered for the unit of work (a readings step asks for it twice), until readings are added.
        """
        key = (meter.id, period)
        if key not in self._previous:
            self._previous[key] = await self._look_up_previous(meter, period)
        return self._previous[key]

    async def _look_up_previous(self, meter: Meter, period: str) -> Previous:
        latest = self._latest_per_meter(Reading.meter_id == meter.id, Reading.period < period)
        reading = (
            await self.session.execute(select(Reading).where(Reading.id.in_(latest)))  # type: ignore[arg-type]
        ).scalar_one_or_none()
        if reading is not None:
            taken = reading.submitted_at.date()
            if meter.last_date is None or taken > meter.last_date:
                return Previous(reading.value, taken)
        return Previous(meter.last_value, meter.last_date)

    async def add_many(self, readings: Sequence[dict[str, object]]) -> int:
        """Insert readings; rows whose dedup_key exists already are skipped. Returns rows inserted."""
        if not readings:
            return 0
        self._previous.clear()
        statement = (
            insert_for(self.session, Reading)
            .values(list(readings))
            .on_conflict_do_nothing(index_elements=["dedup_key"])
            .returning(Reading.id)
        )
        return len((await self.session.execute(statement)).scalars().all())

    async def by_receipt(self, receipt: str) -> Sequence[Reading]:
        return (await self.session.execute(select(Reading).where(Reading.receipt == receipt))).scalars().all()

    async def history(self, meter_id: int, periods: int = 12) -> list[Reading]:
        """The reading that counts for each of the meter's last ``periods`` periods, newest first."""
        ranked = (
            select(
                Reading.id,
                func.row_number()
                .over(partition_by=Reading.period, order_by=(Reading.submitted_at.desc(), Reading.id.desc()))
                .label("rank"),
            )
            .where(Reading.meter_id == meter_id)
            .subquery()
        )
        query = (
            select(Reading)
            .where(Reading.id.in_(select(ranked.c.id).where(ranked.c.rank == 1)))
            .order_by(Reading.period.desc())
            .limit(periods)
        )
        return list((await self.session.execute(query)).scalars().all())

    async def export(
        self, period: str, opens_at: datetime, closes_at: datetime, provider_id: str | None = None
    ) -> AsyncIterator[ExportRow]:
        """For billing: per meter and zone, the latest reading of ``period`` accepted in its window."""
        latest = self._latest_per_meter(
            Reading.period == period, Reading.submitted_at >= opens_at, Reading.submitted_at < closes_at
        )
        query = (
            select(Account.provider_id, Account.number, Meter.serial, Meter.zone, Meter.precision, Reading)
            .join(Meter, and_(Meter.id == Reading.meter_id))
            .join(Account, Account.id == Meter.account_id)
            .where(Reading.id.in_(latest))  # type: ignore[arg-type]
            .order_by(Account.provider_id, Account.number, Meter.serial, Meter.zone)
        )
        if provider_id is not None:
            query = query.where(Account.provider_id == provider_id)
        result = await self.session.stream(query)
        async for provider, number, serial, zone, precision, reading in result:
            yield ExportRow(
                provider,
                number,
                serial,
                zone,
                reading.value,
                reading.previous_value,
                reading.submitted_at,
                reading.channel,
                precision,
            )
