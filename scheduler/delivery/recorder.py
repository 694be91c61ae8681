"""Recording the results of sent rows: sent, failed, retried with backoff, cancelled, blocked
chats made inactive, and the broadcasts' counts, all in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from domain.metrics import DELIVERIES
from scheduler.delivery.settings import DeliverySettings
from scheduler.sending import DeliveryResult, Outcome
from storage.database import Database
from storage.repositories.outbox import ClaimedRow
from storage.unit_of_work import UnitOfWork


@dataclass
class Tally:
    sent_ids: list[int] = field(default_factory=list)
    failed: dict[str, list[int]] = field(default_factory=dict)
    retry: dict[tuple[datetime, str], list[int]] = field(default_factory=dict)
    cancelled_ids: list[int] = field(default_factory=list)
    blocked_chats: list[int] = field(default_factory=list)
    counts: dict[int, list[int]] = field(default_factory=dict)  # broadcast → [sent, failed, cancelled]

    def count(self, broadcast_id: int | None, column: int) -> None:
        if broadcast_id is not None:
            self.counts.setdefault(broadcast_id, [0, 0, 0])[column] += 1

    def add(self, row: ClaimedRow, result: DeliveryResult, now: datetime, settings: DeliverySettings) -> None:
        outcome = result.outcome
        if outcome is Outcome.SENT:
            self.sent_ids.append(row.id)
            self.count(row.broadcast_id, 0)
        elif outcome is Outcome.CANCELLED:
            self.cancelled_ids.append(row.id)
            self.count(row.broadcast_id, 2)
        elif outcome is Outcome.RETRY and row.attempts < settings.max_attempts:
            key = (now + settings.backoff(row.attempts), result.error)
            self.retry.setdefault(key, []).append(row.id)
        else:
            error = result.error or outcome.value
            if outcome is Outcome.RETRY:
                error = f"gave up after {row.attempts} attempts: {error}"
            if outcome is Outcome.BLOCKED:
                self.blocked_chats.append(row.chat_id)
            self.failed.setdefault(error, []).append(row.id)
            self.count(row.broadcast_id, 1)

    async def write(self, uow: UnitOfWork, now: datetime) -> list[int]:
        """Store everything in ``uow``; returns the broadcasts that are complete now."""
        await uow.outbox.mark_sent(self.sent_ids, now)
        for error, ids in self.failed.items():
            await uow.outbox.mark_failed(ids, error)
        for (not_before, error), ids in self.retry.items():
            await uow.outbox.reschedule(ids, not_before, error)
        await uow.outbox.mark_cancelled(self.cancelled_ids)
        await uow.outbox.deactivate_chats(self.blocked_chats)
        for broadcast_id, (sent, failed, cancelled) in self.counts.items():
            await uow.broadcasts.add_counts(broadcast_id, now, sent, failed, cancelled)
        return await uow.broadcasts.finish_complete(list(self.counts), now)


async def record(
    db: Database,
    channel: str,
    results: Sequence[tuple[ClaimedRow, DeliveryResult]],
    now: datetime,
    settings: DeliverySettings,
) -> list[int]:
    """Store ``results`` in one transaction; returns the broadcasts that are complete now."""
    tally = Tally()
    for row, result in results:
        tally.add(row, result, now, settings)
    async with db.unit_of_work() as uow:
        finished = await tally.write(uow, now)
        await uow.commit()
    _count(channel, tally)
    return finished


def _count(channel: str, tally: Tally) -> None:
    """utilibot_deliveries_total{channel,result}, for what was just recorded."""
    failed = sum(len(ids) for ids in tally.failed.values()) - len(tally.blocked_chats)
    retried = sum(len(ids) for ids in tally.retry.values())
    for result, n in (
        ("sent", len(tally.sent_ids)),
        ("retried", retried),
        ("failed", failed),
        ("blocked", len(tally.blocked_chats)),
    ):
        if n:
            DELIVERIES.labels(channel=channel, result=result).inc(n)
