"""Waiting that a stop signal cuts short: the pause every long-running loop sleeps with."""

from __future__ import annotations

import asyncio


async def pause(seconds: float, stop: asyncio.Event) -> bool:
    """Sleep up to ``seconds``; True as soon as ``stop`` is set."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True
