"""Consumption bar chart as a PNG, drawn with Pillow only (no matplotlib).

One panel per meter, one bar per calendar month (up to 12), the value written above each bar and
the latest month in a stronger colour; a month only partly covered by readings (the current one)
is hatched and explained in the panel's legend; a missing value (None) shows a dash on the zero
line. :func:`monthly_consumption` turns a meter's dated readings into those calendar-month
values (readings are taken on any day of the reading window, so the consumption between two
readings is shared among the months it spans, day by day). Period labels are a month line and,
where the year starts or changes, a year line ("Jan\n2026", "1月\n2026年"); lines never wrap.
The image is 1080 px wide with large type so it reads on a phone screen. Every text comes in
already localized; numbers are formatted for ``locale`` with Babel.

Text is set in two font subsets shipped in ``domain/fonts`` (SIL OFL 1.1, see its README):
Noto Sans for Latin, Cyrillic (including Ukrainian і ї є ґ) and symbols such as ₴ № ³, and
Noto Sans CJK SC for the 6,763 hanzi of GB 2312 and CJK punctuation. Each character is drawn
with the first font that has a real glyph for it, so Chinese, Ukrainian, Russian and English
titles render without tofu boxes on a machine with no system fonts.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from itertools import pairwise

from PIL import Image, ImageDraw, ImageFont

FONT_FILES = ("NotoSans-Regular-subset.ttf", "NotoSansCJKsc-Regular-subset.otf")
_MISSING = "\ue000"  # a private-use code point neither font maps: renders as the .notdef box

WIDTH = 1080
MARGIN = 40
PANEL_HEIGHT = 470
MAX_PERIODS = 12

BACKGROUND = (255, 255, 255)
TEXT = (33, 33, 33)
MUTED = (110, 110, 110)
GRID = (225, 225, 225)
AXIS = (150, 150, 150)
# (older periods, latest period) per panel, cycling.
PALETTE = [
    ((144, 186, 230), (25, 104, 190)),
    ((246, 178, 120), (214, 96, 12)),
    ((150, 205, 150), (36, 140, 60)),
    ((196, 166, 222), (112, 60, 170)),
]

Colour = tuple[int, int, int]
# (period label, value or None, partial?) — a plain (label, value) pair is a whole period.
Point = tuple[str, Decimal | None] | tuple[str, Decimal | None, bool]
Series = list[tuple[str, list[Point]]]


def _month_bounds(period: str) -> tuple[date, date]:
    year, month = (int(part) for part in period.split("-"))
    return date(year, month, 1), date(year + month // 12, month % 12 + 1, 1)


def monthly_consumption(
    readings: Sequence[tuple[date, Decimal]], periods: Sequence[str], precision: int
) -> list[tuple[Decimal | None, bool]]:
    """(consumption, partial?) per calendar month 'YYYY-MM' of ``periods`` from a meter's readings.

    A reading is the meter's value on its day (several on one day: the last given counts).
    Between two readings consumption is spread evenly over the days; a month gets the share of
    the days it contains. A month outside the readings is (None, False); one the readings cover
    only in part (the current month, or the month of the first reading) is marked partial; a
    month spanning a drop in value (meter replaced or rolled over) is unknown.
    """
    points = sorted(dict(readings).items())
    step = Decimal(1).scaleb(-precision)
    result: list[tuple[Decimal | None, bool]] = []
    for period in periods:
        start, end = _month_bounds(period)
        low, high = (max(start, points[0][0]), min(end, points[-1][0])) if points else (end, start)
        if high <= low:
            result.append((None, False))
            continue
        total: Decimal | None = Decimal(0)
        for (day1, value1), (day2, value2) in pairwise(points):
            days = (min(day2, high) - max(day1, low)).days
            if days <= 0:
                continue
            if value2 < value1:
                total = None
                break
            total = total + (value2 - value1) * days / (day2 - day1).days  # type: ignore[operator]
        result.append((None, False) if total is None else (total.quantize(step), low > start or high < end))
    return result


@lru_cache(maxsize=64)
def font(size: int, index: int = 0) -> ImageFont.FreeTypeFont:
    """Bundled font ``index`` (0 = Noto Sans, 1 = Noto Sans CJK SC) at ``size`` px."""
    with resources.as_file(resources.files("domain") / "fonts" / FONT_FILES[index]) as path:
        return ImageFont.truetype(str(path), size)


def _signature(index: int, char: str) -> tuple[tuple[int, int, int, int] | None, bytes]:
    mask = font(40, index).getmask(char)
    return mask.getbbox(), bytes(mask)


@lru_cache(maxsize=8192)
def glyph_font(char: str) -> int | None:
    """Index of the first bundled font with a real glyph for ``char`` (not .notdef); None if none."""
    if char.isspace():
        return 0
    for index in range(len(FONT_FILES)):
        if _signature(index, char) != _signature(index, _MISSING):
            return index
    return None


def has_glyph(char: str) -> bool:
    """True when a bundled font draws ``char`` with a real glyph."""
    return glyph_font(char) is not None


def _runs(text: str) -> list[tuple[int, str]]:
    """Split text into runs drawn with one font each (a missing glyph stays with Noto Sans)."""
    runs: list[tuple[int, str]] = []
    for char in text:
        index = glyph_font(char) or 0
        if runs and runs[-1][0] == index:
            runs[-1] = (index, runs[-1][1] + char)
        else:
            runs.append((index, char))
    return runs


def text_width(text: str, size: int) -> float:
    return sum(font(size, index).getlength(run) for index, run in _runs(text))


def draw_text(draw: ImageDraw.ImageDraw, x: float, y: float, text: str, size: int, fill: Colour,
              align: str = "left", valign: str = "top", bold: bool = False) -> None:
    """Draw ``text`` with per-character font fallback; (x, y) is its top-left / top-centre /
    middle-right ... point as chosen by ``align`` (left, centre, right) and ``valign`` (top, middle)."""
    ascent, descent = font(size).getmetrics()
    baseline = y + ascent if valign == "top" else y + (ascent - descent) / 2
    width = text_width(text, size)
    left = x - width / 2 if align == "centre" else x - width if align == "right" else x
    stroke = 1 if bold else 0
    for index, run in _runs(text):
        face = font(size, index)
        draw.text((left, baseline), run, font=face, fill=fill, anchor="ls", stroke_width=stroke,
                  stroke_fill=fill)
        left += face.getlength(run)


def _wrap(text: str, size: int, width: float) -> list[str]:
    """Greedy line breaking: at spaces where there are some, anywhere in CJK text."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for char in paragraph:
            candidate = line + char
            if line and text_width(candidate, size) > width:
                cut = line.rfind(" ")
                if cut > 0:
                    lines.append(line[:cut])
                    line = line[cut + 1 :] + char
                else:
                    lines.append(line)
                    line = char.lstrip()
            else:
                line = candidate
        lines.append(line)
    return lines


