"""The QR symbol to the letter: version and error level per standard, checked by a real reader
(zxing-cpp); the worst case refused at config load; captions; the pay screen in four languages."""

from __future__ import annotations

import copy
import io
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from domain.config import ConfigError, parse_config, payment_problems
from domain.payment_qr import GOST_SYMBOL, NBU_SYMBOL, NbuQr, St00012Qr, build_payload, decode_nbu_payload
from domain.qr_image import SymbolTooLarge, capacity, decode_symbols, fit_symbol, qr_png
from handlers.engine import Engine
from tests.conftest import TEST_CONFIG
from tests.seed import seed
from tests.test_payment_qr import GOST
from tests.test_readings_flow import OPEN, Resident

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
IBAN = "UA213223130000026007233566001"
WORST_ACCOUNT = "9" * 20
WORST_AMOUNT = Decimal("999999999.99")


LONG = {  # the case: a long Cyrillic name and purpose (a version 18 symbol at level M)
    "name": "Комунальне підприємство «Київтеплоенерго»",
    "purpose": "Оплата " * 15 + "{account}",
    "display": "Тепло і гаряча вода",
}


def nbu(version: str = "002", purpose: str = "Опалення, о/р {account}", **fields: str) -> NbuQr:
    fields = {"name": "КП «Теплоенерго»", "iban": IBAN, "code": "40538421"} | fields
    if version == "003":
        fields["category_purpose"] = "SUPP/UBIL"
    return NbuQr(version=version, purpose=purpose, **fields)


def render(payload: str, rule=NBU_SYMBOL["002"], caption: tuple[str, ...] = ("Тепло", "Account 1")) -> bytes:
    version, level = fit_symbol(payload, rule)
    return qr_png(payload, level, version=version, caption=caption, hryvnia_sign=rule.hryvnia_sign)


def test_capacities_are_the_iso_table():
    # ISO/IEC 18004 Table 7, byte mode: the figures the NBU limits come down to.
    assert (capacity(10, "M"), capacity(15, "M"), capacity(15, "L"), capacity(20, "L")) == (
        213,
        412,
        520,
        858,
    )


@pytest.mark.parametrize(
    ("display", "level"),
    [
        ("", "M"),  # fits level M in version 15
        ("Т" * 45, "L"),  # M would need version 17: level L, which still fits version 15
    ],
)
def test_nbu_002_decodes_with_the_version_and_level_of_the_rules(display, level):
    purpose = "Опалення та гаряче водопостачання за адресою вул. Шевченка, о/р {account}"
    payload = build_payload(nbu(purpose=purpose, display=display), WORST_ACCOUNT, WORST_AMOUNT, "2025-12")
    [(text, version, ec_level)] = decode_symbols(render(payload))
    assert text == payload
    assert 10 <= version <= 15 and ec_level == level


def test_small_data_still_gets_version_10_and_the_2025_minimum():
    payload = build_payload(nbu(purpose="Тепло {account}"), "1", None, "2025-01")
    [(_, version, level)] = decode_symbols(render(payload))
    assert (version, level) == (10, "M")


def test_long_cyrillic_purpose_is_refused_not_drawn_as_version_17_to_20():
    qr = nbu(**LONG)
    payload = build_payload(qr, WORST_ACCOUNT, WORST_AMOUNT, "2025-12")
    size = len(payload.encode())
    assert size > capacity(15, "L")
    with pytest.raises(
        SymbolTooLarge, match=rf"^{size} bytes of QR data; NBU rules, format 002 allows at most 412"
    ):
        fit_symbol(payload, NBU_SYMBOL["002"])


def test_nbu_003_goes_up_to_version_20():
    qr = nbu(version="003", purpose="Опалення та гаряче водопостачання, особовий рахунок {account}, " * 2)
    payload = build_payload(qr, WORST_ACCOUNT, WORST_AMOUNT, "2025-12")
    [(text, version, level)] = decode_symbols(render(payload, NBU_SYMBOL["003"]))
    assert text == payload and 15 < version <= 20 and level in ("M", "L")


def test_gost_symbol_is_level_m_without_the_hryvnia_sign():
    qr = GOST.model_copy(
        update={"purpose": "Водоснабжение и водоотведение, лицевой счёт {account}, период {period}"}
    )
    payload = build_payload(qr, WORST_ACCOUNT, Decimal("9999999999999999.99"), "2025-12")
    assert "|Sum=999999999999999999|" in payload
    [(text, _, level)] = decode_symbols(render(payload, GOST_SYMBOL))
    assert text == payload and level == "M"


def test_gost_mandatory_block_is_at_most_300_bytes():
    base = {
        "name": "Я" * 120,
        "personal_acc": "40702810200000000001",
        "bank_name": "Б" * 40,
        "bic": "044525225",
        "corresp_acc": "0",
        "payee_inn": "7707083893",
        "purpose": "x {account}",
    }
    with pytest.raises(ValueError, match=r"mandatory block take 403 bytes, GOST R 56042 allows 300"):
        St00012Qr(**base)
    assert St00012Qr(**(base | {"name": "Я" * 68}))  # 299 bytes
    with pytest.raises(ValueError, match=r"take 301 bytes"):
        St00012Qr(**(base | {"name": "Я" * 69}))


