"""The Prometheus metrics every floor counts into (prometheus-client's default registry, which
also carries the process metrics). Names and labels are part of the operators' contract: the
README's alert rules use them. Labels never hold personal data (no chat ids, no account numbers).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

UPDATES = Counter(
    "utilibot_updates", "Updates handled by the conversation engine", ["channel", "outcome"]
)  # outcome: ok | error (answered with an apology) | busy (shed before handling)
UPDATE_DURATION = Histogram(
    "utilibot_update_duration_seconds",
    "Time to handle one update, from its arrival at the engine to its replies",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DELIVERIES = Counter(
    "utilibot_deliveries", "Outbox messages by their delivery result", ["channel", "result"]
)  # result: sent | retried | failed | blocked
BINDINGS = Counter("utilibot_bindings", "Attempts to bind an account to a chat", ["result"])
READINGS = Counter("utilibot_readings", "Meter readings stored", ["provider"])
IMPORT_ROWS = Counter("utilibot_import_rows", "Billing CSV rows imported", ["kind", "result"])
JOB_LAST_SUCCESS = Gauge(
    "utilibot_scheduler_job_last_success_timestamp_seconds",
    "When each scheduler job last finished without an error (Unix time)",
    ["job"],
)
BUILD_INFO = Gauge("utilibot_build_info", "The running version (always 1)", ["version"])
OUTBOX_MESSAGES = Gauge(
    "utilibot_outbox_messages", "Outbox rows waiting or in flight, sampled at scrape", ["channel", "state"]
)
OUTBOX_OLDEST_PENDING = Gauge(
    "utilibot_outbox_oldest_pending_seconds",
    "Age of the oldest due, undelivered outbox row, sampled at scrape",
    ["channel"],
)
REQUESTS = Counter(
    "utilibot_requests", "Residents' requests entering a status, by kind", ["kind", "status"]
)  # status: new | taken | answered | closed
REQUEST_FIRST_ANSWER = Histogram(
    "utilibot_request_first_answer_seconds",
    "Time from a resident's request to the operators' first answer",
    ["kind"],
    buckets=(300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 259200),
)
