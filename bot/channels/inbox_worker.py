"""Handling stored updates for a channel: in order per chat, concurrently across chats, with crash
recovery at start, a periodic sweep of updates whose handling was cut short, and a shutdown grace.

Every channel stores a raw update in the inbox before acknowledging it; this worker is what then
hands the stored updates to the channel's ``process`` callable, one at a time per chat.

Replies are not lost either: the engine records an update's replies in its inbox row in the
transaction that saves the state; once the channel has sent them it says so (``replies_sent``),
and those marks are written in batches every ``REPLIES_FLUSH`` seconds. At start (and in the
sweep, for another process's crash) the replies still recorded are sent, before any new update
of the chat; a reply is sent twice only when the process died between sending it and recording
the mark, so repeats are bounded by what was in flight.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

from domain.waiting import pause
from handlers.types import Reply
from storage.database import Database
from storage.models import InboxUpdate

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 30.0  # seconds between looks for updates left pending
STALE_AFTER = timedelta(seconds=60)  # pending this long after arrival: its handling was cut short
SHUTDOWN_GRACE = 10.0  # seconds updates in hand get to finish when the channel stops
REPLIES_FLUSH = 0.2  # seconds between writes of "these replies were sent"


class Job(Protocol):
    @property
    def inbox_id(self) -> int: ...

    @property
    def chat_key(self) -> str: ...


J = TypeVar("J", bound=Job)


def stored_payload(row: InboxUpdate) -> dict[str, Any]:
    """The raw update stored in an inbox row ({} when it is not a JSON object)."""
    try:
        raw = json.loads(row.payload)
    except ValueError:
        return {}
    return raw if isinstance(raw, dict) else {}


class InboxWorker(Generic[J]):
    """Runs ``process(job)`` for stored updates of one channel, strictly in order within a chat."""

    def __init__(
        self,
        channel: str,
        db: Database,
        clock: Callable[[], datetime],
        process: Callable[[J], Awaitable[None]],
        job_from_row: Callable[[InboxUpdate], J],
        finished: Callable[[J], None] | None = None,
        resend: Callable[[str, list[Reply]], Awaitable[None]] | None = None,
    ) -> None:
        self.channel = channel
        self._db = db
        self._clock = clock
        self._process = process
        self._job_from_row = job_from_row
        self._finished = finished
        self._chains: dict[str, asyncio.Task[None]] = {}  # chat → its last task in hand
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_hand: set[int] = set()  # inbox ids dispatched and not finished yet
        self._resend = resend  # the channel's send(chat_key, replies), for replies a crash left unsent
        self._sent: set[int] = set()  # inbox ids whose replies went out, not yet written down

    def dispatch(self, jobs: list[J]) -> list[asyncio.Task[None]]:
        """One task per chat, chained after that chat's previous task: in order within a chat."""
        by_chat: dict[str, list[J]] = {}
        for job in jobs:
            by_chat.setdefault(job.chat_key, []).append(job)
            self._in_hand.add(job.inbox_id)
        tasks = []
        for chat_key, chat_jobs in by_chat.items():
            task = asyncio.create_task(self._run_chain(self._chains.get(chat_key), chat_jobs))
            self._chains[chat_key] = task
            self._tasks.add(task)
            task.add_done_callback(partial(self._forget, chat_key))
            tasks.append(task)
        return tasks

    def _forget(self, chat_key: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._chains.get(chat_key) is task:
            del self._chains[chat_key]

    async def _run_chain(self, previous: asyncio.Task[None] | None, jobs: list[J]) -> None:
        if previous is not None:
            await asyncio.wait({previous})
        for job in jobs:
            try:
                await self._process(job)
            except Exception:
                log.exception("%s: update (inbox id %s) failed", self.channel, job.inbox_id)
            finally:
                self._in_hand.discard(job.inbox_id)
                if self._finished is not None:
                    self._finished(job)

    def replies_sent(self, inbox_id: int) -> None:
        """The channel sent (or gave up on) this update's replies; written down in the next flush."""
        self._sent.add(inbox_id)

    async def flush_sent(self) -> None:
        if not self._sent:
            return
        ids, self._sent = set(self._sent), set()
        try:
            async with self._db.unit_of_work() as uow:
                await uow.inbox.replies_sent(sorted(ids))
                await uow.commit()
        except BaseException:
            self._sent |= ids  # written next time; at worst a restart sends them again
            raise

    async def _flush_sent_forever(self, stop: asyncio.Event) -> None:
        while not await pause(REPLIES_FLUSH, stop):
            try:
                await self.flush_sent()
            except Exception:
                log.exception("%s: could not record sent replies; trying again", self.channel)

    async def resend_unsent(self, older_than: datetime | None = None) -> None:
        """Send the replies a crash left unsent (of updates handled before ``older_than``), in order."""
        if self._resend is None:
            return
        async with self._db.unit_of_work() as uow:
            rows = await uow.inbox.unsent_replies(self.channel, limit=500)
        for row in rows:
            if row.id in self._in_hand or row.id in self._sent or not row.replies:
                continue
            if older_than is not None and (row.handled_at is None or row.handled_at >= older_than):
                continue
            chat_key = self._job_from_row(row).chat_key
            log.info("%s: sending the replies of update %s again (left unsent)", self.channel, row.id)
            await self._resend(chat_key, [Reply.from_record(record) for record in row.replies])
            self.replies_sent(row.id)
        await self.flush_sent()

    async def mark_handled(self, inbox_id: int) -> None:
        """For updates that need no engine: mark them handled so they are not recovered."""
        async with self._db.unit_of_work() as uow:
            await uow.inbox.claim(inbox_id, self._clock())
            await uow.commit()

    async def recover(self) -> None:
        """Send the replies left unsent, then handle, in id order, every update stored but never
        handled (the process stopped mid-way)."""
        await self.resend_unsent()
        seen: set[int] = set()
        while True:
            async with self._db.unit_of_work() as uow:
                rows = await uow.inbox.pending(self.channel)
            jobs = [self._job_from_row(row) for row in rows if row.id not in seen]
            if not jobs:
                return
            seen.update(job.inbox_id for job in jobs)
            log.info("%s: handling %d update(s) left pending", self.channel, len(jobs))
            await asyncio.gather(*self.dispatch(jobs))

    async def sweep_forever(self, stop: asyncio.Event) -> None:
        while not await pause(SWEEP_INTERVAL, stop):
            try:
                await self.sweep()
            except Exception:
                log.exception("%s: inbox sweep failed", self.channel)

    async def sweep(self) -> None:
        """Re-handle updates still pending a minute after they arrived (their handling was cut short)."""
        cutoff = self._clock() - STALE_AFTER
        async with self._db.unit_of_work() as uow:
            rows = await uow.inbox.pending(self.channel, limit=500)
        stale = [row for row in rows if row.received_at < cutoff and row.id not in self._in_hand]
        jobs = [self._job_from_row(row) for row in stale]
        if jobs:
            log.warning("%s: re-handling %d stale pending update(s)", self.channel, len(jobs))
            self.dispatch(jobs)
        await self.resend_unsent(older_than=cutoff)

    async def serve(self, stop: asyncio.Event, receive: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        """Recover, then run ``receive`` (polling or a web server) with the sweep beside it until
        ``stop``; on the way out, updates in hand get a grace period to finish."""
        await self.recover()
        sweeper = asyncio.create_task(self.sweep_forever(stop))
        flusher = asyncio.create_task(self._flush_sent_forever(stop))
        try:
            await receive(stop)
        finally:
            sweeper.cancel()
            with suppress(asyncio.CancelledError):
                await sweeper
            await self.finish_in_hand()
            flusher.cancel()
            with suppress(asyncio.CancelledError):
                await flusher
            await self.flush_sent()

    async def finish_in_hand(self) -> None:
        """Give updates in hand a moment to finish; the rest stay pending for the next start."""
        if not self._tasks:
            return
        _, unfinished = await asyncio.wait(set(self._tasks), timeout=SHUTDOWN_GRACE)
        for task in unfinished:
            task.cancel()
        if unfinished:
            await asyncio.wait(unfinished)

    async def wait_for_capacity(self, limit: int, stop: asyncio.Event) -> None:
        """Wait while ``limit`` chats still have updates in hand (back-pressure for polling)."""
        while len(self._tasks) >= limit and not stop.is_set():
            await asyncio.wait(set(self._tasks), timeout=1.0, return_when=asyncio.FIRST_COMPLETED)

    async def drain(self) -> None:
        """Wait until every update received so far has been handled."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))
