"""SQLite's one writer at a time, queued in the process instead of in SQLite's busy handler.

Every SQLite unit of work is a write transaction (``BEGIN IMMEDIATE``). When one is open, the
next waits in SQLite's busy handler, which sleeps in steps of up to 100 ms and so leaves the
database idle after the writer is done. Units of work of one process therefore take turns here
first, in arrival order, and the next one starts the moment the previous one ends. Other
processes (and anything outside a unit of work) still meet in SQLite's busy handler.

A turn is never waited for where waiting could deadlock: a task that already holds the turn (a
unit of work inside another) goes ahead without it, and after ``patience`` seconds (SQLite's own
busy timeout) a waiter goes ahead too. Both then get exactly what SQLite alone would give them.
"""

from __future__ import annotations

import asyncio


class WriterTurns:
    def __init__(self, patience: float) -> None:
        self.patience = patience
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[object] | None = None

    async def take(self) -> bool:
        """Wait for this task's turn; False when it goes ahead without one (see the module)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a lock serves one event loop
            self._loop, self._lock, self._holder = loop, asyncio.Lock(), None
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            return False
        try:
            await asyncio.wait_for(self._lock.acquire(), self.patience)
        except TimeoutError:
            return False
        self._holder = task
        return True

    def give_back(self) -> None:
        self._holder = None
        self._lock.release()
