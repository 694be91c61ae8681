"""A resident's view in each language (uk, ru, zh, en) through the engine: service, unit and
channel names from billing codes, money spaced as CLDR asks, numbers typed the resident's way,
sentences joined as the language does, and the consumption chart (drawn to tests/artifacts/)."""

from __future__ import annotations

import io
import secrets
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from domain.config import ConfigError, parse_config
from domain.i18n import translator
from domain.localize import format_money, format_names, join_clauses, join_sentences
from domain.services import MissingNames, channel_name, service_name, unit_name, unnamed_locales
from handlers.engine import Engine
from storage.database import Database
from storage.importer import import_csv
from storage.models import Charge, Payment
from tests import test_readings_flow
from tests.conftest import TEST_CONFIG
from tests.seed import seed

OPEN = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # teplo's window (20..25) is open
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LOCALES = ("uk", "ru", "zh", "en")


class Resident(test_readings_flow.Resident):
    """One chat speaking ``language`` to the engine."""

    def __init__(self, engine: Engine, language: str) -> None:
        super().__init__(engine, chat=f"native-{language}", language=language)

    async def bind(self, provider: str, number: str, fact: str) -> None:
        await self.say(action="acc:add")
        await self.say(action=f"accp:{provider}")
        await self.say(number)
        out = await self.say(fact)
        assert number in out and "bal" in self.actions(), out  # added: the main menu follows


async def with_coded_billing(db: Database) -> dict[str, int]:
    """The seed, plus November charges and payments written with billing codes."""
    accounts = await seed(db)
    async with db.unit_of_work() as uow:
        for service, amount in (("heating", "1221.80"), ("hot_water", "298.60"), ("maintenance", "0.00")):
            uow.session.add(
                Charge(
                    account_id=accounts["1001001"], period="2026-11", service=service, amount=Decimal(amount)
                )
            )
        uow.session.add(
            Payment(
                account_id=accounts["1001001"],
                paid_on=date(2026, 11, 3),
                amount=Decimal("5"),
                channel="cash_desk",
            )
        )
        await uow.commit()
    return accounts


EXPECTED = {
    "uk": {
        "money": "1\xa0520,40\xa0₴",
        "services": ("Опалення", "Гаряча вода", "Утримання будинку"),
        "channel": "(Каса)",
        "unit": "кВт·год",
        "previous": "4\xa0567,8 кВт·год",
        "typed": ("4 600,5", "1240,5"),
    },
    "ru": {
        "money": "1\xa0520,40\xa0₴",
        "services": ("Отопление", "Горячая вода", "Содержание дома"),
        "channel": "(Касса)",
        "unit": "кВт·ч",
        "previous": "4\xa0567,8 кВт·ч",
        "typed": ("4 600,5", "1240,5"),
    },
    "zh": {
        "money": "UAH\xa01,520.40",
        "services": ("供暖", "热水", "物业管理"),
        "channel": "（收费窗口）",
        "unit": "千瓦时",
        "previous": "4,567.8 千瓦时",
        "typed": ("4,600.5", "1,240.5"),
    },
    "en": {
        "money": "UAH\xa01,520.40",
        "services": ("Heating", "Hot water", "Building maintenance"),
        "channel": "(Cash desk)",
        "unit": "kWh",
        "previous": "4,567.8 kWh",
        "typed": ("4,600.5", "1,240.5"),
    },
}


@pytest.mark.parametrize("locale", LOCALES)
async def test_balance_charges_and_payments_read_natively(db, config, locale):
    await with_coded_billing(db)
    resident = Resident(Engine(config, db, clock=lambda: OPEN), locale)
    await resident.bind("teplo", "1001001", "1234.50")
    expected = EXPECTED[locale]
    for out in (await resident.say(action="bal"), await resident.say(action="chg:2026-11")):
        for name in expected["services"]:
            assert f"• {name}: " in out, out
        assert not [code for code in ("heating", "hot_water", "maintenance") if f"• {code}:" in out]
    balance = await resident.say(action="bal")
    assert expected["money"] in balance
    payments = await resident.say(action="pmt")
    assert expected["channel"] in payments and "cash_desk" not in payments


