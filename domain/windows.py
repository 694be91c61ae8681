"""The monthly meter-reading window: when a provider accepts readings, and for which month.

A provider's ``reading_window = {from_day, to_day}`` is evaluated on the calendar of the
provider's time zone (``ProviderConfig.tz``), never on the server's or the resident's.

Rules (each one is tested in tests/test_windows.py):

* **Days.** 1..31 count from the month start; -1 is the last day of the month, -2 the day
  before, and so on. 0 is rejected by the config.
* **Clamping.** A day that does not exist in a month clamps into it: from_day=31 in
  February is Feb 28 (Feb 29 in a leap year); -31 in a 30-day month is the 1st.
* **Wrapping.** A window wraps the month end when its from-day comes after its to-day:
  ``wraps = (from_day < 0 < to_day) or (same sign and from_day > to_day)``.
  Examples: -2..3, 25..1, -1..-7 wrap; 20..25, -7..-1, 20..-1 (20th through the last day)
  do not. A window with from_day > 0 > to_day never wraps.
* **Period.** The readings of a span belong to the month the span opens in: a wrapping
  window opens on from_day of month M, closes on to_day of month M+1, and is period M
  (the month that is ending). A non-wrapping window lies inside its month.
* **Whole days.** A span runs from 00:00 provider-local of ``opens`` up to 24:00 of
  ``closes`` (``closes_at`` = the first instant of the following day). Whether "now" is
  inside is decided on the provider-local calendar date, so DST changes (even at
  midnight) cannot shift a boundary.
* **Degenerate configs** (tolerated, reported by :func:`window_issues`):
  - a wrapping window so long that, after clamping, it would reach the next period's
    opening day is cut to close the day before it (31..30 in January closes Feb 27, since
    the February span opens Feb 28): spans of consecutive periods never overlap;
  - a non-wrapping window whose to-day resolves before its from-day in short months
    (28..-3 in a 28-day February) shrinks to its opening day; a span is never empty.

All functions are pure. ``now`` must be timezone-aware (any zone); naive datetimes raise
ValueError. ``opens_at``/``closes_at`` are aware datetimes in the provider zone,
normalized to real wall-clock times (on a day whose midnight is skipped by DST the first
instant reads 01:00). Compare them with instants in another zone or by timestamp: Python
compares two datetimes sharing one tzinfo by wall clock.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from domain.config import ReadingWindow

_PERIOD = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class WindowSpan:
    """One opening of the reading window."""

    period: str  # "YYYY-MM": the month the readings belong to (the month the span opens in)
    opens: date  # first day, provider-local
    closes: date  # last day (inclusive), provider-local
    opens_at: datetime  # aware, provider tz: the first instant of ``opens``
    closes_at: datetime  # aware, provider tz: the first instant of the day after ``closes``


class WindowIssue(Enum):
    """Why a configured window does not behave as written in some months."""

    SHORTENED = "shortened"  # wrapping window longer than a month: closes before the next opening
    INVERTED = "inverted"  # to-day before from-day in short months: shrinks to the opening day


def parse_period(period: str) -> tuple[int, int]:
    """'2026-02' → (2026, 2); ValueError for anything else."""
    match = _PERIOD.fullmatch(period)
    if match is None or int(match.group(1)) < 1:
        raise ValueError(f"period must be 'YYYY-MM', got {period!r}")
    return int(match.group(1)), int(match.group(2))


def period_of(d: date) -> str:
    """The period ('YYYY-MM') of a calendar date."""
    return f"{d.year:04d}-{d.month:02d}"


def shift_period(period: str, months: int) -> str:
    """'2026-12' + 1 → '2027-01'; months may be negative."""
    year, month = parse_period(period)
    new_year, month_index = divmod(year * 12 + month - 1 + months, 12)
    if not 1 <= new_year <= 9999:
        raise ValueError(f"period out of range: {period!r} shifted by {months}")
    return f"{new_year:04d}-{month_index + 1:02d}"


def resolve_day(day: int, year: int, month: int) -> date:
    """A configured day (1..31 or -1..-31) as a date of the given month, clamped into it."""
    if day == 0:
        raise ValueError("day 0 does not exist; use 1..31 or negative days from the month end")
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day, last) if day > 0 else max(last + 1 + day, 1))


def wraps(window: ReadingWindow) -> bool:
    """True when the window runs from month M into month M+1 (see the module docstring)."""
    start, end = window.from_day, window.to_day
    if start < 0 < end:
        return True
    if (start > 0) == (end > 0):
        return start > end
    return False  # from_day > 0 > to_day, e.g. 20..-1: the 20th through the last day


def _first_instant(day: date, tz: ZoneInfo) -> datetime:
    # fold=0 midnight is the first instant of the day even when DST skips or repeats 00:00;
    # the round trip through UTC turns a skipped 00:00 into the wall time that really exists.
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC).astimezone(tz)


def _bounds(window: ReadingWindow, year: int, month: int) -> tuple[date, date, WindowIssue | None]:
    opens = resolve_day(window.from_day, year, month)
    if wraps(window):
        next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
        closes = resolve_day(window.to_day, next_year, next_month)
        next_opens = resolve_day(window.from_day, next_year, next_month)
        if closes >= next_opens:
            return opens, next_opens - _ONE_DAY, WindowIssue.SHORTENED
        return opens, closes, None
    closes = resolve_day(window.to_day, year, month)
    if closes < opens:
        return opens, opens, WindowIssue.INVERTED
    return opens, closes, None


def span_for_period(window: ReadingWindow, period: str, tz: ZoneInfo) -> WindowSpan:
    """The span in which readings for ``period`` ('YYYY-MM') are accepted."""
    year, month = parse_period(period)
    opens, closes, _ = _bounds(window, year, month)
    return WindowSpan(
        period=period,
        opens=opens,
        closes=closes,
        opens_at=_first_instant(opens, tz),
        closes_at=_first_instant(closes + _ONE_DAY, tz),
    )


def _local_date(now: datetime, tz: ZoneInfo) -> date:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now.astimezone(tz).date()


def current_span(window: ReadingWindow, now: datetime, tz: ZoneInfo) -> WindowSpan | None:
    """The span open at ``now`` (its provider-local date within opens..closes), else None."""
    today = _local_date(now, tz)
    this_period = period_of(today)
    # Only this month's span or a wrapping span of last month can contain today.
    for period in (shift_period(this_period, -1), this_period):
        span = span_for_period(window, period, tz)
        if span.opens <= today <= span.closes:
            return span
    return None


def next_span(window: ReadingWindow, now: datetime, tz: ZoneInfo) -> WindowSpan:
    """The first span opening strictly after ``now`` (opens_at > now), whether or not one is open."""
    today = _local_date(now, tz)
    span = span_for_period(window, period_of(today), tz)
    if span.opens > today:
        return span
    return span_for_period(window, shift_period(span.period, 1), tz)


def window_status(window: ReadingWindow, now: datetime, tz: ZoneInfo) -> tuple[WindowSpan | None, WindowSpan]:
    """(the span open now or None, the next span to open after now)."""
    return current_span(window, now, tz), next_span(window, now, tz)


def window_issues(window: ReadingWindow) -> frozenset[WindowIssue]:
    """Months in which the window cannot be applied as written (for config warnings).

    Two consecutive years, one of them leap, contain every pair of month lengths.
    """
    issues = set()
    for year in (2023, 2024):
        for month in range(1, 13):
            issue = _bounds(window, year, month)[2]
            if issue is not None:
                issues.add(issue)
    return frozenset(issues)


def default_due_date(due_day: int, year: int, month: int) -> date:
    """The provider's ``payment_due_day`` in that month (the month's last day when it is shorter)."""
    return date(year, month, min(due_day, calendar.monthrange(year, month)[1]))


def due_date_or_default(due: date | None, due_day: int, today: date) -> date:
    """The billing data's due date; without one, the provider's ``payment_due_day`` on or after
    ``today`` (this month's, or next month's once it has passed)."""
    if due is not None:
        return due
    this_month = default_due_date(due_day, today.year, today.month)
    if this_month >= today:
        return this_month
    year, month = (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
    return default_due_date(due_day, year, month)
