"""Telegram channel: Bot API updates in (long polling or webhook), Replies out as native messages.

Every update is stored in the inbox before Telegram is told it arrived: in polling mode a whole
batch is stored in one transaction before the next getUpdates confirms it (offset = last + 1); in
webhook mode the HTTP 200 is sent only after the update was stored and handled. The inbox
deduplicates by update_id, and whatever was stored but not handled (a crash) is handled at the
next start, or by the periodic sweep.

Several processes (``utilibot run --role web`` behind a load balancer) may receive webhooks for one
bot. A retry of an update that another process stored is answered only once that update has been
handled there (or, when it has been pending too long, handled here): Telegram sends a chat's next
update after the previous one was acknowledged, so acknowledging only handled updates keeps a
chat's updates in order across processes. Polling is one process per bot (bot/roles.py); a 409
Conflict from getUpdates means another poller runs elsewhere, and the log says so.

Updates of one chat are handled strictly in order, one at a time; different chats run
concurrently. Replies are plain text (no parse_mode: names from the database are echoed back and
must never be read as markup), split at line ends when longer than Telegram allows.

Only this module knows aiogram; handlers/ sees Incoming and returns Reply.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiogram import Bot
from aiogram.exceptions import AiogramError, TelegramConflictError
from aiogram.methods import GetUpdates
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from aiohttp import web
from pydantic import ValidationError

from bot.channels.api_result import Failure
from bot.channels.inbox_worker import STALE_AFTER, InboxWorker, stored_payload
from bot.channels.telegram_client import call_waiting_out_429, chat_id, make_bot
from bot.channels.text import split_text
from bot.channels.text import utf16_length as telegram_length
from bot.channels.unreachable import mark_unreachable
from bot.channels.web_server import serve_until
from bot.roles import telegram_bot_id
from domain.config import Config
from domain.i18n import translator
from domain.masking import mask_id
from domain.waiting import pause
from handlers.commands import listed
from handlers.engine import Engine
from handlers.types import Incoming, Reply
from storage.database import Database
from storage.models import InboxUpdate

log = logging.getLogger(__name__)

T = TypeVar("T")

CHANNEL = "telegram"
ALLOWED_UPDATES = ["message", "callback_query"]
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

MESSAGE_LIMIT = 4096  # UTF-16 code units, as Telegram counts them
CAPTION_LIMIT = 1024
REQUEST_TIMEOUT = 30.0  # seconds for every Bot API call; getUpdates adds the long-poll time
MAX_WEBHOOK_BODY = 1024 * 1024
MAX_SEND_RETRIES = 3  # after a 429, per API call
MAX_BACKOFF = 30.0
MAX_BUSY_CHATS = 256  # polling pauses while this many chats still have updates in hand
RETRY_WAIT = 25.0  # seconds a retried webhook update waits for its first delivery to be handled
RETRY_POLL = (0.02, 0.25)  # first and longest interval between looks at that update's status


# --- the command menu -------------------------------------------------------------------------


def command_menu(locale: str, operator: bool = False) -> list[BotCommand]:
    """The bot's command menu in ``locale``, from the registry (handlers.commands): the residents'
    commands, and for an operator theirs after them."""
    tr = translator(locale)
    return [BotCommand(command=c.bare, description=tr._(c.description)) for c in listed(operator)]


# --- rendering Replies --------------------------------------------------------------------------


def keyboard(reply: Reply) -> InlineKeyboardMarkup | None:
    """Button rows as callback buttons, then one row per URL button; None without any."""
    rows = [
        [InlineKeyboardButton(text=button.label, callback_data=button.action) for button in row]
        for row in reply.buttons
        if row
    ]
    rows += [[InlineKeyboardButton(text=link.label, url=link.url)] for link in reply.links]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


# --- reading updates ----------------------------------------------------------------------------


class _RawGetUpdates(GetUpdates):
    """getUpdates returning plain dicts: they are stored as received, and one update aiogram cannot
    parse must not make the whole batch fail (the poller would be stuck on it forever)."""

    __returning__ = list[dict[str, Any]]


@dataclass(frozen=True)
class _Job:
    """A stored update waiting to be handled."""

    inbox_id: int
    raw: dict[str, Any]

    @property
    def chat_key(self) -> str:
        """The chat the update belongs to ('' when it has none we know): updates are ordered per chat."""
        for path in (
            ("message", "chat", "id"),
            ("callback_query", "message", "chat", "id"),
            ("callback_query", "from", "id"),
        ):
            value: Any = self.raw
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if _is_int(value):
                return str(value)
        return ""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _update_body(body: bytes) -> dict[str, Any] | None:
    """The webhook body as an update: a JSON object with an integer update_id, else None."""
    try:
        raw = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; nesting too deep
        return None
    if not isinstance(raw, dict) or not _is_int(raw.get("update_id")):
        return None
    return raw


def _job_from_row(row: InboxUpdate) -> _Job:
    return _Job(row.id, stored_payload(row))


def to_incoming(update: Update, operators_chat: int = 0) -> Incoming | None:
    """What the resident did, or None for updates the bot ignores (other types, group chats other
    than the operators' group ``operators_chat``)."""
    if update.message is not None:
        return _message_incoming(update.message, operators_chat)
    if update.callback_query is not None:
        return _callback_incoming(update.callback_query, operators_chat)
    return None


def _in_scope(chat: Chat, operators_chat: int) -> bool:
    return chat.type == "private" or (bool(operators_chat) and chat.id == operators_chat)


def _replied_text(message: Message) -> str:
    """The text of the bot's own message this one replies to ('' when it replies to nothing of ours)."""
    replied = message.reply_to_message
    if replied is None or replied.from_user is None or not replied.from_user.is_bot:
        return ""
    return replied.text or replied.caption or ""


def _message_incoming(message: Message, operators_chat: int = 0) -> Incoming | None:
    if not _in_scope(message.chat, operators_chat):
        return None
    user = message.from_user
    common: dict[str, Any] = {
        "channel": CHANNEL,
        "chat_id": str(message.chat.id),
        "user_id": str(user.id) if user else "",
        "language": user.language_code if user else None,
        "reply_to": _replied_text(message),
        "user_name": user.full_name if user else "",
    }
    if message.text is not None:
        return Incoming(**common, kind="text", text=message.text)
    if message.photo:  # sizes, smallest first: the largest one is kept
        return Incoming(
            **common, kind="media", text=message.caption or "", media=(message.photo[-1].file_id,)
        )
    return Incoming(**common, kind="media")  # stickers, documents, voice, location, contact, ...


def _callback_incoming(query: CallbackQuery, operators_chat: int = 0) -> Incoming | None:
    chat = query.message.chat if query.message is not None else None
    if chat is not None and not _in_scope(chat, operators_chat):
        return None
    return Incoming(
        channel=CHANNEL,
        chat_id=str(chat.id if chat is not None else query.from_user.id),
        user_id=str(query.from_user.id),
        language=query.from_user.language_code,
        kind="action",
        action=query.data or "",
        user_name=query.from_user.full_name,
    )


async def _until_stopped(work: Coroutine[Any, Any, T], stop: asyncio.Event) -> tuple[bool, T | None]:
    """Run ``work`` unless ``stop`` is set first: (True, result) or (False, None), work cancelled."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stopper):
            if not pending.done():
                pending.cancel()
                with suppress(asyncio.CancelledError):
                    await pending
    if task.cancelled():
        return False, None
    return True, task.result()


# --- the channel --------------------------------------------------------------------------------


class TelegramChannel:
    """Receives updates (polling or webhook), hands them to the engine, sends the Replies back."""

    def __init__(self, config: Config, engine: Engine, db: Database) -> None:
        self._config = config
        self._settings = config.telegram
        self._engine = engine
        self._db = db
        self._clock: Callable[[], datetime] = engine.clock
        self._bot: Bot | None = None
        self._worker: InboxWorker[_Job] = InboxWorker(
            CHANNEL, db, self._clock, self._process, _job_from_row, resend=self.send
        )
        self.ready = asyncio.Event()  # set once recovery is done and updates are being received

    # life cycle

    async def start(self) -> None:
        """Connect to the Bot API, publish the command menu, and choose polling or the webhook."""
        self._bot = bot = make_bot(self._settings.token, self._settings.api_base_url, REQUEST_TIMEOUT)
        try:
            me = await bot.get_me()
            log.info("telegram: connected as @%s (%s mode)", me.username, self._settings.mode)
            await self._publish_commands(bot)
            if self._settings.mode == "webhook":
                await bot.set_webhook(
                    url=self._settings.webhook_url,
                    secret_token=self._settings.webhook_secret,
                    allowed_updates=ALLOWED_UPDATES,
                )
            else:
                await bot.delete_webhook(drop_pending_updates=False)
        except BaseException:
            await self.close()
            raise

    async def run(self, stop: asyncio.Event) -> None:
        """Handle what a crash left pending, then receive updates until ``stop`` is set."""
        try:
            receive = self._serve_webhook if self._settings.mode == "webhook" else self._poll
            await self._worker.serve(stop, receive)
        finally:
            await self.close()

    async def close(self) -> None:
        if self._bot is not None:
            bot, self._bot = self._bot, None
            await bot.session.close()

    async def drain(self) -> None:
        """Wait until every update received so far has been handled and answered."""
        await self._worker.drain()

    @property
    def bot(self) -> Bot:
        if self._bot is None:
            raise RuntimeError("TelegramChannel.start() has not been called (or the channel is closed)")
        return self._bot

    async def _publish_commands(self, bot: Bot) -> None:
        """The command menu in every language; operators' private chats get theirs added (a
        per-chat scope: Telegram shows the narrowest scope that has a menu)."""
        menus = [(locale, locale) for locale in self._config.bot.locales]
        menus.append((self._config.bot.default_locale, None))  # users of any other language
        scopes: list[BotCommandScopeChat | None] = [None]  # None: the default scope, everyone
        scopes += [BotCommandScopeChat(chat_id=user_id) for user_id in self._settings.operators]
        for scope in scopes:
            operator = scope is not None
            for locale, language_code in menus:
                try:
                    await bot.set_my_commands(
                        command_menu(locale, operator), scope=scope, language_code=language_code
                    )
                except AiogramError as error:
                    log.warning(
                        "telegram: could not set the %s command menu: %s", locale, self._describe(error)
                    )

    # receiving: polling

    async def _poll(self, stop: asyncio.Event) -> None:
        offset: int | None = None
        failures = 0
        self.ready.set()
        while not stop.is_set():
            request = self.bot(
                _RawGetUpdates(
                    offset=offset, timeout=self._settings.polling_timeout, allowed_updates=ALLOWED_UPDATES
                ),
                request_timeout=int(REQUEST_TIMEOUT + self._settings.polling_timeout),
            )
            try:
                received, updates = await _until_stopped(request, stop)
                if not received:
                    break
                jobs = await self._store(updates or [])
            except TelegramConflictError as error:
                failures += 1
                delay = min(2.0 ** (failures - 1), MAX_BACKOFF)
                self._conflict(error, delay, first=failures == 1)
                await pause(delay, stop)
                continue
            except Exception as error:  # the loop must outlive any failure
                failures += 1
                delay = min(2.0 ** (failures - 1), MAX_BACKOFF)
                log.warning(
                    "telegram: receiving updates failed (%s); retrying in %.0f s",
                    self._describe(error),
                    delay,
                    exc_info=not isinstance(error, AiogramError),
                )
                await pause(delay, stop)
                continue
            failures = 0
            ids = [raw["update_id"] for raw in updates or [] if _is_int(raw.get("update_id"))]
            if ids:
                offset = max(ids) + 1  # confirms the batch: it is stored
            self._worker.dispatch(jobs)
            await self._worker.wait_for_capacity(MAX_BUSY_CHATS, stop)

    def _conflict(self, error: TelegramConflictError, delay: float, first: bool) -> None:
        """409 Conflict from getUpdates: somebody else receives this bot's updates."""
        bot_id = telegram_bot_id(self._settings.token)
        if "webhook" in error.message.lower():
            cause = "a webhook is set for this bot (another deployment in webhook mode?)"
        else:
            cause = "another process is polling Telegram for this bot (on another machine or database)"
        log.log(
            logging.ERROR if first else logging.WARNING,
            "telegram: Telegram answered 409 Conflict to getUpdates for bot %s (%s): %s. Only one "
            "receiver per bot works; stop the other one, or run every process in webhook mode. "
            "Retrying in %.0f s",
            bot_id,
            self._describe(error),
            cause,
            delay,
        )

    # receiving: webhook

    async def _serve_webhook(self, stop: asyncio.Event) -> None:
        app = web.Application(client_max_size=MAX_WEBHOOK_BODY)
        app.router.add_post(urlsplit(self._settings.webhook_url).path or "/", self._on_webhook)
        await serve_until(app, self._settings.listen, stop, self._listening)

    async def _listening(self, host: str, port: int) -> None:
        log.info("telegram: webhook listening on %s:%s", host, port)
        self.ready.set()

    def _secret_matches(self, given: str | None) -> bool:
        expected = self._settings.webhook_secret
        return bool(given and expected) and hmac.compare_digest(given.encode(), expected.encode())

    async def _on_webhook(self, request: web.Request) -> web.Response:
        if not self._secret_matches(request.headers.get(SECRET_HEADER)):
            return web.json_response({"ok": False, "description": "Unauthorized"}, status=401)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return web.json_response({"ok": False, "description": "Request Entity Too Large"}, status=413)
        raw = _update_body(body)
        if raw is None:
            return web.json_response(
                {"ok": False, "description": "expected a JSON object with an integer update_id"}, status=400
            )
        try:
            jobs = await self._store([raw])
        except Exception:
            log.exception("telegram: could not store update %s", raw["update_id"])
            return web.json_response({"ok": False}, status=500)  # Telegram delivers it again
        if jobs:
            # Acknowledged only once handled; shielded so a dropped connection does not cut it short.
            await asyncio.shield(asyncio.gather(*self._worker.dispatch(jobs)))
        elif not await self._retry_handled(str(raw["update_id"])):
            # Still being handled elsewhere: Telegram will try again, and the chat's next update
            # waits for that, so the chat's updates stay in order.
            return web.json_response({"ok": False, "description": "still being handled"}, status=503)
        return web.json_response({})

    async def _retry_handled(self, update_key: str) -> bool:
        """A retry of a stored update: wait until it was handled (maybe by another process); an
        update pending longer than the inbox's stale limit (its process died) is handled here.
        False when it is still pending after ``RETRY_WAIT`` seconds."""
        deadline = time.monotonic() + RETRY_WAIT
        interval = RETRY_POLL[0]
        while True:
            async with self._db.unit_of_work() as uow:
                row = await uow.inbox.find(CHANNEL, update_key)
            if row is None or row.status != "pending":
                return True
            if row.received_at < self._clock() - STALE_AFTER:
                log.warning("telegram: update %s was left pending; handling it here", update_key)
                await asyncio.shield(asyncio.gather(*self._worker.dispatch([_job_from_row(row)])))
                return True
            if time.monotonic() + interval > deadline:
                return False
            await asyncio.sleep(interval)
            interval = min(interval * 2, RETRY_POLL[1])

    # storing and handling

    async def _store(self, updates: Iterable[dict[str, Any]]) -> list[_Job]:
        """Store the updates in one transaction; the jobs for those not stored before."""
        now = self._clock()
        jobs: list[_Job] = []
        async with self._db.unit_of_work() as uow:
            for raw in updates:
                update_id = raw.get("update_id")
                if not _is_int(update_id):
                    log.warning("telegram: update without an update_id ignored")
                    continue
                # ASCII escapes: a lone surrogate in a text ("\ud800") stays storable, so one odd
                # update can never keep a whole batch (and polling) from moving on.
                payload = json.dumps(raw, ensure_ascii=True, separators=(",", ":"))
                inbox_id = await uow.inbox.store(CHANNEL, str(update_id), payload, now)
                if inbox_id is not None:
                    jobs.append(_Job(inbox_id, raw))
            await uow.commit()
        return jobs

    async def _process(self, job: _Job) -> None:
        try:
            update = Update.model_validate(job.raw, context={"bot": self.bot})
        except ValidationError:
            log.warning("telegram: malformed update (inbox id %s) ignored", job.inbox_id)
            update = None
        incoming = to_incoming(update, self._settings.operators_chat_id) if update is not None else None
        if incoming is None:
            await self._worker.mark_handled(job.inbox_id)
            return
        if update is not None and update.callback_query is not None:
            await self._answer_callback(update.callback_query.id)
        replies = await self._engine.handle(incoming, job.inbox_id)
        if replies:
            await self.send(incoming.chat_id, replies)
            self._worker.replies_sent(job.inbox_id)

    async def _answer_callback(self, query_id: str) -> None:
        """Stop the button's spinner; an old or unknown query is no reason not to handle the press."""
        with suppress(AiogramError):
            await self.bot.answer_callback_query(callback_query_id=query_id)

    # crash recovery

    # sending

    async def send(self, chat_key: str, replies: list[Reply]) -> None:
        """Send the replies in order; stops early when the chat blocked the bot or no longer exists."""
        for reply in replies:
            if not await self._send_reply(chat_key, reply):
                return

    async def _send_reply(self, chat_key: str, reply: Reply) -> bool:
        markup = keyboard(reply)
        if reply.image is None:
            return await self._send_text(chat_key, reply.text, markup)
        if telegram_length(reply.text) <= CAPTION_LIMIT:
            return await self._send_photo(chat_key, reply, reply.text, markup)
        # Too long for a caption: the photo, then the text with the keyboard.
        return await self._send_photo(chat_key, reply, "", None) and await self._send_text(
            chat_key, reply.text, markup
        )

    async def _send_photo(
        self, chat_key: str, reply: Reply, caption: str, markup: InlineKeyboardMarkup | None
    ) -> bool:
        photo = BufferedInputFile(reply.image or b"", filename=reply.image_name or "image.png")
        request = partial(
            self.bot.send_photo,
            chat_id=chat_id(chat_key),
            photo=photo,
            caption=caption or None,
            parse_mode=None,
            reply_markup=markup,
        )
        return await self._deliver(chat_key, request)

    async def _send_text(self, chat_key: str, text: str, markup: InlineKeyboardMarkup | None) -> bool:
        """The text in as many messages as it takes; the keyboard goes with the last one."""
        chunks = split_text(text, MESSAGE_LIMIT)
        if not chunks:
            log.warning("telegram: empty message to chat %s not sent", mask_id(chat_key))
        for index, chunk in enumerate(chunks):
            request = partial(
                self.bot.send_message,
                chat_id=chat_id(chat_key),
                text=chunk,
                parse_mode=None,
                reply_markup=markup if index == len(chunks) - 1 else None,
            )
            if not await self._deliver(chat_key, request):
                return False
        return True

    async def _deliver(self, chat_key: str, request: Callable[[], Awaitable[object]]) -> bool:
        """Make one send call; False when the chat is gone (and now marked inactive)."""
        result = await call_waiting_out_429(request, MAX_SEND_RETRIES)
        if result.failure is Failure.CHAT_GONE:
            await mark_unreachable(self._db, CHANNEL, chat_key, result.detail)
            return False
        if result.failure is Failure.RATE_LIMITED:
            log.warning("telegram: chat %s still rate-limited; message dropped", mask_id(chat_key))
        elif result.failure is not None:
            detail = self._redact(result.detail)
            log.warning("telegram: sending to chat %s failed: %s", mask_id(chat_key), detail)
        return True

    def _describe(self, error: BaseException) -> str:
        """An error for the log, with the bot token (part of every API URL) blanked out."""
        return self._redact(f"{type(error).__name__}: {error}")

    def _redact(self, text: str) -> str:
        token = self._settings.token
        return text.replace(token, "<token>") if token else text
