"""Composition root: config → database → engine → channels → scheduler, run until stopped.

``Application(config, role=...)`` runs one process of a deployment (see bot/roles.py): ``web``
runs the messenger channels, ``worker`` the scheduler and the outbox delivery loop, ``all`` both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.channels.senders import build_senders
from bot.errors import StartupError
from bot.monitoring import Monitor, Watched, record_job_successes
from bot.roles import AlreadyPolling, PollerLock, Role, telegram_bot_id
from bot.version import utilibot_version
from domain.config import Config, enabled_channels
from domain.waiting import pause
from handlers.engine import Engine
from scheduler.delivery import build_delivery
from scheduler.service import build_scheduler
from storage.database import Database
from storage.migrate import current_revision, head_revision, upgrade

log = logging.getLogger(__name__)

POLLER_LOCK_CHECK_INTERVAL = 10.0  # seconds between checks that the poller lock is still ours


class Channel(Protocol):
    async def start(self) -> None: ...

    async def run(self, stop: asyncio.Event) -> None: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


class Application:
    def __init__(
        self, config: Config, clock: Callable[[], datetime] = utc_now, role: Role | str = Role.ALL
    ) -> None:
        self.config = config
        self.clock = clock
        self.role = Role(role)
        self.db = Database(config.database.url, echo=config.database.echo)
        self.engine = Engine(config, self.db, clock)

    async def prepare_database(self) -> None:
        """SQLite is upgraded in place; a PostgreSQL schema must be upgraded by `utilibot db upgrade`."""
        if self.db.dialect == "sqlite":
            await upgrade(self.db)
            return
        current, head = await current_revision(self.db), head_revision()
        if current != head:
            raise StartupError(
                f"database schema is at revision {current or 'none'}, this version needs {head}: "
                "run `utilibot db upgrade -c CONFIG` first"
            )

    def channels(self) -> list[Channel]:
        channels: list[Channel] = []
        if self.config.telegram.token:
            from bot.channels.telegram import TelegramChannel

            channels.append(TelegramChannel(self.config, self.engine, self.db))
        if self.config.viber.token:
            from bot.channels.viber import ViberChannel

            channels.append(ViberChannel(self.config, self.engine, self.db))
        return channels

    def polls_telegram(self) -> bool:
        """Whether this process would poll Telegram (at most one process per bot may)."""
        telegram = self.config.telegram
        return self.role.receives and bool(telegram.token) and telegram.mode == "polling"

    async def run(self, stop: asyncio.Event) -> None:
        if not enabled_channels(self.config):
            raise StartupError(
                "no messenger channel is configured: set [telegram] token (or UTILIBOT_TELEGRAM_TOKEN) "
                "and/or [viber] token (or UTILIBOT_VIBER_TOKEN); "
                "to try the bot without a token run `utilibot demo`"
            )
        try:
            await self._run(stop)
        finally:
            await self.db.dispose()
            log.info("utilibot stopped")

    async def _run(self, stop: asyncio.Event) -> None:
        await self.prepare_database()
        halt = asyncio.Event()  # stop, or a fatal problem found while running
        relay = asyncio.create_task(_relay(stop, halt))
        lost: list[str] = []
        poller: PollerLock | None = None
        scheduler: AsyncIOScheduler | None = None
        monitor: Monitor | None = None
        watched = Watched(channels=enabled_channels(self.config))
        try:
            if self.polls_telegram():
                poller = await self._take_poller_lock()
            channels = self.channels() if self.role.receives else []
            work: list[asyncio.Future[None]] = []
            if self.role.works:
                delivery = build_delivery(self.config, self.db, build_senders(self.config), self.clock)
                scheduler = build_scheduler(self.config, self.db, self.clock)
                record_job_successes(scheduler)
                watched.scheduler, watched.delivery = scheduler, delivery
            if self.config.monitoring.listen:
                listen = self.config.monitoring.listen
                monitor = Monitor(self.db, listen, utilibot_version(), self.clock, watched)
                await monitor.start()
            for channel in channels:
                await _start(channel)
            if watched.delivery is not None:
                watched.delivery_task = asyncio.ensure_future(watched.delivery.run(halt))
                work.append(watched.delivery_task)
            if scheduler is not None:
                scheduler.start()
            watched.running = True
            parts = [f"{len(channels)} channel(s)"] if channels else []
            if self.role.works:
                parts.append("scheduler and delivery")
            log.info("utilibot is running (role %s: %s)", self.role.value, ", ".join(parts))
            guards = [_guard_poller(poller, halt, lost)] if poller is not None else []
            await asyncio.gather(*(channel.run(halt) for channel in channels), *work, *guards)
        finally:
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay
            if scheduler is not None and scheduler.running:
                scheduler.shutdown(wait=False)
            if poller is not None:
                await poller.release()
            if monitor is not None:
                await monitor.close()
        if lost:
            raise StartupError(lost[0])

    async def _take_poller_lock(self) -> PollerLock:
        lock = PollerLock(self.db, telegram_bot_id(self.config.telegram.token))
        try:
            await lock.acquire()
        except AlreadyPolling as error:
            raise StartupError(str(error)) from None
        log.info("telegram: this process is the poller for bot %s", lock.bot_id)
        return lock


async def _start(channel: Channel) -> None:
    """Start a channel; a failure to connect is a StartupError (one line, exit status 2), never a
    traceback. The message is redacted where it is printed (bot/cli.py), since an API's error body
    may echo the request path, token included."""
    try:
        await channel.start()
    except (StartupError, asyncio.CancelledError):
        raise
    except Exception as error:
        name = type(channel).__name__.removesuffix("Channel").lower()
        raise StartupError(f"{name}: cannot start: {_describe(error)}") from error


def _describe(error: Exception) -> str:
    text = str(getattr(error, "message", "") or error).strip() or "no details"
    if "unauthorized" in text.lower():
        return f"the API refused the token ({text}); check the token"
    return f"{type(error).__name__}: {text}"


async def _relay(stop: asyncio.Event, halt: asyncio.Event) -> None:
    await stop.wait()
    halt.set()


async def _guard_poller(lock: PollerLock, halt: asyncio.Event, lost: list[str]) -> None:
    """Keep the poller lock: when its connection breaks, take it again; if another process took it
    meanwhile, stop this one (two pollers would keep cutting each other off)."""
    while not halt.is_set():
        await pause(POLLER_LOCK_CHECK_INTERVAL, halt)
        if halt.is_set() or await lock.still_held():
            continue
        try:
            await lock.reacquire()
            log.warning("telegram: the poller lock for bot %s was taken again", lock.bot_id)
        except AlreadyPolling as error:
            lost.append(f"lost the poller lock: {error}")
            halt.set()
        except Exception:
            log.exception("telegram: could not take the poller lock again; retrying")
