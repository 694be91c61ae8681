"""Meter values typed by residents: parsing into Decimal (never float) and plausibility checks.

Parsing rules of :func:`parse_meter_value` (tests/test_reading_values.py holds the corpus):

* Input is NFKC-normalized and cleaned (``domain.text.clean``): full-width digits and
  punctuation ("１２３．４５", "１２３，４５"), no-break / narrow no-break / thin spaces and
  invisible characters are handled; any Unicode decimal digits (Arabic-Indic, Persian, ...)
  become ASCII digits. Leading zeros, as on a meter drum ("00123,45"), are fine.
* **Separators follow the resident's locale.** In uk and ru (decimal comma) one comma or dot
  ("123,456", "123.456"; also the Arabic "٫" and the Chinese full stop "。") is ALWAYS a decimal
  separator: "1,234" on a meter with precision 3 is 1.234; with precision 0..2 it is rejected
  as TOO_MANY_DECIMALS, so the flow can ask again rather than guess. Thousands are grouped by
  spaces only, in groups of three: "1 234,5", "1 030,5"; two separators ("1,234.5") are
  NOT_A_NUMBER.
* In en and zh (decimal point) commas or spaces group thousands: "1,030.5", "1,234,567",
  "1 030.5". A comma before anything but three digits can only be a decimal comma ("1030,5",
  "4 600,5"). A lone comma before three digits ("1,030", "123,456") is read the en/zh way,
  1030, and flagged ``ambiguous``: the flow echoes it back for confirmation.
* Other spacing ("1234 5678", e.g. a day and a night value typed together) is NOT_A_NUMBER.
* A trailing dot or "。" with no digits after it is sentence punctuation ("123." → 123);
  a trailing comma is not ("123," → NOT_A_NUMBER: perhaps the rest was not typed yet).
* **Units.** One trailing unit is ignored, e.g. m3, m³, м³, куб, куб.м, кубів, кубометров,
  kWh, кВт·год, кВт·ч, квт, Гкал, Gcal, 度, 立方米, 方, 吨 (water in China), 千瓦时.
  Superscript or subscript digits anywhere else are rejected (NFKC would turn "12³" into 123).
* **Decimals.** At most ``precision`` decimal digits; extra digits are accepted only when they
  are zeros ("12.3400" with precision 3 → 12.340). The result always has exactly ``precision``
  decimal places.
* **Rejected:** empty (EMPTY); a leading minus "-", "−", "–", "—" (NEGATIVE); more than
  MAX_INPUT_CHARS characters, a number longer than 32 characters or more than 9 integer digits
  after leading zeros (TOO_LONG); two decimal separators ("1.2.3"), exponents, NaN,
  Infinity, a plus sign, words, fractions (NOT_A_NUMBER).

:func:`check_value` compares with the previous reading: equal is fine (zero consumption);
lower (meter replaced or rolled over) or a jump above max_monthly_delta needs the resident's
explicit confirmation — the flow decides what to say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

from domain.text import MAX_INPUT_CHARS, ascii_digits, clean

MAX_NUMBER_CHARS = 32
MAX_INTEGER_DIGITS = 9  # meter values are Numeric(15, 6) in the database
MAX_PRECISION = 12

_UNITS = (
    # m³ (NFKC has already turned "m³"/"㎥" into "m3")
    r"m\s?\^?\s?3|cu\.?\s?m|cubic\s?met(?:er|re)s?|"
    r"м\s?\^?\s?3|м\.?\s?куб\.?|куб(?:\.?\s?м)?|куб(?:ів|ов|а|и|ы)|кубометр(?:ів|ов|а|и|ы)?|"
    r"立方米|立方|方|吨|"
    # electricity
    r"kw\s?[·⋅*.\-/]?\s?h|kw|"
    r"квт\s?[·⋅*.\-/]?\s?(?:год|ч)|квт|"
    r"千瓦时|度|"
    # heat
    r"gcal|гкал"
)
_UNIT_SUFFIX = re.compile(rf"\s*(?:{_UNITS})\.?$", re.IGNORECASE)
_STRAY_SCRIPT_DIGIT = re.compile("(?<![mMмМ])[\u00b2\u00b3\u00b9\u2070-\u2079\u2080-\u2089]")
_MINUS = "-\u2010\u2011\u2012\u2013\u2014\u2212"
_SEPARATORS = str.maketrans({"٫": ".", "。": "."})
_NUMBER = re.compile(r"(?P<int>[0-9]{1,3}(?: [0-9]{3})+|[0-9]+)(?:(?P<sep>[.,])(?P<frac>[0-9]*))?")
# en, zh: thousands grouped by commas or by spaces (one kind in a number), a decimal point.
_NUMBER_POINT = re.compile(
    r"(?P<int>[0-9]{1,3}(?P<group>[ ,])[0-9]{3}(?:(?P=group)[0-9]{3})*|[0-9]+)"
    r"(?:(?P<sep>[.,])(?P<frac>[0-9]*))?"
)
DECIMAL_POINT_LOCALES = frozenset({"en", "zh"})


class ValueProblem(Enum):
    """Why a typed text is not a usable meter value."""

    EMPTY = "empty"
    NOT_A_NUMBER = "not_a_number"
    NEGATIVE = "negative"
    TOO_MANY_DECIMALS = "too_many_decimals"
    TOO_LONG = "too_long"


@dataclass(frozen=True)
class ParsedValue:
    """Either a value (exactly ``precision`` decimal places) or the problem with the text."""

    value: Decimal | None
    problem: ValueProblem | None
    precision: int  # decimals the meter allows, for the flow's "at most N decimals" hint
    ambiguous: bool = False  # "1,030" in en/zh: read as 1030, to be confirmed by the resident

    @property
    def ok(self) -> bool:
        return self.problem is None


class ValueCheck(Enum):
    """How a new reading compares with the previous one."""

    OK = "ok"
    EQUAL = "equal"  # zero consumption: accepted as is
    BELOW_PREVIOUS = "below_previous"  # meter replaced or rolled over: ask to confirm
    JUMP = "jump"  # consumption above max_monthly_delta: ask to confirm


def _split_number(number: str, locale: str) -> tuple[str, str, bool] | None:
    """(integer digits, fraction digits, ambiguous) of a number written in ``locale``'s way, or None."""
    if locale not in DECIMAL_POINT_LOCALES:
        match = _NUMBER.fullmatch(number)
        if match is None or (match["sep"] == "," and not match["frac"]):
            return None
        return match["int"].replace(" ", ""), match["frac"] or "", False
    match = _NUMBER_POINT.fullmatch(number)
    if match is None or (match["sep"] == "," and (match["group"] == "," or not match["frac"])):
        return None
    integer, fraction = match["int"], match["frac"] or ""
    if match["group"] == ",":
        head, _, rest = integer.partition(",")
        if head.startswith("0") and "," not in rest and match["sep"] is None:
            return head, rest, False  # "0,123": a leading zero never starts a thousands group
        if head.startswith("0"):
            return None
        return integer.replace(",", ""), fraction, match["sep"] is None and "," not in rest
    return integer.replace(" ", ""), fraction, False


