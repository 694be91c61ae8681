"""Scheduled reminders: who gets which one, its localized text, and queuing it exactly once.

Every reminder has a *name* ``{provider}:{kind}`` and a *period* ``YYYY-MM``:

* ``{p}:window-opens`` — period = the reading window's period. On the window's first day (and, to
  catch up after downtime or reach accounts bound later, on the following days until the closing
  reminder takes over) to chats bound to accounts of ``p`` that have a manual meter without a
  reading for the period.
* ``{p}:window-closes`` — on the day before the window's last day (and on the last day, catching
  up) to the same audience as it is then: whoever submitted meanwhile is left out. Windows shorter
  than three days have no closing reminder (it would come with the opening one).
* ``{p}:payment-due`` — period = the month of the due date. Accounts of ``p`` due within the next
  ``payment_reminder_days`` days (today included) and owing more than ``payment_reminder_min_debt``.
* ``{p}:{notice id}`` — a provider notice from the config (cron-scheduled, see scheduler/notices.py);
  period = the month it fires in; to every chat bound to an account of ``p``.

Account reminders are one message per (chat, account), naming the account: a chat with two
accounts of a provider gets two (outbox key ``rem:{name}:{period}:{chat}:{account}``). A provider
notice is one message per chat (key ``rem:{name}:{period}:{chat}``). The outbox's unique key makes
each of them once-only across re-runs, restarts and concurrent processes.

Only active chats of the delivering channels get anything, and only for kinds they did not turn
off in Settings. Times are decided on the provider's calendar. During quiet hours (provider local
time) rows are queued with ``not_before`` = the end of the quiet hours; a reminder that could then
only arrive too late (the window closed, the due date passed) is not queued at all.

Time is always passed in (``now``), never read from a global clock.
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from domain.config import Config, Notice, ProviderConfig, enabled_channels
from domain.i18n import translator
from domain.localize import format_day, format_money, format_period
from domain.notice_texts import NOTICE_TEXTS, catalog_notice_text
from domain.quiet_hours import DEFAULT_QUIET_HOURS, QuietHours, quiet_hours_from_config
from domain.windows import (
    WindowSpan,
    current_span,
    default_due_date,
    parse_period,
    period_of,
    span_for_period,
)
from storage.database import Database
from storage.repositories.reminders import (
    ACCOUNT_NUMBER,
    BATCH_SIZE,
    PREF_PAYMENT,
    PREF_WINDOW,
    AccountAudience,
    Recipient,
)
from storage.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

WINDOW_OPENS = "window-opens"
WINDOW_CLOSES = "window-closes"
PAYMENT_DUE = "payment-due"
BUILTIN_KINDS = (WINDOW_OPENS, WINDOW_CLOSES, PAYMENT_DUE)
NOTICE_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")
MIN_DAYS_FOR_CLOSING_REMINDER = 3

class ReminderError(Exception):
    """A reminder cannot be run as asked (unknown name, bad period, missing text)."""


@dataclass(frozen=True)
class ReminderSettings:
    """The reminder part of the config (``[bot]`` keys), plus what tests override."""

    hour: int = 10  # local hour of the provider's daily check
    payment_days: int = 3
    min_debt: Decimal = Decimal("50.00")
    quiet_hours: QuietHours | None = DEFAULT_QUIET_HOURS
    channels: tuple[str, ...] = ("telegram", "viber")
    batch_size: int = BATCH_SIZE

    @classmethod
    def from_config(cls, config: Config, **overrides: Any) -> ReminderSettings:
        bot = config.bot
        settings = cls(
            hour=bot.reminder_hour,
            payment_days=bot.payment_reminder_days,
            min_debt=bot.payment_reminder_min_debt,
            quiet_hours=quiet_hours_from_config(config),
            channels=enabled_channels(config),
        )
        return replace(settings, **overrides)


@dataclass(frozen=True)
class RunResult:
    """What one run of one reminder did."""

    name: str
    period: str
    queued: int
    skipped: str = ""  # why nothing was queued without looking (e.g. the window is over)


# --- names, periods, times ------------------------------------------------------------------------


def reminder_name(provider_id: str, kind: str) -> str:
    return f"{provider_id}:{kind}"


def reminder_names(config: Config) -> list[str]:
    """Every reminder the config defines, in a stable order."""
    names: list[str] = []
    for provider in config.providers:
        names += [reminder_name(provider.id, kind) for kind in BUILTIN_KINDS]
        names += [reminder_name(provider.id, notice.id) for notice in provider.notices]
    return names


def resolve(config: Config, name: str) -> tuple[ProviderConfig, str, Notice | None]:
    """'teplo:window-opens' → (provider, kind, None); 'teplo:fraud-warning' → (provider, id, notice)."""
    provider_id, _, kind = name.partition(":")
    try:
        provider = config.provider(provider_id)
    except KeyError:
        raise ReminderError(f"unknown reminder {name!r}: no provider {provider_id!r}") from None
    if kind in BUILTIN_KINDS:
        return provider, kind, None
    for notice in provider.notices:
        if notice.id == kind:
            return provider, kind, notice
    known = ", ".join(reminder_names(config))
    raise ReminderError(f"unknown reminder {name!r}; known: {known}")


def dedup_prefix(name: str, period: str) -> str:
    return f"rem:{name}:{period}:"


def release_time(now: datetime, zone: ZoneInfo, quiet: QuietHours | None) -> datetime:
    """When a message queued at ``now`` may go out: now, or the end of the quiet hours (``zone``'s clock)."""
    if quiet is None or not quiet.contains(now, zone):
        return now
    local = now.astimezone(zone)
    for day in (local.date(), local.date() + timedelta(days=1)):
        end = datetime.combine(day, quiet.end, tzinfo=zone).astimezone(UTC)
        if end > now:
            return end
    raise AssertionError("quiet hours end within a day")  # pragma: no cover


def local_noon(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, clock_time(12), tzinfo=zone)


def closing_reminder_day(span: WindowSpan) -> date | None:
    """The day before the last day, for windows of at least three days."""
    if (span.closes - span.opens).days + 1 < MIN_DAYS_FOR_CLOSING_REMINDER:
        return None
    return span.closes - timedelta(days=1)


def window_period_due(provider: ProviderConfig, kind: str, day: date) -> str | None:
    """The period the daily check runs ``kind`` (window-opens/-closes) for on local date ``day``."""
    span = current_span(provider.reading_window, local_noon(day, provider.tz), provider.tz)
    if span is None:
        return None
    closing = closing_reminder_day(span)
    closing_time = closing is not None and day >= closing
    if kind == WINDOW_CLOSES:
        return span.period if closing_time else None
    return span.period if not closing_time else None


def month_bounds(period: str) -> tuple[date, date]:
    year, month = parse_period(period)
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def payment_ranges(today: date, days: int) -> list[tuple[str, date, date]]:
    """today..today+days split by month: [(period, first, last), ...]."""
    ranges: list[tuple[str, date, date]] = []
    start, end = today, today + timedelta(days=days)
    while start <= end:
        last = min(month_bounds(period_of(start))[1], end)
        ranges.append((period_of(start), start, last))
        start = last + timedelta(days=1)
    return ranges


def _locale(config: Config, locale: str | None) -> str:
    return locale if locale in config.bot.locales else config.bot.default_locale


# --- texts --------------------------------------------------------------------------------------


def window_text(provider: ProviderConfig, kind: str, span: WindowSpan, locale: str, number: str) -> str:
    _ = translator(locale)._
    values = {
        "provider": provider.localized_name(locale),
        "period": format_period(span.period, locale),
        "opens": format_day(span.opens, locale),
        "closes": format_day(span.closes, locale),
        "number": number,
    }
    if kind == WINDOW_OPENS:
        return _(
            "The meter reading window is open: {provider} accepts readings for {period} from {opens} "
            "to {closes} inclusive. Account {number}: open the menu and tap Submit readings.",
            **values,
        )
    return _(
        "Reminder: the reading window of {provider} closes on {closes} inclusive, and account {number} "
        "has no readings for {period} yet. Open the menu and tap Submit readings.",
        **values,
    )


def window_texts(config: Config, provider: ProviderConfig, kind: str, span: WindowSpan) -> dict[str, str]:
    """:func:`window_text` per configured locale with :data:`ACCOUNT_NUMBER` for the number, which
    the database fills in per account: the only part that differs between residents."""
    return {
        locale: window_text(provider, kind, span, locale, ACCOUNT_NUMBER) for locale in config.bot.locales
    }


# Babel takes 10-20 µs per amount or date: a payment run formats the same few due dates for everyone,
# and amounts repeat where charges are flat.
_money = lru_cache(maxsize=4096)(format_money)
_day = lru_cache(maxsize=256)(format_day)


def payment_text(provider: ProviderConfig, recipient: Recipient, locale: str, default_due: date) -> str:
    due = recipient.due_date or default_due
    return translator(locale)._(
        "Payment reminder: account {number} ({provider}) has {amount} to pay by {due}. Open the menu "
        "and tap Pay. If you have paid already, please ignore this message.",
        number=recipient.number,
        provider=provider.localized_name(locale),
        amount=_money(recipient.balance, provider.currency, locale),
        due=_day(due, locale),
    )


def notice_text(provider: ProviderConfig, notice: Notice, locale: str) -> str:
    """The config's text for ``locale``, else the catalog text of ``text_key`` (with the hotline),
    else the config's text in English or its first language."""
    name = provider.localized_name(locale)
    if locale in notice.text:
        return notice.text[locale].replace("{provider}", name)
    if notice.text_key in NOTICE_TEXTS:
        return catalog_notice_text(notice.text_key, locale, [provider])
    if notice.text:
        fallback = notice.text.get("en") or next(iter(notice.text.values()))
        return fallback.replace("{provider}", name)
    raise ReminderError(f"notice {provider.id}:{notice.id} has neither a known text_key nor a text")


# --- queuing --------------------------------------------------------------------------------------


Key = TypeVar("Key")  # where a batch starts: a chat id, or a (chat id, account id) pair


async def _run(
    db: Database,
    name: str,
    period: str,
    now: datetime,
    start: Key,
    batch: Callable[[UnitOfWork, Key], Awaitable[tuple[Key | None, int]]],
) -> RunResult:
    """Between the start and the finish mark of the (name, period) run log row, queue ``batch`` after
    ``batch`` from ``start``, each in its own transaction with the run's counter, until one returns
    no next start. A batch returns (where the next one starts, or None; rows queued)."""
    async with db.unit_of_work() as uow:
        await uow.reminders.start_run(name, period, now)
        await uow.commit()
    after: Key | None = start
    total = 0
    while after is not None:
        async with db.unit_of_work() as uow:
            after, queued = await batch(uow, after)
            await uow.reminders.add_queued(name, period, queued)
            await uow.commit()
        total += queued
    async with db.unit_of_work() as uow:
        await uow.reminders.finish_run(name, period, now)
        await uow.commit()
    return RunResult(name, period, total)


async def run_window(
    db: Database,
    config: Config,
    settings: ReminderSettings,
    provider: ProviderConfig,
    kind: str,
    period: str,
    now: datetime,
) -> RunResult:
    """Queue window-opens or window-closes of ``period`` for the accounts still without readings."""
    name = reminder_name(provider.id, kind)
    span = span_for_period(provider.reading_window, period, provider.tz)
    not_before = release_time(now, provider.tz, settings.quiet_hours)
    if not_before >= span.closes_at:
        return RunResult(name, period, 0, f"the reading window for {period} closed on {span.closes}")
    audience = AccountAudience(provider.id, PREF_WINDOW, settings.channels, missing_readings_for=period)
    texts = window_texts(config, provider, kind, span)
    prefix = dedup_prefix(name, period)

    async def batch(uow: UnitOfWork, after: tuple[int, int]) -> tuple[tuple[int, int] | None, int]:
        return await uow.reminders.queue_account_batch(
            audience, prefix, texts, config.bot.default_locale, not_before, now, after, settings.batch_size
        )

    return await _run(db, name, period, now, (0, 0), batch)


async def run_payment(
    db: Database,
    config: Config,
    settings: ReminderSettings,
    provider: ProviderConfig,
    period: str,
    now: datetime,
    due_to: date | None = None,
) -> RunResult:
    """Queue payment-due for accounts due in ``period`` (not before the message can arrive, not after
    ``due_to``) that owe more than the minimum."""
    name = reminder_name(provider.id, PAYMENT_DUE)
    not_before = release_time(now, provider.tz, settings.quiet_hours)
    first, last = month_bounds(period)
    due_from = max(first, not_before.astimezone(provider.tz).date())
    due_until = min(last, due_to) if due_to is not None else last
    if due_from > due_until:
        return RunResult(name, period, 0, f"no due date of {period} is still ahead")
    # Accounts whose billing data has no due date are due on the provider's payment_due_day.
    default_due = default_due_date(provider.payment_due_day, first.year, first.month)
    audience = AccountAudience(
        provider.id,
        PREF_PAYMENT,
        settings.channels,
        due_from=due_from,
        due_to=due_until,
        undated_due=due_from <= default_due <= due_until,
        min_debt=settings.min_debt,
    )
    prefix = dedup_prefix(name, period)

    async def batch(uow: UnitOfWork, after: tuple[int, int]) -> tuple[tuple[int, int] | None, int]:
        recipients = await uow.reminders.account_batch(audience, prefix, after, settings.batch_size)
        texts = [
            (r.chat_id, r.account_id, payment_text(provider, r, _locale(config, r.locale), default_due))
            for r in recipients
        ]
        queued = await uow.reminders.queue_account_texts(prefix, texts, not_before, now)
        if len(recipients) < settings.batch_size:
            return None, queued
        return (recipients[-1].chat_id, recipients[-1].account_id), queued

    return await _run(db, name, period, now, (0, 0), batch)


async def run_notice(
    db: Database,
    config: Config,
    settings: ReminderSettings,
    provider: ProviderConfig,
    notice: Notice,
    period: str,
    now: datetime,
) -> RunResult:
    """Queue a provider notice to every chat bound to the provider (INSERT … SELECT per batch)."""
    name = reminder_name(provider.id, notice.id)
    texts = {locale: notice_text(provider, notice, locale) for locale in config.bot.locales}
    not_before = release_time(now, provider.tz, settings.quiet_hours)
    prefix = dedup_prefix(name, period)

    async def batch(uow: UnitOfWork, after: int) -> tuple[int | None, int]:
        return await uow.reminders.queue_notice_batch(
            provider.id,
            settings.channels,
            prefix,
            texts,
            config.bot.default_locale,
            not_before,
            now,
            after,
            settings.batch_size,
        )

    return await _run(db, name, period, now, 0, batch)


# --- the two ways in: the daily check and a named run --------------------------------------------


async def daily_checks(
    db: Database, config: Config, provider_id: str, now: datetime, settings: ReminderSettings
) -> list[RunResult]:
    """The provider's daily run: whichever window reminder is due today, and payment reminders."""
    provider = config.provider(provider_id)
    today = now.astimezone(provider.tz).date()
    results: list[RunResult] = []
    for kind in (WINDOW_OPENS, WINDOW_CLOSES):
        period = window_period_due(provider, kind, today)
        if period is not None:
            results.append(await run_window(db, config, settings, provider, kind, period, now))
    for period, _, last in payment_ranges(today, settings.payment_days):
        results.append(await run_payment(db, config, settings, provider, period, now, due_to=last))
    return results


async def run_named(
    db: Database, config: Config, name: str, period: str, now: datetime, settings: ReminderSettings
) -> RunResult:
    """Run one reminder for ``period`` now (``utilibot notices run``), with the same once-only keys.

    window-*: the window of ``period`` (refused once it is over); payment-due: every account due in
    ``period`` from today on, whatever the number of days left; a notice: as its cron job would.
    """
    try:
        parse_period(period)
    except ValueError as error:
        raise ReminderError(str(error)) from None
    provider, kind, notice = resolve(config, name)
    if notice is not None:
        return await run_notice(db, config, settings, provider, notice, period, now)
    if kind == PAYMENT_DUE:
        return await run_payment(db, config, settings, provider, period, now)
    return await run_window(db, config, settings, provider, kind, period, now)
