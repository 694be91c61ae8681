"""`utilibot requests export -c CFG [--since YYYY-MM-DD] [--status S] -o FILE`: residents' requests
as a formula-safe CSV (a cell starting with = + - @, a tab or a carriage return gets a leading
apostrophe, OWASP's rule, so a spreadsheet never runs it)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import TextIO

from bot.cli_common import CliError, add_config_option, open_database
from domain.config import Config
from domain.requests import STATUSES
from storage.database import Database

COLUMNS = [
    "id",
    "created_at",
    "provider",
    "kind",
    "status",
    "account",
    "channel",
    "taken_by",
    "first_answer_at",
    "closed_at",
    "text",
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """The value as a spreadsheet shows it, never as a formula."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def _moment(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value is not None else ""


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `requests export` on the main CLI's subcommands."""
    requests = commands.add_parser(
        "requests", help="residents' requests: export them as CSV", description="Residents' requests."
    )
    actions = requests.add_subparsers(dest="requests_command", required=True, metavar="ACTION")
    export = actions.add_parser(
        "export",
        help="write the requests as a formula-safe CSV",
        description="One row per request: its kind, status, account, who took it, when it was first "
        "answered and closed, and its first message.",
    )
    add_config_option(export)
    export.add_argument("--since", type=date.fromisoformat, metavar="YYYY-MM-DD", help="filed on or after")
    export.add_argument("--status", choices=STATUSES, help="only requests in this status")
    export.add_argument("-o", "--output", required=True, metavar="FILE", help="the CSV file ('-': stdout)")


async def export_requests(db: Database, out: TextIO, since: date | None, status: str | None) -> int:
    """Write the CSV; returns the number of requests."""
    start = datetime.combine(since, time(), UTC) if since is not None else None
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    async with db.unit_of_work() as uow:
        rows = await uow.requests.export(start, status)
    for row in rows:
        request = row.request
        cells = [
            str(request.id),
            _moment(request.created_at),
            request.provider_id,
            request.kind,
            request.status,
            row.account_number,
            row.channel,
            request.taken_by,
            _moment(request.first_answer_at),
            _moment(request.closed_at),
            row.first_text,
        ]
        writer.writerow([safe_cell(cell) for cell in cells])
    return len(rows)


async def _export(config: Config, args: argparse.Namespace) -> int:
    db = await open_database(config)
    try:
        if args.output == "-":
            count = await export_requests(db, sys.stdout, args.since, args.status)
        else:
            temporary = Path(f"{args.output}.part")
            with temporary.open("w", encoding="utf-8", newline="") as handle:
                count = await export_requests(db, handle, args.since, args.status)
            temporary.replace(args.output)  # a reader never sees a half-written file
    finally:
        await db.dispose()
    print(f"exported {count} requests", file=sys.stderr)
    return 0


def run_command(args: argparse.Namespace, config: Config) -> int:
    """Run `requests export` (the main CLI calls this for `requests`)."""
    try:
        return asyncio.run(_export(config, args))
    except CliError as error:
        print(f"utilibot: {error}", file=sys.stderr)
        return 2
