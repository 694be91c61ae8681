"""Names residents read for billing codes: services on charges, units of meters, payment channels.

Billing exports often carry codes (``heating``, ``hot_water``, ``m3``, ``cash_desk``). A code is
shown by the name the provider's config gives it (``[providers.services]``, ``[providers.units]``,
``[providers.channels]``: per-language names that extend or override the built-in catalog),
else by the built-in catalog below, translated in all four catalogs. A text that is a
catalog name in any of our languages ("Гаряча вода") is recognised as that code too, so a
CSV written in Ukrainian still reads in English. Anything else is free text and passes through.

:class:`MissingNames` is the importer's check: once per code it reports a code that has no
name in one of the bot's languages (it would be shown raw to those residents).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Literal

from domain.config import SUPPORTED_LOCALES, Config, ProviderConfig, pick_localized, unit_code
from domain.i18n import N_, translator

NameKind = Literal["service", "unit", "channel"]

SERVICE_NAMES: dict[str, str] = {
    "heating": N_("Heating"),
    "hot_water": N_("Hot water"),
    "cold_water": N_("Cold water"),
    "sewerage": N_("Sewerage"),
    "electricity": N_("Electricity"),
    "electricity_day": N_("Electricity, day zone"),
    "electricity_night": N_("Electricity, night zone"),
    "gas": N_("Gas"),
    "maintenance": N_("Building maintenance"),
    "waste": N_("Waste collection"),
}
UNIT_NAMES: dict[str, str] = {
    "m3": N_("m³"),
    "gcal": N_("Gcal"),
    "kwh": N_("kWh"),
    "mwh": N_("MWh"),
    "gj": N_("GJ"),
}
CHANNEL_NAMES: dict[str, str] = {
    "cash_desk": N_("Cash desk"),
    "bank": N_("Bank"),
    "online": N_("Online"),
    "banking_app": N_("Banking app"),
    "post_office": N_("Post office"),
    "terminal": N_("Payment terminal"),
}
_CATALOGS: dict[NameKind, dict[str, str]] = {
    "service": SERVICE_NAMES,
    "unit": UNIT_NAMES,
    "channel": CHANNEL_NAMES,
}
# The imported column each kind of name comes from.
IMPORT_COLUMNS: dict[str, tuple[NameKind, str]] = {
    "charges": ("service", "service"),
    "meters": ("unit", "unit"),
    "payments": ("channel", "channel"),
}
_CODE = re.compile(r"[a-z][a-z0-9_]*")


def _key(kind: NameKind, text: str) -> str:
    """Units are matched regardless of case and of the '³' spelling ("Gcal", "kWh", "m³")."""
    return unit_code(text) if kind == "unit" else text.strip()


def _tables(kind: NameKind, provider: ProviderConfig | None) -> dict[str, dict[str, str]]:
    if provider is None:
        return {}
    return {"service": provider.services, "unit": provider.units, "channel": provider.channels}[kind]


@cache
def _catalog_aliases(kind: NameKind) -> dict[str, str]:
    """Every catalog name in every language, case-folded → its code."""
    aliases: dict[str, str] = {}
    for code, message in _CATALOGS[kind].items():
        for locale in SUPPORTED_LOCALES:
            aliases.setdefault(translator(locale)._(message).casefold(), code)
    return aliases


def _code_of(kind: NameKind, text: str, provider: ProviderConfig | None) -> str:
    key = _key(kind, text)
    tables = _tables(kind, provider)
    if key in tables or key in _CATALOGS[kind]:
        return key
    folded = text.strip().casefold()
    for code, names in tables.items():
        if any(name.casefold() == folded for name in names.values()):
            return code
    return _catalog_aliases(kind).get(folded, key)


def localized_name(kind: NameKind, text: str, locale: str, provider: ProviderConfig | None = None) -> str:
    """The name residents of ``locale`` read for a billing code or name; free text as it is."""
    code = _code_of(kind, text, provider)
    names = _tables(kind, provider).get(code, {})
    if locale in names:
        return names[locale]
    if code in _CATALOGS[kind]:
        return translator(locale)._(_CATALOGS[kind][code])
    return pick_localized(names, locale) if names else text.strip()


def service_name(text: str, locale: str, provider: ProviderConfig | None = None) -> str:
    return localized_name("service", text, locale, provider)


def unit_name(text: str, locale: str, provider: ProviderConfig | None = None) -> str:
    return localized_name("unit", text, locale, provider)


def channel_name(text: str, locale: str, provider: ProviderConfig | None = None) -> str:
    return localized_name("channel", text, locale, provider)


def unnamed_locales(
    kind: NameKind, text: str, provider: ProviderConfig | None, locales: Sequence[str]
) -> list[str]:
    """The ``locales`` in which a code has no name; [] for a catalog code or for free text."""
    code = _code_of(kind, text, provider)
    if code in _CATALOGS[kind]:
        return []  # the four catalogs name every built-in code (tests/test_catalogs.py)
    names = _tables(kind, provider).get(code)
    if names is None and not _CODE.fullmatch(code):
        return []  # free text ("Monobank", "Гаряча вода"): shown as written
    return [locale for locale in locales if locale not in (names or {})]


class MissingNames:
    """The importer's warning about codes residents would read raw, once per (provider, code)."""

    def __init__(self, config: Config, import_kind: str) -> None:
        self._config = config
        self._column = IMPORT_COLUMNS.get(import_kind)
        self._seen: set[tuple[str, str]] = set()

    def check(self, row: Mapping[str, Any]) -> list[str]:
        """[] or one warning for the row's code, the first time that code is seen."""
        if self._column is None:
            return []
        kind, column = self._column
        text, provider_id = str(row.get(column) or ""), str(row.get("provider_id", ""))
        if not text or (provider_id, text) in self._seen:
            return []
        self._seen.add((provider_id, text))
        try:
            provider = self._config.provider(provider_id)
        except KeyError:
            provider = None
        missing = unnamed_locales(kind, text, provider, self._config.bot.locales)
        if not missing:
            return []
        return [
            f"{column} {text!r} of provider {provider_id!r} has no name in {', '.join(missing)}: residents "
            f"will read the code; add it to [providers.{kind}s] in the config"
        ]
