"""Locale-aware formatting with Babel: money with currency, dates, billing periods, moments in a
zone, lists of names, and sentences joined as each script does (no spaces between Chinese ones)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time
from babel.lists import format_list
from babel.numbers import format_currency, format_decimal, get_currency_symbol

_LOCALE_TAGS = {"uk": "uk_UA", "ru": "ru_RU", "zh": "zh_Hans_CN", "en": "en_US"}


@lru_cache(maxsize=16)
def babel_locale(locale: str) -> Locale:
    """Our short locale code → the Babel locale used for numbers and dates (parsed once: a
    locale passed by name is parsed on every call, a third of formatting an amount)."""
    return Locale.parse(_LOCALE_TAGS.get(locale, "en_US"))


# CLDR currencySpacing (the same in root, uk, ru, zh and en): a currency sign whose side next to
# the digits is neither a symbol nor a space ("UAH", "грн") is set off from them by a no-break
# space. Babel does not apply the rule: it prints "UAH1,520.40".
_CURRENCY_SPACE = "\u00a0"


def _needs_space(char: str) -> bool:
    return unicodedata.category(char)[0] not in "SZ"


def format_money(amount: Decimal, currency: str, locale: str) -> str:
    """'1 520,40 ₴' (uk, ru) / 'UAH 1,520.40' (en, zh; a no-break space, as CLDR asks)."""
    tag = babel_locale(locale)
    text = format_currency(amount, currency, locale=tag)
    symbol = get_currency_symbol(currency, locale=tag)
    start = text.find(symbol)
    if start < 0 or not symbol:
        return text
    end = start + len(symbol)
    if end < len(text) and text[end].isdigit() and _needs_space(symbol[-1]):
        return text[:end] + _CURRENCY_SPACE + text[end:]
    if start > 0 and text[start - 1].isdigit() and _needs_space(symbol[0]):
        return text[:start] + _CURRENCY_SPACE + text[start:]
    return text


def format_names(names: Sequence[str], locale: str) -> str:
    """'A and B' / 'A, B and C' / 'А та Б' / 'А и Б' / 'A和B' / 'A、B和C'."""
    return format_list(list(names), style="standard", locale=babel_locale(locale)) if names else ""


def join_sentences(sentences: Sequence[str], locale: str) -> str:
    """Sentences one after another: with a space, or none after a Chinese full stop '。'."""
    return ("" if locale == "zh" else " ").join(sentence for sentence in sentences if sentence)


def join_clauses(clauses: Sequence[str], locale: str) -> str:
    """Parts of one sentence: 'a, b' / 'a，b' (a full-width comma in Chinese)."""
    return ("，" if locale == "zh" else ", ").join(clause for clause in clauses if clause)


def format_number(value: Decimal, locale: str) -> str:
    return format_decimal(value, locale=babel_locale(locale), decimal_quantization=False)


def format_ungrouped(value: Decimal, locale: str) -> str:
    """'1030' / '1030,5': no thousands separator, so a reading echoed back cannot be misread."""
    return format_decimal(value, format="0.############", locale=babel_locale(locale))


def format_day(day: date, locale: str) -> str:
    return format_date(day, format="long", locale=babel_locale(locale))


def format_period(period: str, locale: str) -> str:
    """'2026-10' → 'жовтень 2026' / 'October 2026' / '2026年10月'."""
    year, month = (int(part) for part in period.split("-"))
    return format_skeleton("yMMMM", date(year, month, 1), locale=babel_locale(locale))


def format_month_labels(periods: Sequence[str], locale: str) -> list[str]:
    """Chart labels of consecutive periods: the month, and under it the year where it starts or
    changes — 'Dec\n2025', 'Jan\n2026', 'Feb' / '12月\n2025年', '1月\n2026年', '2月'."""
    tag = babel_locale(locale)
    labels: list[str] = []
    for index, period in enumerate(periods):
        year, month = (int(part) for part in period.split("-"))
        day = date(year, month, 1)
        label = format_date(day, "LLL", locale=tag)
        if index == 0 or month == 1:
            label += "\n" + format_skeleton("y", day, locale=tag)
        labels.append(label)
    return labels


def format_moment(moment: datetime, zone: ZoneInfo, locale: str) -> str:
    """A moment as the resident's wall clock in ``zone`` shows it: '24 лист. 2026 р., 23:42'."""
    local = moment.astimezone(zone)
    tag = babel_locale(locale)
    day = format_skeleton("yMMMd", local.date(), locale=tag)
    return f"{day}, {format_time(local.time(), format='short', locale=tag)}"
