"""Paying through official channels: the pay screen (links + payment QR per provider), charges by
period, payment history, and the consumption chart."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import partial

from domain.chart import consumption_chart, monthly_consumption
from domain.config import ProviderConfig, pick_localized
from domain.localize import format_day, format_money, format_month_labels, format_period, join_clauses
from domain.payment_qr import NbuQr, St00012Qr, UrlQr, build_payload, fill_link, filled_purpose
from domain.qr_image import fit_symbol, qr_png, renders
from domain.services import channel_name, service_name, unit_name
from domain.text import fold
from domain.windows import parse_period, period_of, shift_period
from handlers.accounts import provider_label
from handlers.context import Context
from handlers.menu import for_current_account, main_menu, menu_reply
from handlers.readings import meter_name
from handlers.routing import Router, action_argument
from handlers.types import Button, Reply, UrlButton
from storage.models import Account

router = Router()

HISTORY_MONTHS = 12


def _provider_of(ctx: Context, account: Account) -> ProviderConfig | None:
    try:
        return ctx.config.provider(account.provider_id)
    except KeyError:
        return None


def _money(ctx: Context, account: Account, amount: Decimal) -> str:
    provider = _provider_of(ctx, account)
    return format_money(amount, provider.currency if provider is not None else "UAH", ctx.tr.locale)


def _requisites(
    ctx: Context, qr: NbuQr | St00012Qr, account: Account, due: Decimal | None, period: str
) -> list[str]:
    purpose = filled_purpose(qr, account.number, due, period, ctx.tr.locale)
    if isinstance(qr, NbuQr):
        return [
            ctx._("Recipient: {name}", name=qr.name),
            ctx._("IBAN: {iban}", iban=qr.iban),
            ctx._("Recipient code (EDRPOU): {code}", code=qr.code),
            ctx._("Purpose: {purpose}", purpose=purpose),
        ]
    return [
        ctx._("Recipient: {name}", name=qr.name),
        ctx._("Account: {account}", account=qr.personal_acc),
        ctx._(
            "Bank: {bank}, BIC {bic}, corr. account {corr}",
            bank=qr.bank_name,
            bic=qr.bic,
            corr=qr.corresp_acc,
        ),
        ctx._("Tax number (INN): {inn}", inn=qr.payee_inn),
        ctx._("Purpose: {purpose}", purpose=purpose),
    ]


def _caption(
    ctx: Context, provider: ProviderConfig, account: Account, due: Decimal | None
) -> tuple[str, ...]:
    """The lines under the QR image: company, account and amount, so saved images differ.
    A company name the bundled fonts cannot draw falls back to the English (or first) one."""
    company = provider.localized_name(ctx.tr.locale)
    if not renders(company):
        company = pick_localized(provider.name, "en")
    if due is None:
        amount = ctx._("Amount: type it in your banking app")
    else:
        amount = ctx._("To pay: {amount}", amount=_money(ctx, account, due))
    return (company, ctx._("Account {number}", number=account.number), amount)


async def _pay_reply(ctx: Context, account: Account, provider: ProviderConfig) -> Reply:
    """One provider's part of the pay screen: amount, official links, QR code, requisites as text."""
    locale = ctx.tr.locale
    due = account.balance if account.balance > 0 else None
    period = (await ctx.uow.billing.latest_charges(account.id))[0] or period_of(
        ctx.now.astimezone(provider.tz)
    )
    lines = [
        ctx._("{provider}, account {number}", provider=provider.localized_name(locale), number=account.number)
    ]
    if due is not None:
        lines.append(ctx._("To pay: {amount}", amount=_money(ctx, account, due)))
    elif account.balance < 0:
        lines.append(
            ctx._("Nothing to pay: overpaid by {amount}", amount=_money(ctx, account, -account.balance))
        )
    else:
        lines.append(ctx._("Nothing to pay: the balance is zero."))
    links = [
        UrlButton(link.localized_title(locale), fill_link(link.url, account.number, due, period))
        for link in provider.payment_links
    ]
    draw = None
    qr = provider.payment_qr
    if qr is not None:
        try:
            link = links[0].url if links else None
            payload = build_payload(qr, account.number, due, period, link, locale)
            version, level = fit_symbol(payload, qr.symbol_rule)
        except ValueError:
            # The worst case was checked at start-up; an account longer than account_max_length
            # (or with a character the standard forbids) still gets the requisites, as text.
            if isinstance(qr, UrlQr):
                lines.append(ctx._("Open the payment page by this link:"))
                lines += [link.url for link in links]
            else:
                lines.append(ctx._("Pay by these requisites: copy them into your banking app."))
                lines += _requisites(ctx, qr, account, due, period)
        else:
            caption = _caption(ctx, provider, account, due)
            sign = qr.symbol_rule.hryvnia_sign
            draw = partial(qr_png, payload, level, version=version, caption=caption, hryvnia_sign=sign)
            if isinstance(qr, UrlQr):
                lines.append(ctx._("Scan the QR code with your phone camera to open the payment page."))
            else:
                lines.append(ctx._("Scan the QR code in your banking app, or pay by these requisites:"))
                lines += _requisites(ctx, qr, account, due, period)
    if not links and qr is None:
        lines.append(
            ctx._(
                "Payment details are on your paper receipt; call the hotline: {phone}",
                phone=provider.hotline or "—",
            )
        )
    lines += [
        "",
        ctx._(
            "⚠ {provider} never authorises agents or “discounts” for paying. Pay only through "
            "these official links and QR codes.",
            provider=provider.localized_name(locale),
        ),
    ]
    return Reply(
        "\n".join(lines), links=links, draw=draw, image_name=f"pay-{provider.id}-{account.number}.png"
    )


