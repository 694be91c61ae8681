"""The aiohttp server both webhook channels (Telegram in webhook mode, Viber) run until stopped."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.channels.inbox_worker import SHUTDOWN_GRACE


def split_listen(listen: str) -> tuple[str, int]:
    """'host:port' (IPv6 in brackets; an empty host is every interface) as (host, port)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)


async def serve_until(
    app: web.Application,
    listen: str,
    stop: asyncio.Event,
    listening: Callable[[str, int], Awaitable[None]],
) -> None:
    """Serve ``app`` on ``listen``; once listening, await ``listening(host, port)``, then serve
    until ``stop`` is set. Requests in progress get the inbox's shutdown grace to finish."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
    await runner.setup()
    host, port = split_listen(listen)
    try:
        await web.TCPSite(runner, host, port).start()
        await listening(host, port)
        await stop.wait()
    finally:
        await runner.cleanup()
