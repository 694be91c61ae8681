"""A fake Viber REST API server (aiohttp on 127.0.0.1) for tests, plus signed-callback helpers.

The bot's channel talks to it over HTTP via ``viber.api_base_url`` (``POST {base}/{method}`` with
the ``X-Viber-Auth-Token`` header). Like Viber it answers HTTP 200 with a ``status`` in the body,
and it checks what it is sent against Viber's limits (text length, keyboard and rich-media grids,
picture URLs): a message breaking one is refused with status 3 (badData) and recorded as such.

- ``/set_webhook`` posts a signed ``webhook`` event to the URL first, like Viber, and fails with
  status 1 when that URL does not answer 200.
- ``/send_message`` records what was sent; ``mark_unsubscribed(user)`` makes it answer status 6
  for that receiver, ``fail_next(status, count)`` injects e.g. 12 (rate control).
- ``/broadcast_message`` takes up to 300 receivers and lists unsubscribed ones in ``failed_list``.
- ``/get_account_info`` describes the bot account.

Callbacks to the bot's webhook are built by ``event_*`` methods (unique message tokens, a
timestamp from ``clock``) and posted with ``post_event`` (correct signature) or ``post_raw`` (any
body and signature, or none) — methods of the fake, or the module-level functions of the same
names (``post_event(url, token, payload)``) when no fake is running.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

TOKEN = "4b1d-viber-test-token-0123456789abcdef"
ACCOUNT_ID = "pa:5000000000000000000"
ACCOUNT_NAME = "Utilibot Test"
BROADCAST_LIMIT = 300
TEXT_LIMIT = 7000
KEYBOARD_LIMIT = 24
GRID_COLUMNS = 6
ACTION_TYPES = {"reply", "open-url", "location-picker", "share-phone", "none"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif")

T = TypeVar("T")

STATUS_MESSAGES = {
    0: "ok",
    1: "invalidUrl",
    2: "invalidAuthToken",
    3: "badData",
    4: "missingData",
    5: "receiverNotRegistered",
    6: "receiverNotSubscribed",
    12: "tooManyRequests",
}


def sign(token: str, body: bytes) -> str:
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Call:
    """One API request: the method, its JSON body, when, and the status answered."""

    method: str
    body: dict[str, Any]
    time: float  # time.monotonic()
    status: int


@dataclass(frozen=True)
class SentMessage:
    """A message the fake accepted (send_message, or one receiver of broadcast_message)."""

    receiver: str
    body: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.body.get("type"))

    @property
    def text(self) -> str:
        return str(self.body.get("text") or "")

    @property
    def media(self) -> str | None:
        return self.body.get("media")

    @property
    def keyboard(self) -> list[dict[str, Any]]:
        return list((self.body.get("keyboard") or {}).get("Buttons", []))

    @property
    def rich_buttons(self) -> list[dict[str, Any]]:
        return list((self.body.get("rich_media") or {}).get("Buttons", []))

    @property
    def action_bodies(self) -> list[str]:
        """ActionBody of every reply button, keyboard and rich media."""
        buttons = self.keyboard + self.rich_buttons
        return [b["ActionBody"] for b in buttons if b.get("ActionType") == "reply"]

    @property
    def urls(self) -> list[str]:
        buttons = self.keyboard + self.rich_buttons
        return [b["ActionBody"] for b in buttons if b.get("ActionType") == "open-url"]


@dataclass(frozen=True)
class Posted:
    """The bot's answer to a callback we posted."""

    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


# --- Viber's limits, as the fake enforces them ---------------------------------------------------


def _grid_problem(buttons: list[Any], rows_per_group: int | None = None) -> str | None:
    """Buttons must fill 6-column rows exactly (Columns 1..6, Rows 1..2)."""
    used = 0
    for button in buttons:
        if not isinstance(button, dict):
            return "button is not an object"
        columns, rows = button.get("Columns", 6), button.get("Rows", 1)
        if not (isinstance(columns, int) and 1 <= columns <= GRID_COLUMNS):
            return f"Columns {columns!r} out of 1..6"
        if not (isinstance(rows, int) and 1 <= rows <= (rows_per_group or 2)):
            return f"Rows {rows!r} out of range"
        if button.get("ActionType", "reply") not in ACTION_TYPES:
            return f"unknown ActionType {button.get('ActionType')!r}"
        if not isinstance(button.get("ActionBody"), str) or not button["ActionBody"]:
            return "ActionBody missing"
        if used + columns > GRID_COLUMNS:
            return "buttons overflow a 6-column row"
        used = (used + columns) % GRID_COLUMNS
    return None


