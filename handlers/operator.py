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
from typing import Any

from domain.broadcast import MAX_TEXT_UNITS, BroadcastTextError, BroadcastTexts, parse_texts
from domain.config import enabled_channels
from domain.localize import format_moment, format_number
from domain.money import parse_amount
from domain.quiet_hours import quiet_hours_from_config
from handlers.context import Context
from handlers.menu import cancel_row, not_understood
from handlers.routing import Handler, Router, action_argument, parse_id
from handlers.types import Button, Reply
from storage.models import Broadcast
from storage.repositories.broadcasts import UNFINISHED, Audience, progress_of

router = Router()

STEP_TEXT = "op:text"
STEP_ADDRESS = "op:address"
STEP_DEBT = "op:debt"
STEP_PREVIEW = "op:preview"
STEP_KIND = "op:kind"

PREVIEW_CHARS = 600
RECENT = 10
MAX_ADDRESS = 100


def operators_only(handler: Handler) -> Handler:
    """Non-operators get the answer any unknown input gets: the feature does not exist for them."""

    async def guarded(ctx: Context) -> list[Reply]:
        if not ctx.is_operator:
            return await not_understood(ctx)
        return await handler(ctx)

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded


# --- the draft kept in the conversation state ---------------------------------------------------


def _draft_texts(ctx: Context) -> BroadcastTexts | None:
    texts = ctx.data.get("texts")
    if not isinstance(texts, dict) or not texts:
        return None
    return BroadcastTexts({str(k): str(v) for k, v in texts.items()}, str(ctx.data.get("default", "")))


def _draft_audience(ctx: Context) -> Audience:
    data: dict[str, Any] = dict(ctx.data.get("audience") or {})
    data["channels"] = list(enabled_channels(ctx.config))
    return Audience.from_json(data)


def _save(ctx: Context, state: str, texts: BroadcastTexts, audience: Audience) -> None:
    filters = {key: value for key, value in audience.to_json().items() if key != "channels"}
    ctx.set_state(state, texts=texts.texts, default=texts.default_locale, audience=filters)


def _with(audience: Audience, **changes: Any) -> Audience:
    data = audience.to_json()
    data.update({key: value for key, value in changes.items()})
    return Audience.from_json({key: value for key, value in data.items() if value is not None})


# --- /broadcast: the text -----------------------------------------------------------------------


@router.command("/broadcast")
@operators_only
async def start_broadcast(ctx: Context) -> list[Reply]:
    ctx.set_state(STEP_TEXT)
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


@router.step(STEP_TEXT)
@operators_only
async def text_received(ctx: Context) -> list[Reply]:
    if ctx.incoming.kind != "text":
        return [Reply(ctx._("Please send the broadcast as text."), buttons=[cancel_row(ctx)])]
    try:
        texts = parse_texts(ctx.incoming.text, ctx.config.bot.locales, ctx.config.bot.default_locale)
    except BroadcastTextError as error:
        return [
            Reply(_text_problem(ctx, error) + " " + ctx._("Please send it again."), buttons=[cancel_row(ctx)])
        ]
    _save(ctx, STEP_PREVIEW, texts, Audience())
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


def describe_audience(ctx: Context, audience: Audience) -> str:
    parts: list[str] = []
    if audience.provider is not None:
        try:
            name = ctx.config.provider(audience.provider).localized_name(ctx.tr.locale)
        except KeyError:
            name = audience.provider
        parts.append(ctx._("company: {name}", name=name))
    if audience.address:
        parts.append(ctx._("address contains “{text}”", text=audience.address))
    if audience.min_debt is not None:
        parts.append(ctx._("owe more than {amount}", amount=format_number(audience.min_debt, ctx.tr.locale)))
    if audience.locale is not None:
        parts.append(ctx._("language: {code}", code=audience.locale))
    return "; ".join(parts) if parts else ctx._("everyone")


async def _preview(ctx: Context, audience: Audience) -> list[Reply]:
    texts = _draft_texts(ctx)
    if texts is None:
        return await start_broadcast(ctx)
    _save(ctx, STEP_PREVIEW, texts, audience)
    count = await ctx.uow.broadcasts.count_audience(audience)
    sample = texts.for_locale(ctx.tr.locale)
    if len(sample) > PREVIEW_CHARS:
        sample = sample[:PREVIEW_CHARS] + "…"
    text = "\n".join(
        [
            ctx._("Broadcast preview"),
            ctx._("Audience: {audience}", audience=describe_audience(ctx, audience)),
            ctx._("Recipients: {count}", count=count),
            ctx._(
                "Languages: {codes} (others get {default})",
                codes=", ".join(texts.texts),
                default=texts.default_locale,
            ),
            "",
            sample,
        ]
    )
    buttons: list[list[Button]] = []
    if count:
        buttons.append([Button(ctx._("Confirm"), "op:ok")])
    else:
        text += "\n\n" + ctx._("Nobody matches. Change the filters.")
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


async def _ask_address(ctx: Context) -> list[Reply]:
    ctx.set_state(STEP_ADDRESS, **{key: value for key, value in ctx.data.items()})
    return [
        Reply(
            ctx._("Type part of the address, e.g. a street name (any letter case)."),
            buttons=[cancel_row(ctx)],
        )
    ]


async def _ask_debt(ctx: Context) -> list[Reply]:
    ctx.set_state(STEP_DEBT, **{key: value for key, value in ctx.data.items()})
    buttons = [[Button(ctx._("Any debt"), "op:d")], cancel_row(ctx)]
    return [
        Reply(ctx._("Only residents who owe more than what amount? Type it, or choose:"), buttons=buttons)
    ]


