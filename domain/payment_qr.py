"""Payment QR payloads, byte-exact to the standards, and payment-link templates.

A provider's ``payment_qr`` is one of three typed models, told apart by ``standard``:

``nbu`` — Ukrainian credit transfer QR of the National Bank of Ukraine ("UCT").
    Followed: the NBU rules for the QR code of credit transfers (format versions 002 and 003;
    format 003 comes with NBU Board resolution No. 97 of 19.08.2025), as implemented by the
    public generators of Ukrainian banks' and fintechs' apps. Rows are joined by LF (no
    trailing LF), encoded as UTF-8, then Base64URL **without padding** and appended to the
    host of the version: 002 → ``https://bank.gov.ua/qr/``, 003 → ``https://qr.bank.gov.ua/``.
    The symbol (``NBU_SYMBOL``): format 002 in versions 10-15 (the 2021 edition allows up to
    version 15, the 2025 edition 10-20), format 003 in versions 10-20 (2025 edition); error
    correction M, or L where M does not fit (both editions name M and L; the 2025 edition also
    allows Q, which is not used: it only makes the symbol denser); the hryvnia sign in a white
    circle in the centre, mandatory for 002 and 003 in the 2025 edition.

    Format 002, 13 rows::

        1 BCD              service tag
        2 002              format version
        3 1                encoding: 1 = UTF-8
        4 UCT              function: Ukrainian Credit Transfer
        5 (empty)          BIC, reserved
        6 recipient name   <= 70 characters
        7 IBAN             UA + 27 digits (29 characters), mod-97 checked at config load
        8 UAH1234.50       currency + amount with 2 decimals; empty when nothing is owed
        9 recipient code   EDRPOU (8 digits) or RNOKPP (10 digits)
       10 (empty)          purpose category, reserved in 002
       11 (empty)          reference, reserved in 002
       12 purpose          <= 140 characters, after filling the template
       13 display text     <= 70 characters, may be empty

    Format 003, 17 rows: rows 1-9 as above with ``003`` in row 2 (row 5 is the recipient's
    unique identifier, reserved, empty), then 10 category/purpose ``CCCC/PPPP`` (ISO 20022
    codes, mandatory in 003), 11 reference (empty), 12 purpose (<= 420), 13 display (<= 140),
    14 field-lock mask, 15 valid-until, 16 created-at, 17 signature (all four empty).

    The limits of 002 are the conservative ones that every banking app accepts. Text rows are
    limited to the NBU character repertoire (what Windows-1251 can encode, no control
    characters), so a row can never break the row structure. The decoded structure may not
    exceed 507 bytes.

``st00012`` — GOST R 56042-2014 (Russian payment QR for bills).
    ``ST0001`` (format) + ``2`` (UTF-8) then ``|``-separated ``Key=Value`` pairs: the
    mandatory block Name (<= 160), PersonalAcc (20 digits), BankName (<= 45), BIC (9 digits),
    CorrespAcc (20 digits, or ``0`` when the bank has none) in that order, then PayeeINN
    (10 or 12 digits), PersAcc (the resident's account number; the standard sets no length),
    Sum (kopecks as an integer, <= 18 digits, omitted when nothing is owed), Purpose (<= 210)
    and PaymPeriod (``MM.YYYY``). No value may contain the separator ``|``. The service
    header and the mandatory block together take at most 300 bytes (the standard's data limit;
    the optional fields use the rest of the symbol). Level M. BIC (04 + 7 digits), the
    correspondent account and the account (control keys with the BIC) and the INN (check
    digits) are verified at config load (domain/requisites.py).

``url`` — the QR encodes the provider's first payment link, filled in for the account.
    No standard rules this symbol; level M as for the payment QR codes.

``purpose`` is one template or one per language (``{ uk = "...", ru = "..." }``: the resident's
language, else English, else the first). Templates (``purpose`` of the QR models, ``url`` of
payment links) know three placeholders:
``{account}``, ``{amount}`` (``1234.50``, empty when nothing is owed) and ``{period}``.
In a purpose the period reads ``MM.YYYY`` (as printed on bills); in a link it is the
machine form ``YYYY-MM``, and every value of a link is URL-encoded. Any other placeholder,
a format spec or a conversion is a config error. Money is Decimal, never float.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from string import Formatter
from typing import Annotated, ClassVar, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from domain.requisites import (
    edrpou_is_valid,
    inn_is_valid,
    rnokpp_is_valid,
    ru_account_is_valid,
    ru_bic_is_valid,
    ru_corresp_account_is_valid,
)

CENT = Decimal("0.01")
PLACEHOLDERS = ("account", "amount", "period")

# Sources of the limits below (the item numbers of the NBU rules are not quoted: the rules'
# text was not at hand, only its published summaries and public implementations of it):
#   NBU-2021 — Правила формування та використання QR-коду для здійснення кредитових переказів
#              (format 002);
#   NBU-2025 — the new edition, постанова Правління НБУ № 97 від 19.08.2025, in force
#              01.11.2025 (format 003; also governs the graphic image of 001-003);
#   GOST     — ГОСТ Р 56042-2014, section 5 (ST00012: header, mandatory block, Table 1 and 2).
NBU_HOSTS: dict[str, str] = {
    "002": "https://bank.gov.ua/qr/",  # NBU-2021: prefix of the Base64URL form of 002
    "003": "https://qr.bank.gov.ua/",  # NBU-2025: prefix of format 003
}
NBU_LIMITS: dict[str, dict[str, int]] = {
    # characters: recipient name, purpose, display text (NBU-2021 for 002, NBU-2025 for 003)
    "002": {"name": 70, "purpose": 140, "display": 70},
    "003": {"name": 140, "purpose": 420, "display": 140},
}
NBU_MAX_AMOUNT = Decimal("999999999.99")  # NBU: "UAH" + up to 9 integer digits, "." and 2 decimals
NBU_MAX_BYTES = 507  # NBU-2025: the data structure (rows joined by LF, UTF-8) before Base64URL

GOST_HEADER = "ST00012"  # GOST 5.2: "ST" + format version "0001" + encoding "2" (UTF-8)
GOST_SEPARATOR = "|"  # GOST 5.2: the separator, absent from every value
GOST_LIMITS = {"name": 160, "bank_name": 45, "purpose": 210}  # GOST Table 1 (Name, BankName), 2 (Purpose)
GOST_MAX_SUM_DIGITS = 18  # GOST Table 2: Sum in kopecks, up to 18 digits
GOST_MAX_MANDATORY_BYTES = 300  # GOST 5.2: header + mandatory block at most 300 bytes
GOST_MAX_AMOUNT = Decimal("9999999999999999.99")  # the largest 18-digit Sum, in roubles


@dataclass(frozen=True)
class SymbolRule:
    """What a standard allows of the QR symbol itself: error correction levels (in order of
    preference: the first at which the data fits within ``max_version`` is used), the range of
    symbol versions, and the hryvnia sign in the centre."""

    levels: tuple[str, ...]
    min_version: int
    max_version: int
    hryvnia_sign: bool
    source: str


NBU_SYMBOL: dict[str, SymbolRule] = {
    # NBU-2021: version at most 15 (77 x 77 modules), level M or L; NBU-2025: versions 10-20,
    # the hryvnia sign in a white circle in the centre mandatory for 002 and 003. 002 meets both.
    "002": SymbolRule(("M", "L"), 10, 15, True, "NBU rules, format 002"),
    # NBU-2025: versions 10-20, level Q, M or L (Q not used: a denser symbol for no gain).
    "003": SymbolRule(("M", "L"), 10, 20, True, "NBU rules 2025, format 003"),
}
GOST_SYMBOL = SymbolRule(("M",), 1, 40, False, "GOST R 56042-2014")  # GOST: QR code, level M
URL_SYMBOL = SymbolRule(("M",), 1, 40, False, "payment link")  # no standard: level M like the others

# Values used to check a template's length at config load: a long account number, a large
# amount and a period, so that a template that cannot fit real values is rejected early.
_SAMPLE_PURPOSE_VALUES = {"account": "0" * 20, "amount": "99999.99", "period": "12.2025"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- templates -------------------------------------------------------------------------------


def _parse_template(template: str) -> list[tuple[str, str | None]]:
    """Split a template into (literal, placeholder) pairs; ValueError on anything unknown."""
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as error:
        raise ValueError(f"not a valid template ({error}); write a literal brace as {{{{ or }}}}") from None
    pieces: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in parsed:
        if field is not None and (field not in PLACEHOLDERS or spec or conversion):
            suffix = (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            shown = "{" + field + suffix + "}"
            allowed = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
            raise ValueError(f"unknown placeholder {shown}; use {allowed}")
        pieces.append((literal, field))
    return pieces


def _fill(template: str, values: Mapping[str, str], encode: Callable[[str], str] | None = None) -> str:
    out: list[str] = []
    for literal, field in _parse_template(template):
        out.append(literal)
        if field is not None:
            out.append(encode(values[field]) if encode else values[field])
    return "".join(out)


def check_link_template(template: str) -> str:
    """Validate a payment-link URL template at config load; returns it unchanged."""
    _parse_template(template)
    if not template.startswith(("https://", "http://")):
        raise ValueError("must start with https:// (or http://)")
    return template


def _period_parts(period: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{4})-(\d{2})", period)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"period must be YYYY-MM, got {period!r}")
    return int(match.group(1)), int(match.group(2))


def _bill_period(period: str) -> str:
    """'2025-03' → '03.2025' (GOST PaymPeriod, and the purpose text)."""
    year, month = _period_parts(period)
    return f"{month:02d}.{year:04d}"


def _amount_due(amount: Decimal | None) -> Decimal | None:
    """The amount to pay, to the kopeck; None when nothing is owed."""
    if amount is None:
        return None
    if isinstance(amount, float) or not isinstance(amount, Decimal | int):
        raise TypeError(f"amount must be a Decimal, got {type(amount).__name__}")
    amount = Decimal(amount)
    if not amount.is_finite():
        raise ValueError(f"amount must be a finite number, got {amount}")
    if amount <= 0:
        return None
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def _purpose_values(account: str, due: Decimal | None, period: str) -> dict[str, str]:
    return {"account": account, "amount": "" if due is None else str(due), "period": _bill_period(period)}


def filled_purpose(
    qr: NbuQr | St00012Qr, account: str, amount: Decimal | None, period: str, locale: str | None = None
) -> str:
    """The payment purpose as it appears in the QR code, for showing the requisites as text."""
    return _fill(qr.purpose_for(locale), _purpose_values(account, _amount_due(amount), period))


def _check_purpose(value: str | dict[str, str], check: Callable[[str], None]) -> str | dict[str, str]:
    """Validate a purpose template, or one per language ({ uk = "...", en = "..." }), with
    ``check`` on the template filled in with a 20-digit account number."""
    templates = {"": value} if isinstance(value, str) else value
    if not templates:
        raise ValueError("needs at least one purpose, e.g. { uk = 'Опалення, о/р {account}' }")
    checked: dict[str, str] = {}
    for locale, template in templates.items():
        where = f"{locale}: " if locale else ""
        try:
            checked[locale] = _nonblank(template)
            check(_fill(checked[locale], _SAMPLE_PURPOSE_VALUES))
        except ValueError as error:
            raise ValueError(f"{where}{error}, when filled in with a 20-digit account number") from None
    return checked[""] if isinstance(value, str) else checked


class _Purpose:
    """The ``purpose`` template of a payment QR model (each declares the field in its place, so
    that it is validated after the fields its check depends on): one text, or one per language."""

    def purpose_for(self, locale: str | None) -> str:
        """The template for ``locale``, else the English one, else the first (as pick_localized)."""
        texts: str | dict[str, str] = self.purpose  # type: ignore[attr-defined]
        if isinstance(texts, str):
            return texts
        return (locale and texts.get(locale)) or texts.get("en") or next(iter(texts.values()))


def fill_link(template: str, account: str, amount: Decimal | None, period: str) -> str:
    """Fill a payment-link URL template; every value is URL-encoded (``quote(value, safe="")``)."""
    due = _amount_due(amount)
    _period_parts(period)
    values = {"account": account, "amount": "" if due is None else str(due), "period": period}
    return _fill(template, values, encode=lambda value: quote(value, safe=""))


# --- IBAN ------------------------------------------------------------------------------------


def iban_is_valid(iban: str) -> bool:
    """ISO 13616 check: country letters, two check digits, mod-97 of the rearranged number is 1."""
    compact = re.sub(r"\s+", "", iban).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", compact):
        return False
    rearranged = compact[4:] + compact[:4]
    digits = "".join(str(int(char, 36)) for char in rearranged)
    return int(digits) % 97 == 1


# --- shared checks ---------------------------------------------------------------------------


def _no_control(value: str) -> None:
    match = _CONTROL.search(value)
    if match:
        raise ValueError(f"contains a control character U+{ord(match.group()):04X} (e.g. a line break)")


def _check_nbu_text(value: str, limit: int) -> None:
    _no_control(value)
    for char in value:
        try:
            char.encode("cp1251")
        except UnicodeEncodeError:
            raise ValueError(
                f"character {char!r} is outside the NBU character set (Cyrillic, Latin, digits, "
                "punctuation: what Windows-1251 can encode)"
            ) from None
    if len(value) > limit:
        raise ValueError(f"longer than {limit} characters ({len(value)})")


def _check_gost_text(value: str, limit: int | None) -> None:
    _no_control(value)
    if GOST_SEPARATOR in value:
        raise ValueError(f"must not contain '{GOST_SEPARATOR}' (the GOST R 56042 field separator)")
    if limit is not None and len(value) > limit:
        raise ValueError(f"longer than {limit} characters ({len(value)})")


def _nonblank(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


def _version(info: ValidationInfo) -> str:
    return info.data.get("version", "002")


# --- models ----------------------------------------------------------------------------------


class NbuQr(_Purpose, _Strict):
    """Ukrainian NBU credit-transfer QR (format 002 or 003)."""

    standard: Literal["nbu"] = "nbu"
    version: Literal["002", "003"] = "002"
    name: str
    iban: str
    code: str
    purpose: str | dict[str, str]
    display: str = ""
    category_purpose: Annotated[str, Field(validate_default=True)] = ""

    max_amount: ClassVar[Decimal] = NBU_MAX_AMOUNT

    @property
    def symbol_rule(self) -> SymbolRule:
        return NBU_SYMBOL[self.version]

    @field_validator("name")
    @classmethod
    def _name(cls, value: str, info: ValidationInfo) -> str:
        value = _nonblank(value)
        _check_nbu_text(value, NBU_LIMITS[_version(info)]["name"])
        return value

    @field_validator("iban", mode="before")
    @classmethod
    def _iban(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        compact = re.sub(r"\s+", "", value).upper()
        if not re.fullmatch(r"UA\d{27}", compact):
            raise ValueError(f"must be a Ukrainian IBAN: UA + 27 digits, 29 characters (got {len(compact)})")
        if not iban_is_valid(compact):
            raise ValueError("checksum does not match (mod 97); check the IBAN for a typo")
        return compact

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        value = value.strip()
        if not re.fullmatch(r"\d{8}|\d{10}", value):
            raise ValueError("must be an EDRPOU code (8 digits) or an RNOKPP (10 digits)")
        if len(value) == 8 and not edrpou_is_valid(value):
            raise ValueError(f"EDRPOU code {value}: the check digit does not match; check for a typo")
        if len(value) == 10 and not rnokpp_is_valid(value):
            raise ValueError(f"RNOKPP {value}: the check digit does not match; check for a typo")
        return value

    @field_validator("purpose")
    @classmethod
    def _purpose(cls, value: str | dict[str, str], info: ValidationInfo) -> str | dict[str, str]:
        limit = NBU_LIMITS[_version(info)]["purpose"]
        return _check_purpose(value, lambda sample: _check_nbu_text(sample, limit))

    @field_validator("display")
    @classmethod
    def _display(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        _check_nbu_text(value, NBU_LIMITS[_version(info)]["display"])
        return value

    @field_validator("category_purpose")
    @classmethod
    def _category_purpose(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip().upper()
        if _version(info) == "002":
            if value:
                raise ValueError("only used by version '003' (row 10 is reserved in 002)")
            return value
        if not re.fullmatch(r"[A-Z]{4}/[A-Z]{4}", value):
            raise ValueError(
                "required for version '003': ISO 20022 category and purpose codes as 'CCCC/PPPP', "
                f"got {value!r}"
            )
        return value


class St00012Qr(_Purpose, _Strict):
    """GOST R 56042-2014 payment QR (``ST00012|Name=...``)."""

    standard: Literal["st00012"] = "st00012"
    name: str
    bic: str  # before the accounts: their control keys are checked with it
    personal_acc: str
    bank_name: str
    corresp_acc: str
    payee_inn: str
    purpose: str | dict[str, str]

    max_amount: ClassVar[Decimal] = GOST_MAX_AMOUNT
    symbol_rule: ClassVar[SymbolRule] = GOST_SYMBOL

    @field_validator("name", "bank_name")
    @classmethod
    def _text(cls, value: str, info: ValidationInfo) -> str:
        value = _nonblank(value)
        _check_gost_text(value, GOST_LIMITS[str(info.field_name)])
        return value

    @field_validator("bic")
    @classmethod
    def _bic(cls, value: str) -> str:
        value = value.strip()
        if not re.fullmatch(r"\d{9}", value):
            raise ValueError(f"must be 9 digits (got {len(value)} characters)")
        if not ru_bic_is_valid(value):
            raise ValueError(f"{value} is not a Russian BIC: it must begin with 04 (the country code)")
        return value

    @field_validator("personal_acc", "corresp_acc")
    @classmethod
    def _account(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        corresp = info.field_name == "corresp_acc"
        if corresp and value == "0":  # GOST Table 1: "0" when the bank has no correspondent account
            return value
        if not re.fullmatch(r"\d{20}", value):
            raise ValueError(
                "must be 20 digits, or '0' when the bank has no correspondent account"
                if corresp
                else "must be 20 digits"
            )
        bic = info.data.get("bic")
        key_ok = ru_corresp_account_is_valid if corresp else ru_account_is_valid
        if bic and not key_ok(value, bic):
            digit = "" if corresp else " (9th digit)"
            raise ValueError(f"the control key{digit} does not match BIC {bic}; check both for a typo")
        return value

    @field_validator("payee_inn")
    @classmethod
    def _payee_inn(cls, value: str) -> str:
        value = value.strip()
        if not re.fullmatch(r"\d{10}|\d{12}", value):
            raise ValueError("must be 10 digits (organisation) or 12 digits (individual)")
        if not inn_is_valid(value):
            raise ValueError(f"INN {value}: the check digit does not match; check for a typo")
        return value

    @model_validator(mode="after")
    def _mandatory_block(self) -> St00012Qr:
        size = len(_gost_mandatory(self).encode("utf-8"))
        if size > GOST_MAX_MANDATORY_BYTES:
            raise ValueError(
                f"name, bank_name: the header and mandatory block take {size} bytes, GOST R 56042 "
                f"allows {GOST_MAX_MANDATORY_BYTES}; shorten the name or the bank name"
            )
        return self

    @field_validator("purpose")
    @classmethod
    def _purpose(cls, value: str | dict[str, str]) -> str | dict[str, str]:
        return _check_purpose(value, lambda sample: _check_gost_text(sample, GOST_LIMITS["purpose"]))


class UrlQr(_Strict):
    """The QR code carries the provider's first payment link, filled in for the account."""

    standard: Literal["url"] = "url"

    max_amount: ClassVar[Decimal] = NBU_MAX_AMOUNT
    symbol_rule: ClassVar[SymbolRule] = URL_SYMBOL


