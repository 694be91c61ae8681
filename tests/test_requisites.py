"""Check digits of RU/UA requisites, with published valid codes and one-digit typos of them."""

from __future__ import annotations

import pytest

from domain.payment_qr import iban_is_valid
from domain.requisites import (
    edrpou_is_valid,
    inn_is_valid,
    rnokpp_is_valid,
    ru_account_is_valid,
    ru_bic_is_valid,
    ru_corresp_account_is_valid,
)

# Published requisites of Russian banks (their own BIC, correspondent account and INN).
SBERBANK = ("044525225", "30101810400000000225", "7707083893")
TBANK = ("044525974", "30101810145250000974", "7710140679")


@pytest.mark.parametrize("bic", ["044525225", "044525974", "044030653", "045004641"])
def test_bic_valid(bic):
    assert ru_bic_is_valid(bic)


@pytest.mark.parametrize("bic", ["04452522", "0445252251", "144525225", "034525225", "04452522x"])
def test_bic_invalid(bic):
    assert not ru_bic_is_valid(bic)


@pytest.mark.parametrize(("bic", "corresp", "_inn"), [SBERBANK, TBANK])
def test_correspondent_account_key(bic, corresp, _inn):
    assert ru_corresp_account_is_valid(corresp, bic)
    assert not ru_corresp_account_is_valid(corresp[:-1] + str((int(corresp[-1]) + 1) % 10), bic)
    assert not ru_corresp_account_is_valid(corresp, bic[:4] + "99" + bic[6:])  # another region
    assert not ru_corresp_account_is_valid(corresp[:-1], bic)


def test_settlement_account_key():
    # The key (9th digit) of 40702810?00000000001 at Sberbank's BIC is 2: the only digit that fits.
    valid = [d for d in "0123456789" if ru_account_is_valid(f"40702810{d}00000000001", SBERBANK[0])]
    assert valid == ["2"]
    assert not ru_account_is_valid("40702810200000000001", TBANK[0])  # the key binds the bank
    assert not ru_account_is_valid("4070281020000000000", SBERBANK[0])

    # An account at a Bank of Russia division (BIC ending 000) keys with "0" + BIC digits 5-6,
    # here "025": the same key as at a bank whose BIC ends in 025.
    def keys(bic: str) -> list[str]:
        return [d for d in "0123456789" if ru_account_is_valid(f"40101810{d}00000010001", bic)]

    assert keys("044525000") == keys("044525025") != keys("044525225")


@pytest.mark.parametrize("inn", ["7707083893", "7710140679", "7736207543", "500100732259", "773370857141"])
def test_inn_valid(inn):
    assert inn_is_valid(inn)


@pytest.mark.parametrize(
    "inn", ["7707083894", "7700000000", "500100732258", "500100732269", "77070838", "77O7083893"]
)
def test_inn_invalid(inn):
    assert not inn_is_valid(inn)


@pytest.mark.parametrize("code", ["14360570", "00032129", "21560766", "00013480", "43720363", "40538421"])
def test_edrpou_valid(code):
    assert edrpou_is_valid(code)


@pytest.mark.parametrize("code", ["14360571", "00032120", "21560767", "4053842", "403384210"])
def test_edrpou_invalid(code):
    assert not edrpou_is_valid(code)


def test_edrpou_second_pass_and_zero():
    # The codes whose first remainder is 10 take the second pass (weights + 2); there are such codes.
    heads = [f"{n:07d}" for n in range(1000, 2000)]
    second = [h for h in heads if sum(int(d) * w for d, w in zip(h, range(1, 8), strict=True)) % 11 == 10]
    assert second
    for head in second[:20]:
        assert sum(edrpou_is_valid(head + digit) for digit in "0123456789") == 1


def test_rnokpp():
    assert rnokpp_is_valid("3184710691")
    assert rnokpp_is_valid("1234567899")
    assert not rnokpp_is_valid("3184710692")
    assert not rnokpp_is_valid("318471069")


def test_ua_iban_mod97():
    assert iban_is_valid("UA213223130000026007233566001")  # the NBU's sample IBAN
    assert iban_is_valid("UA473052990000026005026707459")
    assert not iban_is_valid("UA213223130000026007233566002")
