"""Viber's callbacks read: which user and language a callback is about, whether it may be stored
(``refusal``), and a ``message`` callback as the Incoming the engine handles.

Events the bot acts on (``message``, ``subscribed``, ``unsubscribed``, ``conversation_started``)
must carry a ``message_token``, a millisecond ``timestamp`` and the user's id (400 otherwise); one
more than 24 hours old is refused as stale (403): Viber retries a callback for about an hour and
handled inbox rows are kept 7 days, so a captured, validly signed body replayed later is either a
stored duplicate or stale. A button press is a text behind the ``act:`` marker (see
bot.channels.viber.rendering).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from bot.channels.viber.rendering import ACTION_MARKER
from handlers.types import Incoming

CHANNEL = "viber"
HANDLED_EVENTS = frozenset({"message", "subscribed", "unsubscribed", "conversation_started"})
MAX_USER_ID = 64  # chats.chat_key
MAX_TOKEN_LENGTH = 96  # inbox.update_key
STALE_CALLBACK = timedelta(hours=24)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _get(raw: Any, *path: str) -> Any:
    for key in path:
        raw = raw.get(key) if isinstance(raw, dict) else None
    return raw


def callback_user(raw: dict[str, Any]) -> str:
    """The user (= chat) a callback is about, '' when it names none."""
    event = raw.get("event")
    if event == "message":
        value = _get(raw, "sender", "id")
    elif event in ("subscribed", "conversation_started"):
        value = _get(raw, "user", "id")
    else:
        value = raw.get("user_id")
    return value if isinstance(value, str) else ""


def callback_language(raw: dict[str, Any]) -> str | None:
    value = (
        _get(raw, "sender", "language") if raw.get("event") == "message" else _get(raw, "user", "language")
    )
    return value if isinstance(value, str) else None


def message_token(raw: dict[str, Any]) -> str | None:
    token = raw.get("message_token")
    if _is_int(token) or (isinstance(token, str) and token.isdigit()):
        text = str(token)
        return text if len(text) <= MAX_TOKEN_LENGTH else None
    return None


def parse_body(body: bytes) -> dict[str, Any] | None:
    """The callback as a JSON object with a string ``event``, else None (strict UTF-8)."""
    try:
        raw = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; nesting too deep
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("event"), str):
        return None
    return raw


def refusal(raw: dict[str, Any], now: datetime) -> tuple[int, str] | None:
    """Why an acted-on callback cannot be stored, as (HTTP status, reason); None when it can."""
    if message_token(raw) is None:
        return 400, "message_token missing or not an integer"
    timestamp = raw.get("timestamp")
    if not _is_int(timestamp):
        return 400, "timestamp missing or not an integer"
    user = callback_user(raw)
    if not user or len(user) > MAX_USER_ID:
        return 400, "user id missing or too long"
    if raw.get("event") == "message" and not isinstance(raw.get("message"), dict):
        return 400, "message missing"
    if now.timestamp() * 1000 - timestamp > STALE_CALLBACK.total_seconds() * 1000:
        return 403, "stale callback"
    return None


def to_incoming(raw: dict[str, Any]) -> Incoming | None:
    """A ``message`` callback as what the resident did; None for other callbacks."""
    if raw.get("event") != "message":
        return None
    user = callback_user(raw)
    if not user:
        return None
    common: dict[str, Any] = {
        "channel": CHANNEL,
        "chat_id": user,
        "user_id": user,
        "language": callback_language(raw),
    }
    message = raw.get("message")
    text = _get(message, "text")
    if _get(message, "type") == "text" and isinstance(text, str):
        if text.startswith(ACTION_MARKER):
            return Incoming(**common, kind="action", action=text.removeprefix(ACTION_MARKER))
        return Incoming(**common, kind="text", text=text)
    picture = _get(message, "media")
    if _get(message, "type") == "picture" and isinstance(picture, str) and picture:
        return Incoming(**common, kind="media", text=text if isinstance(text, str) else "", media=(picture,))
    return Incoming(**common, kind="media")  # sticker, location, contact, file, video, url, ...