def _keyboard_problem(keyboard: Any) -> str | None:
    if not isinstance(keyboard, dict) or keyboard.get("Type") != "keyboard":
        return "keyboard.Type must be 'keyboard'"
    buttons = keyboard.get("Buttons")
    if not isinstance(buttons, list) or not buttons:
        return "keyboard.Buttons missing"
    if len(buttons) > KEYBOARD_LIMIT:
        return f"keyboard has {len(buttons)} buttons (max {KEYBOARD_LIMIT})"
    return _grid_problem(buttons)


def _rich_media_problem(rich: Any) -> str | None:
    if not isinstance(rich, dict) or rich.get("Type") != "rich_media":
        return "rich_media.Type must be 'rich_media'"
    columns, rows = rich.get("ButtonsGroupColumns", 6), rich.get("ButtonsGroupRows", 7)
    if not (isinstance(columns, int) and 1 <= columns <= 6 and isinstance(rows, int) and 1 <= rows <= 7):
        return "ButtonsGroupColumns/ButtonsGroupRows out of range"
    buttons = rich.get("Buttons")
    if not isinstance(buttons, list) or not buttons or len(buttons) > 6 * columns * rows:
        return "rich_media.Buttons missing or too many"
    return _grid_problem(buttons, rows)


def message_problem(body: dict[str, Any]) -> str | None:
    """Why Viber would refuse this message, or None."""
    sender = body.get("sender")
    if not isinstance(sender, dict) or not isinstance(sender.get("name"), str) or len(sender["name"]) > 28:
        return "sender.name missing or longer than 28 characters"
    kind = body.get("type")
    if kind == "text":
        text = body.get("text")
        if not isinstance(text, str) or not text.strip() or len(text) > TEXT_LIMIT:
            return "text missing or longer than 7000 characters"
    elif kind == "picture":
        media = body.get("media")
        if not isinstance(media, str) or not media.startswith(("http://", "https://")):
            return "picture.media must be a URL"
        if not media.split("?")[0].lower().endswith(IMAGE_SUFFIXES):
            return "picture.media must end with .png, .jpg or .gif"
        if len(str(body.get("text", ""))) > 768:
            return "picture.text longer than 768 characters"
    elif kind == "rich_media":
        problem = _rich_media_problem(body.get("rich_media"))
        if problem:
            return problem
    else:
        return f"unsupported message type {kind!r}"
    if "keyboard" in body:
        return _keyboard_problem(body["keyboard"])
    return None


# --- the fake server ---------------------------------------------------------------------------