async def _same_receipt(ctx: Context, account: Account) -> list[Account]:
    """The current account and the chat's other accounts at the same address (one receipt, two providers)."""
    accounts = await ctx.uow.accounts.bound_to_chat(ctx.chat.id)
    address = fold(account.address)
    return [account] + [a for a in accounts if a.id != account.id and fold(a.address) == address]


@router.command("/pay")
@router.action("pay")
@for_current_account
async def pay(ctx: Context, account: Account) -> list[Reply]:
    replies: list[Reply] = []
    for item in await _same_receipt(ctx, account):
        try:
            provider = ctx.config.provider(item.provider_id)
        except KeyError:
            continue
        replies.append(await _pay_reply(ctx, item, provider))
    replies.append(menu_reply(ctx, ctx._("After paying, the payment appears here within a few days.")))
    return replies


@router.command("/charges")
@router.action("chg")
@for_current_account
async def charges(ctx: Context, account: Account) -> list[Reply]:
    periods = await ctx.uow.billing.periods(account.id, HISTORY_MONTHS)
    if not periods:
        return [menu_reply(ctx, ctx._("No charges on record for account {number}.", number=account.number))]
    chosen = action_argument(ctx)
    if chosen not in periods:
        buttons = [Button(format_period(period, ctx.tr.locale), f"chg:{period}") for period in periods]
        rows = [buttons[index : index + 3] for index in range(0, len(buttons), 3)]
        return [
            Reply(
                ctx._("Charges of account {number}: choose the period.", number=account.number),
                buttons=[*rows, [Button(ctx._("Menu"), "menu")]],
            )
        ]
    items = await ctx.uow.billing.charges(account.id, chosen)
    lines = [
        ctx._(
            "Charges for {period}, account {number}:",
            period=format_period(chosen, ctx.tr.locale),
            number=account.number,
        )
    ]
    provider = _provider_of(ctx, account)
    lines += [
        f"• {service_name(item.service, ctx.tr.locale, provider)}: {_money(ctx, account, item.amount)}"
        for item in items
    ]
    lines.append(
        ctx._("Total: {amount}", amount=_money(ctx, account, sum((i.amount for i in items), Decimal(0))))
    )
    return [Reply("\n".join(lines), buttons=[[Button(ctx._("Other period"), "chg")], *main_menu(ctx)])]


@router.command("/payments")
@router.action("pmt")
@for_current_account
async def payments(ctx: Context, account: Account) -> list[Reply]:
    year, month = parse_period(shift_period(period_of(ctx.now.astimezone(ctx.config.bot_zone).date()), -11))
    items = await ctx.uow.billing.payments_since(account.id, date(year, month, 1))
    if not items:
        return [
            menu_reply(
                ctx, ctx._("No payments in the last 12 months for account {number}.", number=account.number)
            )
        ]
    lines = [ctx._("Payments of the last 12 months, account {number}:", number=account.number)]
    provider = _provider_of(ctx, account)
    for item in items:
        line = f"• {format_day(item.paid_on, ctx.tr.locale)}: {_money(ctx, account, item.amount)}"
        if item.channel:
            channel = channel_name(item.channel, ctx.tr.locale, provider)
            line = ctx._("{payment} ({channel})", payment=line, channel=channel)
        lines.append(line)
    lines.append(
        ctx._("Total: {amount}", amount=_money(ctx, account, sum((i.amount for i in items), Decimal(0))))
    )
    return [menu_reply(ctx, "\n".join(lines))]


@router.command("/chart")
@router.action("chart")
@for_current_account
async def chart(ctx: Context, account: Account) -> list[Reply]:
    provider = _provider_of(ctx, account)
    zone = provider.tz if provider is not None else ctx.config.bot_zone
    last = period_of(ctx.now.astimezone(zone).date())
    periods = [shift_period(last, -back) for back in range(HISTORY_MONTHS - 1, -1, -1)]
    labels = format_month_labels(periods, ctx.tr.locale)
    series = []
    for meter in await ctx.uow.readings.meters_of(account.id):
        billed = meter.last_date is not None and meter.last_value is not None
        readings = [(meter.last_date, meter.last_value)] if billed else []
        history = await ctx.uow.readings.history(meter.id, HISTORY_MONTHS + 1)
        readings += [(r.submitted_at.astimezone(zone).date(), r.value) for r in reversed(history)]
        months = monthly_consumption(readings, periods, meter.precision)
        if all(value is None for value, _ in months):
            continue  # no readings (e.g. a meter read automatically): no empty panel
        points = [(label, value, partial) for label, (value, partial) in zip(labels, months, strict=True)]
        unit = unit_name(meter.unit, ctx.tr.locale, provider)
        series.append((join_clauses([meter_name(ctx, meter), unit], ctx.tr.locale), points))
    if not series:
        return [
            menu_reply(
                ctx,
                ctx._(
                    "There are no readings yet to draw a chart for account {number}.", number=account.number
                ),
            )
        ]
    title = ctx._(
        "Monthly consumption, account {number} ({provider})",
        number=account.number,
        provider=provider_label(ctx, account),
    )
    draw = partial(
        consumption_chart,
        title,
        series,
        ctx._("Consumption per calendar month"),
        ctx.tr.locale,
        ctx._("month so far"),
    )
    return [Reply(title, draw=draw, image_name=f"consumption-{account.number}.png", buttons=main_menu(ctx))]
