"""Errors to Sentry, opt-in: a failing handler in a real process reaches a Sentry-compatible
ingest server on loopback, scrubbed of the resident's data (message text, account number, token)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
from pathlib import Path

from aiohttp import web

from tests.fakes.telegram_api import free_port
from tests.test_cli import ROOT

SCRIPT = textwrap.dedent(
    """
    import asyncio, logging, sys
    import sentry_sdk
    from bot.error_reporting import start_error_reporting
    from bot.logging_setup import configure_logging
    from domain.config import parse_config
    from tests.conftest import TEST_CONFIG

    config = parse_config({**TEST_CONFIG, "monitoring": {"sentry_dsn": sys.argv[1]}}, environ={})
    configure_logging(config)
    assert start_error_reporting(config, "0.1.0", ["123456:SECRET-token"])
    try:
        raise ValueError(
            "account 1001001 of 'Шевченко Тарас' typed 'вул. Шевченка 12' with 123456:SECRET-token"
        )
    except ValueError:
        logging.getLogger("handlers.engine").exception("update from %s chat %s failed", "telegram", "5550001")
    sentry_sdk.flush(5)
    """
)


async def test_a_handler_error_reaches_sentry_without_personal_data(tmp_path: Path) -> None:
    received: list[bytes] = []

    async def envelope(request: web.Request) -> web.Response:
        received.append(await request.read())  # aiohttp undoes the Content-Encoding
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/api/{project}/envelope/", envelope)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        script = tmp_path / "report.py"
        script.write_text(SCRIPT, encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            f"http://0123456789abcdef0123456789abcdef@127.0.0.1:{port}/42",
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output = (await asyncio.wait_for(process.communicate(), timeout=60))[0].decode()
        assert process.returncode == 0, output
    finally:
        await runner.cleanup()
    events = []
    for body in received:
        for line in body.split(b"\n"):
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict) and "exception" in item:
                events.append(item)
    assert events, received
    sent = json.dumps(events, ensure_ascii=False)
    assert "ValueError" in sent
    assert "update from %s chat %s failed" in sent
    for private in ("1001001", "5550001", "Шевченко", "Шевченка", "SECRET-token", "123456"):
        assert private not in sent, private
    assert "0123456789abcdef0123456789abcdef" not in output
