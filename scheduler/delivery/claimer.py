"""Claiming outbox rows for one channel: due rows by priority (only emergencies in quiet hours),
marked ``sending`` in one transaction, each with the text it is to be sent with."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from domain.broadcast import text_for
from scheduler.delivery.settings import Clock, DeliverySettings
from storage.database import Database
from storage.repositories.outbox import PRIORITY_EMERGENCY, ClaimedRow


@dataclass
class Item:
    """A claimed row in hand and its text in the receiver's language."""

    row: ClaimedRow
    text: str


class Claimer:
    """Claims the due rows of one channel; keeps the texts of the broadcasts it has claimed rows of."""

    def __init__(
        self, db: Database, channel: str, settings: DeliverySettings, clock: Clock, db_lock: asyncio.Lock
    ) -> None:
        self.db = db
        self.channel = channel
        self.settings = settings
        self.clock = clock
        self._db_lock = db_lock  # shared with the lane's recording: one writer at a time
        self._texts: dict[int, tuple[dict[str, str], str]] = {}

    async def claim(self, limit: int) -> list[Item]:
        """At most ``limit`` due rows, now ``sending``; none in quiet hours but emergencies."""
        if limit <= 0:
            return []
        now = self.clock()
        quiet = self.settings.quiet_hours
        max_priority = PRIORITY_EMERGENCY if quiet and quiet.contains(now, self.settings.zone) else None
        async with self._db_lock, self.db.unit_of_work() as uow:
            rows = await uow.outbox.claim(self.channel, limit, now, max_priority)
            missing = {row.broadcast_id for row in rows if row.broadcast_id is not None} - set(self._texts)
            if len(self._texts) > 1000:
                self._texts.clear()
            self._texts.update(await uow.broadcasts.texts(sorted(missing)))
            await uow.commit()
        return [Item(row, self._text(row)) for row in rows]

    def _text(self, row: ClaimedRow) -> str:
        if row.broadcast_id is None:
            return str(row.payload.get("text", ""))
        texts, default_locale = self._texts.get(row.broadcast_id, ({}, ""))
        return text_for(texts, default_locale, row.locale) if texts else ""
