"""Consumption chart PNG: size, CJK/Cyrillic glyphs from the bundled fonts, missing values."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from PIL import Image, ImageChops, ImageDraw

from domain import chart
from domain.chart import consumption_chart, draw_text, glyph_font, has_glyph

UK_MONTHS = ["січ", "лют", "бер", "квіт", "трав", "черв", "лип", "серп", "вер", "жовт", "лист", "груд"]


def open_png(png: bytes) -> Image.Image:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    return image


def year(values: list[str | None]) -> list[tuple[str, Decimal | None]]:
    pairs = zip(UK_MONTHS, values, strict=True)
    return [(month, None if value is None else Decimal(value)) for month, value in pairs]


def test_ukrainian_chart_size_grows_by_one_panel_per_meter():
    values = ["3.2", "4", None, "5.5", "6", "0", "7.25", "8", "9", "10.5", "11", "12"]
    water = ("Холодна вода №12345, кухня", year(values))
    power = ("Електроенергія, день", year([str(v) for v in range(100, 1300, 100)]))
    one = open_png(consumption_chart("Споживання, о/р 1234567", [water], "м³", "uk"))
    two = open_png(consumption_chart("Споживання, о/р 1234567", [water, power], "кВт·год", "uk"))
    assert one.size[0] == two.size[0] == chart.WIDTH == 1080
    assert two.size[1] - one.size[1] == chart.PANEL_HEIGHT
    assert 500 < one.size[1] < 1000


def test_chinese_chart():
    series = [("冷水表 123456", [(f"{month}月", Decimal(month)) for month in range(1, 13)])]
    image = open_png(consumption_chart("过去十二个月的用水量（立方米）", series, "立方米", "zh"))
    assert image.size[0] == 1080
    assert image.convert("L").getextrema()[0] < 100  # something dark was drawn


@pytest.mark.parametrize(
    "text",
    [
        "水供热公司冷水表电表用量立方米千瓦时吉卡月年（），。：",
        "абвгґдеєжзиіїйклмнопрстуфхцчшщьюяАБВГҐДЕЄЖЗИІЇЙКЛМНОПРСТУФХЦЧШЩЬЮЯʼ",
        "ёъыэЁЪЫЭ",
        "0123456789 m³ kWh № ₴ ₽ € — … «» ·",
    ],
)
def test_every_character_has_a_real_glyph(text):
    missing = [char for char in text if not has_glyph(char)]
    assert missing == []


def test_glyph_check_detects_tofu():
    assert not has_glyph("\ue001")  # private use: no font has it
    assert glyph_font("ї") == 0  # Noto Sans (Noto Sans CJK has no Ukrainian letters)
    assert glyph_font("水") == 1  # Noto Sans CJK SC


def test_cjk_renders_as_glyphs_not_boxes():
    def render(text: str) -> Image.Image:
        image = Image.new("RGB", (300, 80), (255, 255, 255))
        draw_text(ImageDraw.Draw(image), 10, 10, text, 40, (0, 0, 0))
        return image.convert("L")

    water, tofu = render("水"), render("\ue001")
    assert ImageChops.invert(water).getbbox() is not None  # ink was drawn
    assert ImageChops.difference(water, tofu).getbbox() is not None
    assert ImageChops.difference(render("水"), render("电")).getbbox() is not None  # distinct glyphs


def test_empty_and_missing_values():
    empty = open_png(consumption_chart("Споживання", [], "м³", "uk"))
    assert empty.size[0] == 1080
    no_data = open_png(consumption_chart("Gas", [("Meter 1", [("Jan", None), ("Feb", None)])], "m³", "en"))
    assert no_data.size == empty.size
    open_png(consumption_chart("Gas", [("Meter 1", [])], "m³", "en"))
    zeros = [("Jan", Decimal("0")), ("Feb", Decimal("0"))]
    open_png(consumption_chart("Gas", [("Meter 1", zeros)], "m³", "en"))


def test_negative_value_long_labels_and_more_than_twelve_periods():
    periods = [(f"Period number {index}", Decimal(index - 3)) for index in range(20)]
    title = "Дуже довга назва графіка, що не вміщується в один рядок і переноситься на наступний " * 2
    image = open_png(consumption_chart(title, [("Лічильник " * 10, periods)], "м³", "uk"))
    assert image.size[0] == 1080


def test_unknown_locale_still_formats_numbers():
    open_png(consumption_chart("x", [("m", [("a", Decimal("1234.5"))])], "m³", "xx_INVALID"))


# ---------------------------------------------------------------------------------------------
# Calendar months from dated readings, month labels, and the chart as residents get it.

D = Decimal


def test_consumption_is_shared_among_calendar_months_day_by_day():
    from datetime import date

    readings = [(date(2026, 9, 30), D("100")), (date(2026, 10, 31), D("131")), (date(2026, 11, 15), D("146"))]
    months = chart.monthly_consumption(readings, ["2026-08", "2026-09", "2026-10", "2026-11"], 1)
    # A reading is the value at the start of its day. August: no readings; September: only its
    # last day (1 m³ a day from 30 September); October: all 31 days; November: 14 days so far.
    assert months == [(None, False), (D("1.0"), True), (D("31.0"), False), (D("14.0"), True)]


def test_a_reading_late_in_the_window_does_not_swell_the_current_month():
    """Readings taken on any day of the window: each month still gets about 30 days' worth."""
    from datetime import date

    days = [date(2026, 1, 28), date(2026, 3, 1), date(2026, 3, 27), date(2026, 5, 1), date(2026, 5, 31)]
    readings = [(day, D(10) * (day - days[0]).days) for day in days]  # exactly 10 kWh a day
    months = chart.monthly_consumption(readings, ["2026-02", "2026-03", "2026-04", "2026-05"], 0)
    assert months == [(D("280"), False), (D("310"), False), (D("300"), False), (D("300"), True)]


