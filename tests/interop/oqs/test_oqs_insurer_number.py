"""The OQS path reads a 保険者番号 by one rule, :func:`onshi.numbers.insurer_number.from_oqs` — never by a rule
of its own (xmlmsg used to keep a shape-only fallback that padded a 6-digit 国保 number to 8 digits and took any
check digit; it answered whenever importing the numbers module failed)."""

from __future__ import annotations

import sys
from datetime import date

import pytest
from stdnum.exceptions import ValidationError

from onshi.interop.oqs import xmlmsg
from onshi.numbers import insurer_number
from onshi.verify.result import VerificationError

TODAY = date(2026, 11, 22)


@pytest.mark.parametrize("sent", ["138057", "  138057", "00138057"])
def test_a_6_digit_kokuho_number_is_what_from_oqs_says(request_xml, monkeypatch, sent):
    monkeypatch.setitem(sys.modules, "onshi.numbers.insurer_number", None)  # importing it now fails
    req = xmlmsg.parse_request(request_xml(insurer=sent), today=TODAY)
    assert req.insurer_number == insurer_number.from_oqs(sent) == "138057"


def test_a_6_digit_kokuho_number_with_a_wrong_check_digit_is_refused(request_xml, monkeypatch):
    with pytest.raises(ValidationError):  # 検証番号
        insurer_number.from_oqs("138050")
    monkeypatch.setitem(sys.modules, "onshi.numbers.insurer_number", None)
    with pytest.raises(VerificationError) as info:
        xmlmsg.parse_request(request_xml(insurer="138050"), today=TODAY)
    assert (info.value.code, info.value.field) == ("E0102", "QualificationConfirmSearchInfo.InsurerNumber")
