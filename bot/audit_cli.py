"""`utilibot audit -c CFG [--since YYYY-MM-DD] [--action A]`: print the audit trail, one line per
entry (time in UTC, actor, action, subject, details), oldest first."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, date, datetime, time
from typing import TextIO

from bot.cli_common import CliError, add_config_option, open_database
from domain.audit import AuditAction
from domain.config import Config
from storage.database import Database


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `audit` on the main CLI's subcommands."""
    audit = commands.add_parser(
        "audit",
        help="print the audit trail (operators' actions, paused accounts, disowned bindings)",
        description="The audit trail, oldest first: when (UTC), who, what, on which subject, details. "
        "Entries are kept for [bot] audit_days.",
    )
    add_config_option(audit)
    audit.add_argument("--since", type=date.fromisoformat, metavar="YYYY-MM-DD", help="on or after this day")
    audit.add_argument("--action", choices=[action.value for action in AuditAction], help="only this action")


async def print_audit(db: Database, out: TextIO, since: date | None, action: str | None) -> int:
    """Print the entries; returns how many."""
    start = datetime.combine(since, time(), UTC) if since is not None else None
    async with db.unit_of_work() as uow:
        records = await uow.audit.since(start, action)
    for record in records:
        details = json.dumps(record.details, ensure_ascii=False, sort_keys=True) if record.details else ""
        moment = record.created_at.astimezone(UTC).isoformat(timespec="seconds")
        print("\t".join([moment, record.actor, record.action, record.subject, details]).rstrip(), file=out)
    return len(records)


async def _print(config: Config, args: argparse.Namespace) -> int:
    db = await open_database(config)
    try:
        count = await print_audit(db, sys.stdout, args.since, args.action)
    finally:
        await db.dispose()
    print(f"{count} audit entries", file=sys.stderr)
    return 0


def run_command(args: argparse.Namespace, config: Config) -> int:
    """Run `audit` (the main CLI calls this)."""
    try:
        return asyncio.run(_print(config, args))
    except CliError as error:
        print(f"utilibot: {error}", file=sys.stderr)
        return 2
