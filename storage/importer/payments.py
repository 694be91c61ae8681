"""Payments files: the account, date, amount and channel; by (account_id, paid_on, amount,
channel), an existing payment is left alone."""

from __future__ import annotations

from storage.importer import values
from storage.importer.rows import Field, KindSpec, account_key_fields, field_of


def _payment_fields(providers: frozenset[str]) -> tuple[Field, ...]:
    return (
        *account_key_fields(providers),
        field_of("date", "paid_on", values.date_value),
        field_of("amount", "amount", values.money, values.POSITIVE),
        field_of("channel", "channel", values.text, 100, False),
    )


PAYMENTS = KindSpec(
    table="payments",
    required=("provider", "account", "date", "amount", "channel"),
    fields=_payment_fields,
    key=("account_id", "paid_on", "amount", "channel"),
    update=(),
)
