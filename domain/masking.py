"""Personal data and secrets out of logs: masked ids, redacted secrets, and the channel/update a
log line belongs to (a context variable the engine sets for each update)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass

# A Bot API path segment ("/bot123:AbC.../getMe"), and credentials inside any URL or DSN.
_BOT_PATH = re.compile(r"bot[0-9]{1,20}:[A-Za-z0-9_-]+")
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@", re.IGNORECASE)
_SENTRY_KEY = re.compile(r"(?P<head>https?://)[0-9a-f]{16,}@", re.IGNORECASE)


def mask_id(value: object) -> str:
    """A chat id or account number as it may appear in an INFO log: '12****89'."""
    text = str(value)
    if len(text) <= 4:
        return "*" * len(text)
    return f"{text[:2]}{'*' * (len(text) - 4)}{text[-2:]}"


class Redactor:
    """Removes the configured secrets (tokens, webhook secrets, DSNs, passwords) from a text, and
    anything shaped like a Bot API token path or a password inside a URL."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so that a secret containing another is removed whole.
        self._secrets = sorted({secret for secret in secrets if len(secret) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "***")
        text = _BOT_PATH.sub("bot***", text)
        text = _URL_PASSWORD.sub(r"\g<head>***@", text)
        return _SENTRY_KEY.sub(r"\g<head>***@", text)


@dataclass(frozen=True)
class LogScope:
    channel: str = "-"
    update: str = "-"


NO_SCOPE = LogScope()  # a line outside any update
LOG_SCOPE: ContextVar[LogScope] = ContextVar("utilibot_log_scope", default=NO_SCOPE)
