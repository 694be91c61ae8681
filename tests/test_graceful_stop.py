"""SIGTERM in the middle of a broadcast: `utilibot run` stops taking updates, finishes what is in
flight, records every delivery result, releases the delivery role and exits within 10 s."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from scheduler.delivery import delivery_role
from storage.database import Database
from storage.migrate import upgrade
from storage.models import Chat, OutboxMessage
from tests.fakes.telegram_api import fake_telegram
from tests.test_broadcast_crash import delivered
from tests.test_cli import start_run
from tests.test_delivery import add_chats, queue_broadcast

RECIPIENTS = 2000
RATE = 100  # 20 s of sending: SIGTERM comes in the middle


async def test_sigterm_mid_broadcast(tmp_path: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'stop.db'}"
    db = Database(db_url)
    await upgrade(db)
    await add_chats(db, RECIPIENTS)
    await queue_broadcast(db, {"en": "Hot water is off tomorrow."}, datetime.now(UTC), emergency=True)
    async with fake_telegram() as api:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[database]\nurl = "{db_url}"\n[telegram]\napi_base_url = "{api.base_url}"\n'
            f'polling_timeout = 1\n[bot]\ndefault_locale = "en"\ndelivery_rate_per_second = {RATE}\n'
            '[[providers]]\nid = "teplo"\nname = { en = "City Heating" }\n',
            encoding="utf-8",
        )
        process = await start_run(config)
        try:
            await api.wait_for(lambda: len(api.calls_of("sendMessage")) >= 300, timeout=60)
            update = api.push_message(77, "/start", "en")
            await api.wait_confirmed(update, timeout=30)
        finally:
            process.send_signal(signal.SIGTERM)
            stopping = time.monotonic()
            output = (await asyncio.wait_for(process.communicate(), timeout=30))[0].decode()
            took = time.monotonic() - stopping
        calls_at_exit = len(api.calls_of("sendMessage"))
        await asyncio.sleep(1.5)
        assert len(api.calls_of("sendMessage")) == calls_at_exit  # nothing sent after the exit
    assert process.returncode == 0, output
    assert took < 10, f"took {took:.1f} s to stop"
    assert "utilibot stopped" in output

    per_chat = delivered(api)
    async with db.unit_of_work() as uow:
        session = uow.session
        in_hand = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "sending")
        )
        sent_keys = set(
            (
                await session.execute(
                    select(Chat.chat_key)
                    .join(OutboxMessage, OutboxMessage.chat_id == Chat.id)
                    .where(OutboxMessage.status == "sent")
                )
            ).scalars()
        )
    assert in_hand == 0  # every row is recorded or back in the queue
    broadcast_keys = {key for key in per_chat if key != "77"}
    assert sent_keys == broadcast_keys  # every message that went out is recorded as sent
    assert 0 < len(sent_keys) < RECIPIENTS
    role = delivery_role(db)
    assert await role.try_acquire()  # released: a restarted worker takes over at once
    await role.release()
    await db.dispose()
