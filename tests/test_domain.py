"""Domain rules: normalization, amounts, verification facts, masking, lockout, formatting."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from domain.i18n import resolve_locale
from domain.localize import format_day, format_moment, format_money, format_period
from domain.money import parse_amount
from domain.text import ascii_digits, clean, normalize_account_number
from domain.verification import (
    UNKNOWN_ACCOUNT,
    AccountFacts,
    expected_fact,
    fact_matches,
    locked_until,
    mask_holder,
)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1001001", "1001001"),
        ("  1001 001 ", "1001001"),
        ("1001-001", "1001001"),
        ("１００１００１", "1001001"),  # full-width digits
        ("١٠٠١٠٠١", "1001001"),  # Arabic-Indic digits
        ("№ 1001\u200b001", "1001001"),  # a zero-width space from copy-paste
        ("ab-123", "AB123"),
        ("12", None),
        ("", None),
        ("hello", None),
        ("'; DROP TABLE accounts; --", None),
        ("1" * 5000, None),
        ("🙂🙂🙂", None),
    ],
)
def test_account_number_normalization(typed, expected):
    assert normalize_account_number(typed) == expected


def test_text_cleaning():
    assert ascii_digits("１２٣") == "123"
    assert clean("  a\u00a0\u00a0b\u202e ") == "a b"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1 234,50", "1234.50"),
        ("1234.5", "1234.50"),
        ("1234,50 грн", "1234.50"),
        ("1234,50грн.", "1234.50"),
        ("₴1,234.50", "1234.50"),
        ("1.234,50", "1234.50"),
        ("1 234", "1234.00"),
        ("１２３４，５０", "1234.50"),
        ("0,5", "0.50"),
        ("1\u202f234,50", "1234.50"),  # narrow no-break space, as Babel prints it
        ("12.345", "12345.00"),  # a dot before three digits groups thousands
    ],
)
def test_amounts_accepted(typed, expected):
    assert parse_amount(typed) == Decimal(expected)


@pytest.mark.parametrize(
    "typed", ["", "abc", "12,3,4", "1.2.3,456", "1234.567", "-5", "1e5", "NaN", "∞", "9" * 300]
)
def test_amounts_rejected(typed):
    assert parse_amount(typed) is None


FACTS = AccountFacts("вул. Шевченка, 12, кв. 45", "Шевченко Тарас Григорович", Decimal("1234.50"))


@pytest.mark.parametrize(
    ("method", "typed", "ok"),
    [
        ("last_payment", "1 234,50", True),
        ("last_payment", "1234.5", True),
        ("last_payment", "1234,50 грн", True),
        ("last_payment", "1234.51", False),
        ("last_payment", "abc", False),
        ("surname", "шевченко", True),
        ("surname", "ШЕВЧЕНКО", True),
        ("surname", " Шевченко ", True),
        ("surname", "Шевчук", False),
        ("surname", "", False),
        ("address", "45", True),
        ("address", "кв. 45", True),
        ("address", "кв.45", True),
        ("address", "45号", True),
        ("address", "вул. Шевченка, 12, кв. 45", True),
        ("address", "12", False),
        ("address", "4", False),
    ],
)
def test_fact_matching(method, typed, ok):
    assert fact_matches(method, typed, FACTS) is ok


def test_unknown_account_never_matches():
    for method, typed in (("last_payment", "1"), ("surname", "-"), ("address", "-")):
        assert fact_matches(method, typed, UNKNOWN_ACCOUNT) is False


def test_expected_fact_is_accepted():
    for method in ("last_payment", "surname", "address"):
        assert fact_matches(method, expected_fact(method, FACTS), FACTS)


def test_surname_with_apostrophe_variants():
    facts = AccountFacts("-", "Дем'яненко Ольга", None)
    assert fact_matches("surname", "Демʼяненко", facts)
    assert fact_matches("surname", "Дем’яненко", facts)


@pytest.mark.parametrize(
    ("holder", "masked"),
    [
        ("Шевченко Тарас Григорович", "Ш******о Т. Г."),
        ("Лі Вей", "Л* В."),
        ("Smith", "S***h"),
        ("", ""),
    ],
)
def test_masking(holder, masked):
    assert mask_holder(holder) == masked


def test_lockout_window():
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    failures = [start + timedelta(minutes=minute) for minute in (0, 5, 10)]
    assert locked_until(failures[:2], 3) is None
    assert locked_until(failures, 3) == start + timedelta(hours=24)


def test_locale_resolution():
    allowed = ["uk", "ru", "zh", "en"]
    assert resolve_locale("uk", allowed, "uk") == "uk"
    assert resolve_locale("ru-RU", allowed, "uk") == "ru"
    assert resolve_locale("zh-hans", allowed, "uk") == "zh"
    assert resolve_locale("en-GB", allowed, "uk") == "en"
    assert resolve_locale("de", allowed, "uk") == "uk"
    assert resolve_locale(None, allowed, "en") == "en"


def test_money_and_dates_per_locale():
    amount = Decimal("1234.5")
    assert format_money(amount, "UAH", "uk") == "1\xa0234,50\xa0₴"
    assert format_money(amount, "UAH", "en") == "UAH\xa01,234.50"
    assert "1,234.50" in format_money(amount, "UAH", "zh")
    assert format_day(date(2026, 12, 15), "uk") == "15 грудня 2026\u202fр."
    assert format_day(date(2026, 12, 15), "en") == "December 15, 2026"
    assert format_day(date(2026, 12, 15), "zh") == "2026年12月15日"
    assert format_period("2026-10", "ru").startswith("октябрь 2026")
    assert format_period("2026-10", "zh") == "2026年10月"
    moment = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)
    # 22:30 UTC is already the 25th, 00:30, in Kyiv.
    assert format_moment(moment, __import__("zoneinfo").ZoneInfo("Europe/Kyiv"), "uk").endswith("00:30")


@pytest.mark.parametrize(
    "typed",
    # Every way uk, ru, zh and en residents write one thousand and thirty hryvnias fifty: an
    # amount has at most two decimals, so a separator before three digits always groups
    # thousands and no locale reads any of these differently.
    [
        "1,030.50",
        "1 030,50",
        "1030,5",
        "1030.50",
        "1.030,50",
        "1\u00a0030,50 грн",
        "UAH 1,030.50",
        "１，０３０．５０",
    ],
)
def test_amounts_read_the_same_in_every_locale(typed):
    assert parse_amount(typed) == Decimal("1030.50")


def test_an_amount_echo_is_spaced_per_locale():
    assert format_money(Decimal("1030.50"), "UAH", "zh") == "UAH\xa01,030.50"
    assert format_money(Decimal("1030.50"), "UAH", "ru") == "1\xa0030,50\xa0₴"
