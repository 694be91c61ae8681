"""Paying through official channels: the pay screen with real QR decoding, charges, payments, chart."""

from __future__ import annotations

import io

from PIL import Image

from domain.payment_qr import decode_nbu_payload
from domain.qr_image import decode_png
from handlers.engine import Engine
from tests.seed import seed
from tests.test_readings_flow import OPEN, Resident
from tests.test_telegram_e2e import CHAT, Telegram, tg  # noqa: F401 - the fixture


async def bound_resident(db, config) -> Resident:
    await seed(db)
    resident = Resident(Engine(config, db, clock=lambda: OPEN))
    await resident.bind("teplo", "1001001", "1234.50")
    await resident.bind("voda", "2002001", "шевченко")  # the same flat: one receipt, two companies
    await resident.say(action="acc:use:1")
    return resident


async def test_pay_screen_has_a_qr_per_provider(any_db, config):
    resident = await bound_resident(any_db, config)
    await resident.say(action="pay")
    heating, water, closing = resident.last
    assert "To pay: UAH\xa01,520.40" in heating.text and "never authorises" in heating.text
    assert "IBAN: UA223052990000026001234567890" in heating.text
    assert [link.url for link in heating.links] == ["https://pay.example/?a=1001001&s=1520.40"]
    (payload,) = decode_png(heating.image)
    rows = decode_nbu_payload(payload)
    assert rows[6:9] == ["UA223052990000026001234567890", "UAH1520.40", "40538421"]
    assert rows[11] == "Опалення, о/р 1001001, 10.2026"

    assert "To pay: UAH\xa0312.75" in water.text and water.links == []
    (payload,) = decode_png(water.image)
    assert payload.startswith("ST00012|Name=ООО Водоканал|PersonalAcc=40702810200000000001|")
    assert "|PersAcc=2002001|Sum=31275|Purpose=Водоснабжение, л/с 2002001|PaymPeriod=10.2026" in payload
    assert closing.buttons  # back to the menu


async def test_nothing_owed_means_no_amount_in_the_qr(any_db, config):
    await seed(any_db)
    resident = Resident(Engine(config, any_db, clock=lambda: OPEN))
    await resident.bind("teplo", "1001002", "980")
    await resident.say(action="pay")
    screen = resident.last[0]
    assert "overpaid by UAH\xa0150.00" in screen.text
    rows = decode_nbu_payload(decode_png(screen.image)[0])
    assert rows[7] == ""  # no amount: the resident types it in the banking app
    assert screen.links[0].url == "https://pay.example/?a=1001002&s="


async def test_charges_payments_and_chart(any_db, config):
    resident = await bound_resident(any_db, config)
    out = await resident.say(action="chg")
    assert {"chg:2026-10", "chg:2026-09"} <= set(resident.actions())
    out = await resident.say(action="chg:2026-09")
    assert "Charges for September 2026" in out
    assert "Heating: UAH\xa0900.00" in out and "Total: UAH\xa0900.00" in out
    out = await resident.say(action="pmt")
    assert "October 10, 2026: UAH\xa01,234.50 (Bank)" in out and "Total: UAH\xa01,234.50" in out

    assert "no readings yet" in await resident.say(action="chart")
    await resident.say(action="rd")
    assert "Which account?" in "\n".join(r.text for r in resident.last)
    await resident.say(action="rd:acc:1")
    for value in ("4600", "1240", "130"):
        await resident.say(value)
    assert "Receipt No." in await resident.say(action="rd:confirm")
    assert "Monthly consumption" in await resident.say(action="chart")
    image = Image.open(io.BytesIO(resident.last[0].image))
    assert image.format == "PNG" and image.width == 1080


async def test_pay_screen_through_telegram(tg: Telegram):  # noqa: F811 - the fixture
    await tg.bind(CHAT, "teplo", "1001001", "1234.50")
    await tg.bind(CHAT, "voda", "2002001", "шевченко")
    await tg.press(CHAT, f"acc:use:{tg.accounts['1001001']}")
    sent = await tg.press(CHAT, "pay")
    photos = [message for message in sent if message.photo]
    assert len(photos) == 2
    heating = decode_nbu_payload(decode_png(photos[0].photo)[0])
    assert "1001001" in heating[11] and heating[7] == "UAH1520.40"
    water = decode_png(photos[1].photo)[0]
    assert "PersAcc=2002001" in water and "Sum=31275" in water
    # the official link is a URL button under the QR code
    assert "https://pay.example/?a=1001001&s=1520.40" in str(photos[0].params)


async def test_chart_arrives_as_a_photo_in_telegram(tg: Telegram):  # noqa: F811 - the fixture
    await tg.bind(CHAT, "teplo", "1001002", "980")
    await tg.press(CHAT, "rd")
    await tg.say(CHAT, "130")
    await tg.press(CHAT, "rd:confirm")
    (chart,) = await tg.press(CHAT, "chart")
    assert chart.photo is not None and "Monthly consumption" in (chart.text or "")
    assert Image.open(io.BytesIO(chart.photo)).width == 1080