def _fit(text: str, width: float, sizes: range) -> tuple[int, list[str]]:
    """The largest size from ``sizes`` at which ``text`` fits ``width`` on one line, else two lines
    at the smallest size (the second cut short with an ellipsis if need be)."""
    for size in sizes:
        if text_width(text, size) <= width:
            return size, [text]
    size = sizes[-1]
    lines = _wrap(text, size, width)
    if len(lines) > 2:
        lines = lines[:2]
        while lines[1] and text_width(lines[1] + "…", size) > width:
            lines[1] = lines[1][:-1]
        lines[1] += "…"
    return size, lines


def _format_number(value: Decimal, locale: str) -> str:
    try:
        from babel.numbers import format_decimal

        return format_decimal(value, format="#,##0.###", locale=locale)
    except Exception:  # unknown locale or Babel missing: plain digits are still readable
        return f"{value.normalize():f}"


def _nice_step(span: float, ticks: int = 4) -> float:
    raw = span / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5):
        if factor * magnitude >= raw:
            return factor * magnitude
    return 10 * magnitude


def _hatch(draw: ImageDraw.ImageDraw, box: Sequence[float], colour: Colour) -> None:
    """A partial month: the bar's outline and diagonal stripes in its colour."""
    left, top, right, bottom = box
    draw.rectangle([left, top, right, bottom], outline=colour, width=3)
    offset = 0.0
    while offset < (right - left) + (bottom - top):
        x1, y1 = left + max(0.0, offset - (bottom - top)), bottom - min(offset, bottom - top)
        x2, y2 = left + min(offset, right - left), bottom - max(0.0, offset - (right - left))
        draw.line([(x1, y1), (x2, y2)], fill=colour, width=3)
        offset += 14


def _period_size(labels: Sequence[str], width: float) -> int:
    """One size for all period labels ("Jan\n2026": a line each), the largest at which every line
    fits ``width``: labels are never wrapped, and neighbours never differ in size."""
    lines = [line for label in labels for line in label.split("\n")]
    for size in range(24, 13, -2):
        if all(text_width(line, size) <= width for line in lines):
            return size
    return 14


