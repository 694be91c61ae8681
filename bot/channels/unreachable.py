"""A chat the messenger says is gone (blocked, deactivated, unsubscribed, not found) is marked
inactive, so nothing is sent to it until the resident writes again (the engine reactivates it)."""

from __future__ import annotations

import logging

from domain.masking import mask_id
from storage.database import Database

log = logging.getLogger(__name__)


async def mark_unreachable(db: Database, channel: str, chat_key: str, reason: str) -> None:
    """Mark the chat inactive; a database failure is logged, never raised into the reply path."""
    log.info("%s: chat %s cannot be messaged (%s); marked inactive", channel, mask_id(chat_key), reason)
    try:
        async with db.unit_of_work() as uow:
            await uow.chats.set_active(channel, chat_key, False)
            await uow.commit()
    except Exception:
        log.exception("%s: could not mark chat %s inactive", channel, mask_id(chat_key))