def test_caption_leaves_the_quiet_zone_blank():
    caption = (
        "Комунальне підприємство «Київтеплоенерго» виконавчого органу Київради",
        "Рахунок 1001001",
        "До сплати: 999 999 999,99 ₴",
    )
    png = render("https://bank.gov.ua/qr/x", caption=caption)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "caption-long-uk.png").write_bytes(png)
    assert decode_symbols(png) == [("https://bank.gov.ua/qr/x", 10, "M")]
    with Image.open(io.BytesIO(png)) as image:
        gray = image.convert("L")
    version, _ = fit_symbol("https://bank.gov.ua/qr/x", NBU_SYMBOL["002"])
    side = (17 + 4 * version + 8) * 8
    assert gray.width == side and gray.height > side  # the caption is below the symbol
    quiet = 4 * 8
    for box in [
        (0, 0, side, quiet),
        (0, 0, quiet, side),
        (side - quiet, 0, side, side),
        (0, side - quiet, side, side),
    ]:
        assert gray.crop(box).getextrema() == (255, 255), box
    assert gray.crop((0, side, side, gray.height)).getextrema()[0] < 128  # the caption has ink


# --- config load ------------------------------------------------------------------------------


def config_with(**teplo: object) -> dict:
    data = copy.deepcopy(TEST_CONFIG)
    data["providers"][0].update(teplo)
    return data


def test_worst_case_failing_is_a_config_error_naming_the_key_and_the_bytes():
    qr = dict(TEST_CONFIG["providers"][0]["payment_qr"], **LONG)
    with pytest.raises(ConfigError) as caught:
        parse_config(config_with(payment_qr=qr), environ={})
    message = str(caught.value)
    assert "providers[0].payment_qr.nbu: 562 bytes of QR data" in message
    assert (
        "bytes of QR data; NBU rules, format 002 allows at most 412 at level M or 520 at level L" in message
    )
    assert "account_max_length = 20" in message


def test_account_max_length_is_part_of_the_worst_case():
    qr = dict(
        TEST_CONFIG["providers"][0]["payment_qr"],
        purpose="Опалення та гаряче водопостачання, о/р {account}, {account}",
    )
    assert parse_config(config_with(payment_qr=qr), environ={})
    with pytest.raises(ConfigError, match=r"providers\[0\]\.payment_qr\.nbu\.purpose: longer than 140"):
        parse_config(config_with(payment_qr=qr, account_max_length=64), environ={})


def test_payment_problems_is_empty_for_the_test_config(config):
    assert payment_problems(config) == []


def test_url_qr_worst_case_checks_the_filled_link():
    data = config_with(payment_qr={"standard": "url"}, account_max_length=64)
    data["providers"][0]["payment_links"][0]["url"] = "https://pay.example/?" + "x" * 2300 + "&a={account}"
    with pytest.raises(
        ConfigError, match=r"providers\[0\]\.payment_qr\.url: \d+ bytes of QR data; payment link allows"
    ):
        parse_config(data, environ={})


def test_viber_sender_name_over_28_characters_is_a_config_error():
    data = copy.deepcopy(TEST_CONFIG)
    data["viber"] = {"name": "Міськтеплоенерго — оплата і показники"}
    with pytest.raises(ConfigError, match=r"viber\.name: longer than 28 characters \(37\)"):
        parse_config(data, environ={})
    data["viber"] = {"name": "Міськтеплоенерго: рахунки 24"}  # exactly 28
    assert parse_config(data, environ={}).viber.name == "Міськтеплоенерго: рахунки 24"


# --- the pay screen ---------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["uk", "ru", "zh", "en"])
async def test_pay_screen_qr_images_in_four_languages(db, config, locale):
    await seed(db)
    resident = Resident(Engine(config, db, clock=lambda: OPEN))
    await resident.bind("teplo", "1001001", "1234.50")
    await resident.bind("voda", "2002001", "шевченко")
    await resident.say(action="acc:use:1")
    await resident.say(action=f"lang:{locale}")
    await resident.say(action="pay")
    heating, water = resident.last[0], resident.last[1]
    ARTIFACTS.mkdir(exist_ok=True)
    for name, reply, rule in (("teplo", heating, NBU_SYMBOL["002"]), ("voda", water, GOST_SYMBOL)):
        assert reply.image is not None
        (ARTIFACTS / f"pay-{name}-{locale}.png").write_bytes(reply.image)
        [(_, version, level)] = decode_symbols(reply.image)
        assert rule.min_version <= version <= rule.max_version and level == rule.levels[0]
        with Image.open(io.BytesIO(reply.image)) as image:
            assert image.height > image.width  # the caption
    assert decode_symbols(heating.image)[0][0].startswith("https://bank.gov.ua/qr/")


