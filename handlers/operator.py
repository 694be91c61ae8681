"""Operators: /broadcast (text → audience → preview with the exact count → confirm → emergency or
common → queued) and /broadcasts (recent ones with figures; cancel a running one).

To anyone who is not an operator of their channel these commands and buttons do not exist: they
get exactly the answer any unknown text gets.

The engine can only answer with Replies, so live progress is not a Reply: the broadcast remembers
the operator's chat, and the delivery loop posts a progress message there, edits it as the figures
change (where the messenger can edit), and posts a final report (scheduler/delivery.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, Self

from pydantic import Field, model_validator

from domain.broadcast import MAX_TEXT_UNITS, BroadcastTextError, BroadcastTexts, parse_texts
from domain.localize import format_moment, join_sentences
from domain.money import parse_amount
from domain.quiet_hours import quiet_hours_from_config
from handlers.broadcasting import (
    AudienceError,
    AudienceFilters,
    ProgressChat,
    build_audience,
    cancel_broadcast,
    count_recipients,
    queue_broadcast,
    render_preview,
)
from handlers.context import Context
from handlers.conversation import FlowState
from handlers.menu import cancel_row, not_understood
from handlers.routing import Handler, Router, action_argument, parse_id
from handlers.types import Button, Reply
from storage.models import Broadcast
from storage.repositories.broadcasts import UNFINISHED, Audience, progress_of

router = Router()

RECENT = 10


class DraftStep(StrEnum):
    TEXT = "op:text"  # waiting for the text
    ADDRESS = "op:address"  # waiting for an address fragment
    DEBT = "op:debt"  # waiting for a debt amount
    PREVIEW = "op:preview"  # the preview is shown; filters or Confirm
    KIND = "op:kind"  # confirmed; emergency or common?


class BroadcastDraft(FlowState):
    """A broadcast being written: its texts (once typed) and the audience's filters."""

    FLOW: ClassVar[str] = "op"
    VERSION: ClassVar[int] = 1

    step: DraftStep
    texts: dict[str, str] = Field(default_factory=dict)
    default: str = ""
    audience: AudienceFilters = AudienceFilters()

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.step is not DraftStep.TEXT and self.default not in self.texts:
            raise ValueError("a draft without its texts")
        return self

    @property
    def broadcast_texts(self) -> BroadcastTexts:
        return BroadcastTexts(dict(self.texts), self.default)

    def at(self, step: DraftStep, audience: AudienceFilters | None = None) -> BroadcastDraft:
        return self.model_copy(
            update={"step": step, "audience": self.audience if audience is None else audience}
        )


def operators_only(handler: Handler) -> Handler:
    """Non-operators get the answer any unknown input gets: the feature does not exist for them."""

    async def guarded(ctx: Context) -> list[Reply]:
        if not ctx.is_operator:
            return await not_understood(ctx)
        return await handler(ctx)

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


def _draft(ctx: Context) -> BroadcastDraft | None:
    """The draft with its texts; None before the text is typed or outside the flow."""
    draft = ctx.load(BroadcastDraft)
    return draft if draft is not None and draft.step is not DraftStep.TEXT else None


def _audience(ctx: Context, filters: AudienceFilters) -> Audience | None:
    try:
        return build_audience(ctx.config, filters)
    except AudienceError:
        return None


# --- /broadcast: the text -----------------------------------------------------------------------


@router.command("/broadcast")
@operators_only
async def start_broadcast(ctx: Context) -> list[Reply]:
    ctx.save(BroadcastDraft(step=DraftStep.TEXT))
    example = "\n".join(f"{code}: …" for code in ctx.config.bot.locales[:2])
    text = ctx._(
        "Send me the text of the broadcast.\n"
        "One text for everyone, or one per language: start each on a new line with the language code, "
        "e.g.\n{example}\n"
        "Residents get their language, others the {default} text. At most {limit} characters per text.",
        example=example,
        default=ctx.config.bot.default_locale,
        limit=MAX_TEXT_UNITS,
    )
    return [Reply(text, buttons=[cancel_row(ctx)])]


def _text_problem(ctx: Context, error: BroadcastTextError) -> str:
    if error.code == "leading_text":
        return ctx._("There is text before the first language code. Start with e.g. “uk:”, or send one text.")
    if error.code == "duplicate":
        return ctx._("There are two texts for {locale}. Send one per language.", locale=error.locale)
    if error.code == "empty_section":
        return ctx._("The text for {locale} is empty.", locale=error.locale)
    if error.code == "too_long":
        return ctx._(
            "The text for {locale} is {length} characters long; at most {limit} fit in one message.",
            locale=error.locale,
            length=error.length,
            limit=MAX_TEXT_UNITS,
        )
    return ctx._("The text is empty.")


