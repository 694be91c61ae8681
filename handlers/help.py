"""Help: what the bot does, its commands (from the registry) and the providers' contacts."""

from __future__ import annotations

from domain.config import ProviderConfig
from handlers.commands import listed
from handlers.context import Context
from handlers.menu import menu_reply
from handlers.routing import Router
from handlers.types import Reply

router = Router()


def contacts(ctx: Context, provider: ProviderConfig) -> str:
    lines = [provider.localized_name(ctx.tr.locale)]
    if provider.hotline:
        lines.append(ctx._("Hotline: {phone}", phone=provider.hotline))
    hours = provider.localized_hours(ctx.tr.locale)
    if hours:
        lines.append(ctx._("Working hours: {hours}", hours=hours))
    if provider.email:
        lines.append(ctx._("E-mail: {email}", email=provider.email))
    if provider.website:
        lines.append(ctx._("Website: {url}", url=provider.website))
    return "\n".join(lines)


def command_list(ctx: Context) -> str:
    """The commands this reader may use, from the registry (handlers.commands)."""
    lines = [ctx._("Commands:")]
    lines += [f"{c.name} — {ctx._(c.description)}" for c in listed(ctx.is_operator)]
    return "\n".join(lines)


@router.command("/help")
@router.action("help")
async def show_help(ctx: Context) -> list[Reply]:
    ctx.clear_state()
    accounts = await ctx.uow.accounts.bound_to_chat(ctx.chat.id)
    mine = {account.provider_id for account in accounts}
    providers = [p for p in ctx.config.providers if p.id in mine] or list(ctx.config.providers)
    text = "\n\n".join(
        [
            ctx._(
                "What I can do:\n"
                "• Add account — link the personal account from your receipt to this chat.\n"
                "• My accounts — switch between several accounts or remove one.\n"
                "• Balance — what you owe, the due date and the last charges.\n"
                "• Submit readings — during the monthly window, for all your meters in one go.\n"
                "• My readings — the readings you submitted, with consumption."
            ),
            ctx._(
                "• New request — write to the company: a leak, no heating, a question about a charge, "
                "an application.\n• My requests — their answers; write more, or mark one solved."
            ),
            command_list(ctx),
            ctx._("Settings: choose the reminders you receive (meter readings, payments, announcements)."),
            ctx._("Contacts:"),
            *(contacts(ctx, provider) for provider in providers),
        ]
    )
    return [menu_reply(ctx, text)]
