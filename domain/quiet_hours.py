"""Quiet hours: the local wall-clock hours when common messages wait (``[bot] quiet_hours``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import time as clock_time
from zoneinfo import ZoneInfo

from domain.config import Config


@dataclass(frozen=True)
class QuietHours:
    """Local wall-clock hours when common messages wait; ``start`` > ``end`` wraps midnight."""

    start: clock_time
    end: clock_time

    def contains(self, moment: datetime, zone: ZoneInfo) -> bool:
        local = moment.astimezone(zone).time().replace(tzinfo=None)
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def describe(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


DEFAULT_QUIET_HOURS = QuietHours(clock_time(21, 0), clock_time(9, 0))


def quiet_hours_from_config(config: Config) -> QuietHours | None:
    """``[bot] quiet_hours`` in the bot's time zone; None when start == end (quiet hours off)."""
    configured = config.bot.quiet_hours
    hours = QuietHours(clock_time.fromisoformat(configured.start), clock_time.fromisoformat(configured.end))
    return None if hours.start == hours.end else hours
