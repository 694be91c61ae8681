"""The Telegram Bot API client both Telegram users share: the aiogram ``Bot`` (the channel, which
answers residents, and the delivery sender) and the one classification of its errors.

aiogram parses every Bot API answer with ``Response[T]``, a pydantic generic model that pydantic
caches only through weak references: once the garbage collector frees one, the next call builds
its schema again, about 4 ms on the event loop. The answers of the methods utilibot calls are
therefore held here for the life of the process.

Classification (``classify``): 429 → rate limited for its ``retry_after``; 403 (blocked by the
user, user deactivated, kicked) and "chat not found" → the chat is gone; 401 → the token is
refused; 5xx, network errors and timeouts → temporary; any other API error → this message is
rejected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiogram import Bot, methods
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods.base import Response

from bot.channels.api_result import CallResult, Failure

log = logging.getLogger(__name__)

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


def chat_id(chat_key: str) -> int | str:
    """The Bot API's chat_id for a stored chat key (numeric ids as integers)."""
    try:
        return int(chat_key)
    except ValueError:
        return chat_key


def classify(error: BaseException | None) -> CallResult:
    """What a Bot API call's outcome (None: it succeeded) means, for replies and delivery alike."""
    if error is None:
        return CallResult()
    text = f"{type(error).__name__}: {getattr(error, 'message', error)}"
    if isinstance(error, TelegramRetryAfter):
        return CallResult(Failure.RATE_LIMITED, text, float(error.retry_after))
    if isinstance(error, TelegramForbiddenError):
        return CallResult(Failure.CHAT_GONE, text)
    if isinstance(error, TelegramBadRequest | TelegramNotFound):
        gone = "chat not found" in error.message.lower()
        return CallResult(Failure.CHAT_GONE if gone else Failure.REJECTED, text)
    if isinstance(error, TelegramUnauthorizedError):
        log.error("telegram: the Bot API rejected the token (%s)", text)
        return CallResult(Failure.ACCOUNT, text)
    if isinstance(error, TelegramServerError | TelegramNetworkError | aiohttp.ClientError | TimeoutError):
        return CallResult(Failure.TEMPORARY, text)
    if isinstance(error, TelegramAPIError):
        return CallResult(Failure.REJECTED, text)
    return CallResult(Failure.TEMPORARY, text)


async def call(request: Callable[[], Awaitable[object]]) -> CallResult:
    """Make one Bot API call; its classified result (never raises an API or network error)."""
    try:
        await request()
    except Exception as error:
        return classify(error)
    return CallResult()


async def call_waiting_out_429(request: Callable[[], Awaitable[object]], retries: int) -> CallResult:
    """Make the call; after a 429 wait its retry_after and try again, up to ``retries`` times."""
    for _ in range(retries):
        result = await call(request)
        if result.failure is not Failure.RATE_LIMITED:
            return result
        await asyncio.sleep(result.retry_after)
    return await call(request)
