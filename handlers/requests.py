"""Residents' requests: kind → account → text (or the new contact) → photos → summary → Submit,
and My requests: each request's status and conversation, writing to it, Solved, Reopen."""

from __future__ import annotations

import secrets
from enum import StrEnum
from typing import ClassVar, Self

from pydantic import model_validator

from domain import request_texts as texts
from domain.config import ProviderConfig, RequestKind
from domain.localize import format_day, format_moment
from domain.requests import (
    CLOSED,
    CONTACT,
    MAX_PHOTOS,
    MAX_TEXT,
    REOPEN_DAYS,
    month_day,
    normalize_contact,
)
from handlers import requests_service as service
from handlers.accounts import provider_label
from handlers.context import Context
from handlers.conversation import FlowState
from handlers.menu import cancel_row, menu_reply, no_account_reply, not_understood
from handlers.routing import Router, action_argument, parse_id
from handlers.types import Button, Reply
from storage.models import Account, ServiceRequest

router = Router()


class RequestStep(StrEnum):
    KIND = "rq:kind"
    ACCOUNT = "rq:account"
    TEXT = "rq:text"
    PHOTOS = "rq:photos"
    SUMMARY = "rq:summary"
    WRITE = "rq:write"  # a follow-up to the open request ``request``


class RequestState(FlowState):
    """A request being written, or a message to an open one."""

    FLOW: ClassVar[str] = "rq"
    VERSION: ClassVar[int] = 1

    step: RequestStep
    kind: str | None = None
    account: int | None = None
    text: str | None = None
    contact: str | None = None
    media: tuple[str, ...] = ()
    nonce: str | None = None
    request: int | None = None

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.step not in (RequestStep.KIND, RequestStep.WRITE) and self.kind is None:
            raise ValueError("no kind")
        if self.step in (RequestStep.TEXT, RequestStep.PHOTOS, RequestStep.SUMMARY) and self.account is None:
            raise ValueError("no account")
        if self.step in (RequestStep.PHOTOS, RequestStep.SUMMARY) and not self.text:
            raise ValueError("no text")
        if self.step is RequestStep.SUMMARY and not self.nonce:
            raise ValueError("no nonce")
        if self.step is RequestStep.WRITE and self.request is None:
            raise ValueError("no request")
        if len(self.media) > MAX_PHOTOS:
            raise ValueError("too many photos")
        return self


def _kinds_of(ctx: Context, accounts: list[Account]) -> list[tuple[str, str]]:
    """(kind id, name) of every kind the chat's companies take, in the configured order."""
    seen: dict[str, str] = {}
    for account in accounts:
        provider = _provider(ctx, account)
        for kind in provider.request_kinds if provider is not None else ():
            seen.setdefault(kind.id, texts.kind_name(ctx.tr, provider, kind.id))
    return list(seen.items())


def _provider(ctx: Context, account: Account) -> ProviderConfig | None:
    try:
        return ctx.config.provider(account.provider_id)
    except KeyError:
        return None


def _kind(ctx: Context, account: Account, kind_id: str) -> tuple[ProviderConfig, RequestKind] | None:
    provider = _provider(ctx, account)
    if provider is None:
        return None
    try:
        return provider, provider.request_kind(kind_id)
    except KeyError:
        return None


@router.command("/request")
async def new_request(ctx: Context) -> list[Reply]:
    ctx.clear_state()
    accounts = await ctx.uow.accounts.bound_to_chat(ctx.chat.id)
    if not accounts:
        return no_account_reply(ctx, ctx._("Add your personal account first."))
    ctx.save(RequestState(step=RequestStep.KIND))
    buttons = [[Button(name, f"req:k:{kind_id}")] for kind_id, name in _kinds_of(ctx, accounts)]
    return [Reply(ctx._("What is your request about?"), buttons=[*buttons, cancel_row(ctx)])]


