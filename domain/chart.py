"""Consumption bar chart as a PNG, drawn with Pillow only (no matplotlib).

One panel per meter, one bar per period (up to 12), the value written above each bar and the
latest period in a stronger colour; a missing value (None) shows a dash instead of a bar.
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
from decimal import Decimal
from functools import lru_cache
from importlib import resources

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
Series = list[tuple[str, list[tuple[str, Decimal | None]]]]


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


def _panel(draw: ImageDraw.ImageDraw, top: int, label: str, points: list[tuple[str, Decimal | None]],
           y_label: str, locale: str, colours: tuple[Colour, Colour]) -> None:
    points = points[-MAX_PERIODS:]
    heading_size, heading_lines = _fit(label, WIDTH - 2 * MARGIN, range(34, 25, -2))
    y = float(top)
    for line in heading_lines:
        draw_text(draw, MARGIN, y, line, heading_size, TEXT, bold=True)
        y += heading_size * 1.3
    draw_text(draw, MARGIN, y, y_label, 24, MUTED)
    plot_top = y + 24 * 1.3 + 40  # the unit line, then room for the value above the tallest bar
    plot_bottom = top + PANEL_HEIGHT - 84  # room for two lines of period labels
    tick_size = 22

    values = [float(value) for _, value in points if value is not None]
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

    slot = (plot_right - plot_left) / max(len(points), 1)
    bar_width = min(slot * 0.66, 120.0)
    for index, (period, value) in enumerate(points):
        centre = plot_left + slot * (index + 0.5)
        if value is None:
            draw_text(draw, centre, zero_y - 44, "—", 30, MUTED, align="centre")
        else:
            bar_y = to_y(float(value))
            box = [centre - bar_width / 2, min(bar_y, zero_y), centre + bar_width / 2, max(bar_y, zero_y)]
            box[1] = min(box[1], box[3] - 3)  # a zero still shows as a thin line
            colour = colours[1] if index == len(points) - 1 else colours[0]
            draw.rectangle(box, fill=colour)
            value_size, value_lines = _fit(_format_number(value, locale), slot - 4, range(24, 15, -2))
            if len(value_lines) == 1:
                # above the bar; for a negative value above the zero line, clear of the period labels
                label_y = (box[1] if value >= 0 else zero_y) - value_size * 1.3 - 4
                draw_text(draw, centre, label_y, value_lines[0], value_size, TEXT, align="centre")
        period_size, period_lines = _fit(period, slot - 6, range(24, 15, -2))
        for line_no, line in enumerate(period_lines):
            line_y = plot_bottom + 10 + line_no * period_size * 1.25
            draw_text(draw, centre, line_y, line, period_size, TEXT, align="centre")


def consumption_chart(title: str, series: Series, y_label: str, locale: str) -> bytes:
    """PNG bar chart of monthly consumption: one panel per meter, one bar per period.

    ``series`` is ``[(meter label, [(period label, value or None), ...]), ...]`` with periods
    oldest first; only the last 12 periods are drawn. Labels arrive localized.
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
        _panel(draw, top, label, points, y_label, locale, PALETTE[index % len(PALETTE)])
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
