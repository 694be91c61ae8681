"""`utilibot broadcast` and `utilibot broadcast-status`: operator broadcasts from the command line.

``broadcast`` reads the text file (one text for everyone, or one per language: see
domain/broadcast.py), prints the exact recipient count, asks for confirmation unless
``--yes``, queues the broadcast (one transaction: after that nothing can be lost), then follows
it with a progress bar until it is finished, or returns at once with ``--detach``. While
following it delivers the outbox itself, unless another process (``utilibot run``) holds the
delivery role, in which case it only shows that process's progress. Interrupted (Ctrl-C, a crash,
kill -9)? Nothing is lost: ``utilibot broadcast-status ID --follow`` (or a running ``utilibot
run``) carries on where it stopped.

Also runnable before it is wired into the main CLI: ``python -m bot.broadcast_cli broadcast ...``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from bot.channels.senders import build_senders
from bot.cli_common import CliError, add_config_option, open_database
from domain.broadcast import BroadcastTextError, BroadcastTexts, parse_texts
from domain.config import Config, ConfigError, enabled_channels, load_config
from domain.quiet_hours import quiet_hours_from_config
from domain.waiting import pause
from handlers.broadcasting import (
    MAX_ADDRESS,
    AudienceError,
    AudienceFilters,
    build_audience,
    cancel_broadcast,
    count_recipients,
    find_twin,
    queue_broadcast,
)
from scheduler.delivery import build_delivery
from storage.database import Database
from storage.models import Broadcast
from storage.repositories.broadcasts import Audience, progress_of

FOLLOW_INTERVAL = 0.5
RECENT = 10


@dataclass(frozen=True)
class BroadcastOptions:
    text_file: Path
    provider: str | None = None
    address_contains: str | None = None
    debtors: bool = False
    min_debt: str | None = None
    locale: str | None = None
    emergency: bool = False
    at: str | None = None
    dry_run: bool = False
    yes: bool = False
    detach: bool = False


# --- argument parsing ---------------------------------------------------------------------------


def add_parsers(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register `broadcast` and `broadcast-status` on the main CLI's subcommands."""
    send = commands.add_parser(
        "broadcast",
        help="send a message to many residents (with a recipient count and confirmation first)",
        description="Queues a broadcast to the chosen audience and follows it until it is delivered. "
        "Filters combine (AND); provider, address and debt apply to one and the same bound account. "
        "The text file holds one text for everyone, or one per language: lines 'uk: ...' or a "
        "line '[uk]' start a language's text.",
    )
    add_config_option(send)
    send.add_argument("--text-file", required=True, type=Path, metavar="FILE", help="the message (UTF-8)")
    send.add_argument("--provider", metavar="ID", help="only chats bound to an account of this provider")
    send.add_argument("--address-contains", metavar="TEXT", help="only accounts whose address contains TEXT")
    send.add_argument("--debtors", action="store_true", help="only accounts that owe more than --min-debt")
    send.add_argument("--min-debt", metavar="AMOUNT", help="with --debtors: owe more than AMOUNT (default 0)")
    send.add_argument("--locale", metavar="LANG", help="only chats using this language")
    send.add_argument("--emergency", action="store_true", help="goes first and ignores quiet hours")
    send.add_argument("--at", metavar="ISO-TIME", help="send from this moment (default: now; bot time zone)")
    send.add_argument("--dry-run", action="store_true", help="only print the recipient count")
    send.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    send.add_argument("--detach", action="store_true", help="queue and return; `utilibot run` delivers it")

    status = commands.add_parser(
        "broadcast-status",
        help="recent broadcasts, or one broadcast's figures (--follow, --cancel)",
        description="Without ID: the recent broadcasts. With ID: its figures; --follow shows a progress "
        "bar until it is finished (delivering in this process when no other one does); --cancel stops it.",
    )
    add_config_option(status)
    status.add_argument("id", nargs="?", type=int, help="broadcast number")
    status.add_argument("--follow", action="store_true", help="show progress until it is finished")
    status.add_argument("--cancel", action="store_true", help="cancel it (messages not yet sent are dropped)")


