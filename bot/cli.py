"""The `utilibot` command line (also `python -m bot`): demo, run, check-config, import,
export-readings, viber, db, notices, requests, broadcast."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from bot.app import Application
from bot.cli_common import add_config_option
from bot.error_reporting import start_error_reporting
from bot.errors import StartupError
from bot.logging_setup import configure_logging, secrets_of
from bot.readings_export import COLUMNS as EXPORT_COLUMNS
from bot.roles import ROLE_CHOICES
from bot.version import utilibot_version
from domain.config import CONFIG_ENV, Config, ConfigError, enabled_channels, load_config
from domain.masking import Redactor

log = logging.getLogger("utilibot")

IMPORT_KINDS = ("accounts", "meters", "charges", "payments")  # the order rows depend on each other
MAX_ERRORS_SHOWN = 200


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="utilibot",
        description="Chatbot for utility companies' residents (Telegram, Viber, console demo).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--version", action="version", version=f"utilibot {utilibot_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="chat with the bot in this terminal on a local SQLite file with demo data (no token needed)",
        description="Creates (or reuses) DIR/utilibot.db with demo data for two providers, prints demo "
        "accounts with their verification facts, and opens a chat with the bot in the terminal. "
        "Buttons are shown as numbered choices: type the number to press one.",
    )
    demo.add_argument("--dir", default="utilibot-demo", type=Path, help="demo folder (default: %(default)s)")
    demo.add_argument(
        "--language", choices=["uk", "ru", "zh", "en"], help="your language (default: from $LANG)"
    )
    demo.add_argument("--reset", action="store_true", help="start from a fresh demo database")

    check = commands.add_parser(
        "check-config",
        help="validate a config file without connecting anything; exit 0 or 1",
        description="Checks everything that can be checked without the network: every key's type and "
        "range, reading windows, notice schedules, locales, operator ids, the shape of the tokens and "
        "every provider's payment QR codes on their worst case. Prints each problem with its key.",
    )
    add_config_option(check)

    run = commands.add_parser(
        "run",
        help="run the channels, the scheduler and delivery (or some of them: --role)",
        description="Starts every messenger channel whose token is set, the scheduler and outbox delivery "
        "in one process; --role web runs only the channels, --role worker only the scheduler and delivery "
        "(several processes on one PostgreSQL database). Stops cleanly on SIGINT/SIGTERM. "
        "An SQLite database is upgraded automatically.",
    )
    add_config_option(run)
    run.add_argument(
        "--role",
        choices=ROLE_CHOICES,
        default="all",
        help="web: the messenger channels only; worker: the scheduler and delivery only; "
        "all: both (default: %(default)s)",
    )

    importer = commands.add_parser(
        "import",
        help="import billing data from CSV files (idempotent upserts)",
        description="Imports billing CSV files (formats in the README). Bad rows are reported with their "
        "line number and reason while good rows are kept. Exit code 0 when every row was accepted, "
        "1 when some were rejected, 2 when a file could not be read at all.",
    )
    add_config_option(importer)
    for kind in IMPORT_KINDS:
        importer.add_argument(f"--{kind}", type=Path, metavar="FILE", help=f"{kind}.csv to import")

    export = commands.add_parser(
        "export-readings",
        help="export the readings of one period as CSV for billing",
        description="Writes the readings accepted inside the period's window: one row per meter and zone, "
        "the latest correction wins. Columns: " + ", ".join(EXPORT_COLUMNS) + ".",
    )
    add_config_option(export)
    export.add_argument("--period", required=True, metavar="YYYY-MM", help="the billing period")
    export.add_argument("--provider", metavar="ID", help="only this provider (default: all)")
    export.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="CSV file to write, or - for stdout"
    )

    viber = commands.add_parser("viber", help="Viber channel administration", description="Viber channel.")
    viber_commands = viber.add_subparsers(dest="viber_command", required=True, metavar="ACTION")
    set_webhook = viber_commands.add_parser(
        "set-webhook",
        help="register [viber] webhook_url with Viber",
        description="Registers [viber] webhook_url with Viber. Viber calls the URL back at once, so the bot "
        "(`utilibot run`) must already be running and reachable there; `utilibot run` also registers it.",
    )
    add_config_option(set_webhook)

    from bot.broadcast_cli import add_parsers as add_broadcast_parsers

    add_broadcast_parsers(commands)
    from bot.notices_cli import add_parsers as add_notices_parsers

    add_notices_parsers(commands)
    from bot.requests_cli import add_parsers as add_requests_parsers

    add_requests_parsers(commands)
    from bot.audit_cli import add_parsers as add_audit_parsers

    add_audit_parsers(commands)

    database = commands.add_parser("db", help="database schema management", description="Database schema.")
    db_commands = database.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_commands.add_parser(
        "upgrade",
        help="apply migrations up to the latest revision (idempotent)",
        description="Applies Alembic migrations up to the latest revision. Safe to run repeatedly.",
    )
    add_config_option(upgrade)
    return parser


def _check_config(args: argparse.Namespace) -> int:
    try:
        config = _config(args)
    except ConfigError as error:
        where = error.source or "config"
        print(f"{where}: {len(error.problems)} problem(s)", file=sys.stderr)
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    channels = ", ".join(enabled_channels(config)) or "no messenger (console only)"
    print(f"config OK: {len(config.providers)} provider(s); channels: {channels}")
    return 0


def _config(args: argparse.Namespace) -> Config:
    from scheduler.notices import notice_problems

    config = load_config(args.config)
    problems = notice_problems(config)
    if problems:
        raise ConfigError(*problems, source=str(args.config or os.environ.get(CONFIG_ENV)))
    return config


async def _run(config: Config, role: str = "all") -> None:
    app = Application(config, role=role)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await app.run(stop)


async def _import(config: Config, files: dict[str, Path]) -> int:
    from storage.database import Database
    from storage.importer import ImportFileError, import_csv
    from storage.migrate import upgrade

    db = Database(config.database.url)
    worst = 0
    try:
        if db.dialect == "sqlite":
            await upgrade(db)
        for kind in IMPORT_KINDS:
            path = files.get(kind)
            if path is None:
                continue
            try:
                size = path.stat().st_size
            except OSError as error:
                print(f"{path}: cannot read ({error.strerror})", file=sys.stderr)
                worst = 2
                continue
            with tqdm(total=size, unit="B", unit_scale=True, desc=kind, file=sys.stderr, disable=None) as bar:
                try:
                    report = await import_csv(db, config, kind, path, progress=bar.update)  # type: ignore[arg-type]
                except ImportFileError as error:
                    print(f"{path}: {error}", file=sys.stderr)
                    worst = 2
                    continue
            for warning in report.warnings:
                print(f"{path}: warning: {warning}", file=sys.stderr)
            for error in report.errors[:MAX_ERRORS_SHOWN]:
                print(f"{path}: line {error.line}: {error.reason}", file=sys.stderr)
            if report.rejected > MAX_ERRORS_SHOWN:
                hidden = report.rejected - MAX_ERRORS_SHOWN
                print(f"{path}: ... and {hidden} more rejected rows", file=sys.stderr)
            print(
                f"{kind}: {report.inserted} inserted, {report.updated} updated, "
                f"{report.rejected} rejected ({path})"
            )
            if report.rejected:
                worst = max(worst, 1)
    finally:
        await db.dispose()
    return worst


async def _export(config: Config, period: str, provider: str | None, output: str) -> int:
    from bot.readings_export import export_readings
    from domain.windows import parse_period
    from storage.database import Database

    try:
        parse_period(period)
    except ValueError as error:
        print(f"utilibot: --period: {error}", file=sys.stderr)
        return 2
    if provider is not None and provider not in {p.id for p in config.providers}:
        print(f"utilibot: --provider: unknown provider {provider!r}", file=sys.stderr)
        return 2
    db = Database(config.database.url)
    try:
        if output == "-":
            rows = await export_readings(db, config, period, sys.stdout, provider)
        else:
            temporary = Path(f"{output}.part")
            with temporary.open("w", encoding="utf-8", newline="") as handle:
                rows = await export_readings(db, config, period, handle, provider)
            temporary.replace(output)  # a reader never sees a half-written file
    finally:
        await db.dispose()
    print(f"exported {rows} readings for {period}", file=sys.stderr)
    return 0


async def _viber_set_webhook(config: Config) -> int:
    from bot.channels.viber import ViberAPIError, describe, register_webhook

    if not config.viber.token:
        print("utilibot: viber.token is not set (or UTILIBOT_VIBER_TOKEN)", file=sys.stderr)
        return 2
    try:
        answer = await register_webhook(config)
    except ViberAPIError as error:
        print(f"utilibot: viber: {error}", file=sys.stderr)
        return 2
    if answer.get("status") != 0:
        print(f"utilibot: viber: set_webhook failed: {describe(answer)}", file=sys.stderr)
        return 1
    events = ", ".join(answer.get("event_types") or [])
    print(f"viber webhook registered: {config.viber.webhook_url} (events: {events})")
    return 0


def _db_upgrade(config: Config) -> int:
    from storage.migrate import upgrade_sync

    before, after = upgrade_sync(config.database.url)
    if before == after:
        print(f"database is up to date (revision {after})")
    else:
        print(f"database upgraded from {before or 'empty'} to {after}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The demo shows the chat, not the migration log (unless --verbose).
    configure_logging(None, args.verbose, quiet_migrations=args.command == "demo" and not args.verbose)
    redact = Redactor()
    try:
        if args.command == "demo":
            from bot.demo.session import run_demo

            return asyncio.run(run_demo(args.dir, args.language or _language_from_env(), args.reset))
        if args.command == "check-config":
            return _check_config(args)
        config = _config(args)
        redact = Redactor(secrets_of(config))
        configure_logging(config, args.verbose)
        start_error_reporting(config, utilibot_version(), secrets_of(config))
        if args.command == "run":
            asyncio.run(_run(config, args.role))
            return 0
        if args.command == "import":
            files = {kind: getattr(args, kind) for kind in IMPORT_KINDS if getattr(args, kind)}
            if not files:
                print(
                    "nothing to import: give at least one of --accounts, --meters, --charges, --payments",
                    file=sys.stderr,
                )
                return 2
            return asyncio.run(_import(config, files))
        if args.command == "export-readings":
            return asyncio.run(_export(config, args.period, args.provider, args.output))
        if args.command == "notices":
            from bot.notices_cli import run_command as run_notices_command

            return run_notices_command(args, config)
        if args.command == "requests":
            from bot.requests_cli import run_command as run_requests_command

            return run_requests_command(args, config)
        if args.command == "audit":
            from bot.audit_cli import run_command as run_audit_command

            return run_audit_command(args, config)
        if args.command in ("broadcast", "broadcast-status"):
            from bot.broadcast_cli import run_command

            return run_command(args, config)
        if args.command == "viber":
            return asyncio.run(_viber_set_webhook(config))
        if args.command == "db":
            return _db_upgrade(config)
    except (ConfigError, StartupError) as error:
        print(f"utilibot: {redact(str(error))}", file=sys.stderr)
        if args.verbose and error.__cause__ is not None:
            log.error("the cause", exc_info=error.__cause__)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # an unreachable database, a broken file: one line, not a traceback
        print(f"utilibot: {redact(f'{type(error).__name__}: {error}')}", file=sys.stderr)
        if args.verbose:
            log.exception("the traceback")
        else:
            print("utilibot: run with --verbose for the traceback", file=sys.stderr)
        return 2
    return 2


def _language_from_env() -> str | None:
    from domain.i18n import resolve_locale

    tag = os.environ.get("LC_ALL") or os.environ.get("LC_MESSAGES") or os.environ.get("LANG")
    code = resolve_locale(tag, ["uk", "ru", "zh", "en"], "")
    return code or None
