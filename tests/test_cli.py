"""The `utilibot` command line as an operator uses it: help, config errors, import, export, db, run."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.telegram_api import TOKEN, fake_telegram

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "bot" / "demo"


def utilibot(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key != "UTILIBOT_CONFIG"}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=60,
    )


async def start_run(
    config: Path,
    token: str = TOKEN,
    stdout: int = asyncio.subprocess.PIPE,
    stderr: int = asyncio.subprocess.STDOUT,
) -> asyncio.subprocess.Process:
    """`utilibot run -c CONFIG` as a child process with the Telegram token in its environment."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "-c",
        str(config),
        env={**os.environ, "UTILIBOT_TELEGRAM_TOKEN": token},
        stdout=stdout,
        stderr=stderr,
        cwd=ROOT,
    )


def write_config(folder: Path, extra: str = "", replace: tuple[str, str] = ("", "")) -> Path:
    config = folder / "config.toml"
    demo = (DEMO / "config.toml").read_text(encoding="utf-8").replace(*replace)
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{folder / "bot.db"}"\n{extra}\n{demo}', encoding="utf-8"
    )
    return config


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["demo"],
        ["run"],
        ["import"],
        ["export-readings"],
        ["viber"],
        ["viber", "set-webhook"],
        ["db"],
        ["db", "upgrade"],
        ["audit"],
    ],
)
def test_every_command_has_help(command):
    result = utilibot(*command, "--help")
    assert result.returncode == 0 and "usage: utilibot" in result.stdout


def test_config_errors_name_the_key(tmp_path):
    config = write_config(
        tmp_path, replace=("max_verification_failures = 5", "max_verification_failures = 0")
    )
    result = utilibot("db", "upgrade", "-c", str(config))
    assert result.returncode == 2 and "bot.max_verification_failures" in result.stderr
    assert "no config file" in utilibot("db", "upgrade").stderr
    result = utilibot("db", "upgrade", env={"UTILIBOT_CONFIG": str(tmp_path / "nope.toml")})
    assert result.returncode == 2 and "cannot read config file" in result.stderr


def test_run_without_a_channel_says_what_to_do(tmp_path):
    result = utilibot("run", "-c", str(write_config(tmp_path)))
    assert result.returncode == 2 and "no messenger channel is configured" in result.stderr


def test_db_import_and_export(tmp_path):
    config = str(write_config(tmp_path))
    assert "upgraded from empty" in utilibot("db", "upgrade", "-c", config).stdout
    assert "up to date" in utilibot("db", "upgrade", "-c", config).stdout

    files = [f"--{kind}" for kind in ("accounts", "meters", "charges", "payments")]
    args = [
        arg
        for kind, flag in zip(("accounts", "meters", "charges", "payments"), files, strict=True)
        for arg in (flag, str(DEMO / f"{kind}.csv"))
    ]
    result = utilibot("import", "-c", config, *args)
    assert result.returncode == 0, result.stderr
    assert "accounts: 7 inserted, 0 updated, 0 rejected" in result.stdout
    again = utilibot("import", "-c", config, *args)
    assert "accounts: 0 inserted" in again.stdout and again.returncode == 0

    mixed = tmp_path / "mixed.csv"
    mixed.write_text(
        "provider,account,address,holder,balance,due_date,last_payment_amount,last_payment_date\n"
        "teplo,5550001,вул. Нова 1,Іваненко Іван,10.00,2026-12-15,,\n"
        "nobody,5550002,вул. Нова 2,Петренко Петро,10.00,2026-12-15,,\n"
        "teplo,5550003,вул. Нова 3,Сидоренко С,12,3,4,2026-12-15,,\n",
        encoding="utf-8",
    )
    result = utilibot("import", "-c", config, "--accounts", str(mixed))
    assert result.returncode == 1
    assert "line 3:" in result.stderr and "line 4:" in result.stderr
    assert "accounts: 1 inserted, 0 updated, 2 rejected" in result.stdout
    missing = utilibot("import", "-c", config, "--payments", str(tmp_path / "missing.csv"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr

    export = utilibot("export-readings", "-c", config, "--period", "2026-11", "-o", "-")
    assert export.returncode == 0
    assert export.stdout.splitlines() == [
        "provider,account,meter_id,zone,value,previous_value,submitted_at,channel"
    ]
    assert utilibot("export-readings", "-c", config, "--period", "2026-13", "-o", "-").returncode == 2
    assert (
        utilibot(
            "export-readings", "-c", config, "--period", "2026-11", "--provider", "x", "-o", "-"
        ).returncode
        == 2
    )
    out = tmp_path / "readings.csv"
    assert utilibot("export-readings", "-c", config, "--period", "2026-11", "-o", str(out)).returncode == 0
    assert out.read_text(encoding="utf-8").startswith("provider,account")


async def test_run_answers_on_telegram_and_stops_on_sigterm(tmp_path):
    async with fake_telegram() as api:
        config = write_config(tmp_path, f'[telegram]\napi_base_url = "{api.base_url}"\npolling_timeout = 1\n')
        process = await start_run(config)
        try:
            update = api.push_message(77, "/start", "en")
            await api.wait_confirmed(update, timeout=30)
            await api.wait_for(lambda: api.sent_to(77), timeout=15)
            assert "Hello" in api.sent_to(77)[0].text
        finally:
            process.send_signal(signal.SIGTERM)
            output = (await asyncio.wait_for(process.communicate(), timeout=20))[0].decode()
        assert process.returncode == 0, output
        assert "utilibot stopped" in output
        assert TOKEN not in output and TOKEN.split(":")[1] not in output  # the token is never logged
