"""Viber channel: signed webhook callbacks in, Replies out as native Viber messages over the REST API.

Receiving. An aiohttp server on ``viber.listen`` takes Viber's callbacks at the path of
``viber.webhook_url``. A callback is refused without side effects unless its
``X-Viber-Content-Signature`` is the hex HMAC-SHA256 of the raw body keyed with the token (403),
its body is at most 1 MiB (413) and valid UTF-8 JSON of an object with an ``event`` (400). Events
the bot acts on (``message``, ``subscribed``, ``unsubscribed``, ``conversation_started``) must also
carry a ``message_token``, a millisecond ``timestamp`` and the user's id (400 otherwise); one more
than 24 hours old is refused as stale (403): Viber retries a callback for about an hour, handled
inbox rows are kept 7 days, so a captured, validly signed body replayed later is either a stored
duplicate or stale. Anything else (``delivered``, ``seen``, ``failed``, ``webhook``, unknown
events) is answered 200 and not stored.

An acted-on callback is stored in the inbox under its ``message_token`` before the 200 goes out;
a token stored before (Viber retrying, a replay) is answered 200 and not handled again. Handling
then runs in a background task, one chain per chat so a chat's callbacks are handled strictly in
order; callbacks left pending by a crash are handled at the next start or by the periodic sweep.
``conversation_started`` is the exception: Viber allows one welcome message before the user
subscribes, only as the HTTP response, so that callback is handled (``/start`` through the
engine, in the chat's chain) before answering, and the welcome is rendered into the response with
the main menu and the language buttons. The chat's ``active`` flag then follows Viber's
``subscribed`` field: a user who never subscribes is never messaged. ``subscribed`` and any
message mark the chat active; ``unsubscribed`` marks it inactive, and ``send`` never writes to an
inactive chat.

Sending. JSON over aiohttp with a 10 s timeout (never the SDK's blocking ``requests`` calls), the
token only in the ``X-Viber-Auth-Token`` header and never logged. Viber answers HTTP 200 with a
status in the body: 0 ok; 5/6 (not registered / not subscribed) → chat inactive, nothing more is
sent to it; 12 (rate control) → every send of this channel pauses (exponential back-off, capped)
and the message is retried a few times; anything else is logged with the chat id and reason.

Rendering. Text up to 7,000 characters per message (longer text is cut at line ends). Buttons of
the last Reply of a batch become the Viber keyboard (``ActionType: reply``, ``Silent``, the action
in ``ActionBody`` behind the ``act:`` marker so a button press is never confused with typed text;
URL buttons ``open-url``), one grid row per Reply row, columns adding up to 6. Viber shows only the
latest message's keyboard, so buttons that would be lost there — those of an earlier Reply in the
batch, or a menu of more than 24 buttons — go into rich-media messages (cards of up to 7 rows of
6 columns, 6 cards per message) that stay clickable in the conversation, like Telegram's inline
keyboards. Images are ``picture`` messages whose URL is served by this webhook server (see
bot.channels.viber_media).

Only this module knows Viber's wire format; handlers/ sees Incoming and returns Reply.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from bot.channels.inbox_worker import SHUTDOWN_GRACE, InboxWorker
from bot.channels.text import split_text, utf16_length
from bot.channels.viber_media import MediaStore
from bot.errors import StartupError
from domain.config import Config, ConfigError, ViberConfig
from domain.i18n import resolve_locale
from handlers.engine import Engine
from handlers.start import LANGUAGE_NAMES
from handlers.types import Button, Incoming, Reply, UrlButton
from storage.database import Database
from storage.models import InboxUpdate

log = logging.getLogger(__name__)

CHANNEL = "viber"
SIGNATURE_HEADER = "X-Viber-Content-Signature"
AUTH_HEADER = "X-Viber-Auth-Token"
HEX_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
ACTION_MARKER = "act:"  # ActionBody of our reply buttons: marker + the engine's action

# Subscribed, unsubscribed and message callbacks cannot be switched off; these are the optional ones.
EVENT_TYPES = ["failed", "subscribed", "unsubscribed", "conversation_started"]
HANDLED_EVENTS = frozenset({"message", "subscribed", "unsubscribed", "conversation_started"})

MIN_API_VERSION = 7
MESSAGE_LIMIT = 7000
PICTURE_TEXT_LIMIT = 768
SENDER_NAME_LIMIT = 28
KEYBOARD_MAX_BUTTONS = 24
GRID_COLUMNS = 6
CARD_ROWS = 7  # rich media: rows per card
CARDS_PER_MESSAGE = 6
MAX_USER_ID = 64  # chats.chat_key
MAX_TOKEN_LENGTH = 96  # inbox.update_key

MAX_WEBHOOK_BODY = 1024 * 1024
STALE_CALLBACK = timedelta(hours=24)
WELCOME_TIMEOUT = 5.0  # seconds conversation_started may take before it is answered without a welcome
REQUEST_TIMEOUT = 10.0
SET_WEBHOOK_TIMEOUT = 30.0  # Viber calls the webhook back while set_webhook is in progress
STATUS_OK = 0
UNREACHABLE = frozenset({5, 6})  # receiver not registered / not subscribed
RATE_CONTROL = 12
MAX_SEND_RETRIES = 3
BACKOFF_BASE = 1.0
MAX_BACKOFF = 30.0

ACTION_BG = "#EDEBFC"  # light Viber purple for buttons shown inside the conversation

Message = dict[str, Any]  # a Viber message body without receiver, sender and min_api_version
ButtonRow = list[dict[str, Any]]  # Viber buttons whose Columns add up to 6


class ViberAPIError(RuntimeError):
    """Viber's API could not be reached or did not answer with JSON."""


