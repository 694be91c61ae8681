"""QR code images: PNG bytes from a payload (segno), and payloads back from a PNG (zxing-cpp).

The symbol is encoded in byte mode as UTF-8 without an ECI header (what banking apps expect
of NBU links and GOST R 56042 "ST00012|..." strings), with the error correction level the
standard prescribes (M for both) and the 4-module quiet zone QR readers need. segno would
otherwise raise the level when the data leaves room (``boost_error``); that is switched off
so the symbol has exactly the prescribed level.
"""

from __future__ import annotations

import io

import segno

QUIET_ZONE = 4


def qr_png(payload: str, error: str = "M", scale: int = 8) -> bytes:
    """PNG bytes of a QR code for ``payload`` (level ``error``: L, M, Q or H; ``scale`` px/module)."""
    if error.upper() not in ("L", "M", "Q", "H"):
        raise ValueError(f"error correction level must be L, M, Q or H, got {error!r}")
    code = segno.make_qr(payload, error=error.lower(), mode="byte", encoding="utf-8", boost_error=False)
    out = io.BytesIO()
    code.save(out, kind="png", scale=scale, border=QUIET_ZONE)
    return out.getvalue()


def decode_png(png: bytes) -> list[str]:
    """Every QR code found in a PNG, as text (UTF-8 bytes decoded as UTF-8); [] when none."""
    import zxingcpp  # test/diagnostic helper: imported lazily so the bot does not need it
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        gray = image.convert("L")
    texts: list[str] = []
    for barcode in zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode):
        try:
            texts.append(barcode.bytes.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(barcode.text)
    return texts
