"""`utilibot notices list` and `utilibot notices run NAME --period YYYY-MM`: reminders for operators.

``list`` shows every reminder the config defines — ``{provider}:window-opens``, ``:window-closes``,
``:payment-due`` and one per config notice — with its schedule, its next run and its last run
(provider local time), the period of that run and how many messages that period's runs queued.

``run`` runs one reminder for one period now, with the same once-only keys as the scheduler: whoever
already has it is skipped, so running it twice queues nothing new. It only queues; ``utilibot run``
delivers (and holds reminders during quiet hours until they end).

Also runnable before it is wired into the main CLI: ``python -m bot.notices_cli notices list -c FILE``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from bot.cli_common import CliError, add_config_option, open_database
from domain.config import Config, ConfigError, load_config
from scheduler.notices import JobSpec, job_specs, next_run, notice_problems
from scheduler.reminders import ReminderError, ReminderSettings, release_time, resolve, run_named
from storage.models import NoticeRun

COLUMNS = ("NAME", "SCHEDULE", "NEXT RUN", "LAST RUN", "PERIOD", "QUEUED")


@dataclass(frozen=True)
class NoticeRow:
    """One line of `notices list`."""

    name: str
    schedule: str
    next_run: str
    last_run: str
    period: str
    queued: str

    def cells(self) -> tuple[str, ...]:
        return (self.name, self.schedule, self.next_run, self.last_run, self.period, self.queued)


# --- argument parsing ---------------------------------------------------------------------------


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `notices list` and `notices run` on the main CLI's subcommands."""
    notices = commands.add_parser(
        "notices",
        help="scheduled reminders and provider notices: list them, or run one now",
        description="Reminders (reading window, payment due) and provider notices from the config.",
    )
    actions = notices.add_subparsers(dest="notices_command", required=True, metavar="ACTION")
    listing = actions.add_parser(
        "list",
        help="each reminder: schedule, next run, last run and how many it queued",
        description="Every reminder with its schedule, next and last run (provider local time), the "
        "period of the last run and the messages queued for that period.",
    )
    run = actions.add_parser(
        "run",
        help="run one reminder now for a period (nobody gets it twice)",
        description="Queues one reminder for one period now, skipping everyone who already has it. "
        "`utilibot run` delivers the messages (after quiet hours).",
    )
    run.add_argument("name", metavar="NAME", help="e.g. teplo:window-opens or teplo:fraud-warning")
    run.add_argument("--period", required=True, metavar="YYYY-MM", help="the month it is for")
    for parser in (listing, run):
        add_config_option(parser)


def run_command(args: argparse.Namespace, config: Config, out: TextIO = sys.stdout) -> int:
    """Run `notices list` or `notices run` (the main CLI calls this for `notices`)."""
    now = datetime.now(UTC)
    try:
        problems = notice_problems(config)
        if problems:
            raise CliError("config: " + "; ".join(problems))
        if args.notices_command == "list":
            return asyncio.run(list_notices(config, now, out))
        return asyncio.run(run_notice(config, args.name, args.period, now, out))
    except (CliError, ReminderError) as error:
        print(f"utilibot: {error}", file=sys.stderr)
        return 2


# --- the commands -------------------------------------------------------------------------------


def _moment(moment: datetime | None, config: Config, spec: JobSpec) -> str:
    if moment is None:
        return "—"
    zone = config.provider(spec.provider_id).tz
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def notice_rows(config: Config, runs: dict[str, NoticeRun], now: datetime) -> list[NoticeRow]:
    settings = ReminderSettings.from_config(config)
    rows: list[NoticeRow] = []
    for spec in job_specs(config, settings):
        for name in spec.names:
            run = runs.get(name)
            last = "—"
            if run is not None:
                last = _moment(run.started_at, config, spec)
                if run.finished_at is None:
                    last += " (running or interrupted)"
            rows.append(
                NoticeRow(
                    name=name,
                    schedule=spec.description,
                    next_run=_moment(next_run(spec, name, config, now), config, spec),
                    last_run=last,
                    period=run.period if run else "—",
                    queued=str(run.queued_count) if run else "—",
                )
            )
    return rows


def format_table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


async def list_notices(config: Config, now: datetime, out: TextIO) -> int:
    db = await open_database(config)
    try:
        async with db.unit_of_work() as uow:
            runs = await uow.reminders.latest_runs()
    finally:
        await db.dispose()
    rows = notice_rows(config, runs, now)
    print(format_table([COLUMNS, *(row.cells() for row in rows)]), file=out)
    return 0


async def run_notice(config: Config, name: str, period: str, now: datetime, out: TextIO) -> int:
    settings = ReminderSettings.from_config(config)
    provider, _, _ = resolve(config, name)
    if not settings.channels:
        raise CliError("no channel has a token ([telegram] / [viber] token): nothing could be delivered")
    db = await open_database(config)
    try:
        result = await run_named(db, config, name, period, now, settings)
    finally:
        await db.dispose()
    if result.skipped:
        print(f"{name} {period}: nothing queued: {result.skipped}", file=out)
        return 0
    print(f"{name} {period}: queued {result.queued} message(s); `utilibot run` delivers them", file=out)
    release = release_time(now, provider.tz, settings.quiet_hours)
    if result.queued and release > now:
        held = release.astimezone(provider.tz).strftime("%Y-%m-%d %H:%M %Z")
        print(f"quiet hours: they go out from {held}", file=out)
    return 0


# --- standalone entry point ---------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="utilibot", description="Scheduled reminders and notices.")
    add_parsers(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"utilibot: {error}", file=sys.stderr)
        return 2
    return run_command(args, config)


if __name__ == "__main__":
    sys.exit(main())
