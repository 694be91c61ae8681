"""The command registry: every command the bot knows, declared once with its name, the msgid of
its description and who may use it.

Everything that shows or routes commands reads this table: ``Router.command`` refuses a name that
is not declared here (so a feature cannot add a command the menus do not know), the engine answers
an operator's command to anyone else exactly as it answers unknown input, ``/help`` lists the
listed commands the reader may use, and the Telegram channel publishes them as its command menu
(operators' commands only in the operators' chats). Viber has no command menu: its keyboards
carry the same actions as buttons. The handler of a command is bound where it is written, by the
feature's ``@router.command(name)``; ``tests/test_commands.py`` fails if a declared command has no
handler or any of the readers drifts from this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from domain.i18n import N_


class Who(Enum):
    RESIDENT = "resident"  # anyone writing to the bot
    OPERATOR = "operator"  # the ids in telegram.operators / viber.operators


@dataclass(frozen=True)
class Command:
    name: str  # as typed: "/balance"
    description: str  # msgid, translated where it is shown
    who: Who = Who.RESIDENT
    listed: bool = True  # in the command menu and /help; unlisted ones are reached by buttons

    @property
    def bare(self) -> str:
        """The name without the slash, as Telegram's command menu wants it."""
        return self.name.removeprefix("/")


COMMANDS: tuple[Command, ...] = (
    Command("/start", N_("Start and show the main menu")),
    Command("/menu", N_("Main menu")),
    Command("/balance", N_("Check the balance")),
    Command("/readings", N_("Submit readings")),
    Command("/history", N_("My readings")),
    Command("/request", N_("New request")),
    Command("/requests", N_("My requests")),
    Command("/accounts", N_("My accounts")),
    Command("/add", N_("Add account")),
    Command("/language", N_("Change the language")),
    Command("/settings", N_("Settings")),
    Command("/help", N_("Help and contacts")),
    Command("/cancel", N_("Cancel the current step")),
    Command("/pay", N_("Pay"), listed=False),
    Command("/charges", N_("Charges"), listed=False),
    Command("/payments", N_("Payments"), listed=False),
    Command("/chart", N_("Consumption chart"), listed=False),
    Command("/broadcast", N_("Send a broadcast"), Who.OPERATOR),
    Command("/broadcasts", N_("Broadcasts"), Who.OPERATOR),
)

BY_NAME: dict[str, Command] = {command.name: command for command in COMMANDS}


def declared(name: str) -> Command:
    """The declaration of ``name``; ValueError for a command this table does not declare."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"command {name} is not declared in handlers/commands.py") from None


def may_use(name: str, is_operator: bool) -> bool:
    """Whether the sender may use command ``name`` (commands the table does not know: yes)."""
    command = BY_NAME.get(name)
    return command is None or command.who is Who.RESIDENT or is_operator


def listed(is_operator: bool) -> list[Command]:
    """The commands a menu or /help shows to a resident, or to an operator (theirs after)."""
    return [c for c in COMMANDS if c.listed and (c.who is Who.RESIDENT or is_operator)]
