"""A first pass through the engine without any messenger: greeting, binding, balance."""

from __future__ import annotations

from handlers.engine import Engine
from handlers.types import Incoming
from tests.seed import seed


async def test_bind_and_balance(db, config, now):
    await seed(db)
    engine = Engine(config, db, clock=lambda: now)

    async def say(text: str = "", action: str = "") -> str:
        kind = "action" if action else "text"
        replies = await engine.handle(
            Incoming("console", "c1", language="en", kind=kind, text=text, action=action)
        )
        return "\n".join(r.text for r in replies)

    assert "Hello" in await say("/start")
    await say(action="acc:add")
    await say(action="accp:teplo")
    await say("1001-001")
    out = await say("1 234,50 грн")
    assert "1001001" in out and "Ш******о Т. Г." in out
    out = await say(action="bal")
    assert "₴" in out or "UAH" in out
