"""Meter readings end to end through the real Telegram adapter and the fake Bot API server."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from bot.readings_export import export_readings
from storage.models import Reading
from tests.test_telegram_e2e import CHAT, OTHER, Telegram, text_of, tg  # noqa: F401 - the fixture


async def readings(tg: Telegram) -> list[Reading]:  # noqa: F811
    async with tg.db.unit_of_work() as uow:
        return list((await uow.session.execute(select(Reading).order_by(Reading.id))).scalars())


async def test_closed_window_names_the_next_opening(tg: Telegram):  # noqa: F811
    await tg.bind(OTHER, "voda", "2002001", "шевченко")
    out = text_of(await tg.press(OTHER, "rd"))
    assert "closed" in out and "November 29, 2026" in out and "December 3, 2026" in out


async def test_multi_meter_pass_correction_duplicates_and_export(tg: Telegram, config):  # noqa: F811
    await tg.bind(CHAT, "teplo", "1001001", "1234.50")
    out = text_of(await tg.press(CHAT, "rd"))
    assert "read automatically" in out and "Meter 1 of 3" in out
    assert "Meter 2 of 3" in text_of(await tg.say(CHAT, "4 600,5"))
    out = text_of(await tg.say(CHAT, "1200"))
    assert "lower than the previous" in out
    assert "Meter 3 of 3" in text_of(await tg.press(CHAT, "rd:ok"))
    # In English "130,456" is one hundred thirty thousand: echoed back for confirmation; retyping
    # the reading the English way replaces it.
    assert "I read it as 130456 m³" in text_of(await tg.say(CHAT, "130,456"))
    (summary,) = await tg.say(CHAT, "130.456")
    assert "4,567.8 kWh → 4,600.5 kWh, used 32.7 kWh" in summary.text
    assert {"rd:confirm", "rd:edit", "cancel"} <= set(summary.callback_data)

    # The messenger delivers the Confirm press twice (same update), and the resident double-taps.
    press = {
        "update_id": 900_001,
        "callback_query": {
            "id": "cb-confirm",
            "from": tg.api.user(CHAT, "en"),
            "chat_instance": f"ci{CHAT}",
            "message": tg.api.message(CHAT, text="…"),
            "data": "rd:confirm",
        },
    }
    tg.api.push_update(press)
    tg.api.push_update(press)
    await tg.settle(900_001)
    (receipt_message,) = [m for m in tg.api.sent_to(CHAT)[-2:] if "Receipt No." in (m.text or "")]
    again = text_of(await tg.press(CHAT, "rd:confirm"))
    assert "already saved" in again
    stored = await readings(tg)
    assert len(stored) == 3
    assert stored[0].receipt in receipt_message.text

    # A correction inside the window replaces the value in the export; history keeps both.
    await tg.press(CHAT, "rd")
    await tg.say(CHAT, "4601")
    await tg.say(CHAT, "1201")
    await tg.press(CHAT, "rd:ok")
    await tg.say(CHAT, "130.5")
    assert "Receipt No." in text_of(await tg.press(CHAT, "rd:confirm"))
    assert len(await readings(tg)) == 6

    buffer = io.StringIO()
    assert await export_readings(tg.db, config, "2026-11", buffer) == 3
    rows = list(csv.reader(io.StringIO(buffer.getvalue())))
    assert rows == [
        ["provider", "account", "meter_id", "zone", "value", "previous_value", "submitted_at", "channel"],
        ["teplo", "1001001", "E-77", "day", "4601.0", "4567.8", "2026-11-24T10:00:00+00:00", "telegram"],
        ["teplo", "1001001", "E-77", "night", "1201.0", "1234.5", "2026-11-24T10:00:00+00:00", "telegram"],
        ["teplo", "1001001", "M1001001", "", "130.500", "123.456", "2026-11-24T10:00:00+00:00", "telegram"],
    ]