def _panel(draw: ImageDraw.ImageDraw, top: int, label: str, points: list[Point], y_label: str,
           locale: str, colours: tuple[Colour, Colour], partial_label: str) -> None:
    bars = [(point[0], point[1], len(point) > 2 and bool(point[2])) for point in points[-MAX_PERIODS:]]
    heading_size, heading_lines = _fit(label, WIDTH - 2 * MARGIN, range(34, 25, -2))
    y = float(top)
    for line in heading_lines:
        draw_text(draw, MARGIN, y, line, heading_size, TEXT, bold=True)
        y += heading_size * 1.3
    draw_text(draw, MARGIN, y, y_label, 24, MUTED)
    if partial_label and any(partial for _, _, partial in bars):
        legend_x = MARGIN + text_width(y_label, 24) + 40
        _hatch(draw, [legend_x, y + 2, legend_x + 26, y + 26], colours[1])
        draw_text(draw, legend_x + 36, y, partial_label, 24, MUTED)
    plot_top = y + 24 * 1.3 + 40  # the unit line, then room for the value above the tallest bar
    plot_bottom = top + PANEL_HEIGHT - 84  # room for two lines of period labels
    tick_size = 22

    values = [float(value) for _, value, _ in bars if value is not None]
    high = max([0.0, *values])
    low = min([0.0, *values])
    if high == low:
        high = low + 1.0
    step = _nice_step(high - low)
    axis_high = math.ceil(high / step - 1e-9) * step
    axis_low = math.floor(low / step + 1e-9) * step
    ticks: list[tuple[float, str]] = []
    for number in range(round((axis_high - axis_low) / step) + 1):
        tick = axis_low + number * step
        ticks.append((tick, _format_number(Decimal(repr(round(tick, 6))), locale)))
    plot_left = MARGIN + max(text_width(text, tick_size) for _, text in ticks) + 14
    plot_right = WIDTH - MARGIN

    def to_y(value: float) -> float:
        return plot_bottom - (value - axis_low) / (axis_high - axis_low) * (plot_bottom - plot_top)

    for tick, text in ticks:
        tick_y = to_y(tick)
        draw.line([(plot_left, tick_y), (plot_right, tick_y)], fill=GRID, width=2)
        draw_text(draw, plot_left - 10, tick_y, text, tick_size, MUTED, align="right", valign="middle")
    zero_y = to_y(0.0)
    draw.line([(plot_left, zero_y), (plot_right, zero_y)], fill=AXIS, width=3)

    slot = (plot_right - plot_left) / max(len(bars), 1)
    bar_width = min(slot * 0.66, 120.0)
    period_size = _period_size([period for period, _, _ in bars], slot - 14)
    for index, (period, value, partial) in enumerate(bars):
        centre = plot_left + slot * (index + 0.5)
        if value is None:
            # no data: a dark dash across the zero line (a zero value is a thin bar with "0" above)
            draw_text(draw, centre, zero_y, "—", 34, TEXT, align="centre", valign="middle", bold=True)
        else:
            bar_y = to_y(float(value))
            box = [centre - bar_width / 2, min(bar_y, zero_y), centre + bar_width / 2, max(bar_y, zero_y)]
            box[1] = min(box[1], box[3] - 3)  # a zero still shows as a thin line
            colour = colours[1] if index == len(bars) - 1 else colours[0]
            if partial:
                _hatch(draw, box, colour)
            else:
                draw.rectangle(box, fill=colour)
            value_size, value_lines = _fit(_format_number(value, locale), slot - 4, range(24, 15, -2))
            if len(value_lines) == 1:
                # above the bar; for a negative value above the zero line, clear of the period labels
                label_y = (box[1] if value >= 0 else zero_y) - value_size * 1.3 - 4
                draw_text(draw, centre, label_y, value_lines[0], value_size, TEXT, align="centre")
        for line_no, line in enumerate(period.split("\n")):
            line_y = plot_bottom + 10 + line_no * period_size * 1.25
            draw_text(draw, centre, line_y, line, period_size, TEXT, align="centre")


def consumption_chart(
    title: str, series: Series, y_label: str, locale: str, partial_label: str = ""
) -> bytes:
    """PNG bar chart of monthly consumption: one panel per meter, one bar per period.

    ``series`` is ``[(meter label, [(period label, value or None[, partial]), ...]), ...]`` with
    periods oldest first; only the last 12 periods are drawn. Labels arrive localized;
    ``partial_label`` explains the hatched bars of partial months in the panel's legend.
    """
    title_size = 44
    title_lines = _wrap(title, title_size, WIDTH - 2 * MARGIN)
    header = MARGIN + round(len(title_lines) * title_size * 1.3) + 28
    panels = series or [("", [])]
    height = header + len(panels) * PANEL_HEIGHT + MARGIN // 2
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    y = float(MARGIN)
    for line in title_lines:
        draw_text(draw, MARGIN, y, line, title_size, TEXT, bold=True)
        y += title_size * 1.3
    for index, (label, points) in enumerate(panels):
        top = header + index * PANEL_HEIGHT
        if index:
            draw.line([(MARGIN, top - 14), (WIDTH - MARGIN, top - 14)], fill=GRID, width=2)
        _panel(draw, top, label, points, y_label, locale, PALETTE[index % len(PALETTE)], partial_label)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
