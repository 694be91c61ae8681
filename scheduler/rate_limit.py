"""Send-rate limits that hold as the messenger's server counts them, and per-chat spacing.

The guarantee: the server never sees more than ``limit`` requests in any closed time window of
``window`` seconds, however the network delays or bunches them.

Why a plain token bucket is not enough: with a burst of R tokens, R requests at the end of one
second and R more at the start of the next make 2R inside one second. Spacing requests 1/R apart
on our side is not enough either: a request delayed on the way arrives next to the following one.

The rule used here: a request may start only while fewer than ``limit`` requests are in flight or
finished less than ``window`` seconds ago. The server handles a request somewhere between the
moment we start it and the moment its response arrives. Take any window [t, t + W] and the
requests the server handled in it; the last of them to start, at s, started no later than t + W,
and every other one finished at or after t >= s - W, so at s it was in flight or finished within
the last W seconds: fewer than ``limit`` of them, so at most ``limit`` in the window. The cost is
a rate of limit / (W + latency) instead of limit / W: 0.3 % at 3 ms round trips.

On top of that, a small token bucket (a few tens of milliseconds of burst) spaces the starts out
evenly, so the messenger sees a smooth stream rather than one burst per second; the window rule
alone keeps the hard limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Callable

EPSILON = 1e-6


class RateLimiter:
    """``await acquire()`` before a request, ``release()`` when its response (or error) arrived."""

    def __init__(
        self,
        limit: int,
        window: float = 1.0,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self._interval = window / limit
        # At least 2: with room for a single token, every late timer wake-up would be lost for good.
        self._burst = float(burst if burst is not None else max(2, limit // 50))
        self._clock = clock
        self._tokens = self._burst
        self._stamp = clock()
        self._in_flight = 0
        self._finished: deque[float] = deque()
        self._paused_until = 0.0
        self._changed = asyncio.Event()
        self._turn = asyncio.Lock()  # waiters are served in arrival order

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def paused_for(self) -> float:
        """Seconds left of a pause (0 when not paused)."""
        return max(self._paused_until - self._clock(), 0.0)

    def pause(self, seconds: float) -> None:
        """No request starts for ``seconds`` (e.g. Telegram's retry_after after a 429)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
        self._changed.set()

    async def acquire(self) -> None:
        """Wait for a slot; cancelling the wait takes nothing."""
        async with self._turn:
            while True:
                delay = self._delay(self._clock())
                if delay <= 0:
                    self._tokens -= 1
                    self._in_flight += 1
                    return
                await self._wait(delay)

    def release(self) -> None:
        """The request's response (or failure) arrived."""
        self._in_flight -= 1
        self._finished.append(self._clock())
        self._changed.set()

    def _delay(self, now: float) -> float:
        """0 when a request may start now, else how long to wait (inf: until a response arrives)."""
        if now < self._paused_until:
            return self._paused_until - now
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) / self._interval)
        self._stamp = now
        horizon = now - self.window
        while self._finished and self._finished[0] < horizon:
            self._finished.popleft()
        if self._in_flight + len(self._finished) >= self.limit:
            if not self._finished:
                return math.inf
            return self._finished[0] - horizon + EPSILON
        if self._tokens < 1:
            return (1 - self._tokens) * self._interval
        return 0.0

    async def _wait(self, delay: float) -> None:
        self._changed.clear()
        timeout = None if math.isinf(delay) else delay
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout)


class ChatSpacing:
    """At most one message per ``interval`` seconds to one chat (Telegram: about one per second)."""

    PRUNE_AT = 10_000

    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}

    def ready_in(self, chat_key: str) -> float:
        """Seconds until ``chat_key`` may get the next message (0 when it may now)."""
        last = self._last.get(chat_key)
        if last is None:
            return 0.0
        return max(last + self.interval - self._clock(), 0.0)

    def mark(self, chat_key: str) -> None:
        now = self._clock()
        self._last[chat_key] = now
        if len(self._last) > self.PRUNE_AT:
            horizon = now - self.interval
            self._last = {key: at for key, at in self._last.items() if at >= horizon}
