"""Viber's webhook: the aiohttp server taking signed callbacks (and serving the images of picture
messages), the signature check, and the inbox that makes every callback handled once.

A callback is refused without side effects unless its ``X-Viber-Content-Signature`` is the hex
HMAC-SHA256 of the raw body keyed with the token (403), its body is at most 1 MiB (413) and valid
UTF-8 JSON of an object with an ``event`` (400); what an acted-on callback must carry besides is in
bot.channels.viber.callbacks. Anything else (``delivered``, ``seen``, ``failed``, ``webhook``,
unknown events) is answered 200 and not stored.

An acted-on callback is stored in the inbox under its ``message_token`` before the 200 goes out;
a token stored before (Viber retrying, a replay) is answered 200 and not handled again. Handling
then runs in the background (``dispatch``: one chain per chat). ``conversation_started`` is the
exception: Viber allows one welcome message before the user subscribes, only as the HTTP response,
so that callback is handled before answering (at most ``WELCOME_TIMEOUT`` seconds) and the
``welcome`` the channel makes of its Replies is the response body.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from bot.channels.inbox_worker import stored_payload
from bot.channels.viber.callbacks import (
    CHANNEL,
    HANDLED_EVENTS,
    callback_user,
    message_token,
    parse_body,
    refusal,
)
from bot.channels.viber.media import MediaStore
from bot.channels.web_server import serve_until
from domain.config import ViberConfig
from domain.masking import mask_id
from handlers.types import Reply
from storage.database import Database
from storage.models import InboxUpdate

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Viber-Content-Signature"
HEX_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
MAX_WEBHOOK_BODY = 1024 * 1024
WELCOME_TIMEOUT = 5.0  # seconds conversation_started may take before it is answered without a welcome


def signature(token: str, body: bytes) -> str:
    """X-Viber-Content-Signature: hex HMAC-SHA256 of the raw body keyed with the token."""
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def signature_matches(token: str, body: bytes, given: str | None) -> bool:
    """Constant-time check of the header against the body; anything but 64 hex digits is a mismatch."""
    if not given or not token or not HEX_SIGNATURE.fullmatch(given):
        return False
    return hmac.compare_digest(signature(token, body).encode(), given.lower().encode())


@dataclass(frozen=True)
class Job:
    """A stored callback waiting to be handled; ``respond`` receives a welcome's Replies."""

    inbox_id: int
    raw: dict[str, Any]
    respond: asyncio.Future[list[Reply]] | None = None

    @property
    def chat_key(self) -> str:
        return callback_user(self.raw)


def job_from_row(row: InboxUpdate) -> Job:
    return Job(row.id, stored_payload(row))


def no_welcome(job: Job) -> None:
    """A welcome that could not be produced is answered with nothing rather than left waiting."""
    if job.respond is not None and not job.respond.done():
        job.respond.set_result([])


def _empty() -> web.Response:
    return web.Response(status=200)


def _refuse(status: int, reason: str) -> web.Response:
    return web.json_response({"status": "refused", "reason": reason}, status=status)


class WebhookServer:
    """Serves the callbacks at the path of ``webhook_url`` and the images below it at ``media/``."""

    def __init__(
        self,
        settings: ViberConfig,
        db: Database,
        clock: Callable[[], datetime],
        media: MediaStore,
        dispatch: Callable[[list[Job]], object],
        welcome: Callable[[list[Reply]], dict[str, Any]],
    ) -> None:
        self._settings = settings
        self._db = db
        self._clock = clock
        self._media = media
        self._dispatch = dispatch
        self._welcome_body = welcome
        self.hook_path = urlsplit(settings.webhook_url).path or "/"
        self.media_prefix = settings.webhook_url.rstrip("/") + "/media/"

    async def serve(self, stop: asyncio.Event, listening: Callable[[], Awaitable[None]]) -> None:
        """Serve until ``stop``; ``listening()`` is awaited once the server accepts connections."""
        app = web.Application(client_max_size=MAX_WEBHOOK_BODY)
        app.router.add_post(self.hook_path, self._on_webhook)
        app.router.add_get(self.hook_path.rstrip("/") + "/media/{name}", self._on_media)

        async def started(host: str, port: int) -> None:
            log.info("viber: webhook listening on %s:%s%s", host, port, self.hook_path)
            await listening()

        await serve_until(app, self._settings.listen, stop, started)

    def image_url(self, png: bytes) -> str | None:
        """The URL a picture message carries for ``png``; None when the store cannot take it."""
        try:
            return f"{self.media_prefix}{self._media.put(png)}.png"
        except ValueError as error:
            log.warning("viber: image not sent: %s", error)
            return None

    async def _on_media(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        data = self._media.get(name.removesuffix(".png")) if name.endswith(".png") else None
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
        self._dispatch([job])
        return _empty()

    def _note(self, raw: dict[str, Any]) -> None:
        if raw["event"] == "failed":
            log.warning("viber: delivery to %s failed: %s", raw.get("user_id"), raw.get("desc"))
        else:
            log.debug("viber: %s callback acknowledged", raw["event"])

    async def _welcome(self, job: Job) -> web.Response:
        future: asyncio.Future[list[Reply]] = asyncio.get_running_loop().create_future()
        self._dispatch([replace(job, respond=future)])
        try:
            replies = await asyncio.wait_for(asyncio.shield(future), WELCOME_TIMEOUT)
        except TimeoutError:
            log.warning("viber: welcome for %s took too long; answered without it", mask_id(job.chat_key))
            return _empty()
        if not replies:
            return _empty()
        return web.json_response(self._welcome_body(replies))

    async def _store(self, raw: dict[str, Any], text: str) -> Job | None:
        """Store the callback; its job, or None when its message_token was stored before (dedupe)."""
        async with self._db.unit_of_work() as uow:
            inbox_id = await uow.inbox.store(CHANNEL, message_token(raw) or "", text, self._clock())
            await uow.commit()
        return None if inbox_id is None else Job(inbox_id, raw)
