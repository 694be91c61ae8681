"""The routing table: features register commands, button actions and conversation steps here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from handlers.commands import declared
from handlers.context import Context
from handlers.types import Reply

Handler = Callable[[Context], Awaitable[list[Reply]]]


@dataclass
class Router:
    """``commands`` by name ('/start'), ``actions`` by prefix before ':' ('acc'), ``steps`` by state."""

    commands: dict[str, Handler] = field(default_factory=dict)
    actions: dict[str, Handler] = field(default_factory=dict)
    steps: dict[str, Handler] = field(default_factory=dict)

    def command(self, *names: str) -> Callable[[Handler], Handler]:
        """Route the commands ``names``; each must be declared in handlers.commands."""
        for name in names:
            declared(name)

        def register(handler: Handler) -> Handler:
            for name in names:
                self.commands[name] = handler
            return handler

        return register

    def action(self, *names: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for name in names:
                self.actions[name] = handler
            return handler

        return register

    def step(self, *states: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            for state in states:
                self.steps[state] = handler
            return handler

        return register

    def include(self, other: Router) -> None:
        for mine, theirs in (
            (self.commands, other.commands),
            (self.actions, other.actions),
            (self.steps, other.steps),
        ):
            clash = set(mine) & set(theirs)
            if clash:
                raise ValueError(f"routes registered twice: {sorted(clash)}")
            mine.update(theirs)


MAX_ID_DIGITS = 9  # database ids fit in a 32-bit integer; anything longer is not one of ours


def parse_id(text: str) -> int | None:
    """A database id from a button's argument: ASCII digits only ('²' and '①' are digits to
    str.isdigit but not to int), short enough for the id column; None otherwise."""
    if text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS:
        return int(text)
    return None


def action_argument(ctx: Context) -> str:
    """'acc:use:42' → 'use:42' (what follows the action's prefix)."""
    _, _, rest = ctx.incoming.action.partition(":")
    return rest
