"""The audit trail: operators' broadcasts and requests are recorded with who, what and when, in the
same transaction as the action; `utilibot audit` prints them; old entries are purged."""

from __future__ import annotations

from datetime import timedelta

from domain.audit import AuditAction
from domain.broadcast import BroadcastTexts
from handlers import requests_service
from handlers.broadcasting import AudienceFilters, build_audience, cancel_broadcast, queue_broadcast
from handlers.engine import Engine
from scheduler.housekeeping import purge_old_audit
from storage.database import Database
from storage.migrate import upgrade
from storage.models import ServiceRequest
from tests.seed import seed
from tests.test_broadcast_operator import add_residents
from tests.test_broadcasting_service import _with_telegram
from tests.test_cli import utilibot, write_config
from tests.test_requests import NOW, bound, file, requests_config

TEXTS = BroadcastTexts({"uk": "Воду відключать.", "en": "The water goes off."}, "uk")


async def test_broadcasts_are_audited_and_printed_by_the_cli(tmp_path):
    config_file = write_config(tmp_path)
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    await upgrade(db)
    await add_residents(db, await seed(db))
    config = _with_telegram(requests_config())
    audience = build_audience(config, AudienceFilters(provider="voda"))
    async with db.unit_of_work() as uow:
        queued = await queue_broadcast(
            uow, texts=TEXTS, audience=audience, emergency=False, created_by="console:olha", now=NOW
        )
        await uow.commit()
    async with db.unit_of_work() as uow:  # an undone action leaves no entry
        assert await cancel_broadcast(uow, queued.id, "telegram:4242", NOW + timedelta(minutes=1)) == 2
    async with db.unit_of_work() as uow:
        assert [record.action for record in await uow.audit.since(None)] == ["broadcast_queued"]
        assert await cancel_broadcast(uow, queued.id, "telegram:4242", NOW + timedelta(minutes=1)) == 2
        assert await cancel_broadcast(uow, 999, "telegram:4242", NOW) is None  # not running: no entry
        await uow.commit()
    await db.dispose()

    printed = utilibot("audit", "-c", str(config_file))
    assert printed.returncode == 0, printed.stderr
    lines = printed.stdout.splitlines()
    assert lines == [
        "2026-11-24T10:00:00+00:00\tconsole:olha\tbroadcast_queued\tbroadcast #1\t"
        '{"emergency": false, "recipients": 2}',
        '2026-11-24T10:01:00+00:00\ttelegram:4242\tbroadcast_cancelled\tbroadcast #1\t{"dropped": 2}',
    ]
    assert "2 audit entries" in printed.stderr
    only = utilibot("audit", "-c", str(config_file), "--action", "broadcast_cancelled")
    assert only.stdout.count("\n") == 1 and "broadcast_cancelled" in only.stdout
    later = utilibot("audit", "-c", str(config_file), "--since", "2026-11-25")
    assert later.returncode == 0 and later.stdout == "" and "0 audit entries" in later.stderr
    wrong = utilibot("audit", "-c", str(config_file), "--since", "yesterday")
    assert wrong.returncode == 2 and "invalid fromisoformat value" in wrong.stderr


async def test_operators_handling_a_request_is_audited_and_old_entries_purged(any_db: Database):
    await seed(any_db)
    config = requests_config()
    engine = Engine(config, any_db, clock=lambda: NOW)
    number = await file(await bound(engine))
    async with any_db.unit_of_work() as uow:
        request = await uow.session.get(ServiceRequest, number)
        assert request is not None
        await requests_service.take(uow, request, "Olha", NOW)
        await requests_service.answer(uow, config, request, "Olha", "We will call you", NOW)
        await requests_service.close(uow, config, request, "Olha", NOW + timedelta(hours=1))
        await uow.commit()
    async with any_db.unit_of_work() as uow:
        records = await uow.audit.since(NOW)
    assert [(r.actor, r.action, r.subject) for r in records] == [
        ("Olha", AuditAction.REQUEST_TAKEN, f"request #{number}"),
        ("Olha", AuditAction.REQUEST_ANSWERED, f"request #{number}"),
        ("Olha", AuditAction.REQUEST_CLOSED, f"request #{number}"),
    ]
    assert records[1].details == {"delivered": True}

    assert await purge_old_audit(any_db, lambda: NOW + timedelta(days=365, minutes=30), 365) == 2
    async with any_db.unit_of_work() as uow:
        assert [r.action for r in await uow.audit.since(None)] == [AuditAction.REQUEST_CLOSED]
