"""The one client of Viber's REST API, for the channel's replies and the delivery sender alike.

JSON over aiohttp with a timeout (never the SDK's blocking ``requests`` calls), the token only in
the ``X-Viber-Auth-Token`` header and never logged. Viber answers HTTP 200 with a status in the
body, classified once here (``status_failure``): 0 ok; 5/6 (not registered / not subscribed) → the
chat is gone; 12 → rate control; 2, 7-10 (bad token, account blocked, not found or suspended, no
webhook) → the account is refused; anything else → the message is rejected. HTTP errors, network
errors, timeouts and answers that are not JSON objects are temporary (``ViberAPIError``).

Rate control (``send_paced``, for replies): every send of this client pauses (exponential back-off
from ``BACKOFF_BASE``, capped) and the message is retried a few times. The delivery loop paces its
own sender, so the sender makes single calls (``call``).

Every message carries the envelope: the sender's name (at most 28 characters) and avatar, and the
oldest client version able to show it (``min_api_version``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp

from bot.channels.api_result import CallResult, Failure
from domain.config import Config, ConfigError, ViberConfig

log = logging.getLogger(__name__)

AUTH_HEADER = "X-Viber-Auth-Token"
SENDER_NAME_LIMIT = 28
MIN_API_VERSION = 7  # keyboards and rich media as the channel renders them
TEXT_API_VERSION = 1  # plain text: every client shows it
REQUEST_TIMEOUT = 10.0
SET_WEBHOOK_TIMEOUT = 30.0  # Viber calls the webhook back while set_webhook is in progress

# Subscribed, unsubscribed and message callbacks cannot be switched off; these are the optional ones.
EVENT_TYPES = ["failed", "subscribed", "unsubscribed", "conversation_started"]

STATUS_OK = 0
RECEIVER_GONE = frozenset({5, 6})  # receiver not registered / not subscribed
RATE_CONTROL = 12
ACCOUNT_PROBLEMS = frozenset({2, 7, 8, 9, 10})  # bad token, account blocked/not found/suspended, no webhook
MAX_SEND_RETRIES = 3
BACKOFF_BASE = 1.0  # seconds: the first pause after rate control, doubled on each further one
MAX_BACKOFF = 30.0


class ViberAPIError(RuntimeError):
    """Viber's API could not be reached or did not answer with JSON."""


def describe(answer: dict[str, Any]) -> str:
    return f"status {answer.get('status')} ({answer.get('status_message') or 'no message'})"


def status_failure(status: object) -> Failure | None:
    """The one classification of Viber's statuses (a call's, or one receiver's in a failed_list)."""
    if status == STATUS_OK:
        return None
    if status in RECEIVER_GONE:
        return Failure.CHAT_GONE
    if status == RATE_CONTROL:
        return Failure.RATE_LIMITED
    if status in ACCOUNT_PROBLEMS:
        return Failure.ACCOUNT
    return Failure.REJECTED


def answer_result(answer: dict[str, Any]) -> CallResult:
    """A call's answer classified; rate control asks for the first back-off pause."""
    failure = status_failure(answer.get("status"))
    if failure is Failure.ACCOUNT:
        log.error("viber: the API refused the bot's account: %s", describe(answer))
    pause = BACKOFF_BASE if failure is Failure.RATE_LIMITED else 0.0
    return CallResult(failure, describe(answer) if failure else "", pause)


def require_webhook_url(settings: ViberConfig) -> None:
    if not settings.webhook_url:
        raise ConfigError(
            "viber.webhook_url: required for the Viber channel (the public https:// URL Viber posts "
            "callbacks to; the server listens on viber.listen at its path)"
        )


def webhook_request(settings: ViberConfig) -> dict[str, Any]:
    return {"url": settings.webhook_url, "event_types": EVENT_TYPES, "send_name": True, "send_photo": False}


class ViberClient:
    """One aiohttp session to Viber's API; ``start`` before use, ``close`` after (or ``async with``)."""

    def __init__(
        self,
        token: str,
        api_base_url: str,
        name: str,
        avatar: str = "",
        request_timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self._token = token
        self._base = api_base_url.rstrip("/")
        self._sender: dict[str, str] = {"name": name[:SENDER_NAME_LIMIT]}
        if avatar:
            self._sender["avatar"] = avatar
        self._timeout = request_timeout
        self._session: aiohttp.ClientSession | None = None
        self._resume_at = 0.0  # loop time before which send_paced sends nothing (rate control)

    @classmethod
    def from_settings(cls, settings: ViberConfig) -> ViberClient:
        return cls(settings.token, settings.api_base_url, settings.name, settings.avatar)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def __aenter__(self) -> ViberClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def envelope(self, min_api_version: int = MIN_API_VERSION) -> dict[str, Any]:
        """What every message carries besides its content and receivers."""
        return {"sender": dict(self._sender), "min_api_version": min_api_version}

    async def call(
        self, method: str, payload: dict[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        """POST one API call; the JSON answer (its ``status`` is for the caller to judge)."""
        if self._session is None:
            raise RuntimeError("ViberClient.start() has not been called (or the client is closed)")
        url = f"{self._base}/{method}"
        limit = aiohttp.ClientTimeout(total=timeout or self._timeout)
        try:
            async with self._session.post(
                url, json=payload, headers={AUTH_HEADER: self._token}, timeout=limit
            ) as response:
                if response.status != 200:
                    raise ViberAPIError(f"{method}: HTTP {response.status}")
                answer = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise ViberAPIError(f"{method}: {type(error).__name__}: {error}") from None
        if not isinstance(answer, dict):
            raise ViberAPIError(f"{method}: unexpected answer {answer!r:.100}")
        return answer

    async def set_webhook(self, settings: ViberConfig) -> dict[str, Any]:
        """Register ``settings.webhook_url``; Viber's answer (status 0 = registered)."""
        return await self.call("set_webhook", webhook_request(settings), SET_WEBHOOK_TIMEOUT)

    async def send_paced(self, receiver: str, message: dict[str, Any]) -> CallResult:
        """send_message with rate control waited out: paused sends, retried a few times."""
        payload = {"receiver": receiver, **self.envelope(), **message}
        for attempt in range(MAX_SEND_RETRIES):
            result = await self._send_when_allowed(payload)
            if result.failure is not Failure.RATE_LIMITED:
                return result
            self._pause(min(BACKOFF_BASE * 2**attempt, MAX_BACKOFF))
        return await self._send_when_allowed(payload)

    async def _send_when_allowed(self, payload: dict[str, Any]) -> CallResult:
        loop = asyncio.get_running_loop()
        while (wait := self._resume_at - loop.time()) > 0:
            await asyncio.sleep(wait)
        try:
            return answer_result(await self.call("send_message", payload))
        except ViberAPIError as error:
            return CallResult(Failure.TEMPORARY, str(error))

    def _pause(self, seconds: float) -> None:
        log.info("viber: rate control; sending paused for %.1f s", seconds)
        self._resume_at = max(self._resume_at, asyncio.get_running_loop().time() + seconds)


async def register_webhook(config: Config) -> dict[str, Any]:
    """Register ``viber.webhook_url`` with Viber; Viber's answer (status 0 = registered).

    Viber calls the URL back during the request, so the bot must already be running and reachable
    there. Raises ViberAPIError when the API cannot be reached, ConfigError without a webhook_url.
    """
    settings = config.viber
    require_webhook_url(settings)
    async with ViberClient.from_settings(settings) as client:
        return await client.set_webhook(settings)
