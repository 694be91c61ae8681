"""The audit trail's vocabulary: what operators and the security rules record, and how an actor
is named (an operator's login or messenger id; a resident's chat only masked)."""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    """Every action that goes to the audit log (``utilibot audit`` prints them)."""

    BROADCAST_QUEUED = "broadcast_queued"
    BROADCAST_CANCELLED = "broadcast_cancelled"
    BINDING_REVOKED = "binding_revoked"
    REQUEST_TAKEN = "request_taken"
    REQUEST_ANSWERED = "request_answered"
    REQUEST_CLOSED = "request_closed"
    ACCOUNT_PAUSED = "account_paused"
    BINDING_DISOWNED = "binding_disowned"
    FAILURE_SPRAY = "failure_spray"
    IMPORT_RUN = "import_run"
    OPERATOR_CHANGED = "operator_changed"
    CONSOLE_LOGIN = "console_login"
