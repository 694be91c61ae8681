"""Composition root: config → database → engine → channels → scheduler, run until stopped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from bot.config import Config
from handlers.engine import Engine
from scheduler.delivery import build_delivery
from scheduler.service import build_scheduler
from storage.database import Database
from storage.migrate import current_revision, head_revision, upgrade

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The service cannot start; the message says what to do."""


class Channel(Protocol):
    async def start(self) -> None: ...

    async def run(self, stop: asyncio.Event) -> None: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


class Application:
    def __init__(self, config: Config, clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.clock = clock
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

    async def run(self, stop: asyncio.Event) -> None:
        channels = self.channels()
        if not channels:
            raise StartupError(
                "no messenger channel is configured: set [telegram] token (or UTILIBOT_TELEGRAM_TOKEN) "
                "and/or [viber] token (or UTILIBOT_VIBER_TOKEN); "
                "to try the bot without a token run `utilibot demo`"
            )
        await self.prepare_database()
        scheduler = build_scheduler(self.config, self.db, self.clock)
        delivery = build_delivery(self.config, self.db, self.clock)
        try:
            for channel in channels:
                await channel.start()
            scheduler.start()
            log.info("utilibot is running with %d channel(s)", len(channels))
            await asyncio.gather(*(channel.run(stop) for channel in channels), delivery.run(stop))
        finally:
            if scheduler.running:
                scheduler.shutdown(wait=False)
            await self.db.dispose()
            log.info("utilibot stopped")
