"""Housekeeping: forget handled inbox updates, old verification attempts, closed residents'
requests and old audit entries after their retention, and keep SQLite's query planner statistics
fresh."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from storage.database import Database

log = logging.getLogger(__name__)

# Long enough to deduplicate any messenger retry (Viber retries for an hour, Telegram for a day).
INBOX_RETENTION = timedelta(days=7)
# The attempt log is kept for security reviews; the lockout itself only looks at 24 hours.
ATTEMPT_RETENTION = timedelta(days=90)


async def purge_old_records(db: Database, clock: Callable[[], datetime]) -> tuple[int, int]:
    """Delete handled inbox rows and verification attempts past retention, then refresh the planner
    statistics (SQLite; without them it may plan a batch query on the wrong index); returns the
    counts."""
    now = clock()
    async with db.unit_of_work() as uow:
        updates = await uow.inbox.purge_handled(now - INBOX_RETENTION)
        attempts = await uow.verification.purge_before(now - ATTEMPT_RETENTION)
        await uow.commit()
    if updates or attempts:
        log.info(
            "housekeeping: removed %d handled updates and %d old verification attempts", updates, attempts
        )
    await db.optimize()
    return updates, attempts


async def purge_old_requests(db: Database, clock: Callable[[], datetime], days: int) -> int:
    """Delete residents' requests (texts, photos, contacts) closed more than ``days`` days ago."""
    async with db.unit_of_work() as uow:
        removed = await uow.requests.purge_closed_before(clock() - timedelta(days=days))
        await uow.commit()
    if removed:
        log.info("housekeeping: removed %d requests closed more than %d days ago", removed, days)
    return removed


async def purge_old_audit(db: Database, clock: Callable[[], datetime], days: int) -> int:
    """Delete audit entries older than ``days`` days ([bot] audit_days)."""
    async with db.unit_of_work() as uow:
        removed = await uow.audit.purge_before(clock() - timedelta(days=days))
        await uow.commit()
    if removed:
        log.info("housekeeping: removed %d audit entries older than %d days", removed, days)
    return removed
