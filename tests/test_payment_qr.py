"""Payment QR payloads (NBU UCT 002/003, GOST R 56042 ST00012, URL), config validation, QR images."""

from __future__ import annotations

import base64
import io
from decimal import Decimal

import pytest
from PIL import Image
from pydantic import BaseModel, ValidationError

from domain.payment_qr import (
    NbuQr,
    PaymentQr,
    St00012Qr,
    UrlQr,
    build_payload,
    check_link_template,
    decode_nbu_payload,
    fill_link,
    iban_is_valid,
)
from domain.qr_image import decode_png, qr_png

IBAN = "UA213223130000026007233566001"  # example IBAN with a valid mod-97 checksum

NBU_002 = NbuQr(
    name="КП «Теплоенерго»",
    iban="UA21 3223 1300 0002 6007 2335 6600 1",  # spaces are dropped at config load
    code="12345678",
    purpose="Опалення, о/р {account}, {period}",
    display="Тепло",
)
NBU_002_URL = (
    "https://bank.gov.ua/qr/QkNECjAwMgoxClVDVAoK0JrQnyDCq9Ci0LXQv9C70L7QtdC90LXRgNCz0L7CuwpVQTIxMzIyMzEz"
    "MDAwMDAyNjAwNzIzMzU2NjAwMQpVQUgxMjM0LjUwCjEyMzQ1Njc4CgoK0J7Qv9Cw0LvQtdC90L3Rjywg0L4v0YAgMTIzNDU2Nywg"
    "MDMuMjAyNQrQotC10L_Qu9C-"
)
NBU_002_ROWS = [
    "BCD", "002", "1", "UCT", "",
    "КП «Теплоенерго»", IBAN, "UAH1234.50", "12345678", "", "",
    "Опалення, о/р 1234567, 03.2025", "Тепло",
]  # fmt: skip

NBU_003 = NbuQr(
    version="003",
    name="КП «Теплоенерго»",
    iban=IBAN,
    code="12345678",
    purpose="Опалення, о/р {account}, {period}",
    category_purpose="supp/ubil",
)
NBU_003_URL = (
    "https://qr.bank.gov.ua/QkNECjAwMwoxClVDVAoK0JrQnyDCq9Ci0LXQv9C70L7QtdC90LXRgNCz0L7CuwpVQTIxMzIyMzEz"
    "MDAwMDAyNjAwNzIzMzU2NjAwMQpVQUg5OS45MAoxMjM0NTY3OApTVVBQL1VCSUwKCtCe0L_QsNC70LXQvdC90Y8sINC-L9GAIDEy"
    "MzQ1NjcsIDEyLjIwMjUKCgoKCg"
)
NBU_003_ROWS = [
    "BCD", "003", "1", "UCT", "",
    "КП «Теплоенерго»", IBAN, "UAH99.90", "12345678", "SUPP/UBIL", "",
    "Опалення, о/р 1234567, 12.2025", "", "", "", "", "",
]  # fmt: skip

GOST = St00012Qr(
    name="ООО «Водоканал»",
    personal_acc="40702810200000000001",
    bank_name="ПАО Сбербанк",
    bic="044525225",
    corresp_acc="30101810400000000225",
    payee_inn="7707083893",
    purpose="Водоснабжение, л/с {account}, {period}",
)
GOST_PAYLOAD = (
    "ST00012|Name=ООО «Водоканал»|PersonalAcc=40702810200000000001|BankName=ПАО Сбербанк"
    "|BIC=044525225|CorrespAcc=30101810400000000225|PayeeINN=7707083893|PersAcc=1234567"
    "|Sum=123450|Purpose=Водоснабжение, л/с 1234567, 03.2025|PaymPeriod=03.2025"
)


class Holder(BaseModel):
    """Stands in for ProviderConfig: the union is validated under the key ``payment_qr``."""

    payment_qr: PaymentQr


def errors(data: dict) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        Holder(payment_qr=data)
    return [
        (".".join(map(str, error["loc"])), error["msg"].removeprefix("Value error, "))
        for error in caught.value.errors()
    ]


def nbu(**changes: str) -> dict:
    base = {"standard": "nbu", "name": "KP Teplo", "iban": IBAN, "code": "12345678",
            "purpose": "Heat {account}"}
    return base | changes


def gost(**changes: str) -> dict:
    base = {
        "standard": "st00012",
        "name": "Vodokanal",
        "personal_acc": "40702810200000000001",
        "bank_name": "Bank",
        "bic": "044525225",
        "corresp_acc": "0",
        "payee_inn": "7707083893",
        "purpose": "Water {account}",
    }
    return base | changes


