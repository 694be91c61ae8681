"""No reply lost on a crash: kill -9 while the reply to a handled update is in flight, restart,
and the resident gets it — once; its inbox row then holds nothing left to send."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from sqlalchemy import select

from storage.database import Database
from storage.models import InboxUpdate
from tests.fakes.telegram_api import FakeTelegramAPI, fake_telegram
from tests.test_cli import start_run, write_config


async def start_bot(config: Path) -> asyncio.subprocess.Process:
    return await start_run(config, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


def held_calls(api: FakeTelegramAPI, chat_id: int) -> int:
    calls = api.calls_of("sendMessage")
    return sum(1 for call in calls if call.status == 0 and str(call.params["chat_id"]) == str(chat_id))


async def inbox_row(db: Database) -> InboxUpdate:
    async with db.unit_of_work() as uow:
        rows = (await uow.session.execute(select(InboxUpdate))).scalars().all()
    assert len(rows) == 1
    return rows[0]


async def test_kill_9_while_the_reply_is_in_flight(tmp_path: Path) -> None:
    async with fake_telegram() as api:
        config = write_config(tmp_path, f'[telegram]\napi_base_url = "{api.base_url}"\npolling_timeout = 1\n')
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
        first = await start_bot(config)
        release = api.hold("sendMessage", 77)
        try:
            api.push_message(77, "/start", "en")
            await api.wait_for(lambda: held_calls(api, 77) >= 1, timeout=60)
        finally:
            first.kill()  # SIGKILL with the reply in flight: the state is committed, the reply not sent
            await first.wait()
        release.set()
        row = await inbox_row(db)
        assert row.status == "done" and row.replies, "the handled update keeps its replies"
        assert api.sent_to(77) == []

        second = await start_bot(config)
        try:
            await api.wait_for(lambda: api.sent_to(77), timeout=60)
            await asyncio.sleep(1.0)  # a duplicate would arrive now
        finally:
            second.send_signal(signal.SIGTERM)
            await asyncio.wait_for(second.wait(), 30)
        assert second.returncode == 0
    greetings = [message for message in api.sent_to(77) if "Hello" in message.text]
    assert len(greetings) == 1
    assert (await inbox_row(db)).replies is None  # recorded as sent
    await db.dispose()
