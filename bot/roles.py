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

import contextlib
import hashlib
import logging
import os
import socket
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Database

try:
    import fcntl
except ImportError:  # not POSIX: one poller per SQLite database is up to the operator
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

APPLICATION_NAME_LIMIT = 63  # PostgreSQL's NAMEDATALEN - 1
SET_APPLICATION_NAME = text("SELECT set_config('application_name', :name, false)")
TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")


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


def _holder_label() -> str:
    return f"pid {os.getpid()} on host {socket.gethostname()}"


class PollerLock:
    """The exclusive right to poll Telegram for one bot, for the lifetime of this process."""

    def __init__(self, db: Database, bot_id: str) -> None:
        self._db = db
        self.bot_id = bot_id
        self.key = poller_lock_key(bot_id)
        self._connection: AsyncConnection | None = None
        self._fd: int | None = None
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def lock_path(self) -> Path | None:
        """The lock file next to an SQLite database (None for PostgreSQL or an in-memory database)."""
        if self._db.dialect == "postgresql":
            return None
        database = make_url(self._db.url).database
        if not database or database == ":memory:":
            return None
        path = Path(database).expanduser().resolve()
        safe_id = self.bot_id.lstrip("#")
        return path.with_name(f"{path.name}.telegram-{safe_id}.poller.lock")

    async def acquire(self) -> None:
        """Take the lock or raise :class:`AlreadyPolling` with a message naming the holder."""
        if self._held:
            return
        if self._db.dialect == "postgresql":
            await self._acquire_postgres()
        else:
            self._acquire_file()
        self._held = True

    def _refusal(self, holder: str, where: str) -> AlreadyPolling:
        return AlreadyPolling(
            f"another utilibot process is already polling Telegram for bot {self.bot_id} "
            f"({holder}; {where}). Telegram serves updates to one poller at a time: stop that process "
            'first, or set [telegram] mode = "webhook" to run several processes behind a load balancer'
        )

    # PostgreSQL: an advisory lock held by one connection of this process

    async def _acquire_postgres(self) -> None:
        connection = await self._db.engine.connect()
        try:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            name = f"utilibot poller {_holder_label()}"[:APPLICATION_NAME_LIMIT]
            await connection.execute(SET_APPLICATION_NAME, {"name": name})
            got = (await connection.execute(TRY_LOCK, {"key": self.key})).scalar()
            if not got:
                holder = await self._postgres_holder(connection)
                database = make_url(self._db.url).database
                raise self._refusal(holder, f"PostgreSQL advisory lock {self.key} in database {database}")
        except BaseException:
            with contextlib.suppress(Exception):
                await connection.execute(text("RESET application_name"))
            await connection.close()
            raise
        self._connection = connection

    async def _postgres_holder(self, connection: AsyncConnection) -> str:
        """Who holds the lock, as far as pg_stat_activity tells (it may hide other users' details)."""
        query = text(
            "SELECT a.application_name, host(a.client_addr), a.backend_start, l.pid "
            "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND l.classid::bigint = :high AND l.objid::bigint = :low"
        )
        try:
            row = (
                await connection.execute(query, {"high": self.key >> 32, "low": self.key & 0xFFFFFFFF})
            ).first()
        except Exception:
            log.debug("could not look up the poller lock's holder", exc_info=True)
            row = None
        if row is None:
            return "holder unknown"
        application, client, since, backend = row
        parts = [application.removeprefix("utilibot poller ") if application else f"backend pid {backend}"]
        if client:
            parts.append(f"from {client}")
        if since is not None:
            parts.append(f"connected since {since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")
        return " ".join(parts)

    # SQLite: flock on a file next to the database

    def _acquire_file(self) -> None:
        path = self.lock_path()
        if path is None or fcntl is None:
            return
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "holder unknown"
            os.close(fd)
            raise self._refusal(holder, f"lock file {path}") from None
        since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        record = f"{_holder_label()} since {since} UTC".encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
        self._fd = fd

    # holding and letting go

    async def still_held(self) -> bool:
        """False when the connection holding a PostgreSQL lock broke (the lock went with it)."""
        if not self._held:
            return False
        if self._connection is None:
            return True
        try:
            await self._connection.execute(text("SELECT 1"))
        except Exception:
            log.exception("telegram: lost the database connection holding the poller lock")
            return False
        return True

    async def reacquire(self) -> None:
        """After a lost connection: take the lock again on a new one (AlreadyPolling if taken)."""
        await self.release()
        await self.acquire()

    async def release(self) -> None:
        self._held = False
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            os.close(fd)  # closing the descriptor drops the flock
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(Exception):
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                await connection.execute(text("RESET application_name"))
            with contextlib.suppress(Exception):
                await connection.close()