def b64url_rows(url: str, host: str) -> list[str]:
    """Independent decoding of the Base64URL part with the standard library."""
    assert url.startswith(host)
    encoded = url.removeprefix(host)
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded
    raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True)
    return raw.decode("utf-8").split("\n")


# --- NBU -------------------------------------------------------------------------------------


def test_nbu_002_golden():
    payload = build_payload(NBU_002, "1234567", Decimal("1234.5"), "2025-03")
    assert payload == NBU_002_URL
    assert b64url_rows(payload, "https://bank.gov.ua/qr/") == NBU_002_ROWS
    assert decode_nbu_payload(payload) == NBU_002_ROWS


def test_nbu_003_golden_has_17_rows_and_its_own_host():
    payload = build_payload(NBU_003, "1234567", Decimal("99.9"), "2025-12")
    assert payload == NBU_003_URL
    rows = b64url_rows(payload, "https://qr.bank.gov.ua/")
    assert rows == NBU_003_ROWS
    assert len(rows) == 17


@pytest.mark.parametrize(
    ("amount", "row"),
    [
        (Decimal("1234.5"), "UAH1234.50"),
        (Decimal("1000"), "UAH1000.00"),
        (Decimal("0.01"), "UAH0.01"),
        (Decimal("10.005"), "UAH10.01"),  # to the kopeck, half up
        (1500, "UAH1500.00"),
        (None, ""),
        (Decimal("0"), ""),
        (Decimal("-12.30"), ""),  # overpaid: nothing owed, the resident types an amount
    ],
)
def test_nbu_amount_row(amount, row):
    rows = decode_nbu_payload(build_payload(NBU_002, "1", amount, "2025-01"))
    assert rows[7] == row
    assert rows[11] == "Опалення, о/р 1, 01.2025"


def test_money_is_never_float():
    with pytest.raises(TypeError, match="Decimal"):
        build_payload(NBU_002, "1", 12.5, "2025-01")  # type: ignore[arg-type]


def test_nbu_amount_above_maximum():
    with pytest.raises(ValueError, match="amount"):
        build_payload(NBU_002, "1", Decimal("1000000000.00"), "2025-01")


def test_nbu_purpose_too_long_once_filled_names_the_field():
    qr = NbuQr(name="KP", iban=IBAN, code="12345678", purpose="x" * 100 + " {account}")
    assert build_payload(qr, "1" * 20, None, "2025-01")
    with pytest.raises(ValueError, match=r"^purpose: longer than 140"):
        build_payload(qr, "1" * 40, None, "2025-01")


def test_nbu_payload_byte_limit():
    qr = NbuQr(
        version="003",
        name="Я" * 140,
        iban=IBAN,
        code="12345678",
        purpose="Я" * 300,
        category_purpose="OTHR/OTHR",
    )
    with pytest.raises(ValueError, match="507"):
        build_payload(qr, "1", None, "2025-01")


@pytest.mark.parametrize("period", ["2025-13", "2025-1", "03.2025", "", "2025-00"])
def test_bad_period(period):
    with pytest.raises(ValueError, match="YYYY-MM"):
        build_payload(NBU_002, "1", None, period)


# --- GOST R 56042 ----------------------------------------------------------------------------


def test_gost_golden():
    assert build_payload(GOST, "1234567", Decimal("1234.50"), "2025-03") == GOST_PAYLOAD


def test_gost_sum_is_integer_kopecks_and_omitted_when_nothing_owed():
    assert "|Sum=5|" in build_payload(GOST, "1", Decimal("0.05"), "2025-03")
    assert "|Sum=100000|" in build_payload(GOST, "1", Decimal("1000"), "2025-03")
    for amount in (None, Decimal("0.00"), Decimal("-1")):
        payload = build_payload(GOST, "1", amount, "2025-11")
        assert "Sum=" not in payload
        assert payload.endswith("|PaymPeriod=11.2025")
        tail = ["PersAcc=1", "Purpose=Водоснабжение, л/с 1, 11.2025", "PaymPeriod=11.2025"]
        assert payload.split("|")[7:] == tail


def test_gost_header_and_field_order():
    keys = [part.split("=", 1)[0] for part in build_payload(GOST, "7", Decimal("1"), "2025-03").split("|")]
    assert keys == [
        "ST00012", "Name", "PersonalAcc", "BankName", "BIC", "CorrespAcc",
        "PayeeINN", "PersAcc", "Sum", "Purpose", "PaymPeriod",
    ]  # fmt: skip


