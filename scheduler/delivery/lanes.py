"""One channel's lane: keeps a small window of claimed rows in hand, paces them through the
channel's rate limiter and per-chat spacing, sends them, and hands the results to the recorder.

The lane claims (through its Claimer) when at most half of its window is left unsent, and records
the results every ``flush_interval`` in one transaction. A 429 pauses the whole sender for
``retry_after`` and puts the row back at the front; stopping lets the requests in flight finish,
records everything and gives the unsent rows back to ``pending``.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence

from domain.waiting import pause
from scheduler.delivery.claimer import Claimer, Item
from scheduler.delivery.recorder import record
from scheduler.delivery.settings import Clock, DeliverySettings
from scheduler.rate_limit import ChatSpacing, RateLimiter
from scheduler.sending import ChannelSender, DeliveryResult, Outcome
from storage.database import Database

log = logging.getLogger(__name__)


def _results_for(unit: Sequence[Item], results: Sequence[DeliveryResult]) -> list[DeliveryResult]:
    missing = DeliveryResult(Outcome.RETRY, "the sender returned no result for this receiver")
    return [results[index] if index < len(results) else missing for index in range(len(unit))]


class Lane:
    """Claims, paces, sends and records the rows of one channel."""

    def __init__(
        self,
        sender: ChannelSender,
        db: Database,
        settings: DeliverySettings,
        clock: Clock,
        on_finished: Callable[[Sequence[int]], None],
    ) -> None:
        self.sender = sender
        self.channel = sender.channel
        self.db = db
        self.settings = settings
        self.clock = clock
        self.on_finished = on_finished  # broadcasts whose last rows were just recorded
        self.limiter = RateLimiter(sender.limits.rate, sender.limits.window)
        pause = self.settings.startup_pause
        self.limiter.pause(sender.limits.window if pause is None else pause)
        self.spacing = ChatSpacing(self.settings.per_chat_interval)
        self.window = self.settings.lane_window(sender.limits)
        self.queue: deque[Item] = deque()
        self.deferred: list[tuple[float, int, Item]] = []
        self.results: list[tuple[Item, DeliveryResult]] = []
        self.in_hand = 0
        self.cancelled: set[int] = set()
        self.sends: set[asyncio.Task[None]] = set()
        self.wake = asyncio.Event()
        self._sequence = itertools.count()
        self._refill_task: asyncio.Task[None] | None = None
        self._next_claim_at = 0.0
        # One writer at a time: on SQLite a claim and a flush would otherwise wait for each other in
        # SQLite's busy handler, which sleeps in steps of up to tens of milliseconds.
        self._db_lock = asyncio.Lock()
        self.claimer = Claimer(db, self.channel, settings, clock, self._db_lock)

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
            items = await self._claim(limit)
        except Exception:
            log.exception("delivery (%s): claiming outbox rows failed", self.channel)
            items = None
        if not items or len(items) < limit:
            self._next_claim_at = time.monotonic() + self.settings.poll_interval
        self.wake.set()

    async def _claim(self, limit: int) -> list[Item]:
        items = await self.claimer.claim(limit)
        self.in_hand += len(items)
        self.queue.extend(items)
        return items

    # choosing what to send next

    def _skipped(self, item: Item) -> bool:
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

    def _take_ready(self, now: float) -> Item | None:
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

    def _next_unit(self) -> list[Item] | None:
        first = self._take_ready(time.monotonic())
        if first is None or self.sender.limits.max_receivers == 1:
            return None if first is None else [first]
        return self._gather(first)

    def _gather(self, first: Item) -> list[Item]:
        """More queued rows with the same text for one multi-receiver call (Viber)."""
        unit, keys, rest = [first], {first.row.chat_key}, deque[Item]()
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

    async def _send(self, unit: list[Item]) -> None:
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

    def _rate_limited(self, item: Item, result: DeliveryResult) -> None:
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
            now = self.clock()
            results = [(item.row, result) for item, result in batch]
            try:
                finished = await record(self.db, self.channel, results, now, self.settings)
            except Exception:
                log.exception(
                    "delivery (%s): recording %d result(s) failed; will retry", self.channel, len(batch)
                )
                self.results[:0] = batch
                return
            self.in_hand -= len(batch)
            if finished:
                self.on_finished(finished)
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
            async with self.db.unit_of_work() as uow:
                await uow.outbox.release(unsent)
                await uow.commit()
        except Exception:
            log.exception("delivery (%s): could not release %d unsent row(s)", self.channel, len(unsent))
            return
        self.queue.clear()
        self.deferred.clear()
        self.in_hand -= len(unsent)