@router.step(DraftStep.TEXT)
@operators_only
async def text_received(ctx: Context) -> list[Reply]:
    draft = ctx.require(BroadcastDraft)
    if ctx.incoming.kind != "text":
        return [Reply(ctx._("Please send the broadcast as text."), buttons=[cancel_row(ctx)])]
    try:
        texts = parse_texts(ctx.incoming.text, ctx.config.bot.locales, ctx.config.bot.default_locale)
    except BroadcastTextError as error:
        return [
            Reply(
                join_sentences([_text_problem(ctx, error), ctx._("Please send it again.")], ctx.tr.locale),
                buttons=[cancel_row(ctx)],
            )
        ]
    update = {"step": DraftStep.PREVIEW, "texts": texts.texts, "default": texts.default_locale}
    ctx.save(draft.model_copy(update={**update, "audience": AudienceFilters()}))
    return [_audience_menu(ctx)]


# --- the audience -------------------------------------------------------------------------------


def _audience_menu(ctx: Context) -> Reply:
    _ = ctx._
    buttons = [
        [Button(_("Everyone"), "op:all"), Button(_("One company"), "op:prov")],
        [Button(_("Address contains…"), "op:addr"), Button(_("Debtors"), "op:debt")],
        [Button(_("One language"), "op:lang")],
        cancel_row(ctx),
    ]
    return Reply(_("Who should get it? Filters can be combined."), buttons=buttons)


async def _preview(
    ctx: Context, draft: BroadcastDraft, filters: AudienceFilters | None = None
) -> list[Reply]:
    """The preview with the exact count (with ``filters`` instead of the draft's, when given)."""
    draft = draft.at(DraftStep.PREVIEW, filters)
    audience = _audience(ctx, draft.audience)
    if audience is None:  # the filters no longer fit the config (a company removed): everyone
        draft = draft.at(DraftStep.PREVIEW, AudienceFilters())
        audience = build_audience(ctx.config, draft.audience)
    ctx.save(draft)
    count = await count_recipients(ctx.uow, audience)
    text = render_preview(ctx.config, ctx.tr, draft.broadcast_texts, audience, count)
    buttons: list[list[Button]] = []
    if count:
        buttons.append([Button(ctx._("Confirm"), "op:ok")])
    buttons += [
        [Button(ctx._("Add a filter"), "op:aud"), Button(ctx._("Everyone"), "op:all")],
        cancel_row(ctx),
    ]
    return [Reply(text, buttons=buttons)]


async def _show_providers(ctx: Context) -> list[Reply]:
    buttons = [[Button(p.localized_name(ctx.tr.locale), f"op:p:{p.id}")] for p in ctx.config.providers]
    return [Reply(ctx._("Which company's residents?"), buttons=[*buttons, cancel_row(ctx)])]


async def _show_languages(ctx: Context) -> list[Reply]:
    buttons = [[Button(code, f"op:l:{code}") for code in ctx.config.bot.locales], cancel_row(ctx)]
    return [Reply(ctx._("Residents using which language?"), buttons=buttons)]


async def _ask_address(ctx: Context, draft: BroadcastDraft) -> list[Reply]:
    ctx.save(draft.at(DraftStep.ADDRESS))
    return [
        Reply(
            ctx._("Type part of the address, e.g. a street name (any letter case)."),
            buttons=[cancel_row(ctx)],
        )
    ]


async def _ask_debt(ctx: Context, draft: BroadcastDraft) -> list[Reply]:
    ctx.save(draft.at(DraftStep.DEBT))
    buttons = [[Button(ctx._("Any debt"), "op:d")], cancel_row(ctx)]
    return [
        Reply(ctx._("Only residents who owe more than what amount? Type it, or choose:"), buttons=buttons)
    ]


@router.step(DraftStep.ADDRESS)
@operators_only
async def address_received(ctx: Context) -> list[Reply]:
    draft = ctx.require(BroadcastDraft)
    fragment = ctx.incoming.text.strip() if ctx.incoming.kind == "text" else ""
    filters = draft.audience.model_copy(update={"address": fragment})
    if not fragment or _audience(ctx, filters) is None:
        return [
            Reply(ctx._("Please type part of the address, e.g. a street name."), buttons=[cancel_row(ctx)])
        ]
    return await _preview(ctx, draft, filters)


