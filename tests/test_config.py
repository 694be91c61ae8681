"""Config loading: every wrong or missing key is named in the error; env overrides secrets."""

from __future__ import annotations

import copy

import pytest

from domain.config import ConfigError, load_config, parse_config
from tests.conftest import TEST_CONFIG


def broken(**changes):
    data = copy.deepcopy(TEST_CONFIG)
    for path, value in changes.items():
        target = data
        keys = path.split("__")
        for key in keys[:-1]:
            target = target[int(key)] if key.isdigit() else target.setdefault(key, {})
        target[keys[-1]] = value
    return data


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"bot__default_locale": "de"}, "bot"),
        ({"bot__max_verification_failures": 0}, "bot.max_verification_failures"),
        ({"bot__colour": "red"}, "bot.colour: unknown key"),
        ({"database__url": "mysql://x"}, "database.url"),
        ({"telegram__mode": "carrier-pigeon"}, "telegram.mode"),
        ({"providers__0__timezone": "Mars/Olympus"}, "providers[0].timezone: unknown time zone"),
        ({"providers__1__verification": "dna"}, "providers[1].verification"),
        ({"providers__0__reading_window": {"from_day": 0, "to_day": 5}}, "providers[0].reading_window"),
        ({"providers__0__id": "Bad Id!"}, "providers[0].id"),
        ({"providers__0__name": {}}, "providers[0].name"),
        ({"providers__0__currency": "hryvnia"}, "providers[0].currency"),
    ],
)
def test_bad_values_name_the_key(changes, named):
    with pytest.raises(ConfigError) as error:
        parse_config(broken(**changes), environ={})
    assert named in str(error.value)


def test_missing_providers_is_named():
    with pytest.raises(ConfigError, match="providers: required key is missing"):
        parse_config({"bot": {}}, environ={})


def test_duplicate_provider_ids():
    data = copy.deepcopy(TEST_CONFIG)
    data["providers"][1]["id"] = "teplo"
    with pytest.raises(ConfigError, match="duplicate"):
        parse_config(data, environ={})


def test_webhook_mode_needs_url_and_secret():
    data = broken(telegram__token="1:x", telegram__mode="webhook")
    with pytest.raises(ConfigError, match="webhook_url"):
        parse_config(data, environ={})


def test_viber_needs_an_https_webhook():
    with pytest.raises(ConfigError, match="viber: webhook_url: required"):
        parse_config(broken(viber__token="t"), environ={})
    with pytest.raises(ConfigError, match="only calls https"):
        parse_config(broken(viber__token="t", viber__webhook_url="http://bot.example/viber"), environ={})
    url = "https://bot.example/viber"
    assert parse_config(broken(viber__token="t", viber__webhook_url=url), environ={}).viber.webhook_url == url


def test_env_overrides_secrets():
    config = parse_config(
        TEST_CONFIG,
        environ={"UTILIBOT_TELEGRAM_TOKEN": "123:abc", "UTILIBOT_DATABASE_URL": "sqlite+aiosqlite:///x.db"},
    )
    assert config.telegram.token == "123:abc"
    assert config.database.url == "sqlite+aiosqlite:///x.db"


def test_file_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("UTILIBOT_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="UTILIBOT_CONFIG"):
        load_config(None)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[bot\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    good = tmp_path / "good.toml"
    good.write_text('[[providers]]\nid = "p"\nname = { en = "P" }\n', encoding="utf-8")
    monkeypatch.setenv("UTILIBOT_CONFIG", str(good))
    assert load_config(None).providers[0].id == "p"


def test_example_config_is_valid():
    from pathlib import Path

    config = load_config(Path(__file__).resolve().parent.parent / "config.example.toml")
    assert {p.id for p in config.providers} >= {"teplo"}
