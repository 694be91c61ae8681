"""The aiogram ``Bot`` both Telegram users (the channel and the delivery sender) talk through.

aiogram parses every Bot API answer with ``Response[T]``, a pydantic generic model that pydantic
caches only through weak references: once the garbage collector frees one, the next call builds
its schema again, about 4 ms on the event loop. The answers of the methods utilibot calls are
therefore held here for the life of the process.
"""

from __future__ import annotations

from typing import Any

from aiogram import Bot, methods
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.methods.base import Response

CALLED_METHODS = (
    methods.AnswerCallbackQuery,
    methods.DeleteWebhook,
    methods.EditMessageText,
    methods.GetMe,
    methods.GetUpdates,
    methods.SendMessage,
    methods.SendPhoto,
    methods.SetMyCommands,
    methods.SetWebhook,
)

RESPONSE_MODELS: dict[Any, type[Response[Any]]] = {
    method.__returning__: Response[method.__returning__]  # type: ignore[name-defined]
    for method in CALLED_METHODS
}


def make_bot(token: str, api_base_url: str, timeout: float) -> Bot:
    """A Bot for ``token`` on the official Bot API, or on ``api_base_url`` (a local server, a fake)."""
    api = TelegramAPIServer.from_base(api_base_url) if api_base_url else PRODUCTION
    return Bot(token, session=AiohttpSession(api=api, timeout=timeout))
