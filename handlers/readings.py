"""Meter readings: the window check, one pass over all meters, confirmations, summary, receipt, history."""

from __future__ import annotations

import secrets
from decimal import Decimal
from enum import StrEnum
from typing import ClassVar, Self

from pydantic import Field, model_validator

from domain.config import ProviderConfig
from domain.i18n import N_
from domain.localize import format_day, format_number, format_period, format_ungrouped, join_clauses
from domain.metrics import READINGS
from domain.readings import ValueCheck, ValueProblem, check_value, consumption, parse_meter_value
from domain.services import unit_name
from domain.windows import WindowSpan, window_status
from handlers.accounts import provider_label
from handlers.context import Context
from handlers.conversation import FlowState
from handlers.menu import cancel_row, menu_reply, no_account_reply, not_understood
from handlers.routing import Router, action_argument, parse_id
from handlers.types import Button, Reply
from storage.models import Account, Meter

router = Router()


class ReadingsStep(StrEnum):
    VALUE = "rd:value"  # waiting for the reading of meters[index]
    UNUSUAL = "rd:unusual"  # an unusual value (pending) waits for confirmation
    SUMMARY = "rd:summary"  # every value typed; waiting for Confirm or Edit


class ReadingsState(FlowState):
    """One pass over the account's manual meters for one period."""

    FLOW: ClassVar[str] = "rd"
    VERSION: ClassVar[int] = 1

    step: ReadingsStep
    account: int
    period: str
    meters: tuple[int, ...]
    index: int
    values: dict[str, Decimal] = Field(default_factory=dict)  # meter id (as text) → the value typed
    editing: bool = False  # correcting one value from the summary: back to the summary after it
    pending: Decimal | None = None
    nonce: str | None = None  # the summary's: saving it twice stores the readings once

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if not self.meters or not 0 <= self.index < len(self.meters):
            raise ValueError("no meter at index")
        if self.step is ReadingsStep.UNUSUAL and self.pending is None:
            raise ValueError("no pending value")
        if self.step is ReadingsStep.SUMMARY and (
            not self.nonce or any(str(meter) not in self.values for meter in self.meters)
        ):
            raise ValueError("an incomplete summary")
        return self


class SavedReadings(FlowState):
    """Kept while idle after saving, so a second Confirm shows the receipt instead of saving again."""

    FLOW: ClassVar[str] = "rd"
    VERSION: ClassVar[int] = 1

    receipt: str


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
        kind = ctx._("{kind} ({zone})", kind=kind, zone=ctx._(ZONE_NAMES[meter.zone]))
    return ctx._("{kind}, meter No. {serial}", kind=kind, serial=meter.serial)


def _new_receipt() -> str:
    code = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(8))
    return f"{code[:4]}-{code[4:]}"


def _amount(ctx: Context, value: Decimal | None, meter: Meter) -> str:
    if value is None:
        return "—"
    return f"{format_number(value, ctx.tr.locale)} {unit_name(meter.unit, ctx.tr.locale)}"


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
    state = ReadingsState(
        step=ReadingsStep.VALUE,
        account=account.id,
        period=current.period,
        meters=tuple(meter.id for meter in manual),
        index=0,
    )
    ctx.save(state)
    intro = ctx._(
        "Readings for {period}, account {number} ({provider}). The window is open until {closes} inclusive.",
        period=format_period(current.period, ctx.tr.locale),
        number=account.number,
        provider=provider.localized_name(ctx.tr.locale),
        closes=format_day(current.closes, ctx.tr.locale),
    )
    question = await _question(ctx, state)
    return [Reply("\n".join([intro, *notes])), question]


async def _meter_at(ctx: Context, state: ReadingsState, index: int) -> Meter | None:
    """The meter at ``index`` of the pass, if it still belongs to the account."""
    return await ctx.uow.readings.meter_of_account(state.meters[index], state.account)


def _meters_changed(ctx: Context) -> Reply:
    ctx.clear_state()
    return menu_reply(ctx, ctx._("The list of meters has changed. Please start again."))


