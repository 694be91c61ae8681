"""Parsers of the values of one column type (amounts, meter values, dates, periods, texts, choices,
flags, precisions, providers, account numbers), shared by the kinds' row parsers.

One parser factory per column type: ``factory(column, ...)`` returns ``parse(stripped_raw)``,
which returns the value (None for an empty value where ``optional``) or raises Rejected with the
reason. A parser runs for every field of every record: the common case first, in as few steps as
it can.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from domain.text import normalize_account_number

DEFAULT_PRECISION = 3
MAX_PRECISION = 6
MONEY_PLACES = 2
# Money is Numeric(14, 2): 12 digits before the point. Meter values are Numeric(15, 6): 9 digits
# before the point, so that every value has at most 15 significant digits and survives SQLite's
# floating-point storage of NUMERIC exactly.
MAX_INTEGER_DIGITS = 12
MAX_METER_INTEGER_DIGITS = 9

_CENT = Decimal("0.01")


class Rejected(Exception):
    """A value (or a whole row) is not acceptable; the message is the reason shown to the user."""


# ---------------------------------------------------------------------------------------------
# One parser factory per column type: ``factory(column, ...)`` returns ``parse(stripped_raw)``,
# which returns the value (None for an empty value where ``optional``) or raises Rejected with
# the reason. A parser runs for every field of every record: the common case first, in as few
# steps as it can.

Parse = Callable[[str], Any]

_SIMPLE_NUMBER = re.compile(r"(?:-(?=[0-9.]*[1-9]))?(?:[1-9][0-9]{0,11}|0)(?:\.([0-9]+))?")
# The common cases as _decimal takes them, size and places included: parsed by Decimal as they are.
_PLAIN_MONEY = re.compile(r"(?:-(?=[0-9.]*[1-9]))?(?:[1-9][0-9]{0,11}|0)(?:\.[0-9]{1,2})?")
_PLAIN_METER_VALUE = re.compile(r"(?:[1-9][0-9]{0,8}|0)(?:\.([0-9]{1,6}))?")
_NUMBER = re.compile(r"([+-]?)([0-9]{1,3}(?:[ \u00a0\u2009\u202f][0-9]{3})+|[0-9]+)(?:[.,]([0-9]+))?")
_GROUP_SEPARATORS = re.compile(r"[ \u00a0\u2009\u202f]")
_DOTTED_DATE = re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})")
_PERIOD = re.compile(r"([0-9]{4})-([0-9]{2})")
# Lone surrogates are what undecodable bytes turn into (errors="surrogateescape").
_SURROGATES = re.compile("[\udc80-\udcff]")
_PLAIN_ACCOUNT = re.compile(r"(?=[0-9A-Za-z]{3,32}\Z)[A-Za-z]*[0-9][0-9A-Za-z]*")
_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False, "": False}
_PRECISIONS = {str(places): places for places in range(MAX_PRECISION + 1)}

ANY = "any"
NON_NEGATIVE = "non-negative"
POSITIVE = "positive"


def _show(raw: str) -> str:
    """The value as quoted in a reason, shortened when it is long."""
    return repr(raw if len(raw) <= 40 else raw[:37] + "...")


def _empty(column: str) -> Rejected:
    return Rejected(f"{column}: required, but empty")


def _decimal(
    column: str, raw: str, places: int, sign: str, what: str, max_digits: int = MAX_INTEGER_DIGITS
) -> Decimal:
    simple = _SIMPLE_NUMBER.fullmatch(raw)  # '1234.5', '-150': parsed as is
    fits = simple is not None and len(raw.partition(".")[0].lstrip("-")) <= max_digits
    if fits and (simple[1] is None or len(simple[1]) <= places):  # type: ignore[index]
        value = Decimal(raw)
    else:
        value = _spelled_decimal(column, raw, places, what, max_digits)
    if sign != ANY and value <= 0:
        if value < 0:
            raise Rejected(f"{column}: {_show(raw)} must not be negative")
        if sign == POSITIVE:
            raise Rejected(f"{column}: {_show(raw)} must be greater than zero")
    return value


def _spelled_decimal(column: str, raw: str, places: int, what: str, max_digits: int) -> Decimal:
    """'+1 234,50', '007', '-0' and everything wrong: separators, sign, size and places checked."""
    if not raw:
        raise _empty(column)
    match = _NUMBER.fullmatch(raw)
    if match is None:
        raise Rejected(f"{column}: {_show(raw)} is not {what}")
    minus, integer, fraction = match.groups()
    fraction = fraction or ""
    if len(fraction) > places:
        raise Rejected(f"{column}: {_show(raw)} has more than {places} decimal places")
    integer = _GROUP_SEPARATORS.sub("", integer).lstrip("0") or "0"
    if len(integer) > max_digits:
        raise Rejected(f"{column}: {_show(raw)} is too large (at most {max_digits} digits before the point)")
    value = Decimal(f"{minus}{integer}.{fraction or '0'}")
    return abs(value) if value == 0 else value  # no negative zero


def money(column: str, sign: str = ANY, optional: bool = False) -> Parse:
    def parse(raw: str) -> Decimal | None:
        if _PLAIN_MONEY.fullmatch(raw):  # the common case, as _decimal takes it
            value = Decimal(raw).quantize(_CENT)
            if sign == ANY or value > 0:
                return value
        if optional and not raw:
            return None
        return _decimal(column, raw, MONEY_PLACES, sign, "an amount").quantize(_CENT)

    return parse


def meter_value(column: str, places: int, sign: str = NON_NEGATIVE, optional: bool = False) -> Parse:
    def parse(raw: str) -> Decimal | None:
        plain = _PLAIN_METER_VALUE.fullmatch(raw)  # the common case, as _decimal takes it
        if plain and (plain[1] is None or len(plain[1]) <= places):
            value = Decimal(raw)
            if sign == NON_NEGATIVE or value > 0:
                return value
        if optional and not raw:
            return None
        return _decimal(column, raw, places, sign, "a number", MAX_METER_INTEGER_DIGITS)

    return parse


def date_value(column: str, optional: bool = False) -> Parse:
    def parse(raw: str) -> date | None:
        if len(raw) == 10 and raw[4] == "-" and raw[7] == "-" and raw.isascii():
            try:  # the common case; only YYYY-MM-DD has these dashes and length
                return date.fromisoformat(raw)
            except ValueError:
                pass
        else:
            if not raw:
                if optional:
                    return None
                raise _empty(column)
            dotted = _DOTTED_DATE.fullmatch(raw)
            try:
                if dotted:
                    return date(int(dotted[3]), int(dotted[2]), int(dotted[1]))
            except ValueError:
                pass
        raise Rejected(f"{column}: {_show(raw)} is not a date (use YYYY-MM-DD or DD.MM.YYYY)")

    return parse


def period(column: str) -> Parse:
    def parse(raw: str) -> str:
        if not raw:
            raise _empty(column)
        match = _PERIOD.fullmatch(raw)
        if match is None or not 1 <= int(match[2]) <= 12:
            raise Rejected(f"{column}: {_show(raw)} is not a billing period (use YYYY-MM)")
        return raw

    return parse


def text(column: str, max_length: int, required: bool = True) -> Parse:
    def parse(raw: str) -> str:
        if not raw and required:
            raise _empty(column)
        if "\x00" in raw or (not raw.isascii() and _SURROGATES.search(raw)):  # PostgreSQL refuses NUL
            raise Rejected(f"{column}: {_show(raw)} contains bytes that are not valid UTF-8 text")
        if len(raw) > max_length:
            raise Rejected(f"{column}: {len(raw)} characters, at most {max_length} allowed")
        return raw

    return parse


def choice(column: str, choices: Sequence[str]) -> Parse:
    allowed = frozenset(choices)
    listed = ", ".join(repr(choice) for choice in choices)

    def parse(raw: str) -> str:
        value = raw.lower()
        if value not in allowed:
            if not raw:
                raise _empty(column)
            raise Rejected(f"{column}: {_show(raw)} is not one of {listed}")
        return value

    return parse


def flag(column: str) -> Parse:
    def parse(raw: str) -> bool:
        value = _FLAGS.get(raw.lower())
        if value is None:
            raise Rejected(f"{column}: {_show(raw)} is not true/false (use true, false, 1, 0, yes or no)")
        return value

    return parse


def precision(column: str) -> Parse:
    def parse(raw: str) -> int:
        precision = _PRECISIONS.get(raw.lstrip("0") or "0") if raw else DEFAULT_PRECISION
        if precision is None:
            raise Rejected(f"{column}: {_show(raw)} is not a whole number from 0 to {MAX_PRECISION}")
        return precision

    return parse


def provider(column: str, providers: frozenset[str]) -> Parse:
    known = ", ".join(sorted(providers))

    def parse(raw: str) -> str:
        if raw not in providers:
            if not raw:
                raise _empty(column)
            raise Rejected(f"{column}: {_show(raw)} is not a configured provider (known: {known})")
        return raw

    return parse


def account_number(column: str) -> Parse:
    def parse(raw: str) -> str:
        if _PLAIN_ACCOUNT.fullmatch(raw):  # the common case, same result as the full normalization
            return raw.upper()
        if not raw:
            raise _empty(column)
        number = normalize_account_number(raw)
        if number is None:
            raise Rejected(f"{column}: {_show(raw)} is not an account number")
        return number

    return parse
