"""QR code images: PNG bytes from a payload (segno, Pillow), and payloads back from a PNG (zxing-cpp).

The symbol is encoded in byte mode as UTF-8 without an ECI header (what banking apps expect
of NBU links and GOST R 56042 "ST00012|..." strings), with the error correction level the
standard prescribes (M for both) and the 4-module quiet zone QR readers need. segno would
otherwise raise the level when the data leaves room (``boost_error``); that is switched off
so the symbol has exactly the prescribed level.
"""

from __future__ import annotations

import io
from functools import lru_cache

import segno
from PIL import Image

QUIET_ZONE = 4
_DARK_TO_BLACK = bytes.maketrans(b"\x00\x01", b"\xff\x00")  # module -> 8-bit gray
CACHED_IMAGES = 512  # a resident's payment QR stays the same all month; ~2 KB each


def qr_png(payload: str, error: str = "M", scale: int = 8) -> bytes:
    """PNG bytes of a QR code for ``payload`` (level ``error``: L, M, Q or H; ``scale`` px/module)."""
    if error.upper() not in ("L", "M", "Q", "H"):
        raise ValueError(f"error correction level must be L, M, Q or H, got {error!r}")
    return _render(payload, error.upper(), scale)


@lru_cache(maxsize=CACHED_IMAGES)
def _render(payload: str, error: str, scale: int) -> bytes:
    code = segno.make_qr(payload, error=error.lower(), mode="byte", encoding="utf-8", boost_error=False)
    # Pillow writes the PNG ~4x faster than segno's pure-Python writer: one byte per module,
    # the quiet zone added, enlarged without smoothing, saved as 1 bit per pixel.
    size = len(code.matrix)
    modules = Image.frombytes("L", (size, size), b"".join(code.matrix).translate(_DARK_TO_BLACK))
    framed = Image.new("L", (size + 2 * QUIET_ZONE, size + 2 * QUIET_ZONE), 255)
    framed.paste(modules, (QUIET_ZONE, QUIET_ZONE))
    enlarged = framed.resize((framed.width * scale, framed.height * scale), Image.Resampling.NEAREST)
    out = io.BytesIO()
    enlarged.convert("1").save(out, format="PNG")
    return out.getvalue()


def decode_png(png: bytes) -> list[str]:
    """Every QR code found in a PNG, as text (UTF-8 bytes decoded as UTF-8); [] when none."""
    import zxingcpp  # test/diagnostic helper: imported lazily so the bot does not need it

    with Image.open(io.BytesIO(png)) as image:
        gray = image.convert("L")
    texts: list[str] = []
    for barcode in zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode):
        try:
            texts.append(barcode.bytes.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(barcode.text)
    return texts
