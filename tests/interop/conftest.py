"""Shared builders for the interop tests (as fixtures): requests as clinics write them, answers as the service
gives them.  Constants: the day is 2026-11-22 (JST), the institution 1311234569."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone

import pytest

from onshi.verify.result import (
    CardClassification,
    Consent,
    ConsentKind,
    ConsentStatus,
    ElderlyInfo,
    LimitInfo,
    PersonalFamily,
    QualificationAnswer,
    Sex,
    Validity,
    VerificationOutcome,
)

TODAY = date(2026, 11, 22)
NOW = datetime(2026, 11, 22, 0, 30, 15, tzinfo=timezone.utc)  # 09:30:15 JST
INSTITUTION = "1311234569"


def request_xml(*, encoding: str = "UTF-8", insurer: str | None = "06139992", symbol: str = "あいう",
                number: str = "187", branch: str = "05", birth: str = "19800401", care: str = "20261122",
                consent: str = "1", afi: str = "clinic-0001", arbitrary: str = "P-42", institution: str = INSTITUTION,
                extra_body: str = "") -> bytes:
    insurer_el = "" if insurer is None else f"<InsurerNumber>{insurer}</InsurerNumber>"
    text = f"""<?xml version="1.0" encoding="{encoding}" standalone="no"?>
<XmlMsg>
  <MessageHeader>
    <QualificationConfirmationDate>{care}</QualificationConfirmationDate>
    <MedicalInstitutionCode>{institution}</MedicalInstitutionCode>
    <ArbitraryFileIdentifier>{afi}</ArbitraryFileIdentifier>
  </MessageHeader>
  <MessageBody>
    <QualificationConfirmSearchInfo>
      {insurer_el}
      <InsuredCardSymbol>{symbol}</InsuredCardSymbol>
      <InsuredIdentificationNumber>{number}</InsuredIdentificationNumber>
      <InsuredBranchNumber>{branch}</InsuredBranchNumber>
      <Birthdate>{birth}</Birthdate>
      <LimitApplicationCertificateRelatedConsFlg>{consent}</LimitApplicationCertificateRelatedConsFlg>
      <ArbitraryIdentifier>{arbitrary}</ArbitraryIdentifier>
    </QualificationConfirmSearchInfo>{extra_body}
  </MessageBody>
</XmlMsg>
"""
    return text.encode("cp932" if encoding.lower() in ("shift_jis", "cp932") else "utf-8")


def make_answer(**changes) -> QualificationAnswer:
    base = QualificationAnswer(
        card_classification=CardClassification.GENERAL, insurer_number="06139992",
        insurer_name="全国健康保険協会東京支部", symbol="あいう", number="187", branch="05",
        personal_family=PersonalFamily.FAMILY, insured_name="広労 一郎", name="広労 太郎", name_kana="コウロウ　タロウ",
        name_of_other=None, name_of_other_kana=None, sex=Sex.MALE, birth_date=date(1980, 4, 1),
        address="東京都千代田区霞が関１－２－２", postal_code="1008916", qualification_date=date(2020, 4, 1),
        disqualification_date=None, loss_reason=None, certificate_issue_date=date(2020, 4, 10),
        card_valid_from=date(2020, 4, 1), card_valid_to=None, co_pay_ratio_tenths=3, preschool=False,
        elderly=None,
        limit_consent=Consent(ConsentKind.LIMIT, ConsentStatus.GIVEN, datetime(2026, 11, 22, 0, 30), None),
        limit=LimitInfo("01", "A03", date(2026, 4, 1), date(2026, 4, 1), date(2027, 3, 31), None),
        other_consents=(Consent(ConsentKind.PHARMACIST, ConsentStatus.GIVEN, datetime(2026, 11, 22, 0, 30),
                                datetime(2026, 11, 23, 0, 30)),),
        reference_number="R-0001", arbitrary_identifier="P-42")
    return replace(base, **changes)


def valid_outcome(**changes) -> VerificationOutcome:
    return VerificationOutcome(Validity.VALID, (make_answer(**changes),), None)


ELDERLY = ElderlyInfo(date(2026, 5, 1), date(2026, 5, 1), date(2027, 7, 31), 2)


@pytest.fixture(name="request_xml")
def request_xml_fixture():
    """``request_xml(**fields) -> bytes``: a single verification request as a clinic writes it."""
    return request_xml


@pytest.fixture(name="make_answer")
def make_answer_fixture():
    """``make_answer(**changes) -> QualificationAnswer``: a full answer (a dependent, 3割, 限度額 given)."""
    return make_answer


@pytest.fixture(name="valid_outcome")
def valid_outcome_fixture():
    return valid_outcome
