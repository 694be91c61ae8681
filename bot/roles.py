"""Process roles for ``utilibot run --role all|web|worker``, and the one-poller-per-bot lock.

Roles split one deployment over several processes that share one PostgreSQL database:

* ``web`` receives updates (Telegram webhook or polling, the Viber webhook) and answers them;
* ``worker`` runs the scheduler (reminders, housekeeping) and the outbox delivery loop;
* ``all`` (the default) does both in one process — the single-process and SQLite set-up.

Any number of ``web`` processes may run behind a load balancer in webhook mode: the inbox's unique
key handles each update once, and the row lock on the chat handles one chat at a time. Any number
of ``worker`` processes may run too: one holds the delivery role and delivers, the others stand
by (see scheduler/delivery.py); their schedulers queue reminders idempotently (outbox dedup keys).

Telegram's long polling is different: the Bot API serves ``getUpdates`` to one client at a time
(a second one gets 409 Conflict and the two keep cutting each other off), so a process that polls
first takes the *poller lock* for the bot — a PostgreSQL advisory lock in the bot's database, or
a lock file next to an SQLite database — and a second process polling the same bot refuses to
start, naming the holder. The lock is keyed on the bot id (the part of the token before ':'); the
secret part of the token is never used in a key, a file name or a message. Like the delivery
role, the lock goes with its holder's database connection or process, so a crash never leaves a
stale lock behind.
"""

from __future__ import annotations

import hashlib
import logging
from enum import StrEnum
from pathlib import Path

from storage.database import Database
from storage.process_lock import ProcessLock

log = logging.getLogger(__name__)


class Role(StrEnum):
    """What one ``utilibot run`` process does."""

    ALL = "all"
    WEB = "web"
    WORKER = "worker"

    @property
    def receives(self) -> bool:
        """Runs the messenger channels (receiving updates and replying to them)."""
        return self in (Role.ALL, Role.WEB)

    @property
    def works(self) -> bool:
        """Runs the scheduler and the outbox delivery loop."""
        return self in (Role.ALL, Role.WORKER)


ROLE_CHOICES = tuple(role.value for role in Role)


class AlreadyPolling(Exception):
    """Another process polls Telegram for this bot; the message names it and says what to do."""


def telegram_bot_id(token: str) -> str:
    """The bot id: the part of the token before ':' (public — it is the bot's user id). A token of
    another shape is identified by a short hash instead, so that no part of a secret is shown."""
    bot_id, separator, _ = token.partition(":")
    if separator and bot_id.isdigit():
        return bot_id
    return "#" + hashlib.sha256(token.encode()).hexdigest()[:12]


def poller_lock_key(bot_id: str) -> int:
    """A signed 64-bit advisory lock key for the bot (distinct from the delivery role's key)."""
    digest = hashlib.sha256(f"utilibot:telegram-poller:{bot_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFFFFFFFFFFFFFF


class PollerLock:
    """The exclusive right to poll Telegram for one bot, for the lifetime of this process."""

    def __init__(self, db: Database, bot_id: str) -> None:
        self.bot_id = bot_id
        self.key = poller_lock_key(bot_id)
        self._lock = ProcessLock(
            db, self.key, f".telegram-{bot_id.lstrip('#')}.poller.lock", "utilibot poller"
        )

    @property
    def held(self) -> bool:
        return self._lock.held

    def lock_path(self) -> Path | None:
        """The lock file next to an SQLite database (None for PostgreSQL or an in-memory database)."""
        return self._lock.lock_path()

    async def acquire(self) -> None:
        """Take the lock or raise :class:`AlreadyPolling` with a message naming the holder."""
        if not await self._lock.try_acquire():
            raise AlreadyPolling(
                f"another utilibot process is already polling Telegram for bot {self.bot_id} "
                f"({self._lock.holder}; {self._lock.where}). Telegram serves updates to one poller at a "
                'time: stop that process first, or set [telegram] mode = "webhook" to run several '
                "processes behind a load balancer"
            )

    async def still_held(self) -> bool:
        return await self._lock.still_held()

    async def reacquire(self) -> None:
        """After a lost connection: take the lock again on a new one (AlreadyPolling if taken)."""
        await self._lock.release()
        await self.acquire()

    async def release(self) -> None:
        await self._lock.release()
