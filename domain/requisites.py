"""Check digits of bank and tax requisites: Russian BIC, accounts, INN; Ukrainian EDRPOU, RNOKPP.

Pure functions that answer True/False; the config models turn a False into a message naming
the key. Each algorithm is the one its issuer publishes:

- RU account control key (Bank of Russia, "Порядок расчета контрольного ключа в номере лицевого
  счета"): the 23 digits "key prefix + 20-digit account" times the weights 7, 1, 3 repeated;
  the sum of the last digits of the products must end in 0. The prefix of a correspondent
  account is "0" + BIC digits 5-6; of an account in a credit institution, the BIC's last three
  digits ("0" + digits 5-6 for an account opened in a Bank of Russia division, BIC ending 000).
- RU BIC: 9 digits, beginning with the country code 04 (Bank of Russia BIC directory).
- RU INN (Federal Tax Service): 10 digits (organisation) with one check digit, 12 digits
  (individual) with two; each is (weighted sum mod 11) mod 10.
- UA EDRPOU (Ministry of Statistics of Ukraine): 8 digits, the last a check digit computed with
  weights 1..7 (7, 1..6 for codes from 30000000 to 60000000), recomputed with weights + 2 when
  the remainder mod 11 is 10, and 0 if it is 10 again.
- UA RNOKPP (the individual taxpayer's number, 10 digits): weights -1, 5, 7, 9, 4, 6, 10, 5, 7;
  check digit = (sum mod 11) mod 10.
"""

from __future__ import annotations

import re

_KEY_WEIGHTS = (7, 1, 3)
_INN10 = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN11 = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12 = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_RNOKPP = (-1, 5, 7, 9, 4, 6, 10, 5, 7)


def _weighted(digits: str, weights: tuple[int, ...]) -> int:
    return sum(int(digit) * weight for digit, weight in zip(digits, weights, strict=False))


def ru_bic_is_valid(bic: str) -> bool:
    """9 digits starting with 04, Russia's country code in the BIC."""
    return re.fullmatch(r"04\d{7}", bic) is not None


def _control_key_ok(prefix: str, account: str) -> bool:
    digits = prefix + account
    weights = _KEY_WEIGHTS * 8  # 24 >= 23 digits
    return sum(int(d) * w % 10 for d, w in zip(digits, weights, strict=False)) % 10 == 0


def ru_corresp_account_is_valid(account: str, bic: str) -> bool:
    """A 20-digit correspondent account whose control key matches the bank's BIC."""
    if not re.fullmatch(r"\d{20}", account) or not ru_bic_is_valid(bic):
        return False
    return _control_key_ok("0" + bic[4:6], account)


def ru_account_is_valid(account: str, bic: str) -> bool:
    """A 20-digit account in the bank with this BIC, its control key (9th digit) matching."""
    if not re.fullmatch(r"\d{20}", account) or not ru_bic_is_valid(bic):
        return False
    prefix = "0" + bic[4:6] if bic.endswith("000") else bic[-3:]
    return _control_key_ok(prefix, account)


def inn_is_valid(inn: str) -> bool:
    """A Russian INN: 10 digits (organisation) or 12 digits (individual) with matching check digits."""
    if re.fullmatch(r"\d{10}", inn):
        return _weighted(inn, _INN10) % 11 % 10 == int(inn[9])
    if re.fullmatch(r"\d{12}", inn):
        return _weighted(inn, _INN11) % 11 % 10 == int(inn[10]) and _weighted(inn, _INN12) % 11 % 10 == int(
            inn[11]
        )
    return False


def edrpou_is_valid(code: str) -> bool:
    """A Ukrainian EDRPOU code: 8 digits, the last the Ministry of Statistics check digit."""
    if not re.fullmatch(r"\d{8}", code):
        return False
    weights = (7, 1, 2, 3, 4, 5, 6) if 30000000 <= int(code) <= 60000000 else (1, 2, 3, 4, 5, 6, 7)
    remainder = _weighted(code, weights) % 11
    if remainder == 10:
        remainder = _weighted(code, tuple(weight + 2 for weight in weights)) % 11
        if remainder == 10:
            remainder = 0
    return remainder == int(code[7])


def rnokpp_is_valid(code: str) -> bool:
    """A Ukrainian individual taxpayer's number (RNOKPP): 10 digits, the last a check digit."""
    if not re.fullmatch(r"\d{10}", code):
        return False
    return _weighted(code, _RNOKPP) % 11 % 10 == int(code[9])
