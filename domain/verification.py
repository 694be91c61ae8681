"""Account binding rules: matching the receipt fact, masking the holder's name, the lockout window."""

from __future__ import annotations

import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from domain.money import parse_amount
from domain.text import MAX_INPUT_CHARS, fold

LOCKOUT_PERIOD = timedelta(hours=24)


@dataclass(frozen=True)
class AccountFacts:
    """What the receipt says about an account; a stand-in is used when the account does not exist."""

    address: str
    holder: str
    last_payment_amount: Decimal | None


# Compared against when the account does not exist, so a miss costs the same work as a wrong fact.
UNKNOWN_ACCOUNT = AccountFacts(address="-", holder="-", last_payment_amount=None)

_UNIT_WORDS = re.compile(r"\b(кв|квартира|apt|apartment|flat|д|дом|будинок|буд|house|no)\b\.?|[室号#№]", re.I)


def _address_units(address: str) -> list[str]:
    """House/apartment tokens of an address: the parts that contain a digit, in order."""
    return [part for part in re.split(r"[,\s/]+", address) if any(ch.isdigit() for ch in part)]


def _same(left: str, right: str) -> bool:
    return hmac.compare_digest(left.encode(), right.encode())


def fact_matches(method: str, typed: str, facts: AccountFacts) -> bool:
    """Does what the resident typed match the account's fact for the provider's method?"""
    if len(typed) > MAX_INPUT_CHARS:
        return False
    if method == "last_payment":
        amount = parse_amount(typed)
        expected = facts.last_payment_amount
        return amount is not None and expected is not None and _same(str(amount), str(expected))
    if method == "surname":
        words = facts.holder.split()
        return bool(words) and bool(fold(typed)) and _same(fold(typed), fold(words[0]))
    if method == "address":
        # The apartment (or the house of a private house) as printed on the receipt: the last
        # number in the address; the whole address typed out is accepted too.
        units = _address_units(facts.address)
        answer = fold(_UNIT_WORDS.sub(" ", typed))
        if not answer:
            return False
        return (bool(units) and _same(answer, fold(units[-1]))) or _same(fold(typed), fold(facts.address))
    raise ValueError(f"unknown verification method {method!r}")


def expected_fact(method: str, facts: AccountFacts) -> str:
    """What a resident should type for ``method`` (shown by the demo next to its accounts)."""
    if method == "last_payment":
        return str(facts.last_payment_amount or "")
    if method == "surname":
        return facts.holder.split()[0] if facts.holder.split() else ""
    units = _address_units(facts.address)
    return units[-1] if units else facts.address


def mask_holder(holder: str) -> str:
    """'Шевченко Тарас Григорович' → 'Ш******о Т. Г.' — enough to recognise, not to learn."""
    words = holder.split()
    if not words:
        return ""
    surname = words[0]
    if len(surname) <= 2:
        masked = surname[0] + "*" * (len(surname) - 1)
    else:
        masked = surname[0] + "*" * (len(surname) - 2) + surname[-1]
    initials = " ".join(word[0] + "." for word in words[1:3])
    return f"{masked} {initials}".strip()


def locked_until(failures: Sequence[datetime], limit: int) -> datetime | None:
    """With failures (oldest first) from the last 24 h: when binding unlocks again, or None if open."""
    if len(failures) < limit:
        return None
    # The chat may try again when the oldest of the last ``limit`` failures leaves the 24-hour window.
    return failures[-limit] + LOCKOUT_PERIOD
