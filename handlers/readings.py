"""Meter readings: the window check, one pass over all meters, confirmations, summary, receipt, history."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from domain.config import ProviderConfig
from domain.i18n import N_
from domain.localize import format_day, format_number, format_period
from domain.readings import ValueCheck, ValueProblem, check_value, consumption, parse_meter_value
from domain.windows import WindowSpan, window_status
from handlers.accounts import provider_label
from handlers.context import Context
from handlers.menu import cancel_row, menu_reply, no_account_reply, not_understood
from handlers.routing import Router, action_argument, parse_id
from handlers.types import Button, Reply
from storage.models import Account, Meter

router = Router()

STEP_VALUE = "rd:value"
STEP_CONFIRM_VALUE = "rd:unusual"
STEP_SUMMARY = "rd:summary"

KIND_NAMES = {
    "cold_water": N_("Cold water"),
    "hot_water": N_("Hot water"),
    "heat": N_("Heat"),
    "electricity": N_("Electricity"),
    "gas": N_("Gas"),
}
ZONE_NAMES = {"day": N_("day"), "night": N_("night")}
RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def meter_name(ctx: Context, meter: Meter) -> str:
    kind = ctx._(KIND_NAMES[meter.kind]) if meter.kind in KIND_NAMES else meter.kind
    if meter.zone in ZONE_NAMES:
        kind = f"{kind} ({ctx._(ZONE_NAMES[meter.zone])})"
    return ctx._("{kind}, meter No. {serial}", kind=kind, serial=meter.serial)


def _new_receipt() -> str:
    code = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(8))
    return f"{code[:4]}-{code[4:]}"


def _amount(ctx: Context, value: Decimal | None, meter: Meter) -> str:
    if value is None:
        return "—"
    return f"{format_number(value, ctx.tr.locale)} {meter.unit}"


async def _account_and_provider(ctx: Context, account_id: int) -> tuple[Account, ProviderConfig] | None:
    account = await ctx.uow.accounts.bound(ctx.chat.id, account_id)
    if account is None:
        return None
    try:
        return account, ctx.config.provider(account.provider_id)
    except KeyError:
        return None


def _closed_reply(ctx: Context, provider: ProviderConfig, following: WindowSpan) -> Reply:
    locale = ctx.tr.locale
    return menu_reply(
        ctx,
        ctx._(
            "{provider} accepts meter readings only during the monthly window. It is closed now.\n"
            "The next window: from {opens} to {closes} inclusive.",
            provider=provider.localized_name(locale),
            opens=format_day(following.opens, locale),
            closes=format_day(following.closes, locale),
        ),
    )


@router.command("/readings")
async def readings_command(ctx: Context) -> list[Reply]:
    return await _choose_account(ctx, "rd:acc")


async def _choose_account(ctx: Context, action: str) -> list[Reply]:
    ctx.clear_state()
    accounts = await ctx.uow.accounts.bound_to_chat(ctx.chat.id)
    if not accounts:
        return no_account_reply(ctx, ctx._("Add your personal account first."))
    if len(accounts) == 1:
        return await (start_readings if action == "rd:acc" else show_history)(ctx, accounts[0].id)
    buttons = [
        [Button(f"{account.number} — {provider_label(ctx, account)}", f"{action}:{account.id}")]
        for account in accounts
    ]
    return [Reply(ctx._("Which account?"), buttons=[*buttons, [Button(ctx._("Menu"), "menu")]])]


async def start_readings(ctx: Context, account_id: int) -> list[Reply]:
    found = await _account_and_provider(ctx, account_id)
    if found is None:
        return await _choose_account(ctx, "rd:acc")
    account, provider = found
    ctx.chat.current_account_id = account.id
    current, following = window_status(provider.reading_window, ctx.now, provider.tz)
    if current is None:
        return [_closed_reply(ctx, provider, following)]
    meters = await ctx.uow.readings.meters_of(account.id)
    manual = [meter for meter in meters if not meter.automatic]
    notes = [
        ctx._("{meter} is read automatically; nothing to submit for it.", meter=meter_name(ctx, meter))
        for meter in meters
        if meter.automatic
    ]
    if not manual:
        text = ctx._("There are no meters to submit readings for on account {number}.", number=account.number)
        return [menu_reply(ctx, "\n".join([text, *notes]))]
    ctx.set_state(
        STEP_VALUE,
        account=account.id,
        period=current.period,
        meters=[meter.id for meter in manual],
        index=0,
        values={},
        editing=False,
    )
    intro = ctx._(
        "Readings for {period}, account {number} ({provider}). The window is open until {closes} inclusive.",
        period=format_period(current.period, ctx.tr.locale),
        number=account.number,
        provider=provider.localized_name(ctx.tr.locale),
        closes=format_day(current.closes, ctx.tr.locale),
    )
    question = await _question(ctx)
    return [Reply("\n".join([intro, *notes])), question]


async def _meter_at(ctx: Context, index: int) -> Meter | None:
    meter_ids: list[int] = ctx.data.get("meters", [])
    if not 0 <= index < len(meter_ids):
        return None
    return await ctx.uow.readings.meter_of_account(meter_ids[index], ctx.data.get("account"))


async def _question(ctx: Context, prefix: str = "") -> Reply:
    data = ctx.data
    index = int(data["index"])
    meter = await _meter_at(ctx, index)
    if meter is None:
        ctx.clear_state()
        return menu_reply(ctx, ctx._("The list of meters has changed. Please start again."))
    previous = await ctx.uow.readings.previous(meter, data["period"])
    lines = [prefix] if prefix else []
    lines.append(
        ctx._(
            "Meter {n} of {total}: {meter}",
            n=index + 1,
            total=len(data["meters"]),
            meter=meter_name(ctx, meter),
        )
    )
    if previous.value is None:
        lines.append(ctx._("No previous reading on record."))
    elif previous.on is None:
        lines.append(ctx._("Previous reading: {value}", value=_amount(ctx, previous.value, meter)))
    else:
        lines.append(
            ctx._(
                "Previous reading: {value} on {date}",
                value=_amount(ctx, previous.value, meter),
                date=format_day(previous.on, ctx.tr.locale),
            )
        )
    submitted = (await ctx.uow.readings.latest_for_period([meter.id], data["period"])).get(meter.id)
    if submitted is not None:
        lines.append(
            ctx._(
                "You already submitted {value} for this period; a new value will replace it.",
                value=_amount(ctx, submitted.value, meter),
            )
        )
    lines.append(ctx._("Type the current reading (digits as on the meter):"))
    return Reply("\n".join(lines), buttons=[cancel_row(ctx)])


def _problem_text(ctx: Context, problem: ValueProblem, precision: int) -> str:
    if problem is ValueProblem.NEGATIVE:
        return ctx._("A meter reading cannot be negative.")
    if problem is ValueProblem.TOO_MANY_DECIMALS:
        return (
            ctx.tr.n_(
                "This meter takes at most {count} digit after the decimal point.",
                "This meter takes at most {count} digits after the decimal point.",
                precision,
            )
            if precision
            else ctx._("This meter takes whole numbers only, without decimals.")
        )
    if problem is ValueProblem.TOO_LONG:
        return ctx._("That is too long for a meter reading.")
    return ctx._("Please type the reading as a number, for example 123.456 or 123,456.")


@router.step(STEP_VALUE)
async def value_typed(ctx: Context) -> list[Reply]:
    data = ctx.data
    meter = await _meter_at(ctx, int(data.get("index", -1)))
    if meter is None:
        ctx.clear_state()
        return [menu_reply(ctx, ctx._("The list of meters has changed. Please start again."))]
    text = ctx.incoming.text if ctx.incoming.kind == "text" else ""
    parsed = parse_meter_value(text, meter.precision)
    if parsed.value is None:
        reason = _problem_text(ctx, parsed.problem or ValueProblem.NOT_A_NUMBER, meter.precision)
        return [await _question(ctx, prefix=reason)]
    previous = await ctx.uow.readings.previous(meter, data["period"])
    verdict = check_value(parsed.value, previous.value, meter.max_monthly_delta)
    if verdict in (ValueCheck.BELOW_PREVIOUS, ValueCheck.JUMP):
        ctx.set_state(STEP_CONFIRM_VALUE, **{**data, "pending": str(parsed.value)})
        if verdict is ValueCheck.BELOW_PREVIOUS:
            text = ctx._(
                "{value} is lower than the previous reading {previous}. If the meter was replaced or went "
                "past its maximum, confirm this value; otherwise type the correct one.",
                value=_amount(ctx, parsed.value, meter),
                previous=_amount(ctx, previous.value, meter),
            )
        else:
            text = ctx._(
                "{value} means {used} used since the previous reading, more than the usual maximum of "
                "{limit} a month. Confirm this value if it is right; otherwise type the correct one.",
                value=_amount(ctx, parsed.value, meter),
                used=_amount(ctx, consumption(parsed.value, previous.value), meter),
                limit=_amount(ctx, meter.max_monthly_delta, meter),
            )
        return [Reply(text, buttons=[[Button(ctx._("Yes, the value is right"), "rd:ok")], cancel_row(ctx)])]
    return await _accept(ctx, data, parsed.value)


@router.step(STEP_CONFIRM_VALUE)
async def value_retyped(ctx: Context) -> list[Reply]:
    """While an unusual value waits for confirmation, a newly typed value replaces it."""
    ctx.set_state(STEP_VALUE, **{key: value for key, value in ctx.data.items() if key != "pending"})
    return await value_typed(ctx)


async def _accept(ctx: Context, data: dict[str, Any], value: Decimal) -> list[Reply]:
    index = int(data["index"])
    values = {**data.get("values", {}), str(data["meters"][index]): str(value)}
    data = {key: item for key, item in data.items() if key != "pending"}
    next_index = len(data["meters"]) if data.get("editing") else index + 1
    if next_index < len(data["meters"]):
        ctx.set_state(STEP_VALUE, **{**data, "values": values, "index": next_index})
        return [await _question(ctx)]
    ctx.set_state(STEP_SUMMARY, **{**data, "values": values, "nonce": secrets.token_hex(8), "editing": False})
    return [await _summary(ctx)]


async def _summary(ctx: Context) -> Reply:
    data = ctx.data
    lines = [
        ctx._("Please check your readings for {period}:", period=format_period(data["period"], ctx.tr.locale))
    ]
    for index in range(len(data["meters"])):
        meter = await _meter_at(ctx, index)
        if meter is None:
            continue
        value = Decimal(data["values"][str(meter.id)])
        previous = await ctx.uow.readings.previous(meter, data["period"])
        used = consumption(value, previous.value)
        if previous.value is None:
            detail = ctx._("{meter}: {value}", meter=meter_name(ctx, meter), value=_amount(ctx, value, meter))
        elif used is None:
            detail = ctx._(
                "{meter}: {previous} → {value} (lower than before: meter replaced or rolled over)",
                meter=meter_name(ctx, meter),
                previous=_amount(ctx, previous.value, meter),
                value=_amount(ctx, value, meter),
            )
        else:
            detail = ctx._(
                "{meter}: {previous} → {value}, used {used}",
                meter=meter_name(ctx, meter),
                previous=_amount(ctx, previous.value, meter),
                value=_amount(ctx, value, meter),
                used=_amount(ctx, used, meter),
            )
        lines.append("• " + detail)
    buttons = [
        [Button(ctx._("Confirm"), "rd:confirm"), Button(ctx._("Edit"), "rd:edit")],
        cancel_row(ctx),
    ]
    return Reply("\n".join(lines), buttons=buttons)


@router.step(STEP_SUMMARY)
async def summary_expected(ctx: Context) -> list[Reply]:
    summary = await _summary(ctx)
    summary.text = ctx._("Please use the buttons: Confirm, Edit or Cancel.") + "\n\n" + summary.text
    return [summary]


async def _confirm(ctx: Context) -> list[Reply]:
    data = ctx.data
    if ctx.state != STEP_SUMMARY:
        if data.get("receipt"):
            return [
                menu_reply(
                    ctx,
                    ctx._(
                        "These readings are already saved. Receipt No. {receipt}.", receipt=data["receipt"]
                    ),
                )
            ]
        return await not_understood(ctx)
    found = await _account_and_provider(ctx, int(data["account"]))
    if found is None:
        ctx.clear_state()
        return [menu_reply(ctx, ctx._("This account is no longer in your list."))]
    _, provider = found
    current, following = window_status(provider.reading_window, ctx.now, provider.tz)
    if current is None or current.period != data["period"]:
        ctx.clear_state()
        return [_closed_reply(ctx, provider, following)]
    receipt = _new_receipt()
    rows = []
    for index in range(len(data["meters"])):
        meter = await _meter_at(ctx, index)
        if meter is None:
            continue
        previous = await ctx.uow.readings.previous(meter, data["period"])
        rows.append(
            {
                "meter_id": meter.id,
                "period": data["period"],
                "value": Decimal(data["values"][str(meter.id)]),
                "previous_value": previous.value,
                "submitted_at": ctx.now,
                "channel": ctx.incoming.channel,
                "chat_id": ctx.chat.id,
                "receipt": receipt,
                "dedup_key": f"{data['nonce']}:{meter.id}",
            }
        )
    await ctx.uow.readings.add_many(rows)
    ctx.set_state("", receipt=receipt)
    return [
        menu_reply(
            ctx,
            ctx._(
                "Thank you! Your readings for {period} are saved. Receipt No. {receipt}.",
                period=format_period(data["period"], ctx.tr.locale),
                receipt=receipt,
            ),
        )
    ]


@router.command("/history")
async def history_command(ctx: Context) -> list[Reply]:
    return await _choose_account(ctx, "rd:hist")


async def show_history(ctx: Context, account_id: int) -> list[Reply]:
    found = await _account_and_provider(ctx, account_id)
    if found is None:
        return await _choose_account(ctx, "rd:hist")
    account, _ = found
    ctx.clear_state()
    ctx.chat.current_account_id = account.id
    lines = [ctx._("Accepted readings, account {number}:", number=account.number)]
    for meter in await ctx.uow.readings.meters_of(account.id):
        history = await ctx.uow.readings.history(meter.id)
        lines += ["", meter_name(ctx, meter)]
        if not history:
            lines.append(ctx._("no readings submitted through the bot yet"))
        for reading in history:
            used = consumption(reading.value, reading.previous_value)
            line = ctx._(
                "{period}: {value} on {date}",
                period=format_period(reading.period, ctx.tr.locale),
                value=_amount(ctx, reading.value, meter),
                date=format_day(reading.submitted_at.astimezone(ctx.config.bot_zone).date(), ctx.tr.locale),
            )
            if used is not None:
                line += ", " + ctx._("used {used}", used=_amount(ctx, used, meter))
            lines.append("  " + line)
    return [menu_reply(ctx, "\n".join(lines))]


@router.action("rd")
async def readings_action(ctx: Context) -> list[Reply]:
    verb, _, argument = action_argument(ctx).partition(":")
    number = parse_id(argument)
    if verb == "":
        return await _choose_account(ctx, "rd:acc")
    if verb in ("acc", "hist") and number is not None:
        return await (start_readings if verb == "acc" else show_history)(ctx, number)
    if verb == "hist":
        return await _choose_account(ctx, "rd:hist")
    if verb == "ok" and ctx.state == STEP_CONFIRM_VALUE and "pending" in ctx.data:
        data = ctx.data
        return await _accept(ctx, data, Decimal(data["pending"]))
    if verb == "confirm":
        return await _confirm(ctx)
    if verb == "edit" and ctx.state == STEP_SUMMARY:
        data = ctx.data
        buttons = []
        for index in range(len(data["meters"])):
            meter = await _meter_at(ctx, index)
            if meter is not None:
                buttons.append([Button(meter_name(ctx, meter), f"rd:fix:{index}")])
        return [Reply(ctx._("Which reading do you want to change?"), buttons=[*buttons, cancel_row(ctx)])]
    if verb == "fix" and ctx.state == STEP_SUMMARY and number is not None:
        data = ctx.data
        if number < len(data["meters"]):
            ctx.set_state(STEP_VALUE, **{**data, "index": number, "editing": True})
            return [await _question(ctx)]
    return await not_understood(ctx)