@router.step(STEP_ADDRESS)
@operators_only
async def address_received(ctx: Context) -> list[Reply]:
    fragment = ctx.incoming.text.strip() if ctx.incoming.kind == "text" else ""
    if not fragment or len(fragment) > MAX_ADDRESS:
        return [
            Reply(ctx._("Please type part of the address, e.g. a street name."), buttons=[cancel_row(ctx)])
        ]
    return await _preview(ctx, _with(_draft_audience(ctx), address=fragment))


@router.step(STEP_DEBT)
@operators_only
async def debt_received(ctx: Context) -> list[Reply]:
    amount = parse_amount(ctx.incoming.text) if ctx.incoming.kind == "text" else None
    if amount is None or amount < 0:
        return [
            Reply(ctx._("Please type an amount, e.g. 500, or choose “Any debt”."), buttons=[cancel_row(ctx)])
        ]
    return await _preview(ctx, _with(_draft_audience(ctx), min_debt=str(amount)))


@router.step(STEP_PREVIEW, STEP_KIND)
@operators_only
async def use_the_buttons(ctx: Context) -> list[Reply]:
    if ctx.state == STEP_KIND:
        return [_kind_question(ctx)]
    return await _preview(ctx, _draft_audience(ctx))


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


async def _confirm(ctx: Context) -> list[Reply]:
    if _draft_texts(ctx) is None:
        return await start_broadcast(ctx)
    ctx.set_state(STEP_KIND, **{key: value for key, value in ctx.data.items()})
    return [_kind_question(ctx)]


async def _queue(ctx: Context, emergency: bool) -> list[Reply]:
    texts = _draft_texts(ctx)
    if texts is None or ctx.state != STEP_KIND:
        return await start_broadcast(ctx)
    audience = _draft_audience(ctx)
    if not audience.channels:
        ctx.clear_state()
        return [Reply(ctx._("No messenger channel is configured for delivery; nothing was queued."))]
    broadcast = await ctx.uow.broadcasts.create(
        created_by=f"{ctx.incoming.channel}:{ctx.incoming.user_id}",
        texts=texts.texts,
        default_locale=texts.default_locale,
        audience=audience,
        emergency=emergency,
        now=ctx.now,
        progress_channel=ctx.incoming.channel,
        progress_chat_key=ctx.incoming.chat_id,
        progress_locale=ctx.tr.locale,
    )
    total = await ctx.uow.broadcasts.queue(broadcast, ctx.now)
    ctx.clear_state()
    text = ctx._(
        "Broadcast #{id} is queued for {count} recipients. Its progress will appear here.",
        id=broadcast.id,
        count=total,
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
    text = ctx._(
        "Cancel broadcast #{id}? The {count} messages not sent yet will be dropped.",
        id=broadcast_id,
        count=progress_of(broadcast).remaining,
    )
    buttons = [[Button(ctx._("Yes, cancel it"), f"op:stopok:{broadcast_id}"), Button(ctx._("No"), "op:list")]]
    return [Reply(text, buttons=buttons)]


async def _cancel(ctx: Context, broadcast_id: int) -> list[Reply]:
    cancelled = await ctx.uow.broadcasts.cancel(broadcast_id, ctx.now)
    if cancelled is None:
        return [Reply(ctx._("Broadcast #{id} is not running.", id=broadcast_id))]
    text = ctx._(
        "Broadcast #{id} is cancelled: {count} messages will not be sent.", id=broadcast_id, count=cancelled
    )
    return [Reply(text, buttons=[[Button(ctx._("Broadcasts"), "op:list")]])]


# --- the buttons --------------------------------------------------------------------------------


async def _set_provider(ctx: Context, provider_id: str) -> list[Reply]:
    if provider_id not in {p.id for p in ctx.config.providers}:
        return await _show_providers(ctx)
    return await _preview(ctx, _with(_draft_audience(ctx), provider=provider_id))


async def _set_locale(ctx: Context, code: str) -> list[Reply]:
    if code not in ctx.config.bot.locales:
        return await _show_languages(ctx)
    return await _preview(ctx, _with(_draft_audience(ctx), locale=code))


async def _in_draft(ctx: Context, then: Callable[[], Awaitable[list[Reply]]]) -> list[Reply]:
    """Audience buttons only make sense while a draft exists (an old button pressed later starts over)."""
    if _draft_texts(ctx) is None:
        return await start_broadcast(ctx)
    return await then()


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
    draft_steps: dict[str, Callable[[], Awaitable[list[Reply]]]] = {
        "aud": lambda: _reply(_audience_menu(ctx)),
        "all": lambda: _preview(ctx, Audience(channels=enabled_channels(ctx.config))),
        "prov": lambda: _show_providers(ctx),
        "p": lambda: _set_provider(ctx, value),
        "addr": lambda: _ask_address(ctx),
        "debt": lambda: _ask_debt(ctx),
        "d": lambda: _preview(ctx, _with(_draft_audience(ctx), min_debt=str(Decimal(0)))),
        "lang": lambda: _show_languages(ctx),
        "l": lambda: _set_locale(ctx, value),
        "ok": lambda: _confirm(ctx),
        "k": lambda: _queue(ctx, emergency=value == "e"),
    }
    step = draft_steps.get(name)
    if step is None:
        return await not_understood(ctx)
    return await _in_draft(ctx, step)


async def _reply(reply: Reply) -> list[Reply]:
    return [reply]