@pytest.mark.parametrize("locale", LOCALES)
async def test_readings_are_shown_and_typed_the_residents_way(db, config, locale):
    await seed(db)
    resident = Resident(Engine(config, db, clock=lambda: OPEN), locale)
    await resident.bind("teplo", "1001001", "1234.50")
    expected = EXPECTED[locale]
    out = await resident.say(action="rd")
    assert expected["previous"] in out
    if locale != "en":
        assert "kWh" not in out and "m3" not in out
    day, night = expected["typed"]
    out = await resident.say(day)
    assert "rd:ok" not in resident.actions() and "E-77" in out  # accepted: the night zone is asked next
    out = await resident.say(night)
    assert "M1001001" in out and "rd:ok" not in resident.actions()  # accepted: the hot water meter next
    summary = await resident.say("130")
    assert "rd:confirm" in resident.actions() and expected["unit"] in summary


@pytest.mark.parametrize(
    ("locale", "typed", "echo"),
    [("en", "1,240", "1240 kWh"), ("zh", "1,240", "1240 千瓦时")],
)
async def test_an_ambiguous_thousands_comma_is_echoed_for_confirmation(db, config, locale, typed, echo):
    await seed(db)
    resident = Resident(Engine(config, db, clock=lambda: OPEN), locale)
    await resident.bind("teplo", "1001001", "1234.50")
    await resident.say(action="rd")
    await resident.say(EXPECTED[locale]["typed"][0])
    out = await resident.say(typed)  # the night zone: previous 1234.5, so 1240 is plausible
    assert echo in out and typed in out and "rd:ok" in resident.actions()
    out = await resident.say(action="rd:ok")
    assert "M1001001" in out  # the value is taken as read: on to the hot water meter
    summary = await resident.say("130")
    assert "1,240" in summary and "rd:confirm" in resident.actions()


async def test_in_ukrainian_the_same_keys_are_a_decimal_comma(db, config):
    await seed(db)
    resident = Resident(Engine(config, db, clock=lambda: OPEN), "uk")
    await resident.bind("teplo", "1001001", "1234.50")
    await resident.say(action="rd")
    await resident.say("4 600,5")
    out = await resident.say("1,240")  # 1.240: more decimals than the meter has, never 1240
    assert "не більше ніж 1 знак після коми" in out and "rd:ok" not in resident.actions()
    out = await resident.say("1,2")  # 1.2: lower than 1 234,5 — the below-previous confirmation
    assert "1,2 кВт·год" in out and "1\xa0234,5 кВт·год" in out and "rd:ok" in resident.actions()


@pytest.mark.parametrize(
    ("locale", "example"),
    [("uk", "1\xa0234,5"), ("ru", "1\xa0234,5"), ("zh", "1,234.5"), ("en", "1,234.5")],
)
async def test_the_prompt_example_is_unambiguous_in_each_language(db, config, locale, example):
    await seed(db)
    resident = Resident(Engine(config, db, clock=lambda: OPEN), locale)
    await resident.bind("teplo", "1001001", "1234.50")
    await resident.say(action="rd")
    out = await resident.say("abc")
    assert example in out and "123,456" not in out


async def test_chinese_sentences_join_without_spaces_and_companies_are_listed(db, config):
    engine = Engine(config, db, clock=lambda: OPEN)
    resident = Resident(engine, "zh")
    await resident.say("/start")
    assert "供热公司和自来水公司" in resident.last[0].text
    await resident.say(action="acc:add")
    out = await resident.say(action="cancel")
    assert "已取消。主菜单。" in out


@pytest.mark.parametrize(
    ("locale", "one", "two"),
    [
        (
            "uk",
            "Теплокомуненерго нікого не уповноважує",
            "Теплокомуненерго і Водоканал нікого не уповноважують",
        ),
        (
            "ru",
            "Теплокоммунэнерго никого не уполномочивает",
            "Теплокоммунэнерго и Водоканал никого не уполномочивают",
        ),
        ("zh", "供热公司从未授权", "供热公司和自来水公司从未授权"),
        ("en", "City Heating never authorises", "City Heating and City Water never authorise anyone"),
    ],
)
def test_fraud_warning_agrees_with_the_number_of_companies(config, locale, one, two):
    from domain.notice_texts import catalog_notice_text

    assert one in catalog_notice_text("fraud_warning", locale, config.providers[:1])
    assert two in catalog_notice_text("fraud_warning", locale, config.providers)


# ---------------------------------------------------------------------------------------------
# Money, lists and joins per locale.


