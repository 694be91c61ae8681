"""Broadcasts: the audience query, queuing (one INSERT … SELECT), figures, cancellation.

Audience filters combine with AND. The account filters (provider, address, debt) must all hold
for one and the same account bound to the chat: "teplo residents on Shevchenka street" means an
account of teplo whose address contains "Shevchenka". The address match is case-insensitive for
any script (PostgreSQL lower(); on SQLite a Python lower() registered on the connection, since
SQLite's own lower() only folds ASCII).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import JSON, ColumnElement, String, and_, cast, exists, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Account, Binding, Broadcast, Chat, OutboxMessage, UTCDateTime
from storage.repositories.outbox import (
    CANCELLED,
    PENDING,
    PRIORITY_BROADCAST,
    PRIORITY_EMERGENCY,
    insert_outbox_rows,
)

# Broadcast statuses.
DRAFT = "draft"
QUEUED = "queued"
SENDING = "sending"
DONE = "done"
UNFINISHED = (QUEUED, SENDING)
FINISHED = (DONE, CANCELLED)

SQLITE_LOWER = "utilibot_lower"


@dataclass(frozen=True)
class Audience:
    """Who gets a broadcast: active chats of ``channels`` matching every filter that is set."""

    channels: tuple[str, ...] = ("telegram",)
    provider: str | None = None
    address: str | None = None
    min_debt: Decimal | None = None  # debtors only: balance > min_debt
    locale: str | None = None

    @property
    def everyone(self) -> bool:
        return self.provider is None and not self.address and self.min_debt is None and self.locale is None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"channels": list(self.channels)}
        if self.provider is not None:
            data["provider"] = self.provider
        if self.address:
            data["address"] = self.address
        if self.min_debt is not None:
            data["min_debt"] = str(self.min_debt)
        if self.locale is not None:
            data["locale"] = self.locale
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Audience:
        min_debt: Decimal | None = None
        if data.get("min_debt") is not None:
            try:
                min_debt = Decimal(str(data["min_debt"]))
            except InvalidOperation:
                min_debt = Decimal(0)
        return cls(
            channels=tuple(data.get("channels") or ("telegram",)),
            provider=data.get("provider") or None,
            address=data.get("address") or None,
            min_debt=min_debt,
            locale=data.get("locale") or None,
        )


@dataclass(frozen=True)
class Progress:
    """A broadcast's figures."""

    id: int
    status: str
    emergency: bool
    total: int
    sent: int
    failed: int
    cancelled: int
    created_at: datetime
    finished_at: datetime | None
    texts: dict[str, str] = field(default_factory=dict)

    @property
    def remaining(self) -> int:
        return max(self.total - self.sent - self.failed - self.cancelled, 0)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def settled(self) -> bool:
        """Finished, and every recipient's row is final (none still in flight)."""
        return self.finished and self.remaining == 0


def progress_of(broadcast: Broadcast) -> Progress:
    return Progress(
        id=broadcast.id,
        status=broadcast.status,
        emergency=broadcast.emergency,
        total=broadcast.total_count,
        sent=broadcast.sent_count,
        failed=broadcast.failed_count,
        cancelled=broadcast.cancelled_count,
        created_at=broadcast.created_at,
        finished_at=broadcast.finished_at,
        texts=dict(broadcast.texts or {}),
    )


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


class BroadcastRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # the audience

    async def _lower_function(self) -> Any:
        """lower() that folds every script on both databases."""
        connection = await self.session.connection()
        if connection.dialect.name != "sqlite":
            return func.lower
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.create_function(SQLITE_LOWER, 1, _lower, deterministic=True)
        return getattr(func, SQLITE_LOWER)

    async def _condition(self, audience: Audience) -> ColumnElement[bool]:
        conditions: list[ColumnElement[bool]] = [Chat.active.is_(True), Chat.channel.in_(audience.channels)]
        if audience.locale is not None:
            conditions.append(Chat.locale == audience.locale)
        account: list[ColumnElement[bool]] = []
        if audience.provider is not None:
            account.append(Account.provider_id == audience.provider)
        if audience.address:
            lower = await self._lower_function()
            account.append(lower(Account.address).contains(audience.address.lower(), autoescape=True))
        if audience.min_debt is not None:
            account.append(Account.balance > audience.min_debt)
        if account:
            bound = (
                exists().where(Binding.chat_id == Chat.id, Binding.account_id == Account.id).where(*account)
            )
            conditions.append(bound)
        return and_(*conditions)

    async def count_audience(self, audience: Audience) -> int:
        """The exact number of chats a broadcast to ``audience`` would reach now."""
        query = select(func.count()).select_from(Chat).where(await self._condition(audience))
        return int((await self.session.execute(query)).scalar_one())

    # creating and queuing

    async def create(
        self,
        *,
        created_by: str,
        texts: dict[str, str],
        default_locale: str,
        audience: Audience,
        emergency: bool,
        now: datetime,
        scheduled_at: datetime | None = None,
        progress_channel: str = "",
        progress_chat_key: str = "",
        progress_locale: str = "",
    ) -> Broadcast:
        broadcast = Broadcast(
            created_by=created_by[:100],
            texts=dict(texts),
            default_locale=default_locale,
            audience=audience.to_json(),
            emergency=emergency,
            status=DRAFT,
            scheduled_at=scheduled_at,
            progress_channel=progress_channel,
            progress_chat_key=progress_chat_key,
            progress_locale=progress_locale,
            progress_message_id="",
            created_at=now,
        )
        self.session.add(broadcast)
        await self.session.flush()
        return broadcast

    async def queue(self, broadcast: Broadcast, now: datetime) -> int:
        """One outbox row per matching chat, in one INSERT … SELECT; returns the recipient count.

        Idempotent: rows are keyed ``bc:{id}:{chat_id}``, so queuing the same broadcast again adds
        nobody twice. Commit before anything is sent (the delivery loop only sees committed rows).
        """
        audience = Audience.from_json(broadcast.audience)
        priority = PRIORITY_EMERGENCY if broadcast.emergency else PRIORITY_BROADCAST
        rows = select(
            Chat.id,
            literal("broadcast"),
            literal({}, JSON),
            literal(priority),
            literal(PENDING),
            literal(0),
            literal(broadcast.scheduled_at or now, UTCDateTime),
            literal(""),
            literal(f"bc:{broadcast.id}:") + cast(Chat.id, String),
            literal(now, UTCDateTime),
            literal(broadcast.id),
        ).where(await self._condition(audience))
        await self.session.execute(insert_outbox_rows(self.session, rows, "broadcast_id"))
        total_query = select(func.count()).where(OutboxMessage.broadcast_id == broadcast.id)
        broadcast.total_count = int((await self.session.execute(total_query)).scalar_one())
        broadcast.status = QUEUED if broadcast.status == DRAFT else broadcast.status
        broadcast.queued_at = broadcast.queued_at or now
        await self.session.flush()
        return broadcast.total_count

    # reading

    async def get(self, broadcast_id: int) -> Broadcast | None:
        return await self.session.get(Broadcast, broadcast_id)

    async def recent(self, limit: int = 10) -> Sequence[Broadcast]:
        query = select(Broadcast).where(Broadcast.status != DRAFT).order_by(Broadcast.id.desc()).limit(limit)
        return (await self.session.execute(query)).scalars().all()

    async def unfinished(self) -> Sequence[Broadcast]:
        query = select(Broadcast).where(Broadcast.status.in_(UNFINISHED)).order_by(Broadcast.id)
        return (await self.session.execute(query)).scalars().all()

    async def texts(self, ids: Sequence[int]) -> dict[int, tuple[dict[str, str], str]]:
        """Broadcast id → (texts per locale, default locale)."""
        if not ids:
            return {}
        query = select(Broadcast.id, Broadcast.texts, Broadcast.default_locale).where(Broadcast.id.in_(ids))
        return {
            row.id: (dict(row.texts or {}), row.default_locale) for row in await self.session.execute(query)
        }

    async def cancelled_among(self, ids: Sequence[int]) -> set[int]:
        if not ids:
            return set()
        query = select(Broadcast.id).where(Broadcast.id.in_(ids), Broadcast.status == CANCELLED)
        return set((await self.session.execute(query)).scalars().all())

    async def to_report(self) -> Sequence[Broadcast]:
        """Broadcasts with a progress message to post or edit (running, or finished and not yet reported)."""
        query = (
            select(Broadcast)
            .where(
                Broadcast.progress_chat_key != "",
                Broadcast.reported_at.is_(None),
                Broadcast.status != DRAFT,
            )
            .order_by(Broadcast.id)
        )
        return (await self.session.execute(query)).scalars().all()

    # changing

    async def add_counts(
        self, broadcast_id: int, now: datetime, sent: int = 0, failed: int = 0, cancelled: int = 0
    ) -> None:
        """Add delivery results to the figures; the first one marks a queued broadcast as sending."""
        await self.session.execute(
            update(Broadcast)
            .where(Broadcast.id == broadcast_id)
            .values(
                sent_count=Broadcast.sent_count + sent,
                failed_count=Broadcast.failed_count + failed,
                cancelled_count=Broadcast.cancelled_count + cancelled,
            )
        )
        if sent or failed:
            await self.session.execute(
                update(Broadcast)
                .where(Broadcast.id == broadcast_id, Broadcast.status == QUEUED)
                .values(status=SENDING, started_at=now)
            )

    async def finish_complete(self, ids: Sequence[int], now: datetime) -> list[int]:
        """Mark done those of ``ids`` that have no recipient left; returns their ids."""
        if not ids:
            return []
        done = (
            Broadcast.sent_count + Broadcast.failed_count + Broadcast.cancelled_count >= Broadcast.total_count
        )
        query = select(Broadcast.id).where(Broadcast.id.in_(ids), Broadcast.status.in_(UNFINISHED), done)
        complete = list((await self.session.execute(query)).scalars().all())
        if complete:
            await self.session.execute(
                update(Broadcast).where(Broadcast.id.in_(complete)).values(status=DONE, finished_at=now)
            )
        return complete

    async def cancel(self, broadcast_id: int, now: datetime) -> int | None:
        """Stop a running broadcast: its pending rows are cancelled (the few in flight still go).

        Returns how many rows were cancelled, or None when it was not running.
        """
        broadcast = await self.session.get(Broadcast, broadcast_id, with_for_update=True)
        if broadcast is None or broadcast.status not in (DRAFT, *UNFINISHED):
            return None
        result = await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.broadcast_id == broadcast_id, OutboxMessage.status == PENDING)
            .values(status=CANCELLED)
        )
        cancelled = result.rowcount or 0
        broadcast.cancelled_count += cancelled
        broadcast.status = CANCELLED
        broadcast.finished_at = now
        await self.session.flush()
        return cancelled

    async def set_progress_message(self, broadcast_id: int, message_id: str) -> None:
        await self.session.execute(
            update(Broadcast).where(Broadcast.id == broadcast_id).values(progress_message_id=message_id)
        )

    async def mark_reported(self, broadcast_id: int, now: datetime) -> None:
        await self.session.execute(
            update(Broadcast).where(Broadcast.id == broadcast_id).values(reported_at=now)
        )