# --- signatures and API calls -------------------------------------------------------------------


def signature(token: str, body: bytes) -> str:
    """X-Viber-Content-Signature: hex HMAC-SHA256 of the raw body keyed with the token."""
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(token: str, body: bytes, given: str | None) -> bool:
    """Constant-time check of the header against the body; anything but 64 hex digits is a mismatch."""
    if not given or not token or not HEX_SIGNATURE.fullmatch(given):
        return False
    return hmac.compare_digest(signature(token, body).encode(), given.lower().encode())


async def call_api(
    session: aiohttp.ClientSession,
    settings: ViberConfig,
    method: str,
    payload: dict[str, Any],
    timeout: float = REQUEST_TIMEOUT,
) -> dict[str, Any]:
    """POST one API call; the JSON answer (its ``status`` is for the caller to judge)."""
    url = f"{settings.api_base_url.rstrip('/')}/{method}"
    headers = {AUTH_HEADER: settings.token}
    limit = aiohttp.ClientTimeout(total=timeout)
    try:
        async with session.post(url, json=payload, headers=headers, timeout=limit) as response:
            if response.status != 200:
                raise ViberAPIError(f"{method}: HTTP {response.status}")
            answer = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as error:
        raise ViberAPIError(f"{method}: {type(error).__name__}: {error}") from None
    if not isinstance(answer, dict):
        raise ViberAPIError(f"{method}: unexpected answer {answer!r:.100}")
    return answer


def describe(answer: dict[str, Any]) -> str:
    return f"status {answer.get('status')} ({answer.get('status_message') or 'no message'})"


def webhook_request(settings: ViberConfig) -> dict[str, Any]:
    return {"url": settings.webhook_url, "event_types": EVENT_TYPES, "send_name": True, "send_photo": False}


def _require_webhook_url(settings: ViberConfig) -> None:
    if not settings.webhook_url:
        raise ConfigError(
            "viber.webhook_url: required for the Viber channel (the public https:// URL Viber posts "
            "callbacks to; the server listens on viber.listen at its path)"
        )


async def register_webhook(config: Config) -> dict[str, Any]:
    """Register ``viber.webhook_url`` with Viber; Viber's answer (status 0 = registered).

    Viber calls the URL back during the request, so the bot must already be running and reachable
    there. Raises ViberAPIError when the API cannot be reached, ConfigError without a webhook_url.
    """
    settings = config.viber
    _require_webhook_url(settings)
    async with aiohttp.ClientSession() as session:
        return await call_api(
            session, settings, "set_webhook", webhook_request(settings), SET_WEBHOOK_TIMEOUT
        )


