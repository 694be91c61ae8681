"""The delivery role: the exclusive right to deliver, and standing by until it is free.

A lock file next to the SQLite database, or a PostgreSQL advisory lock held by one connection:
the operating system or the database server releases it the moment its process dies.
"""

from __future__ import annotations

import asyncio
import logging

from domain.waiting import pause
from storage.database import Database
from storage.process_lock import ProcessLock

log = logging.getLogger(__name__)

ADVISORY_LOCK_KEY = 0x7574696C69626F74 & 0x7FFFFFFFFFFFFFFF  # "utilibot"


def delivery_role(db: Database) -> ProcessLock:
    """The exclusive right to deliver, released by the OS / the database when the process dies."""
    return ProcessLock(db, ADVISORY_LOCK_KEY, ".delivery.lock", "utilibot delivery")


async def acquire_role(role: ProcessLock, stop: asyncio.Event, retry: float) -> bool:
    """Take ``role``, standing by (trying every ``retry`` seconds) while another process holds it;
    False when ``stop`` is set first."""
    announced = False
    while not stop.is_set():
        if await role.try_acquire():
            return True
        if not announced:
            log.info("delivery: another process is delivering the outbox; standing by")
            announced = True
        if await pause(retry, stop):
            return False
    return False
