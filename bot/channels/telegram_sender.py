"""The Telegram sender of the delivery loop (scheduler.sending.ChannelSender): one message per
call through its own aiogram Bot, every error classified by bot.channels.telegram_client."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest

from bot.channels.telegram_client import call, chat_id, classify, make_bot
from scheduler.sending import DeliveryResult, Outcome, SenderLimits


class TelegramSender:
    """Sends through its own aiogram Bot (own connection pool), one message per call."""

    channel = "telegram"

    def __init__(self, token: str, api_base_url: str, rate: int, request_timeout: float = 10.0) -> None:
        self.limits = SenderLimits(rate=rate, window=1.0, max_receivers=1, can_edit=True)
        self._token = token
        self._api_base_url = api_base_url
        self._timeout = request_timeout
        self._bot: Bot | None = None

    async def start(self) -> None:
        self._bot = make_bot(self._token, self._api_base_url, self._timeout)

    async def close(self) -> None:
        if self._bot is not None:
            bot, self._bot = self._bot, None
            await bot.session.close()

    @property
    def bot(self) -> Bot:
        if self._bot is None:
            raise RuntimeError("TelegramSender.start() has not been called")
        return self._bot

    async def send(self, text: str, chat_keys: Sequence[str]) -> list[DeliveryResult]:
        (chat_key,) = chat_keys
        request = partial(self.bot.send_message, chat_id=chat_id(chat_key), text=text, parse_mode=None)
        return [(await call(request)).delivery()]

    async def post(self, chat_key: str, text: str, message_id: str = "") -> tuple[DeliveryResult, str]:
        """Send ``text`` to an operator, or edit their message ``message_id``; returns the message id."""
        target = chat_id(chat_key)
        try:
            if message_id:
                await self.bot.edit_message_text(
                    text=text, chat_id=target, message_id=int(message_id), parse_mode=None
                )
                return DeliveryResult(Outcome.SENT), message_id
            message = await self.bot.send_message(chat_id=target, text=text, parse_mode=None)
        except TelegramBadRequest as error:
            if "not modified" in error.message.lower():
                return DeliveryResult(Outcome.SENT), message_id
            if message_id and "message to edit not found" in error.message.lower():
                return DeliveryResult(Outcome.RETRY, error.message), ""  # post a new one next time
            return classify(error).delivery(), message_id
        except Exception as error:
            return classify(error).delivery(), message_id
        return DeliveryResult(Outcome.SENT), str(message.message_id)
