"""The broadcast service every front end calls (the operator chat, the CLI, a web console):
audience filters → a checked Audience → the exact recipient count → a localized preview → queued.

Plain functions over a unit of work, the config, the filters and the texts (domain/broadcast.py);
nothing here knows where the operator sits. Queuing creates the Broadcast and its outbox rows in
the caller's unit of work, which the caller commits: after that nothing can be lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from domain.audit import AuditAction
from domain.broadcast import BroadcastTexts
from domain.config import Config, enabled_channels
from domain.i18n import Translator
from domain.localize import format_number
from storage.models import Broadcast
from storage.repositories.broadcasts import Audience
from storage.unit_of_work import UnitOfWork

MAX_ADDRESS = 100  # characters of an address fragment
PREVIEW_CHARS = 600  # of the text shown in a preview

AudienceProblem = Literal["unknown_provider", "unknown_locale", "address_too_long", "no_channels"]


class AudienceFilters(BaseModel):
    """What an operator chose; every filter that is set must hold (AND). Unset means any."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    provider: str | None = None  # a configured provider's id
    address: str | None = None  # a fragment of the account's address, any letter case
    min_debt: Decimal | None = None  # debtors only: they owe more than this
    locale: str | None = None  # the chat's language


class AudienceError(ValueError):
    """The filters cannot make an audience; ``problem`` says why, ``value`` is the culprit."""

    def __init__(self, problem: AudienceProblem, value: str = "") -> None:
        super().__init__(f"{problem}: {value!r}" if value else problem)
        self.problem = problem
        self.value = value


@dataclass(frozen=True)
class ProgressChat:
    """Where the delivery loop posts and edits a broadcast's live progress (a messenger chat)."""

    channel: str
    chat_key: str
    locale: str


@dataclass(frozen=True)
class Queued:
    id: int
    total: int  # recipients queued


def build_audience(config: Config, filters: AudienceFilters) -> Audience:
    """The audience over every enabled channel; AudienceError when a filter names nothing configured.

    With no channel configured the audience reaches nobody; queue_broadcast refuses it.
    """
    if filters.provider is not None and filters.provider not in {p.id for p in config.providers}:
        raise AudienceError("unknown_provider", filters.provider)
    if filters.locale is not None and filters.locale not in config.bot.locales:
        raise AudienceError("unknown_locale", filters.locale)
    address = (filters.address or "").strip() or None
    if address is not None and len(address) > MAX_ADDRESS:
        raise AudienceError("address_too_long", address)
    return Audience(
        channels=enabled_channels(config),
        provider=filters.provider,
        address=address,
        min_debt=filters.min_debt,
        locale=filters.locale,
    )


async def count_recipients(uow: UnitOfWork, audience: Audience) -> int:
    """The exact number of chats a broadcast to ``audience`` would reach now."""
    return await uow.broadcasts.count_audience(audience)


async def find_twin(
    uow: UnitOfWork, texts: BroadcastTexts, audience: Audience, emergency: bool
) -> Broadcast | None:
    """An unfinished broadcast with the same texts, audience and kind (a command given twice)."""
    for broadcast in await uow.broadcasts.unfinished():
        same_audience = Audience.from_json(broadcast.audience) == audience
        if broadcast.texts == texts.texts and same_audience and broadcast.emergency == emergency:
            return broadcast
    return None


def describe_audience(config: Config, tr: Translator, audience: Audience) -> str:
    """The filters in words, in ``tr``'s language ("everyone" when there are none)."""
    parts: list[str] = []
    if audience.provider is not None:
        try:
            name = config.provider(audience.provider).localized_name(tr.locale)
        except KeyError:
            name = audience.provider
        parts.append(tr._("company: {name}", name=name))
    if audience.address:
        parts.append(tr._("address contains “{text}”", text=audience.address))
    if audience.min_debt is not None:
        parts.append(tr._("owe more than {amount}", amount=format_number(audience.min_debt, tr.locale)))
    if audience.locale is not None:
        parts.append(tr._("language: {code}", code=audience.locale))
    return "; ".join(parts) if parts else tr._("everyone")


def render_preview(
    config: Config, tr: Translator, texts: BroadcastTexts, audience: Audience, count: int
) -> str:
    """The preview an operator confirms, in ``tr``'s language: audience, exact count, the text they get."""
    sample = texts.for_locale(tr.locale)
    if len(sample) > PREVIEW_CHARS:
        sample = sample[:PREVIEW_CHARS] + "…"
    lines = [
        tr._("Broadcast preview"),
        tr._("Audience: {audience}", audience=describe_audience(config, tr, audience)),
        tr.n_("Recipients: {count}", "Recipients: {count}", count),
        tr._(
            "Languages: {codes} (others get {default})",
            codes=", ".join(texts.texts),
            default=texts.default_locale,
        ),
        "",
        sample,
    ]
    text = "\n".join(lines)
    if not count:
        text += "\n\n" + tr._("Nobody matches. Change the filters.")
    return text


async def queue_broadcast(
    uow: UnitOfWork,
    *,
    texts: BroadcastTexts,
    audience: Audience,
    emergency: bool,
    created_by: str,
    now: datetime,
    scheduled_at: datetime | None = None,
    progress: ProgressChat | None = None,
) -> Queued:
    """Create the broadcast and one outbox row per recipient (emergency ones go first and ignore
    quiet hours; ``scheduled_at`` holds them back until then). The caller commits."""
    if not audience.channels:
        raise AudienceError("no_channels")
    broadcast = await uow.broadcasts.create(
        created_by=created_by,
        texts=texts.texts,
        default_locale=texts.default_locale,
        audience=audience,
        emergency=emergency,
        now=now,
        scheduled_at=scheduled_at,
        progress_channel=progress.channel if progress else "",
        progress_chat_key=progress.chat_key if progress else "",
        progress_locale=progress.locale if progress else "",
    )
    total = await uow.broadcasts.queue(broadcast, now)
    await uow.audit.record(
        created_by,
        AuditAction.BROADCAST_QUEUED,
        now,
        subject=f"broadcast #{broadcast.id}",
        details={"recipients": total, "emergency": emergency},
    )
    return Queued(broadcast.id, total)


async def cancel_broadcast(uow: UnitOfWork, broadcast_id: int, actor: str, now: datetime) -> int | None:
    """Cancel a running broadcast; returns how many messages were dropped (None: not running)."""
    cancelled = await uow.broadcasts.cancel(broadcast_id, now)
    if cancelled is not None:
        await uow.audit.record(
            actor,
            AuditAction.BROADCAST_CANCELLED,
            now,
            subject=f"broadcast #{broadcast_id}",
            details={"dropped": cancelled},
        )
    return cancelled
