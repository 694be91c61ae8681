"""A lock one process holds while it lives: a PostgreSQL advisory lock on a connection of its own,
or an ``flock`` on a file next to an SQLite database. The database or the OS drops it when the
holder's connection or process goes, so a crash never leaves a stale lock behind.

Used for the delivery role (one delivering process) and the Telegram poller (one per bot).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Database

try:
    import fcntl
except ImportError:  # not POSIX: exclusivity on SQLite is up to the operator
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

APPLICATION_NAME_LIMIT = 63  # PostgreSQL's NAMEDATALEN - 1
HOLDER_QUERY = text(
    "SELECT a.application_name, host(a.client_addr), a.backend_start, l.pid "
    "FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND l.classid::bigint = :high AND l.objid::bigint = :low"
)


def holder_label() -> str:
    return f"pid {os.getpid()} on host {socket.gethostname()}"


class ProcessLock:
    """Non-blocking exclusive lock ``key`` (PostgreSQL) or ``<database><file_suffix>`` (SQLite).

    ``name`` (e.g. "utilibot poller") tells other processes who holds it: it is the holder's
    PostgreSQL application_name prefix, and the lock file records the holder's pid and host. After a
    failed ``try_acquire``, ``holder`` and ``where`` describe the current holder and the lock.
    """

    def __init__(self, db: Database, key: int, file_suffix: str, name: str) -> None:
        self._db = db
        self.key = key
        self._file_suffix = file_suffix
        self._name = name
        self._connection: AsyncConnection | None = None
        self._fd: int | None = None
        self._held = False
        self.holder = ""
        self.where = ""

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
        return path.with_name(path.name + self._file_suffix)

    async def try_acquire(self) -> bool:
        if not self._held:
            if self._db.dialect == "postgresql":
                self._held = await self._acquire_postgres()
            else:
                self._held = self._acquire_file()
        return self._held

    async def _acquire_postgres(self) -> bool:
        connection = await self._db.engine.connect()
        try:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            name = f"{self._name} {holder_label()}"[:APPLICATION_NAME_LIMIT]
            await connection.execute(
                text("SELECT set_config('application_name', :name, false)"), {"name": name}
            )
            got = bool(
                (
                    await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})
                ).scalar()
            )
            if not got:
                self.holder = await self._postgres_holder(connection)
                self.where = (
                    f"PostgreSQL advisory lock {self.key} in database {make_url(self._db.url).database}"
                )
        except BaseException:
            await connection.close()
            raise
        if got:
            self._connection = connection
        else:
            await connection.close()
        return got

    async def _postgres_holder(self, connection: AsyncConnection) -> str:
        """Who holds the lock, as far as pg_stat_activity tells (it may hide other users' details)."""
        try:
            row = (
                await connection.execute(HOLDER_QUERY, {"high": self.key >> 32, "low": self.key & 0xFFFFFFFF})
            ).first()
        except Exception:
            log.debug("could not look up the holder of lock %s", self.key, exc_info=True)
            row = None
        if row is None:
            return "holder unknown"
        application, client, since, backend = row
        parts = [application.removeprefix(f"{self._name} ") if application else f"backend pid {backend}"]
        if client:
            parts.append(f"from {client}")
        if since is not None:
            parts.append(f"connected since {since.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")
        return " ".join(parts)

    def _acquire_file(self) -> bool:
        path = self.lock_path()
        if path is None or fcntl is None:
            return True
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)  # the holder line names a host and pid
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "holder unknown"
            self.where = f"lock file {path}"
            os.close(fd)
            return False
        since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{holder_label()} since {since} UTC".encode(), 0)
        self._fd = fd
        return True

    async def still_held(self) -> bool:
        """False when the connection holding a PostgreSQL lock broke (the lock went with it)."""
        if not self._held:
            return False
        if self._connection is None:
            return True
        try:
            await self._connection.execute(text("SELECT 1"))
        except Exception:
            log.exception("%s: lost the database connection holding lock %s", self._name, self.key)
            return False
        return True

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
