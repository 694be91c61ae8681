"""The names residents and operators read for requests: the built-in kinds, the statuses, and
the title line ('Request #12 — Problem: leak') that starts every post about a request."""

from __future__ import annotations

from domain.config import Config, ProviderConfig, pick_localized
from domain.i18n import N_, Translator
from domain.requests import ANSWERED, CLOSED, NEW, TAKEN

BUILTIN_NAMES = {
    "charges": N_("Question about charges"),
    "no_heating": N_("Problem: no heating"),
    "no_hot_water": N_("Problem: no hot water"),
    "leak": N_("Problem: leak"),
    "problem": N_("Problem: other"),
    "heating": N_("Heating stop or restart application"),
    "contact": N_("Change of phone or e-mail"),
    "receipt": N_("Missing receipt"),
    "other": N_("Other"),
}
STATUS_NAMES = {NEW: N_("new"), TAKEN: N_("taken"), ANSWERED: N_("answered"), CLOSED: N_("closed")}


def kind_name(tr: Translator, provider: ProviderConfig | None, kind_id: str) -> str:
    """The kind's name in ``tr``'s language: the provider's own, else the built-in one, else the id."""
    if provider is not None:
        kind = next((kind for kind in provider.request_kinds if kind.id == kind_id), None)
        if kind is not None and kind.name:
            return pick_localized(kind.name, tr.locale)
    return tr._(BUILTIN_NAMES[kind_id]) if kind_id in BUILTIN_NAMES else kind_id


def status_name(tr: Translator, status: str) -> str:
    return tr._(STATUS_NAMES[status]) if status in STATUS_NAMES else status


def request_title(tr: Translator, config: Config, request_id: int, provider_id: str, kind_id: str) -> str:
    """'Request #12 — Problem: leak': the first line of every post about it in the operators' group."""
    provider = next((p for p in config.providers if p.id == provider_id), None)
    return tr._("Request #{number} — {kind}", number=request_id, kind=kind_name(tr, provider, kind_id))
