"""Catalog texts of provider notices (``text_key`` in the config) and how one is worded for a
chat on behalf of one or more providers. The scheduler sends them; the fraud screen shows them."""

from __future__ import annotations

from domain.config import ProviderConfig
from domain.i18n import N_, translator

# Catalog texts of provider notices, by the config's ``text_key``; {provider} is filled in.
NOTICE_TEXTS: dict[str, str] = {
    "fraud_warning": N_(
        "Beware of fraud. {provider} never authorises anyone to collect payments on its behalf or to "
        "pay your bills at a discount. Such offers come from fraudsters: pay only through the Pay "
        "button in this bot, your bank's app, or at a bank or post office."
    ),
    "heating_application_deadline": N_(
        "{provider}: applications to switch your heating on or off for the season are accepted until "
        "15 October inclusive. Please apply before the deadline."
    ),
}


def catalog_notice_text(text_key: str, locale: str, providers: list[ProviderConfig]) -> str:
    """A catalog notice in ``locale`` on behalf of ``providers``, with their hotlines."""
    tr = translator(locale)
    names = ", ".join(provider.localized_name(locale) for provider in providers)
    lines = [tr._(NOTICE_TEXTS[text_key], provider=names)]
    for provider in providers:
        if provider.hotline:
            hotline = tr._("Hotline: {phone}", phone=provider.hotline)
            lines.append(f"{provider.localized_name(locale)} — {hotline}" if len(providers) > 1 else hotline)
    return "\n".join(lines)
