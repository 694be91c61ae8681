"""The command registry (handlers.commands) drives the router, /help and Telegram's command menu;
these tests fail as soon as any of them drifts from it."""

from __future__ import annotations

import pytest

from bot.channels.telegram import TelegramChannel, command_menu
from domain.config import Config
from domain.i18n import translator
from handlers.commands import COMMANDS, Who, listed
from handlers.engine import Engine, build_router
from handlers.routing import Router
from handlers.types import Incoming, Reply
from storage.database import Database
from tests.fakes.telegram_api import fake_telegram
from tests.test_telegram_e2e import running, telegram_config

OPERATOR = 424_242
RESIDENT = 1_000_001
RESIDENTS = [c.name for c in COMMANDS if c.listed and c.who is Who.RESIDENT]
OPERATORS = [c.name for c in COMMANDS if c.listed and c.who is Who.OPERATOR]


def with_operator(config: Config) -> Config:
    telegram = config.telegram.model_copy(update={"operators": [OPERATOR]})
    return config.model_copy(update={"telegram": telegram})


async def say(engine: Engine, chat: int, text: str) -> list[Reply]:
    return await engine.handle(Incoming("telegram", str(chat), str(chat), "en", "text", text))


def test_every_declared_command_is_routed_and_every_routed_one_declared() -> None:
    router = build_router()
    assert sorted(router.commands) == sorted(c.name for c in COMMANDS)
    assert len({c.name for c in COMMANDS}) == len(COMMANDS)
    assert all(c.name.startswith("/") and c.description for c in COMMANDS)
    assert OPERATORS == ["/broadcast", "/broadcasts"]


def test_the_router_refuses_a_command_the_registry_does_not_declare() -> None:
    with pytest.raises(ValueError, match="/nonsense is not declared"):
        Router().command("/nonsense")


@pytest.mark.parametrize("locale", ["uk", "ru", "zh", "en"])
def test_the_telegram_menu_is_the_registry(locale: str) -> None:
    tr = translator(locale)
    menu = command_menu(locale)
    assert [f"/{c.command}" for c in menu] == RESIDENTS
    assert [c.description for c in menu] == [tr._(c.description) for c in listed(False)]
    assert [f"/{c.command}" for c in command_menu(locale, operator=True)] == RESIDENTS + OPERATORS
    if locale != "en":  # translated, not the msgid
        assert all(c.description != m.description for c, m in zip(menu, listed(False), strict=True))


async def test_help_lists_the_registry_and_operators_see_theirs(db: Database, config: Config) -> None:
    engine = Engine(with_operator(config), db)
    (resident,) = await say(engine, RESIDENT, "/help")
    (operator,) = await say(engine, OPERATOR, "/help")
    for name in RESIDENTS:
        assert f"\n{name} — " in resident.text and f"\n{name} — " in operator.text
    for name in OPERATORS:
        assert name not in resident.text and f"\n{name} — " in operator.text
    for command in COMMANDS:
        if not command.listed:
            assert f"{command.name} " not in resident.text
    assert "\n/balance — Check the balance" in resident.text


async def test_operator_commands_do_not_exist_for_residents(db: Database, config: Config) -> None:
    engine = Engine(with_operator(config), db)
    (unknown,) = await say(engine, RESIDENT, "/no-such-command")
    for name in OPERATORS:
        (answer,) = await say(engine, RESIDENT, name)
        assert answer.text == unknown.text
    (ask,) = await say(engine, OPERATOR, "/broadcast")
    assert ask.text != unknown.text


async def test_operators_get_their_commands_in_a_chat_scope(db: Database, config: Config) -> None:
    async with fake_telegram() as api:
        settings = telegram_config(config, api, operators=[OPERATOR])
        async with running(TelegramChannel(settings, Engine(settings, db), db)):
            pass
    for language in ("uk", "ru", "zh", "en", None):
        assert [f"/{c['command']}" for c in api.commands[language]] == RESIDENTS
        scoped = api.chat_commands[(OPERATOR, language)]
        assert [f"/{c['command']}" for c in scoped] == RESIDENTS + OPERATORS
    assert {chat for chat, _ in api.chat_commands} == {OPERATOR}
