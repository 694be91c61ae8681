"""Channel senders for the delivery loop (scheduler.sending.ChannelSender): Telegram (aiogram Bot)
and Viber (REST broadcast_message).

A sender makes one API call per ``send`` and says, per receiver, what happened; the delivery loop
owns rates, retries and the database. Telegram sends one message per call; Viber's
broadcast_message takes up to 300 receivers of the same text per call.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)

from bot.channels.telegram_bot import make_bot
from domain.config import Config
from scheduler.sending import ChannelSender, DeliveryResult, Outcome, SenderLimits

log = logging.getLogger(__name__)

UNAUTHORIZED_PAUSE = 60.0  # a rejected token is not the message's fault: pause, do not fail everyone


# --- Telegram -----------------------------------------------------------------------------------


def _telegram_chat_id(chat_key: str) -> int | str:
    try:
        return int(chat_key)
    except ValueError:
        return chat_key


def telegram_result(error: BaseException | None) -> DeliveryResult:
    """What a Bot API call's outcome means for delivery."""
    if error is None:
        return DeliveryResult(Outcome.SENT)
    text = f"{type(error).__name__}: {getattr(error, 'message', error)}"
    if isinstance(error, TelegramRetryAfter):
        return DeliveryResult(Outcome.RATE_LIMITED, text, float(error.retry_after))
    if isinstance(error, TelegramForbiddenError):  # blocked by the user, user deactivated
        return DeliveryResult(Outcome.BLOCKED, text)
    if isinstance(error, TelegramBadRequest):
        chat_gone = "chat not found" in error.message.lower()
        return DeliveryResult(Outcome.BLOCKED if chat_gone else Outcome.FAILED, text)
    if isinstance(error, TelegramUnauthorizedError):
        log.error("telegram delivery: the Bot API rejected the token; pausing %.0f s", UNAUTHORIZED_PAUSE)
        return DeliveryResult(Outcome.RATE_LIMITED, text, UNAUTHORIZED_PAUSE)
    if isinstance(error, TelegramServerError | TelegramNetworkError | aiohttp.ClientError | TimeoutError):
        return DeliveryResult(Outcome.RETRY, text)
    if isinstance(error, TelegramAPIError):
        return DeliveryResult(Outcome.FAILED, text)
    return DeliveryResult(Outcome.RETRY, text)


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
        try:
            await self.bot.send_message(chat_id=_telegram_chat_id(chat_key), text=text, parse_mode=None)
        except Exception as error:
            return [telegram_result(error)]
        return [telegram_result(None)]

    async def post(self, chat_key: str, text: str, message_id: str = "") -> tuple[DeliveryResult, str]:
        """Send ``text`` to an operator, or edit their message ``message_id``; returns the message id."""
        chat_id = _telegram_chat_id(chat_key)
        try:
            if message_id:
                await self.bot.edit_message_text(
                    text=text, chat_id=chat_id, message_id=int(message_id), parse_mode=None
                )
                return DeliveryResult(Outcome.SENT), message_id
            message = await self.bot.send_message(chat_id=chat_id, text=text, parse_mode=None)
        except TelegramBadRequest as error:
            if "not modified" in error.message.lower():
                return DeliveryResult(Outcome.SENT), message_id
            if message_id and "message to edit not found" in error.message.lower():
                return DeliveryResult(Outcome.RETRY, error.message), ""  # post a new one next time
            return telegram_result(error), message_id
        except Exception as error:
            return telegram_result(error), message_id
        return DeliveryResult(Outcome.SENT), str(message.message_id)


# --- Viber --------------------------------------------------------------------------------------

VIBER_OK = 0
VIBER_RECEIVER_GONE = {5, 6}  # receiver not registered, not subscribed
VIBER_RATE_CONTROL = 12
VIBER_ACCOUNT_PROBLEM = {2, 7, 8, 9, 10}  # bad token, account blocked/not found/suspended, no webhook
VIBER_PAUSE = 60.0
VIBER_RATE_PAUSE = 1.0


def viber_receiver_result(status: int, message: str) -> DeliveryResult:
    """A failed_list entry (or a single call's status) as a delivery outcome."""
    text = f"viber status {status}: {message}"
    if status in VIBER_RECEIVER_GONE:
        return DeliveryResult(Outcome.BLOCKED, text)
    if status == VIBER_RATE_CONTROL:
        return DeliveryResult(Outcome.RETRY, text)
    return DeliveryResult(Outcome.FAILED, text)


