"""Money typed by residents: parsing amounts into Decimal (never float)."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from domain.text import MAX_INPUT_CHARS, ascii_digits, clean

CENT = Decimal("0.01")
# Currency words and signs residents add after the number.
_CURRENCY = re.compile(
    r"(грн\.?|гривень|гривні|гривня|uah|₴|руб\.?|rub|₽|元|人民币|yuan|cny|¥|usd|\$|eur|€)", re.I
)


def parse_amount(text: str) -> Decimal | None:
    """'1 234,50' / '1234.5' / '1234,50 грн' / '1,234.50' → Decimal('1234.50'); None if not an amount."""
    if len(text) > MAX_INPUT_CHARS:
        return None
    value = ascii_digits(clean(text))
    value = _CURRENCY.sub("", value).strip()
    value = re.sub(r"[\s'’]", "", value)
    if not re.fullmatch(r"\d{1,3}([.,]\d{3})*([.,]\d{1,2})?|\d+([.,]\d{1,2})?", value):
        return None
    decimal_sep = None
    last = max(value.rfind(","), value.rfind("."))
    if last != -1 and len(value) - last - 1 in (1, 2):
        decimal_sep = value[last]
    if decimal_sep is None:
        digits = value.replace(",", "").replace(".", "")
    else:
        integer, fraction = value[:last], value[last + 1 :]
        digits = integer.replace(",", "").replace(".", "") + "." + fraction
    try:
        return Decimal(digits).quantize(CENT)
    except InvalidOperation:
        return None