@router.step(RequestStep.KIND, RequestStep.ACCOUNT)
async def button_expected(ctx: Context) -> list[Reply]:
    return [Reply(ctx._("Please choose with a button above, or press Cancel."), buttons=[cancel_row(ctx)])]


async def _kind_chosen(ctx: Context, kind_id: str) -> list[Reply]:
    accounts = [a for a in await ctx.uow.accounts.bound_to_chat(ctx.chat.id) if _kind(ctx, a, kind_id)]
    if not accounts:
        return await new_request(ctx)
    replies: list[Reply] = []
    urgent = [found for account in accounts if (found := _kind(ctx, account, kind_id)) and found[1].urgent]
    for provider in {found[0].id: found[0] for found in urgent}.values():
        if provider.hotline:
            replies.append(
                Reply(
                    ctx._(
                        "If water is flowing, call the 24-hour hotline of {provider} now: {phone}. "
                        "Then you can also write your request here.",
                        provider=provider.localized_name(ctx.tr.locale),
                        phone=provider.hotline,
                    )
                )
            )
    if len(accounts) == 1:
        return [*replies, *await _account_chosen(ctx, kind_id, accounts[0])]
    ctx.save(RequestState(step=RequestStep.ACCOUNT, kind=kind_id))
    buttons = [
        [Button(f"{account.number} — {provider_label(ctx, account)}", f"req:a:{account.id}")]
        for account in accounts
    ]
    return [*replies, Reply(ctx._("Which account is it about?"), buttons=[*buttons, cancel_row(ctx)])]


async def _account_chosen(ctx: Context, kind_id: str, account: Account) -> list[Reply]:
    found = _kind(ctx, account, kind_id)
    if found is None:
        return await new_request(ctx)
    provider, kind = found
    window = kind.window
    if window is not None and not window.accepts(ctx.now, provider.tz):
        ctx.clear_state()
        locale, year = ctx.tr.locale, ctx.now.astimezone(provider.tz).year
        text = ctx.tr.n_(
            "{provider} accepts applications to stop or restart heating from {opens} to {deadline}; "
            "the heating stays off for at least {seasons} heating season. This year's applications "
            "are closed; they open again on {next}.",
            "{provider} accepts applications to stop or restart heating from {opens} to {deadline}; "
            "the heating stays off for at least {seasons} heating seasons. This year's applications "
            "are closed; they open again on {next}.",
            kind.min_seasons,
            provider=provider.localized_name(locale),
            opens=format_day(month_day(kind.opens, year), locale),
            deadline=format_day(month_day(kind.deadline or kind.opens, year), locale),
            seasons=kind.min_seasons,
            next=format_day(window.next_opening(ctx.now, provider.tz), locale),
        )
        return [menu_reply(ctx, text)]
    ctx.save(RequestState(step=RequestStep.TEXT, kind=kind.id, account=account.id))
    return [Reply(_text_question(ctx, kind), buttons=[cancel_row(ctx)])]


def _text_question(ctx: Context, kind: RequestKind) -> str:
    if kind.form == CONTACT:
        return ctx._("Type the new phone number (e.g. +380501234567) or e-mail address.")
    return ctx._("Describe your request in one message, up to {limit} characters.", limit=MAX_TEXT)


