"""Unit of work: one transaction, the repositories that share it, and the only place that commits."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession

from storage.repositories.accounts import AccountRepository
from storage.repositories.audit import AuditRepository
from storage.repositories.billing import BillingRepository
from storage.repositories.broadcasts import BroadcastRepository
from storage.repositories.chats import ChatRepository
from storage.repositories.inbox import InboxRepository
from storage.repositories.outbox import OutboxRepository
from storage.repositories.readings import ReadingRepository
from storage.repositories.reminders import ReminderRepository
from storage.repositories.requests import RequestRepository
from storage.repositories.verification import VerificationRepository
from storage.writer_turns import WriterTurns


class UnitOfWork:
    """``async with db.unit_of_work() as uow: ...; await uow.commit()`` — rolled back unless committed."""

    def __init__(self, session: AsyncSession, turns: WriterTurns | None = None) -> None:
        self.session = session
        self._turns = turns  # SQLite: one writer at a time (storage/writer_turns.py)
        self._has_turn = False
        self.accounts = AccountRepository(session)
        self.billing = BillingRepository(session)
        self.chats = ChatRepository(session)
        self.verification = VerificationRepository(session)
        self.inbox = InboxRepository(session)
        self.readings = ReadingRepository(session)
        self.outbox = OutboxRepository(session)
        self.broadcasts = BroadcastRepository(session)
        self.reminders = ReminderRepository(session)
        self.requests = RequestRepository(session)
        self.audit = AuditRepository(session)

    async def __aenter__(self) -> UnitOfWork:
        if self._turns is not None:
            self._has_turn = await self._turns.take()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # Closing rolls back whatever was not committed, without expiring the objects already loaded.
        try:
            await self.session.close()
        finally:
            self._end_turn()

    async def commit(self) -> None:
        await self.session.commit()
        self._end_turn()  # the transaction is over: the next writer may start

    async def rollback(self) -> None:
        await self.session.rollback()
        self._end_turn()

    def _end_turn(self) -> None:
        if self._has_turn and self._turns is not None:
            self._has_turn = False
            self._turns.give_back()
