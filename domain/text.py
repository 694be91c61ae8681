"""Normalization of what residents type: any Unicode digits, stray spaces, invisible characters."""

from __future__ import annotations

import re
import unicodedata

# Zero-width and bidi control characters that copy-paste from banking apps drags along.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_SPACES = re.compile(r"[\s\u00a0\u2007\u202f]+")

MAX_INPUT_CHARS = 200


def ascii_digits(text: str) -> str:
    """Replace every Unicode decimal digit (full-width, Arabic-Indic, ...) with its ASCII digit."""
    return "".join(str(unicodedata.decimal(char)) if char.isdecimal() else char for char in text)


def clean(text: str) -> str:
    """NFKC-normalize, drop invisible characters, collapse whitespace, strip."""
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    return _SPACES.sub(" ", text).strip()


def normalize_account_number(text: str) -> str | None:
    """'12-345 678' / '１２３４５' → '12345678'; None when it is not an account number."""
    if len(text) > MAX_INPUT_CHARS:
        return None
    compact = ascii_digits(clean(text.replace("№", " ")))
    compact = re.sub(r"[\s\-–—_./]", "", compact)
    compact = compact.lstrip("#")
    if not re.fullmatch(r"[0-9A-Za-z]{3,32}", compact) or not any(ch.isdigit() for ch in compact):
        return None
    return compact.upper()


def fold(text: str) -> str:
    """Case- and punctuation-insensitive form for comparing names and addresses."""
    text = ascii_digits(clean(text)).casefold()
    text = text.replace("ё", "е").replace("ʼ", "'").replace("’", "'").replace("`", "'")
    return re.sub(r"[^\w]+", "", text)
