"""`utilibot check-config` and `--version`, as someone who deploys the bot uses them: every bad key
named on its own line with exit status 1, a good config accepted with exit status 0."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import ROOT, utilibot, write_config


def test_the_example_config_passes() -> None:
    result = utilibot("check-config", "-c", str(ROOT / "config.example.toml"))
    assert result.returncode == 0, result.stderr
    assert "config OK: 2 provider(s)" in result.stdout


def test_each_bad_key_is_named_on_its_own_line(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        extra='[telegram]\ntoken = "bot123456:ABC def"\noperators = [-1001234]\n',
        replace=('timezone = "Europe/Kyiv"', 'timezone = "Europe/Kyif"'),
    )
    result = utilibot("check-config", "-c", str(config))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0].endswith("problem(s)")
    named = [line.strip().split(":")[0] for line in lines[1:]]
    assert "telegram.token" in named
    assert "telegram.operators" in named
    assert any("does not look like a Bot API token" in line for line in lines)
    assert any("operators are Telegram user ids" in line for line in lines)
    assert any("timezone" in line and "Europe/Kyif" in line for line in lines)
    assert "Traceback" not in result.stderr
    assert "ABC def" not in result.stderr  # a token, even a malformed one, is never printed


def test_a_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    result = utilibot("check-config", "-c", str(tmp_path / "nowhere.toml"))
    assert result.returncode == 1
    assert "cannot read config file" in result.stderr
    assert "Traceback" not in result.stderr


def test_version() -> None:
    result = utilibot("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("utilibot 0.")