def test_gost_separator_in_filled_values_is_rejected():
    with pytest.raises(ValueError, match=r"^account: must not contain '\|'"):
        build_payload(GOST, "12|34", None, "2025-01")
    long_purpose = GOST.model_copy(update={"purpose": "x" * 180 + "{account}"})
    with pytest.raises(ValueError, match=r"^purpose: longer than 210"):
        build_payload(long_purpose, "1" * 31, None, "2025-01")


# --- URL -------------------------------------------------------------------------------------


def test_url_standard_encodes_the_filled_link():
    link = fill_link("https://pay.example/?acc={account}&sum={amount}", "12 34/5", Decimal("10.5"), "2025-03")
    assert build_payload(UrlQr(), "12 34/5", Decimal("10.5"), "2025-03", link_url=link) == link
    with pytest.raises(ValueError, match=r"^url: no payment link"):
        build_payload(UrlQr(), "1", None, "2025-03")


def test_fill_link_url_encodes_every_value():
    template = "https://pay.example/p?acc={account}&sum={amount}&per={period}"
    assert (
        fill_link(template, "АБ 12/3&x", Decimal("1234.5"), "2025-03")
        == "https://pay.example/p?acc=%D0%90%D0%91%2012%2F3%26x&sum=1234.50&per=2025-03"
    )
    assert fill_link(template, "1", None, "2025-03") == "https://pay.example/p?acc=1&sum=&per=2025-03"
    assert fill_link("https://x.example/{{raw}}/{account}", "1", None, "2025-03") == "https://x.example/{raw}/1"


@pytest.mark.parametrize(
    "template",
    [
        "https://x/?a={acct}",
        "https://x/?a={}",
        "https://x/?a={0}",
        "https://x/?a={account!r}",
        "https://x/?a={amount:>9}",
        "https://x/?a={account.__class__}",
        "https://x/?a={account",
    ],
)
def test_link_template_rejects_unknown_placeholders(template):
    with pytest.raises(ValueError, match=r"placeholder|template"):
        check_link_template(template)


def test_link_template_accepts_known_placeholders():
    template = "https://pay.example/?acc={account}&sum={amount}&p={period}"
    assert check_link_template(template) == template


# --- config validation -----------------------------------------------------------------------


def test_iban_checksum():
    assert iban_is_valid(IBAN)
    assert iban_is_valid("GB82 WEST 1234 5698 7654 32")
    assert not iban_is_valid(IBAN[:-1] + "2")
    assert not iban_is_valid("UA21")


def test_config_bad_iban_checksum_names_the_field():
    [(location, message)] = errors(nbu(iban=IBAN[:-1] + "2"))
    assert location == "payment_qr.nbu.iban"
    assert message.startswith("checksum does not match")


@pytest.mark.parametrize(
    "iban", ["UA21322313000002600723356600", "UA2132231300000260072335660011", "DE89370400440532013000"]
)
def test_config_iban_wrong_length_or_country(iban):
    [(location, message)] = errors(nbu(iban=iban))
    assert location == "payment_qr.nbu.iban"
    assert "UA + 27 digits" in message


def test_config_nbu_field_errors():
    assert errors(nbu(code="1234567"))[0][0] == "payment_qr.nbu.code"
    [(location, message)] = errors(nbu(name="Я" * 71))
    assert (location, message) == ("payment_qr.nbu.name", "longer than 70 characters (71)")
    assert NbuQr.model_validate(nbu(version="003", name="Я" * 140, category_purpose="OTHR/OTHR"))
    [(location, message)] = errors(nbu(purpose="Оплата " * 20 + "{account}"))
    assert location == "payment_qr.nbu.purpose" and message.startswith("longer than 140 characters")
    [(location, message)] = errors(nbu(purpose="Heat {acc}"))
    assert location == "payment_qr.nbu.purpose" and message.startswith("unknown placeholder {acc}")
    [(location, message)] = errors(nbu(name="供热公司"))
    assert location == "payment_qr.nbu.name" and "NBU character set" in message
    [(location, message)] = errors(nbu(display="a\nb"))
    assert location == "payment_qr.nbu.display" and "control character" in message
    [(location, _)] = errors(nbu(display="x" * 71))
    assert location == "payment_qr.nbu.display"


def test_config_nbu_category_purpose_only_in_003():
    [(location, message)] = errors(nbu(version="003"))
    assert location == "payment_qr.nbu.category_purpose" and "required for version '003'" in message
    [(location, message)] = errors(nbu(category_purpose="OTHR/GDDS"))
    assert location == "payment_qr.nbu.category_purpose" and "only used by version '003'" in message
    [(location, _)] = errors(nbu(version="003", category_purpose="OTHR"))
    assert location == "payment_qr.nbu.category_purpose"


