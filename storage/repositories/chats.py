"""Chats: created on first contact, locked per update so one chat is handled at a time."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Chat


class ChatRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_for_update(self, channel: str, chat_key: str) -> Chat | None:
        query = select(Chat).where(Chat.channel == channel, Chat.chat_key == chat_key).with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def get_or_create(self, channel: str, chat_key: str, user_key: str = "") -> tuple[Chat, bool]:
        """The chat row, locked for this transaction (PostgreSQL row lock; SQLite writes are serial)."""
        chat = await self.get_for_update(channel, chat_key)
        if chat is not None:
            return chat, False
        chat = Chat(
            channel=channel, chat_key=chat_key, user_key=user_key, state="", state_data={}, notifications={}
        )
        try:
            async with self.session.begin_nested():
                self.session.add(chat)
        except IntegrityError:
            # Another process created it between our SELECT and INSERT.
            chat = await self.get_for_update(channel, chat_key)
            if chat is None:
                raise
            return chat, False
        return chat, True

    async def is_active(self, channel: str, chat_key: str) -> bool | None:
        """Whether the chat may be messaged; None for a chat never seen."""
        query = select(Chat.active).where(Chat.channel == channel, Chat.chat_key == chat_key)
        return await self.session.scalar(query)

    async def set_active(self, channel: str, chat_key: str, active: bool) -> None:
        """Mark a chat (in)active: inactive chats (blocked the bot, unsubscribed) get no deliveries."""
        await self.session.execute(
            update(Chat).where(Chat.channel == channel, Chat.chat_key == chat_key).values(active=active)
        )
