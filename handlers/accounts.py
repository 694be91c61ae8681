"""Accounts: add (provider → number → receipt fact, with lockout), list, pick the current one, remove."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import ClassVar, Self

from pydantic import model_validator

from domain.config import ProviderConfig
from domain.localize import format_moment
from domain.text import normalize_account_number
from domain.verification import (
    LOCKOUT_PERIOD,
    UNKNOWN_ACCOUNT,
    AccountFacts,
    fact_matches,
    locked_until,
    mask_holder,
)
from handlers.context import Context
from handlers.conversation import FlowState
from handlers.menu import cancel_row, menu_reply, no_account_reply, not_understood
from handlers.routing import Router, action_argument, parse_id
from handlers.types import Button, Reply
from storage.models import Account

router = Router()


class BindStep(StrEnum):
    PROVIDER = "bind:provider"
    NUMBER = "bind:number"
    FACT = "bind:fact"


class BindingState(FlowState):
    """Adding an account: the company chosen, then the number typed, then the receipt fact asked."""

    FLOW: ClassVar[str] = "bind"
    VERSION: ClassVar[int] = 1

    step: BindStep
    provider: str | None = None
    number: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.step is not BindStep.PROVIDER and self.provider is None:
            raise ValueError("no provider")
        if self.step is BindStep.FACT and not self.number:
            raise ValueError("no number")
        return self


def provider_label(ctx: Context, account: Account) -> str:
    try:
        return ctx.config.provider(account.provider_id).localized_name(ctx.tr.locale)
    except KeyError:
        return account.provider_id


async def _lock_state(ctx: Context) -> tuple[int, timedelta | None]:
    """Failures left before the lockout, and how long the lockout still lasts (None when open)."""
    failures = await ctx.uow.verification.failures_since(ctx.chat.id, ctx.now - LOCKOUT_PERIOD)
    limit = ctx.config.bot.max_verification_failures
    until = locked_until(failures, limit)
    if until is not None and until > ctx.now:
        return 0, until - ctx.now
    return max(limit - len(failures), 0), None


def _locked_reply(ctx: Context, remaining: timedelta) -> Reply:
    until = format_moment(ctx.now + remaining, ctx.config.bot_zone, ctx.tr.locale)
    ctx.clear_state()
    return menu_reply(
        ctx,
        ctx._(
            "Too many unsuccessful attempts to add an account. For your security, adding accounts "
            "from this chat is paused until {until}. If you need help, call the hotline (see Help).",
            until=until,
        ),
    )


def _ask_number(ctx: Context, provider: ProviderConfig, prefix: str = "") -> Reply:
    ctx.save(BindingState(step=BindStep.NUMBER, provider=provider.id))
    text = ctx._(
        "Type the personal account number from your {provider} receipt.",
        provider=provider.localized_name(ctx.tr.locale),
    )
    return Reply(f"{prefix}{text}", buttons=[cancel_row(ctx)])


def _fact_question(ctx: Context, provider: ProviderConfig) -> str:
    if provider.verification == "last_payment":
        return ctx._(
            "To confirm it is yours, type the amount of your last payment as shown on the receipt, "
            "e.g. 1 234,50."
        )
    if provider.verification == "address":
        return ctx._(
            "To confirm it is yours, type your apartment number as shown on the receipt "
            "(for a private house, the house number)."
        )
    return ctx._("To confirm it is yours, type the account holder's surname as shown on the receipt.")


@router.command("/add")
async def start_binding(ctx: Context) -> list[Reply]:
    _, remaining = await _lock_state(ctx)
    if remaining is not None:
        return [_locked_reply(ctx, remaining)]
    providers = ctx.config.providers
    if len(providers) == 1:
        return [_ask_number(ctx, providers[0])]
    ctx.save(BindingState(step=BindStep.PROVIDER))
    buttons = [[Button(p.localized_name(ctx.tr.locale), f"accp:{p.id}")] for p in providers]
    return [Reply(ctx._("Which company's receipt is it?"), buttons=[*buttons, cancel_row(ctx)])]


@router.action("accp")
async def provider_chosen(ctx: Context) -> list[Reply]:
    _, remaining = await _lock_state(ctx)
    if remaining is not None:
        return [_locked_reply(ctx, remaining)]
    try:
        provider = ctx.config.provider(action_argument(ctx))
    except KeyError:
        return await start_binding(ctx)
    return [_ask_number(ctx, provider)]


@router.step(BindStep.PROVIDER)
async def provider_expected(ctx: Context) -> list[Reply]:
    buttons = [[Button(p.localized_name(ctx.tr.locale), f"accp:{p.id}")] for p in ctx.config.providers]
    return [
        Reply(ctx._("Please choose the company with a button below."), buttons=[*buttons, cancel_row(ctx)])
    ]


def _provider_of(ctx: Context, state: BindingState | None) -> ProviderConfig | None:
    """The state's company, if it is still configured."""
    if state is None or state.provider is None:
        return None
    try:
        return ctx.config.provider(state.provider)
    except KeyError:
        return None