def test_a_drop_in_value_makes_the_month_unknown_and_one_reading_draws_nothing():
    from datetime import date

    readings = [(date(2026, 9, 1), D("900")), (date(2026, 10, 1), D("950")), (date(2026, 10, 20), D("3"))]
    assert chart.monthly_consumption(readings, ["2026-09", "2026-10"], 0) == [(D("50"), False), (None, False)]
    assert chart.monthly_consumption(readings[:1], ["2026-09"], 0) == [(None, False)]
    assert chart.monthly_consumption([], ["2026-09"], 0) == [(None, False)]


@pytest.mark.parametrize(
    ("locale", "labels"),
    [
        ("en", ["Nov\n2025", "Dec", "Jan\n2026", "Feb"]),
        ("zh", ["11月\n2025年", "12月", "1月\n2026年", "2月"]),
        ("uk", ["лист.\n2025", "груд.", "січ.\n2026", "лют."]),
        ("ru", ["нояб.\n2025", "дек.", "янв.\n2026", "февр."]),
    ],
)
def test_month_labels_carry_the_year_where_it_changes(locale, labels):
    from domain.localize import format_month_labels

    assert format_month_labels(["2025-11", "2025-12", "2026-01", "2026-02"], locale) == labels


def test_no_data_mark_sits_on_the_zero_line(monkeypatch):
    axis_rows: list[float] = []
    dashes: list[tuple[float, str]] = []
    line = ImageDraw.ImageDraw.line

    def recording_line(self, xy, fill=None, width=0, joint=None):
        if fill == chart.AXIS:
            axis_rows.append(xy[0][1])
        return line(self, xy, fill=fill, width=width, joint=joint)

    def recording_text(draw, x, y, text, size, fill, align="left", valign="top", bold=False):
        if text == "—":
            dashes.append((y, valign))

    monkeypatch.setattr(ImageDraw.ImageDraw, "line", recording_line)
    monkeypatch.setattr(chart, "draw_text", recording_text)
    consumption_chart("x", [("m", [("a", None), ("b", D("10")), ("c", None)])], "m³", "en")
    assert len(axis_rows) == 1 and dashes == [(axis_rows[0], "middle")] * 2


def test_months_without_data_and_a_zero_month_render_distinctly():
    """Drawn to tests/artifacts/chart-gaps-zh.png to look at: dashes on the zero line for months
    without data, a thin bar with "0" for a month of zero consumption, the partial month hatched."""
    from pathlib import Path

    from domain.localize import format_month_labels

    labels = format_month_labels([f"2026-{month:02d}" for month in range(1, 13)], "zh")
    values = [None, None, "12.5", "10", None, "0", "8", "9.25", None, "11", "12", "4"]
    points = [
        (label, None if value is None else D(value), index == 11)
        for index, (label, value) in enumerate(zip(labels, values, strict=True))
    ]
    png = consumption_chart("每月用量，户号 2002001（自来水公司）", [("冷水，表号 CW-1，立方米", points)],
                            "每个自然月的用量", "zh", "本月截至目前")
    image = open_png(png)
    artifacts = Path(__file__).resolve().parent / "artifacts"
    artifacts.mkdir(exist_ok=True)
    image.quantize(colors=64).save(artifacts / "chart-gaps-zh.png", optimize=True)
    assert image.width == 1080
