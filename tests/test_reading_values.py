"""Typed meter values in uk/ru/zh/en habits, and the plausibility checks (domain/readings.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.readings import (
    ParsedValue,
    ValueCheck,
    ValueProblem,
    check_value,
    consumption,
    parse_meter_value,
)
from domain.text import MAX_INPUT_CHARS

D = Decimal
P = ValueProblem

# (typed text, meter precision, expected Decimal or problem)
GOOD: list[tuple[str, int, Decimal]] = [
    # plain, dot and comma decimals
    ("123", 3, D("123.000")),
    ("123.456", 3, D("123.456")),
    ("123,456", 3, D("123.456")),
    ("1,234", 3, D("1.234")),  # a single separator is always decimal
    ("1.5", 1, D("1.5")),
    ("0", 2, D("0.00")),
    ("0,1", 2, D("0.10")),
    ("00123,45", 2, D("123.45")),  # leading zeros, as on the meter drum
    ("000000", 0, D("0")),
    ("4521", 0, D("4521")),
    ("4521.0", 0, D("4521")),  # trailing zeros beyond precision are fine
    ("12.3400", 3, D("12.340")),
    ("12,30000", 1, D("12.3")),
    ("123.", 2, D("123.00")),  # sentence full stop
    # thousands separators: spaces only
    ("1 234,5", 1, D("1234.5")),
    ("1 234.5", 2, D("1234.50")),
    ("12 345 678", 0, D("12345678")),
    ("1\u00a0234,5", 1, D("1234.5")),  # no-break space
    ("1\u202f234,5", 1, D("1234.5")),  # narrow no-break space
    ("1\u2009234,567", 3, D("1234.567")),  # thin space
    # surrounding and invisible characters
    ("  123,4  ", 1, D("123.4")),
    ("\u200b123.4\u200e", 1, D("123.4")),
    ("\ufeff١٢٣", 0, D("123")),
    ("\u2066123,4\u2069", 1, D("123.4")),
    # full-width (zh keyboards) and Arabic-Indic / Persian digits
    ("１２３．４５", 2, D("123.45")),
    ("１２３，４５", 2, D("123.45")),
    ("１２３", 0, D("123")),
    ("123。45", 2, D("123.45")),  # Chinese full stop typed as a decimal point
    ("١٢٣٫٤٥", 2, D("123.45")),  # Arabic decimal separator
    ("۱۲۳.۴", 1, D("123.4")),
    # units: en
    ("123.4 m3", 1, D("123.4")),
    ("123.4m³", 1, D("123.4")),
    ("123.4 ㎥", 1, D("123.4")),
    ("123.4 m^3", 1, D("123.4")),
    ("123.4 cubic meters", 1, D("123.4")),
    ("5678 kWh", 0, D("5678")),
    ("5678 kW·h", 0, D("5678")),
    ("5678 KWH", 0, D("5678")),
    ("12.345 Gcal", 3, D("12.345")),
    # units: uk
    ("123,4 м³", 1, D("123.4")),
    ("123,4 м3", 1, D("123.4")),
    ("123,4 куб", 1, D("123.4")),
    ("123,4 куб.м", 1, D("123.4")),
    ("123,4 кубів", 1, D("123.4")),
    ("123,4 кубометрів", 1, D("123.4")),
    ("5678 кВт·год", 0, D("5678")),
    ("5678 кВт год", 0, D("5678")),
    ("5678 кВт-год", 0, D("5678")),
    ("5678квт", 0, D("5678")),
    ("12,345 Гкал", 3, D("12.345")),
    # units: ru
    ("123,4 кубов", 1, D("123.4")),
    ("123,4 кубометров", 1, D("123.4")),
    ("123,4 м.куб.", 1, D("123.4")),
    ("5678 кВт·ч", 0, D("5678")),
    ("5678 кВтч", 0, D("5678")),
    ("12,345 гкал.", 3, D("12.345")),
    # units: zh
    ("123.4 度", 1, D("123.4")),
    ("123.4度", 1, D("123.4")),
    ("123.4立方米", 1, D("123.4")),
    ("123.4 方", 1, D("123.4")),
    ("１２３．４吨", 1, D("123.4")),
    ("5678千瓦时", 0, D("5678")),
    # limits
    ("999999999", 0, D("999999999")),  # 9 integer digits: the most a Numeric(15, 6) column keeps
    ("0000000000000000000000000001,5", 1, D("1.5")),  # long only because of leading zeros
]

BAD: list[tuple[str, int, ValueProblem]] = [
    ("", 2, P.EMPTY),
    ("   ", 2, P.EMPTY),
    ("\u200b\u200e\ufeff", 2, P.EMPTY),
    ("\u00a0\u202f", 2, P.EMPTY),
    ("abc", 2, P.NOT_A_NUMBER),
    ("сто двадцять", 2, P.NOT_A_NUMBER),
    ("一二三", 0, P.NOT_A_NUMBER),
    ("m3", 2, P.NOT_A_NUMBER),
    ("кВт·год", 0, P.NOT_A_NUMBER),
    ("1.2.3", 2, P.NOT_A_NUMBER),
    ("1,234.5", 2, P.NOT_A_NUMBER),  # en thousands comma + decimal: two separators
    ("1.234,5", 2, P.NOT_A_NUMBER),  # de/uk style thousands dot
    ("1e3", 2, P.NOT_A_NUMBER),
    ("1E-2", 2, P.NOT_A_NUMBER),
    ("NaN", 2, P.NOT_A_NUMBER),
    ("nan", 2, P.NOT_A_NUMBER),
    ("Infinity", 2, P.NOT_A_NUMBER),
    ("inf", 2, P.NOT_A_NUMBER),
    ("+123", 2, P.NOT_A_NUMBER),
    ("0x1F", 0, P.NOT_A_NUMBER),
    ("1/2", 2, P.NOT_A_NUMBER),
    ("½", 2, P.NOT_A_NUMBER),
    ("12³", 0, P.NOT_A_NUMBER),  # NFKC would make it 123
    (",5", 2, P.NOT_A_NUMBER),
    (".5", 2, P.NOT_A_NUMBER),
    ("123,", 2, P.NOT_A_NUMBER),  # maybe the decimals are still to come
    ("1234 5678", 0, P.NOT_A_NUMBER),  # two values (day/night), not thousands
    ("12 34", 0, P.NOT_A_NUMBER),
    ("1 2345", 0, P.NOT_A_NUMBER),
    ("123 ,4", 1, P.NOT_A_NUMBER),
    ("1_234", 0, P.NOT_A_NUMBER),
    ("1'234", 0, P.NOT_A_NUMBER),
    ("m3 123", 0, P.NOT_A_NUMBER),
    ("123 л", 0, P.NOT_A_NUMBER),  # litres are not accepted as a unit
    ("123 m3 m3", 0, P.NOT_A_NUMBER),
    ("≈123", 0, P.NOT_A_NUMBER),
    ("123-", 0, P.NOT_A_NUMBER),
    ("--5", 0, P.NOT_A_NUMBER),
    ("-abc", 0, P.NOT_A_NUMBER),
    ("-5", 0, P.NEGATIVE),
    ("-123,45", 2, P.NEGATIVE),
    ("−123.4", 1, P.NEGATIVE),  # U+2212 minus sign
    ("－１２３", 0, P.NEGATIVE),  # full-width hyphen-minus
    ("– 5 м³", 0, P.NEGATIVE),  # en dash, space, unit
    ("-0", 0, P.NEGATIVE),
    ("123.45", 1, P.TOO_MANY_DECIMALS),
    ("1,234", 2, P.TOO_MANY_DECIMALS),  # not reinterpreted as 1234
    ("1,234", 0, P.TOO_MANY_DECIMALS),
    ("12.3401", 3, P.TOO_MANY_DECIMALS),
    ("１２３．４５", 0, P.TOO_MANY_DECIMALS),
    ("0.5 kWh", 0, P.TOO_MANY_DECIMALS),
    ("1234567890", 0, P.TOO_LONG),  # 10 integer digits
    ("1 234 567 890 123", 0, P.TOO_LONG),
    ("1." + "0" * 40, 3, P.TOO_LONG),  # more than 32 characters
    ("1" * (MAX_INPUT_CHARS + 1), 0, P.TOO_LONG),
    (" " * (MAX_INPUT_CHARS + 1), 0, P.TOO_LONG),
]


@pytest.mark.parametrize("locale", ["uk", "ru"])
@pytest.mark.parametrize(("text", "precision", "expected"), GOOD)
def test_good_values(text: str, precision: int, expected: Decimal, locale: str) -> None:
    parsed = parse_meter_value(text, precision, locale)
    assert parsed == ParsedValue(expected, None, precision)
    assert parsed.ok
    assert isinstance(parsed.value, Decimal)
    assert parsed.value.as_tuple().exponent == -precision  # exactly `precision` places
    assert str(parsed.value) == str(expected)


@pytest.mark.parametrize("locale", ["uk", "ru"])
@pytest.mark.parametrize(("text", "precision", "problem"), BAD)
def test_bad_values(text: str, precision: int, problem: ValueProblem, locale: str) -> None:
    parsed = parse_meter_value(text, precision, locale)
    assert parsed == ParsedValue(None, problem, precision)
    assert not parsed.ok


# en and zh write a decimal point and group thousands with commas: (text, precision, value, ambiguous)
POINT_GOOD: list[tuple[str, int, Decimal, bool]] = [
    ("1,030.5", 3, D("1030.500"), False),
    ("1,022.5", 1, D("1022.5"), False),  # the previous reading as the bot shows it in en
    ("1,234,567", 0, D("1234567"), False),
    ("1,234,567.25", 2, D("1234567.25"), False),
    ("1 030.5", 1, D("1030.5"), False),
    ("1030.5", 1, D("1030.5"), False),
    ("1030,5", 1, D("1030.5"), False),  # a comma before one digit can only be decimal
    ("4 600,5", 1, D("4600.5"), False),
    ("123,45", 2, D("123.45"), False),
    ("0,123", 3, D("0.123"), False),  # a thousands group never follows a leading zero
    ("01,234", 3, D("1.234"), False),  # leading zeros, as on the meter drum
    ("1.234", 3, D("1.234"), False),
    ("1,030", 3, D("1030.000"), True),  # read the en way, then confirmed by the resident
    ("123,456", 3, D("123456.000"), True),
    ("1,234", 0, D("1234"), True),
    ("１，０３０．５", 1, D("1030.5"), False),  # full-width, as typed on a Chinese keyboard
    ("1,030.5 m3", 1, D("1030.5"), False),
    ("1,030.5千瓦时", 1, D("1030.5"), False),
    ("123。45", 2, D("123.45"), False),
]
POINT_BAD: list[tuple[str, int, ValueProblem]] = [
    ("1,234,5", 1, P.NOT_A_NUMBER),  # a thousands comma then a decimal comma
    ("1.234,5", 1, P.NOT_A_NUMBER),
    ("1,23,456", 0, P.NOT_A_NUMBER),
    ("1,234 567", 0, P.NOT_A_NUMBER),  # two kinds of grouping
    ("123,", 0, P.NOT_A_NUMBER),
    ("1,030.5", 0, P.TOO_MANY_DECIMALS),
    ("-1,030.5", 1, P.NEGATIVE),
]


@pytest.mark.parametrize("locale", ["en", "zh"])
@pytest.mark.parametrize(("text", "precision", "expected", "ambiguous"), POINT_GOOD)
def test_decimal_point_locales(
    text: str, precision: int, expected: Decimal, ambiguous: bool, locale: str
) -> None:
    parsed = parse_meter_value(text, precision, locale)
    assert parsed == ParsedValue(expected, None, precision, ambiguous)
    assert str(parsed.value) == str(expected)


@pytest.mark.parametrize("locale", ["en", "zh"])
@pytest.mark.parametrize(("text", "precision", "problem"), POINT_BAD)
def test_decimal_point_locales_reject(text: str, precision: int, problem: ValueProblem, locale: str) -> None:
    assert parse_meter_value(text, precision, locale) == ParsedValue(None, problem, precision)


@pytest.mark.parametrize(
    ("text", "uk", "en"),
    [
        ("1,030", D("1.030"), D("1030.000")),  # the same keys, two readings: the locale decides
        ("1 030,5", D("1030.500"), D("1030.500")),
        ("1030,5", D("1030.500"), D("1030.500")),
        ("1,030.5", None, D("1030.500")),
    ],
)
def test_the_locale_decides(text: str, uk: Decimal | None, en: Decimal) -> None:
    assert parse_meter_value(text, 3, "uk").value == uk
    assert parse_meter_value(text, 3, "ru").value == uk
    assert parse_meter_value(text, 3, "en").value == en
    assert parse_meter_value(text, 3, "zh").value == en
    assert not parse_meter_value(text, 3, "uk").ambiguous


def test_corpus_size() -> None:
    assert len(GOOD) + len(BAD) >= 60


def test_invalid_precision_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        parse_meter_value("1", -1, "uk")
    with pytest.raises(ValueError):
        parse_meter_value("1", 13, "uk")


@settings(max_examples=300, deadline=None)
@given(
    st.decimals(min_value=0, max_value=D("999999999"), places=3, allow_nan=False, allow_infinity=False),
    st.sampled_from([".", ",", "．", "，"]),
    st.sampled_from(["", " m3", " м³", "度", " kWh", " кВт·год"]),
)
def test_round_trip_exact(value: Decimal, separator: str, unit: str) -> None:
    text = f"{value:.3f}".replace(".", separator) + unit
    parsed = parse_meter_value(text, 3, "uk")
    assert parsed.value == value
    assert str(parsed.value) == f"{value:.3f}"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40), st.integers(0, 4), st.sampled_from(["uk", "ru", "zh", "en"]))
def test_never_raises_and_is_consistent(text: str, precision: int, locale: str) -> None:
    parsed = parse_meter_value(text, precision, locale)
    assert (parsed.value is None) != (parsed.problem is None)
    if parsed.value is not None:
        assert parsed.value >= 0
        assert parsed.value.as_tuple().exponent == -precision


def test_no_float_digits_leak() -> None:
    # 0.1 + 0.2 style artefacts are impossible with Decimal built from the typed digits
    parsed = parse_meter_value("0,3", 3, "uk")
    assert parsed.value == D("0.1") + D("0.2")
    assert parse_meter_value("999999999.999", 3, "uk").value == D("999999999.999")


@pytest.mark.parametrize(
    ("value", "previous", "delta", "expected"),
    [
        (D("100.5"), None, None, ValueCheck.OK),  # first reading
        (D("100.5"), None, D("10"), ValueCheck.OK),
        (D("100.5"), D("100.5"), D("10"), ValueCheck.EQUAL),  # zero consumption is fine
        (D("100.500"), D("100.5"), None, ValueCheck.EQUAL),  # scale does not matter
        (D("100.4"), D("100.5"), D("10"), ValueCheck.BELOW_PREVIOUS),
        (D("0"), D("99999"), None, ValueCheck.BELOW_PREVIOUS),  # rollover / new meter
        (D("110.5"), D("100.5"), D("10"), ValueCheck.OK),  # exactly the delta is fine
        (D("110.501"), D("100.5"), D("10"), ValueCheck.JUMP),
        (D("5000"), D("100"), None, ValueCheck.OK),  # no delta configured: no jump check
        (D("101"), D("100"), D("0"), ValueCheck.JUMP),
    ],
)
def test_check_value(
    value: Decimal, previous: Decimal | None, delta: Decimal | None, expected: ValueCheck
) -> None:
    assert check_value(value, previous, delta) is expected


def test_consumption() -> None:
    assert consumption(D("123.456"), D("100.001")) == D("23.455")
    assert consumption(D("100"), D("100.0")) == D("0")
    assert consumption(D("100"), None) is None
    assert consumption(D("5"), D("99999")) is None  # below previous: unknown (rollover or replacement)


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError):
        check_value(100.5, D("1"), None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        check_value(D("100.5"), D("1"), 10.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        consumption(D("1"), 0.5)  # type: ignore[arg-type]
