"""The Viber channel: callbacks from the webhook handed to the engine, its Replies sent back.

The chat's ``active`` flag follows Viber: ``conversation_started`` answers ``/start`` (the welcome,
see bot.channels.viber.webhook) and the chat is active only if the user is already subscribed, so
a user who never subscribes is never messaged. ``subscribed`` and any message mark the chat
active; ``unsubscribed`` marks it inactive, and ``send`` never writes to an inactive chat. A send
Viber answers with "not registered" or "not subscribed" marks the chat inactive and stops there;
rate control is waited out by the client (bot.channels.viber.client); anything else is logged
with the chat id and reason, and the bot goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from bot.channels.api_result import Failure
from bot.channels.inbox_worker import InboxWorker
from bot.channels.unreachable import mark_unreachable
from bot.channels.viber.callbacks import CHANNEL, callback_language, to_incoming
from bot.channels.viber.client import ViberAPIError, ViberClient, describe, require_webhook_url
from bot.channels.viber.media import MediaStore
from bot.channels.viber.rendering import render, welcome_message
from bot.channels.viber.webhook import Job, WebhookServer, job_from_row, no_welcome
from bot.errors import StartupError
from domain.config import Config
from domain.i18n import resolve_locale
from domain.masking import mask_id
from handlers.engine import Engine
from handlers.types import Incoming, Reply
from storage.database import Database

log = logging.getLogger(__name__)


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
        self._client = ViberClient.from_settings(self._settings)
        self._worker: InboxWorker[Job] = InboxWorker(
            CHANNEL, db, self._clock, self._process, job_from_row, finished=no_welcome, resend=self.send
        )
        self.media = MediaStore()
        self._server = WebhookServer(
            self._settings, db, self._clock, self.media, self._worker.dispatch, self._welcome_body
        )
        self.ready = asyncio.Event()  # set once listening (and the webhook registered, when it could be)

    # life cycle

    async def start(self) -> None:
        """Open the API session and check the token (get_account_info)."""
        require_webhook_url(self._settings)
        await self._client.start()
        try:
            info = await self._client.call("get_account_info", {})
            if info.get("status") != 0:
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
        await self._client.close()

    async def drain(self) -> None:
        """Wait until every callback received so far has been handled and answered."""
        await self._worker.drain()

    async def set_webhook(self) -> dict[str, Any]:
        """Register webhook_url (the server must be listening: Viber calls it back at once)."""
        answer = await self._client.set_webhook(self._settings)
        if answer.get("status") != 0:
            raise ViberAPIError(f"set_webhook: {describe(answer)}")
        log.info("viber: webhook registered at %s", self._settings.webhook_url)
        return answer

    async def _serve(self, stop: asyncio.Event) -> None:
        await self._server.serve(stop, self._listening)

    async def _listening(self) -> None:
        try:
            await self.set_webhook()
        except ViberAPIError as error:
            log.error(
                "viber: could not register the webhook (%s); callbacks arrive only if an earlier "
                "registration is still in place. Fix it and run `utilibot viber set-webhook`.",
                error,
            )
        self.ready.set()

    def _welcome_body(self, replies: list[Reply]) -> dict[str, Any]:
        return {**self._client.envelope(), **welcome_message(replies, self._config.bot.locales)}

    # handling

    async def _process(self, job: Job) -> None:
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

    async def _on_message(self, job: Job) -> None:
        incoming = to_incoming(job.raw)
        if incoming is None:
            await self._worker.mark_handled(job.inbox_id)
            return
        replies = await self._engine.handle(incoming, job.inbox_id)  # also marks the chat active
        if replies:
            await self.send(incoming.chat_id, replies)
            self._worker.replies_sent(job.inbox_id)

    async def _on_conversation_started(self, job: Job) -> None:
        """``/start`` through the engine; the chat is active only if the user is already subscribed."""
        user = job.chat_key
        incoming = Incoming(CHANNEL, user, user, callback_language(job.raw), "text", "/start")
        # The welcome goes in the webhook's HTTP answer or not at all: nothing to send after a crash.
        replies = await self._engine.handle(incoming, job.inbox_id, keep_replies=False)
        if replies:
            async with self._db.unit_of_work() as uow:
                await uow.chats.set_active(CHANNEL, user, job.raw.get("subscribed") is True)
                await uow.commit()
        if job.respond is not None and not job.respond.done():
            job.respond.set_result(replies)  # outside the HTTP response (a recovery) it is not sent

    async def _on_subscription(self, job: Job, subscribed: bool) -> None:
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
        log.info("viber: %s %s", mask_id(user), "subscribed" if subscribed else "unsubscribed")

    # sending

    async def send(self, chat_key: str, replies: list[Reply]) -> None:
        """Send the replies in order; nothing to an inactive chat, and stop when it turns out to be one."""
        if not replies:
            return
        if not await self._may_message(chat_key):
            log.info("viber: chat %s is inactive (unsubscribed); nothing sent", mask_id(chat_key))
            return
        for message in render(replies, self._server.image_url):
            result = await self._client.send_paced(chat_key, message)
            if result.failure is Failure.CHAT_GONE:
                await mark_unreachable(self._db, CHANNEL, chat_key, result.detail)
                return
            if result.failure is not None:
                log.warning("viber: sending to chat %s failed: %s", mask_id(chat_key), result.detail)

    async def _may_message(self, chat_key: str) -> bool:
        async with self._db.unit_of_work() as uow:
            active = await uow.chats.is_active(CHANNEL, chat_key)
        return active is not False
