"""Accounts and their bindings to chats."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Account, Binding


class AccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._bound_to_chat: dict[int, Sequence[Account]] = {}

    async def find(self, provider_id: str, number: str) -> Account | None:
        query = select(Account).where(Account.provider_id == provider_id, Account.number == number)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def all(self) -> Sequence[Account]:
        """Every account, by number (the demo lists them; not for production-sized tables)."""
        return (await self.session.execute(select(Account).order_by(Account.number))).scalars().all()

    async def bound_to_chat(self, chat_id: int) -> Sequence[Account]:
        """The chat's accounts, oldest binding first; remembered for the unit of work until (un)bind."""
        if chat_id not in self._bound_to_chat:
            self._bound_to_chat[chat_id] = await self._look_up_bound_to_chat(chat_id)
        return self._bound_to_chat[chat_id]

    async def _look_up_bound_to_chat(self, chat_id: int) -> Sequence[Account]:
        query = (
            select(Account)
            .join(Binding, Binding.account_id == Account.id)
            .where(Binding.chat_id == chat_id)
            .order_by(Binding.created_at, Account.id)
        )
        return (await self.session.execute(query)).scalars().all()

    async def bound(self, chat_id: int, account_id: int) -> Account | None:
        """The account, if it is bound to the chat (one query)."""
        query = (
            select(Account)
            .join(Binding, Binding.account_id == Account.id)
            .where(Binding.chat_id == chat_id, Binding.account_id == account_id)
        )
        return (await self.session.execute(query)).scalar_one_or_none()

    async def is_bound(self, chat_id: int, account_id: int) -> bool:
        return await self.session.get(Binding, (chat_id, account_id)) is not None

    async def bind(self, chat_id: int, account_id: int) -> None:
        self._bound_to_chat.pop(chat_id, None)
        if not await self.is_bound(chat_id, account_id):
            self.session.add(Binding(chat_id=chat_id, account_id=account_id))
            await self.session.flush()

    async def unbind(self, chat_id: int, account_id: int) -> None:
        self._bound_to_chat.pop(chat_id, None)
        await self.session.execute(
            delete(Binding).where(Binding.chat_id == chat_id, Binding.account_id == account_id)
        )
