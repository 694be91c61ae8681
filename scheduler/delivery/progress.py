"""Operators' progress: the live message in the chat of the operator who queued a broadcast
(posted, then edited where the messenger can edit) and the final report, sent through the lane
of that chat's channel, i.e. through the same rate limits as the broadcast itself."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence

from domain.i18n import translator
from scheduler.delivery.lanes import Lane
from scheduler.delivery.settings import Clock, DeliverySettings
from storage.database import Database
from storage.models import Broadcast
from storage.repositories.broadcasts import CANCELLED, DONE, QUEUED, progress_of

log = logging.getLogger(__name__)


def progress_text(broadcast: Broadcast, rate: float | None, locale: str) -> str:
    """The operator's live progress message, or the final report once the broadcast is finished."""
    try:
        tr = translator(locale)
    except KeyError:
        tr = translator("en")
    p = progress_of(broadcast)
    figures = {"id": p.id, "sent": p.sent, "failed": p.failed, "total": p.total}
    if p.status == DONE:
        return tr._("Broadcast #{id} finished.\nSent: {sent} · Failed: {failed} · Total: {total}", **figures)
    if p.status == CANCELLED:
        return tr._(
            "Broadcast #{id} cancelled.\nSent: {sent} · Failed: {failed} · Not sent: {cancelled} · "
            "Total: {total}",
            cancelled=p.cancelled,
            **figures,
        )
    if p.status == QUEUED and not p.sent and not p.failed:
        return tr._(
            "Broadcast #{id} is waiting to start (scheduled, or quiet hours).\nRecipients: {total}", **figures
        )
    return tr._(
        "Broadcast #{id}: sending…\nSent: {sent} · Failed: {failed} · Remaining: {remaining} of {total}\n"
        "Rate: {rate} messages/s",
        remaining=p.remaining,
        rate=f"{rate or 0:.1f}",
        **figures,
    )


class ProgressReporter:
    """Posts the progress of the broadcasts the tick hands it, one report run at a time."""

    def __init__(self, db: Database, settings: DeliverySettings, clock: Clock) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self._samples: dict[int, tuple[float, int]] = {}
        self._last_text: dict[int, str] = {}
        self._reporting: asyncio.Task[None] | None = None

    def showing(self, broadcast_ids: Sequence[int]) -> bool:
        """Whether any of these broadcasts has a live progress message."""
        return any(bid in self._last_text for bid in broadcast_ids)

    def start(self, reports: Sequence[Broadcast], lanes: Mapping[str, Lane]) -> None:
        """Report ``reports`` in a task of its own, unless the previous run is still posting."""
        if reports and (self._reporting is None or self._reporting.done()):
            # Posting waits for the limiter (and a 429 pause): never hold up the next tick with it.
            self._reporting = asyncio.create_task(self._report_all(reports, lanes))

    async def finish(self) -> None:
        """Let a report being posted finish (briefly); an unposted final report is posted next start."""
        if self._reporting is not None and not self._reporting.done():
            _, late = await asyncio.wait({self._reporting}, timeout=self.settings.shutdown_grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _report_all(self, reports: Sequence[Broadcast], lanes: Mapping[str, Lane]) -> None:
        for broadcast in reports:
            try:
                await self._report(broadcast, lanes)
            except Exception:
                log.exception("delivery: progress report of broadcast %s failed", broadcast.id)

    def _rate(self, broadcast: Broadcast) -> float | None:
        done = broadcast.sent_count + broadcast.failed_count
        now = time.monotonic()
        previous = self._samples.get(broadcast.id)
        self._samples[broadcast.id] = (now, done)
        if previous is None or now <= previous[0]:
            return None
        return (done - previous[1]) / (now - previous[0])

    async def _report(self, broadcast: Broadcast, lanes: Mapping[str, Lane]) -> None:
        lane = lanes.get(broadcast.progress_channel)
        if lane is None:
            return
        locale = broadcast.progress_locale or broadcast.default_locale
        # Final once nothing of it is left in flight (a cancelled one may still have a few in hand).
        finished = progress_of(broadcast).settled
        text = progress_text(broadcast, self._rate(broadcast), locale)
        message_id = broadcast.progress_message_id
        if not finished and lane.spacing.ready_in(broadcast.progress_chat_key) > 0:
            return  # the operator's chat had a message less than a second ago: next tick
        if lane.sender.limits.can_edit and text != self._last_text.get(broadcast.id):
            message_id = await lane.post(broadcast.progress_chat_key, text, message_id)
            self._last_text[broadcast.id] = text
        if finished:
            await lane.post(broadcast.progress_chat_key, text, "")  # a new message: the operator is notified
            self._last_text.pop(broadcast.id, None)
            self._samples.pop(broadcast.id, None)
        async with self.db.unit_of_work() as uow:
            if message_id != broadcast.progress_message_id:
                await uow.broadcasts.set_progress_message(broadcast.id, message_id)
            if finished:
                await uow.broadcasts.mark_reported(broadcast.id, self.clock())
            await uow.commit()
