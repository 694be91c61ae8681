"""Gettext catalogs (the ``locales`` package: */LC_MESSAGES/messages.po), compiled in memory at start-up.

Source strings are English; every user-facing string goes through ``Translator._`` (or is
marked with ``N_`` and translated later). Placeholders are ``{name}`` fields filled from keyword
arguments only, so text typed by residents is never used as a format template.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from domain.config import SUPPORTED_LOCALES

CATALOGS_PACKAGE = "locales"  # found through importlib.resources: a source tree, a wheel, a zip
DOMAIN = "messages"


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown."""
    return message


class Translator:
    """Translations for one locale."""

    def __init__(self, locale: str, catalog: gettext.NullTranslations) -> None:
        self.locale = locale
        self._catalog = catalog

    def _(self, message: str, **values: object) -> str:
        text = self._catalog.gettext(message)
        return text.format(**values) if values else text

    def n_(self, singular: str, plural: str, count: int, **values: object) -> str:
        text = self._catalog.ngettext(singular, plural, count)
        return text.format(count=count, **values)


def _load_catalog(locale: str) -> gettext.NullTranslations:
    po_file = resources.files(CATALOGS_PACKAGE) / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


@cache
def translator(locale: str) -> Translator:
    if locale not in SUPPORTED_LOCALES:
        raise KeyError(locale)
    return Translator(locale, _load_catalog(locale))


def resolve_locale(language_code: str | None, allowed: list[str], default: str) -> str:
    """A messenger's language tag ('uk', 'ru-RU', 'zh-hans', 'en-GB') → one of ours, else the default."""
    if language_code:
        base = language_code.replace("_", "-").split("-")[0].lower()
        if base in allowed:
            return base
    return default
