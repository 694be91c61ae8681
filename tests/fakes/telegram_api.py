"""A fake Telegram Bot API server (aiohttp on 127.0.0.1) for tests.

The real aiogram ``Bot`` talks to it over HTTP via ``telegram.api_base_url`` (aiogram calls
``{base}/bot{token}/{method}``). The fake records every call, serves long polling with
``offset``/``timeout`` semantics, answers like the real API (``{"ok": true, "result": ...}``
with proper Message objects) and can inject the real API's errors (429 with
``parameters.retry_after``, 403 blocked, 400 chat not found, 5xx)::

    async with FakeTelegramAPI() as api:
        config = ...api.base_url...
        api.push_message(42, "/start")
        messages = await api.wait_for_messages(42, 1)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

TOKEN = "123456:ABC-test"
BOT_ID = 123456
BOT_USERNAME = "utilibot_test_bot"

T = TypeVar("T")

# Form fields that are plain strings; any other field was JSON-encoded by the client (numbers,
# booleans, objects such as reply_markup) and is decoded.
_STRING_FIELDS = {
    "text",
    "caption",
    "url",
    "secret_token",
    "callback_query_id",
    "language_code",
    "parse_mode",
    "description",
    "short_description",
    "name",
    "inline_message_id",
    "emoji",
    "ip_address",
    "business_connection_id",
    "message_effect_id",
    "certificate",
}


@dataclass(frozen=True)
class Call:
    """One request the bot made: the method, its decoded parameters (file fields as bytes), when."""

    method: str
    params: dict[str, Any]
    time: float  # time.monotonic()
    status: int = 200


@dataclass(frozen=True)
class SentMessage:
    """A message the bot sent successfully (sendMessage / sendPhoto)."""

    method: str
    chat_id: int | str
    message_id: int
    text: str | None  # the text, or the photo's caption
    reply_markup: dict[str, Any] | None
    photo: bytes | None
    params: dict[str, Any]

    @property
    def buttons(self) -> list[list[dict[str, Any]]]:
        return list((self.reply_markup or {}).get("inline_keyboard", []))

    @property
    def callback_data(self) -> list[str]:
        """Every callback button's data, row by row."""
        return [b["callback_data"] for row in self.buttons for b in row if "callback_data" in b]

    @property
    def urls(self) -> list[str]:
        return [b["url"] for row in self.buttons for b in row if "url" in b]


