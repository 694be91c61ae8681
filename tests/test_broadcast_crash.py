"""kill -9 in the middle of a broadcast, restart, finish: nobody skipped, repeats within the window.

The CLI runs in a subprocess (``python -m bot.broadcast_cli``) against a fake Bot API served by
this test process on 127.0.0.1, which records every call.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

from scheduler.delivery import in_flight_window
from storage.database import Database
from storage.migrate import upgrade
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI, fake_telegram
from tests.test_delivery import FIRST_CHAT, add_chats, broadcast_row, busiest_window

REPO = Path(__file__).resolve().parents[1]
RECIPIENTS = 3000
RATE = 500
KILL_AFTER = 1200


def write_config(path: Path, db_url: str, api: FakeTelegramAPI) -> None:
    path.write_text(
        f"""
[database]
url = "{db_url}"

[telegram]
token = "{TOKEN}"
api_base_url = "{api.base_url}"

[bot]
default_locale = "en"
delivery_rate_per_second = {RATE}

[[providers]]
id = "teplo"
name = {{ en = "City Heating" }}
""",
        encoding="utf-8",
    )


async def start_cli(tmp_path: Path, name: str, *args: str) -> asyncio.subprocess.Process:
    log = (tmp_path / f"{name}.log").open("wb")
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.broadcast_cli",
        *args,
        cwd=REPO,
        stdout=log,
        stderr=log,
        stdin=asyncio.subprocess.DEVNULL,
    )


def delivered(api: FakeTelegramAPI) -> Counter[str]:
    return Counter(str(call.params["chat_id"]) for call in api.calls_of("sendMessage") if call.status == 200)


async def test_kill_9_mid_broadcast_then_resume(tmp_path: Path):
    # The broadcast must not wait for quiet hours whatever time the test runs: it is an emergency.
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
    db = Database(db_url)
    await upgrade(db)
    await add_chats(db, RECIPIENTS)
    config, text = tmp_path / "config.toml", tmp_path / "text.txt"
    text.write_text("Hot water is off tomorrow 10:00–14:00.\n", encoding="utf-8")
    began = time.monotonic()
    async with fake_telegram() as api:
        write_config(config, db_url, api)
        first = await start_cli(
            tmp_path,
            "first",
            "broadcast",
            "-c",
            str(config),
            "--text-file",
            str(text),
            "--yes",
            "--emergency",
        )
        await api.wait_for(lambda: len(api.calls_of("sendMessage")) >= KILL_AFTER, timeout=20)
        first.kill()  # SIGKILL: no cleanup of any kind
        assert await first.wait() == -9
        at_kill = len(api.calls_of("sendMessage"))
        assert at_kill < RECIPIENTS, "the broadcast finished before it could be killed"

        second = await start_cli(tmp_path, "second", "broadcast-status", "-c", str(config), "1", "--follow")
        assert await asyncio.wait_for(second.wait(), 30) == 0, (tmp_path / "second.log").read_text()
        calls = list(api.calls)

    per_chat = delivered(api)
    repeats = sum(count - 1 for count in per_chat.values())
    assert set(per_chat) == {str(FIRST_CHAT + index) for index in range(RECIPIENTS)}  # nobody skipped
    assert repeats <= in_flight_window(RATE), f"{repeats} repeats"
    assert busiest_window([call.time for call in calls]) <= RATE
    done = await broadcast_row(db, 1)
    assert (done.status, done.sent_count, done.failed_count, done.total_count) == (
        "done",
        RECIPIENTS,
        0,
        RECIPIENTS,
    )
    await db.dispose()
    print(f"killed after {at_kill} sends; {repeats} repeated; {time.monotonic() - began:.1f} s")
