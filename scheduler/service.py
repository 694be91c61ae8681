"""Builds the AsyncIOScheduler with the service's fixed jobs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from domain.config import Config
from scheduler.housekeeping import purge_old_audit, purge_old_records, purge_old_requests
from scheduler.notices import add_reminder_jobs
from scheduler.request_reminders import remind_unanswered, report_undelivered
from storage.database import Database

# A job that was due while the process was down still runs once on start-up if it is at most
# this late; missed runs are coalesced into one.
MISFIRE_GRACE_SECONDS = 6 * 3600


def build_scheduler(config: Config, db: Database, clock: Callable[[], datetime]) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(
        timezone=config.bot_zone,
        job_defaults={"coalesce": True, "misfire_grace_time": MISFIRE_GRACE_SECONDS, "max_instances": 1},
    )
    scheduler.add_job(
        purge_old_records,
        CronTrigger(hour=4, minute=17, timezone=config.bot_zone),
        args=[db, clock],
        id="housekeeping",
        name="Purge handled updates and old verification attempts; refresh planner statistics",
    )
    scheduler.add_job(
        purge_old_requests,
        CronTrigger(hour=4, minute=27, timezone=config.bot_zone),
        args=[db, clock, config.bot.requests_days],
        id="requests-retention",
        name="Delete residents' requests closed longer ago than [bot] requests_days",
    )
    scheduler.add_job(
        purge_old_audit,
        CronTrigger(hour=4, minute=37, timezone=config.bot_zone),
        args=[db, clock, config.bot.audit_days],
        id="audit-retention",
        name="Delete audit entries older than [bot] audit_days",
    )
    scheduler.add_job(
        remind_unanswered,
        CronTrigger(minute=7, timezone=config.bot_zone),
        args=[config, db, clock],
        id="requests-reminder",
        name="Remind the operators' group of requests unanswered past their answer time",
    )
    scheduler.add_job(
        report_undelivered,
        CronTrigger(minute="*/5", timezone=config.bot_zone),
        args=[config, db, clock],
        id="requests-undelivered",
        name="Tell the operators' group of answers a resident's messenger refused",
    )
    add_reminder_jobs(scheduler, config, db, clock)
    return scheduler
