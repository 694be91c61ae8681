"""Seed data for tests: accounts of two providers with meters, charges and payments (ORM inserts)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from storage.database import Database
from storage.models import Account, Charge, Meter, Payment

# account number → (provider, address, holder, balance, last payment)
ACCOUNTS = {
    "1001001": ("teplo", "вул. Шевченка, 12, кв. 45", "Шевченко Тарас Григорович", "1520.40", "1234.50"),
    "1001002": ("teplo", "просп. Перемоги, 3, кв. 7", "Коваль Олена Петрівна", "-150.00", "980.00"),
    "2002001": ("voda", "вул. Шевченка, 12, кв. 45", "Шевченко Тарас Григорович", "312.75", "290.10"),
    "2002002": ("voda", "вул. Садова, 5", "Бондар Ігор", "0.00", "120.00"),
}


async def seed(db: Database) -> dict[str, int]:
    """Insert the accounts above; returns account number → account id."""
    ids: dict[str, int] = {}
    async with db.unit_of_work() as uow:
        for number, (provider, address, holder, balance, last_payment) in ACCOUNTS.items():
            account = Account(
                provider_id=provider,
                number=number,
                address=address,
                holder=holder,
                balance=Decimal(balance),
                due_date=date(2026, 12, 15),
                last_payment_amount=Decimal(last_payment),
                last_payment_date=date(2026, 10, 10),
            )
            uow.session.add(account)
            await uow.session.flush()
            ids[number] = account.id
            for service, amount in (("Heating", "1200.00"), ("Hot water", "320.40")):
                uow.session.add(
                    Charge(account_id=account.id, period="2026-10", service=service, amount=Decimal(amount))
                )
            uow.session.add(
                Charge(account_id=account.id, period="2026-09", service="Heating", amount=Decimal("900.00"))
            )
            uow.session.add(
                Payment(
                    account_id=account.id,
                    paid_on=date(2026, 10, 10),
                    amount=Decimal(last_payment),
                    channel="bank",
                )
            )
            uow.session.add(
                Meter(
                    account_id=account.id,
                    serial=f"M{number}",
                    kind="hot_water",
                    zone="",
                    unit="m3",
                    last_value=Decimal("123.456"),
                    last_date=date(2026, 10, 22),
                    max_monthly_delta=Decimal("30"),
                    precision=3,
                    automatic=False,
                )
            )
            if number == "1001001":  # a flat with a day/night electricity meter and a smart heat meter
                for zone, value in (("day", "4567.8"), ("night", "1234.5")):
                    uow.session.add(
                        Meter(
                            account_id=account.id,
                            serial="E-77",
                            kind="electricity",
                            zone=zone,
                            unit="kWh",
                            last_value=Decimal(value),
                            last_date=date(2026, 10, 22),
                            max_monthly_delta=Decimal("500"),
                            precision=1,
                            automatic=False,
                        )
                    )
                uow.session.add(
                    Meter(
                        account_id=account.id,
                        serial="H-1",
                        kind="heat",
                        zone="",
                        unit="Gcal",
                        last_value=Decimal("10"),
                        last_date=date(2026, 10, 31),
                        max_monthly_delta=None,
                        precision=3,
                        automatic=True,
                    )
                )
        await uow.commit()
    return ids