# --- rendering Replies --------------------------------------------------------------------------


def column_widths(count: int) -> list[int]:
    """Widths of ``count`` (1..6) buttons filling one 6-column grid row: 3+3, 2+2+2, 2+2+1+1, ..."""
    base, extra = divmod(GRID_COLUMNS, count)
    return [base + 1 if index < extra else base for index in range(count)]


def _label(text: str) -> str:
    """Button text: Viber reads some HTML in it, so names from the database are escaped."""
    return html.escape(text, quote=False)


def _action_button(button: Button) -> dict[str, Any]:
    return {
        "ActionType": "reply",
        "ActionBody": ACTION_MARKER + button.action,
        "Text": _label(button.label),
        "Silent": True,  # the press is not shown as the resident's message (it is not their text)
    }


def _link_button(link: UrlButton) -> dict[str, Any]:
    return {"ActionType": "open-url", "ActionBody": link.url, "Text": _label(link.label)}


def _grid_row(buttons: list[dict[str, Any]]) -> ButtonRow:
    return [
        {"Columns": width, "Rows": 1, **button}
        for width, button in zip(column_widths(len(buttons)), buttons, strict=True)
    ]


def button_rows(buttons: list[list[Button]], links: Iterable[UrlButton] = ()) -> list[ButtonRow]:
    """Each Reply row as one grid row (rows over 6 buttons wrap), then one row per URL button."""
    rows: list[ButtonRow] = []
    for row in buttons:
        for start in range(0, len(row), GRID_COLUMNS):
            rows.append(_grid_row([_action_button(b) for b in row[start : start + GRID_COLUMNS]]))
    rows += [_grid_row([_link_button(link)]) for link in links]
    return rows


def button_count(rows: list[ButtonRow]) -> int:
    return sum(len(row) for row in rows)


def keyboard(rows: list[ButtonRow]) -> dict[str, Any]:
    buttons = [button for row in rows for button in row]
    return {"Type": "keyboard", "DefaultHeight": False, "InputFieldState": "regular", "Buttons": buttons}


def rich_media_messages(rows: list[ButtonRow]) -> list[Message]:
    """Buttons shown in the conversation: cards of up to 7 rows, up to 6 cards per message."""
    per_message = CARD_ROWS * CARDS_PER_MESSAGE
    messages = []
    for start in range(0, len(rows), per_message):
        chunk = rows[start : start + per_message]
        buttons = [{**button, "BgColor": ACTION_BG} for row in chunk for button in row]
        messages.append(
            {
                "type": "rich_media",
                "rich_media": {
                    "Type": "rich_media",
                    "ButtonsGroupColumns": GRID_COLUMNS,
                    "ButtonsGroupRows": min(CARD_ROWS, len(chunk)),
                    "BgColor": "#FFFFFF",
                    "Buttons": buttons,
                },
                "alt_text": " · ".join(html.unescape(button["Text"]) for button in buttons),
            }
        )
    return messages


def _reply_messages(reply: Reply, image_url: Callable[[bytes], str | None], last: bool) -> list[Message]:
    messages: list[Message] = []
    text = reply.text
    url = image_url(reply.image) if reply.image is not None else None
    if url is not None:
        caption = text if utf16_length(text) <= PICTURE_TEXT_LIMIT else ""
        messages.append({"type": "picture", "text": caption, "media": url})
        if caption:
            text = ""
    messages += [{"type": "text", "text": chunk} for chunk in split_text(text, MESSAGE_LIMIT)]
    rows = button_rows(reply.buttons, reply.links)
    if not rows:
        return messages
    if last and messages and button_count(rows) <= KEYBOARD_MAX_BUTTONS:
        messages[-1]["keyboard"] = keyboard(rows)
    else:
        messages += rich_media_messages(rows)
    return messages


def render(replies: list[Reply], image_url: Callable[[bytes], str | None]) -> list[Message]:
    """The Viber messages for a batch of Replies, in order (see the module notes on buttons)."""
    messages: list[Message] = []
    for index, reply in enumerate(replies):
        messages += _reply_messages(reply, image_url, last=index == len(replies) - 1)
    return messages