def test_config_gost_field_errors():
    [(location, message)] = errors(gost(bic="04452522"))
    assert (location, message) == ("payment_qr.st00012.bic", "must be 9 digits (got 8 characters)")
    assert errors(gost(bic="0445252251"))[0][0] == "payment_qr.st00012.bic"
    assert errors(gost(personal_acc="4070281000000000000"))[0][0] == "payment_qr.st00012.personal_acc"
    assert errors(gost(corresp_acc="123"))[0][0] == "payment_qr.st00012.corresp_acc"
    assert errors(gost(payee_inn="77070838931"))[0][0] == "payment_qr.st00012.payee_inn"
    [(location, message)] = errors(gost(name="Я" * 161))
    assert (location, message) == ("payment_qr.st00012.name", "longer than 160 characters (161)")
    assert St00012Qr.model_validate(gost(name="N" * 160))  # Cyrillic would exceed the 300-byte block
    assert errors(gost(bank_name="Б" * 46))[0][0] == "payment_qr.st00012.bank_name"
    [(location, message)] = errors(gost(purpose="x" * 200 + "{account}"))
    assert location == "payment_qr.st00012.purpose" and message.startswith("longer than 210 characters")


@pytest.mark.parametrize("field", ["name", "bank_name", "purpose"])
def test_config_gost_rejects_separator(field):
    [(location, message)] = errors(gost(**{field: "A|B"}))
    assert location == f"payment_qr.st00012.{field}"
    assert message.startswith("must not contain '|'")


def test_config_unknown_standard_and_extra_keys():
    assert errors({"standard": "sepa"})[0][0] == "payment_qr"
    assert errors(nbu(colour="red"))[0][0] == "payment_qr.nbu.colour"
    assert isinstance(Holder(payment_qr={"standard": "url"}).payment_qr, UrlQr)


# --- QR images -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        NBU_002_URL,
        NBU_003_URL,
        GOST_PAYLOAD,
        "https://pay.example/?acc=%D0%90&sum=1.00",
    ],
)
def test_qr_round_trip(payload):
    png = qr_png(payload)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert decode_png(png) == [payload]


def test_qr_symbol_has_level_m_no_eci_and_a_quiet_zone():
    import zxingcpp

    png = qr_png(GOST_PAYLOAD, error="M", scale=4)
    with Image.open(io.BytesIO(png)) as image:
        [barcode] = zxingcpp.read_barcodes(image)
        width, _ = image.size
        corner = image.convert("L").crop((0, 0, 4 * 4, 4 * 4))
    assert barcode.ec_level == "M"
    assert barcode.symbology_identifier == "]Q1"  # QR model 2, no ECI header
    assert width % 4 == 0 and (width // 4 - 8 - 21) % 4 == 0  # 4-module quiet zone each side
    assert corner.getextrema() == (255, 255)  # the quiet zone is blank


def test_qr_png_rejects_unknown_level():
    with pytest.raises(ValueError):
        qr_png("x", error="X")


def test_decode_png_without_a_code():
    out = io.BytesIO()
    Image.new("L", (64, 64), 255).save(out, format="PNG")
    assert decode_png(out.getvalue()) == []


def test_config_check_digits_name_the_key():
    [(location, message)] = errors(nbu(code="12345670"))
    assert (location, message) == (
        "payment_qr.nbu.code",
        "EDRPOU code 12345670: the check digit does not match; check for a typo",
    )
    [(location, message)] = errors(nbu(code="3184710692"))
    assert location == "payment_qr.nbu.code" and message.startswith("RNOKPP 3184710692: the check digit")
    assert NbuQr.model_validate(nbu(code="3184710691"))
    [(location, message)] = errors(gost(bic="144525225"))
    assert (location, message) == (
        "payment_qr.st00012.bic",
        "144525225 is not a Russian BIC: it must begin with 04 (the country code)",
    )
    [(location, message)] = errors(gost(personal_acc="40702810000000000001"))
    assert location == "payment_qr.st00012.personal_acc" and "control key (9th digit)" in message
    [(location, message)] = errors(gost(corresp_acc="30101810400000000226"))
    assert location == "payment_qr.st00012.corresp_acc" and "does not match BIC 044525225" in message
    [(location, message)] = errors(gost(payee_inn="7707083894"))
    assert location == "payment_qr.st00012.payee_inn" and "check digit does not match" in message
    assert St00012Qr.model_validate(gost(payee_inn="500100732259", corresp_acc="30101810400000000225"))
