"""Accounts files: provider, account number, address, holder, balance, due date and last payment;
upserted by (provider_id, number)."""

from __future__ import annotations

from storage.importer import values
from storage.importer.rows import Field, KindSpec, account_key_fields, field_of


def _account_fields(providers: frozenset[str]) -> tuple[Field, ...]:
    return (
        *account_key_fields(providers),
        field_of("address", "address", values.text, 300),
        field_of("holder", "holder", values.text, 200),
        field_of("balance", "balance", values.money),  # negative: paid in advance
        field_of("due_date", "due_date", values.date_value, optional=True),
        field_of("last_payment_amount", "last_payment_amount", values.money, values.POSITIVE, optional=True),
        field_of("last_payment_date", "last_payment_date", values.date_value, optional=True),
    )


ACCOUNTS = KindSpec(
    table="accounts",
    required=(
        "provider",
        "account",
        "address",
        "holder",
        "balance",
        "due_date",
        "last_payment_amount",
        "last_payment_date",
    ),
    fields=_account_fields,
    key=("provider_id", "number"),
    update=("address", "holder", "balance", "due_date", "last_payment_amount", "last_payment_date"),
    references_account=False,
)
