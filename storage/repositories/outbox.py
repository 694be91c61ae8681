"""The outbox: messages waiting for one chat each, claimed in small batches by the delivery loop.

Life of a row: ``pending`` → ``sending`` (claimed; ``attempts`` + 1, ``claimed_at``) → ``sent`` |
``failed`` (``last_error``) | ``cancelled``; a temporary failure puts it back to ``pending`` with a
later ``not_before``. Rows are claimed by priority, then id, and on PostgreSQL with
``FOR UPDATE SKIP LOCKED`` so two delivery loops never claim the same row.

Priorities (lower goes first): emergency broadcasts, common broadcasts, reminders. During quiet
hours only rows with priority <= PRIORITY_EMERGENCY are claimed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Broadcast, Chat, OutboxMessage
from storage.upsert import insert_for

PRIORITY_EMERGENCY = 0
PRIORITY_BROADCAST = 50
PRIORITY_REMINDER = 100  # the column's default

# Row statuses.
PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
CANCELLED = "cancelled"

MAX_ERROR_LENGTH = 300


@dataclass(frozen=True)
class ClaimedRow:
    """A claimed outbox row with what sending it needs from its chat."""

    id: int
    chat_id: int
    chat_key: str
    chat_active: bool
    locale: str | None
    payload: dict[str, Any]
    broadcast_id: int | None
    attempts: int  # including this one
    priority: int


@dataclass(frozen=True)
class Backlog:
    """What waits in the outbox: rows by (channel, status), and the oldest due row's age per channel."""

    counts: dict[tuple[str, str], int]
    oldest_due_seconds: dict[str, float]

    def pending(self) -> int:
        return sum(n for (_, status), n in self.counts.items() if status == PENDING)


