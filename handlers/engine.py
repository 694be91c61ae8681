"""The conversation engine: one update at a time per chat, state in the database, one commit per update."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from domain.config import Config
from domain.i18n import resolve_locale, translator
from domain.masking import LOG_SCOPE, LogScope, mask_id
from domain.metrics import UPDATE_DURATION, UPDATES
from handlers import (
    accounts,
    balance,
    help,
    menu,
    operator,
    payments,
    readings,
    request_operators,
    requests,
    settings,
    start,
)
from handlers.commands import COMMANDS, may_use
from handlers.context import Context
from handlers.conversation import ExpiredConversation
from handlers.routing import Router
from handlers.types import Incoming, Reply
from storage.database import Database

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

MAX_CONCURRENT = 5  # updates handled at once; SQLAlchemy's default pool holds 5 connections


def build_router() -> Router:
    """Every feature's routes; every command of the registry (handlers.commands) must have one."""
    router = Router()
    for feature in (start, menu, accounts, balance, payments, readings, requests, settings, help, operator):
        router.include(feature.router)
    unrouted = [command.name for command in COMMANDS if command.name not in router.commands]
    if unrouted:
        raise ValueError(f"commands declared without a handler: {unrouted}")
    return router


class _ChatLocks:
    """In-process per-chat locks; the database row lock covers other processes."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: tuple[str, str]) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


def _drawn(reply: Reply, incoming: Incoming) -> Reply:
    """The reply with its deferred image drawn; without the image (logged) if drawing fails."""
    try:
        return reply.drawn()
    except Exception:
        log.exception("drawing an image for %s chat %s failed", incoming.channel, mask_id(incoming.chat_id))
        reply.draw = None
        return reply


class Engine:
    """Turns an Incoming into Replies; the channel sends them after the transaction committed."""

    def __init__(
        self, config: Config, db: Database, clock: Clock | None = None, max_concurrent: int = MAX_CONCURRENT
    ) -> None:
        self.config = config
        self.db = db
        self.clock: Clock = clock or (lambda: datetime.now(UTC))
        self.router = build_router()
        self._locks = _ChatLocks()
        # Admission in arrival order, no more at once than the database pool serves well: the
        # pool's own wait is not fair, and under load a few residents would starve the rest.
        self._admission = asyncio.Semaphore(max_concurrent)

    async def handle(
        self, incoming: Incoming, inbox_id: int | None = None, keep_replies: bool = True
    ) -> list[Reply]:
        """Handle one update; with ``inbox_id`` an update already handled is skipped (returns []).

        With ``inbox_id`` (and ``keep_replies``) the replies are recorded in the update's inbox row
        in the same transaction as the state, so that a crash before they are sent does not lose
        them: the channel marks them sent (InboxWorker.replies_sent) and a restart sends the rest.
        """
        LOG_SCOPE.set(LogScope(incoming.channel, str(inbox_id) if inbox_id is not None else "-"))
        async with self._locks.hold((incoming.channel, incoming.chat_id)):
            async with self._admission:
                # The transaction runs in its own task: if the caller is cancelled (e.g. at
                # shutdown) it still commits or rolls back, instead of leaving its connection (and
                # SQLite's write lock) open until the garbage collector finds it.
                work = asyncio.create_task(self._handle_safely(incoming, inbox_id, keep_replies))
                try:
                    replies = await asyncio.shield(work)
                except asyncio.CancelledError:
                    await asyncio.wait({work})
                    raise
            # Images are drawn after the commit, out of the admission slot: CPU, not database.
            return [_drawn(reply, incoming) for reply in replies]

    async def _handle_safely(
        self, incoming: Incoming, inbox_id: int | None, keep_replies: bool
    ) -> list[Reply]:
        started = time.perf_counter()
        try:
            replies = await self._handle_locked(incoming, inbox_id, keep_replies)
        except Exception:
            log.exception("update from %s chat %s failed", incoming.channel, mask_id(incoming.chat_id))
            UPDATES.labels(channel=incoming.channel, outcome="error").inc()
            return await self._apologise(incoming, inbox_id)
        UPDATES.labels(channel=incoming.channel, outcome="ok").inc()
        UPDATE_DURATION.labels(channel=incoming.channel).observe(time.perf_counter() - started)
        return replies

    async def _handle_locked(
        self, incoming: Incoming, inbox_id: int | None, keep_replies: bool
    ) -> list[Reply]:
        now = self.clock()
        async with self.db.unit_of_work() as uow:
            if inbox_id is not None and not await uow.inbox.claim(inbox_id, now):
                return []
            chat, _ = await uow.chats.get_or_create(incoming.channel, incoming.chat_id, incoming.user_id)
            if chat.locale is None:
                chat.locale = resolve_locale(
                    incoming.language, self.config.bot.locales, self.config.bot.default_locale
                )
            if not chat.active:
                chat.active = True  # they wrote to us, so we may write to them again
            ctx = Context(incoming, chat, uow, self.config, now, translator(chat.locale))
            replies = await self._answer(ctx)
            if inbox_id is not None and keep_replies:
                await uow.inbox.record_replies(inbox_id, [reply.to_record() for reply in replies])
            await uow.commit()
            return replies

    async def _answer(self, ctx: Context) -> list[Reply]:
        """The replies to the update; a stored state that no longer parses leads back to the menu."""
        try:
            return await self._route(ctx)
        except ExpiredConversation as expired:
            channel, chat = ctx.incoming.channel, mask_id(ctx.incoming.chat_id)
            log.info("%s chat %s: %s; back to the menu", channel, chat, expired)
            ctx.clear_state()
            return [menu.menu_reply(ctx, ctx._("That conversation has expired; here is the main menu."))]

    async def _route(self, ctx: Context) -> list[Reply]:
        incoming = ctx.incoming
        if request_operators.in_operators_group(ctx):
            return await request_operators.group_update(ctx)
        if incoming.kind == "action":
            prefix = incoming.action.split(":", 1)[0]
            handler = self.router.actions.get(prefix)
            if handler is not None:
                return await handler(ctx)
            return await menu.not_understood(ctx)
        text = incoming.text.strip() if incoming.kind == "text" else ""
        if text.startswith("/") and len(text) <= 64:
            name = text.split()[0].split("@")[0].lower()
            handler = self.router.commands.get(name)
            if handler is not None:
                if not may_use(name, ctx.is_operator):
                    return await menu.not_understood(ctx)  # to them the command does not exist
                return await handler(ctx)
        step = self.router.steps.get(ctx.state)
        if step is not None:
            return await step(ctx)
        if ctx.state:
            raise ExpiredConversation(ctx.state, "no such step")
        return await menu.not_understood(ctx)

    async def _apologise(self, incoming: Incoming, inbox_id: int | None) -> list[Reply]:
        """A localized apology after a failure; the update is marked failed so it is not retried forever."""
        locale = self.config.bot.default_locale
        try:
            async with self.db.unit_of_work() as uow:
                if inbox_id is not None:
                    await uow.inbox.mark_failed(inbox_id, self.clock())
                chat = await uow.chats.get_for_update(incoming.channel, incoming.chat_id)
                if chat is not None and chat.locale:
                    locale = chat.locale
                await uow.commit()
        except Exception:
            log.exception("could not record the failure of an update")
        tr = translator(locale)
        return [Reply(tr._("Sorry, something went wrong on our side. Please try again in a minute."))]
