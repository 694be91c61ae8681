"""The delivery loop: drains the outbox through the channels at their exact rate limits.

One loop per deployment holds the *delivery role* (an exclusive lock: a lock file next to the
SQLite database, a PostgreSQL advisory lock held by one connection). The operating system or the
database server releases it the moment its process dies, so a restarted loop knows that every
row still marked ``sending`` belongs to nobody and puts it back to ``pending`` at once; no lease
has to expire. Another process asking for the role stands by and takes over when it is free
(``utilibot run`` next to a CLI broadcast, or a second worker). With one loop the global rate is
exact by construction; claims still use ``FOR UPDATE SKIP LOCKED`` so that even two loops (e.g.
during a hand-over) could never claim the same row.

Per channel a *lane* keeps a small number of rows in hand: it claims a batch (one transaction:
due rows by priority, then id → ``sending``) when at most half of its window is left, sends them
through the channel's rate limiter, and records the results every 100 ms in one transaction.
Crash safety: the only rows that can be sent twice are those sent but not yet recorded when the
process died; they are among the rows in hand, at most ``window`` = max(10, rate / 4) rows (10 at
30 msg/s, 250 at 1000 msg/s), in practice the ~100 ms of results not yet recorded plus the
requests in flight. Nobody pending is ever skipped: a row leaves ``pending`` only in the claim
transaction, and leaves ``sending`` only with its result, or back to ``pending``.

Outcomes: sent; 429 → the whole sender pauses ``retry_after`` seconds and the message is sent
again afterwards; 5xx / network → back to pending with exponential backoff, failed after
``max_attempts``; blocked / chat not found → the chat is marked inactive and the row failed,
never retried. Emergency broadcasts are claimed before common ones, common ones before
reminders; during quiet hours only emergency rows are claimed.

Operators' progress: every few seconds the loop posts (then edits) a progress message in the
operator's chat that queued the broadcast, through the same rate limiter, and a final report
when it is finished.

The modules, one concern each: ``settings`` (DeliverySettings, the clock), ``role`` (the delivery
role), ``claimer`` (claiming rows with their texts), ``lanes`` (one channel's pacing and sending),
``recorder`` (writing the results), ``progress`` (operators' progress reports) and ``loop`` (the
DeliveryLoop that composes them, and build_delivery).
"""

from scheduler.delivery.loop import DeliveryLoop, build_delivery
from scheduler.delivery.role import delivery_role
from scheduler.delivery.settings import Clock, DeliverySettings, in_flight_window, utc_now

__all__ = [
    "Clock",
    "DeliveryLoop",
    "DeliverySettings",
    "build_delivery",
    "delivery_role",
    "in_flight_window",
    "utc_now",
]
