"""`utilibot demo`: prepare the demo database, print demo accounts, open the console chat."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from bot.app import Application
from bot.channels.console import ConsoleChannel
from domain.config import Config, parse_config
from domain.verification import AccountFacts, expected_fact
from storage.importer import import_csv
from storage.migrate import upgrade
from storage.models import Account

DEMO_DATA = resources.files("bot.demo")  # config.toml and the four CSV files, shipped as package data
CSV_KINDS = ("accounts", "meters", "charges", "payments")


def demo_config(folder: Path) -> Config:
    data = tomllib.loads((DEMO_DATA / "config.toml").read_text(encoding="utf-8"))
    data["database"] = {"url": f"sqlite+aiosqlite:///{(folder / 'utilibot.db').resolve()}"}
    return parse_config(data, source="demo config", environ={})


async def _load_demo_data(app: Application) -> None:
    for kind in CSV_KINDS:
        with resources.as_file(DEMO_DATA / f"{kind}.csv") as path:
            report = await import_csv(app.db, app.config, kind, path)  # type: ignore[arg-type]
        if not report.ok:
            raise RuntimeError(f"demo data {kind}.csv rejected rows: {report.errors}")


async def _demo_accounts(app: Application) -> list[Account]:
    async with app.db.unit_of_work() as uow:
        return list(await uow.accounts.all())


def _print_accounts(config: Config, accounts: list[Account]) -> None:
    print("Demo accounts — type the account number, then the fact its company asks for:")
    for account in accounts:
        provider = config.provider(account.provider_id)
        facts = AccountFacts(account.address, account.holder, account.last_payment_amount)
        fact = expected_fact(provider.verification, facts)
        label = {"last_payment": "last payment", "address": "apartment/house", "surname": "surname"}
        print(
            f"  {provider.localized_name('en'):<22} {account.number}  {label[provider.verification]}: {fact}"
        )
    print()


async def run_demo(folder: Path, language: str | None, reset: bool) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "utilibot.db"
    if reset:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
    app = Application(demo_config(folder))
    try:
        await upgrade(app.db)
        accounts = await _demo_accounts(app)
        if not accounts:
            await _load_demo_data(app)
            accounts = await _demo_accounts(app)
        print(f"Demo database: {database}")
        _print_accounts(app.config, accounts)
        await ConsoleChannel(app.engine, images_dir=folder / "images", language=language).run()
    finally:
        await app.db.dispose()
    return 0