@pytest.mark.parametrize(
    ("locale", "uah", "usd", "negative"),
    [
        ("uk", "1\xa0520,40\xa0₴", "5,00\xa0USD", "-1\xa0520,40\xa0₴"),
        ("ru", "1\xa0520,40\xa0₴", "5,00\xa0$", "-1\xa0520,40\xa0₴"),
        ("zh", "UAH\xa01,520.40", "US$5.00", "-UAH\xa01,520.40"),
        ("en", "UAH\xa01,520.40", "$5.00", "-UAH\xa01,520.40"),
    ],
)
def test_currency_spacing_per_locale(locale, uah, usd, negative):
    assert format_money(Decimal("1520.40"), "UAH", locale) == uah
    assert format_money(Decimal("5"), "USD", locale) == usd  # a symbol ($) takes no space
    assert format_money(Decimal("-1520.40"), "UAH", locale) == negative
    assert format_money(Decimal("5"), "RUB", "en") == "RUB\xa05.00"


@pytest.mark.parametrize(
    ("locale", "two", "three", "sentences", "clauses"),
    [
        ("uk", "А і Б", "А, Б і В", "Так. Ні.", "a, b"),
        ("ru", "А и Б", "А, Б и В", "Так. Ні.", "a, b"),
        ("zh", "甲和乙", "甲、乙和丙", "好。不。", "甲，乙"),
        ("en", "A and B", "A, B, and C", "Yes. No.", "a, b"),
    ],
)
def test_lists_and_joins_per_locale(locale, two, three, sentences, clauses):
    names = {"zh": ["甲", "乙", "丙"], "en": ["A", "B", "C"]}.get(locale, ["А", "Б", "В"])
    assert format_names(names[:2], locale) == two
    assert format_names(names, locale) == three
    assert format_names([], locale) == ""
    parts = {"zh": ["好。", "不。"], "en": ["Yes.", "No."]}.get(locale, ["Так.", "Ні."])
    assert join_sentences(parts, locale) == sentences
    assert join_clauses(["甲", "乙"] if locale == "zh" else ["a", "b"], locale) == clauses


# ---------------------------------------------------------------------------------------------
# Names of codes: the built-in catalog, the provider's config, free text, the import warning.


def provider_config(**names: dict[str, dict[str, str]]):
    data = {
        **TEST_CONFIG,
        "providers": [{**TEST_CONFIG["providers"][0], **names}, TEST_CONFIG["providers"][1]],
    }
    return parse_config(data, environ={})


def test_catalog_names_every_code_in_every_language():
    for locale in LOCALES:
        tr = translator(locale)
        assert service_name("electricity_night", locale) == tr._("Electricity, night zone")
        assert unit_name("Gcal", locale) == unit_name("gcal", locale) == tr._("Gcal")
        assert unit_name("m³", locale) == unit_name("M3", locale) == tr._("m³")
    assert service_name("hot_water", "zh") == "热水" and unit_name("kWh", "uk") == "кВт·год"
    assert channel_name("post_office", "ru") == "Почта"


def test_names_typed_in_another_language_are_recognised_and_free_text_passes():
    assert service_name("Гаряча вода", "en") == "Hot water"  # a CSV written in Ukrainian
    assert channel_name("Каса", "zh") == "收费窗口" and channel_name("cash desk", "en") == "Cash desk"
    assert service_name("Ремонт ліфта", "en") == "Ремонт ліфта"  # free text: as written
    assert channel_name("Monobank", "zh") == "Monobank"


def test_provider_names_extend_and_override_the_catalog():
    config = provider_config(
        services={"heating": {"en": "District heating"}, "lift": {"uk": "Ліфт", "en": "Lift"}},
        units={"Gcal": {"zh": "千兆卡"}},
        channels={"privatbank": {"uk": "ПриватБанк", "en": "PrivatBank"}},
    )
    teplo = config.providers[0]
    assert service_name("heating", "en", teplo) == "District heating"  # overridden
    assert service_name("heating", "uk", teplo) == "Опалення"  # other languages: the catalog
    assert service_name("lift", "ru", teplo) == "Lift"  # added: English, then the first name
    assert service_name("Ліфт", "en", teplo) == "Lift"  # a provider's name is recognised too
    assert unit_name("GCAL", "zh", teplo) == "千兆卡" and unit_name("Gcal", "en", teplo) == "Gcal"
    assert channel_name("privatbank", "en", teplo) == "PrivatBank"
    assert service_name("lift", "en", config.providers[1]) == "lift"  # another provider's code
    assert unnamed_locales("service", "lift", teplo, ["uk", "ru", "zh", "en"]) == ["ru", "zh"]
    assert unnamed_locales("service", "heating", None, LOCALES) == []
    assert unnamed_locales("service", "Опалення квартири", None, LOCALES) == []  # free text


def test_bad_name_tables_are_config_errors():
    with pytest.raises(ConfigError, match=r"providers\[0\]\.services"):
        provider_config(services={"heating": {"de": "Heizung"}})
    with pytest.raises(ConfigError, match=r"providers\[0\]\.units"):
        provider_config(units={"gcal": {"uk": " "}})


