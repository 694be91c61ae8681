"""Settings (which reminders a resident receives) through the engine, and the fraud warning for
messages about paying through an agent at a discount, in the four languages."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

import handlers.menu
from domain.config import Config, parse_config
from domain.i18n import translator
from handlers import settings
from handlers.context import Context
from handlers.engine import Engine
from handlers.fraud import fraud_warning_if_mentioned, mentions_discount_agent
from handlers.types import Incoming, Reply
from scheduler.reminders import ReminderSettings, daily_checks
from storage.database import Database
from storage.models import Binding, Chat
from tests.conftest import TEST_CONFIG
from tests.seed import seed
from tests.test_reminders import kyiv, outbox

CHAT = "77"


def engine_with_settings(config: Config, db: Database, now) -> Engine:
    """The engine plus the settings routes (until handlers/engine.py includes them)."""
    engine = Engine(config, db, clock=lambda: now)
    if "set" not in engine.router.actions:
        engine.router.include(settings.router)
    return engine


async def handle(engine: Engine, text: str = "", action: str = "", language: str = "en") -> list[Reply]:
    kind = "action" if action else "text"
    return await engine.handle(Incoming("telegram", CHAT, CHAT, language, kind, text, action))


def actions(reply: Reply) -> list[str]:
    return [button.action for row in reply.buttons for button in row]


async def stored_notifications(db: Database) -> dict:
    async with db.unit_of_work() as uow:
        chat = await uow.chats.get_for_update("telegram", CHAT)
    assert chat is not None
    return dict(chat.notifications)


# --- settings -----------------------------------------------------------------------------------


async def test_settings_all_on_by_default_toggle_one_and_all_off_in_one_tap(db, config, now):
    engine = engine_with_settings(config, db, now)
    (reply,) = await handle(engine, "/settings")
    assert reply.text.splitlines() == [
        "Reminders you receive. Tap one to turn it on or off.",
        "🔔 Meter reading reminders",
        "🔔 Payment reminders",
        "🔔 Announcements from the company",
    ]
    assert actions(reply) == ["set:t:window", "set:t:payment", "set:t:notices", "set:off", "menu"]
    assert await stored_notifications(db) == {}

    (reply,) = await handle(engine, action="set:t:payment")
    assert reply.text.startswith("Saved.\n") and "🔕 Payment reminders" in reply.text
    assert "🔔 Meter reading reminders" in reply.text
    assert await stored_notifications(db) == {"payment": False}

    (reply,) = await handle(engine, action="set:off")
    assert reply.text.startswith("All reminders are off.")
    assert actions(reply) == ["set:t:window", "set:t:payment", "set:t:notices", "set:on", "menu"]
    assert await stored_notifications(db) == {"window": False, "payment": False, "notices": False}

    (reply,) = await handle(engine, action="set:t:window")
    assert "🔔 Meter reading reminders" in reply.text and "set:off" in actions(reply)
    (reply,) = await handle(engine, action="set:on")
    assert reply.text.startswith("All reminders are on.")
    assert await stored_notifications(db) == {"window": True, "payment": True, "notices": True}

    (reply,) = await handle(engine, action="set:t:bogus")  # an unknown kind changes nothing
    assert not reply.text.startswith("Saved.")


async def test_settings_are_localized_and_the_jobs_obey_them(db, config, now):
    accounts = await seed(db)
    engine = engine_with_settings(config, db, now)
    (reply,) = await handle(engine, action="set", language="uk")
    assert "Меню" in [button.label for row in reply.buttons for button in row]
    async with db.unit_of_work() as uow:
        chat = await uow.chats.get_for_update("telegram", CHAT)
        assert chat is not None
        uow.session.add(Binding(chat_id=chat.id, account_id=accounts["1001001"]))
        await uow.commit()
    await handle(engine, action="set:t:window", language="uk")
    reminders = ReminderSettings(channels=("telegram",))
    await daily_checks(db, config, "teplo", kyiv(date(2026, 11, 20)), reminders)
    assert not await outbox(db)  # window reminders off
    await daily_checks(db, config, "teplo", kyiv(date(2026, 12, 12)), reminders)
    assert [key.split(":")[0] for key in await outbox(db)] == ["payment-due"]


# --- the fraud warning --------------------------------------------------------------------------

SUSPICIOUS = [
    "有人说可以帮我代缴暖气费",  # zh: pay on my behalf
    "可以打八折交费吗？",  # zh: 20% off
    "缴费有折扣吗",  # zh: a discount
    "Мені пропонують оплатити зі знижкою 30%",  # uk: a discount
    "Дзвонив посередник, каже що дешевше",  # uk: an intermediary
    "Агент предлагает скидку на отопление",  # ru
    "Можно платить через посредника?",  # ru
    "Someone offered a DISCOUNT if I pay through them",
    "an agent called me about my bill",
    "ｄｉｓｃｏｕｎｔ",  # full-width letters
]
ORDINARY = [
    "Добрий день, коли відключать гарячу воду?",
    "Сколько я должен за отопление?",
    "我想查询余额",
    "What is my balance?",
    "The reagent in the water smells",  # 'agent' inside a word
    "urgent: magenta water from the tap",
    "1001001",
]


@pytest.mark.parametrize("text", SUSPICIOUS)
def test_discount_agent_words_are_recognised(text):
    assert mentions_discount_agent(text)


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_text_is_not(text):
    assert not mentions_discount_agent(text)


async def context(db: Database, config: Config, now, text: str, locale: str, accounts: list[int]) -> Context:
    uow = db.unit_of_work()
    chat, _ = await uow.chats.get_or_create("telegram", CHAT)
    chat.locale = locale
    for account_id in accounts:
        uow.session.add(Binding(chat_id=chat.id, account_id=account_id))
    await uow.session.flush()
    return Context(
        Incoming("telegram", CHAT, CHAT, locale, "text", text), chat, uow, config, now, translator(locale)
    )


async def test_the_warning_names_the_residents_providers_and_their_hotlines(db, config, now):
    accounts = await seed(db)
    ctx = await context(db, config, now, "an agent offers a discount", "en", [accounts["1001001"]])
    try:
        (reply,) = await fraud_warning_if_mentioned(ctx) or []
    finally:
        await ctx.uow.session.close()
    assert reply.text.startswith("Beware of fraud. City Heating never authorises anyone")
    assert reply.text.endswith("Hotline: +380 44 000 00 00") and "City Water" not in reply.text

    ctx = await context(db, config, now, "скидка", "ru", [])
    try:
        (reply,) = await fraud_warning_if_mentioned(ctx) or []
        assert await fraud_warning_if_mentioned(ctx) is not None
        ctx.incoming = Incoming("telegram", CHAT, CHAT, "ru", "text", "Сколько я должен?")
        assert await fraud_warning_if_mentioned(ctx) is None
    finally:
        await ctx.uow.session.close()
    # No account yet: on behalf of every provider, each hotline labelled.
    assert "Теплокоммунэнерго и Водоканал никого не уполномочивают" in reply.text  # plural verb
    assert "Водоканал — " in reply.text and "1551" in reply.text


async def test_a_providers_own_warning_text_wins_in_its_language(db, now):
    own = {"uk": "{provider}: ми ніколи не приймаємо оплату через агентів. Платіть лише через банк."}
    data = dict(TEST_CONFIG)
    notice = {"id": "fraud", "cron": "0 10 1 * *", "text_key": "fraud_warning", "text": own}
    data["providers"] = [{**TEST_CONFIG["providers"][0], "notices": [notice]}, TEST_CONFIG["providers"][1]]
    config = parse_config(data, environ={})
    ctx = await context(db, config, now, "знижка", "uk", [])
    try:
        (reply,) = await fraud_warning_if_mentioned(ctx) or []
    finally:
        await ctx.uow.session.close()
    first, second = reply.text.split("\n\n")
    assert first == "Теплокомуненерго: ми ніколи не приймаємо оплату через агентів. Платіть лише через банк."
    assert "Водоканал" in second and second.endswith("1551")  # the catalog text for the other provider


async def test_through_the_engine_with_the_proposed_wiring(db, config, now, monkeypatch):
    """handlers.menu.not_understood as the lead wires it: the warning (with the menu) instead of the hint."""
    original = handlers.menu.not_understood

    async def not_understood(ctx: Context) -> list[Reply]:
        warning = await fraud_warning_if_mentioned(ctx)
        if warning is not None:
            return [handlers.menu.menu_reply(ctx, reply.text) for reply in warning]
        return await original(ctx)

    monkeypatch.setattr(handlers.menu, "not_understood", not_understood)
    engine = Engine(config, db, clock=lambda: now)
    replies = await handle(engine, "有人可以帮我代缴，打折", language="zh")
    assert len(replies) == 1 and "供热公司和自来水公司从未授权" in replies[0].text
    assert "bal" in actions(replies[0])  # the main menu
    (hint,) = await handle(engine, "hello there", language="zh")
    assert "供热公司" not in hint.text
    async with db.unit_of_work() as uow:
        assert (await uow.session.execute(select(Chat.locale))).scalar_one() == "zh"


def test_settings_routes_clash_with_no_feature(config, db):
    engine = Engine(config, db)
    if "set" not in engine.router.actions:
        engine.router.include(settings.router)  # raises on a clash
    assert engine.router.actions["set"] is settings.show_settings
    assert engine.router.commands["/settings"] is settings.show_settings
