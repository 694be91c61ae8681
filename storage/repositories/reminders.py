"""Scheduled reminders' SQL: audiences in batches, queuing with once-only keys, the notice run log.

Who may get a reminder: an *active* chat of one of the delivering ``channels`` whose notification
preference for the kind is on (``chats.notifications[pref]``; a missing key means on), bound to an
account of the provider. Account reminders (reading window, payment due) add conditions on that
account; provider notices only need one binding.

Once only: every outbox row carries ``dedup_key = rem:{notice}:{period}:{chat}`` (provider notices)
or ``rem:{notice}:{period}:{chat}:{account}`` (account reminders: one message per bound account,
naming it), and the outbox's unique constraint turns a second insert into nothing, whatever process
or restart it comes from. The audience queries also skip keys that exist, so a re-run reads little.

Batches: candidates are read in keyset order, ``BATCH_SIZE`` at a time, each batch in its own short
transaction together with the run's counter, so a crash loses nothing and counts stay exact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    String,
    and_,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Account, Binding, Chat, Meter, NoticeRun, OutboxMessage, Reading, UTCDateTime
from storage.repositories.outbox import PENDING, PRIORITY_REMINDER, insert_outbox_rows
from storage.upsert import insert_for

BATCH_SIZE = 1000
REMINDER_KIND = "reminder"  # outbox.kind of every row queued here

# The resident's choices (Settings), keys of chats.notifications; all on unless set to false.
PREF_WINDOW = "window"
PREF_PAYMENT = "payment"
PREF_NOTICES = "notices"
PREFERENCES = (PREF_WINDOW, PREF_PAYMENT, PREF_NOTICES)


def wants(notifications: Mapping[str, Any] | None, preference: str) -> bool:
    """Whether a chat receives reminders of ``preference`` (on unless explicitly false)."""
    return (notifications or {}).get(preference) is not False


def preference_on(preference: str) -> ColumnElement[bool]:
    """SQL twin of :func:`wants` (JSON_EXTRACT on SQLite, ->> on PostgreSQL)."""
    return func.coalesce(Chat.notifications[preference].as_boolean(), True).is_(True)


@dataclass(frozen=True)
class AccountAudience:
    """Chats bound to accounts of ``provider_id`` that a reminder is for."""

    provider_id: str
    preference: str
    channels: tuple[str, ...]
    missing_readings_for: str | None = None  # accounts with a manual meter lacking a reading then
    due_from: date | None = None  # accounts due on due_from..due_to …
    due_to: date | None = None
    min_debt: Decimal | None = None  # … owing more than this


@dataclass(frozen=True)
class Recipient:
    """One (chat, account) pair to remind, with what the text needs."""

    chat_id: int
    locale: str | None
    account_id: int
    number: str
    balance: Decimal
    due_date: date | None


def outbox_row(
    chat_id: int, text: str, dedup_key: str, not_before: datetime, now: datetime
) -> dict[str, Any]:
    """The values of one reminder's outbox row."""
    return {
        "chat_id": chat_id,
        "kind": REMINDER_KIND,
        "payload": {"text": text},
        "priority": PRIORITY_REMINDER,
        "status": PENDING,
        "attempts": 0,
        "not_before": not_before,
        "last_error": "",
        "dedup_key": dedup_key,
        "created_at": now,
    }


class ReminderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # audiences

    @staticmethod
    def _chat_conditions(preference: str, channels: Sequence[str]) -> list[ColumnElement[bool]]:
        return [Chat.active.is_(True), Chat.channel.in_(list(channels)), preference_on(preference)]

    @staticmethod
    def _not_queued(key: ColumnElement[str]) -> ColumnElement[bool]:
        return ~exists().where(OutboxMessage.dedup_key == key)

    async def account_batch(
        self, audience: AccountAudience, key_prefix: str, after: tuple[int, int], limit: int = BATCH_SIZE
    ) -> list[Recipient]:
        """The next ``limit`` (chat, account) pairs after ``after`` in (chat id, account id) order
        that still lack their key ``{key_prefix}{chat}:{account}``."""
        key = literal(key_prefix) + cast(Chat.id, String) + literal(":") + cast(Account.id, String)
        after_chat, after_account = after
        conditions = [
            *self._chat_conditions(audience.preference, audience.channels),
            Account.provider_id == audience.provider_id,
            or_(Chat.id > after_chat, and_(Chat.id == after_chat, Account.id > after_account)),
            self._not_queued(key),
        ]
        if audience.missing_readings_for is not None:
            submitted = exists().where(
                Reading.meter_id == Meter.id, Reading.period == audience.missing_readings_for
            )
            conditions.append(
                exists().where(Meter.account_id == Account.id, Meter.automatic.is_(False), ~submitted)
            )
        if audience.due_from is not None:
            conditions.append(Account.due_date >= audience.due_from)
        if audience.due_to is not None:
            conditions.append(Account.due_date <= audience.due_to)
        if audience.min_debt is not None:
            conditions.append(Account.balance > audience.min_debt)
        query = (
            select(Chat.id, Chat.locale, Account.id, Account.number, Account.balance, Account.due_date)
            .join(Binding, Binding.chat_id == Chat.id)
            .join(Account, Account.id == Binding.account_id)
            .where(*conditions)
            .order_by(Chat.id, Account.id)
            .limit(limit)
        )
        return [Recipient(*row) for row in (await self.session.execute(query)).all()]

    async def insert_outbox(self, rows: Sequence[dict[str, Any]]) -> int:
        """Insert reminder rows in one statement, skipping existing dedup keys; returns rows added."""
        if not rows:
            return 0
        statement = (
            insert_for(self.session, OutboxMessage)
            .values(list(rows))
            .on_conflict_do_nothing(index_elements=["dedup_key"])
            .returning(OutboxMessage.id)
        )
        return len((await self.session.execute(statement)).scalars().all())

    def _notice_audience(
        self, provider_id: str, channels: Sequence[str], key: ColumnElement[str]
    ) -> list[ColumnElement[bool]]:
        bound = exists().where(
            Binding.chat_id == Chat.id, Binding.account_id == Account.id, Account.provider_id == provider_id
        )
        return [*self._chat_conditions(PREF_NOTICES, channels), bound, self._not_queued(key)]

    async def queue_notice_batch(
        self,
        provider_id: str,
        channels: Sequence[str],
        key_prefix: str,
        texts: Mapping[str, str],
        default_locale: str,
        not_before: datetime,
        now: datetime,
        after: int,
        limit: int = BATCH_SIZE,
    ) -> tuple[int | None, int]:
        """Queue a provider notice for the next ``limit`` chats after chat id ``after``, in one
        INSERT … SELECT (the text chosen by the chat's locale in SQL). Returns (the last chat id of
        the batch, or None when there was none; rows added)."""
        key = literal(key_prefix) + cast(Chat.id, String)
        conditions = self._notice_audience(provider_id, channels, key)
        ids = select(Chat.id).where(*conditions, Chat.id > after).order_by(Chat.id).limit(limit).subquery()
        upto = (await self.session.execute(select(func.max(ids.c.id)))).scalar_one_or_none()
        if upto is None:
            return None, 0
        fallback = texts[default_locale]
        payload = case(
            {locale: literal({"text": text}, JSON) for locale, text in texts.items()},
            value=Chat.locale,
            else_=literal({"text": fallback}, JSON),
        )
        rows = select(
            Chat.id,
            literal(REMINDER_KIND),
            payload,
            literal(PRIORITY_REMINDER),
            literal(PENDING),
            literal(0),
            literal(not_before, UTCDateTime),
            literal(""),
            key,
            literal(now, UTCDateTime),
        ).where(*conditions, Chat.id > after, Chat.id <= upto)
        result = await self.session.execute(insert_outbox_rows(self.session, rows))
        return int(upto), int(result.rowcount or 0)

    # the run log

    async def start_run(self, notice: str, period: str, now: datetime) -> None:
        """Create the (notice, period) row, or mark it running again (counts are kept)."""
        statement = (
            insert_for(self.session, NoticeRun)
            .values(notice=notice, period=period, started_at=now, finished_at=None, queued_count=0)
            .on_conflict_do_update(
                index_elements=["notice", "period"], set_={"started_at": now, "finished_at": None}
            )
        )
        await self.session.execute(statement)

    async def add_queued(self, notice: str, period: str, count: int) -> None:
        if count:
            await self.session.execute(
                update(NoticeRun)
                .where(NoticeRun.notice == notice, NoticeRun.period == period)
                .values(queued_count=NoticeRun.queued_count + count)
            )

    async def finish_run(self, notice: str, period: str, now: datetime) -> None:
        await self.session.execute(
            update(NoticeRun)
            .where(NoticeRun.notice == notice, NoticeRun.period == period)
            .values(finished_at=now)
        )

    async def get_run(self, notice: str, period: str) -> NoticeRun | None:
        query = select(NoticeRun).where(NoticeRun.notice == notice, NoticeRun.period == period)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def latest_runs(self) -> dict[str, NoticeRun]:
        """Per notice, its most recently started run."""
        query = select(NoticeRun).order_by(NoticeRun.started_at, NoticeRun.id)
        return {run.notice: run for run in (await self.session.execute(query)).scalars()}
