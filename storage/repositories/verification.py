"""The log of account-binding attempts that the lockout rule counts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import VerificationAttempt


class VerificationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self, chat_id: int, provider_id: str, account_number: str, success: bool, at: datetime
    ) -> None:
        self.session.add(
            VerificationAttempt(
                chat_id=chat_id,
                provider_id=provider_id,
                account_number=account_number[:64],
                success=success,
                created_at=at,
            )
        )
        await self.session.flush()

    async def failures_since(self, chat_id: int, since: datetime) -> Sequence[datetime]:
        """Times of the chat's failed attempts after ``since``, oldest first."""
        query = (
            select(VerificationAttempt.created_at)
            .where(
                VerificationAttempt.chat_id == chat_id,
                VerificationAttempt.success.is_(False),
                VerificationAttempt.created_at > since,
            )
            .order_by(VerificationAttempt.created_at)
        )
        return (await self.session.execute(query)).scalars().all()

    async def purge_before(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(VerificationAttempt).where(VerificationAttempt.created_at < before)
        )
        return result.rowcount or 0