def options_from(args: argparse.Namespace) -> BroadcastOptions:
    return BroadcastOptions(
        text_file=args.text_file,
        provider=args.provider,
        address_contains=args.address_contains,
        debtors=args.debtors,
        min_debt=args.min_debt,
        locale=args.locale,
        emergency=args.emergency,
        at=args.at,
        dry_run=args.dry_run,
        yes=args.yes,
        detach=args.detach,
    )


def run_command(args: argparse.Namespace, config: Config) -> int:
    """Run `broadcast` or `broadcast-status` (the main CLI calls this for those two commands)."""
    try:
        if args.command == "broadcast":
            return asyncio.run(broadcast(config, options_from(args)))
        return asyncio.run(broadcast_status(config, args.id, follow=args.follow, cancel=args.cancel))
    except CliError as error:
        print(f"utilibot: {error}", file=sys.stderr)
        return 2


# --- building the broadcast ---------------------------------------------------------------------


def read_texts(config: Config, path: Path) -> BroadcastTexts:
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CliError(f"{path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise CliError(f"{path}: not UTF-8 text") from None
    try:
        return parse_texts(raw, config.bot.locales, config.bot.default_locale)
    except BroadcastTextError as error:
        raise CliError(f"{path}: {error}") from None


def audience_from(config: Config, options: BroadcastOptions) -> Audience:
    if not enabled_channels(config):
        raise CliError("no messenger channel is configured: set [telegram] token (or [viber] token)")
    min_debt: Decimal | None = None
    if options.debtors or options.min_debt is not None:
        try:
            min_debt = Decimal(options.min_debt.replace(",", ".")) if options.min_debt else Decimal(0)
        except InvalidOperation:
            raise CliError(f"--min-debt: not an amount: {options.min_debt!r}") from None
    filters = AudienceFilters(
        provider=options.provider, address=options.address_contains, min_debt=min_debt, locale=options.locale
    )
    try:
        return build_audience(config, filters)
    except AudienceError as error:
        raise CliError(_audience_problem(config, error)) from None


def _audience_problem(config: Config, error: AudienceError) -> str:
    if error.problem == "unknown_provider":
        return f"--provider: unknown provider {error.value!r}"
    if error.problem == "unknown_locale":
        return f"--locale: {error.value!r} is not one of {config.bot.locales}"
    return f"--address-contains: longer than {MAX_ADDRESS} characters"


def parse_moment(config: Config, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"--at: not an ISO date and time: {value!r} (e.g. 2026-12-01T10:00)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=config.bot_zone)


def describe_audience(audience: Audience) -> str:
    parts = [f"provider {audience.provider}"] if audience.provider else []
    if audience.address:
        parts.append(f"address contains {audience.address!r}")
    if audience.min_debt is not None:
        parts.append(f"owing more than {audience.min_debt}")
    if audience.locale:
        parts.append(f"language {audience.locale}")
    return (", ".join(parts) or "everyone") + f" ({', '.join(audience.channels)})"


def _creator() -> str:
    try:
        user = getpass.getuser()
    except Exception:
        user = "?"
    return f"cli:{user}@{socket.gethostname()}"


# --- the commands -------------------------------------------------------------------------------


async def broadcast(
    config: Config,
    options: BroadcastOptions,
    *,
    ask: Callable[[str], str] = input,
    out: TextIO = sys.stdout,
    clock: Callable[[], datetime] | None = None,
) -> int:
    """The `broadcast` command; returns the exit code."""
    texts = read_texts(config, options.text_file)
    audience = audience_from(config, options)
    scheduled_at = parse_moment(config, options.at)
    db = await open_database(config)
    try:
        async with db.unit_of_work() as uow:
            count = await count_recipients(uow, audience)
            twin = await find_twin(uow, texts, audience, options.emergency)
        print(f"Recipients: {count} — {describe_audience(audience)}", file=out)
        print(f"Languages: {', '.join(texts.texts)} (others get {texts.default_locale})", file=out)
        if options.dry_run:
            return 0
        if count == 0:
            print("Nobody to send to; nothing queued.", file=out)
            return 1
        if twin is not None:
            print(
                f"The same broadcast is already running: #{twin.id}. Follow it with "
                f"`utilibot broadcast-status {twin.id} --follow`, or cancel it with --cancel first.",
                file=out,
            )
            return 1
        if not options.yes and not _confirmed(ask, count, options.emergency):
            print("Cancelled; nothing queued.", file=out)
            return 1
        now = (clock or _now)()
        broadcast_id, total = await _queue(db, texts, audience, options.emergency, scheduled_at, now)
        print(f"Broadcast #{broadcast_id} queued for {total} recipients.", file=out, flush=True)
        _warn_quiet_hours(config, options.emergency, scheduled_at or now, out)
        if options.detach:
            print(f"Follow it with `utilibot broadcast-status {broadcast_id} --follow`.", file=out)
            return 0
        return await follow_broadcast(config, db, broadcast_id, out=out)
    finally:
        await db.dispose()


def _now() -> datetime:
    from scheduler.delivery import utc_now

    return utc_now()


def _confirmed(ask: Callable[[str], str], count: int, emergency: bool) -> bool:
    kind = "EMERGENCY broadcast" if emergency else "broadcast"
    try:
        answer = ask(f"Send this {kind} to {count} recipients? [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


async def _queue(
    db: Database,
    texts: BroadcastTexts,
    audience: Audience,
    emergency: bool,
    scheduled_at: datetime | None,
    now: datetime,
) -> tuple[int, int]:
    async with db.unit_of_work() as uow:
        queued = await queue_broadcast(
            uow,
            texts=texts,
            audience=audience,
            emergency=emergency,
            created_by=_creator(),
            now=now,
            scheduled_at=scheduled_at,
        )
        await uow.commit()
    return queued.id, queued.total


def _warn_quiet_hours(config: Config, emergency: bool, moment: datetime, out: TextIO) -> None:
    hours = quiet_hours_from_config(config)
    if not emergency and hours is not None and hours.contains(moment, config.bot_zone):
        print(
            f"Quiet hours ({hours.describe()}, {config.bot.timezone}): "
            "common broadcasts wait until they end.",
            file=out,
        )


async def broadcast_status(
    config: Config,
    broadcast_id: int | None,
    *,
    follow: bool = False,
    cancel: bool = False,
    out: TextIO = sys.stdout,
) -> int:
    """The `broadcast-status` command; returns the exit code."""
    if broadcast_id is None and (follow or cancel):
        raise CliError("--follow and --cancel need a broadcast number")
    db = await open_database(config)
    try:
        if broadcast_id is None:
            await _print_recent(db, out)
            return 0
        if cancel:
            return await _cancel(db, broadcast_id, out)
        async with db.unit_of_work() as uow:
            broadcast = await uow.broadcasts.get(broadcast_id)
        if broadcast is None:
            raise CliError(f"no broadcast #{broadcast_id}")
        _print_details(broadcast, out)
        if follow and not progress_of(broadcast).finished:
            return await follow_broadcast(config, db, broadcast_id, out=out)
        return 0
    finally:
        await db.dispose()


async def _print_recent(db: Database, out: TextIO) -> None:
    async with db.unit_of_work() as uow:
        broadcasts = await uow.broadcasts.recent(RECENT)
    if not broadcasts:
        print("No broadcasts yet.", file=out)
        return
    print(
        f"{'#':>5}  {'status':<10} {'created (UTC)':<16} {'sent':>8} {'failed':>7} {'left':>8} {'total':>8}",
        file=out,
    )
    for broadcast in broadcasts:
        p = progress_of(broadcast)
        flag = " emergency" if p.emergency else ""
        created = f"{p.created_at:%Y-%m-%d %H:%M}"
        print(
            f"{p.id:>5}  {p.status:<10} {created:<16} {p.sent:>8} {p.failed:>7} {p.remaining:>8} "
            f"{p.total:>8}{flag}",
            file=out,
        )


def _print_details(broadcast: Broadcast, out: TextIO) -> None:
    p = progress_of(broadcast)
    audience = describe_audience(Audience.from_json(broadcast.audience))
    lines = [
        f"Broadcast #{p.id}: {p.status}{' (emergency)' if p.emergency else ''}, by {broadcast.created_by}",
        f"Audience: {audience}",
        f"Sent: {p.sent}  Failed: {p.failed}  Cancelled: {p.cancelled}  Remaining: {p.remaining}  "
        f"Total: {p.total}",
        f"Created: {p.created_at:%Y-%m-%d %H:%M:%S} UTC",
    ]
    if broadcast.scheduled_at is not None:
        lines.append(f"Scheduled: {broadcast.scheduled_at:%Y-%m-%d %H:%M:%S} UTC")
    if p.finished_at is not None:
        lines.append(f"Finished: {p.finished_at:%Y-%m-%d %H:%M:%S} UTC")
    for locale, text in p.texts.items():
        preview = text.replace("\n", " ")
        lines.append(f"[{locale}] {preview[:70]}{'…' if len(preview) > 70 else ''}")
    print("\n".join(lines), file=out)


async def _cancel(db: Database, broadcast_id: int, out: TextIO) -> int:
    async with db.unit_of_work() as uow:
        cancelled = await cancel_broadcast(uow, broadcast_id, _creator(), _now())
        await uow.commit()
    if cancelled is None:
        print(f"Broadcast #{broadcast_id} is not running; nothing to cancel.", file=out)
        return 1
    print(f"Broadcast #{broadcast_id} cancelled: {cancelled} message(s) will not be sent.", file=out)
    return 0


# --- following a broadcast ----------------------------------------------------------------------


async def follow_broadcast(
    config: Config, db: Database, broadcast_id: int, *, out: TextIO = sys.stdout
) -> int:
    """A progress bar until the broadcast is finished; delivers in this process when nobody else does.

    Ctrl-C (or SIGTERM) stops following; the broadcast itself carries on with the next delivery process.
    """
    stop = asyncio.Event()
    interrupted = asyncio.Event()
    _on_signals(interrupted)
    loop = build_delivery(config, db, build_senders(config))
    delivery = asyncio.create_task(loop.run(stop))
    bar = tqdm(
        unit="msg", desc=f"broadcast #{broadcast_id}", file=sys.stderr, disable=None, dynamic_ncols=True
    )
    broadcast: Broadcast | None = None
    try:
        broadcast = await _watch(db, broadcast_id, bar, loop.delivering, delivery, interrupted, out)
    finally:
        stop.set()
        await asyncio.gather(delivery, return_exceptions=True)
        bar.close()
    if broadcast is None or not progress_of(broadcast).finished:
        print(
            f"Stopped following. Broadcast #{broadcast_id} carries on when a delivery process runs "
            f"(`utilibot run`, or `utilibot broadcast-status {broadcast_id} --follow`).",
            file=out,
        )
        return 130 if interrupted.is_set() else 1
    p = progress_of(broadcast)
    print(
        f"Broadcast #{p.id} {p.status}: sent {p.sent}, failed {p.failed}, not sent {p.cancelled}.", file=out
    )
    return 0 if p.status == "done" else 1


def _on_signals(interrupted: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread, or not POSIX
            loop.add_signal_handler(sig, interrupted.set)


async def _watch(
    db: Database,
    broadcast_id: int,
    bar: tqdm,
    delivering: asyncio.Event,
    delivery: asyncio.Task[None],
    interrupted: asyncio.Event,
    out: TextIO,
) -> Broadcast | None:
    announced = False
    polls = 0
    broadcast: Broadcast | None = None
    while not interrupted.is_set():
        async with db.unit_of_work() as uow:
            broadcast = await uow.broadcasts.get(broadcast_id)
        if broadcast is None:
            raise CliError(f"no broadcast #{broadcast_id}")
        _update_bar(bar, broadcast)
        if progress_of(broadcast).finished:
            return broadcast
        polls += 1
        if not announced and polls >= 3 and not delivering.is_set():
            print("Another process is delivering (e.g. `utilibot run`); showing its progress.", file=out)
            announced = True
        if delivery.done() and delivery.exception() is not None:
            raise delivery.exception()  # type: ignore[misc]
        await pause(FOLLOW_INTERVAL, interrupted)
    return broadcast


def _update_bar(bar: tqdm, broadcast: Broadcast) -> None:
    p = progress_of(broadcast)
    bar.total = p.total
    bar.n = p.sent + p.failed + p.cancelled
    bar.set_postfix(sent=p.sent, failed=p.failed, status=p.status, refresh=False)
    bar.refresh()


# --- standalone entry point ---------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="utilibot", description="Operator broadcasts.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_parsers(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiogram").setLevel(logging.WARNING)
    try:
        config = load_config(args.config)
    except ConfigError as error:
        print(f"utilibot: {error}", file=sys.stderr)
        return 2
    try:
        return run_command(args, config)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
