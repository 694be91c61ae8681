"""The broadcast service the chat flow, the CLI and a web console share: filters → audience → count →
preview → queued (with priority, schedule and the progress chat), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from domain.broadcast import BroadcastTexts
from domain.config import Config
from domain.i18n import translator
from handlers.broadcasting import (
    MAX_ADDRESS,
    AudienceError,
    AudienceFilters,
    ProgressChat,
    build_audience,
    count_recipients,
    find_twin,
    queue_broadcast,
    render_preview,
)
from storage.database import Database
from storage.models import OutboxMessage
from storage.repositories.outbox import PRIORITY_BROADCAST, PRIORITY_EMERGENCY
from tests.fakes.telegram_api import TOKEN
from tests.seed import seed
from tests.test_broadcast_operator import add_residents

TEXTS = BroadcastTexts({"uk": "Воду відключать.", "en": "The water goes off."}, "uk")


def _with_telegram(config: Config) -> Config:
    return config.model_copy(update={"telegram": config.telegram.model_copy(update={"token": TOKEN})})


def test_filters_that_name_nothing_configured_are_refused(config: Config):
    config = _with_telegram(config)
    for filters, problem in [
        (AudienceFilters(provider="gas"), "unknown_provider"),
        (AudienceFilters(locale="de"), "unknown_locale"),
        (AudienceFilters(address="x" * (MAX_ADDRESS + 1)), "address_too_long"),
    ]:
        with pytest.raises(AudienceError) as error:
            build_audience(config, filters)
        assert error.value.problem == problem
    audience = build_audience(config, AudienceFilters(provider="voda", address="  Шевченка ", locale="uk"))
    assert audience.channels == ("telegram",) and audience.address == "Шевченка"
    assert build_audience(config, AudienceFilters(address="   ")).everyone


async def test_count_preview_and_queue(any_db: Database, config: Config, now):
    config = _with_telegram(config)
    await add_residents(any_db, await seed(any_db))
    debtors = build_audience(config, AudienceFilters(min_debt=Decimal(1000)))
    async with any_db.unit_of_work() as uow:
        assert await count_recipients(uow, debtors) == 3
        assert await count_recipients(uow, build_audience(config, AudienceFilters(locale="zh"))) == 1
    preview = render_preview(config, translator("en"), TEXTS, debtors, 3)
    assert "Recipients: 3" in preview and "owe more than 1,000" in preview
    assert preview.endswith("The water goes off.") and "Nobody matches" not in preview
    in_uk = render_preview(config, translator("uk"), TEXTS, debtors, 0)
    assert "Воду відключать." in in_uk and "The water goes off." not in in_uk
    assert translator("uk")._("Nobody matches. Change the filters.") in in_uk

    later = now + timedelta(hours=3)
    voda = build_audience(config, AudienceFilters(provider="voda"))
    by_console = {"texts": TEXTS, "created_by": "console:ops", "now": now}
    async with any_db.unit_of_work() as uow:
        progress = ProgressChat("telegram", "424242", "en")
        emergency = await queue_broadcast(
            uow, audience=debtors, emergency=True, progress=progress, **by_console
        )
        common = await queue_broadcast(uow, audience=voda, emergency=False, scheduled_at=later, **by_console)
        await uow.commit()
    assert (emergency.total, common.total) == (3, 2)
    async with any_db.unit_of_work() as uow:
        first = await uow.broadcasts.get(emergency.id)
        second = await uow.broadcasts.get(common.id)
        assert first is not None and second is not None
        assert (first.status, first.progress_chat_key, first.created_by) == (
            "queued",
            "424242",
            "console:ops",
        )
        assert second.scheduled_at == later and second.progress_chat_key == ""
        assert await find_twin(uow, TEXTS, debtors, emergency=True) == first
        assert await find_twin(uow, TEXTS, debtors, emergency=False) is None
        query = select(OutboxMessage.broadcast_id, OutboxMessage.priority, OutboxMessage.not_before)
        rows = {(row.broadcast_id, row.priority, row.not_before) for row in await uow.session.execute(query)}
    assert rows == {(emergency.id, PRIORITY_EMERGENCY, now), (common.id, PRIORITY_BROADCAST, later)}


async def test_no_channel_means_nothing_is_queued(db: Database, config: Config, now):
    audience = build_audience(config, AudienceFilters())
    assert audience.channels == ()
    async with db.unit_of_work() as uow:
        with pytest.raises(AudienceError) as error:
            await queue_broadcast(
                uow, texts=TEXTS, audience=audience, emergency=False, created_by="t", now=now
            )
        assert error.value.problem == "no_channels"
        assert await uow.broadcasts.recent() == []
