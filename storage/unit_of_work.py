"""Unit of work: one transaction, the repositories that share it, and the only place that commits."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession

from storage.repositories.accounts import AccountRepository
from storage.repositories.billing import BillingRepository
from storage.repositories.broadcasts import BroadcastRepository
from storage.repositories.chats import ChatRepository
from storage.repositories.inbox import InboxRepository
from storage.repositories.outbox import OutboxRepository
from storage.repositories.readings import ReadingRepository
from storage.repositories.reminders import ReminderRepository
from storage.repositories.verification import VerificationRepository


class UnitOfWork:
    """``async with db.unit_of_work() as uow: ...; await uow.commit()`` — rolled back unless committed."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.accounts = AccountRepository(session)
        self.billing = BillingRepository(session)
        self.chats = ChatRepository(session)
        self.verification = VerificationRepository(session)
        self.inbox = InboxRepository(session)
        self.readings = ReadingRepository(session)
        self.outbox = OutboxRepository(session)
        self.broadcasts = BroadcastRepository(session)
        self.reminders = ReminderRepository(session)

    async def __aenter__(self) -> UnitOfWork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Closing rolls back whatever was not committed, without expiring the objects already loaded.
        await self.session.close()

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()
