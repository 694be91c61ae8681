"""Accounts and their bindings to chats."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Account, Binding


class AccountRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, account_id: int) -> Account | None:
        return await self.session.get(Account, account_id)

    async def find(self, provider_id: str, number: str) -> Account | None:
        query = select(Account).where(Account.provider_id == provider_id, Account.number == number)
        return (await self.session.execute(query)).scalar_one_or_none()

    async def bound_to_chat(self, chat_id: int) -> Sequence[Account]:
        query = (
            select(Account)
            .join(Binding, Binding.account_id == Account.id)
            .where(Binding.chat_id == chat_id)
            .order_by(Binding.created_at, Account.id)
        )
        return (await self.session.execute(query)).scalars().all()

    async def is_bound(self, chat_id: int, account_id: int) -> bool:
        return await self.session.get(Binding, (chat_id, account_id)) is not None

    async def bind(self, chat_id: int, account_id: int) -> None:
        if not await self.is_bound(chat_id, account_id):
            self.session.add(Binding(chat_id=chat_id, account_id=account_id))
            await self.session.flush()

    async def unbind(self, chat_id: int, account_id: int) -> None:
        await self.session.execute(
            delete(Binding).where(Binding.chat_id == chat_id, Binding.account_id == account_id)
        )