def _chunks(values: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def insert_outbox_rows(session: AsyncSession, rows: Select[Any], *extra_columns: str) -> Any:
    """INSERT … SELECT of outbox rows; a row whose dedup_key is queued already is skipped.

    ``rows`` selects, in this order: chat_id, kind, payload, priority, status, attempts,
    not_before, last_error, dedup_key, created_at, then ``extra_columns``.
    """
    columns = [
        "chat_id",
        "kind",
        "payload",
        "priority",
        "status",
        "attempts",
        "not_before",
        "last_error",
        "dedup_key",
        "created_at",
        *extra_columns,
    ]
    return (
        insert_for(session, OutboxMessage)
        .from_select(columns, rows)
        .on_conflict_do_nothing(index_elements=["dedup_key"])
    )


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # putting messages in

    async def enqueue(
        self,
        chat_id: int,
        text: str,
        *,
        kind: str = "reminder",
        priority: int = PRIORITY_REMINDER,
        dedup_key: str | None = None,
        not_before: datetime,
        now: datetime,
    ) -> bool:
        """Queue one text for one chat; False when ``dedup_key`` was queued before (nothing changes)."""
        statement = (
            insert_for(self.session, OutboxMessage)
            .values(
                chat_id=chat_id,
                kind=kind,
                payload={"text": text},
                priority=priority,
                status=PENDING,
                attempts=0,
                not_before=not_before,
                last_error="",
                dedup_key=dedup_key,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["dedup_key"])
        )
        result = await self.session.execute(statement)
        return (result.rowcount or 0) > 0

    # the delivery loop's side

    async def claim(
        self, channel: str, limit: int, now: datetime, max_priority: int | None = None
    ) -> list[ClaimedRow]:
        """Switch up to ``limit`` due rows of ``channel`` to ``sending`` (commit to make it stick)."""
        query = (
            select(
                OutboxMessage.id,
                OutboxMessage.chat_id,
                Chat.chat_key,
                Chat.active,
                Chat.locale,
                OutboxMessage.payload,
                OutboxMessage.broadcast_id,
                OutboxMessage.attempts,
                OutboxMessage.priority,
            )
            .join(Chat, Chat.id == OutboxMessage.chat_id)
            .where(
                OutboxMessage.status == PENDING,
                OutboxMessage.not_before <= now,
                Chat.channel == channel,
            )
            .order_by(OutboxMessage.priority, OutboxMessage.id)
            .limit(limit)
            .with_for_update(of=OutboxMessage, skip_locked=True)
        )
        if max_priority is not None:
            # Reminders are queued with a not_before after the provider's own quiet hours, so
            # the service-wide gate (quiet hours in the bot's time zone) does not hold them back.
            query = query.where(or_(OutboxMessage.priority <= max_priority, OutboxMessage.kind == "reminder"))
        rows = (await self.session.execute(query)).all()
        if not rows:
            return []
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([row.id for row in rows]))
            .values(status=SENDING, claimed_at=now, attempts=OutboxMessage.attempts + 1)
        )
        return [
            ClaimedRow(
                id=row.id,
                chat_id=row.chat_id,
                chat_key=row.chat_key,
                chat_active=bool(row.active),
                locale=row.locale,
                payload=dict(row.payload or {}),
                broadcast_id=row.broadcast_id,
                attempts=row.attempts + 1,
                priority=row.priority,
            )
            for row in rows
        ]

    async def recover(self) -> int:
        """Every row left ``sending`` by a delivery loop that is gone goes back to ``pending``.

        Only call this while holding the delivery role: then no other loop is sending anything.
        """
        result = await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.status == SENDING)
            .values(status=PENDING, claimed_at=None)
        )
        return result.rowcount or 0

    async def release(self, ids: Sequence[int]) -> None:
        """Claimed rows that were never sent (shutdown) go back to ``pending``, the attempt undone."""
        for chunk in _chunks(ids):
            await self.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(chunk), OutboxMessage.status == SENDING)
                .values(status=PENDING, claimed_at=None, attempts=OutboxMessage.attempts - 1)
            )

    async def mark_sent(self, ids: Sequence[int], now: datetime) -> None:
        for chunk in _chunks(ids):
            await self.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(chunk))
                .values(status=SENT, sent_at=now, last_error="")
            )

    async def mark_failed(self, ids: Sequence[int], error: str) -> None:
        for chunk in _chunks(ids):
            await self.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(chunk))
                .values(status=FAILED, last_error=error[:MAX_ERROR_LENGTH])
            )

    async def mark_cancelled(self, ids: Sequence[int]) -> None:
        for chunk in _chunks(ids):
            await self.session.execute(
                update(OutboxMessage).where(OutboxMessage.id.in_(chunk)).values(status=CANCELLED)
            )

    async def reschedule(self, ids: Sequence[int], not_before: datetime, error: str) -> None:
        """A temporary failure: back to ``pending``, due again at ``not_before``."""
        for chunk in _chunks(ids):
            await self.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(chunk))
                .values(
                    status=PENDING,
                    not_before=not_before,
                    claimed_at=None,
                    last_error=error[:MAX_ERROR_LENGTH],
                )
            )

    async def deactivate_chats(self, chat_ids: Sequence[int]) -> None:
        """Chats that blocked the bot (or no longer exist) get no more deliveries."""
        for chunk in _chunks(sorted(set(chat_ids))):
            await self.session.execute(update(Chat).where(Chat.id.in_(chunk)).values(active=False))

    async def cancel_orphans(self) -> dict[int, int]:
        """Pending rows of cancelled broadcasts (put back by a retry or a restart) → cancelled.

        Returns broadcast id → rows cancelled (the caller adds them to the broadcast's figures).
        """
        cancelled = select(Broadcast.id).where(Broadcast.status == CANCELLED)
        query = (
            select(OutboxMessage.broadcast_id, func.count())
            .where(OutboxMessage.status == PENDING, OutboxMessage.broadcast_id.in_(cancelled))
            .group_by(OutboxMessage.broadcast_id)
        )
        counts = {int(bid): int(n) for bid, n in (await self.session.execute(query)).all() if bid is not None}
        if counts:
            await self.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == PENDING, OutboxMessage.broadcast_id.in_(list(counts)))
                .values(status=CANCELLED)
            )
        return counts

    # figures

    async def backlog(self, now: datetime) -> Backlog:
        """Undelivered rows per channel and status, and per channel the age of the oldest row that
        is due (rows waiting for quiet hours to end are not late). Uses the status index."""
        waiting = (
            select(Chat.channel, OutboxMessage.status, func.count(), func.min(OutboxMessage.not_before))
            .join(Chat, Chat.id == OutboxMessage.chat_id)
            .where(OutboxMessage.status.in_((PENDING, SENDING)))
            .group_by(Chat.channel, OutboxMessage.status)
        )
        counts: dict[tuple[str, str], int] = {}
        oldest: dict[str, float] = {}
        for channel, status, n, first_due in (await self.session.execute(waiting)).all():
            counts[(channel, status)] = int(n)
            if status == PENDING and first_due is not None:
                oldest[channel] = max(0.0, (now - first_due).total_seconds())
        return Backlog(counts, oldest)

    async def status_counts(self, broadcast_id: int | None = None) -> dict[str, int]:
        """Rows per status (of one broadcast, or of the whole outbox)."""
        query = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        if broadcast_id is not None:
            query = query.where(OutboxMessage.broadcast_id == broadcast_id)
        return {status: int(n) for status, n in (await self.session.execute(query)).all()}
