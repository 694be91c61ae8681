"""The Prometheus counters move with the real work: deliveries by result (a real delivery loop
against the fake Bot API), imported rows by kind and result (the demo CSV files)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import REGISTRY

from domain.config import parse_config
from storage.database import Database
from storage.importer import import_csv
from tests.conftest import TEST_CONFIG
from tests.fakes.telegram_api import fake_telegram
from tests.test_delivery import FIRST_CHAT, add_chats, daytime, delivering, queue_broadcast, wait_finished

DEMO = Path(__file__).resolve().parents[1] / "bot" / "demo"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_deliveries_are_counted_by_result(db: Database) -> None:
    await add_chats(db, 3)
    clock = daytime()
    results = ("sent", "blocked")
    before = {r: sample("utilibot_deliveries_total", channel="telegram", result=r) for r in results}
    async with fake_telegram() as api:
        api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user", chat_id=FIRST_CHAT)
        broadcast_id, _ = await queue_broadcast(db, {"en": "Hello"}, clock())
        async with delivering(db, api, 30, clock, per_chat_interval=0.05):
            await wait_finished(db, broadcast_id)
    assert sample("utilibot_deliveries_total", channel="telegram", result="sent") == before["sent"] + 2
    assert sample("utilibot_deliveries_total", channel="telegram", result="blocked") == before["blocked"] + 1


async def test_imported_rows_are_counted_by_kind_and_result(db: Database) -> None:
    config = parse_config(TEST_CONFIG, environ={})
    before = sample("utilibot_import_rows_total", kind="accounts", result="inserted")
    report = await import_csv(db, config, "accounts", DEMO / "accounts.csv")
    assert report.inserted > 0
    after = sample("utilibot_import_rows_total", kind="accounts", result="inserted")
    assert after == before + report.inserted
