"""QR code images: the symbol a standard allows, PNG bytes with a caption (segno, Pillow), and
payloads back from a PNG (zxing-cpp).

The symbol is encoded in byte mode as UTF-8 without an ECI header (what banking apps expect
of NBU links and GOST R 56042 "ST00012|..." strings). ``fit_symbol`` picks the version and the
error correction level a ``SymbolRule`` allows (the first level, in the rule's order, at which
the data fits within the rule's largest version; the smallest version from the rule's first)
and refuses data that fits none. segno would otherwise raise the level when the data leaves
room (``boost_error``); that is switched off so the symbol has exactly the chosen level.

The image: the symbol with the 4-module quiet zone QR readers need (ISO/IEC 18004), then,
below the quiet zone, the caption lines (company, account, amount) in the bundled fonts, so
that saved QR images can be told apart. The NBU rules' hryvnia sign sits in a white circle in
the centre of the symbol, small enough (about 2 % of its area) for level L to correct it.
"""

from __future__ import annotations

import io
from functools import lru_cache

import segno
from PIL import Image, ImageDraw

from domain.chart import _fit, draw_text, font, has_glyph
from domain.payment_qr import SymbolRule

QUIET_ZONE = 4
_DARK_TO_BLACK = bytes.maketrans(b"\x00\x01", b"\xff\x00")  # module -> 8-bit gray
CACHED_IMAGES = 512  # a resident's payment QR stays the same all month; ~10 KB each
LEVELS = ("L", "M", "Q", "H")
HRYVNIA_SIGN = "₴"
SIGN_SHARE = 0.15  # diameter of the hryvnia sign's circle, as a share of the symbol's width
CAPTION_SIZES = range(26, 15, -1)  # caption type sizes in px at scale 8, largest first
_MODE_BYTE = segno.consts.MODE_BYTE


class SymbolTooLarge(ValueError):
    """The data does not fit any symbol the standard allows; the message gives the byte count."""


def capacity(version: int, level: str) -> int:
    """Bytes a symbol of ``version`` and ``level`` holds in byte mode (ISO/IEC 18004, Table 7):
    its data bits less the mode indicator (4 bits) and the character count (8 or 16 bits)."""
    version_range = 1 if version < 10 else 2 if version < 27 else 3
    header = 4 + segno.consts.CHAR_COUNT_INDICATOR_LENGTH[_MODE_BYTE][version_range]
    return (segno.consts.SYMBOL_CAPACITY[version][segno.consts.ERROR_MAPPING[level]] - header) // 8


def fit_symbol(payload: str, rule: SymbolRule) -> tuple[int, str]:
    """(version, error level) of the symbol for ``payload`` under ``rule``; SymbolTooLarge if none."""
    size = len(payload.encode("utf-8"))
    for level in rule.levels:
        for version in range(rule.min_version, rule.max_version + 1):
            if size <= capacity(version, level):
                return version, level
    limits = " or ".join(f"{capacity(rule.max_version, level)} at level {level}" for level in rule.levels)
    raise SymbolTooLarge(
        f"{size} bytes of QR data; {rule.source} allows at most {limits} (symbol version {rule.max_version})"
    )


def renders(text: str) -> bool:
    """True when the bundled fonts draw every character of ``text`` (no tofu boxes)."""
    return all(has_glyph(char) for char in text)


def qr_png(
    payload: str,
    error: str = "M",
    scale: int = 8,
    *,
    version: int | None = None,
    caption: tuple[str, ...] = (),
    hryvnia_sign: bool = False,
) -> bytes:
    """PNG bytes of a QR code for ``payload`` (level ``error``: L, M, Q or H; ``scale`` px/module;
    ``version`` None = the smallest that fits), the ``caption`` lines under it and, if asked, the
    hryvnia sign in the centre."""
    if error.upper() not in LEVELS:
        raise ValueError(f"error correction level must be L, M, Q or H, got {error!r}")
    return _render(payload, error.upper(), scale, version, tuple(caption), hryvnia_sign)


