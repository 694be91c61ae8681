"""The service level of residents' requests: a request not answered within its kind's answer time
is reminded into the operators' group, at most once per working day (Monday to Friday, in the
bot's time zone), and an answer the messenger refused (the resident blocked the bot) is marked
undelivered and told to the group; both through the outbox."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from domain.config import Config
from domain.i18n import translator
from domain.request_texts import request_title
from storage.database import Database

log = logging.getLogger(__name__)

GROUP_CHANNEL = "telegram"
WORKING_DAYS = range(5)  # Monday..Friday


async def remind_unanswered(config: Config, db: Database, clock: Callable[[], datetime]) -> int:
    """Remind the operators of every overdue unanswered request not reminded today; how many."""
    group = config.telegram.operators_chat_id
    now = clock()
    today = now.astimezone(config.bot_zone).date()
    if not group or today.weekday() not in WORKING_DAYS:
        return 0
    tr = translator(config.bot.default_locale)
    reminded = 0
    async with db.unit_of_work() as uow:
        for request in await uow.requests.unanswered(created_before=now):
            hours = request.answer_hours or 0
            if request.created_at + timedelta(hours=hours) > now or request.reminded_on == today:
                continue
            waiting = int((now - request.created_at).total_seconds() // 3600)
            text = "\n".join(
                [
                    request_title(tr, config, request.id, request.provider_id, request.kind),
                    tr.n_(
                        "Not answered for {waiting} hours; the answer was promised within {hours} hour.",
                        "Not answered for {waiting} hours; the answer was promised within {hours} hours.",
                        hours,
                        waiting=waiting,
                        hours=hours,
                    ),
                ]
            )
            await uow.requests.queue_for(GROUP_CHANNEL, str(group), text, now)
            request.reminded_on = today
            reminded += 1
        await uow.commit()
    if reminded:
        log.info("requests: %d unanswered request(s) reminded to the operators", reminded)
    return reminded


async def report_undelivered(config: Config, db: Database, clock: Callable[[], datetime]) -> int:
    """Mark the answers whose delivery failed as undelivered and tell the operators; how many."""
    group = config.telegram.operators_chat_id
    now = clock()
    tr = translator(config.bot.default_locale)
    async with db.unit_of_work() as uow:
        failed = await uow.requests.undelivered_answers()
        for message, request in failed:
            message.delivered = False
            if group:
                title = request_title(tr, config, request.id, request.provider_id, request.kind)
                text = tr._(
                    "The answer did not reach the resident: they blocked the bot or left the messenger."
                )
                await uow.requests.queue_for(GROUP_CHANNEL, str(group), f"{title}\n{text}", now)
        await uow.commit()
    if failed:
        log.info("requests: %d answer(s) could not be delivered; the operators were told", len(failed))
    return len(failed)
