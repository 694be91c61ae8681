"""The delivery loop's settings (windows, intervals, retries, quiet hours) and its clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from domain.config import Config
from domain.quiet_hours import DEFAULT_QUIET_HOURS, QuietHours, quiet_hours_from_config
from scheduler.sending import SenderLimits

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def in_flight_window(rate: int) -> int:
    """Rows a Telegram-like lane (one receiver per call) keeps in hand: a quarter second of sending."""
    return max(10, rate // 4)


@dataclass(frozen=True)
class DeliverySettings:
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Kyiv"))
    quiet_hours: QuietHours | None = DEFAULT_QUIET_HOURS
    window: int | None = None  # rows in hand per lane; None: from the sender's rate
    per_chat_interval: float = 1.0
    poll_interval: float = 1.0  # how often an idle lane looks for due rows
    flush_interval: float = 0.1  # results are recorded this often
    max_attempts: int = 5
    backoff_base: float = 1.0  # seconds; doubled per attempt
    backoff_cap: float = 60.0
    progress_interval: float = 3.0
    role_retry: float = 5.0
    shutdown_grace: float = 12.0  # for requests in flight when stopping
    # No sends for this long after taking the role (None: one rate window): requests a crashed
    # predecessor made in its last second are unknown to our limiter.
    startup_pause: float | None = None
    freeze_gc: bool = True  # see scheduler.delivery.loop._freeze_long_lived_objects

    @classmethod
    def from_config(cls, config: Config, **overrides: Any) -> DeliverySettings:
        settings = cls(zone=config.bot_zone, quiet_hours=quiet_hours_from_config(config))
        return replace(settings, **overrides)

    def backoff(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.backoff_cap, self.backoff_base * 2 ** max(attempts - 1, 0)))

    def lane_window(self, limits: SenderLimits) -> int:
        if self.window is not None:
            return self.window
        if limits.max_receivers == 1:
            return in_flight_window(int(limits.rate / limits.window))
        return 2 * limits.max_receivers