def language_buttons(locales: list[str]) -> list[list[Button]]:
    """The welcome's direct language choices, two per row (the engine's ``lang:<code>`` action)."""
    buttons = [Button(LANGUAGE_NAMES[code], f"lang:{code}") for code in locales]
    return [buttons[index : index + 2] for index in range(0, len(buttons), 2)]


def welcome_message(replies: list[Reply], locales: list[str]) -> Message:
    """One text message with a keyboard: all Viber allows before the user subscribes."""
    text = "\n\n".join(reply.text for reply in replies if reply.text.strip())
    chunks = split_text(text, MESSAGE_LIMIT)
    rows: list[ButtonRow] = []
    for reply in replies:
        rows += button_rows(reply.buttons, reply.links)
    rows += button_rows(language_buttons(locales))
    fitting: list[ButtonRow] = []
    for row in rows:
        if button_count(fitting) + len(row) > KEYBOARD_MAX_BUTTONS:
            break
        fitting.append(row)
    message: Message = {"type": "text", "text": chunks[0] if chunks else "…"}
    if fitting:
        message["keyboard"] = keyboard(fitting)
    return message


# --- reading callbacks --------------------------------------------------------------------------


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _get(raw: Any, *path: str) -> Any:
    for key in path:
        raw = raw.get(key) if isinstance(raw, dict) else None
    return raw


def callback_user(raw: dict[str, Any]) -> str:
    """The user (= chat) a callback is about, '' when it names none."""
    event = raw.get("event")
    if event == "message":
        value = _get(raw, "sender", "id")
    elif event in ("subscribed", "conversation_started"):
        value = _get(raw, "user", "id")
    else:
        value = raw.get("user_id")
    return value if isinstance(value, str) else ""


def callback_language(raw: dict[str, Any]) -> str | None:
    value = (
        _get(raw, "sender", "language") if raw.get("event") == "message" else _get(raw, "user", "language")
    )
    return value if isinstance(value, str) else None


def message_token(raw: dict[str, Any]) -> str | None:
    token = raw.get("message_token")
    if _is_int(token) or (isinstance(token, str) and token.isdigit()):
        text = str(token)
        return text if len(text) <= MAX_TOKEN_LENGTH else None
    return None


def parse_body(body: bytes) -> dict[str, Any] | None:
    """The callback as a JSON object with a string ``event``, else None (strict UTF-8)."""
    try:
        raw = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; nesting too deep
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("event"), str):
        return None
    return raw


def refusal(raw: dict[str, Any], now: datetime) -> tuple[int, str] | None:
    """Why an acted-on callback cannot be stored, as (HTTP status, reason); None when it can."""
    if message_token(raw) is None:
        return 400, "message_token missing or not an integer"
    timestamp = raw.get("timestamp")
    if not _is_int(timestamp):
        return 400, "timestamp missing or not an integer"
    user = callback_user(raw)
    if not user or len(user) > MAX_USER_ID:
        return 400, "user id missing or too long"
    if raw.get("event") == "message" and not isinstance(raw.get("message"), dict):
        return 400, "message missing"
    if now.timestamp() * 1000 - timestamp > STALE_CALLBACK.total_seconds() * 1000:
        return 403, "stale callback"
    return None


def to_incoming(raw: dict[str, Any]) -> Incoming | None:
    """A ``message`` callback as what the resident did; None for other callbacks."""
    if raw.get("event") != "message":
        return None
    user = callback_user(raw)
    if not user:
        return None
    common: dict[str, Any] = {
        "channel": CHANNEL,
        "chat_id": user,
        "user_id": user,
        "language": callback_language(raw),
    }
    message = raw.get("message")
    text = _get(message, "text")
    if _get(message, "type") == "text" and isinstance(text, str):
        if text.startswith(ACTION_MARKER):
            return Incoming(**common, kind="action", action=text.removeprefix(ACTION_MARKER))
        return Incoming(**common, kind="text", text=text)
    return Incoming(**common, kind="media")  # picture, sticker, location, contact, file, video, url, ...


