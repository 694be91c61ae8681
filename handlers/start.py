"""Greeting (/start) and choosing the language."""

from __future__ import annotations

from domain.localize import format_names
from handlers.context import Context
from handlers.menu import menu_reply
from handlers.routing import Router, action_argument
from handlers.types import Button, Reply

router = Router()

# Each language is offered under its own name, so a resident finds theirs whatever is shown now.
LANGUAGE_NAMES = {"uk": "Українська", "ru": "Русский", "zh": "中文", "en": "English"}


def language_buttons(ctx: Context) -> list[list[Button]]:
    codes = ctx.config.bot.locales
    buttons = [Button(LANGUAGE_NAMES[code], f"lang:{code}") for code in codes]
    return [buttons[index : index + 2] for index in range(0, len(buttons), 2)]


def provider_names(ctx: Context) -> str:
    names = [provider.localized_name(ctx.tr.locale) for provider in ctx.config.providers]
    return format_names(names, ctx.tr.locale)


@router.command("/start")
async def start(ctx: Context) -> list[Reply]:
    ctx.clear_state()
    text = ctx._(
        "Hello! I am the residents' assistant of {providers}.\n"
        "Here you can check your balance and charges, and add the personal accounts from your receipts.\n"
        "Language: {language}. To change it, tap Language.",
        providers=provider_names(ctx),
        language=LANGUAGE_NAMES[ctx.tr.locale],
    )
    return [menu_reply(ctx, text)]


@router.command("/language")
@router.action("lang")
async def choose_language(ctx: Context) -> list[Reply]:
    code = action_argument(ctx)
    if code in ctx.config.bot.locales:
        ctx.set_locale(code)
        ctx.clear_state()
        return [menu_reply(ctx, ctx._("Language set: {language}.", language=LANGUAGE_NAMES[code]))]
    back = [Button(ctx._("Menu"), "menu")]
    return [Reply(ctx._("Choose your language:"), buttons=[*language_buttons(ctx), back])]
