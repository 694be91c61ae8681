"""Incoming updates stored before acknowledgement: deduplication and crash recovery, and the
replies of each handled update until the messenger took them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import InboxUpdate
from storage.upsert import insert_for


class InboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def store(self, channel: str, update_key: str, payload: str, at: datetime) -> int | None:
        """Insert the update; its id, or None when it was stored before (a retry or duplicate)."""
        statement = (
            insert_for(self.session, InboxUpdate)
            .values(channel=channel, update_key=update_key, payload=payload, status="pending", received_at=at)
            .on_conflict_do_nothing(index_elements=["channel", "update_key"])
            .returning(InboxUpdate.id)
        )
        return (await self.session.execute(statement)).scalar_one_or_none()

    async def find(self, channel: str, update_key: str) -> InboxUpdate | None:
        query = select(InboxUpdate).where(
            InboxUpdate.channel == channel, InboxUpdate.update_key == update_key
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def claim(self, update_id: int, at: datetime) -> bool:
        """Mark a pending update handled; False when it was handled already."""
        result = await self.session.execute(
            update(InboxUpdate)
            .where(InboxUpdate.id == update_id, InboxUpdate.status == "pending")
            .values(status="done", handled_at=at)
        )
        return result.rowcount == 1

    async def record_replies(self, update_id: int, replies: list[dict[str, Any]]) -> None:
        """Keep the replies of a handled update, in its transaction, until they are sent."""
        if replies:
            await self.session.execute(
                update(InboxUpdate).where(InboxUpdate.id == update_id).values(replies=replies)
            )

    async def replies_sent(self, update_ids: Sequence[int]) -> None:
        """The messenger took these updates' replies (or they cannot be sent): nothing left to send."""
        if update_ids:
            await self.session.execute(
                update(InboxUpdate).where(InboxUpdate.id.in_(list(update_ids))).values(replies=None)
            )

    async def unsent_replies(self, channel: str, limit: int = 100) -> Sequence[InboxUpdate]:
        """Handled updates whose replies a crash left unsent, oldest first."""
        query = (
            select(InboxUpdate)
            .where(InboxUpdate.channel == channel, InboxUpdate.replies.is_not(None))
            .order_by(InboxUpdate.id)
            .limit(limit)
        )
        return (await self.session.execute(query)).scalars().all()

    async def mark_failed(self, update_id: int, at: datetime) -> None:
        await self.session.execute(
            update(InboxUpdate)
            .where(InboxUpdate.id == update_id, InboxUpdate.status == "pending")
            .values(status="failed", handled_at=at)
        )

    async def pending(self, channel: str, limit: int = 100) -> Sequence[InboxUpdate]:
        query = (
            select(InboxUpdate)
            .where(InboxUpdate.channel == channel, InboxUpdate.status == "pending")
            .order_by(InboxUpdate.id)
            .limit(limit)
        )
        return (await self.session.execute(query)).scalars().all()

    async def purge_handled(self, before: datetime) -> int:
        result = await self.session.execute(
            delete(InboxUpdate).where(InboxUpdate.status != "pending", InboxUpdate.received_at < before)
        )
        return result.rowcount or 0