PaymentQr = Annotated[NbuQr | St00012Qr | UrlQr, Field(discriminator="standard")]


# --- payloads --------------------------------------------------------------------------------


def _nbu_payload(qr: NbuQr, account: str, due: Decimal | None, period: str, locale: str | None) -> str:
    limits = NBU_LIMITS[qr.version]
    purpose = _fill(qr.purpose_for(locale), _purpose_values(account, due, period))
    try:
        _check_nbu_text(purpose, limits["purpose"])
    except ValueError as error:
        raise ValueError(f"purpose: {error} once filled in for account {account!r}") from None
    if due is not None and due > NBU_MAX_AMOUNT:
        raise ValueError(f"amount: {due} is above the NBU maximum {NBU_MAX_AMOUNT}")
    amount_row = "" if due is None else f"UAH{due}"
    rows = ["BCD", qr.version, "1", "UCT", "", qr.name, qr.iban, amount_row, qr.code]
    if qr.version == "002":
        rows += ["", "", purpose, qr.display]
    else:
        rows += [qr.category_purpose, "", purpose, qr.display, "", "", "", ""]
    raw = "\n".join(rows).encode("utf-8")
    if len(raw) > NBU_MAX_BYTES:
        raise ValueError(
            f"{len(raw)} bytes of data, the NBU limit is {NBU_MAX_BYTES}; shorten name, purpose or display"
        )
    return NBU_HOSTS[qr.version] + base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_nbu_payload(url: str) -> list[str]:
    """The rows of an NBU QR link (inverse of the Base64URL step); ValueError for other URLs."""
    for host in NBU_HOSTS.values():
        if url.startswith(host):
            encoded = url[len(host) :]
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            return raw.decode("utf-8").split("\n")
    raise ValueError(f"not an NBU QR link: {url[:40]!r}")


