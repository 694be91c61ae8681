"""The delivery loop: drains the outbox through the channels at their exact rate limits.

One loop per deployment holds the *delivery role* (an exclusive lock: a lock file next to the
SQLite database, a PostgreSQL advisory lock held by one connection). The operating system or the
database server releases it the moment its process dies, so a restarted loop knows that every
row still marked ``sending`` belongs to nobody and puts it back to ``pending`` at once; no lease
has to expire. Another process asking for the role stands by and takes over when it is free
(``utilibot run`` next to a CLI broadcast, or a second worker). With one loop the global rate is
exact by construction; claims still use ``FOR UPDATE SKIP LOCKED`` so that even two loops (e.g.
during a hand-over) could never claim the same row.

Per channel a *lane* keeps a small number of rows in hand: it claims a batch (one transaction:
due rows by priority, then id → ``sending``) when at most half of its window is left, sends them
through the channel's rate limiter, and records the results every 100 ms in one transaction.
Crash safety: the only rows that can be sent twice are those sent but not yet recorded when the
process died; they are among the rows in hand, at most ``window`` = max(10, rate / 4) rows (10 at
30 msg/s, 250 at 1000 msg/s), in practice the ~100 ms of results not yet recorded plus the
requests in flight. Nobody pending is ever skipped: a row leaves ``pending`` only in the claim
transaction, and leaves ``sending`` only with its result, or back to ``pending``.

Outcomes: sent; 429 → the whole sender pauses ``retry_after`` seconds and the message is sent
again afterwards; 5xx / network → back to pending with exponential backoff, failed after
``max_attempts``; blocked / chat not found → the chat is marked inactive and the row failed,
never retried. Emergency broadcasts are claimed before common ones, common ones before
reminders; during quiet hours only emergency rows are claimed.

Operators' progress: every few seconds the loop posts (then edits) a progress message in the
operator's chat that queued the broadcast, through the same rate limiter, and a final report
when it is finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain.broadcast import text_for
from domain.config import Config
from domain.i18n import translator
from domain.quiet_hours import DEFAULT_QUIET_HOURS, QuietHours, quiet_hours_from_config
from domain.waiting import pause
from scheduler.rate_limit import ChatSpacing, RateLimiter
from scheduler.sending import ChannelSender, DeliveryResult, Outcome, SenderLimits
from storage.database import Database
from storage.models import Broadcast
from storage.process_lock import ProcessLock
from storage.repositories.broadcasts import CANCELLED, DONE, QUEUED, progress_of
from storage.repositories.outbox import PRIORITY_EMERGENCY, ClaimedRow
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- settings -----------------------------------------------------------------------------------


def in_flight_window(rate: int) -> int:
    """Rows a Telegram-like lane (one receiver per call) keeps in hand: a quarter second of sending."""
    return max(10, rate // 4)


@dataclass(frozen=True)
class DeliverySettings:
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Kyiv"))
    quiet_hours: QuietHours | None = DEFAULT_QUIET_HOURS
    window: int | None = None  # rows in hand per lane; None: from the sender's rate
    per_chat_interval: float = 1.0
    poll_interval: float = 1.0  # how often an idle lane looks for due rows
    flush_interval: float = 0.1  # results are recorded this often
    max_attempts: int = 5
    backoff_base: float = 1.0  # seconds; doubled per attempt
    backoff_cap: float = 60.0
    progress_interval: float = 3.0
    role_retry: float = 5.0
    shutdown_grace: float = 12.0  # for requests in flight when stopping
    # No sends for this long after taking the role (None: one rate window): requests a crashed
    # predecessor made in its last second are unknown to our limiter.
    startup_pause: float | None = None
    freeze_gc: bool = True  # see _freeze_long_lived_objects

    @classmethod
    def from_config(cls, config: Config, **overrides: Any) -> DeliverySettings:
        settings = cls(zone=config.bot_zone, quiet_hours=quiet_hours_from_config(config))
        return replace(settings, **overrides)

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.backoff_cap, self.backoff_base * 2 ** max(attempts - 1, 0)))

    def lane_window(self, limits: SenderLimits) -> int:
        if self.window is not None:
            return self.window
        if limits.max_receivers == 1:
            return in_flight_window(int(limits.rate / limits.window))
        return 2 * limits.max_receivers


# --- the delivery role --------------------------------------------------------------------------

ADVISORY_LOCK_KEY = 0x7574696C69626F74 & 0x7FFFFFFFFFFFFFFF  # "utilibot"


def delivery_role(db: Database) -> ProcessLock:
    """The exclusive right to deliver, released by the OS / the database when the process dies."""
    return ProcessLock(db, ADVISORY_LOCK_KEY, ".delivery.lock", "utilibot delivery")


# --- recording results --------------------------------------------------------------------------


@dataclass
class _Item:
    row: ClaimedRow
    text: str


@dataclass
class _Tally:
    sent_ids: list[int] = field(default_factory=list)
    failed: dict[str, list[int]] = field(default_factory=dict)
    retry: dict[tuple[datetime, str], list[int]] = field(default_factory=dict)
    cancelled_ids: list[int] = field(default_factory=list)
    blocked_chats: list[int] = field(default_factory=list)
    counts: dict[int, list[int]] = field(default_factory=dict)  # broadcast → [sent, failed, cancelled]

    def count(self, broadcast_id: int | None, column: int) -> None:
        if broadcast_id is not None:
            self.counts.setdefault(broadcast_id, [0, 0, 0])[column] += 1

    def add(self, item: _Item, result: DeliveryResult, now: datetime, settings: DeliverySettings) -> None:
        row, outcome = item.row, result.outcome
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


def _results_for(unit: Sequence[_Item], results: Sequence[DeliveryResult]) -> list[DeliveryResult]:
    missing = DeliveryResult(Outcome.RETRY, "the sender returned no result for this receiver")
    return [results[index] if index < len(results) else missing for index in range(len(unit))]


# --- one channel's lane -------------------------------------------------------------------------


class _Lane:
    """Claims, paces, sends and records the rows of one channel."""

    def __init__(self, loop: DeliveryLoop, sender: ChannelSender) -> None:
        self.loop = loop
        self.sender = sender
        self.channel = sender.channel
        self.settings = loop.settings
        self.limiter = RateLimiter(sender.limits.rate, sender.limits.window)
        pause = self.settings.startup_pause
        self.limiter.pause(sender.limits.window if pause is None else pause)
        self.spacing = ChatSpacing(self.settings.per_chat_interval)
        self.window = self.settings.lane_window(sender.limits)
        self.queue: deque[_Item] = deque()
        self.deferred: list[tuple[float, int, _Item]] = []
        self.results: list[tuple[_Item, DeliveryResult]] = []
        self.in_hand = 0
        self.cancelled: set[int] = set()
        self.sends: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
        self._sequence = itertools.count()
        self._refill_task: asyncio.Task[None] | None = None
        self._next_claim_at = 0.0
        self._texts: dict[int, tuple[dict[str, str], str]] = {}
        # One writer at a time: on SQLite a claim and a flush would otherwise wait for each other in
        # SQLite's busy handler, which sleeps in steps of up to tens of milliseconds.
        self._db_lock = asyncio.Lock()

    # running

    async def run(self, halt: asyncio.Event) -> None:
        dispatcher = asyncio.create_task(self._dispatch(halt))
        flusher = asyncio.create_task(self._flush_forever(halt))
        try:
            await halt.wait()
        finally:
            # Both loops end by themselves once halted; the cancel only cuts the dispatcher's wait
            # short. A cancellation alone is not enough: Python 3.11's wait_for loses one that
            # arrives as the awaited event is set, and a cancelled asyncpg statement can fail the
            # rollback with an ordinary exception, which the flush would take for a failed write.
            halt.set()
            dispatcher.cancel()
            await asyncio.gather(dispatcher, flusher, return_exceptions=True)
            await self._wind_down()

    def poke(self) -> None:
        """Look for due rows now (something was queued)."""
        self._next_claim_at = 0.0
        self.wake.set()

    async def _dispatch(self, halt: asyncio.Event) -> None:
        while not halt.is_set():
            self._maybe_refill()
            unit = self._next_unit()
            if unit is None:
                await self._idle()
                continue
            try:
                await self.limiter.acquire()
            except asyncio.CancelledError:
                self.queue.extendleft(reversed(unit))
                raise
            for item in unit:
                self.spacing.mark(item.row.chat_key)
            task = asyncio.create_task(self._send(unit))
            self.sends.add(task)
            task.add_done_callback(self.sends.discard)

    async def _idle(self) -> None:
        now = time.monotonic()
        timeout = self.settings.poll_interval
        if self.deferred:
            timeout = min(timeout, max(self.deferred[0][0] - now, 0.0))
        if self._next_claim_at > now:
            timeout = min(timeout, self._next_claim_at - now)
        self.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), max(timeout, 0.001))

    # claiming

    def _maybe_refill(self) -> None:
        """Claim more when the unsent rows run low and the window has room for a worthwhile batch."""
        if self._refill_task is not None and not self._refill_task.done():
            return
        unsent = len(self.queue) + len(self.deferred)
        if unsent > self.window // 2 or self.window - self.in_hand < max(1, self.window // 4):
            return
        if time.monotonic() < self._next_claim_at:
            return
        if self.limiter.paused_for > 0:
            return
        self._refill_task = asyncio.create_task(self._refill())

    async def _refill(self) -> None:
        limit = self.window - self.in_hand
        try:
            rows = await self._claim(limit)
        except Exception:
            log.exception("delivery (%s): claiming outbox rows failed", self.channel)
            rows = None
        if not rows or len(rows) < limit:
            self._next_claim_at = time.monotonic() + self.settings.poll_interval
        self.wake.set()

    async def _claim(self, limit: int) -> list[ClaimedRow]:
        if limit <= 0:
            return []
        now = self.loop.clock()
        quiet = self.settings.quiet_hours
        max_priority = PRIORITY_EMERGENCY if quiet and quiet.contains(now, self.settings.zone) else None
        async with self._db_lock, self.loop.db.unit_of_work() as uow:
            rows = await uow.outbox.claim(self.channel, limit, now, max_priority)
            missing = {row.broadcast_id for row in rows if row.broadcast_id is not None} - set(self._texts)
            if len(self._texts) > 1000:
                self._texts.clear()
            self._texts.update(await uow.broadcasts.texts(sorted(missing)))
            await uow.commit()
        self.in_hand += len(rows)
        self.queue.extend(_Item(row, self._text(row)) for row in rows)
        return rows

    def _text(self, row: ClaimedRow) -> str:
        if row.broadcast_id is None:
            return str(row.payload.get("text", ""))
        texts, default_locale = self._texts.get(row.broadcast_id, ({}, ""))
        return text_for(texts, default_locale, row.locale) if texts else ""

    # choosing what to send next

    def _skipped(self, item: _Item) -> bool:
        """Rows not to send at all (recorded right away): cancelled, inactive chat, no text."""
        row = item.row
        if row.broadcast_id is not None and row.broadcast_id in self.cancelled:
            self.results.append((item, DeliveryResult(Outcome.CANCELLED)))
        elif not row.chat_active:
            self.results.append((item, DeliveryResult(Outcome.FAILED, "chat inactive")))
        elif not item.text:
            self.results.append((item, DeliveryResult(Outcome.FAILED, "no text")))
        else:
            return False
        return True

    def _take_ready(self, now: float) -> _Item | None:
        while self.deferred and self.deferred[0][0] <= now:
            _, _, item = heapq.heappop(self.deferred)
            if self._skipped(item):
                continue
            wait = self.spacing.ready_in(item.row.chat_key)
            if wait > 0:  # another message to the same chat went first
                heapq.heappush(self.deferred, (now + wait, next(self._sequence), item))
                continue
            return item
        while self.queue:
            item = self.queue.popleft()
            if self._skipped(item):
                continue
            wait = self.spacing.ready_in(item.row.chat_key)
            if wait > 0:
                heapq.heappush(self.deferred, (now + wait, next(self._sequence), item))
                continue
            return item
        return None

    def _next_unit(self) -> list[_Item] | None:
        first = self._take_ready(time.monotonic())
        if first is None or self.sender.limits.max_receivers == 1:
            return None if first is None else [first]
        return self._gather(first)

    def _gather(self, first: _Item) -> list[_Item]:
        """More queued rows with the same text for one multi-receiver call (Viber)."""
        unit, keys, rest = [first], {first.row.chat_key}, deque[_Item]()
        while self.queue and len(unit) < self.sender.limits.max_receivers:
            item = self.queue.popleft()
            key = item.row.chat_key
            if item.text != first.text or key in keys or self.spacing.ready_in(key) > 0:
                rest.append(item)
            elif not self._skipped(item):
                unit.append(item)
                keys.add(key)
        self.queue.extendleft(reversed(rest))
        return unit

    # sending

    async def _send(self, unit: list[_Item]) -> None:
        try:
            results = await self.sender.send(unit[0].text, [item.row.chat_key for item in unit])
        except Exception as error:
            log.exception("delivery (%s): the sender failed", self.channel)
            results = [DeliveryResult(Outcome.RETRY, f"{type(error).__name__}: {error}")] * len(unit)
        finally:
            self.limiter.release()
        for item, result in zip(unit, _results_for(unit, results), strict=True):
            if result.outcome is Outcome.RATE_LIMITED:
                self._rate_limited(item, result)
            else:
                self.results.append((item, result))
        self.wake.set()

    def _rate_limited(self, item: _Item, result: DeliveryResult) -> None:
        if self.limiter.paused_for < result.retry_after:
            log.warning(
                "delivery (%s): rate limited (%s); pausing %.1f s",
                self.channel,
                result.error,
                result.retry_after,
            )
        self.limiter.pause(result.retry_after)
        self.queue.appendleft(item)

    async def post(self, chat_key: str, text: str, message_id: str) -> str:
        """An operator notice through the same limits; returns the message id to edit next time."""
        wait = self.spacing.ready_in(chat_key)
        if wait > 0:
            await asyncio.sleep(wait)
        await self.limiter.acquire()
        self.spacing.mark(chat_key)
        try:
            result, new_id = await self.sender.post(chat_key, text, message_id)
        finally:
            self.limiter.release()
        if result.outcome is Outcome.RATE_LIMITED:
            self.limiter.pause(result.retry_after)
        elif result.outcome is not Outcome.SENT:
            log.warning(
                "delivery (%s): operator notice to %s failed: %s", self.channel, chat_key, result.error
            )
        return new_id

    # recording

    async def _flush_forever(self, halt: asyncio.Event) -> None:
        while not await pause(self.settings.flush_interval, halt):
            await self.flush()

    async def flush(self) -> None:
        async with self._db_lock:
            if not self.results:
                return
            batch, self.results = self.results, []
            now = self.loop.clock()
            tally = _Tally()
            for item, result in batch:
                tally.add(item, result, now, self.settings)
            try:
                async with self.loop.db.unit_of_work() as uow:
                    finished = await tally.write(uow, now)
                    await uow.commit()
            except Exception:
                log.exception(
                    "delivery (%s): recording %d result(s) failed; will retry", self.channel, len(batch)
                )
                self.results[:0] = batch
                return
            self.in_hand -= len(batch)
            if finished:
                self.loop.finished(finished)
            self.wake.set()

    # stopping

    async def _wind_down(self) -> None:
        """Let requests in flight finish, record everything, give unsent rows back."""
        if self._refill_task is not None:
            await asyncio.gather(self._refill_task, return_exceptions=True)
        if self.sends:
            _, late = await asyncio.wait(set(self.sends), timeout=self.settings.shutdown_grace)
            for task in late:  # their rows stay 'sending' and are recovered at the next start
                task.cancel()
        await self.flush()
        unsent = [item.row.id for item in self.queue] + [item.row.id for _, _, item in self.deferred]
        if not unsent:
            return
        try:
            async with self.loop.db.unit_of_work() as uow:
                await uow.outbox.release(unsent)
                await uow.commit()
        except Exception:
            log.exception("delivery (%s): could not release %d unsent row(s)", self.channel, len(unsent))
            return
        self.queue.clear()
        self.deferred.clear()
        self.in_hand -= len(unsent)


# --- progress texts -----------------------------------------------------------------------------


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


# --- the loop -----------------------------------------------------------------------------------


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
        self._lanes: dict[str, _Lane] = {}
        self._tick_now = asyncio.Event()
        self._samples: dict[int, tuple[float, int]] = {}
        self._last_text: dict[int, str] = {}
        self._reporting: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Something was queued: look for due rows now instead of at the next poll."""
        for lane in self._lanes.values():
            lane.poke()

    def finished(self, broadcast_ids: Sequence[int]) -> None:
        """Broadcasts just completed: report them without waiting for the next tick."""
        if any(bid in self._last_text for bid in broadcast_ids):
            self._tick_now.set()

    async def run(self, stop: asyncio.Event) -> None:
        if not self.senders:
            return
        role = delivery_role(self.db)
        try:
            if await self._acquire_role(role, stop):
                await self._deliver(stop, role)
        finally:
            self.delivering.clear()
            await role.release()

    async def _acquire_role(self, role: ProcessLock, stop: asyncio.Event) -> bool:
        announced = False
        while not stop.is_set():
            if await role.try_acquire():
                return True
            if not announced:
                log.info("delivery: another process is delivering the outbox; standing by")
                announced = True
            if await pause(self.settings.role_retry, stop):
                return False
        return False

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
            self._lanes = {sender.channel: _Lane(self, sender) for sender in self.senders}
            tasks = [asyncio.create_task(lane.run(halt)) for lane in self._lanes.values()]
            ticker = asyncio.create_task(self._tick_forever(halt, role))
            self.delivering.set()
            log.info("delivery: running for %s", ", ".join(self._lanes))
            await _first_of(stop, halt)
            halt.set()
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
            await self._finish_reports()
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

    async def _finish_reports(self) -> None:
        """Let a report being posted finish (briefly); an unposted final report is posted next start."""
        if self._reporting is not None and not self._reporting.done():
            _, late = await asyncio.wait({self._reporting}, timeout=self.settings.shutdown_grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

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
        if reports and (self._reporting is None or self._reporting.done()):
            # Posting waits for the limiter (and a 429 pause): never hold up the next tick with it.
            self._reporting = asyncio.create_task(self._report_all(reports))

    async def _report_all(self, reports: Sequence[Broadcast]) -> None:
        for broadcast in reports:
            try:
                await self._report(broadcast)
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

    async def _report(self, broadcast: Broadcast) -> None:
        lane = self._lanes.get(broadcast.progress_channel)
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


# --- composition ----------------------------------------------------------------------------------


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
