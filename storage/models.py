"""SQLAlchemy ORM models: the whole database schema (migrations mirror this file)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes stored as UTC; naive values are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Money = Numeric(14, 2, asdecimal=True)
# At most 15 significant digits, so values survive SQLite's floating-point NUMERIC storage exactly.
MeterValue = Numeric(15, 6, asdecimal=True)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Account(Base):
    """A provider's personal account as imported from billing."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("provider_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(32))
    number: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(300))
    holder: Mapped[str] = mapped_column(String(200))
    balance: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    due_date: Mapped[date | None] = mapped_column(Date)
    last_payment_amount: Mapped[Decimal | None] = mapped_column(Money)
    last_payment_date: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Meter(Base):
    """A meter (and zone) of an account; last_value is what billing last accepted."""

    __tablename__ = "meters"
    __table_args__ = (UniqueConstraint("account_id", "serial", "zone"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    serial: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    zone: Mapped[str] = mapped_column(String(10), default="")
    unit: Mapped[str] = mapped_column(String(16))
    last_value: Mapped[Decimal | None] = mapped_column(MeterValue)
    last_date: Mapped[date | None] = mapped_column(Date)
    max_monthly_delta: Mapped[Decimal | None] = mapped_column(MeterValue)
    precision: Mapped[int] = mapped_column(Integer, default=3)
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)


class Reading(Base):
    """A resident's submitted reading; the latest per (meter, period) is the one exported."""

    __tablename__ = "readings"
    __table_args__ = (
        Index("ix_readings_meter_period", "meter_id", "period"),
        UniqueConstraint("dedup_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(7))
    value: Mapped[Decimal] = mapped_column(MeterValue)
    previous_value: Mapped[Decimal | None] = mapped_column(MeterValue)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    channel: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[int | None] = mapped_column(ForeignKey("chats.id", ondelete="SET NULL"))
    receipt: Mapped[str] = mapped_column(String(16), index=True)
    dedup_key: Mapped[str | None] = mapped_column(String(96))


class Charge(Base):
    """One service's charge for one billing period (YYYY-MM)."""

    __tablename__ = "charges"
    __table_args__ = (UniqueConstraint("account_id", "period", "service"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(7))
    service: Mapped[str] = mapped_column(String(100))
    amount: Mapped[Decimal] = mapped_column(Money)


class Payment(Base):
    """A payment received by the provider."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("account_id", "paid_on", "amount", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    paid_on: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    channel: Mapped[str] = mapped_column(String(100), default="")


class Chat(Base):
    """A messenger chat: locale, conversation state, preferences, and whether we may write to it."""

    __tablename__ = "chats"
    __table_args__ = (UniqueConstraint("channel", "chat_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    chat_key: Mapped[str] = mapped_column(String(64))
    user_key: Mapped[str] = mapped_column(String(64), default="")
    locale: Mapped[str | None] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(48), default="")
    state_data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    current_account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    notifications: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Binding(Base):
    """A chat's verified link to an account."""

    __tablename__ = "bindings"

    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class VerificationAttempt(Base):
    """Every attempt to bind an account, successful or not (the lockout counts the failures)."""

    __tablename__ = "verification_attempts"
    __table_args__ = (Index("ix_verification_attempts_chat_time", "chat_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"))
    provider_id: Mapped[str] = mapped_column(String(32))
    account_number: Mapped[str] = mapped_column(String(64))
    success: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboxUpdate(Base):
    """A raw incoming update, stored before it is acknowledged; handled exactly once."""

    __tablename__ = "inbox"
    __table_args__ = (
        UniqueConstraint("channel", "update_key"),
        Index("ix_inbox_status", "status", "id"),
        Index(
            "ix_inbox_unsent",
            "channel",
            "id",
            sqlite_where=text("replies IS NOT NULL"),
            postgresql_where=text("replies IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    update_key: Mapped[str] = mapped_column(String(96))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The replies of a handled update until the messenger took them (None: nothing left to send).
    replies: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON(none_as_null=True))


class OutboxMessage(Base):
    """A message waiting to be delivered to one chat (reminders, broadcasts).

    status: pending → sending (claimed by the delivery loop) → sent | failed | cancelled. A
    broadcast's rows carry ``broadcast_id`` and take their text from the broadcast (per locale);
    other rows carry it in ``payload["text"]``.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_ready", "status", "priority", "not_before"),
        Index("ix_outbox_queue", "status", "priority", "id"),
        Index("ix_outbox_broadcast", "broadcast_id", "status"),
        UniqueConstraint("dedup_key"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    priority: Mapped[int] = mapped_column(Integer, default=100)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(String(300), default="")
    dedup_key: Mapped[str | None] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id", ondelete="CASCADE"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Broadcast(Base):
    """An operator's message to many chats: texts per locale, the audience, and live figures.

    status: draft → queued (outbox rows inserted) → sending → done | cancelled. The counters
    are updated in the same transactions as the outbox rows they count.
    """

    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_status", "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_by: Mapped[str] = mapped_column(String(100))
    texts: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    default_locale: Mapped[str] = mapped_column(String(8))
    audience: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(10), default="draft")
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    total_count: Mapped[int] = mapped_column(Integer, default=0)
    sent_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    cancelled_count: Mapped[int] = mapped_column(Integer, default=0)
    progress_channel: Mapped[str] = mapped_column(String(16), default="")
    progress_chat_key: Mapped[str] = mapped_column(String(64), default="")
    progress_locale: Mapped[str] = mapped_column(String(8), default="")
    progress_message_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NoticeRun(Base):
    """The log of a scheduled reminder or notice for one period (``utilibot notices list`` shows it).

    ``notice`` is the job's name ('teplo:window-opens', 'teplo:fraud-warning'). Every run of the same
    (notice, period) — the daily catch-up, a second process, ``utilibot notices run`` — updates the one
    row: ``started_at``/``finished_at`` of the latest run, ``queued_count`` summed over all runs. Who
    got it is recorded by the outbox rows' unique ``dedup_key``, in the same transactions.
    """

    __tablename__ = "notice_runs"
    __table_args__ = (UniqueConstraint("notice", "period"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice: Mapped[str] = mapped_column(String(100))
    period: Mapped[str] = mapped_column(String(7))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    queued_count: Mapped[int] = mapped_column(Integer, default=0)


class ServiceRequest(Base):
    """A resident's request to the provider: a leak, a question about a charge, an application.

    status: new → taken (``taken_by``) → answered → closed (reopened: back to answered). The
    resident's chat and account stay so answers reach them; ``first_answer_at`` measures the
    service level and ``reminded_on`` the last working day the operators were reminded.
    """

    __tablename__ = "requests"
    __table_args__ = (
        Index("ix_requests_chat", "chat_id", "id"),
        Index("ix_requests_status", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int | None] = mapped_column(ForeignKey("chats.id", ondelete="SET NULL"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    provider_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(10), default="new")
    contact: Mapped[str] = mapped_column(String(200), default="")
    taken_by: Mapped[str] = mapped_column(String(100), default="")
    answer_hours: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_answer_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminded_on: Mapped[date | None] = mapped_column(Date)


class RequestMessage(Base):
    """One message of a request's conversation: ``direction`` 'in' (the resident) or 'out' (an
    operator), its author, text and media references (messenger file ids or URLs)."""

    __tablename__ = "request_messages"
    __table_args__ = (Index("ix_request_messages_request", "request_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3))
    author: Mapped[str] = mapped_column(String(100), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    media: Mapped[list[str]] = mapped_column(JSON, default=list)
    delivered: Mapped[bool] = mapped_column(Boolean, default=True)  # False: the resident blocked the bot
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RequestEvent(Base):
    """A status change of a request: who moved it from which status to which, and when."""

    __tablename__ = "request_events"
    __table_args__ = (Index("ix_request_events_request", "request_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"))
    old_status: Mapped[str] = mapped_column(String(10), default="")
    new_status: Mapped[str] = mapped_column(String(10))
    actor: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditRecord(Base):
    """One entry of the audit trail: who did what to which subject, and when (see domain/audit.py)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_time", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