@router.action("req")
async def request_action(ctx: Context) -> list[Reply]:
    verb, _, argument = action_argument(ctx).partition(":")
    if verb == "new":
        return await new_request(ctx)
    if verb == "list":
        return await my_requests(ctx)
    if verb == "k":
        return await _kind_chosen(ctx, argument)
    if verb == "a":
        state = ctx.load(RequestState)
        account_id = parse_id(argument)
        account = None if account_id is None else await ctx.uow.accounts.bound(ctx.chat.id, account_id)
        if state is None or state.kind is None or account is None:
            return await new_request(ctx)
        return await _account_chosen(ctx, state.kind, account)
    if verb == "done":
        return await _photos_done(ctx)
    if verb == "submit":
        return await _submit(ctx, argument)
    request_id = parse_id(argument)
    request = None if request_id is None else await ctx.uow.requests.of_chat(ctx.chat.id, request_id)
    if request is None:
        return await my_requests(ctx)
    if verb == "show":
        return await _show(ctx, request)
    if verb == "w":
        return _ask_follow_up(ctx, request)
    if verb == "solved":
        await service.close(ctx.uow, ctx.config, request, "", ctx.now)
        ctx.clear_state()
        text = ctx._(
            "Request #{number} is closed. Thank you! If the problem comes back, you can reopen it "
            "within {days} days in My requests.",
            number=request.id,
            days=REOPEN_DAYS,
        )
        return [menu_reply(ctx, text)]
    if verb == "reopen":
        try:
            await service.reopen(ctx.uow, ctx.config, request, ctx.now)
        except service.TooLateToReopen:
            return [menu_reply(ctx, _too_late(ctx, request))]
        return [menu_reply(ctx, ctx._("Request #{number} is open again; we will answer.", number=request.id))]
    return await not_understood(ctx)


def _too_late(ctx: Context, request: ServiceRequest) -> str:
    return ctx._(
        "Request #{number} was closed more than {days} days ago and cannot be reopened. "
        "Please file a new request.",
        number=request.id,
        days=REOPEN_DAYS,
    )


def _typed_text(ctx: Context) -> tuple[str | None, Reply | None]:
    """The resident's text (a photo's caption counts), or the answer that refuses it."""
    incoming = ctx.incoming
    if incoming.kind == "media" and not incoming.media:
        return None, Reply(
            ctx._("Stickers, files and voice messages cannot be attached. Please type the text."),
            buttons=[cancel_row(ctx)],
        )
    text = incoming.text.strip() if incoming.kind in ("text", "media") else ""
    if not text:
        return None, Reply(ctx._("The message is empty. Please type the text."), buttons=[cancel_row(ctx)])
    if len(text) > MAX_TEXT:
        return None, Reply(
            ctx._(
                "The text is too long: {length} characters, at most {limit}. Please shorten it.",
                length=len(text),
                limit=MAX_TEXT,
            ),
            buttons=[cancel_row(ctx)],
        )
    return text, None


@router.step(RequestStep.TEXT)
async def text_typed(ctx: Context) -> list[Reply]:
    state = ctx.require(RequestState)
    account = None if state.account is None else await ctx.uow.accounts.bound(ctx.chat.id, state.account)
    found = None if account is None or state.kind is None else _kind(ctx, account, state.kind)
    if found is None:
        return await new_request(ctx)
    _, kind = found
    text, refusal = _typed_text(ctx)
    if refusal is not None or text is None:
        return [refusal or Reply(_text_question(ctx, kind))]
    if kind.form == CONTACT:
        contact = normalize_contact(text)
        if contact is None:
            return [
                Reply(
                    ctx._("This is neither a phone number nor an e-mail address.")
                    + " "
                    + _text_question(ctx, kind),
                    buttons=[cancel_row(ctx)],
                )
            ]
        return [await _summary(ctx, state.model_copy(update={"text": contact, "contact": contact}))]
    media = ctx.incoming.media[:MAX_PHOTOS]
    following = state.model_copy(update={"step": RequestStep.PHOTOS, "text": text, "media": media})
    ctx.save(following)
    return [_photos_question(ctx, following)]


def _photos_question(ctx: Context, state: RequestState) -> Reply:
    count = len(state.media)
    if count:
        text = ctx.tr.n_(
            "{count} photo added. Send more (up to {limit}) or press Done.",
            "{count} photos added. Send more (up to {limit}) or press Done.",
            count,
            limit=MAX_PHOTOS,
        )
        button = Button(ctx._("Done"), "req:done")
    else:
        text = ctx._("You can add up to {limit} photos: send them now, or press Skip.", limit=MAX_PHOTOS)
        button = Button(ctx._("Skip"), "req:done")
    return Reply(text, buttons=[[button], cancel_row(ctx)])