@dataclass
class _Failure:
    method: str
    status: int
    description: str
    retry_after: int | None
    count: int
    chat_id: int | str | None

    def matches(self, method: str, params: dict[str, Any]) -> bool:
        if self.method.lower() != method.lower():
            return False
        return self.chat_id is None or str(params.get("chat_id")) == str(self.chat_id)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (for servers the code under test opens)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeTelegramAPI:
    """The fake server; use as ``async with FakeTelegramAPI() as api`` or call start()/stop()."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.base_url = ""
        self.calls: list[Call] = []
        self.sent: list[SentMessage] = []
        self.updates: list[dict[str, Any]] = []  # queued, not confirmed yet
        self.commands: dict[str | None, list[dict[str, Any]]] = {}  # by language_code (None: default)
        self.chat_commands: dict[tuple[Any, str | None], list[dict[str, Any]]] = {}  # (chat_id, language)
        self.webhook: dict[str, Any] = {}  # the last setWebhook's parameters ({} after deleteWebhook)
        self.confirmed_offset = 0  # every update_id below it was confirmed by getUpdates(offset=...)
        self._failures: list[_Failure] = []
        self._holds: dict[tuple[str, str], asyncio.Event] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._closing = False
        self._methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getme": self._get_me,
            "setmycommands": self._set_my_commands,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "editmessagetext": self._edit_message_text,
            "answercallbackquery": lambda params: True,
            "deletemessage": lambda params: True,
        }

    # life cycle

    async def start(self) -> str:
        """Listen on a free port of 127.0.0.1; returns the base URL for ``telegram.api_base_url``."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle)
        app.router.add_get("/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self.base_url

    async def stop(self) -> None:
        self._closing = True
        self._notify()  # long polls in progress return at once
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeTelegramAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # what the tests push (as Telegram would deliver it)

    def push_update(self, raw: dict[str, Any]) -> int:
        """Queue an update as is (an update_id is assigned when missing); returns its update_id."""
        raw = dict(raw)
        if "update_id" not in raw:
            raw["update_id"] = next(self._update_ids)
        elif isinstance(raw["update_id"], int):
            while next(self._update_ids) < raw["update_id"]:
                pass
        self.updates.append(raw)
        self._notify()
        return int(raw["update_id"]) if isinstance(raw["update_id"], int) else -1

    @staticmethod
    def user(user_id: int, language_code: str | None = "en") -> dict[str, Any]:
        user: dict[str, Any] = {
            "id": user_id,
            "is_bot": False,
            "first_name": "Test",
            "username": f"user{user_id}",
        }
        if language_code is not None:
            user["language_code"] = language_code
        return user

    def message(
        self, chat_id: int, language_code: str | None = "en", user_id: int | None = None, **content: Any
    ) -> dict[str, Any]:
        """A user's Message object in the private chat ``chat_id`` with ``content`` (text=..., photo=...)."""
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Test"},
            "from": self.user(user_id or chat_id, language_code),
            **content,
        }

    def push_message(
        self, chat_id: int, text: str, language_code: str | None = "en", user_id: int | None = None
    ) -> int:
        return self.push_update({"message": self.message(chat_id, language_code, user_id, text=text)})

    def push_callback(
        self,
        chat_id: int,
        data: str,
        language_code: str | None = "en",
        user_id: int | None = None,
        message_id: int | None = None,
    ) -> int:
        """A press on an inline button with callback ``data`` under one of the bot's messages."""
        bot_message = {
            "message_id": message_id or next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Test"},
            "from": self._bot_user(),
            "text": "…",
        }
        return self.push_update(
            {
                "callback_query": {
                    "id": f"cb{next(self._callback_ids)}",
                    "from": self.user(user_id or chat_id, language_code),
                    "chat_instance": f"ci{chat_id}",
                    "message": bot_message,
                    "data": data,
                }
            }
        )

    def push_sticker(self, chat_id: int, language_code: str | None = "en") -> int:
        sticker = {
            "file_id": "CAACAgIAAxk",
            "file_unique_id": "AgADsticker",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
        }
        return self.push_update({"message": self.message(chat_id, language_code, sticker=sticker)})

    def push_photo(self, chat_id: int, language_code: str | None = "en", caption: str | None = None) -> int:
        sizes = [
            {
                "file_id": f"AgACphoto{size}",
                "file_unique_id": f"AQADphoto{size}",
                "width": size,
                "height": size,
                "file_size": size * 40,
            }
            for size in (90, 320, 800)
        ]
        content: dict[str, Any] = {"photo": sizes}
        if caption is not None:
            content["caption"] = caption
        return self.push_update({"message": self.message(chat_id, language_code, **content)})

    # failure injection

    def fail_next(
        self,
        method: str,
        status: int,
        description: str,
        retry_after: int | None = None,
        count: int = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """The next ``count`` calls of ``method`` (to ``chat_id`` if given) fail like the real API, e.g.
        (429, "Too Many Requests: retry after 5", retry_after=5), (403, "Forbidden: bot was blocked by
        the user"), (400, "Bad Request: chat not found"), (502, "Bad Gateway")."""
        self._failures.append(_Failure(method, status, description, retry_after, count, chat_id))

    def hold(self, method: str, chat_id: int | str) -> asyncio.Event:
        """Calls of ``method`` to ``chat_id`` are recorded but not answered until the returned event
        is set (a request in flight when a process dies)."""
        release = asyncio.Event()
        self._holds[(method.lower(), str(chat_id))] = release
        return release

    # inspection and waiting

    def calls_of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method.lower() == method.lower()]

    def sent_to(self, chat_id: int | str) -> list[SentMessage]:
        return [message for message in self.sent if str(message.chat_id) == str(chat_id)]

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Wait until ``predicate()`` is truthy (checked after every call and push); returns its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = [f"{call.method} {call.status}" for call in self.calls[-10:]]
                raise AssertionError(f"condition not met within {timeout} s; last calls: {recent}")
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            with suppress(TimeoutError):
                await asyncio.wait_for(waiter, remaining)

    async def wait_for_messages(
        self, chat_id: int | str, count: int, timeout: float = 5.0
    ) -> list[SentMessage]:
        """All messages sent to ``chat_id``, once there are at least ``count`` of them."""
        return await self.wait_for(
            lambda: len(self.sent_to(chat_id)) >= count and self.sent_to(chat_id), timeout
        )

    async def wait_confirmed(self, update_id: int, timeout: float = 5.0) -> None:
        """Wait until the bot confirmed ``update_id`` (a later getUpdates with a higher offset)."""
        await self.wait_for(lambda: self.confirmed_offset > update_id, timeout)

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # the HTTP side

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            unauthorized = {"ok": False, "error_code": 401, "description": "Unauthorized"}
            return web.json_response(unauthorized, status=401)
        params = await _read_params(request)
        release = self._holds.get((method.lower(), str(params.get("chat_id"))))
        if release is not None and not release.is_set():
            self._record(method, params, 0)
            await release.wait()
            return web.json_response({"ok": False, "error_code": 502, "description": "held"}, status=502)
        failure = next((f for f in self._failures if f.matches(method, params)), None)
        if failure is not None:
            failure.count -= 1
            if failure.count <= 0:
                self._failures.remove(failure)
            self._record(method, params, failure.status)
            return web.json_response(failure.body(), status=failure.status)
        if method.lower() == "getupdates":
            self._record(method, params)
            return web.json_response({"ok": True, "result": await self._get_updates(params)})
        handler = self._methods.get(method.lower())
        if handler is None:
            self._record(method, params, 404)
            return web.json_response(
                {"ok": False, "error_code": 404, "description": "Not Found: method not found"}, status=404
            )
        result = handler(params)
        self._record(method, params)
        return web.json_response({"ok": True, "result": result})

    def _record(self, method: str, params: dict[str, Any], status: int = 200) -> None:
        self.calls.append(Call(method, params, time.monotonic(), status))
        self._notify()

    # methods

    def _bot_user(self) -> dict[str, Any]:
        return {"id": BOT_ID, "is_bot": True, "first_name": "Utilibot Test", "username": BOT_USERNAME}

    def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            **self._bot_user(),
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = list(params.get("commands", []))
        scope = params.get("scope") or {"type": "default"}
        if scope.get("type") == "chat":
            self.chat_commands[(scope.get("chat_id"), params.get("language_code"))] = commands
        else:
            self.commands[params.get("language_code")] = commands
        return True

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {}
        return True

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        self.webhook = dict(params)
        return True

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = params.get("offset")
        if isinstance(offset, int) and offset > self.confirmed_offset:
            self.confirmed_offset = offset
            self.updates = [u for u in self.updates if not _below(u, offset)]
            self._notify()
        limit = params.get("limit") or 100
        timeout = params.get("timeout") or 0
        with suppress(AssertionError):
            await self.wait_for(lambda: self.updates or self._closing, timeout=float(timeout))
        return self.updates[: int(limit)]

    def _new_message(self, chat_id: Any, **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private", "first_name": "Test"},
            "from": self._bot_user(),
            **{key: value for key, value in content.items() if value is not None},
        }

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._new_message(
            params.get("chat_id"), text=params.get("text", ""), reply_markup=params.get("reply_markup")
        )
        self._remember("sendMessage", message, params, params.get("text"), None)
        return message

    def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        photo = params.get("photo")
        sizes = [
            {
                "file_id": f"AgACsent{size}",
                "file_unique_id": f"AQADsent{size}",
                "width": size,
                "height": size,
                "file_size": len(photo) if isinstance(photo, bytes) else 1,
            }
            for size in (90, 320)
        ]
        message = self._new_message(
            params.get("chat_id"),
            photo=sizes,
            caption=params.get("caption"),
            reply_markup=params.get("reply_markup"),
        )
        self._remember(
            "sendPhoto", message, params, params.get("caption"), photo if isinstance(photo, bytes) else None
        )
        return message

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._new_message(
            params.get("chat_id"), text=params.get("text", ""), reply_markup=params.get("reply_markup")
        )
        message["message_id"] = params.get("message_id", message["message_id"])
        message["edit_date"] = int(time.time())
        return message

    def _remember(
        self,
        method: str,
        message: dict[str, Any],
        params: dict[str, Any],
        text: str | None,
        photo: bytes | None,
    ) -> None:
        self.sent.append(
            SentMessage(
                method,
                message["chat"]["id"],
                message["message_id"],
                text,
                params.get("reply_markup"),
                photo,
                params,
            )
        )


def _below(update: dict[str, Any], offset: int) -> bool:
    update_id = update.get("update_id")
    return isinstance(update_id, int) and update_id < offset


def _decode(key: str, value: str) -> Any:
    if key in _STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Parameters from a JSON body, a urlencoded form or multipart (files as bytes, attach:// resolved)."""
    if request.content_type == "application/json":
        body = await request.json()
        return dict(body) if isinstance(body, dict) else {}
    if not request.can_read_body and not request.query:
        return {}
    params: dict[str, Any] = {key: _decode(key, value) for key, value in request.query.items()}
    files: dict[str, bytes] = {}
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            files[key] = value.file.read()
        else:
            params[key] = _decode(key, str(value))
    attached = set()
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://") and value[9:] in files:
            attached.add(value[9:])
            params[key] = files[value[9:]]
    params.update({key: data for key, data in files.items() if key not in attached})
    return params


@asynccontextmanager
async def fake_telegram(token: str = TOKEN) -> AsyncIterator[FakeTelegramAPI]:
    """Start a fake Bot API server for the duration of the block (handy in pytest fixtures)."""
    api = FakeTelegramAPI(token=token)
    await api.start()
    try:
        yield api
    finally:
        await api.stop()
