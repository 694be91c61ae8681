"""Residents' requests: filing, their conversation, status changes with the log, the overdue ones,
the export, and deleting closed ones after their retention."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, delete, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Account, Chat, OutboxMessage, RequestEvent, RequestMessage, ServiceRequest
from storage.repositories.chats import ChatRepository
from storage.repositories.outbox import FAILED, PRIORITY_EMERGENCY, OutboxRepository

OPEN_STATUSES = ("new", "taken", "answered")
UNANSWERED_STATUSES = ("new", "taken")
ANSWER_KEY = "request-answer:"  # + the answer's message id: the outbox row that carries it


def answer_key(message_id: int) -> str:
    return f"{ANSWER_KEY}{message_id}"


@dataclass(frozen=True)
class ExportRow:
    request: ServiceRequest
    account_number: str
    channel: str
    first_text: str


class RequestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(
        self,
        *,
        chat_id: int,
        account_id: int | None,
        provider_id: str,
        kind: str,
        contact: str,
        answer_hours: int | None,
        text: str,
        media: Sequence[str],
        now: datetime,
    ) -> ServiceRequest:
        """A new request with its first message and its first status event."""
        request = ServiceRequest(
            chat_id=chat_id,
            account_id=account_id,
            provider_id=provider_id,
            kind=kind,
            status="new",
            contact=contact,
            taken_by="",
            answer_hours=answer_hours,
            created_at=now,
        )
        self.session.add(request)
        await self.session.flush()
        await self.add_message(request.id, "in", "", text, media, now)
        self.session.add(
            RequestEvent(request_id=request.id, old_status="", new_status="new", actor="", created_at=now)
        )
        return request

    async def get(self, request_id: int, lock: bool = False) -> ServiceRequest | None:
        query = select(ServiceRequest).where(ServiceRequest.id == request_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def of_chat(self, chat_id: int, request_id: int) -> ServiceRequest | None:
        """The chat's own request ``request_id``, locked; None when it is not theirs."""
        query = (
            select(ServiceRequest)
            .where(ServiceRequest.id == request_id, ServiceRequest.chat_id == chat_id)
            .with_for_update()
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def list_of_chat(self, chat_id: int, limit: int = 20) -> list[ServiceRequest]:
        query = (
            select(ServiceRequest)
            .where(ServiceRequest.chat_id == chat_id)
            .order_by(ServiceRequest.id.desc())
            .limit(limit)
        )
        return list((await self.session.execute(query)).scalars())

    async def chat_of(self, request: ServiceRequest) -> Chat | None:
        if request.chat_id is None:
            return None
        return await self.session.get(Chat, request.chat_id)

    async def add_message(
        self,
        request_id: int,
        direction: str,
        author: str,
        text: str,
        media: Sequence[str],
        now: datetime,
        delivered: bool = True,
    ) -> RequestMessage:
        message = RequestMessage(
            request_id=request_id,
            direction=direction,
            author=author,
            text=text,
            media=list(media),
            delivered=delivered,
            created_at=now,
        )
        self.session.add(message)
        await self.session.flush()
        return message

    async def messages(self, request_id: int) -> list[RequestMessage]:
        query = (
            select(RequestMessage).where(RequestMessage.request_id == request_id).order_by(RequestMessage.id)
        )
        return list((await self.session.execute(query)).scalars())

    async def set_status(self, request: ServiceRequest, status: str, actor: str, now: datetime) -> None:
        """Move the request to ``status`` and log the change (nothing when it is there already)."""
        if request.status == status:
            return
        self.session.add(
            RequestEvent(
                request_id=request.id,
                old_status=request.status,
                new_status=status,
                actor=actor,
                created_at=now,
            )
        )
        request.status = status
        request.closed_at = now if status == "closed" else None

    async def events(self, request_id: int) -> list[RequestEvent]:
        query = select(RequestEvent).where(RequestEvent.request_id == request_id).order_by(RequestEvent.id)
        return list((await self.session.execute(query)).scalars())

    async def unanswered(self, created_before: datetime) -> list[ServiceRequest]:
        """Requests not answered yet that were filed before ``created_before``, locked, oldest first."""
        query = (
            select(ServiceRequest)
            .where(
                ServiceRequest.status.in_(UNANSWERED_STATUSES),
                ServiceRequest.first_answer_at.is_(None),
                ServiceRequest.answer_hours.is_not(None),
                ServiceRequest.created_at < created_before,
            )
            .order_by(ServiceRequest.id)
            .with_for_update()
        )
        return list((await self.session.execute(query)).scalars())

    async def export(self, since: datetime | None, status: str | None) -> list[ExportRow]:
        first = (
            select(RequestMessage.text)
            .where(RequestMessage.request_id == ServiceRequest.id)
            .order_by(RequestMessage.id)
            .limit(1)
            .scalar_subquery()
        )
        query = (
            select(ServiceRequest, Account.number, Chat.channel, first)
            .outerjoin(Account, Account.id == ServiceRequest.account_id)
            .outerjoin(Chat, Chat.id == ServiceRequest.chat_id)
            .order_by(ServiceRequest.id)
        )
        if since is not None:
            query = query.where(ServiceRequest.created_at >= since)
        if status is not None:
            query = query.where(ServiceRequest.status == status)
        rows = await self.session.execute(query)
        return [
            ExportRow(request, number or "", channel or "", text or "")
            for request, number, channel, text in rows
        ]

    async def purge_closed_before(self, cutoff: datetime) -> int:
        """Delete requests closed before ``cutoff`` with their messages and events; returns how many."""
        old = select(ServiceRequest.id).where(
            ServiceRequest.status == "closed", ServiceRequest.closed_at < cutoff
        )
        for table in (RequestMessage, RequestEvent):
            await self.session.execute(delete(table).where(table.request_id.in_(old)))
        result = await self.session.execute(delete(ServiceRequest).where(ServiceRequest.id.in_(old)))
        return int(result.rowcount or 0)

    async def queue_for(self, channel: str, chat_key: str, text: str, now: datetime) -> None:
        """Queue ``text`` for the chat ``chat_key`` (the operators' group; created when new) at the
        emergency priority: quiet hours do not hold requests back."""
        chat, _ = await ChatRepository(self.session).get_or_create(channel, chat_key)
        await self.queue(chat.id, text, now)

    async def queue(self, chat_id: int, text: str, now: datetime, dedup_key: str | None = None) -> None:
        """Queue ``text`` for the chat ``chat_id`` at the emergency priority."""
        await OutboxRepository(self.session).enqueue(
            chat_id,
            text,
            kind="request",
            priority=PRIORITY_EMERGENCY,
            dedup_key=dedup_key,
            not_before=now,
            now=now,
        )

    async def undelivered_answers(self) -> list[tuple[RequestMessage, ServiceRequest]]:
        """Operators' answers still marked delivered whose outbox row failed (the resident blocked
        the bot, the chat is gone), locked, oldest first."""
        key = literal(ANSWER_KEY) + cast(RequestMessage.id, String)
        query = (
            select(RequestMessage, ServiceRequest)
            .join(ServiceRequest, ServiceRequest.id == RequestMessage.request_id)
            .join(OutboxMessage, OutboxMessage.dedup_key == key)
            .where(
                RequestMessage.direction == "out",
                RequestMessage.delivered.is_(True),
                OutboxMessage.status == FAILED,
            )
            .order_by(RequestMessage.id)
            .with_for_update(of=RequestMessage)
        )
        return [(message, request) for message, request in await self.session.execute(query)]
