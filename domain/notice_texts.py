"""Catalog texts of provider notices (``text_key`` in the config) and how one is worded for a
chat on behalf of one or more providers: their names joined as the language does ("A and B",
"A和B") and the verb agreeing with how many they are. The scheduler sends them; the fraud screen
shows them."""

from __future__ import annotations

from collections.abc import Callable

from domain.config import ProviderConfig
from domain.i18n import Translator, translator
from domain.localize import format_names


def _fraud_warning(tr: Translator, names: list[str]) -> str:
    return tr.n_(
        "Beware of fraud. {provider} never authorises anyone to collect payments on its behalf or to "
        "pay your bills at a discount. Such offers come from fraudsters: pay only through the Pay "
        "button in this bot, your bank's app, or at a bank or post office.",
        "Beware of fraud. {provider} never authorise anyone to collect payments on their behalf or to "
        "pay your bills at a discount. Such offers come from fraudsters: pay only through the Pay "
        "button in this bot, your bank's app, or at a bank or post office.",
        len(names),
        provider=format_names(names, tr.locale),
    )


def _heating_application_deadline(tr: Translator, names: list[str]) -> str:
    return tr._(
        "{provider}: applications to switch your heating on or off for the season are accepted until "
        "15 October inclusive. Please apply before the deadline.",
        provider=format_names(names, tr.locale),
    )


# Catalog texts of provider notices, by the config's ``text_key``: each words the notice in one
# language on behalf of the named providers.
NOTICE_TEXTS: dict[str, Callable[[Translator, list[str]], str]] = {
    "fraud_warning": _fraud_warning,
    "heating_application_deadline": _heating_application_deadline,
}


def catalog_notice_text(text_key: str, locale: str, providers: list[ProviderConfig]) -> str:
    """A catalog notice in ``locale`` on behalf of ``providers``, with their hotlines."""
    tr = translator(locale)
    names = [provider.localized_name(locale) for provider in providers]
    lines = [NOTICE_TEXTS[text_key](tr, names)]
    for provider in providers:
        if provider.hotline:
            hotline = tr._("Hotline: {phone}", phone=provider.hotline)
            lines.append(f"{provider.localized_name(locale)} — {hotline}" if len(providers) > 1 else hotline)
    return "\n".join(lines)