async def _with_min_debt(ctx: Context, draft: BroadcastDraft, amount: Decimal) -> list[Reply]:
    return await _preview(ctx, draft, draft.audience.model_copy(update={"min_debt": amount}))


@router.step(DraftStep.DEBT)
@operators_only
async def debt_received(ctx: Context) -> list[Reply]:
    draft = ctx.require(BroadcastDraft)
    amount = parse_amount(ctx.incoming.text) if ctx.incoming.kind == "text" else None
    if amount is None or amount < 0:
        return [
            Reply(ctx._("Please type an amount, e.g. 500, or choose “Any debt”."), buttons=[cancel_row(ctx)])
        ]
    return await _with_min_debt(ctx, draft, amount)


@router.step(DraftStep.PREVIEW, DraftStep.KIND)
@operators_only
async def use_the_buttons(ctx: Context) -> list[Reply]:
    draft = ctx.require(BroadcastDraft)
    if draft.step is DraftStep.KIND:
        return [_kind_question(ctx)]
    return await _preview(ctx, draft)


# --- confirming and queuing ---------------------------------------------------------------------


def _kind_question(ctx: Context) -> Reply:
    hours = quiet_hours_from_config(ctx.config)
    quiet = hours.describe() if hours else "—"
    text = ctx._(
        "Emergency or common?\nEmergency broadcasts go out first and are sent at any hour. Common ones "
        "wait while it is quiet time ({hours}).",
        hours=quiet,
    )
    buttons = [[Button(ctx._("Emergency"), "op:k:e"), Button(ctx._("Common"), "op:k:c")], cancel_row(ctx)]
    return Reply(text, buttons=buttons)


async def _confirm(ctx: Context, draft: BroadcastDraft) -> list[Reply]:
    ctx.save(draft.at(DraftStep.KIND))
    return [_kind_question(ctx)]


async def _queue(ctx: Context, draft: BroadcastDraft, emergency: bool) -> list[Reply]:
    if draft.step is not DraftStep.KIND:
        return await start_broadcast(ctx)
    audience = _audience(ctx, draft.audience)
    if audience is None:  # the config changed since the preview: show the new one
        return await _preview(ctx, draft)
    ctx.clear_state()
    try:
        queued = await queue_broadcast(
            ctx.uow,
            texts=draft.broadcast_texts,
            audience=audience,
            emergency=emergency,
            created_by=f"{ctx.incoming.channel}:{ctx.incoming.user_id}",
            now=ctx.now,
            progress=ProgressChat(ctx.incoming.channel, ctx.incoming.chat_id, ctx.tr.locale),
        )
    except AudienceError:
        return [Reply(ctx._("No messenger channel is configured for delivery; nothing was queued."))]
    text = ctx.tr.n_(
        "Broadcast #{id} is queued for {count} recipient. Its progress will appear here.",
        "Broadcast #{id} is queued for {count} recipients. Its progress will appear here.",
        queued.total,
        id=queued.id,
    )
    return [Reply(text, buttons=[[Button(ctx._("Broadcasts"), "op:list")]])]


# --- /broadcasts --------------------------------------------------------------------------------


def _status_name(ctx: Context, status: str) -> str:
    names = {
        "queued": ctx._("queued"),
        "sending": ctx._("sending"),
        "done": ctx._("done"),
        "cancelled": ctx._("cancelled"),
    }
    return names.get(status, status)


def _summary_line(ctx: Context, broadcast: Broadcast) -> str:
    p = progress_of(broadcast)
    line = ctx._(
        "#{id} · {status} · {created}\n   sent {sent}, failed {failed}, left {remaining} of {total}",
        id=p.id,
        status=_status_name(ctx, p.status),
        created=format_moment(p.created_at, ctx.config.bot_zone, ctx.tr.locale),
        sent=p.sent,
        failed=p.failed,
        remaining=p.remaining,
        total=p.total,
    )
    return line + (" · " + ctx._("emergency") if p.emergency else "")


