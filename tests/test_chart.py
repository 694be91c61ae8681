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
