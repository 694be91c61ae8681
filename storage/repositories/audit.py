"""The audit trail: operators' actions and security events, with who, what and when."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditRecord


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self, actor: str, action: str, at: datetime, subject: str = "", details: dict[str, Any] | None = None
    ) -> None:
        """Add one entry; it lands with the caller's transaction (an undone action leaves none)."""
        self.session.add(
            AuditRecord(
                actor=actor[:100], action=action, subject=subject[:200], details=details or {}, created_at=at
            )
        )

    async def since(
        self, since: datetime | None, action: str | None = None, limit: int = 10_000
    ) -> Sequence[AuditRecord]:
        """Entries from ``since`` on (all when None), oldest first; only ``action`` when given."""
        query = select(AuditRecord).order_by(AuditRecord.created_at, AuditRecord.id).limit(limit)
        if since is not None:
            query = query.where(AuditRecord.created_at >= since)
        if action is not None:
            query = query.where(AuditRecord.action == action)
        return (await self.session.execute(query)).scalars().all()

    async def purge_before(self, before: datetime) -> int:
        result = await self.session.execute(delete(AuditRecord).where(AuditRecord.created_at < before))
        return result.rowcount or 0
