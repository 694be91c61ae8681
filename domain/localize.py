"""Locale-aware formatting with Babel: money with currency, dates, billing periods, moments in a zone."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time
from babel.numbers import format_currency, format_decimal

_LOCALE_TAGS = {"uk": "uk_UA", "ru": "ru_RU", "zh": "zh_Hans_CN", "en": "en_US"}


@lru_cache(maxsize=16)
def babel_locale(locale: str) -> Locale:
    """Our short locale code → the Babel locale used for numbers and dates (parsed once: a
    locale passed by name is parsed on every call, a third of formatting an amount)."""
    return Locale.parse(_LOCALE_TAGS.get(locale, "en_US"))


def format_money(amount: Decimal, currency: str, locale: str) -> str:
    return format_currency(amount, currency, locale=babel_locale(locale))


def format_number(value: Decimal, locale: str) -> str:
    return format_decimal(value, locale=babel_locale(locale), decimal_quantization=False)


def format_day(day: date, locale: str) -> str:
    return format_date(day, format="long", locale=babel_locale(locale))


def format_period(period: str, locale: str) -> str:
    """'2026-10' → 'жовтень 2026' / 'October 2026' / '2026年10月'."""
    year, month = (int(part) for part in period.split("-"))
    return format_skeleton("yMMMM", date(year, month, 1), locale=babel_locale(locale))


def format_short_period(period: str, locale: str) -> str:
    """'2026-10' → 'жовт. 2026 р.' / 'Oct 2026' / '2026年10月' (chart labels)."""
    year, month = (int(part) for part in period.split("-"))
    return format_skeleton("yMMM", date(year, month, 1), locale=babel_locale(locale))


def format_moment(moment: datetime, zone: ZoneInfo, locale: str) -> str:
    """A moment as the resident's wall clock in ``zone`` shows it: '24 лист. 2026 р., 23:42'."""
    local = moment.astimezone(zone)
    tag = babel_locale(locale)
    day = format_skeleton("yMMMd", local.date(), locale=tag)
    return f"{day}, {format_time(local.time(), format='short', locale=tag)}"