@router.command("/broadcasts")
@operators_only
async def list_broadcasts(ctx: Context) -> list[Reply]:
    ctx.clear_state()
    broadcasts = await ctx.uow.broadcasts.recent(RECENT)
    if not broadcasts:
        return [Reply(ctx._("No broadcasts yet. Start one with /broadcast."))]
    lines = [ctx._("Recent broadcasts:")] + [_summary_line(ctx, broadcast) for broadcast in broadcasts]
    buttons = [
        [Button(ctx._("Cancel #{id}", id=broadcast.id), f"op:stop:{broadcast.id}")]
        for broadcast in broadcasts
        if broadcast.status in UNFINISHED
    ]
    buttons.append([Button(ctx._("Refresh"), "op:list")])
    return [Reply("\n".join(lines), buttons=buttons)]


def _broadcast_id(argument: str) -> int | None:
    _, _, number = argument.partition(":")
    return parse_id(number)


async def _ask_cancel(ctx: Context, broadcast_id: int) -> list[Reply]:
    broadcast = await ctx.uow.broadcasts.get(broadcast_id)
    if broadcast is None or broadcast.status not in UNFINISHED:
        return [Reply(ctx._("Broadcast #{id} is not running.", id=broadcast_id))]
    text = ctx.tr.n_(
        "Cancel broadcast #{id}? The {count} message not sent yet will be dropped.",
        "Cancel broadcast #{id}? The {count} messages not sent yet will be dropped.",
        progress_of(broadcast).remaining,
        id=broadcast_id,
    )
    buttons = [[Button(ctx._("Yes, cancel it"), f"op:stopok:{broadcast_id}"), Button(ctx._("No"), "op:list")]]
    return [Reply(text, buttons=buttons)]


async def _cancel(ctx: Context, broadcast_id: int) -> list[Reply]:
    actor = f"{ctx.incoming.channel}:{ctx.incoming.user_id}"
    cancelled = await cancel_broadcast(ctx.uow, broadcast_id, actor, ctx.now)
    if cancelled is None:
        return [Reply(ctx._("Broadcast #{id} is not running.", id=broadcast_id))]
    text = ctx.tr.n_(
        "Broadcast #{id} is cancelled: {count} message will not be sent.",
        "Broadcast #{id} is cancelled: {count} messages will not be sent.",
        cancelled,
        id=broadcast_id,
    )
    return [Reply(text, buttons=[[Button(ctx._("Broadcasts"), "op:list")]])]


# --- the buttons --------------------------------------------------------------------------------


async def _set_provider(ctx: Context, draft: BroadcastDraft, provider_id: str) -> list[Reply]:
    filters = draft.audience.model_copy(update={"provider": provider_id})
    if _audience(ctx, filters) is None:
        return await _show_providers(ctx)
    return await _preview(ctx, draft, filters)


async def _set_locale(ctx: Context, draft: BroadcastDraft, code: str) -> list[Reply]:
    filters = draft.audience.model_copy(update={"locale": code})
    if _audience(ctx, filters) is None:
        return await _show_languages(ctx)
    return await _preview(ctx, draft, filters)


@router.action("op")
@operators_only
async def operator_action(ctx: Context) -> list[Reply]:
    argument = action_argument(ctx)
    name, _, value = argument.partition(":")
    if name == "list":
        return await list_broadcasts(ctx)
    if name in ("stop", "stopok"):
        broadcast_id = _broadcast_id(argument)
        if broadcast_id is None:
            return await list_broadcasts(ctx)
        return await (_ask_cancel if name == "stop" else _cancel)(ctx, broadcast_id)
    draft_steps: dict[str, Callable[[BroadcastDraft], Awaitable[list[Reply]]]] = {
        "aud": lambda draft: _reply(_audience_menu(ctx)),
        "all": lambda draft: _preview(ctx, draft, AudienceFilters()),
        "prov": lambda draft: _show_providers(ctx),
        "p": lambda draft: _set_provider(ctx, draft, value),
        "addr": lambda draft: _ask_address(ctx, draft),
        "debt": lambda draft: _ask_debt(ctx, draft),
        "d": lambda draft: _with_min_debt(ctx, draft, Decimal(0)),
        "lang": lambda draft: _show_languages(ctx),
        "l": lambda draft: _set_locale(ctx, draft, value),
        "ok": lambda draft: _confirm(ctx, draft),
        "k": lambda draft: _queue(ctx, draft, emergency=value == "e"),
    }
    step = draft_steps.get(name)
    if step is None:
        return await not_understood(ctx)
    # Audience buttons only make sense while a draft exists (an old button pressed later starts over).
    draft = _draft(ctx)
    if draft is None:
        return await start_broadcast(ctx)
    return await step(draft)


async def _reply(reply: Reply) -> list[Reply]:
    return [reply]