@lru_cache(maxsize=CACHED_IMAGES)
def _render(
    payload: str, error: str, scale: int, version: int | None, caption: tuple[str, ...], sign: bool
) -> bytes:
    code = segno.make_qr(
        payload, error=error.lower(), version=version, mode="byte", encoding="utf-8", boost_error=False
    )
    # Pillow writes the PNG ~4x faster than segno's pure-Python writer: one byte per module,
    # the quiet zone added, enlarged without smoothing.
    size = len(code.matrix)
    modules = Image.frombytes("L", (size, size), b"".join(code.matrix).translate(_DARK_TO_BLACK))
    framed = Image.new("L", (size + 2 * QUIET_ZONE, size + 2 * QUIET_ZONE), 255)
    framed.paste(modules, (QUIET_ZONE, QUIET_ZONE))
    symbol = framed.resize((framed.width * scale, framed.height * scale), Image.Resampling.NEAREST)
    if sign:
        _draw_hryvnia_sign(symbol, size * scale)
    image = _with_caption(symbol, caption, scale) if caption else symbol
    out = io.BytesIO()
    (image if caption or sign else image.convert("1")).save(out, format="PNG", optimize=True)
    return out.getvalue()


def _draw_hryvnia_sign(image: Image.Image, symbol_px: int) -> None:
    """The hryvnia sign, black on a white circle, in the centre of the symbol."""
    diameter = round(symbol_px * SIGN_SHARE)
    centre = image.width / 2
    box = (centre - diameter / 2, centre - diameter / 2, centre + diameter / 2, centre + diameter / 2)
    draw = ImageDraw.Draw(image)
    draw.ellipse(box, fill=255, outline=0, width=max(1, diameter // 24))
    draw_text(draw, centre, centre, HRYVNIA_SIGN, round(diameter * 0.7), 0, align="centre", valign="middle")


def _with_caption(symbol: Image.Image, caption: tuple[str, ...], scale: int) -> Image.Image:
    """``symbol`` with the caption lines below its quiet zone, each as large as fits the width
    (a long line wraps to two, the second shortened with an ellipsis if need be)."""
    margin = QUIET_ZONE * scale // 2
    width = symbol.width - 2 * margin
    sizes = range(CAPTION_SIZES.start * scale // 8, CAPTION_SIZES.stop * scale // 8, -1)
    laid_out = [_fit(line, width, sizes) for line in caption]
    heights = [sum(font(size).getmetrics()) for size, _ in laid_out]
    band = sum(height * len(lines) for height, (_, lines) in zip(heights, laid_out, strict=True))
    image = Image.new("L", (symbol.width, symbol.height + band + margin), 255)
    image.paste(symbol, (0, 0))
    draw = ImageDraw.Draw(image)
    top = symbol.height
    for height, (size, lines) in zip(heights, laid_out, strict=True):
        for line in lines:
            draw_text(draw, image.width / 2, top, line, size, 0, align="centre")
            top += height
    return image


def decode_png(png: bytes) -> list[str]:
    """Every QR code found in a PNG, as text (UTF-8 bytes decoded as UTF-8); [] when none."""
    return [text for text, _, _ in decode_symbols(png)]


def decode_symbols(png: bytes) -> list[tuple[str, int, str]]:
    """(text, version, error level) of every QR code found in a PNG, read with zxing-cpp."""
    import zxingcpp  # test/diagnostic helper: imported lazily so the bot does not need it

    with Image.open(io.BytesIO(png)) as image:
        gray = image.convert("L")
    found: list[tuple[str, int, str]] = []
    for barcode in zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode):
        try:
            text = barcode.bytes.decode("utf-8")
        except UnicodeDecodeError:
            text = barcode.text
        found.append((text, int(barcode.extra["Version"]), barcode.ec_level))
    return found
