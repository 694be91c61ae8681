"""The reading window rule (domain/windows.py): wrapping, clamping, periods, far time zones, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.config import ReadingWindow
from domain.windows import (
    WindowIssue,
    WindowSpan,
    current_span,
    due_date_or_default,
    next_span,
    period_of,
    resolve_day,
    shift_period,
    span_for_period,
    window_issues,
    window_status,
    wraps,
)

ZONES = [
    "Europe/Kyiv",
    "Asia/Yakutsk",
    "Asia/Shanghai",
    "Pacific/Kiritimati",  # UTC+14
    "Pacific/Pago_Pago",  # UTC-11
    "America/Santiago",  # DST switches at midnight: some days start at 01:00
    "America/Havana",  # DST switches at midnight too
    "UTC",
]
KYIV = ZoneInfo("Europe/Kyiv")

days = st.one_of(st.integers(-28, -1), st.integers(1, 31))
windows = st.builds(ReadingWindow, from_day=days, to_day=days)
zones = st.sampled_from(ZONES).map(ZoneInfo)
instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31, 23, 59, 59), timezones=st.just(UTC)
)
PROPERTY = settings(max_examples=300, deadline=None)


def w(from_day: int, to_day: int) -> ReadingWindow:
    return ReadingWindow(from_day=from_day, to_day=to_day)


def ts(moment: datetime) -> float:
    """Compare instants by timestamp: datetimes sharing a tzinfo compare by wall clock."""
    return moment.timestamp()


def spans_around(window: ReadingWindow, local: date, tz: ZoneInfo) -> list[WindowSpan]:
    here = period_of(local)
    return [span_for_period(window, shift_period(here, k), tz) for k in range(-2, 3)]


# --- properties -----------------------------------------------------------------------------


@PROPERTY
@given(windows, instants, zones)
def test_open_iff_local_date_in_some_span(window: ReadingWindow, now: datetime, tz: ZoneInfo) -> None:
    local = now.astimezone(tz).date()
    containing = [s for s in spans_around(window, local, tz) if s.opens <= local <= s.closes]
    assert len(containing) <= 1
    assert current_span(window, now, tz) == (containing[0] if containing else None)


@PROPERTY
@given(windows, instants, zones)
def test_open_span_contains_now(window: ReadingWindow, now: datetime, tz: ZoneInfo) -> None:
    span = current_span(window, now, tz)
    if span is not None:
        assert ts(span.opens_at) <= ts(now) < ts(span.closes_at)
        assert span.period == period_of(span.opens)
    # and the converse by instants: inside [opens_at, closes_at) of a nearby span means open
    local = now.astimezone(tz).date()
    for candidate in spans_around(window, local, tz):
        if ts(candidate.opens_at) <= ts(now) < ts(candidate.closes_at):
            assert span == candidate


@PROPERTY
@given(windows, instants, zones)
def test_next_span_is_the_first_opening_after_now(window: ReadingWindow, now: datetime, tz: ZoneInfo) -> None:
    upcoming = next_span(window, now, tz)
    assert ts(upcoming.opens_at) > ts(now)
    local = now.astimezone(tz).date()
    for span in spans_around(window, local, tz):
        if ts(span.opens_at) > ts(now):
            assert ts(span.opens_at) >= ts(upcoming.opens_at)
    assert window_status(window, now, tz) == (current_span(window, now, tz), upcoming)


@PROPERTY
@given(windows, instants, zones)
def test_open_matches_day_of_month_rule(window: ReadingWindow, now: datetime, tz: ZoneInfo) -> None:
    """Independent statement of the rule for windows that need no shortening or shrinking."""
    if window_issues(window):
        return
    local = now.astimezone(tz).date()
    start = resolve_day(window.from_day, local.year, local.month)
    end = resolve_day(window.to_day, local.year, local.month)
    expected = (local >= start or local <= end) if wraps(window) else start <= local <= end
    span = current_span(window, now, tz)
    assert (span is not None) is expected
    if span is not None:
        owner = local if local >= start else (local.replace(day=1) - timedelta(days=1))
        assert span.period == period_of(owner)


@PROPERTY
@given(windows, st.integers(2019, 2031), st.integers(1, 12), zones)
def test_consecutive_spans_are_ordered_and_disjoint(
    window: ReadingWindow, year: int, month: int, tz: ZoneInfo
) -> None:
    period = f"{year:04d}-{month:02d}"
    this, following = (
        span_for_period(window, period, tz),
        span_for_period(window, shift_period(period, 1), tz),
    )
    assert this.opens <= this.closes < following.opens <= following.closes
    assert ts(this.opens_at) < ts(this.closes_at) <= ts(following.opens_at) < ts(following.closes_at)


@PROPERTY
@given(windows, st.integers(2019, 2031), st.integers(1, 12), zones)
def test_spans_are_valid_dates_of_their_months(
    window: ReadingWindow, year: int, month: int, tz: ZoneInfo
) -> None:
    period = f"{year:04d}-{month:02d}"
    span = span_for_period(window, period, tz)
    assert period_of(span.opens) == period
    assert period_of(span.closes) in (period, shift_period(period, 1) if wraps(window) else period)
    # midnight boundaries, provider-local: first instants of opens and of the day after closes
    for moment, day in ((span.opens_at, span.opens), (span.closes_at, span.closes + timedelta(days=1))):
        assert moment.tzinfo is tz
        assert moment.date() == day
        second_before = moment.astimezone(UTC) - timedelta(seconds=1)
        assert second_before.astimezone(tz).date() == day - timedelta(days=1)
        assert moment.time().minute == 0 and moment.time().second == 0


@PROPERTY
@given(windows)
def test_unclamped_non_degenerate_window_matches_config(window: ReadingWindow) -> None:
    span = span_for_period(window, "2025-01", UTC)  # January and February: 31 and 28 days
    if window.from_day > 0:
        assert span.opens.day == window.from_day
    else:
        assert span.opens.day == 32 + window.from_day
    if not window_issues(window) and window.to_day > 0 and not wraps(window):
        assert span.closes.day == window.to_day


# --- examples -------------------------------------------------------------------------------


def test_far_east_is_already_on_the_20th() -> None:
    # 21:30 UTC on the 19th: 06:30 on the 20th in Yakutsk (UTC+9), 23:30 on the 19th in Kyiv (UTC+2)
    now = datetime(2026, 11, 19, 21, 30, tzinfo=UTC)
    window = w(20, 25)
    yakutsk = current_span(window, now, ZoneInfo("Asia/Yakutsk"))
    assert yakutsk is not None
    assert (yakutsk.period, yakutsk.opens, yakutsk.closes) == (
        "2026-11",
        date(2026, 11, 20),
        date(2026, 11, 25),
    )
    current, upcoming = window_status(window, now, KYIV)
    assert current is None
    assert upcoming.opens == date(2026, 11, 20)
    assert upcoming.opens_at == datetime(2026, 11, 20, tzinfo=KYIV)
    assert upcoming.opens_at.utcoffset() == timedelta(hours=2)
    # at 23:30 UTC it is 01:30 on the 20th in Kyiv as well: open there too
    assert current_span(window, datetime(2026, 11, 19, 23, 30, tzinfo=UTC), KYIV) is not None
    # ... but not in Pago Pago (12:30 on the 19th), whose next opening is its own 20th
    pago = ZoneInfo("Pacific/Pago_Pago")
    assert window_status(window, now, pago)[0] is None
    assert next_span(window, now, pago).opens_at.astimezone(UTC) == datetime(2026, 11, 20, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "utc_hour", "is_open"),
    [
        ("Asia/Shanghai", 15, False),  # 23:00 on the 19th
        ("Asia/Shanghai", 16, True),  # 00:00 on the 20th
        ("Pacific/Kiritimati", 9, False),  # 23:00 on the 19th (UTC+14)
        ("Pacific/Kiritimati", 10, True),
        ("Pacific/Pago_Pago", 10, False),  # 23:00 on the 19th (UTC-11), i.e. 10:00 UTC on the 20th
        ("Pacific/Pago_Pago", 11, True),
    ],
)
def test_boundary_hour_in_far_zones(zone: str, utc_hour: int, is_open: bool) -> None:
    day = 19 if zone != "Pacific/Pago_Pago" else 20
    now = datetime(2026, 11, day, utc_hour, tzinfo=UTC)
    assert (current_span(w(20, 25), now, ZoneInfo(zone)) is not None) is is_open


def test_closes_at_end_of_last_day() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    span = span_for_period(w(20, 25), "2026-11", tz)
    assert span.closes_at == datetime(2026, 11, 26, tzinfo=tz)
    assert current_span(w(20, 25), datetime(2026, 11, 25, 23, 59, 59, tzinfo=tz), tz) == span
    assert current_span(w(20, 25), datetime(2026, 11, 26, tzinfo=tz), tz) is None


@pytest.mark.parametrize(
    ("today", "period", "opens", "closes"),
    [
        (date(2024, 2, 28), "2024-02", date(2024, 2, 28), date(2024, 3, 3)),  # leap: Feb 28-29
        (date(2024, 2, 29), "2024-02", date(2024, 2, 28), date(2024, 3, 3)),
        (date(2025, 2, 27), "2025-02", date(2025, 2, 27), date(2025, 3, 3)),  # common year: Feb 27-28
        (date(2026, 3, 2), "2026-02", date(2026, 2, 27), date(2026, 3, 3)),
        (date(2026, 3, 3), "2026-02", date(2026, 2, 27), date(2026, 3, 3)),
        (date(2026, 12, 31), "2026-12", date(2026, 12, 30), date(2027, 1, 3)),
    ],
)
def test_wrapping_window_open(today: date, period: str, opens: date, closes: date) -> None:
    now = datetime(today.year, today.month, today.day, 12, tzinfo=KYIV)
    span = current_span(w(-2, 3), now, KYIV)
    assert span is not None
    assert (span.period, span.opens, span.closes) == (period, opens, closes)


def test_wrapping_window_closed_names_next_opening() -> None:
    now = datetime(2026, 3, 4, 0, 0, tzinfo=KYIV)
    current, upcoming = window_status(w(-2, 3), now, KYIV)
    assert current is None
    assert (upcoming.period, upcoming.opens, upcoming.closes) == (
        "2026-03",
        date(2026, 3, 30),
        date(2026, 4, 3),
    )
    # the last second before: still open for February
    before = current_span(w(-2, 3), now - timedelta(seconds=1), KYIV)
    assert before is not None and before.period == "2026-02"


def test_leap_day_window_before_open() -> None:
    # 2024-02-27 is the day before the -2 day of a leap February
    current, upcoming = window_status(w(-2, 3), datetime(2024, 2, 27, 12, tzinfo=KYIV), KYIV)
    assert current is None
    assert upcoming.opens == date(2024, 2, 28)


def test_positive_wrap_25_to_1() -> None:
    span = span_for_period(w(25, 1), "2026-01", KYIV)
    assert (span.opens, span.closes) == (date(2026, 1, 25), date(2026, 2, 1))
    inside = current_span(w(25, 1), datetime(2026, 2, 1, 23, tzinfo=KYIV), KYIV)
    assert inside is not None and inside.period == "2026-01"
    assert current_span(w(25, 1), datetime(2026, 2, 2, tzinfo=KYIV), KYIV) is None


@pytest.mark.parametrize(
    ("period", "opens"),
    [("2025-02", date(2025, 2, 28)), ("2024-02", date(2024, 2, 29)), ("2026-04", date(2026, 4, 30))],
)
def test_from_day_31_clamps(period: str, opens: date) -> None:
    span = span_for_period(w(31, 31), period, KYIV)
    assert span.opens == span.closes == opens


def test_negative_31_style_clamp_to_first_day() -> None:
    assert resolve_day(-31, 2026, 2) == date(2026, 2, 1)
    assert resolve_day(-31, 2026, 4) == date(2026, 4, 1)
    assert resolve_day(-28, 2026, 2) == date(2026, 2, 1)
    assert resolve_day(-28, 2024, 2) == date(2024, 2, 2)
    with pytest.raises(ValueError):
        resolve_day(0, 2026, 2)


def test_20_to_last_day_does_not_wrap() -> None:
    window = w(20, -1)
    assert not wraps(window)
    span = span_for_period(window, "2025-02", KYIV)
    assert (span.opens, span.closes) == (date(2025, 2, 20), date(2025, 2, 28))
    assert current_span(window, datetime(2025, 3, 1, tzinfo=KYIV), KYIV) is None
    assert next_span(window, datetime(2025, 3, 1, tzinfo=KYIV), KYIV).opens == date(2025, 3, 20)


def test_last_week_does_not_wrap() -> None:
    window = w(-7, -1)
    assert not wraps(window)
    span = span_for_period(window, "2024-02", KYIV)
    assert (span.opens, span.closes) == (date(2024, 2, 23), date(2024, 2, 29))


def test_wrap_across_year_end() -> None:
    window = w(-7, 1)
    span = current_span(window, datetime(2027, 1, 1, 22, tzinfo=UTC), KYIV)  # 00:00 on Jan 2 in Kyiv
    assert span is None
    span = current_span(window, datetime(2027, 1, 1, 21, 59, tzinfo=UTC), KYIV)
    assert span is not None
    assert (span.period, span.opens, span.closes) == ("2026-12", date(2026, 12, 25), date(2027, 1, 1))
    assert span.closes_at == datetime(2027, 1, 2, tzinfo=KYIV)
    assert next_span(window, datetime(2027, 1, 2, tzinfo=KYIV), KYIV).opens == date(2027, 1, 25)


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        (w(-2, 3), True),
        (w(25, 1), True),
        (w(-1, -7), True),
        (w(20, 25), False),
        (w(-7, -1), False),
        (w(20, -1), False),
        (w(28, -3), False),
        (w(5, 5), False),
        (w(-3, -3), False),
    ],
)
def test_wrap_rule(window: ReadingWindow, expected: bool) -> None:
    assert wraps(window) is expected


def test_both_negative_reversed_wraps() -> None:
    span = span_for_period(w(-1, -7), "2025-01", KYIV)
    assert (span.opens, span.closes) == (date(2025, 1, 31), date(2025, 2, 22))


@pytest.mark.parametrize(
    ("transition_day", "offset_before", "offset_after"),
    [(date(2026, 3, 29), 2, 3), (date(2026, 10, 25), 3, 2)],
)
def test_dst_transition_days_keep_midnight_boundaries(
    transition_day: date, offset_before: int, offset_after: int
) -> None:
    window = w(transition_day.day, transition_day.day)
    span = span_for_period(window, period_of(transition_day), KYIV)
    assert (span.opens_at.hour, span.opens_at.minute) == (0, 0)
    assert (span.closes_at.hour, span.closes_at.minute) == (0, 0)
    assert span.opens_at.utcoffset() == timedelta(hours=offset_before)
    assert span.closes_at.utcoffset() == timedelta(hours=offset_after)
    # the DST day is 23 or 25 hours long, and the window covers all of it
    hours = 24 - offset_after + offset_before
    assert span.closes_at.timestamp() - span.opens_at.timestamp() == hours * 3600
    first, last = span.opens_at.astimezone(UTC), span.closes_at.astimezone(UTC) - timedelta(seconds=1)
    assert current_span(window, first, KYIV) == span
    assert current_span(window, last, KYIV) == span
    assert current_span(window, first - timedelta(seconds=1), KYIV) is None
    assert current_span(window, last + timedelta(seconds=1), KYIV) is None


def test_dst_across_a_wrapping_window() -> None:
    # -3..3 over the last Sunday of March (2026-03-29): opens 29th 00:00 EET, closes 3 April 24:00 EEST
    span = span_for_period(w(-3, 3), "2026-03", KYIV)
    assert span.opens_at.astimezone(UTC) == datetime(2026, 3, 28, 22, tzinfo=UTC)
    assert span.closes_at.astimezone(UTC) == datetime(2026, 4, 3, 21, tzinfo=UTC)


def test_midnight_skipped_by_dst_starts_at_one() -> None:
    # Chile springs forward at 24:00 on Saturday 2026-09-05: Sunday the 6th starts at 01:00
    santiago = ZoneInfo("America/Santiago")
    span = span_for_period(w(6, 6), "2026-09", santiago)
    assert (span.opens_at.hour, span.opens_at.day) == (1, 6)
    just_before = span.opens_at.astimezone(UTC) - timedelta(microseconds=1)
    assert just_before.astimezone(santiago).isoformat() == "2026-09-05T23:59:59.999999-04:00"
    assert current_span(w(6, 6), just_before, santiago) is None
    assert current_span(w(6, 6), span.opens_at, santiago) == span


@pytest.mark.parametrize(
    ("window", "issues"),
    [
        (w(20, 25), frozenset()),
        (w(-2, 3), frozenset()),
        (w(25, 24), frozenset()),
        (w(31, 30), {WindowIssue.SHORTENED}),  # January's span would reach Feb 28, February's opening
        (w(-2, 28), {WindowIssue.SHORTENED}),
        (w(28, -3), {WindowIssue.INVERTED}),  # 28th .. 26th in a 28-day February
        (w(-1, -7), frozenset()),
    ],
)
def test_window_issues(window: ReadingWindow, issues: frozenset[WindowIssue]) -> None:
    assert window_issues(window) == issues


def test_degenerate_windows_resolve_without_overlap() -> None:
    january = span_for_period(w(31, 30), "2025-01", KYIV)
    february = span_for_period(w(31, 30), "2025-02", KYIV)
    assert (january.opens, january.closes) == (date(2025, 1, 31), date(2025, 2, 27))
    assert (february.opens, february.closes) == (date(2025, 2, 28), date(2025, 3, 30))
    inverted = span_for_period(w(28, -3), "2025-02", KYIV)
    assert inverted.opens == inverted.closes == date(2025, 2, 28)


def test_periods() -> None:
    assert period_of(date(2026, 1, 5)) == "2026-01"
    assert shift_period("2026-12", 1) == "2027-01"
    assert shift_period("2026-01", -1) == "2025-12"
    assert shift_period("2026-05", -17) == "2024-12"
    assert shift_period("2026-05", 0) == "2026-05"
    for bad in ("2026-13", "2026-1", "26-01", "2026-00", " 2026-01"):
        with pytest.raises(ValueError):
            shift_period(bad, 1)


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError):
        current_span(w(20, 25), datetime(2026, 11, 20, 12), KYIV)
    with pytest.raises(ValueError):
        next_span(w(20, 25), datetime(2026, 11, 20, 12), KYIV)


def test_the_default_due_date_is_the_next_payment_due_day():

    assert due_date_or_default(date(2026, 12, 3), 15, date(2026, 12, 20)) == date(2026, 12, 3)  # billing wins
    assert due_date_or_default(None, 15, date(2026, 12, 10)) == date(2026, 12, 15)
    assert due_date_or_default(None, 15, date(2026, 12, 15)) == date(2026, 12, 15)
    assert due_date_or_default(None, 15, date(2026, 12, 16)) == date(2027, 1, 15)
    assert due_date_or_default(None, 31, date(2027, 2, 3)) == date(2027, 2, 28)  # a short month
