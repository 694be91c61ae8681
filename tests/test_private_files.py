"""The SQLite database, its WAL and shared-memory files and the process lock files are readable by
their owner only: they hold names, addresses, balances and typed verification facts."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from scheduler.delivery import delivery_role
from storage.database import Database
from storage.migrate import upgrade


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_database_wal_shm_and_lock_files_are_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a permissive umask, as a shell would have
    try:
        path = tmp_path / "data" / "utilibot.db"
        db = Database(f"sqlite+aiosqlite:///{path}")
        await upgrade(db)
        async with db.unit_of_work() as uow:
            await uow.chats.get_or_create("telegram", "77")
            await uow.commit()
        role = delivery_role(db)
        assert await role.try_acquire()
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm"), *path.parent.glob("*.lock")]
        assert len(files) == 4, list(path.parent.iterdir())
        assert {file.name: mode(file) for file in files} == {file.name: 0o600 for file in files}
        await role.release()
        await db.dispose()
    finally:
        os.umask(old)