async def test_pay_screen_shows_the_requisites_as_text_when_no_qr_fits(db):
    # Data that fits the worst case of a 1-character account (505 bytes: version 15, level L),
    # but not the real 7-digit one (522 bytes).
    base = TEST_CONFIG["providers"][0]["payment_qr"]
    qr = dict(base, purpose="о" * 70 + " {account}{account}{account}", display="Т" * 53)
    config = parse_config(config_with(payment_qr=qr, account_max_length=1), environ={})
    real = build_payload(config.providers[0].payment_qr, "1001001", Decimal("1520.40"), "2026-10")
    with pytest.raises(SymbolTooLarge, match=r"^522 bytes"):
        fit_symbol(real, NBU_SYMBOL["002"])
    await seed(db)
    resident = Resident(Engine(config, db, clock=lambda: OPEN))
    await resident.bind("teplo", "1001001", "1234.50")
    await resident.say(action="pay")
    screen = resident.last[0]
    assert screen.image is None
    assert "Pay by these requisites: copy them into your banking app." in screen.text
    for line in (
        "IBAN: UA223052990000026001234567890",
        "Recipient: КП Теплокомуненерго",
        "Recipient code (EDRPOU): 40538421",
        "Purpose: " + "о" * 70 + " 100100110010011001001",
    ):
        assert line in screen.text
    assert [link.url for link in screen.links] == ["https://pay.example/?a=1001001&s=1520.40"]


async def test_caption_falls_back_to_the_english_name_when_a_glyph_is_missing(db, monkeypatch):
    import handlers.payments

    data = copy.deepcopy(TEST_CONFIG)
    data["providers"][0]["name"]["zh"] = "龘供热公司"  # 龘 is outside GB 2312: the CJK subset lacks it
    captions: list[tuple[str, ...]] = []

    def drawing(payload: str, error: str = "M", scale: int = 8, **options: object) -> bytes:
        captions.append(options["caption"])  # type: ignore[arg-type]
        return qr_png(payload, error, scale, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(handlers.payments, "qr_png", drawing)
    await seed(db)
    resident = Resident(Engine(parse_config(data, environ={}), db, clock=lambda: OPEN))
    await resident.bind("teplo", "1001001", "1234.50")
    await resident.say(action="lang:zh")
    await resident.say(action="pay")
    assert captions == [("City Heating", "户号 1001001", "应缴金额：UAH\xa01,520.40")]
    await resident.say(action="lang:uk")
    await resident.say(action="pay")
    assert captions[1][0] == "Теплокомуненерго"


def test_purpose_per_language_is_checked_in_every_language():
    qr = dict(
        TEST_CONFIG["providers"][0]["payment_qr"],
        purpose={
            "uk": "Опалення, о/р {account}",
            "ru": "Отопление, л/с {account}",
            "en": "Heating {account}",
        },
    )
    config = parse_config(config_with(payment_qr=qr), environ={})
    nbu_qr = config.providers[0].payment_qr
    rows = {
        locale: build_payload(nbu_qr, "1", None, "2025-01", locale=locale)
        for locale in ("uk", "ru", "zh", "en")
    }
    assert "Отопление, л/с 1" in decode_nbu_payload(rows["ru"])[11]
    assert decode_nbu_payload(rows["zh"])[11] == "Heating 1"  # no Chinese template: the English one
    long_ru = dict(qr, purpose=qr["purpose"] | {"ru": "Отопление и горячее водоснабжение " * 4 + "{account}"})
    with pytest.raises(ConfigError, match=r"payment_qr\.nbu\.purpose: ru: longer than 140 characters"):
        parse_config(config_with(payment_qr=long_ru), environ={})
    dense_ru = dict(qr, display="Т" * 60, purpose=qr["purpose"] | {"ru": "Отопление " * 11 + "{account}"})
    with pytest.raises(ConfigError) as caught:
        parse_config(config_with(payment_qr=dense_ru), environ={})
    assert "providers[0].payment_qr.nbu: " in str(caught.value)
    assert "(worst case: purpose for 'ru', account_max_length = 20" in str(caught.value)
    with pytest.raises(ConfigError, match=r"payment_qr\.purpose: unknown locale\(s\) \['de'\]"):
        parse_config(config_with(payment_qr=dict(qr, purpose={"de": "Heizung {account}"})), environ={})
    with pytest.raises(ConfigError, match=r"payment_qr\.nbu\.purpose: zh: character '供'"):
        parse_config(config_with(payment_qr=dict(qr, purpose={"zh": "供热 {account}"})), environ={})


async def test_pay_screen_uses_the_purpose_of_the_residents_language(db):
    qr = dict(
        TEST_CONFIG["providers"][0]["payment_qr"],
        purpose={"uk": "Опалення, о/р {account}", "ru": "Отопление, л/с {account}"},
    )
    await seed(db)
    resident = Resident(Engine(parse_config(config_with(payment_qr=qr), environ={}), db, clock=lambda: OPEN))
    await resident.bind("teplo", "1001001", "1234.50")
    await resident.say(action="lang:ru")
    await resident.say(action="pay")
    screen = resident.last[0]
    assert decode_nbu_payload(decode_symbols(screen.image)[0][0])[11] == "Отопление, л/с 1001001"
    assert "Отопление, л/с 1001001" in screen.text
