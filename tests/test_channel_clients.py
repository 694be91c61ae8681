"""One classification per messenger: every error class a Bot API call or a Viber API call can end
in, and what it means for replies (bot.channels.api_result.Failure) and for delivery (Outcome)."""

from __future__ import annotations

import aiohttp
import pytest
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendMessage

from bot.channels.api_result import ACCOUNT_PAUSE, CallResult, Failure
from bot.channels.telegram_client import call, call_waiting_out_429, classify
from bot.channels.viber import client as viber_client
from bot.channels.viber.client import ViberClient, answer_result
from bot.channels.viber.sender import ViberSender, viber_call_results
from scheduler.sending import DeliveryResult, Outcome
from tests.fakes.viber_api import free_port
from tests.test_failing_well import answering

METHOD = SendMessage(chat_id=1, text="hi")


# --- Telegram -----------------------------------------------------------------------------------


def test_telegram_429_is_rate_limited_for_its_retry_after() -> None:
    result = classify(TelegramRetryAfter(METHOD, "Too Many Requests: retry after 7", 7))
    assert (result.failure, result.retry_after) == (Failure.RATE_LIMITED, 7.0)
    assert result.delivery() == DeliveryResult(Outcome.RATE_LIMITED, result.detail, 7.0)


@pytest.mark.parametrize(
    "message", ["Forbidden: bot was blocked by the user", "Forbidden: user is deactivated"]
)
def test_telegram_403_blocked_or_deactivated_is_a_gone_chat(message: str) -> None:
    result = classify(TelegramForbiddenError(METHOD, message))
    assert result.failure is Failure.CHAT_GONE
    assert result.delivery().outcome is Outcome.BLOCKED
    assert message in result.detail


@pytest.mark.parametrize("error", [TelegramBadRequest, TelegramNotFound])
def test_telegram_chat_not_found_is_a_gone_chat(error: type[TelegramBadRequest]) -> None:
    result = classify(error(METHOD, "Bad Request: chat not found"))
    assert result.failure is Failure.CHAT_GONE and result.delivery().outcome is Outcome.BLOCKED


def test_telegram_other_400_rejects_only_this_message() -> None:
    result = classify(TelegramBadRequest(METHOD, "Bad Request: message text is empty"))
    assert result.failure is Failure.REJECTED and result.delivery().outcome is Outcome.FAILED


@pytest.mark.parametrize(
    "error",
    [
        TelegramServerError(METHOD, "Bad Gateway"),
        TelegramNetworkError(METHOD, "HTTP Client says - ClientConnectorError"),
        aiohttp.ClientConnectionError("connection reset"),
        TimeoutError(),
    ],
)
def test_telegram_5xx_and_network_errors_are_temporary(error: BaseException) -> None:
    result = classify(error)
    assert result.failure is Failure.TEMPORARY
    assert result.delivery() == DeliveryResult(Outcome.RETRY, result.detail)


def test_telegram_rejected_token_pauses_delivery() -> None:
    result = classify(TelegramUnauthorizedError(METHOD, "Unauthorized"))
    assert result.failure is Failure.ACCOUNT
    assert result.delivery() == DeliveryResult(Outcome.RATE_LIMITED, result.detail, ACCOUNT_PAUSE)


async def test_telegram_call_classifies_instead_of_raising_and_waits_out_429() -> None:
    errors: list[BaseException] = [TelegramRetryAfter(METHOD, "retry after 0", 0)] * 2

    async def request() -> None:
        if errors:
            raise errors.pop()

    assert await call_waiting_out_429(request, retries=3) == CallResult()
    errors += [TelegramRetryAfter(METHOD, "retry after 0", 0)] * 3
    assert (await call_waiting_out_429(request, retries=2)).failure is Failure.RATE_LIMITED
    assert errors == []
    errors.append(TelegramForbiddenError(METHOD, "Forbidden: bot was blocked by the user"))
    assert (await call(request)).failure is Failure.CHAT_GONE


# --- Viber --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "failure", "outcome"),
    [
        (0, None, Outcome.SENT),
        (5, Failure.CHAT_GONE, Outcome.BLOCKED),  # receiver not registered
        (6, Failure.CHAT_GONE, Outcome.BLOCKED),  # receiver not subscribed
        (12, Failure.RATE_LIMITED, Outcome.RATE_LIMITED),  # rate control
        (2, Failure.ACCOUNT, Outcome.RATE_LIMITED),  # invalid auth token
        (7, Failure.ACCOUNT, Outcome.RATE_LIMITED),  # account blocked
        (8, Failure.ACCOUNT, Outcome.RATE_LIMITED),  # account not found
        (9, Failure.ACCOUNT, Outcome.RATE_LIMITED),  # account suspended
        (10, Failure.ACCOUNT, Outcome.RATE_LIMITED),  # no webhook set
        (3, Failure.REJECTED, Outcome.FAILED),  # bad data
    ],
)
def test_viber_statuses(status: int, failure: Failure | None, outcome: Outcome) -> None:
    answer = {"status": status, "status_message": "why"}
    result = answer_result(answer)
    assert result.failure is failure
    assert viber_call_results(answer, ["one"])[0].outcome is outcome  # send_message: one receiver
    if failure is not None:
        assert result.detail == f"status {status} (why)"  # what the reply path logs


def test_viber_rate_control_and_account_problems_pause_the_sender() -> None:
    assert answer_result({"status": 12}).retry_after == viber_client.BACKOFF_BASE
    (limited,) = viber_call_results({"status": 12}, ["one"])
    assert limited.retry_after == viber_client.BACKOFF_BASE
    assert (
        viber_call_results({"status": 7}, ["a", "b"])
        == [DeliveryResult(Outcome.RATE_LIMITED, "status 7 (no message)", ACCOUNT_PAUSE)] * 2
    )


async def test_viber_5xx_is_temporary_for_replies_and_delivery() -> None:
    async with answering(500, echo_path=False) as base:
        async with ViberClient("token", base, "Bot") as client:
            result = await client.send_paced("user", {"type": "text", "text": "hi"})
        sender = ViberSender("token", base, "Bot")
        await sender.start()
        try:
            results = await sender.send("hi", ["a", "b"])
        finally:
            await sender.close()
    assert result.failure is Failure.TEMPORARY and "HTTP 500" in result.detail
    assert [r.outcome for r in results] == [Outcome.RETRY] * 2 and "HTTP 500" in results[0].error


async def test_viber_network_error_is_temporary_for_replies_and_delivery() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    async with ViberClient("token", nobody, "Bot", request_timeout=2.0) as client:
        result = await client.send_paced("user", {"type": "text", "text": "hi"})
    assert result.failure is Failure.TEMPORARY and "ClientConnectorError" in result.detail
    sender = ViberSender("token", nobody, "Bot", request_timeout=2.0)
    await sender.start()
    try:
        result_post, message_id = await sender.post("operator", "report")
    finally:
        await sender.close()
    assert result_post.outcome is Outcome.RETRY and message_id == ""
