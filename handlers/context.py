"""Per-update context handed to every flow: the chat row, its state, the unit of work, translations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.config import Config
from domain.i18n import Translator, translator
from handlers.types import Incoming
from storage.models import Account, Chat
from storage.unit_of_work import UnitOfWork


@dataclass
class Context:
    incoming: Incoming
    chat: Chat
    uow: UnitOfWork
    config: Config
    now: datetime
    tr: Translator

    def _(self, message: str, **values: object) -> str:
        return self.tr._(message, **values)

    @property
    def state(self) -> str:
        return self.chat.state or ""

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.chat.state_data or {})

    def set_state(self, state: str, **data: Any) -> None:
        self.chat.state = state
        self.chat.state_data = data  # a new dict, so the JSON column is marked dirty

    def clear_state(self) -> None:
        self.set_state("")

    def set_locale(self, locale: str) -> None:
        self.chat.locale = locale
        self.tr = translator(locale)

    @property
    def is_operator(self) -> bool:
        if self.incoming.channel == "telegram":
            return self.incoming.user_id in {str(uid) for uid in self.config.telegram.operators}
        if self.incoming.channel == "viber":
            return self.incoming.user_id in set(self.config.viber.operators)
        return False

    async def current_account(self) -> Account | None:
        """The chat's current account; falls back to its first bound account."""
        accounts = await self.uow.accounts.bound_to_chat(self.chat.id)
        for account in accounts:
            if account.id == self.chat.current_account_id:
                return account
        if accounts:
            self.chat.current_account_id = accounts[0].id
            return accounts[0]
        return None
