"""What the benchmarks share: the fake Bot API in a child process, child processes that report their
figures (and peak RSS) as one JSON line, the CPU that other processes of the machine used meanwhile,
and raw SQLite helpers for the baselines.

Only the standard library is imported here (the fake API is imported by the caller), so a measured
child process (fanout.py, import_csv.py) does not grow by importing this module. The throwaway
PostgreSQL databases are in tests/pg.py, shared with the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import resource
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from tests.fakes.telegram_api import FakeTelegramAPI

ROOT = Path(__file__).resolve().parents[1]

API = TypeVar("API", bound="FakeTelegramAPI")


# --- the fake Bot API in its own process ----------------------------------------------------------


async def serve_fake_api(
    make_api: Callable[[], API], answer: Callable[[API, str], Awaitable[str | None]]
) -> None:
    """Child mode (``SCRIPT --serve``): start ``make_api()``, print its base URL, then for every line
    on stdin print ``await answer(api, line)`` (nothing when None) until stdin closes or says 'quit'.

    The garbage collector is off: the fake keeps every call it receives, and full passes over that
    growing heap would pause it for 100+ ms and show up as gaps in the measurement that are not the bot's.
    """
    gc.disable()
    api = make_api()
    print(await api.start(), flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line or line.strip() == "quit":
            break
        reply = await answer(api, line.strip())
        if reply is not None:
            print(reply, flush=True)
    await api.stop()


class FakeAPIProcess:
    """The parent's side of serve_fake_api: ``python SCRIPT --serve`` started on 127.0.0.1, so that
    the fake does not share the bot's CPU; ``base_url`` is where it listens."""

    def __init__(self, script: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, script, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()

    def command(self, line: str) -> str:
        """Send one command line; returns the child's one-line answer."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline()

    def close(self) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.write("quit\n")
            self.process.stdin.flush()
        self.process.wait(10)


# --- CPU of the whole machine ---------------------------------------------------------------------


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return sum(values) - idle, sum(values)


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """The share of all the machine's cores that was busy between two cpu_ticks()."""
    return (after[0] - before[0]) / max(after[1] - before[1], 1)


def others_cores(before: tuple[int, int], after: tuple[int, int], own_cores: float) -> float:
    """Cores the rest of the machine kept busy meanwhile (other processes disturb the timing): all
    busy cores between two cpu_ticks() less ``own_cores``, the measured processes' CPU seconds per second."""
    return max(busy_share(before, after) * (os.cpu_count() or 1) - own_cores, 0.0)


# --- measured child processes ---------------------------------------------------------------------


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss, not inherited from the parent across exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def report_to_parent(figures: dict[str, Any]) -> None:
    """A measured child's last act: its figures plus ``peak_rss_mb``, as the JSON line run_measured reads."""
    figures["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(figures), flush=True)


def run_measured(script: str, *args: str) -> dict[str, Any]:
    """Run ``python SCRIPT ARGS…`` to its end; the figures of its last output line (report_to_parent)
    plus ``wall`` (seconds) and ``others`` (cores other processes kept busy meanwhile)."""
    started, ticks = time.perf_counter(), cpu_ticks()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = subprocess.run(
        [sys.executable, script, *args],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    figures: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    figures["wall"] = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    figures["others"] = others_cores(ticks, cpu_ticks(), cpu / figures["wall"])
    return figures


# --- raw SQLite -----------------------------------------------------------------------------------


def sqlite_connect(path: str | Path) -> sqlite3.Connection:
    """A raw sqlite3 connection with the bot's PRAGMAs (WAL, foreign keys, synchronous=NORMAL), in
    autocommit mode: the caller's own BEGIN … COMMIT."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def sqlite_bytes(path: Path) -> int:
    """The size of a SQLite file once its write-ahead log is checkpointed into it."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return path.stat().st_size
