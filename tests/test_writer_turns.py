"""SQLite units of work take turns in the process, in arrival order, and never deadlock."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from storage.database import Database
from storage.models import Chat


async def add_chat(db: Database, key: str, log: list[str], hold: float = 0.0) -> None:
    async with db.unit_of_work() as uow:
        log.append(f"{key} starts")
        await uow.chats.get_or_create("telegram", key)
        await asyncio.sleep(hold)  # the write lock is held meanwhile
        await uow.commit()
        log.append(f"{key} committed")


async def test_writers_take_turns_in_arrival_order(db: Database):
    log: list[str] = []
    tasks = []
    for key in ("a", "b", "c", "d"):
        tasks.append(asyncio.create_task(add_chat(db, key, log, hold=0.05)))
        await asyncio.sleep(0)  # arrive in this order
    await asyncio.gather(*tasks)
    assert log == [f"{key} {event}" for key in "abcd" for event in ("starts", "committed")]


async def test_a_unit_of_work_inside_another_goes_ahead(db: Database):
    log: list[str] = []
    async with db.unit_of_work() as outer:  # has the turn, no transaction yet
        async with asyncio.timeout(5):  # in this task (wait_for would make another one)
            await add_chat(db, "inner", log)  # would otherwise wait 15 s for its turn
        await outer.chats.get_or_create("telegram", "outer")
        await outer.commit()
    async with db.unit_of_work() as uow:
        keys = (await uow.session.execute(select(Chat.chat_key).order_by(Chat.chat_key))).scalars().all()
    assert keys == ["inner", "outer"]


async def test_a_failed_unit_of_work_gives_its_turn_back(db: Database):
    try:
        async with db.unit_of_work() as uow:
            await uow.chats.get_or_create("telegram", "x")
            raise RuntimeError("handler failed")
    except RuntimeError:
        pass
    log: list[str] = []
    await asyncio.wait_for(add_chat(db, "next", log), 5)
    assert log == ["next starts", "next committed"]


async def test_a_cancelled_waiter_does_not_lose_the_turn_for_others(db: Database):
    log: list[str] = []
    first = asyncio.create_task(add_chat(db, "first", log, hold=0.2))
    await asyncio.sleep(0.05)
    cancelled = asyncio.create_task(add_chat(db, "cancelled", log))
    await asyncio.sleep(0.01)
    cancelled.cancel()
    await asyncio.wait_for(first, 5)
    await asyncio.wait_for(add_chat(db, "last", log), 5)
    assert "cancelled starts" not in log and log[-1] == "last committed"