@dataclass(frozen=True)
class _Job:
    """A stored callback waiting to be handled; ``respond`` receives a welcome's Replies."""

    inbox_id: int
    raw: dict[str, Any]
    respond: asyncio.Future[list[Reply]] | None = None

    @property
    def chat_key(self) -> str:
        return callback_user(self.raw)


def _no_welcome(job: _Job) -> None:
    """A welcome that could not be produced is answered with nothing rather than left waiting."""
    if job.respond is not None and not job.respond.done():
        job.respond.set_result([])


def _job_from_row(row: InboxUpdate) -> _Job:
    try:
        raw = json.loads(row.payload)
    except ValueError:
        raw = {}
    return _Job(row.id, raw if isinstance(raw, dict) else {})


def _split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


def _empty() -> web.Response:
    return web.Response(status=200)


def _refuse(status: int, reason: str) -> web.Response:
    return web.json_response({"status": "refused", "reason": reason}, status=status)


# --- the channel --------------------------------------------------------------------------------


class ViberChannel:
    """Serves the webhook (callbacks and images), hands callbacks to the engine, sends Replies."""

    def __init__(
        self, config: Config, engine: Engine, db: Database, clock: Callable[[], datetime] | None = None
    ) -> None:
        self._config = config
        self._settings = config.viber
        self._engine = engine
        self._db = db
        self._clock: Callable[[], datetime] = clock or engine.clock
        self._session: aiohttp.ClientSession | None = None
        self._worker: InboxWorker[_Job] = InboxWorker(
            CHANNEL, db, self._clock, self._process, _job_from_row, finished=_no_welcome
        )
        self._resume_at = 0.0  # loop time before which nothing is sent (rate control)
        self.media = MediaStore()
        self.ready = asyncio.Event()  # set once listening (and the webhook registered, when it could be)
        hook = urlsplit(self._settings.webhook_url)
        self._hook_path = hook.path or "/"
        self._media_prefix = self._settings.webhook_url.rstrip("/") + "/media/"
        self._media_path = self._hook_path.rstrip("/") + "/media/{name}"

    # life cycle

    async def start(self) -> None:
        """Open the API session and check the token (get_account_info)."""
        _require_webhook_url(self._settings)
        self._session = aiohttp.ClientSession()
        try:
            info = await self._call("get_account_info", {})
            if info.get("status") != STATUS_OK:
                raise ViberAPIError(f"get_account_info: {describe(info)}; check viber.token")
            log.info(
                "viber: connected as %r (%s subscribers)", info.get("name"), info.get("subscribers_count")
            )
        except ViberAPIError as error:
            await self.close()
            raise StartupError(f"viber: {error}") from None
        except BaseException:
            await self.close()
            raise

    async def run(self, stop: asyncio.Event) -> None:
        """Handle what a crash left pending, then serve the webhook until ``stop`` is set."""
        try:
            await self._worker.serve(stop, self._serve)
        finally:
            await self.close()

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def drain(self) -> None:
        """Wait until every callback received so far has been handled and answered."""
        await self._worker.drain()

    async def set_webhook(self) -> dict[str, Any]:
        """Register webhook_url (the server must be listening: Viber calls it back at once)."""
        answer = await self._call("set_webhook", webhook_request(self._settings), timeout=SET_WEBHOOK_TIMEOUT)
        if answer.get("status") != STATUS_OK:
            raise ViberAPIError(f"set_webhook: {describe(answer)}")
        log.info("viber: webhook registered at %s", self._settings.webhook_url)
        return answer

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("ViberChannel.start() has not been called (or the channel is closed)")
        return self._session

    async def _call(
        self, method: str, payload: dict[str, Any], timeout: float = REQUEST_TIMEOUT
    ) -> dict[str, Any]:
        return await call_api(self.session, self._settings, method, payload, timeout)

    # the server

    async def _serve(self, stop: asyncio.Event) -> None:
        app = web.Application(client_max_size=MAX_WEBHOOK_BODY)
        app.router.add_post(self._hook_path, self._on_webhook)
        app.router.add_get(self._media_path, self._on_media)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
        await runner.setup()
        host, port = _split_listen(self._settings.listen)
        try:
            await web.TCPSite(runner, host, port).start()
            log.info("viber: webhook listening on %s:%s%s", host, port, self._hook_path)
            await self._register_on_start()
            self.ready.set()
            await stop.wait()
        finally:
            await runner.cleanup()

    async def _register_on_start(self) -> None:
        try:
            await self.set_webhook()
        except ViberAPIError as error:
            log.error(
                "viber: could not register the webhook (%s); callbacks arrive only if an earlier "
                "registration is still in place. Fix it and run `utilibot viber set-webhook`.",
                error,
            )

    async def _on_media(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        data = self.media.get(name.removesuffix(".png")) if name.endswith(".png") else None
        if data is None:
            raise web.HTTPNotFound()
        headers = {"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"}
        return web.Response(body=data, content_type="image/png", headers=headers)

    async def _on_webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SIGNATURE_HEADER)
        if not given:
            return _refuse(403, "signature missing")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _refuse(413, "body too large")
        if not signature_matches(self._settings.token, body, given):
            return _refuse(403, "signature mismatch")
        raw = parse_body(body)
        if raw is None:
            return _refuse(400, "expected a UTF-8 JSON object with an event")
        event = raw["event"]
        if event not in HANDLED_EVENTS:
            self._note(raw)
            return _empty()
        problem = refusal(raw, self._clock())
        if problem is not None:
            log.warning("viber: %s callback refused: %s", event, problem[1])
            return _refuse(*problem)
        try:
            job = await self._store(raw, body.decode("utf-8"))
        except Exception:
            log.exception("viber: could not store a %s callback", event)
            return web.json_response({"status": "error"}, status=500)  # Viber delivers it again
        if job is None:
            return _empty()  # a retry or replay of a stored callback
        if event == "conversation_started":
            return await self._welcome(job)
        self._worker.dispatch([job])
        return _empty()

    def _note(self, raw: dict[str, Any]) -> None:
        if raw["event"] == "failed":
            log.warning("viber: delivery to %s failed: %s", raw.get("user_id"), raw.get("desc"))
        else:
            log.debug("viber: %s callback acknowledged", raw["event"])

    async def _welcome(self, job: _Job) -> web.Response:
        future: asyncio.Future[list[Reply]] = asyncio.get_running_loop().create_future()
        self._worker.dispatch([replace(job, respond=future)])
        try:
            replies = await asyncio.wait_for(asyncio.shield(future), WELCOME_TIMEOUT)
        except TimeoutError:
            log.warning("viber: welcome for %s took too long; answered without it", job.chat_key)
            return _empty()
        if not replies:
            return _empty()
        message = welcome_message(replies, self._config.bot.locales)
        return web.json_response({**self._envelope(), **message})

    def _envelope(self) -> dict[str, Any]:
        sender: dict[str, str] = {"name": self._settings.name[:SENDER_NAME_LIMIT]}
        if self._settings.avatar:
            sender["avatar"] = self._settings.avatar
        return {"sender": sender, "min_api_version": MIN_API_VERSION}

    # storing and handling

    async def _store(self, raw: dict[str, Any], text: str) -> _Job | None:
        """Store the callback; its job, or None when its message_token was stored before."""
        async with self._db.unit_of_work() as uow:
            inbox_id = await uow.inbox.store(CHANNEL, message_token(raw) or "", text, self._clock())
            await uow.commit()
        return None if inbox_id is None else _Job(inbox_id, raw)

    async def _process(self, job: _Job) -> None:
        event = job.raw.get("event")
        if not job.chat_key:
            await self._worker.mark_handled(job.inbox_id)
        elif event == "message":
            await self._on_message(job)
        elif event == "conversation_started":
            await self._on_conversation_started(job)
        elif event in ("subscribed", "unsubscribed"):
            await self._on_subscription(job, subscribed=event == "subscribed")
        else:
            await self._worker.mark_handled(job.inbox_id)

    async def _on_message(self, job: _Job) -> None:
        incoming = to_incoming(job.raw)
        if incoming is None:
            await self._worker.mark_handled(job.inbox_id)
            return
        replies = await self._engine.handle(incoming, job.inbox_id)  # also marks the chat active
        if replies:
            await self.send(incoming.chat_id, replies)

    async def _on_conversation_started(self, job: _Job) -> None:
        """``/start`` through the engine; the chat is active only if the user is already subscribed."""
        user = job.chat_key
        incoming = Incoming(CHANNEL, user, user, callback_language(job.raw), "text", "/start")
        replies = await self._engine.handle(incoming, job.inbox_id)
        if replies:
            await self._set_active(user, job.raw.get("subscribed") is True)
        if job.respond is not None and not job.respond.done():
            job.respond.set_result(replies)  # outside the HTTP response (a recovery) it is not sent

    async def _on_subscription(self, job: _Job, subscribed: bool) -> None:
        user = job.chat_key
        async with self._db.unit_of_work() as uow:
            if not await uow.inbox.claim(job.inbox_id, self._clock()):
                return
            if subscribed:
                chat, _ = await uow.chats.get_or_create(CHANNEL, user, user)
                if chat.locale is None:
                    bot = self._config.bot
                    chat.locale = resolve_locale(callback_language(job.raw), bot.locales, bot.default_locale)
                chat.active = True
            else:
                await uow.chats.set_active(CHANNEL, user, False)
            await uow.commit()
        log.info("viber: %s %s", user, "subscribed" if subscribed else "unsubscribed")

    async def _set_active(self, chat_key: str, active: bool) -> None:
        async with self._db.unit_of_work() as uow:
            await uow.chats.set_active(CHANNEL, chat_key, active)
            await uow.commit()

    # crash recovery

    # sending

    async def send(self, chat_key: str, replies: list[Reply]) -> None:
        """Send the replies in order; nothing to an inactive chat, and stop when it turns out to be one."""
        if not replies:
            return
        if not await self._may_message(chat_key):
            log.info("viber: chat %s is inactive (unsubscribed); nothing sent", chat_key)
            return
        for message in render(replies, self._image_url):
            if not await self._deliver(chat_key, message):
                return

    async def _may_message(self, chat_key: str) -> bool:
        async with self._db.unit_of_work() as uow:
            active = await uow.chats.is_active(CHANNEL, chat_key)
        return active is not False

    def _image_url(self, png: bytes) -> str | None:
        try:
            return f"{self._media_prefix}{self.media.put(png)}.png"
        except ValueError as error:
            log.warning("viber: image not sent: %s", error)
            return None

    async def _deliver(self, chat_key: str, message: Message) -> bool:
        """Send one message; False when the chat cannot be messaged (and is now marked inactive)."""
        payload = {"receiver": chat_key, **self._envelope(), **message}
        for attempt in range(MAX_SEND_RETRIES + 1):
            await self._wait_for_rate_control()
            try:
                answer = await self._call("send_message", payload)
            except ViberAPIError as error:
                log.warning("viber: sending to chat %s failed: %s", chat_key, error)
                return True
            status = answer.get("status")
            if status == STATUS_OK:
                return True
            if status in UNREACHABLE:
                await self._deactivate(chat_key, answer)
                return False
            if status == RATE_CONTROL and attempt < MAX_SEND_RETRIES:
                self._pause_sending(min(BACKOFF_BASE * 2**attempt, MAX_BACKOFF))
                continue
            log.warning("viber: sending to chat %s failed: %s", chat_key, describe(answer))
            return True
        return True

    def _pause_sending(self, seconds: float) -> None:
        log.info("viber: rate control; sending paused for %.1f s", seconds)
        self._resume_at = max(self._resume_at, asyncio.get_running_loop().time() + seconds)

    async def _wait_for_rate_control(self) -> None:
        loop = asyncio.get_running_loop()
        while (wait := self._resume_at - loop.time()) > 0:
            await asyncio.sleep(wait)

    async def _deactivate(self, chat_key: str, answer: dict[str, Any]) -> None:
        log.info("viber: chat %s cannot be messaged (%s); marked inactive", chat_key, describe(answer))
        try:
            await self._set_active(chat_key, False)
        except Exception:
            log.exception("viber: could not mark chat %s inactive", chat_key)