def parse_meter_value(text: str, precision: int, locale: str) -> ParsedValue:
    """'1 234,5 м³' (uk) / '1,234.5 kWh' (en) / '１２３．４５' → Decimal with ``precision`` places, or a
    problem; separators are read as ``locale`` writes numbers (see the module docstring)."""
    if not 0 <= precision <= MAX_PRECISION:
        raise ValueError(f"precision must be 0..{MAX_PRECISION}, got {precision}")

    def problem(kind: ValueProblem) -> ParsedValue:
        return ParsedValue(None, kind, precision)

    if len(text) > MAX_INPUT_CHARS:
        return problem(ValueProblem.TOO_LONG)
    cleaned = clean(text)
    if not cleaned:
        return problem(ValueProblem.EMPTY)
    if _STRAY_SCRIPT_DIGIT.search(text):
        return problem(ValueProblem.NOT_A_NUMBER)
    number = _UNIT_SUFFIX.sub("", ascii_digits(cleaned)).translate(_SEPARATORS)
    negative = number[:1] in tuple(_MINUS)
    if negative:
        number = number[1:].lstrip()
    parts = _split_number(number, locale)
    if parts is None:
        return problem(ValueProblem.NOT_A_NUMBER)
    if negative:
        return problem(ValueProblem.NEGATIVE)
    integer, fraction, ambiguous = parts
    integer = integer.lstrip("0") or "0"
    if len(number) > MAX_NUMBER_CHARS or len(integer) > MAX_INTEGER_DIGITS:
        return problem(ValueProblem.TOO_LONG)
    if fraction[precision:].strip("0"):
        return problem(ValueProblem.TOO_MANY_DECIMALS)
    fraction = fraction[:precision].ljust(precision, "0")
    value = Decimal(f"{integer}.{fraction}" if precision else integer)
    return ParsedValue(value, None, precision, ambiguous)


def _require_decimal(*values: Decimal | None) -> None:
    for value in values:
        if value is not None and not isinstance(value, Decimal):
            raise TypeError(f"meter values must be Decimal, got {type(value).__name__}")


def check_value(value: Decimal, previous: Decimal | None, max_monthly_delta: Decimal | None) -> ValueCheck:
    """OK / EQUAL / BELOW_PREVIOUS / JUMP (consumption strictly above max_monthly_delta)."""
    _require_decimal(value, previous, max_monthly_delta)
    if previous is None:
        return ValueCheck.OK
    if value == previous:
        return ValueCheck.EQUAL
    if value < previous:
        return ValueCheck.BELOW_PREVIOUS
    if max_monthly_delta is not None and value - previous > max_monthly_delta:
        return ValueCheck.JUMP
    return ValueCheck.OK


def consumption(value: Decimal, previous: Decimal | None) -> Decimal | None:
    """value - previous; None when there is no previous value or the value is below it (unknown)."""
    _require_decimal(value, previous)
    if previous is None or value < previous:
        return None
    return value - previous
