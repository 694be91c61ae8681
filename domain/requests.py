"""Residents' requests: the built-in kinds (their names are in handlers/requests_service.py), the
heating-application window, contact validation, statuses and the request number in the group."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

MAX_TEXT = 2000  # characters of one message of a request
MAX_PHOTOS = 5
REOPEN_DAYS = 7  # a closed request can be reopened by its resident this long after closing

NEW = "new"
TAKEN = "taken"
ANSWERED = "answered"
CLOSED = "closed"
STATUSES = (NEW, TAKEN, ANSWERED, CLOSED)

# What a kind asks of the resident: free text, a phone or e-mail, or a seasonal application.
FREE = "free"
CONTACT = "contact"
HEATING = "heating"


@dataclass(frozen=True)
class BuiltinKind:
    id: str
    answer_hours: int | None = None
    urgent: bool = False
    form: str = FREE


BUILTIN_KINDS = (
    BuiltinKind("charges", 24),
    BuiltinKind("no_heating", 8),
    BuiltinKind("no_hot_water", 8),
    BuiltinKind("leak", 2, urgent=True),
    BuiltinKind("problem", 24),
    BuiltinKind("heating", 72, form=HEATING),
    BuiltinKind("contact", 24, form=CONTACT),
    BuiltinKind("receipt", 24),
    BuiltinKind("other", 24),
)

REQUEST_NUMBER = re.compile(r"#(\d{1,9})\b")
PHONE = re.compile(r"\+?[0-9]{10,15}")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+")
MONTH_DAY = re.compile(r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")


def request_number(text: str) -> int | None:
    """The request number in the first line of the bot's post in the operators' group."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    found = REQUEST_NUMBER.search(first)
    return int(found.group(1)) if found else None


def normalize_contact(text: str) -> str | None:
    """A phone number (digits, optional +; spaces, dashes, brackets dropped) or an e-mail; None otherwise."""
    value = text.strip()
    if EMAIL.fullmatch(value):
        return value
    phone = re.sub(r"[\s()\-]", "", value)
    return phone if PHONE.fullmatch(phone) else None


def month_day(value: str, year: int) -> date:
    month, day = (int(part) for part in value.split("-"))
    return date(year, month, min(day, 28) if month == 2 and day > 28 else day)


@dataclass(frozen=True)
class ApplicationWindow:
    """Heating applications are accepted from ``opens`` to ``deadline`` (MM-DD, inclusive) each year."""

    opens: str
    deadline: str

    def accepts(self, moment: datetime, zone: ZoneInfo) -> bool:
        today = moment.astimezone(zone).date()
        return month_day(self.opens, today.year) <= today <= month_day(self.deadline, today.year)

    def next_opening(self, moment: datetime, zone: ZoneInfo) -> date:
        today = moment.astimezone(zone).date()
        this_year = month_day(self.opens, today.year)
        return this_year if today < this_year else month_day(self.opens, today.year + 1)
