"""What one messenger API call came to: the one vocabulary both clients (Telegram, Viber) classify
their errors and statuses into, and what each class means for the delivery loop.

The reply paths (the channel adapters answering residents) and the delivery senders act on the
same classes: a chat that is gone is never written to again, rate limiting is waited out, and
anything else is logged (replies) or failed or retried (delivery).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from scheduler.sending import DeliveryResult, Outcome

ACCOUNT_PAUSE = 60.0  # seconds delivery pauses when the bot's token or account is refused


class Failure(Enum):
    RATE_LIMITED = "rate_limited"  # slow down: wait ``retry_after`` seconds, then the same call again
    CHAT_GONE = "chat_gone"  # blocked, deactivated, unsubscribed, not found: never write to it again
    REJECTED = "rejected"  # this message cannot be sent as it is
    TEMPORARY = "temporary"  # 5xx, network, timeout: the same call may work later
    ACCOUNT = "account"  # the bot's token or account is refused: nothing can be sent for now


_DELIVERY = {
    Failure.RATE_LIMITED: Outcome.RATE_LIMITED,
    Failure.CHAT_GONE: Outcome.BLOCKED,
    Failure.REJECTED: Outcome.FAILED,
    Failure.TEMPORARY: Outcome.RETRY,
    Failure.ACCOUNT: Outcome.RATE_LIMITED,  # not the message's fault: pause, do not fail everyone
}


@dataclass(frozen=True)
class CallResult:
    """``failure`` None: the call succeeded. ``detail`` is for logs (never holds the token)."""

    failure: Failure | None = None
    detail: str = ""
    retry_after: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failure is None

    def delivery(self) -> DeliveryResult:
        """What the result means for the delivery loop (scheduler.sending)."""
        if self.failure is None:
            return DeliveryResult(Outcome.SENT)
        pause = ACCOUNT_PAUSE if self.failure is Failure.ACCOUNT else self.retry_after
        return DeliveryResult(_DELIVERY[self.failure], self.detail, pause)
