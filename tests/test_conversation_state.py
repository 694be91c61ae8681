"""Typed conversation state: each flow's state reads back as stored, and a stored state that no
longer parses (another version, a missing field, a wrong type, a step that is gone) takes the
resident back to the main menu with a polite word, in their language, never an apology."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import update

from domain.config import Config
from handlers.accounts import BindingState, BindStep
from handlers.broadcasting import AudienceFilters
from handlers.conversation import ExpiredConversation
from handlers.engine import Engine
from handlers.operator import BroadcastDraft, DraftStep
from handlers.readings import ReadingsState, ReadingsStep, SavedReadings
from handlers.types import Incoming, Reply
from storage.database import Database
from storage.models import Chat
from tests.fakes.telegram_api import TOKEN
from tests.seed import seed
from tests.test_readings_flow import OPEN

OPERATOR = 424_242
EXPIRED = {
    "en": "That conversation has expired; here is the main menu.",
    "uk": "Час цієї розмови минув, тож ось головне меню.",
}
APOLOGY = "Sorry, something went wrong"


# --- the models ---------------------------------------------------------------------------------


def test_each_flow_reads_back_what_it_stored():
    states = [
        BindingState(step=BindStep.FACT, provider="teplo", number="1001001"),
        ReadingsState(
            step=ReadingsStep.UNUSUAL,
            account=3,
            period="2026-11",
            meters=(5, 6),
            index=1,
            values={"5": Decimal("4600.50")},
            pending=Decimal("1200"),
        ),
        BroadcastDraft(
            step=DraftStep.KIND,
            texts={"uk": "Вода буде.", "en": "Water is back."},
            default="uk",
            audience=AudienceFilters(provider="voda", min_debt=Decimal("0")),
        ),
    ]
    for state in states:
        name, data = state.stored()
        assert name == state.step.value and data["v"] == state.VERSION
        assert type(state).parse(name, data) == state
    name, data = SavedReadings(receipt="ABCD-2345").stored()
    assert name == "" and SavedReadings.parse(name, data) == SavedReadings(receipt="ABCD-2345")


def test_a_state_of_another_flow_is_none_and_a_broken_one_of_this_flow_expires():
    name, data = BindingState(step=BindStep.NUMBER, provider="teplo").stored()
    assert ReadingsState.parse(name, data) is None and BroadcastDraft.parse(name, data) is None
    assert BindingState.parse("", {}) is None
    broken: list[tuple[str, dict[str, Any]]] = [
        (name, {**data, "v": 2}),  # a newer version
        (name, {key: value for key, value in data.items() if key != "v"}),  # before versions
        (name, {"v": 1}),  # the provider is missing
        (name, {**data, "provider": 7}),  # a wrong type
        (name, {**data, "extra": True}),  # a field this version does not have
        ("bind:gone", data),  # a step that no longer exists
    ]
    for state, stored in broken:
        with pytest.raises(ExpiredConversation):
            BindingState.parse(state, stored)
    # An idle chat has no state to expire: a memo that does not parse is simply none.
    assert SavedReadings.parse("", {}) is None and SavedReadings.parse("", {"v": 0, "receipt": "X"}) is None


# --- through the engine: a broken stored row per flow --------------------------------------------


def _clock() -> Callable[[], Any]:
    return lambda: OPEN


class Chatter:
    def __init__(self, engine: Engine, db: Database, user: int, locale: str = "en") -> None:
        self.engine, self.db, self.key, self.locale = engine, db, str(user), locale

    async def say(self, text: str = "", action: str = "") -> list[Reply]:
        kind = "action" if action else "text"
        incoming = Incoming("telegram", self.key, self.key, self.locale, kind, text, action)
        return await self.engine.handle(incoming)

    async def row(self) -> Chat:
        async with self.db.unit_of_work() as uow:
            chat = await uow.chats.get_for_update("telegram", self.key)
            assert chat is not None
            return chat

    async def store(self, state: str, data: Any) -> None:
        async with self.db.unit_of_work() as uow:
            query = update(Chat).where(Chat.chat_key == self.key).values(state=state, state_data=data)
            await uow.session.execute(query)
            await uow.commit()


async def _binding(chatter: Chatter) -> None:
    await chatter.say("/add")
    await chatter.say(action="accp:teplo")


async def _readings(chatter: Chatter) -> None:
    await _binding(chatter)
    await chatter.say("1001002")
    await chatter.say("980")
    await chatter.say(action="rd")
    await chatter.say("123.456")  # its only meter: the summary


async def _broadcast(chatter: Chatter) -> None:
    await chatter.say("/broadcast")
    await chatter.say("Water is back.")
    await chatter.say(action="op:debt")


# flow: (walk there, the step it stops at, a field to drop, a wrong type, the next inputs to try)
FLOWS: dict[str, tuple[Any, str, str, dict[str, Any], list[dict[str, str]]]] = {
    "binding": (_binding, "bind:number", "provider", {"provider": ["teplo"]}, [{"text": "1001001"}]),
    "readings": (
        _readings,
        "rd:summary",
        "nonce",
        {"meters": "all of them"},
        [{"text": "hello"}, {"action": "rd:confirm"}, {"action": "rd:edit"}],
    ),
    "broadcast": (
        _broadcast,
        "op:debt",
        "texts",
        {"audience": {"min_debt": []}},
        [{"text": "500"}, {"action": "op:d"}],
    ),
}

BREAKAGES: dict[str, Callable[[str, dict[str, Any], str, dict[str, Any]], tuple[str, Any]]] = {
    "an older version": lambda state, data, field, wrong: (state, {**data, "v": 0}),
    "no version (before typed state)": lambda state, data, field, wrong: (
        state,
        {key: value for key, value in data.items() if key != "v"},
    ),
    "an unknown version": lambda state, data, field, wrong: (state, {**data, "v": 99}),
    "a missing field": lambda state, data, field, wrong: (
        state,
        {key: value for key, value in data.items() if key != field},
    ),
    "a wrong type": lambda state, data, field, wrong: (state, {**data, **wrong}),
    "not an object": lambda state, data, field, wrong: (state, [data]),
    "a step that no longer exists": lambda state, data, field, wrong: (state.split(":")[0] + ":gone", data),
}


def _operator_config(config: Config) -> Config:
    telegram = config.telegram.model_copy(update={"token": TOKEN, "operators": [OPERATOR]})
    return config.model_copy(update={"telegram": telegram})


@pytest.mark.parametrize("breakage", list(BREAKAGES))
@pytest.mark.parametrize("flow", list(FLOWS))
async def test_a_broken_stored_state_leads_back_to_the_menu_politely(
    db: Database, config: Config, flow: str, breakage: str
):
    await seed(db)
    engine = Engine(_operator_config(config), db, _clock())
    walk, step, field, wrong, inputs = FLOWS[flow]
    walker = Chatter(engine, db, OPERATOR)
    (menu,) = await walker.say("/menu")
    await walk(walker)
    good = await walker.row()
    assert good.state == step and good.state_data["v"] == 1
    for incoming in inputs:
        await walker.store(*BREAKAGES[breakage](good.state, dict(good.state_data), field, wrong))
        replies = await walker.say(**incoming)
        assert [reply.text for reply in replies] == [EXPIRED["en"]], (incoming, replies)
        assert APOLOGY not in replies[0].text
        assert replies[0].buttons == menu.buttons
        after = await walker.row()
        assert after.state == "" and after.state_data == {}


async def test_the_word_is_in_their_language_and_the_flow_starts_afresh(any_db: Database, config: Config):
    await seed(any_db)
    engine = Engine(config, any_db, _clock())
    resident = Chatter(engine, any_db, 777, locale="uk")
    await _binding(resident)
    row = await resident.row()
    await resident.store(row.state, {"v": 0, "provider": "teplo"})
    (reply,) = await resident.say("1001001")
    assert reply.text == EXPIRED["uk"]
    # The menu's Add account starts the flow again, and it goes on as ever.
    await _binding(resident)
    await resident.say("1001002")
    (added,) = await resident.say("980")
    assert "1001002" in added.text
