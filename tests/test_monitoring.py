"""/healthz and /metrics against a running `utilibot run` (a real process, the fake Bot API on
loopback): the checks, the Prometheus exposition, and counters that move with real updates; and
the logs of that process: scoped lines, no token."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from bot.monitoring import Monitor, Watched
from storage.database import Database
from tests.fakes.telegram_api import TOKEN, fake_telegram, free_port
from tests.test_cli import start_run, write_config


def _sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition (0.0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    prefix = f"{name}{{{wanted}}} " if labels else f"{name} "
    for line in metrics.splitlines():
        if line.startswith(prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def _get(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url) as response:
        return response.status, await response.text()


async def test_healthz_and_metrics_of_a_running_bot(tmp_path: Path) -> None:
    port = free_port()
    async with fake_telegram() as api:
        config = write_config(
            tmp_path,
            f'[telegram]\napi_base_url = "{api.base_url}"\npolling_timeout = 1\n'
            f'[monitoring]\nlisten = "127.0.0.1:{port}"\n[logging]\nformat = "json"\n',
        )
        process = await start_run(config)
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession() as session:
                status, body = 0, ""
                for _ in range(600):  # 503 "starting" until every part runs
                    try:
                        status, body = await _get(session, f"{base}/healthz")
                    except aiohttp.ClientConnectionError:
                        status = 0
                    if status == 200:
                        break
                    assert status in (0, 503), body
                    await asyncio.sleep(0.1)
                assert status == 200, body
                health = json.loads(body)
                assert health["status"] == "ok"
                assert health["checks"]["database"] == {"status": "ok"}
                assert health["checks"]["scheduler"] == {"status": "ok"}
                assert health["checks"]["delivery"]["status"] == "ok"
                assert health["checks"]["delivery"]["pending"] == 0

                _, before = await _get(session, f"{base}/metrics")
                assert _sample(before, "utilibot_build_info", version="0.1.0") == 1.0
                assert "process_resident_memory_bytes" in before
                assert _sample(before, "utilibot_outbox_messages", channel="telegram", state="pending") == 0
                ok_before = _sample(before, "utilibot_updates_total", channel="telegram", outcome="ok")

                update = api.push_message(77, "/start", "en")
                await api.wait_confirmed(update, timeout=30)
                await api.wait_for(lambda: api.sent_to(77), timeout=15)
                _, after = await _get(session, f"{base}/metrics")
                ok_after = _sample(after, "utilibot_updates_total", channel="telegram", outcome="ok")
                assert ok_after == ok_before + 1
                assert _sample(after, "utilibot_update_duration_seconds_count", channel="telegram") >= 1
                status, _ = await _get(session, f"{base}/nothing-here")
                assert status == 404
        finally:
            process.send_signal(signal.SIGTERM)
            output = (await asyncio.wait_for(process.communicate(), timeout=30))[0].decode()
        assert process.returncode == 0, output
        lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        assert lines, output
        assert all({"time", "level", "logger", "channel", "update", "message"} <= set(line) for line in lines)
        assert any("utilibot is running" in line["message"] for line in lines)
        assert TOKEN not in output and TOKEN.split(":")[1] not in output


async def test_healthz_fails_when_the_database_does_not_answer() -> None:
    """The health check names the failing part: here a PostgreSQL server nobody runs."""
    db = Database(f"postgresql+asyncpg://utilibot@127.0.0.1:{free_port()}/utilibot")
    monitor = Monitor(db, "127.0.0.1:0", "test", lambda: datetime.now(UTC), Watched(running=True))
    healthy, checks = await monitor.checks()
    await db.dispose()
    assert not healthy
    assert checks["database"]["status"] == "fail"