def viber_call_results(body: dict[str, Any], receivers: Sequence[str]) -> list[DeliveryResult]:
    """Per-receiver results of a broadcast_message response body."""
    status = body.get("status")
    message = str(body.get("status_message", ""))
    if status == VIBER_RATE_CONTROL:
        return [DeliveryResult(Outcome.RATE_LIMITED, message, VIBER_RATE_PAUSE)] * len(receivers)
    if status in VIBER_ACCOUNT_PROBLEM:
        log.error("viber delivery: status %s (%s); pausing %.0f s", status, message, VIBER_PAUSE)
        return [DeliveryResult(Outcome.RATE_LIMITED, message, VIBER_PAUSE)] * len(receivers)
    if status != VIBER_OK:
        if len(receivers) == 1 and isinstance(status, int):
            return [viber_receiver_result(status, message)]
        return [DeliveryResult(Outcome.RETRY, f"viber status {status}: {message}")] * len(receivers)
    failed: dict[str, DeliveryResult] = {}
    for entry in body.get("failed_list") or []:
        if isinstance(entry, dict):
            result = viber_receiver_result(int(entry.get("status", -1)), str(entry.get("status_message", "")))
            failed[str(entry.get("receiver", ""))] = result
    return [failed.get(receiver, DeliveryResult(Outcome.SENT)) for receiver in receivers]


class ViberSender:
    """broadcast_message with up to 300 receivers per call, over Viber's REST API.

    Viber allows about 500 broadcast calls in any 10 seconds (our assumption from its docs; the
    limiter enforces it exactly). Viber cannot edit messages: operators get the final report only.
    """

    channel = "viber"
    MAX_RECEIVERS = 300

    def __init__(
        self,
        token: str,
        api_base_url: str,
        name: str,
        avatar: str = "",
        calls_per_window: int = 500,
        window: float = 10.0,
        request_timeout: float = 10.0,
    ) -> None:
        self.limits = SenderLimits(
            rate=calls_per_window, window=window, max_receivers=self.MAX_RECEIVERS, can_edit=False
        )
        self._token = token
        self._base = api_base_url.rstrip("/")
        self._sender: dict[str, str] = {"name": name[:28]}
        if avatar:
            self._sender["avatar"] = avatar
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout)

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def _call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if self._session is None:
            raise RuntimeError("ViberSender.start() has not been called")
        headers = {"X-Viber-Auth-Token": self._token}
        async with self._session.post(f"{self._base}/{method}", json=body, headers=headers) as response:
            if response.status >= 500:
                raise aiohttp.ClientResponseError(
                    response.request_info, (), status=response.status, message=response.reason or ""
                )
            data = await response.json(content_type=None)
        return data if isinstance(data, dict) else {}

    async def send(self, text: str, chat_keys: Sequence[str]) -> list[DeliveryResult]:
        body = {
            "sender": self._sender,
            "type": "text",
            "text": text,
            "broadcast_list": list(chat_keys),
            "min_api_version": 1,
        }
        try:
            data = await self._call("broadcast_message", body)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            return [DeliveryResult(Outcome.RETRY, f"{type(error).__name__}: {error}")] * len(chat_keys)
        return viber_call_results(data, chat_keys)

    async def post(self, chat_key: str, text: str, message_id: str = "") -> tuple[DeliveryResult, str]:
        body = {"receiver": chat_key, "sender": self._sender, "type": "text", "text": text}
        try:
            data = await self._call("send_message", body)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            return DeliveryResult(Outcome.RETRY, f"{type(error).__name__}: {error}"), ""
        return viber_call_results(data, [chat_key])[0], ""


def build_senders(config: Config) -> list[ChannelSender]:
    """One sender per channel whose token is set."""
    senders: list[ChannelSender] = []
    if config.telegram.token:
        senders.append(
            TelegramSender(
                config.telegram.token, config.telegram.api_base_url, config.bot.delivery_rate_per_second
            )
        )
    if config.viber.token:
        senders.append(
            ViberSender(config.viber.token, config.viber.api_base_url, config.viber.name, config.viber.avatar)
        )
    return senders
