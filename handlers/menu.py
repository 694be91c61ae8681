"""The main menu, /cancel, /menu, and the hint for anything the bot did not understand."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps

from domain.localize import join_sentences
from handlers.context import Context
from handlers.fraud import fraud_warning_if_mentioned
from handlers.routing import Handler, Router
from handlers.types import Button, Reply
from storage.models import Account

router = Router()


def main_menu(ctx: Context) -> list[list[Button]]:
    _ = ctx._
    return [
        [Button(_("Balance"), "bal"), Button(_("Pay"), "pay")],
        [Button(_("Submit readings"), "rd"), Button(_("My readings"), "rd:hist")],
        [Button(_("New request"), "req:new"), Button(_("My requests"), "req:list")],
        [Button(_("My accounts"), "acc:list"), Button(_("Add account"), "acc:add")],
        [Button(_("Help and contacts"), "help"), Button(_("Language"), "lang")],
        [Button(_("Settings"), "set")],
    ]


def cancel_row(ctx: Context) -> list[Button]:
    return [Button(ctx._("Cancel"), "cancel")]


def menu_reply(ctx: Context, text: str) -> Reply:
    return Reply(text, buttons=main_menu(ctx))


def no_account_reply(ctx: Context, text: str) -> list[Reply]:
    """The answer of every account-bound flow while the chat has no account yet."""
    return [Reply(text, buttons=[[Button(ctx._("Add account"), "acc:add")], [Button(ctx._("Menu"), "menu")]])]


def for_current_account(flow: Callable[[Context, Account], Awaitable[list[Reply]]]) -> Handler:
    """A handler that runs ``flow`` on the chat's current account, or asks to add one first."""

    @wraps(flow)
    async def handler(ctx: Context) -> list[Reply]:
        ctx.clear_state()
        account = await ctx.current_account()
        if account is None:
            return no_account_reply(ctx, ctx._("Add your personal account first."))
        return await flow(ctx, account)

    return handler


@router.command("/menu")
@router.action("menu")
async def show_menu(ctx: Context) -> list[Reply]:
    ctx.clear_state()
    return [menu_reply(ctx, ctx._("Main menu. What would you like to do?"))]


@router.command("/cancel")
@router.action("cancel")
async def cancel(ctx: Context) -> list[Reply]:
    text = ctx._("Cancelled.") if ctx.state else ctx._("Nothing to cancel.")
    ctx.clear_state()
    menu = ctx._("Main menu. What would you like to do?")
    return [menu_reply(ctx, join_sentences([text, menu], ctx.tr.locale))]


async def not_understood(ctx: Context) -> list[Reply]:
    warning = await fraud_warning_if_mentioned(ctx)
    if warning is not None:
        return [menu_reply(ctx, reply.text) for reply in warning]
    return [
        menu_reply(ctx, ctx._("Sorry, I did not understand that. Please use the buttons below or /help."))
    ]
