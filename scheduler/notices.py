"""The fixed APScheduler jobs of reminders and provider notices, built from the config.

Per provider one *daily* job at ``[bot] reminder_hour`` on the provider's clock runs
:func:`scheduler.reminders.daily_checks` (window opens / window closes soon / payment due); per
config notice one *cron* job (its crontab on the provider's clock) runs the notice for the month
it fires in. Never a job per resident: each run selects its audience from the database in batches.

Restarts. The job store is in memory, so APScheduler cannot see a run missed while the process
was down. At start-up therefore:

* a daily job whose hour has already passed today runs at once (a re-run only reaches whoever
  still lacks the reminder: the outbox keys make it idempotent; late in the evening its messages
  wait for the end of the quiet hours, and those that would then be too late are not queued);
* a notice whose latest fire time is at most ``NOTICE_CATCH_UP`` ago runs at once for that month,
  unless a run of it for that month has finished (``notice_runs``).

While the process runs, ``coalesce`` and ``misfire_grace_time`` make a late run (a busy event
loop, a suspended machine) happen once instead of being dropped or repeated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from domain.config import SUPPORTED_LOCALES, Config, Notice, ProviderConfig
from domain.notice_texts import NOTICE_TEXTS
from domain.windows import period_of
from scheduler.reminders import (
    BUILTIN_KINDS,
    NOTICE_ID,
    PAYMENT_DUE,
    ReminderSettings,
    daily_checks,
    reminder_name,
    run_notice,
    window_period_due,
)
from storage.database import Database

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

DAILY_MISFIRE_GRACE = timedelta(hours=12)
NOTICE_CATCH_UP = timedelta(days=3)
_SEARCH_LIMIT = 10_000  # fire times looked at when searching backwards or forwards


@dataclass(frozen=True)
class JobSpec:
    """One APScheduler job: the daily check of a provider, or one provider notice."""

    id: str
    description: str
    trigger: CronTrigger
    provider_id: str
    notice_id: str | None = None  # None: the daily check

    @property
    def names(self) -> tuple[str, ...]:
        """The reminders this job runs (as `utilibot notices` names them)."""
        if self.notice_id is not None:
            return (reminder_name(self.provider_id, self.notice_id),)
        return tuple(reminder_name(self.provider_id, kind) for kind in BUILTIN_KINDS)


def daily_trigger(provider: ProviderConfig, hour: int) -> CronTrigger:
    return CronTrigger(hour=hour, minute=0, timezone=provider.tz)


def notice_trigger(provider: ProviderConfig, notice: Notice) -> CronTrigger:
    """The notice's crontab (minute hour day month weekday) on the provider's clock."""
    return CronTrigger.from_crontab(notice.cron, timezone=provider.tz)


def job_specs(config: Config, settings: ReminderSettings) -> list[JobSpec]:
    specs: list[JobSpec] = []
    for provider in config.providers:
        specs.append(
            JobSpec(
                id=f"reminders:{provider.id}",
                description=f"daily {settings.hour:02d}:00 {provider.timezone}",
                trigger=daily_trigger(provider, settings.hour),
                provider_id=provider.id,
            )
        )
        for notice in provider.notices:
            specs.append(
                JobSpec(
                    id=f"notice:{provider.id}:{notice.id}",
                    description=f"cron '{notice.cron}' {provider.timezone}",
                    trigger=notice_trigger(provider, notice),
                    provider_id=provider.id,
                    notice_id=notice.id,
                )
            )
    return specs


def _after(trigger: BaseTrigger, moment: datetime) -> datetime | None:
    """The first fire time strictly after ``moment``."""
    return trigger.get_next_fire_time(moment, moment + timedelta(microseconds=1))


def previous_fire(trigger: BaseTrigger, now: datetime, within: timedelta) -> datetime | None:
    """The latest fire time in (now - within, now], if any."""
    found: datetime | None = None
    moment = trigger.get_next_fire_time(None, now - within)
    for _ in range(_SEARCH_LIMIT):
        if moment is None or moment > now:
            break
        found = moment
        moment = _after(trigger, moment)
    return found


# --- the jobs -----------------------------------------------------------------------------------


async def daily_job(
    db: Database, config: Config, provider_id: str, clock: Clock, settings: ReminderSettings
) -> None:
    now = clock()
    try:
        results = await daily_checks(db, config, provider_id, now, settings)
    except Exception:
        log.exception("reminders: the daily check of %s failed", provider_id)
        return
    for result in results:
        if result.queued or result.skipped:
            log.info(
                "reminders: %s %s queued %d%s",
                result.name,
                result.period,
                result.queued,
                f" ({result.skipped})" if result.skipped else "",
            )


async def notice_job(
    db: Database,
    config: Config,
    provider_id: str,
    notice_id: str,
    clock: Clock,
    settings: ReminderSettings,
    period: str | None = None,
    catch_up: bool = False,
) -> None:
    """Run a notice for ``period`` (default: the current month on the provider's clock); a catch-up
    run does nothing when a run for that period has finished already."""
    now = clock()
    provider = config.provider(provider_id)
    notice = next(notice for notice in provider.notices if notice.id == notice_id)
    name = reminder_name(provider_id, notice_id)
    period = period or period_of(now.astimezone(provider.tz).date())
    try:
        if catch_up:
            async with db.unit_of_work() as uow:
                run = await uow.reminders.get_run(name, period)
            if run is not None and run.finished_at is not None:
                return
        result = await run_notice(db, config, settings, provider, notice, period, now)
    except Exception:
        log.exception("reminders: notice %s for %s failed", name, period)
        return
    log.info("reminders: %s %s queued %d", name, period, result.queued)


def add_reminder_jobs(
    scheduler: BaseScheduler,
    config: Config,
    db: Database,
    clock: Clock,
    settings: ReminderSettings | None = None,
) -> list[str]:
    """Add the daily checks and the notices (plus start-up catch-ups) to ``scheduler``; returns job ids."""
    settings = settings or ReminderSettings.from_config(config)
    now = clock()
    ids: list[str] = []
    for spec in job_specs(config, settings):
        if spec.notice_id is None:
            ids += _add_daily(scheduler, spec, config, db, clock, settings, now)
        else:
            ids += _add_notice(scheduler, spec, config, db, clock, settings, now)
    return ids


def _add_daily(
    scheduler: BaseScheduler,
    spec: JobSpec,
    config: Config,
    db: Database,
    clock: Clock,
    settings: ReminderSettings,
    now: datetime,
) -> list[str]:
    options: dict[str, object] = {}
    if now.astimezone(spec.trigger.timezone).hour >= settings.hour:
        options["next_run_time"] = now  # today's run may have been missed while we were down
    scheduler.add_job(
        daily_job,
        spec.trigger,
        args=[db, config, spec.provider_id, clock, settings],
        id=spec.id,
        name=f"Reminders of {spec.provider_id}: reading window and payment due",
        coalesce=True,
        misfire_grace_time=int(DAILY_MISFIRE_GRACE.total_seconds()),
        max_instances=1,
        **options,
    )
    return [spec.id]


def _add_notice(
    scheduler: BaseScheduler,
    spec: JobSpec,
    config: Config,
    db: Database,
    clock: Clock,
    settings: ReminderSettings,
    now: datetime,
) -> list[str]:
    assert spec.notice_id is not None
    args = [db, config, spec.provider_id, spec.notice_id, clock, settings]
    scheduler.add_job(
        notice_job,
        spec.trigger,
        args=args,
        id=spec.id,
        name=f"Notice {spec.names[0]}",
        coalesce=True,
        misfire_grace_time=int(NOTICE_CATCH_UP.total_seconds()),
        max_instances=1,
    )
    missed = previous_fire(spec.trigger, now, NOTICE_CATCH_UP)
    if missed is None:
        return [spec.id]
    period = period_of(missed.astimezone(spec.trigger.timezone).date())
    catch_up_id = f"{spec.id}:catch-up"
    scheduler.add_job(
        notice_job,
        "date",
        run_date=now,
        args=args,
        kwargs={"period": period, "catch_up": True},
        id=catch_up_id,
        name=f"Notice {spec.names[0]}: catch up {period}",
        misfire_grace_time=int(NOTICE_CATCH_UP.total_seconds()),
    )
    return [spec.id, catch_up_id]


# --- what `utilibot notices list` shows ---------------------------------------------------------


def next_run(spec: JobSpec, name: str, config: Config, now: datetime) -> datetime | None:
    """When ``name`` runs next: a window reminder on the next daily check that has it to do."""
    moment = spec.trigger.get_next_fire_time(None, now)
    _, _, kind = name.partition(":")
    if spec.notice_id is not None or kind == PAYMENT_DUE:
        return moment
    provider = config.provider(spec.provider_id)
    for _ in range(400):
        if moment is None:
            return None
        if window_period_due(provider, kind, moment.astimezone(provider.tz).date()) is not None:
            return moment
        moment = _after(spec.trigger, moment)
    return None


# --- config checks ------------------------------------------------------------------------------


def _fires_twice_in_a_month(trigger: CronTrigger, start: datetime) -> bool:
    seen: set[str] = set()
    moment = trigger.get_next_fire_time(None, start)
    for _ in range(60):
        if moment is None:
            return False
        period = period_of(moment.date())
        if period in seen:
            return True
        seen.add(period)
        moment = _after(trigger, moment)
    return False


def _problems_of(provider: ProviderConfig, notice: Notice, where: str) -> list[str]:
    problems: list[str] = []
    if not NOTICE_ID.fullmatch(notice.id) or notice.id in BUILTIN_KINDS:
        rule = f"must match {NOTICE_ID.pattern} and not be one of {list(BUILTIN_KINDS)}"
        problems.append(f"{where}.id: {rule}")
    try:
        trigger = notice_trigger(provider, notice)
    except ValueError as error:
        problems.append(f"{where}.cron: not a valid crontab ({error})")
    else:
        if _fires_twice_in_a_month(trigger, datetime(2024, 1, 1, tzinfo=provider.tz)):
            problems.append(f"{where}.cron: fires more than once a month; a notice is sent once per month")
    unknown = sorted(set(notice.text) - set(SUPPORTED_LOCALES))
    if unknown:
        problems.append(f"{where}.text: unknown locale(s) {unknown}; use {list(SUPPORTED_LOCALES)}")
    if notice.text_key and notice.text_key not in NOTICE_TEXTS:
        problems.append(f"{where}.text_key: unknown key {notice.text_key!r}; known: {sorted(NOTICE_TEXTS)}")
    if not notice.text_key and not any(text.strip() for text in notice.text.values()):
        problems.append(f"{where}: needs a text_key or a text")
    return problems


def notice_problems(config: Config) -> list[str]:
    """Problems of the ``[[providers]] notices`` entries, each naming its key (for a ConfigError)."""
    problems: list[str] = []
    for p_index, provider in enumerate(config.providers):
        ids = [notice.id for notice in provider.notices]
        for n_index, notice in enumerate(provider.notices):
            where = f"providers[{p_index}].notices[{n_index}]"
            problems += _problems_of(provider, notice, where)
            if notice.id in ids[:n_index]:
                problems.append(f"{where}.id: duplicate notice id {notice.id!r}")
    return problems
