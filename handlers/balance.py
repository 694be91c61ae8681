"""Balance of the current account: owed or overpaid, due date, and the last period's charges."""

from __future__ import annotations

from decimal import Decimal

from domain.config import ProviderConfig
from domain.localize import format_day, format_money, format_period
from domain.services import service_name
from domain.windows import due_date_or_default
from handlers.accounts import provider_label
from handlers.context import Context
from handlers.menu import main_menu, no_account_reply
from handlers.routing import Router
from handlers.types import Button, Reply

router = Router()


@router.command("/balance")
@router.action("bal")
async def show_balance(ctx: Context) -> list[Reply]:
    ctx.clear_state()
    account = await ctx.current_account()
    if account is None:
        return no_account_reply(ctx, ctx._("Add your personal account first, then I can show its balance."))
    try:
        provider: ProviderConfig | None = ctx.config.provider(account.provider_id)
    except KeyError:  # the provider left the config; its accounts stay readable
        provider = None
    currency = provider.currency if provider is not None else "UAH"
    locale = ctx.tr.locale

    def money(amount: Decimal) -> str:
        return format_money(amount, currency, locale)

    lines = [
        ctx._("Account {number} — {provider}", number=account.number, provider=provider_label(ctx, account)),
        account.address,
        "",
    ]
    if account.balance > 0:
        lines.append(ctx._("To pay: {amount}", amount=money(account.balance)))
        due = account.due_date
        if provider is not None:
            due = due_date_or_default(due, provider.payment_due_day, ctx.now.astimezone(provider.tz).date())
        if due is not None:
            lines.append(ctx._("Due date: {date}", date=format_day(due, locale)))
    elif account.balance < 0:
        lines.append(ctx._("Nothing to pay: overpaid by {amount}", amount=money(-account.balance)))
    else:
        lines.append(ctx._("Nothing to pay: the balance is zero."))

    period, charges = await ctx.uow.billing.latest_charges(account.id)
    if period is not None:
        lines += ["", ctx._("Charges for {period}:", period=format_period(period, locale))]
        lines += [f"• {service_name(c.service, locale, provider)}: {money(c.amount)}" for c in charges]
        lines.append(ctx._("Total: {amount}", amount=money(sum((c.amount for c in charges), Decimal(0)))))
    accounts = await ctx.uow.accounts.bound_to_chat(ctx.chat.id)
    buttons = [
        [Button(ctx._("Pay"), "pay"), Button(ctx._("Charges"), "chg")],
        [Button(ctx._("Payments"), "pmt"), Button(ctx._("Consumption chart"), "chart")],
        *main_menu(ctx),
    ]
    if len(accounts) > 1:
        buttons = [[Button(ctx._("Switch account"), "acc:list")], *buttons]
    return [Reply("\n".join(lines), buttons=buttons)]