def _gost_mandatory(qr: St00012Qr) -> str:
    """The service header and the mandatory block (GOST R 56042-2014, 5.2), in this order."""
    return GOST_SEPARATOR.join(
        [
            GOST_HEADER,
            f"Name={qr.name}",
            f"PersonalAcc={qr.personal_acc}",
            f"BankName={qr.bank_name}",
            f"BIC={qr.bic}",
            f"CorrespAcc={qr.corresp_acc}",
        ]
    )


def _gost_payload(qr: St00012Qr, account: str, due: Decimal | None, period: str, locale: str | None) -> str:
    try:
        _check_gost_text(_nonblank(account), None)
    except ValueError as error:
        raise ValueError(f"account: {error}") from None
    purpose = _fill(qr.purpose_for(locale), _purpose_values(account, due, period))
    try:
        _check_gost_text(purpose, GOST_LIMITS["purpose"])
    except ValueError as error:
        raise ValueError(f"purpose: {error} once filled in for account {account!r}") from None
    fields = [_gost_mandatory(qr), f"PayeeINN={qr.payee_inn}", f"PersAcc={account}"]
    if due is not None:
        kopecks = int(due * 100)
        if len(str(kopecks)) > GOST_MAX_SUM_DIGITS:
            raise ValueError(f"amount: {due} does not fit the {GOST_MAX_SUM_DIGITS}-digit Sum field")
        fields.append(f"Sum={kopecks}")
    fields += [f"Purpose={purpose}", f"PaymPeriod={_bill_period(period)}"]
    return GOST_SEPARATOR.join(fields)


def build_payload(
    qr: NbuQr | St00012Qr | UrlQr,
    account: str,
    amount: Decimal | None,
    period: str,
    link_url: str | None = None,
    locale: str | None = None,
) -> str:
    """The text to put in the QR code for one account and billing period ('YYYY-MM').

    ``amount`` None or <= 0 puts no amount in the payload (the resident types it).
    ``link_url`` is the already filled first payment link, used by ``standard = "url"``.
    ``locale`` picks the purpose template when there is one per language.
    Raises ValueError naming the field when a filled-in value breaks the standard's limits.
    """
    due = _amount_due(amount)
    _period_parts(period)
    if isinstance(qr, NbuQr):
        return _nbu_payload(qr, account, due, period, locale)
    if isinstance(qr, St00012Qr):
        return _gost_payload(qr, account, due, period, locale)
    if not link_url:
        raise ValueError("url: no payment link to encode; add payment_links or choose another standard")
    return link_url
