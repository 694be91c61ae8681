"""Charges and payments of an account: periods, per-service charges, payment history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Charge, Payment


class BillingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def periods(self, account_id: int, limit: int = 12) -> list[str]:
        """The account's billing periods with charges, newest first."""
        query = (
            select(Charge.period)
            .where(Charge.account_id == account_id)
            .group_by(Charge.period)
            .order_by(Charge.period.desc())
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars().all())

    async def charges(self, account_id: int, period: str) -> Sequence[Charge]:
        query = (
            select(Charge)
            .where(Charge.account_id == account_id, Charge.period == period)
            .order_by(Charge.service)
        )
        return (await self.session.execute(query)).scalars().all()

    async def latest_charges(self, account_id: int) -> tuple[str | None, Sequence[Charge]]:
        """The most recent billing period of the account and its charges, per service."""
        period = (
            await self.session.execute(select(func.max(Charge.period)).where(Charge.account_id == account_id))
        ).scalar_one_or_none()
        if period is None:
            return None, []
        return period, await self.charges(account_id, period)

    async def payments_since(self, account_id: int, since: date) -> Sequence[Payment]:
        query = (
            select(Payment)
            .where(Payment.account_id == account_id, Payment.paid_on >= since)
            .order_by(Payment.paid_on.desc(), Payment.id.desc())
        )
        return (await self.session.execute(query)).scalars().all()
