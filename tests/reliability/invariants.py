"""A database invariant checker for the reliability suite: a snapshot of counts, fingerprints and the
violations of the schema's invariants, and a comparison of two snapshots.

    before = await snapshot(db)
    ... hostile input ...
    after = await snapshot(db)
    assert_consistent(before, after, may_change={"chats", "verification_attempts"})

Violations are looked for with plain SQL that runs on SQLite and PostgreSQL alike, so the checker
also works on a database another process (an import, a killed confirmation) left behind.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from handlers.engine import build_router
from storage.database import Database
from storage.models import Base

TABLES = tuple(table.name for table in Base.metadata.sorted_tables)
BILLING_TABLES = ("accounts", "meters", "charges", "payments")
CHANNELS = {"telegram", "viber", "console"}
INBOX_STATUSES = {"pending", "done", "failed"}
OUTBOX_STATUSES = {"pending", "sending", "sent", "failed", "cancelled"}
LOCALES = {"uk", "ru", "zh", "en"}
KNOWN_STATES = {"", *build_router().steps}
# What each conversation step keeps in state_data (a step without it could not go on).
STATE_KEYS = {
    "bind:number": {"provider"},
    "bind:fact": {"provider", "number"},
    "rd:value": {"account", "period", "meters", "index", "values"},
    "rd:unusual": {"account", "period", "meters", "index", "values", "pending"},
    "rd:summary": {"account", "period", "meters", "index", "values", "nonce"},
}

# Each query returns rows that break an invariant (at most a few are shown).
VIOLATIONS: dict[str, str] = {
    "binding without its chat or account": """
        SELECT b.chat_id, b.account_id FROM bindings b
        LEFT JOIN chats c ON c.id = b.chat_id LEFT JOIN accounts a ON a.id = b.account_id
        WHERE c.id IS NULL OR a.id IS NULL""",
    "reading without its meter": """
        SELECT r.id, r.meter_id FROM readings r LEFT JOIN meters m ON m.id = r.meter_id WHERE m.id IS NULL""",
    "reading of a chat that does not exist": """
        SELECT r.id, r.chat_id FROM readings r LEFT JOIN chats c ON c.id = r.chat_id
        WHERE r.chat_id IS NOT NULL AND c.id IS NULL""",
    "one receipt over several periods, chats or accounts": """
        SELECT r.receipt FROM readings r JOIN meters m ON m.id = r.meter_id GROUP BY r.receipt
        HAVING COUNT(DISTINCT r.period) > 1 OR COUNT(DISTINCT COALESCE(r.chat_id, -1)) > 1
            OR COUNT(DISTINCT m.account_id) > 1""",
    "a meter twice in one receipt": """
        SELECT receipt, meter_id FROM readings GROUP BY receipt, meter_id HAVING COUNT(*) > 1""",
    "half a receipt (fewer readings than the account's manual meters)": """
        SELECT r.receipt FROM readings r JOIN meters m ON m.id = r.meter_id GROUP BY r.receipt
        HAVING COUNT(*) < (SELECT COUNT(*) FROM meters m2 WHERE m2.account_id = MIN(m.account_id)
                           AND m2.automatic = FALSE)""",
    "meter without its account": """
        SELECT m.id FROM meters m LEFT JOIN accounts a ON a.id = m.account_id WHERE a.id IS NULL""",
    "charge or payment without its account": """
        SELECT 'charge', c.id FROM charges c LEFT JOIN accounts a ON a.id = c.account_id
        WHERE a.id IS NULL
        UNION ALL
        SELECT 'payment', p.id FROM payments p LEFT JOIN accounts a ON a.id = p.account_id
        WHERE a.id IS NULL""",
    "incomplete account row": """
        SELECT id, provider_id, number FROM accounts
        WHERE provider_id IS NULL OR provider_id = '' OR number IS NULL OR number = '' OR address IS NULL
           OR address = '' OR holder IS NULL OR holder = '' OR balance IS NULL OR updated_at IS NULL""",
    "incomplete meter row": """
        SELECT id FROM meters WHERE serial IS NULL OR serial = '' OR kind IS NULL OR unit IS NULL
           OR precision IS NULL OR automatic IS NULL OR zone IS NULL""",
    "current account not bound to the chat": """
        SELECT c.id, c.current_account_id FROM chats c WHERE c.current_account_id IS NOT NULL
        AND NOT EXISTS (
            SELECT 1 FROM bindings b WHERE b.chat_id = c.id AND b.account_id = c.current_account_id
        )""",
    "verification attempt of a chat that does not exist": """
        SELECT v.id FROM verification_attempts v LEFT JOIN chats c ON c.id = v.chat_id WHERE c.id IS NULL""",
    "duplicate inbox key": """
        SELECT channel, update_key FROM inbox GROUP BY channel, update_key HAVING COUNT(*) > 1""",
    "inbox row handled without a time, or a time without being handled": """
        SELECT id, status FROM inbox
        WHERE (status = 'pending' AND handled_at IS NOT NULL)
           OR (status <> 'pending' AND handled_at IS NULL)""",
    "outbox row of a chat that does not exist": """
        SELECT o.id FROM outbox o LEFT JOIN chats c ON c.id = o.chat_id WHERE c.id IS NULL""",
    "outbox row sent without a time": """
        SELECT id FROM outbox WHERE status = 'sent' AND sent_at IS NULL""",
    "broadcast counters above its total": """
        SELECT id FROM broadcasts WHERE sent_count + failed_count + cancelled_count > total_count""",
}


@dataclass(frozen=True)
class Snapshot:
    counts: dict[str, int]
    fingerprints: dict[str, str]  # billing tables: a hash of every row
    bindings: frozenset[tuple[int, int]]
    readings: frozenset[tuple[Any, ...]]
    inbox_statuses: dict[str, int]
    problems: tuple[str, ...] = field(default=())

    def changed(self, other: Snapshot) -> set[str]:
        """Tables whose row count differs."""
        return {name for name in TABLES if self.counts.get(name) != other.counts.get(name)}


def _json_problem(raw: Any, what: str) -> str | None:
    if raw is None:
        return f"{what} is NULL"
    if isinstance(raw, (dict, list)):
        value = raw
    else:
        try:
            value = json.loads(raw)
        except (TypeError, ValueError) as error:
            return f"{what} is not JSON: {error}"
    if not isinstance(value, dict):
        return f"{what} is not a JSON object: {value!r:.60}"
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError) as error:
        return f"{what} cannot be written back: {error}"
    return None


def _chat_problems(rows: Iterable[Any]) -> list[str]:
    problems = []
    for row in rows:
        label = f"chat {row.id} ({row.channel}:{row.chat_key})"
        if row.channel not in CHANNELS:
            problems.append(f"{label}: unknown channel")
        if not row.chat_key or len(row.chat_key) > 64:
            problems.append(f"{label}: bad chat_key")
        if row.locale is not None and row.locale not in LOCALES:
            problems.append(f"{label}: unknown locale {row.locale!r}")
        if row.state not in KNOWN_STATES:
            problems.append(f"{label}: unknown state {row.state!r}")
        for column in ("state_data", "notifications"):
            problem = _json_problem(getattr(row, column), f"{label}: {column}")
            if problem:
                problems.append(problem)
        if problems or row.state not in STATE_KEYS:
            continue
        data = row.state_data if isinstance(row.state_data, dict) else json.loads(row.state_data)
        missing = STATE_KEYS[row.state] - set(data)
        if missing:
            problems.append(f"{label}: state {row.state!r} without {sorted(missing)}")
    return problems


async def snapshot(db: Database) -> Snapshot:
    """Counts, billing fingerprints, bindings, readings and every invariant violation, in one transaction."""
    async with db.engine.connect() as connection:
        counts = {
            name: int((await connection.execute(text(f'SELECT COUNT(*) FROM "{name}"'))).scalar_one())
            for name in TABLES
        }
        fingerprints = {}
        for name in BILLING_TABLES:
            columns = [
                column.name for column in Base.metadata.tables[name].columns if column.name != "updated_at"
            ]
            rows = await connection.execute(text(f"SELECT {', '.join(columns)} FROM {name} ORDER BY id"))
            digest = hashlib.sha256()
            for row in rows:
                digest.update(repr(tuple(str(value) for value in row)).encode("utf-8", "surrogatepass"))
            fingerprints[name] = digest.hexdigest()
        bindings = frozenset(
            (int(chat), int(account))
            for chat, account in await connection.execute(text("SELECT chat_id, account_id FROM bindings"))
        )
        readings = frozenset(
            tuple(str(value) for value in row)
            for row in await connection.execute(
                text("SELECT id, meter_id, period, value, chat_id, receipt FROM readings")
            )
        )
        inbox_statuses = {
            str(status): int(count)
            for status, count in await connection.execute(
                text("SELECT status, COUNT(*) FROM inbox GROUP BY status")
            )
        }
        problems: list[str] = []
        for name, query in VIOLATIONS.items():
            found = (await connection.execute(text(query))).fetchmany(3)
            if found:
                problems.append(f"{name}: {[tuple(row) for row in found]}")
        for status in set(inbox_statuses) - INBOX_STATUSES:
            problems.append(f"inbox status {status!r} is not one of {sorted(INBOX_STATUSES)}")
        outbox = await connection.execute(text("SELECT DISTINCT status FROM outbox"))
        problems += [
            f"outbox status {status!r} is not one of {sorted(OUTBOX_STATUSES)}"
            for (status,) in outbox
            if status not in OUTBOX_STATUSES
        ]
        chats = await connection.execute(
            text(
                "SELECT id, channel, chat_key, locale, state, CAST(state_data AS TEXT) AS state_data,"
                " CAST(notifications AS TEXT) AS notifications FROM chats"
            )
        )
        problems += _chat_problems(chats)
    return Snapshot(counts, fingerprints, bindings, readings, inbox_statuses, tuple(problems))


def differences(
    before: Snapshot,
    after: Snapshot,
    *,
    may_change: Iterable[str] = (),
    billing_may_change: bool = False,
) -> list[str]:
    """What is wrong with ``after`` given ``before``: violations, and changes nobody was allowed to make.

    ``may_change`` names the tables whose row count may differ (e.g. "chats" when new residents write,
    "verification_attempts" at the fact step, "bindings" or "readings" when a flow legitimately stores).
    Billing data never changes through residents' input unless ``billing_may_change``.
    """
    allowed = set(may_change)
    found = [f"after: {problem}" for problem in after.problems]
    for name in sorted(before.changed(after) - allowed):
        found.append(f"{name}: {before.counts[name]} rows before, {after.counts[name]} after")
    if not billing_may_change:
        for name in BILLING_TABLES:
            if before.fingerprints[name] != after.fingerprints[name]:
                found.append(f"{name}: billing data changed")
    if "bindings" not in allowed and before.bindings != after.bindings:
        added, removed = after.bindings - before.bindings, before.bindings - after.bindings
        found.append(f"bindings changed: added {sorted(added)[:5]}, removed {sorted(removed)[:5]}")
    if "readings" not in allowed and before.readings != after.readings:
        found.append(f"readings changed: {len(before.readings)} → {len(after.readings)}")
    return found


def assert_consistent(before: Snapshot, after: Snapshot, **allowed: Any) -> None:
    problems = differences(before, after, **allowed)
    assert not problems, "database invariants broken:\n  " + "\n  ".join(problems)


async def assert_sound(db: Database) -> Snapshot:
    """Just the invariants of the database as it is now (no comparison)."""
    current = await snapshot(db)
    assert not current.problems, "database invariants broken:\n  " + "\n  ".join(current.problems)
    return current
