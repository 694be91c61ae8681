"""What the delivery loop needs from a messenger: the sender protocol and what a send reports.

The scheduler defines it; the channel adapters (bot/channels) implement it, and the composition
root (bot/app.py) hands the senders to the delivery loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class Outcome(Enum):
    SENT = "sent"
    RETRY = "retry"  # temporary (5xx, network): again later, up to max_attempts
    BLOCKED = "blocked"  # the chat is gone (blocked the bot, deactivated, not found): never again
    FAILED = "failed"  # this message cannot be delivered
    RATE_LIMITED = "rate_limited"  # pause the whole sender retry_after seconds, then send it again
    CANCELLED = "cancelled"  # its broadcast was cancelled before it went out


@dataclass(frozen=True)
class DeliveryResult:
    outcome: Outcome
    error: str = ""
    retry_after: float = 0.0


@dataclass(frozen=True)
class SenderLimits:
    """At most ``rate`` API calls in any ``window`` seconds, each to at most ``max_receivers``."""

    rate: int
    window: float = 1.0
    max_receivers: int = 1
    can_edit: bool = False  # whether post() can edit an earlier message (live progress)


class ChannelSender(Protocol):
    """What the delivery loop needs from a messenger (implemented in bot/channels)."""

    channel: str
    limits: SenderLimits

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def send(self, text: str, chat_keys: Sequence[str]) -> list[DeliveryResult]:
        """One API call delivering ``text`` to every chat (at most ``limits.max_receivers``);
        one result per chat, in order."""
        ...

    async def post(self, chat_key: str, text: str, message_id: str = "") -> tuple[DeliveryResult, str]:
        """An operator notice: a new message, or an edit of ``message_id`` where the channel can;
        returns the result and the message's id ('' when unknown)."""
        ...
