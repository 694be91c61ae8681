"""Start-up failures end with one `utilibot: …` line and exit status 2, never a traceback and never
a secret: a refused token, an API answering 404 (echoing the token in its body) or 502, an API
nobody listens on, and an unreachable PostgreSQL during `db upgrade`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web

from tests.fakes.telegram_api import TOKEN, fake_telegram, free_port
from tests.test_cli import start_run, utilibot, write_config


async def _run_bot(config: Path, token: str) -> tuple[int, str]:
    process = await start_run(config, token, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


@asynccontextmanager
async def answering(status: int, echo_path: bool) -> AsyncIterator[str]:
    """A server that answers every Bot API call with ``status`` (its body echoing the path)."""

    async def answer(request: web.Request) -> web.Response:
        if echo_path:
            body = {"ok": False, "error_code": status, "description": f"Not Found: {request.path}"}
            return web.json_response(body, status=status)
        return web.Response(text="<html><body>502 Bad Gateway</body></html>", status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _one_clean_line(returncode: int, stderr: str, *secrets: str) -> str:
    assert returncode == 2, stderr
    assert "Traceback" not in stderr, stderr
    for secret in secrets:
        assert secret not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("utilibot: ")]
    assert lines, stderr
    return lines[0]


async def test_a_refused_token(tmp_path: Path) -> None:
    async with fake_telegram() as api:
        config = write_config(tmp_path, f'[telegram]\napi_base_url = "{api.base_url}"\npolling_timeout = 1\n')
        wrong = "999999:WRONG-token-value"
        returncode, stderr = await _run_bot(config, wrong)
    line = _one_clean_line(returncode, stderr, wrong, "WRONG-token-value")
    assert "refused the token" in line


@pytest.mark.parametrize(("status", "echo_path"), [(404, True), (502, False)])
async def test_an_api_answering_an_error(tmp_path: Path, status: int, echo_path: bool) -> None:
    async with answering(status, echo_path) as base_url:
        config = write_config(tmp_path, f'[telegram]\napi_base_url = "{base_url}"\npolling_timeout = 1\n')
        returncode, stderr = await _run_bot(config, TOKEN)
    line = _one_clean_line(returncode, stderr, TOKEN, TOKEN.split(":")[1])
    assert line.startswith("utilibot: telegram: cannot start:")


async def test_an_unreachable_api(tmp_path: Path) -> None:
    base_url = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    config = write_config(tmp_path, f'[telegram]\napi_base_url = "{base_url}"\npolling_timeout = 1\n')
    returncode, stderr = await _run_bot(config, TOKEN)
    line = _one_clean_line(returncode, stderr, TOKEN, TOKEN.split(":")[1])
    assert line.startswith("utilibot: telegram: cannot start:")


def test_postgresql_unreachable_during_db_upgrade(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    url = f"postgresql+asyncpg://utilibot:Sup3r-secret-pw@127.0.0.1:{free_port()}/utilibot"
    result = utilibot("db", "upgrade", "-c", str(config), env={"UTILIBOT_DATABASE_URL": url})
    line = _one_clean_line(result.returncode, result.stderr, "Sup3r-secret-pw")
    assert "utilibot: " in line