class FakeViberAPI:
    """Use as ``async with fake_viber() as api`` (or start()/stop())."""

    def __init__(self, token: str = TOKEN, clock: Callable[[], datetime] | None = None) -> None:
        self.token = token
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))
        self.base_url = ""
        self.calls: list[Call] = []
        self.sent: list[SentMessage] = []
        self.refused: list[tuple[dict[str, Any], str]] = []  # messages answered with badData, and why
        self.webhook: dict[str, Any] = {}  # the registered set_webhook request
        self.unsubscribed: set[str] = set()
        self._failures: list[list[int]] = []  # [status, remaining count]
        self._tokens = itertools.count(5_000_000_000_000_000_001)
        self._waiters: list[asyncio.Future[None]] = []
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            "set_webhook": self._set_webhook,
            "send_message": self._send_message,
            "broadcast_message": self._broadcast_message,
            "get_account_info": self._get_account_info,
        }

    # life cycle

    async def start(self) -> str:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self.base_url

    async def stop(self) -> None:
        if self._http is not None:
            http, self._http = self._http, None
            await http.close()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeViberAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # behaviour switches

    def mark_unsubscribed(self, user_id: str) -> None:
        """From now on messages to ``user_id`` are answered with status 6 (receiverNotSubscribed)."""
        self.unsubscribed.add(user_id)

    def fail_next(self, status: int, count: int = 1) -> None:
        """The next ``count`` send_message calls are answered with ``status`` (e.g. 12, rate control)."""
        self._failures.append([status, count])

    # inspection

    def calls_of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    def sent_to(self, receiver: str) -> list[SentMessage]:
        return [message for message in self.sent if message.receiver == receiver]

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Wait until ``predicate()`` is truthy (checked after every call); returns its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (result := predicate()):
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = [f"{call.method} {call.status}" for call in self.calls[-10:]]
                raise AssertionError(f"condition not met within {timeout} s; last calls: {recent}")
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            with suppress(TimeoutError):
                await asyncio.wait_for(waiter, remaining)
        return result

    # callbacks, as Viber sends them

    def _stamp(self) -> dict[str, Any]:
        return {"timestamp": int(self.clock().timestamp() * 1000), "message_token": next(self._tokens)}

    @staticmethod
    def user(user_id: str, language: str = "en") -> dict[str, Any]:
        return {
            "id": user_id,
            "name": "Test Resident",
            "avatar": "https://avatar.example/1.jpg",
            "language": language,
            "country": "UA",
            "api_version": 10,
        }

    def event_conversation_started(
        self, user_id: str, language: str = "en", subscribed: bool = False
    ) -> dict[str, Any]:
        return {
            "event": "conversation_started",
            **self._stamp(),
            "type": "open",
            "context": "",
            "user": self.user(user_id, language),
            "subscribed": subscribed,
        }

    def event_subscribed(self, user_id: str, language: str = "en") -> dict[str, Any]:
        return {"event": "subscribed", **self._stamp(), "user": self.user(user_id, language)}

    def event_unsubscribed(self, user_id: str) -> dict[str, Any]:
        return {"event": "unsubscribed", **self._stamp(), "user_id": user_id}

    def event_message(self, user_id: str, message: dict[str, Any], language: str = "en") -> dict[str, Any]:
        return {
            "event": "message",
            **self._stamp(),
            "sender": self.user(user_id, language),
            "message": message,
        }

    def event_text(self, user_id: str, text: str, language: str = "en") -> dict[str, Any]:
        return self.event_message(user_id, {"type": "text", "text": text}, language)

    def event_delivery(self, kind: str, user_id: str) -> dict[str, Any]:
        """``delivered``, ``seen`` or ``failed`` for one of the bot's messages."""
        event = {"event": kind, **self._stamp(), "user_id": user_id}
        if kind == "failed":
            event["desc"] = "failure description"
        return event

    async def post_event(self, url: str, payload: dict[str, Any], token: str | None = None) -> Posted:
        """POST a callback with a correct signature (keyed with ``token``, default the fake's)."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        return await self.post_raw(url, body, sign(token or self.token, body))

    async def post_raw(self, url: str, body: bytes, signature: str | None) -> Posted:
        """POST any body with the given signature header (None: without the header)."""
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Viber-Content-Signature"] = signature
        async with self.http.post(url, data=body, headers=headers) as response:
            return Posted(response.status, await response.read())

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError("FakeViberAPI is not started")
        return self._http

    # the HTTP side

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self._answer(method, {}, {"status": 3, "status_message": "badData"})
        if request.headers.get("X-Viber-Auth-Token") != self.token:
            return self._answer(method, body, {"status": 2, "status_message": "invalidAuthToken"})
        handler = self._methods.get(method)
        if handler is None:
            self._record(method, body, 404)
            return web.json_response({"status": 404, "status_message": "not found"}, status=404)
        result = handler(body)
        if asyncio.iscoroutine(result):
            result = await result
        return self._answer(method, body, result)

    def _answer(self, method: str, body: dict[str, Any], answer: dict[str, Any]) -> web.Response:
        self._record(method, body, int(answer.get("status", 0)))
        return web.json_response(answer)

    def _record(self, method: str, body: dict[str, Any], status: int) -> None:
        self.calls.append(Call(method, body, time.monotonic(), status))
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    @staticmethod
    def _status(status: int, **extra: Any) -> dict[str, Any]:
        return {"status": status, "status_message": STATUS_MESSAGES.get(status, "error"), **extra}

    # methods

    async def _set_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        url = body.get("url")
        if not isinstance(url, str):
            return self._status(4)
        if not url:
            self.webhook = {}
            return self._status(0)
        check = {"event": "webhook", **self._stamp(), "chat_hostname": "SN-CHAT-01_"}
        try:
            answer = await self.post_event(url, check)
        except (aiohttp.ClientError, TimeoutError) as error:
            return {"status": 1, "status_message": f"invalidUrl: {type(error).__name__}"}
        if answer.status != 200:
            return {"status": 1, "status_message": f"invalidUrl: webhook answered {answer.status}"}
        self.webhook = dict(body)
        return self._status(0, event_types=body.get("event_types") or [])

    def _take_failure(self) -> int | None:
        if not self._failures:
            return None
        failure = self._failures[0]
        failure[1] -= 1
        if failure[1] <= 0:
            self._failures.pop(0)
        return failure[0]

    def _send_message(self, body: dict[str, Any]) -> dict[str, Any]:
        receiver = body.get("receiver")
        if not isinstance(receiver, str) or not receiver:
            return self._status(4)
        if receiver in self.unsubscribed:
            return self._status(6)
        injected = self._take_failure()
        if injected is not None:
            return self._status(injected)
        problem = message_problem(body)
        if problem is not None:
            self.refused.append((body, problem))
            return {"status": 3, "status_message": f"badData: {problem}"}
        self.sent.append(SentMessage(receiver, body))
        return self._status(0, message_token=next(self._tokens), chat_hostname="SN-CHAT-01_")

    def _broadcast_message(self, body: dict[str, Any]) -> dict[str, Any]:
        receivers = body.get("broadcast_list")
        if not isinstance(receivers, list) or not receivers or len(receivers) > BROADCAST_LIMIT:
            return {"status": 3, "status_message": f"badData: broadcast_list needs 1..{BROADCAST_LIMIT}"}
        problem = message_problem(body)
        if problem is not None:
            self.refused.append((body, problem))
            return {"status": 3, "status_message": f"badData: {problem}"}
        failed = []
        for receiver in receivers:
            if receiver in self.unsubscribed:
                failed.append({"receiver": receiver, "status": 6, "status_message": "Not subscribed"})
            else:
                self.sent.append(SentMessage(str(receiver), {**body, "receiver": receiver}))
        return self._status(0, message_token=next(self._tokens), failed_list=failed)

    def _get_account_info(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._status(
            0,
            id=ACCOUNT_ID,
            name=ACCOUNT_NAME,
            uri="utilibot-test",
            icon="https://avatar.example/bot.jpg",
            category="Utilities",
            subcategory="Utilities",
            country="UA",
            webhook=self.webhook.get("url", ""),
            event_types=self.webhook.get("event_types", []),
            subscribers_count=0,
            members=[],
        )


async def post_event(url: str, token: str, payload: dict[str, Any]) -> Posted:
    """POST a callback signed with ``token`` to the bot's webhook (a one-off client session)."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    return await post_raw(url, body, sign(token, body))


async def post_raw(url: str, body: bytes, signature: str | None) -> Posted:
    """POST any body with the given signature header (None: without it), e.g. forged callbacks."""
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Viber-Content-Signature"] = signature
    timeout = aiohttp.ClientTimeout(total=10)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.post(url, data=body, headers=headers) as r,
    ):
        return Posted(r.status, await r.read())


@asynccontextmanager
async def fake_viber(
    token: str = TOKEN, clock: Callable[[], datetime] | None = None
) -> AsyncIterator[FakeViberAPI]:
    """Start a fake Viber API server for the duration of the block."""
    api = FakeViberAPI(token, clock)
    await api.start()
    try:
        yield api
    finally:
        await api.stop()
