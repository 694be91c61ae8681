"""The readings flow through the engine on SQLite and PostgreSQL: window, validation, confirmations,
summary, receipt, corrections, duplicates, history, and the billing export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.readings_export import export_readings
from handlers.engine import Engine
from handlers.types import Incoming
from storage.models import Reading
from tests.seed import seed

# 10:00 UTC on 24 November = 12:00 in Kyiv: the teplo window (20..25) is open, voda (-2..3) is closed.
OPEN = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


class Resident:
    def __init__(
        self, engine: Engine, chat: str = "r1", channel: str = "telegram", language: str = "en"
    ) -> None:
        self.engine, self.chat, self.channel, self.language = engine, chat, channel, language
        self.last = []

    async def say(self, text: str = "", action: str = "") -> str:
        kind = "action" if action else "text"
        self.last = await self.engine.handle(
            Incoming(self.channel, self.chat, self.chat, self.language, kind, text, action)
        )
        return "\n".join(reply.text for reply in self.last)

    def actions(self) -> list[str]:
        return [button.action for reply in self.last for row in reply.buttons for button in row]

    async def bind(self, provider: str, number: str, fact: str) -> None:
        await self.say(action="acc:add")
        await self.say(action=f"accp:{provider}")
        await self.say(number)
        assert "is added" in await self.say(fact)


@pytest.fixture
def clock():
    class Clock:
        now = OPEN

        def __call__(self):
            return self.now

    return Clock()


async def stored(db) -> list[Reading]:
    async with db.unit_of_work() as uow:
        return list((await uow.session.execute(select(Reading).order_by(Reading.id))).scalars())


async def test_closed_window_names_the_next_dates(any_db, config, clock):
    await seed(any_db)
    resident = Resident(Engine(config, any_db, clock))
    await resident.bind("voda", "2002001", "Шевченко")
    out = await resident.say(action="rd")
    assert "closed" in out
    # -2..3 in November (30 days): from the 29th through 3 December.
    assert "November 29, 2026" in out and "December 3, 2026" in out


async def test_full_pass_with_confirmations_and_receipt(any_db, config, clock):
    await seed(any_db)
    resident = Resident(Engine(config, any_db, clock))
    await resident.bind("teplo", "1001001", "1234.50")
    out = await resident.say(action="rd")
    assert "November 2026" in out and "read automatically" in out  # the smart heat meter is skipped
    assert "Meter 1 of 3" in out and "E-77" in out and "4,567.8 kWh" in out

    for bad, reason in (
        ("abc", "as a number"),
        ("-5", "negative"),
        ("4600.25", "at most 1 digit"),
        ("9" * 40, "too long"),
    ):
        out = await resident.say(bad)
        assert reason in out and "Meter 1 of 3" in out, out
    out = await resident.say("4 600,5")  # day: +32.7 kWh
    assert "Meter 2 of 3" in out and "night" in out
    out = await resident.say("1200")  # night: lower than 1234.5 → confirm
    assert "lower than the previous" in out and "rd:ok" in resident.actions()
    out = await resident.say(action="rd:ok")
    assert "Meter 3 of 3" in out and "123.456 m³" in out
    out = await resident.say("190.5")  # +67 m3 > 30 → confirm
    assert "more than the usual maximum" in out
    out = await resident.say("130.456")  # typing a new value instead replaces it
    assert "Please check your readings" in out
    assert "4,567.8 kWh → 4,600.5 kWh, used 32.7 kWh" in out
    assert "lower than before" in out and "used 7 m³" in out
    assert await stored(any_db) == []  # nothing is stored before Confirm

    out = await resident.say(action="rd:confirm")
    assert "Receipt No." in out
    readings = await stored(any_db)
    assert sorted(str(r.value) for r in readings) == ["1200.000000", "130.456000", "4600.500000"]
    assert {r.receipt for r in readings} == {out.split("Receipt No. ")[1].rstrip(".")}
    assert {r.channel for r in readings} == {"telegram"} and {r.period for r in readings} == {"2026-11"}
    # A second tap on Confirm stores nothing more.
    assert "already saved" in await resident.say(action="rd:confirm")
    assert len(await stored(any_db)) == 3


async def test_edit_and_cancel(any_db, config, clock):
    await seed(any_db)
    resident = Resident(Engine(config, any_db, clock))
    await resident.bind("teplo", "1001002", "980")
    await resident.say(action="rd")
    out = await resident.say("123.456")  # equal to previous: zero use is fine
    assert "used 0 m³" in out
    await resident.say(action="rd:edit")
    assert "rd:fix:0" in resident.actions()
    out = await resident.say(action="rd:fix:0")
    out = await resident.say("125")
    assert "123.456 m³ → 125 m³" in out
    await resident.say(action="cancel")
    assert await stored(any_db) == []


async def test_correction_duplicates_two_chats_and_export(any_db, config, clock):
    await seed(any_db)
    engine = Engine(config, any_db, clock)
    first, second = Resident(engine, "a"), Resident(engine, "b", channel="viber")
    await first.bind("teplo", "1001002", "980")
    await second.bind("teplo", "1001002", "980")

    async def submit(resident: Resident, value: str) -> None:
        await resident.say(action="rd")
        await resident.say(value)
        assert "Receipt No." in await resident.say(action="rd:confirm")

    await submit(first, "130")
    clock.now = OPEN + timedelta(hours=1)
    await submit(first, "131.5")  # a correction inside the window
    assert "You already submitted 131.5 m³" in await first.say(action="rd")
    await first.say(action="cancel")
    clock.now = OPEN + timedelta(hours=2)
    await submit(second, "132.25")  # the other chat confirms later: it wins
    assert len(await stored(any_db)) == 3
    out = await first.say(action="rd:hist")
    assert "132.25 m³" in out and "used 8.794 m³" in out

    buffer = io.StringIO()
    assert await export_readings(any_db, config, "2026-11", buffer) == 1
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue())))
    assert rows == [
        {
            "provider": "teplo",
            "account": "1001002",
            "meter_id": "M1001002",
            "zone": "",
            "value": "132.250",
            "previous_value": "123.456",
            "submitted_at": "2026-11-24T12:00:00+00:00",
            "channel": "viber",
        }
    ]
    empty = io.StringIO()
    assert await export_readings(any_db, config, "2026-11", empty, provider_id="voda") == 0
    assert empty.getvalue().splitlines() == [",".join(rows[0])]


async def test_confirm_after_the_window_closed_stores_nothing(any_db, config, clock):
    await seed(any_db)
    resident = Resident(Engine(config, any_db, clock))
    await resident.bind("teplo", "1001002", "980")
    await resident.say(action="rd")
    await resident.say("130")
    clock.now = datetime(2026, 11, 25, 22, 1, tzinfo=UTC)  # 00:01 on the 26th in Kyiv
    out = await resident.say(action="rd:confirm")
    assert "closed" in out and "December 20, 2026" in out
    async with any_db.unit_of_work() as uow:
        assert (await uow.session.execute(select(func.count()).select_from(Reading))).scalar_one() == 0