@router.step(RequestStep.PHOTOS)
async def photo_sent(ctx: Context) -> list[Reply]:
    state = ctx.require(RequestState)
    incoming = ctx.incoming
    if incoming.kind == "media" and incoming.media:
        room = MAX_PHOTOS - len(state.media)
        if room <= 0:
            return [
                Reply(ctx._("At most {limit} photos can be attached.", limit=MAX_PHOTOS)),
                _photos_question(ctx, state),
            ]
        state = state.model_copy(update={"media": (*state.media, *incoming.media[:room])})
        ctx.save(state)
        return [_photos_question(ctx, state)]
    if incoming.kind == "media":
        refusal = ctx._("Only photos can be attached (not stickers, files or videos).")
    else:
        refusal = ctx._("Please send a photo, or press the button.")
    return [Reply(refusal), _photos_question(ctx, state)]


async def _photos_done(ctx: Context) -> list[Reply]:
    state = ctx.load(RequestState)
    if state is None or state.step is not RequestStep.PHOTOS:
        return await new_request(ctx)
    return [await _summary(ctx, state)]


async def _summary(ctx: Context, state: RequestState) -> Reply:
    account = None if state.account is None else await ctx.uow.accounts.bound(ctx.chat.id, state.account)
    found = None if account is None or state.kind is None else _kind(ctx, account, state.kind)
    if account is None or found is None:
        ctx.clear_state()
        return menu_reply(ctx, ctx._("That account is no longer in this chat. Please start again."))
    provider, kind = found
    state = state.model_copy(update={"step": RequestStep.SUMMARY, "nonce": secrets.token_hex(4)})
    ctx.save(state)
    lines = [
        ctx._("Please check your request:"),
        ctx._("Kind: {kind}", kind=texts.kind_name(ctx.tr, provider, kind.id)),
        ctx._("Account: {number}, {address}", number=account.number, address=account.address),
        ctx._("Text: {text}", text=state.text),
    ]
    if state.media:
        lines.append(ctx.tr.n_("{count} photo", "{count} photos", len(state.media)))
    buttons = [[Button(ctx._("Submit"), f"req:submit:{state.nonce}")], cancel_row(ctx)]
    return Reply("\n".join(lines), buttons=buttons)


@router.step(RequestStep.SUMMARY)
async def submit_expected(ctx: Context) -> list[Reply]:
    return [Reply(ctx._("Press Submit to send the request, or Cancel."))]


async def _submit(ctx: Context, nonce: str) -> list[Reply]:
    state = ctx.load(RequestState)
    if state is None or state.step is not RequestStep.SUMMARY or state.nonce != nonce:
        return [menu_reply(ctx, ctx._("This request was already sent or cancelled; see My requests."))]
    account = None if state.account is None else await ctx.uow.accounts.bound(ctx.chat.id, state.account)
    found = None if account is None or state.kind is None else _kind(ctx, account, state.kind)
    if account is None or found is None or not state.text:
        return await new_request(ctx)
    provider, kind = found
    filing = service.Filing(provider, kind, account, state.text, state.media, state.contact or "")
    request = await service.file_request(ctx.uow, ctx.config, ctx.chat, filing, ctx.now)
    ctx.clear_state()
    if kind.answer_hours is None:
        text = ctx._("Request #{number} registered; we will answer as soon as we can.", number=request.id)
    else:
        text = ctx.tr.n_(
            "Request #{number} registered, we answer within {hours} working hour.",
            "Request #{number} registered, we answer within {hours} working hours.",
            kind.answer_hours,
            number=request.id,
            hours=kind.answer_hours,
        )
    return [menu_reply(ctx, text)]


def _status_name(ctx: Context, request: ServiceRequest) -> str:
    return texts.status_name(ctx.tr, request.status)


def _kind_label(ctx: Context, request: ServiceRequest) -> str:
    try:
        provider: ProviderConfig | None = ctx.config.provider(request.provider_id)
    except KeyError:
        provider = None
    return texts.kind_name(ctx.tr, provider, request.kind)


