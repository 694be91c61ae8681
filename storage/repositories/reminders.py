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
transaction together with the run's counter, so a crash loses nothing and counts stay exact. The
plan must be a range on that key, statistics or not: the channel and provider tests are written so
that SQLite cannot use their indexes (see :class:`Unindexed`). Where the text is the same per locale
up to the account number (provider notices, the reading window), a batch is one INSERT … SELECT that
picks the text by the chat's locale and builds the JSON payload in SQL; payment reminders (an amount
formatted per resident) come as texts and go in with one executemany.
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
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

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

# Where the account number goes in the texts of queue_account_batch: a Unicode noncharacter, which
# no provider name, date or translation contains.
ACCOUNT_NUMBER = "\ufdd0"


class Unindexed(FunctionElement[Any]):
    """``column`` as is, except that on SQLite it gets a unary plus (``+chats.channel``), which keeps
    the query planner from using an index for the test. Without statistics (a database that never
    ran ANALYZE) SQLite would otherwise walk the whole (channel, chat_key) or (provider_id, number)
    index for every batch instead of the keyset's range of chat ids."""

    name = "unindexed"
    inherit_cache = True

    def __init__(self, column: ColumnElement[Any]) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(Unindexed)
def _unindexed(element: Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(Unindexed, "sqlite")
def _unindexed_sqlite(element: Unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.clauses, **kw)


class TextPayload(FunctionElement[Any]):
    """The outbox payload ``{"text": <a string expression>}``, built by the database."""

    name = "text_payload"
    type = JSON()
    inherit_cache = True


@compiles(TextPayload)
def _text_payload(element: TextPayload, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_object('text', {compiler.process(element.clauses, **kw)})"


@compiles(TextPayload, "postgresql")
def _text_payload_postgresql(element: TextPayload, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_build_object('text', {compiler.process(element.clauses, **kw)})"


def by_locale(texts: Mapping[str, str], default_locale: str) -> ColumnElement[str]:
    """The text for the chat's locale (``texts[default_locale]`` for any other or none)."""
    return case(
        {locale: literal(text) for locale, text in texts.items()},
        value=Chat.locale,
        else_=literal(texts[default_locale]),
    )


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
    undated_due: bool = False  # … or with no due date (the provider's payment_due_day is in range)
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


class ReminderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # audiences

    @staticmethod
    def _chat_conditions(preference: str, channels: Sequence[str]) -> list[ColumnElement[bool]]:
        return [
            Chat.active.is_(True),
            Unindexed(Chat.channel).in_(list(channels)),
            preference_on(preference),
        ]

    @staticmethod
    def _not_queued(key: ColumnElement[str]) -> ColumnElement[bool]:
        return ~exists().where(OutboxMessage.dedup_key == key)

    @staticmethod
    def _reminder_columns(
        chat_id: ColumnElement[int],
        payload: ColumnElement[Any],
        key: ColumnElement[str],
        not_before: datetime,
        now: datetime,
    ) -> dict[str, ColumnElement[Any]]:
        """A reminder's outbox columns for ``chat_id``, in the order :func:`insert_outbox_rows` takes."""
        return {
            "chat_id": chat_id,
            "kind": literal(REMINDER_KIND),
            "payload": payload,
            "priority": literal(PRIORITY_REMINDER),
            "status": literal(PENDING),
            "attempts": literal(0),
            "not_before": literal(not_before, UTCDateTime),
            "last_error": literal(""),
            "dedup_key": key,
            "created_at": literal(now, UTCDateTime),
        }

    def _account_conditions(
        self, audience: AccountAudience, key: ColumnElement[str], after: tuple[int, int]
    ) -> list[ColumnElement[bool]]:
        """(chat, account) pairs of ``audience`` after ``after`` in (chat id, account id) order that
        lack their ``key``. The plan must walk the bindings' primary key (chat_id, account_id) from
        ``after`` in its order (hence the separate ``chat_id >= …`` and the order by its columns), so
        that a batch stops after ``limit`` pairs; an index on the provider or channel, or a sort of
        all pairs after ``after``, would have every batch walk the rest of the audience again."""
        conditions = [
            *self._chat_conditions(audience.preference, audience.channels),
            Unindexed(Account.provider_id) == audience.provider_id,
            Binding.chat_id >= after[0],
            tuple_(Binding.chat_id, Binding.account_id) > tuple_(*after),
            self._not_queued(key),
        ]
        if audience.missing_readings_for is not None:
            submitted = exists().where(
                Reading.meter_id == Meter.id, Reading.period == audience.missing_readings_for
            )
            conditions.append(
                exists().where(Meter.account_id == Account.id, Meter.automatic.is_(False), ~submitted)
            )
        dated: list[ColumnElement[bool]] = []
        if audience.due_from is not None:
            dated.append(Account.due_date >= audience.due_from)
        if audience.due_to is not None:
            dated.append(Account.due_date <= audience.due_to)
        if dated and audience.undated_due:
            conditions.append(or_(and_(*dated), Account.due_date.is_(None)))
        else:
            conditions += dated
        if audience.min_debt is not None:
            conditions.append(Account.balance > audience.min_debt)
        return conditions

    @staticmethod
    def _pairs(*columns: ColumnElement[Any]) -> Select[Any]:
        return (
            select(*columns)
            .select_from(Chat)
            .join(Binding, Binding.chat_id == Chat.id)
            .join(Account, Account.id == Binding.account_id)
        )

    @staticmethod
    def _account_key(key_prefix: str) -> ColumnElement[str]:
        return literal(key_prefix) + cast(Chat.id, String) + literal(":") + cast(Account.id, String)

    async def account_batch(
        self, audience: AccountAudience, key_prefix: str, after: tuple[int, int], limit: int = BATCH_SIZE
    ) -> list[Recipient]:
        """The next ``limit`` (chat, account) pairs after ``after`` in (chat id, account id) order
        that still lack their key ``{key_prefix}{chat}:{account}``."""
        conditions = self._account_conditions(audience, self._account_key(key_prefix), after)
        query = (
            self._pairs(Chat.id, Chat.locale, Account.id, Account.number, Account.balance, Account.due_date)
            .where(*conditions)
            .order_by(Binding.chat_id, Binding.account_id)
            .limit(limit)
        )
        return [Recipient(*row) for row in (await self.session.execute(query)).all()]

    async def queue_account_batch(
        self,
        audience: AccountAudience,
        key_prefix: str,
        texts: Mapping[str, str],
        default_locale: str,
        not_before: datetime,
        now: datetime,
        after: tuple[int, int],
        limit: int = BATCH_SIZE,
    ) -> tuple[tuple[int, int] | None, int]:
        """Queue the next ``limit`` pairs of :meth:`account_batch` in one INSERT … SELECT: the text
        by the chat's locale with :data:`ACCOUNT_NUMBER` replaced by the account's number. Returns
        (the batch's last pair, or None when there was none; rows added)."""
        key = self._account_key(key_prefix)
        conditions = self._account_conditions(audience, key, after)
        batch = (
            self._pairs(Binding.chat_id, Binding.account_id)
            .where(*conditions)
            .order_by(Binding.chat_id, Binding.account_id)
            .limit(limit)
            .subquery()
        )
        last = select(batch.c.chat_id, batch.c.account_id).order_by(
            batch.c.chat_id.desc(), batch.c.account_id.desc()
        )
        found = (await self.session.execute(last.limit(1))).first()
        if found is None:
            return None, 0
        upto = (int(found[0]), int(found[1]))
        text = func.replace(by_locale(texts, default_locale), ACCOUNT_NUMBER, Account.number)
        columns = self._reminder_columns(Chat.id, TextPayload(text), key, not_before, now)
        rows = self._pairs(*columns.values()).where(
            *conditions,
            Binding.chat_id <= upto[0],
            tuple_(Binding.chat_id, Binding.account_id) <= tuple_(*upto),
        )
        result = await self.session.execute(insert_outbox_rows(self.session, rows))
        return upto, int(result.rowcount or 0)

    async def queue_account_texts(
        self, key_prefix: str, texts: Sequence[tuple[int, int, str]], not_before: datetime, now: datetime
    ) -> int:
        """Queue (chat id, account id, text) reminders, e.g. those of :meth:`account_batch`, in one
        executemany, skipping keys queued already; returns rows added. Only the chat, the key and the
        text are parameters per row: the other columns are the statement's, the JSON is made in SQL."""
        if not texts:
            return 0
        chat, key = bindparam("chat", type_=Integer), bindparam("key", type_=String)
        payload = TextPayload(bindparam("text", type_=String))
        statement = (
            insert_for(self.session, OutboxMessage.__table__)
            .values(self._reminder_columns(chat, payload, key, not_before, now))
            .on_conflict_do_nothing(index_elements=["dedup_key"])
        )
        rows = [{"chat": c, "key": f"{key_prefix}{c}:{a}", "text": text} for c, a, text in texts]
        # On the connection: the session would take a list of rows for an ORM bulk insert.
        connection = await self.session.connection()
        if connection.dialect.supports_sane_multi_rowcount:  # sqlite3 counts an executemany's changes
            return int((await connection.execute(statement, rows)).rowcount)
        # asyncpg does not: count the ids returned instead (a little slower on SQLite).
        return len((await connection.execute(statement.returning(OutboxMessage.id), rows)).all())

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
        payload = TextPayload(by_locale(texts, default_locale))
        rows = select(*self._reminder_columns(Chat.id, payload, key, not_before, now).values()).where(
            *conditions, Chat.id > after, Chat.id <= upto
        )
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
