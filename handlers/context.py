"""Per-update context handed to every flow: the chat row, its state, the unit of work, translations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from domain.config import Config
from domain.i18n import Translator, translator
from handlers.conversation import ExpiredConversation, FlowState
from handlers.types import Incoming
from storage.models import Account, Chat
from storage.unit_of_work import UnitOfWork

S = TypeVar("S", bound=FlowState)


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

    def load(self, flow: type[S]) -> S | None:
        """The chat's state in ``flow``; None when it is not in that flow.

        Raises ExpiredConversation when the stored state is this flow's but no longer parses.
        """
        return flow.parse(self.state, self.chat.state_data)

    def require(self, flow: type[S]) -> S:
        """The state of a chat the engine routed to one of ``flow``'s steps (ExpiredConversation if none)."""
        state = self.load(flow)
        if state is None:
            raise ExpiredConversation(self.state, f"not a state of {flow.__name__}")
        return state

    def save(self, state: FlowState) -> None:
        # a new dict each time, so the JSON column is marked dirty
        self.chat.state, self.chat.state_data = state.stored()

    def clear_state(self) -> None:
        self.chat.state, self.chat.state_data = "", {}

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
