"""The Viber sender of the delivery loop (scheduler.sending.ChannelSender): broadcast_message to up
to 300 receivers per call through bot.channels.viber.client, whose classification says per receiver
what happened."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.channels.api_result import CallResult, Failure
from bot.channels.viber.client import (
    TEXT_API_VERSION,
    ViberAPIError,
    ViberClient,
    answer_result,
    status_failure,
)
from scheduler.sending import DeliveryResult, Outcome, SenderLimits


def receiver_result(status: object, message: str) -> DeliveryResult:
    """One receiver's status (a failed_list entry, or a single call's): gone, again later, or failed."""
    text = f"viber status {status}: {message}"
    failure = status_failure(status)
    if failure is Failure.CHAT_GONE:
        return DeliveryResult(Outcome.BLOCKED, text)
    if failure is Failure.RATE_LIMITED:
        return DeliveryResult(Outcome.RETRY, text)  # this receiver only: its message again later
    return DeliveryResult(Outcome.FAILED, text)


def viber_call_results(body: dict[str, Any], receivers: Sequence[str]) -> list[DeliveryResult]:
    """Per-receiver results of a broadcast_message (or send_message) answer."""
    call = answer_result(body)
    if call.failure in (Failure.RATE_LIMITED, Failure.ACCOUNT):  # the whole sender pauses
        return [call.delivery()] * len(receivers)
    status = body.get("status")
    message = str(body.get("status_message", ""))
    if call.failure is not None:
        if len(receivers) == 1 and isinstance(status, int):
            return [receiver_result(status, message)]
        return [DeliveryResult(Outcome.RETRY, f"viber status {status}: {message}")] * len(receivers)
    failed: dict[str, DeliveryResult] = {}
    for entry in body.get("failed_list") or []:
        if isinstance(entry, dict):
            result = receiver_result(int(entry.get("status", -1)), str(entry.get("status_message", "")))
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
        self._client = ViberClient(token, api_base_url, name, avatar, request_timeout)

    async def start(self) -> None:
        await self._client.start()

    async def close(self) -> None:
        await self._client.close()

    async def _call(
        self, method: str, body: dict[str, Any], receivers: Sequence[str]
    ) -> list[DeliveryResult]:
        try:
            answer = await self._client.call(method, {**self._client.envelope(TEXT_API_VERSION), **body})
        except ViberAPIError as error:
            return [CallResult(Failure.TEMPORARY, str(error)).delivery()] * len(receivers)
        return viber_call_results(answer, receivers)

    async def send(self, text: str, chat_keys: Sequence[str]) -> list[DeliveryResult]:
        body = {"type": "text", "text": text, "broadcast_list": list(chat_keys)}
        return await self._call("broadcast_message", body, chat_keys)

    async def post(self, chat_key: str, text: str, message_id: str = "") -> tuple[DeliveryResult, str]:
        body = {"receiver": chat_key, "type": "text", "text": text}
        (result,) = await self._call("send_message", body, [chat_key])
        return result, ""
