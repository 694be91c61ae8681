"""Broadcast texts: one text for everyone, or one per language, and the limits every text must fit.

The format is the same in a Telegram message to the bot and in the CLI's ``--text-file``:

- no language marker at all: one text for everyone;
- otherwise every text starts with a marker on its own line, ``[uk]``, or at the start of a line
  followed by the text, ``uk: ...``; the text runs until the next marker. Only the configured
  locales are markers, so "Note: ..." is ordinary text.

A resident gets the text in their language, else the one in the bot's default language, else the
first one given (``default_locale`` of the result).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Telegram allows 4096 UTF-16 code units per message (Viber 7000 characters): one outbox row is
# one message, so every text must fit the stricter limit.
MAX_TEXT_UNITS = 4096


class BroadcastTextError(ValueError):
    """The texts cannot be used; ``code`` says why (empty, leading_text, duplicate, empty_section,
    too_long), ``locale`` and ``length`` give the details where they apply."""

    def __init__(self, code: str, message: str, locale: str = "", length: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.locale = locale
        self.length = length


@dataclass(frozen=True)
class BroadcastTexts:
    texts: dict[str, str]
    default_locale: str

    def for_locale(self, locale: str | None) -> str:
        return text_for(self.texts, self.default_locale, locale)


def text_for(texts: dict[str, str], default_locale: str, locale: str | None) -> str:
    """The text a resident with ``locale`` gets."""
    if locale and locale in texts:
        return texts[locale]
    if default_locale in texts:
        return texts[default_locale]
    return next(iter(texts.values()))


def message_units(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _marker_pattern(locales: Sequence[str]) -> re.Pattern[str]:
    codes = "|".join(re.escape(code) for code in locales)
    return re.compile(rf"^\s*(?:\[(?P<block>{codes})\]\s*$|(?P<inline>{codes})\s*:\s?)", re.IGNORECASE)


def _sections(raw: str, locales: Sequence[str]) -> tuple[str, list[tuple[str, list[str]]]]:
    """The text before the first marker, and (locale, lines) per marked section."""
    pattern = _marker_pattern(locales)
    leading: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    for line in raw.splitlines():
        match = pattern.match(line)
        if match is None:
            (sections[-1][1] if sections else leading).append(line)
            continue
        code = (match.group("block") or match.group("inline")).lower()
        rest = line[match.end() :] if match.group("inline") else ""
        sections.append((code, [rest] if rest else []))
    return "\n".join(leading), sections


def parse_texts(raw: str, locales: Sequence[str], default_locale: str) -> BroadcastTexts:
    """Split ``raw`` into texts per locale (see the module docstring); BroadcastTextError if unusable."""
    leading, sections = _sections(raw.replace("\r\n", "\n"), locales)
    if not sections:
        text = raw.strip()
        if not text:
            raise BroadcastTextError("empty", "the text is empty")
        return _checked(BroadcastTexts({default_locale: text}, default_locale))
    if leading.strip():
        raise BroadcastTextError(
            "leading_text", "there is text before the first language marker (e.g. 'uk:' or '[uk]')"
        )
    texts: dict[str, str] = {}
    for code, lines in sections:
        if code in texts:
            raise BroadcastTextError("duplicate", f"two texts for {code}", locale=code)
        text = "\n".join(lines).strip()
        if not text:
            raise BroadcastTextError("empty_section", f"the text for {code} is empty", locale=code)
        texts[code] = text
    default = default_locale if default_locale in texts else next(iter(texts))
    return _checked(BroadcastTexts(texts, default))


def _checked(texts: BroadcastTexts) -> BroadcastTexts:
    for locale, text in texts.texts.items():
        units = message_units(text)
        if units > MAX_TEXT_UNITS:
            raise BroadcastTextError(
                "too_long",
                f"the text for {locale} is {units} characters long; at most {MAX_TEXT_UNITS} fit one message",
                locale=locale,
                length=units,
            )
    return texts
