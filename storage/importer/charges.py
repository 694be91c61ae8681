"""Charges files: the account, billing period, service and amount (negative: a correction);
upserted by (account_id, period, service)."""

from __future__ import annotations

from storage.importer import values
from storage.importer.rows import Field, KindSpec, account_key_fields, field_of


def _charge_fields(providers: frozenset[str]) -> tuple[Field, ...]:
    return (
        *account_key_fields(providers),
        field_of("period", "period", values.period),
        field_of("service", "service", values.text, 100),
        field_of("amount", "amount", values.money),  # negative: a correction
    )


CHARGES = KindSpec(
    table="charges",
    required=("provider", "account", "period", "service", "amount"),
    fields=_charge_fields,
    key=("account_id", "period", "service"),
    update=("amount",),
)