async def _question(ctx: Context, state: ReadingsState, prefix: str = "") -> Reply:
    index = state.index
    meter = await _meter_at(ctx, state, index)
    if meter is None:
        return _meters_changed(ctx)
    previous = await ctx.uow.readings.previous(meter, state.period)
    lines = [prefix] if prefix else []
    lines.append(
        ctx._(
            "Meter {position} of {total}: {meter}",
            position=index + 1,
            total=len(state.meters),
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
    submitted = (await ctx.uow.readings.latest_for_period([meter.id], state.period)).get(meter.id)
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
    return ctx._(
        "Please type the reading as a number, for example {example}.",
        example=format_number(Decimal("1234.5"), ctx.tr.locale),
    )


@router.step(ReadingsStep.VALUE)
async def value_typed(ctx: Context) -> list[Reply]:
    return await _value_typed(ctx, ctx.require(ReadingsState))


async def _value_typed(ctx: Context, state: ReadingsState) -> list[Reply]:
    meter = await _meter_at(ctx, state, state.index)
    if meter is None:
        return [_meters_changed(ctx)]
    text = ctx.incoming.text if ctx.incoming.kind == "text" else ""
    parsed = parse_meter_value(text, meter.precision, ctx.tr.locale)
    if parsed.value is None:
        reason = _problem_text(ctx, parsed.problem or ValueProblem.NOT_A_NUMBER, meter.precision)
        return [await _question(ctx, state, prefix=reason)]
    previous = await ctx.uow.readings.previous(meter, state.period)
    verdict = check_value(parsed.value, previous.value, meter.max_monthly_delta)
    if parsed.ambiguous or verdict in (ValueCheck.BELOW_PREVIOUS, ValueCheck.JUMP):
        ctx.save(state.model_copy(update={"step": ReadingsStep.UNUSUAL, "pending": parsed.value}))
        if parsed.ambiguous:
            locale = ctx.tr.locale
            text = ctx._(
                "You typed {typed}: I read it as {value}, the comma separating thousands. If that is "
                "right, confirm it; if the digits after the comma are decimals, type the reading again "
                "with a decimal point.",
                typed=text.strip(),
                value=f"{format_ungrouped(parsed.value, locale)} {unit_name(meter.unit, locale)}",
            )
        elif verdict is ValueCheck.BELOW_PREVIOUS:
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
    return await _accept(ctx, state, parsed.value)


@router.step(ReadingsStep.UNUSUAL)
async def value_retyped(ctx: Context) -> list[Reply]:
    """While an unusual value waits for confirmation, a newly typed value replaces it."""
    state = ctx.require(ReadingsState).model_copy(update={"step": ReadingsStep.VALUE, "pending": None})
    ctx.save(state)
    return await _value_typed(ctx, state)


async def _accept(ctx: Context, state: ReadingsState, value: Decimal) -> list[Reply]:
    values = {**state.values, str(state.meters[state.index]): value}
    next_index = len(state.meters) if state.editing else state.index + 1
    if next_index < len(state.meters):
        state = state.model_copy(
            update={"step": ReadingsStep.VALUE, "values": values, "index": next_index, "pending": None}
        )
        ctx.save(state)
        return [await _question(ctx, state)]
    state = state.model_copy(
        update={
            "step": ReadingsStep.SUMMARY,
            "values": values,
            "pending": None,
            "nonce": secrets.token_hex(8),
            "editing": False,
        }
    )
    ctx.save(state)
    return [await _summary(ctx, state)]


async def _summary(ctx: Context, state: ReadingsState) -> Reply:
    lines = [
        ctx._("Please check your readings for {period}:", period=format_period(state.period, ctx.tr.locale))
    ]
    for index in range(len(state.meters)):
        meter = await _meter_at(ctx, state, index)
        if meter is None:
            continue
        value = state.values[str(meter.id)]
        previous = await ctx.uow.readings.previous(meter, state.period)
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


@router.step(ReadingsStep.SUMMARY)
async def summary_expected(ctx: Context) -> list[Reply]:
    summary = await _summary(ctx, ctx.require(ReadingsState))
    summary.text = ctx._("Please use the buttons: Confirm, Edit or Cancel.") + "\n\n" + summary.text
    return [summary]


async def _confirm(ctx: Context) -> list[Reply]:
    state = ctx.load(ReadingsState)
    if state is None or state.step is not ReadingsStep.SUMMARY:
        saved = ctx.load(SavedReadings)
        if saved is not None:
            return [
                menu_reply(
                    ctx,
                    ctx._("These readings are already saved. Receipt No. {receipt}.", receipt=saved.receipt),
                )
            ]
        return await not_understood(ctx)
    found = await _account_and_provider(ctx, state.account)
    if found is None:
        ctx.clear_state()
        return [menu_reply(ctx, ctx._("This account is no longer in your list."))]
    _, provider = found
    current, following = window_status(provider.reading_window, ctx.now, provider.tz)
    if current is None or current.period != state.period:
        ctx.clear_state()
        return [_closed_reply(ctx, provider, following)]
    receipt = _new_receipt()
    rows = []
    for index in range(len(state.meters)):
        meter = await _meter_at(ctx, state, index)
        if meter is None:
            continue
        previous = await ctx.uow.readings.previous(meter, state.period)
        rows.append(
            {
                "meter_id": meter.id,
                "period": state.period,
                "value": state.values[str(meter.id)],
                "previous_value": previous.value,
                "submitted_at": ctx.now,
                "channel": ctx.incoming.channel,
                "chat_id": ctx.chat.id,
                "receipt": receipt,
                "dedup_key": f"{state.nonce}:{meter.id}",
            }
        )
    await ctx.uow.readings.add_many(rows)
    READINGS.labels(provider=provider.id).inc(len(rows))
    ctx.save(SavedReadings(receipt=receipt))
    return [
        menu_reply(
            ctx,
            ctx._(
                "Thank you! Your readings for {period} are saved. Receipt No. {receipt}.",
                period=format_period(state.period, ctx.tr.locale),
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
                used_text = ctx._("used {used}", used=_amount(ctx, used, meter))
                line = join_clauses([line, used_text], ctx.tr.locale)
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
    if verb == "confirm":
        return await _confirm(ctx)
    state = ctx.load(ReadingsState) if verb in ("ok", "edit", "fix") else None
    if state is None:
        return await not_understood(ctx)
    if verb == "ok" and state.step is ReadingsStep.UNUSUAL and state.pending is not None:
        return await _accept(ctx, state, state.pending)
    if verb == "edit" and state.step is ReadingsStep.SUMMARY:
        buttons = []
        for index in range(len(state.meters)):
            meter = await _meter_at(ctx, state, index)
            if meter is not None:
                buttons.append([Button(meter_name(ctx, meter), f"rd:fix:{index}")])
        return [Reply(ctx._("Which reading do you want to change?"), buttons=[*buttons, cancel_row(ctx)])]
    if (
        verb == "fix"
        and state.step is ReadingsStep.SUMMARY
        and number is not None
        and number < len(state.meters)
    ):
        state = state.model_copy(update={"step": ReadingsStep.VALUE, "index": number, "editing": True})
        ctx.save(state)
        return [await _question(ctx, state)]
    return await not_understood(ctx)
