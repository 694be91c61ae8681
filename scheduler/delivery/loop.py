"""The delivery loop: takes the delivery role, recovers what a stop or crash left, runs one lane
per channel, and ticks (cancellations, orphaned rows, the role still held, operators' progress)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from domain.config import Config
from scheduler.delivery.lanes import Lane
from scheduler.delivery.progress import ProgressReporter
from scheduler.delivery.role import acquire_role, delivery_role
from scheduler.delivery.settings import Clock, DeliverySettings, utc_now
from scheduler.sending import ChannelSender
from storage.database import Database
from storage.process_lock import ProcessLock
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)


class DeliveryLoop:
    """``await loop.run(stop)``: takes the delivery role (or stands by until it is free), then
    delivers until ``stop`` is set."""

    def __init__(
        self,
        db: Database,
        senders: Sequence[ChannelSender],
        settings: DeliverySettings | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.db = db
        self.senders = list(senders)
        self.settings = settings or DeliverySettings()
        self.clock = clock
        self.delivering = asyncio.Event()  # set while this loop holds the role and sends
        self._lanes: dict[str, Lane] = {}
        self._tick_now = asyncio.Event()
        self._progress = ProgressReporter(db, self.settings, clock)

    def wake(self) -> None:
        """Something was queued: look for due rows now instead of at the next poll."""
        for lane in self._lanes.values():
            lane.poke()

    def finished(self, broadcast_ids: Sequence[int]) -> None:
        """Broadcasts just completed: report them without waiting for the next tick."""
        if self._progress.showing(broadcast_ids):
            self._tick_now.set()

    async def run(self, stop: asyncio.Event) -> None:
        if not self.senders:
            return
        role = delivery_role(self.db)
        try:
            if await acquire_role(role, stop, self.settings.role_retry):
                await self._deliver(stop, role)
        finally:
            self.delivering.clear()
            await role.release()

    async def _deliver(self, stop: asyncio.Event, role: ProcessLock) -> None:
        await self._recover()
        if self.settings.freeze_gc:
            _freeze_long_lived_objects()
        started: list[ChannelSender] = []
        halt = asyncio.Event()
        tasks: list[asyncio.Task[None]] = []
        try:
            for sender in self.senders:
                await sender.start()
                started.append(sender)
            self._lanes = {
                sender.channel: Lane(sender, self.db, self.settings, self.clock, self.finished)
                for sender in self.senders
            }
            tasks = [asyncio.create_task(lane.run(halt)) for lane in self._lanes.values()]
            ticker = asyncio.create_task(self._tick_forever(halt, role))
            self.delivering.set()
            log.info("delivery: running for %s", ", ".join(self._lanes))
            await _first_of(stop, halt)
            halt.set()
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            await self._progress.finish()
            await asyncio.gather(*tasks)
        finally:
            halt.set()
            for task in tasks:
                if not task.done():
                    task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for sender in started:
                with contextlib.suppress(Exception):
                    await sender.close()
            self._lanes = {}

    async def _recover(self) -> None:
        now = self.clock()
        async with self.db.unit_of_work() as uow:
            recovered = await uow.outbox.recover()
            await self._cancel_orphans(uow, now)
            await uow.commit()
        if recovered:
            log.warning("delivery: %d message(s) interrupted by a stop or crash are queued again", recovered)

    @staticmethod
    async def _cancel_orphans(uow: UnitOfWork, now: datetime) -> None:
        orphans = await uow.outbox.cancel_orphans()
        for broadcast_id, count in orphans.items():
            await uow.broadcasts.add_counts(broadcast_id, now, cancelled=count)

    # the periodic tick: cancellations, orphans, progress

    async def _tick_forever(self, halt: asyncio.Event, role: ProcessLock) -> None:
        while not halt.is_set():
            self._tick_now.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._tick_now.wait(), self.settings.progress_interval)
            if not await role.still_held():
                log.error("delivery: the delivery role was lost; stopping delivery in this process")
                halt.set()
                return
            try:
                await self._tick()
            except Exception:
                log.exception("delivery: progress tick failed")

    async def _tick(self) -> None:
        now = self.clock()
        in_hand = {
            item.row.broadcast_id
            for lane in self._lanes.values()
            for item in [*lane.queue, *(entry[2] for entry in lane.deferred)]
            if item.row.broadcast_id is not None
        }
        async with self.db.unit_of_work() as uow:
            cancelled = await uow.broadcasts.cancelled_among(sorted(in_hand))
            await self._cancel_orphans(uow, now)
            reports = list(await uow.broadcasts.to_report())
            await uow.commit()
        for lane in self._lanes.values():
            lane.cancelled = cancelled
        self._progress.start(reports, self._lanes)


def _freeze_long_lived_objects() -> None:
    """Move everything alive now (mostly the hundreds of thousands of objects the imports created:
    aiogram's models, SQLAlchemy) out of the collector's sight. Without this each full collection
    walks them all, stopping the event loop for 100-200 ms: at 1000 msg/s a visible gap in the
    sending. Done once, when delivery starts (process-wide, harmless for the rest of the bot)."""
    gc.collect()
    gc.freeze()


async def _first_of(*events: asyncio.Event) -> None:
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


def build_delivery(
    config: Config,
    db: Database,
    senders: Sequence[ChannelSender],
    clock: Clock = utc_now,
    **overrides: Any,
) -> DeliveryLoop:
    """The delivery loop for ``utilibot run`` (and the CLI): one lane per sender the composition
    root built (bot/channels), with the config's settings."""
    return DeliveryLoop(db, list(senders), DeliverySettings.from_config(config, **overrides), clock)