@router.command("/requests")
async def my_requests(ctx: Context) -> list[Reply]:
    ctx.clear_state()
    requests = await service.requests_of(ctx.uow, ctx.chat)
    new = [Button(ctx._("New request"), "req:new"), Button(ctx._("Menu"), "menu")]
    if not requests:
        return [Reply(ctx._("You have no requests yet."), buttons=[new])]
    lines = [ctx._("Your requests:")]
    for request in requests:
        lines.append(
            ctx._(
                "#{number} {kind}, {date}: {status}",
                number=request.id,
                kind=_kind_label(ctx, request),
                date=format_day(request.created_at.date(), ctx.tr.locale),
                status=_status_name(ctx, request),
            )
        )
    buttons = [
        [Button(ctx._("Request #{number}", number=request.id), f"req:show:{request.id}")]
        for request in requests
    ]
    return [Reply("\n".join(lines), buttons=[*buttons, new])]


async def _show(ctx: Context, request: ServiceRequest) -> list[Reply]:
    ctx.clear_state()
    lines = [
        ctx._(
            "Request #{number} — {kind}: {status}",
            number=request.id,
            kind=_kind_label(ctx, request),
            status=_status_name(ctx, request),
        )
    ]
    for message in await ctx.uow.requests.messages(request.id):
        moment = format_moment(message.created_at, ctx.config.bot_zone, ctx.tr.locale)
        who = ctx._("You") if message.direction == "in" else ctx._("Operator")
        photos = (
            ctx.tr.n_(" ({count} photo)", " ({count} photos)", len(message.media)) if message.media else ""
        )
        lines.append(f"{moment} {who}: {message.text}{photos}")
    buttons: list[list[Button]] = []
    if request.status != CLOSED:
        buttons.append(
            [
                Button(ctx._("Write"), f"req:w:{request.id}"),
                Button(ctx._("Solved"), f"req:solved:{request.id}"),
            ]
        )
    elif service.can_reopen(request, ctx.now):
        buttons.append([Button(ctx._("Reopen"), f"req:reopen:{request.id}")])
    buttons.append([Button(ctx._("My requests"), "req:list"), Button(ctx._("Menu"), "menu")])
    return [Reply("\n".join(lines), buttons=buttons)]


def _closed_reply(ctx: Context, request: ServiceRequest) -> Reply:
    if service.can_reopen(request, ctx.now):
        text = ctx._("Request #{number} is closed. Reopen it to write to it.", number=request.id)
        return Reply(
            text,
            buttons=[[Button(ctx._("Reopen"), f"req:reopen:{request.id}")], [Button(ctx._("Menu"), "menu")]],
        )
    return menu_reply(ctx, _too_late(ctx, request))


def _ask_follow_up(ctx: Context, request: ServiceRequest) -> list[Reply]:
    if request.status == CLOSED:
        ctx.clear_state()
        return [_closed_reply(ctx, request)]
    ctx.save(RequestState(step=RequestStep.WRITE, request=request.id))
    return [
        Reply(ctx._("Type your message to request #{number}.", number=request.id), buttons=[cancel_row(ctx)])
    ]


@router.step(RequestStep.WRITE)
async def follow_up_typed(ctx: Context) -> list[Reply]:
    state = ctx.require(RequestState)
    request = None if state.request is None else await ctx.uow.requests.of_chat(ctx.chat.id, state.request)
    if request is None:
        return await my_requests(ctx)
    if request.status == CLOSED:
        ctx.clear_state()
        return [_closed_reply(ctx, request)]
    text, refusal = _typed_text(ctx)
    if refusal is not None or text is None:
        return [refusal or Reply(ctx._("The message is empty. Please type the text."))]
    await service.add_resident_message(
        ctx.uow, ctx.config, request, text, ctx.incoming.media[:MAX_PHOTOS], ctx.now
    )
    ctx.clear_state()
    return [
        menu_reply(ctx, ctx._("Added to request #{number}; the operators will see it.", number=request.id))
    ]