@router.step(BindStep.NUMBER)
async def number_typed(ctx: Context) -> list[Reply]:
    provider = _provider_of(ctx, ctx.load(BindingState))
    if provider is None:
        return await start_binding(ctx)
    number = normalize_account_number(ctx.incoming.text) if ctx.incoming.kind == "text" else None
    if number is None:
        return [
            Reply(
                ctx._(
                    "This does not look like an account number. It is printed on the receipt and has "
                    "from 3 to 32 digits; spaces and dashes are fine. Please type it again."
                ),
                buttons=[cancel_row(ctx)],
            )
        ]
    ctx.save(BindingState(step=BindStep.FACT, provider=provider.id, number=number))
    return [Reply(_fact_question(ctx, provider), buttons=[cancel_row(ctx)])]


@router.step(BindStep.FACT)
async def fact_typed(ctx: Context) -> list[Reply]:
    state = ctx.load(BindingState)
    provider = _provider_of(ctx, state)
    number = state.number if state is not None else None
    if provider is None or not number:
        return await start_binding(ctx)
    if ctx.incoming.kind != "text" or not ctx.incoming.text.strip():
        return [Reply(_fact_question(ctx, provider), buttons=[cancel_row(ctx)])]
    _, remaining = await _lock_state(ctx)
    if remaining is not None:
        return [_locked_reply(ctx, remaining)]

    account = await ctx.uow.accounts.find(provider.id, number)
    facts = (
        AccountFacts(account.address, account.holder, account.last_payment_amount)
        if account is not None
        else UNKNOWN_ACCOUNT
    )
    matched = fact_matches(provider.verification, ctx.incoming.text, facts) and account is not None
    await ctx.uow.verification.record(ctx.chat.id, provider.id, number, matched, ctx.now)
    if account is None or not matched:
        left, remaining = await _lock_state(ctx)
        if remaining is not None:
            return [_locked_reply(ctx, remaining)]
        # The same words whether the account exists or not: nothing is revealed to a guesser.
        prefix = ctx._(
            "We could not confirm this account: the number or the receipt detail does not match. "
            "Attempts left: {left}.",
            left=left,
        )
        return [_ask_number(ctx, provider, prefix=prefix + "\n")]

    already = await ctx.uow.accounts.is_bound(ctx.chat.id, account.id)
    await ctx.uow.accounts.bind(ctx.chat.id, account.id)
    ctx.chat.current_account_id = account.id
    ctx.clear_state()
    text = ctx._(
        "Account {number} is added and selected.\nAddress: {address}\nHolder: {holder}",
        number=account.number,
        address=account.address,
        holder=mask_holder(account.holder),
    )
    if already:
        text = ctx._("This account is already in your list; it is now selected.")
    return [menu_reply(ctx, text)]


def _account_line(ctx: Context, account: Account, current: bool) -> str:
    marker = "▶" if current else "•"
    return f"{marker} {account.number} — {provider_label(ctx, account)}, {account.address}"


@router.command("/accounts")
async def list_accounts(ctx: Context) -> list[Reply]:
    ctx.clear_state()
    accounts = await ctx.uow.accounts.bound_to_chat(ctx.chat.id)
    if not accounts:
        return no_account_reply(ctx, ctx._("You have no accounts in this chat yet."))
    current = await ctx.current_account()
    lines = [ctx._("Your accounts (▶ is the selected one):")]
    lines += [
        _account_line(ctx, account, current is not None and account.id == current.id) for account in accounts
    ]
    buttons = [
        [
            Button(ctx._("Select {number}", number=account.number), f"acc:use:{account.id}"),
            Button(ctx._("Remove {number}", number=account.number), f"acc:del:{account.id}"),
        ]
        for account in accounts
    ]
    buttons += [[Button(ctx._("Add account"), "acc:add"), Button(ctx._("Menu"), "menu")]]
    return [Reply("\n".join(lines), buttons=buttons)]


async def _bound_account(ctx: Context, argument: str) -> Account | None:
    account_id = parse_id(argument)
    return None if account_id is None else await ctx.uow.accounts.bound(ctx.chat.id, account_id)


@router.action("acc")
async def account_action(ctx: Context) -> list[Reply]:
    verb, _, argument = action_argument(ctx).partition(":")
    if verb == "add":
        return await start_binding(ctx)
    if verb == "list":
        return await list_accounts(ctx)
    account = await _bound_account(ctx, argument)
    if account is None:
        return await list_accounts(ctx)
    ctx.clear_state()
    if verb == "use":
        ctx.chat.current_account_id = account.id
        return [
            menu_reply(
                ctx,
                ctx._(
                    "Selected account {number}, {address}.", number=account.number, address=account.address
                ),
            )
        ]
    if verb == "del":
        return [
            Reply(
                ctx._(
                    "Remove account {number} ({address}) from this chat?",
                    number=account.number,
                    address=account.address,
                ),
                buttons=[
                    [Button(ctx._("Yes, remove"), f"acc:delok:{account.id}"), Button(ctx._("No"), "acc:list")]
                ],
            )
        ]
    if verb == "delok":
        await ctx.uow.accounts.unbind(ctx.chat.id, account.id)
        if ctx.chat.current_account_id == account.id:
            ctx.chat.current_account_id = None
        return [menu_reply(ctx, ctx._("Account {number} is removed from this chat.", number=account.number))]
    return await not_understood(ctx)