def test_missing_names_warns_once_per_code():
    config = provider_config(services={"lift": {"uk": "Ліфт", "ru": "Лифт", "zh": "电梯", "en": "Lift"}})
    check = MissingNames(config, "charges")
    assert check.check({"provider_id": "teplo", "service": "heating"}) == []
    assert check.check({"provider_id": "teplo", "service": "lift"}) == []
    assert check.check({"provider_id": "teplo", "service": "Гаряча вода"}) == []
    (warning,) = check.check({"provider_id": "teplo", "service": "heating_fee"})
    assert "'heating_fee'" in warning and "uk, ru, zh, en" in warning and "[providers.services]" in warning
    assert check.check({"provider_id": "teplo", "service": "heating_fee"}) == []  # once
    assert len(check.check({"provider_id": "voda", "service": "heating_fee"})) == 1  # per provider
    assert MissingNames(config, "accounts").check({"provider_id": "teplo"}) == []


async def test_import_reports_codes_without_names(db, config, tmp_path):
    await seed(db)
    charges = tmp_path / "charges.csv"
    charges.write_text(
        "provider,account,period,service,amount\n"
        "teplo,1001001,2026-11,heating,1.00\n"
        "teplo,1001001,2026-11,heating_fee,2.00\n"
        "teplo,1001002,2026-11,heating_fee,2.00\n"
        "teplo,1001002,2026-11,Абонплата,3.00\n",
        encoding="utf-8",
    )
    report = await import_csv(db, config, "charges", charges)
    assert report.ok and report.inserted == 4
    assert len(report.warnings) == 1 and "heating_fee" in report.warnings[0]
    meters = tmp_path / "meters.csv"
    meters.write_text(
        "provider,account,meter_id,kind,zone,unit,last_value,last_date,max_monthly_delta,precision,automatic\n"
        "teplo,1001001,X-1,gas,,m3,1,2026-10-01,,0,false\n"
        "teplo,1001001,X-2,gas,,litre,1,2026-10-01,,0,false\n",
        encoding="utf-8",
    )
    report = await import_csv(db, config, "meters", meters)
    assert report.ok and [w.split()[1] for w in report.warnings] == ["'litre'"]


# ---------------------------------------------------------------------------------------------
# The chart as residents get it, in each language; the PNGs go to tests/artifacts/.


def _value_on(day: date, base: Decimal, per_day: Decimal) -> Decimal:
    return base + per_day * (day - date(2026, 10, 22)).days


async def add_history(db: Database, account_id: int) -> None:
    """A year of readings taken on different days of each month's window, about 300 kWh a month."""
    days = [date(2025, 11, 27) + timedelta(days=30 * step + (step * 7) % 5) for step in range(12)]
    days.append(date(2026, 11, 23))
    async with db.unit_of_work() as uow:
        rows = []
        for meter in await uow.readings.meters_of(account_id):
            if meter.automatic:
                continue
            per_day = {"electricity": Decimal("10") if meter.zone == "day" else Decimal("4")}.get(
                meter.kind, Decimal("0.15")
            )
            previous = None
            for day in days:
                value = _value_on(day, meter.last_value, per_day).quantize(
                    Decimal(1).scaleb(-meter.precision)
                )
                moment = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)
                rows.append(
                    {
                        "meter_id": meter.id,
                        "period": f"{day.year}-{day.month:02d}",
                        "value": value,
                        "previous_value": previous,
                        "submitted_at": moment,
                        "channel": "telegram",
                        "chat_id": None,
                        "receipt": "TEST-0000",
                        "dedup_key": secrets.token_hex(8),
                    }
                )
                previous = value
        await uow.readings.add_many(rows)
        await uow.commit()


@pytest.mark.parametrize("locale", LOCALES)
async def test_chart_in_each_language(db, config, locale):
    accounts = await seed(db)
    await add_history(db, accounts["1001001"])
    resident = Resident(Engine(config, db, clock=lambda: OPEN), locale)
    await resident.bind("teplo", "1001001", "1234.50")
    title = await resident.say(action="chart")
    assert "1001001" in title and config.providers[0].localized_name(locale) in title
    png = resident.last[0].image
    assert png is not None and len(png) < 250_000
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.width == 1080
    ARTIFACTS.mkdir(exist_ok=True)  # to look at: a 64-colour copy keeps the files small
    image.quantize(colors=64).save(ARTIFACTS / f"chart-{locale}.png", optimize=True)
