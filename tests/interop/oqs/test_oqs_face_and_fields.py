"""Face files for every outcome, and the fields whose meaning clients read differently (docs/oqs-clients.md).

Rules restated from the readers of face files (hangilc/myclinic-ts's face parser and result model,
YUKI-ENT/MynaReception's face reader):

* a face file holds exactly one ``ResultOfQualificationConfirmation`` whatever the outcome — one reader turns an
  empty ``ResultList`` into an item that is not one and refuses the whole file, the other refuses any other
  count; for 該当資格なし the one result is the card's holder (氏名, 読み, 生年月日, 性別) with the elements every
  reader requires present (``InsuredCardClassification``, ``InsurerName`` empty: there is no insurance);
* the file says ``SegmentOfResult`` 1 and ``ProcessingResultStatus`` 1 (the check ran) and the truth in
  ``QualificationValidity``, so a reader shows "該当資格なし" instead of failing;
* ``InsuredPartialContributionRatio`` belongs to 後期高齢者医療 members only (read as "後期高齢 N割");
  ``InsuredName`` names the member a dependent is insured through (read as 世帯主/被保険者), never the patient;
  a consent's time is written only when the consent was given.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone

import pytest
from lxml import etree

from onshi.interop.oqs import xmlmsg
from onshi.interop.oqs.terminal import Terminal, TerminalHandlers
from onshi.verify.result import (
    Consent,
    ConsentKind,
    ConsentStatus,
    PersonalFamily,
    ReferenceClass,
    Sex,
    Validity,
    VerificationOutcome,
    VerificationRequest,
)

NOW = datetime(2026, 11, 22, 0, 30, 15, tzinfo=timezone.utc)
CARD = VerificationRequest(reference_class=ReferenceClass.CARD, care_date=date(2026, 11, 22),
                           institution_code="1311234569", arbitrary_file_identifier=None, insurer_number=None,
                           symbol=None, number=None, branch=None, birth_date=None, limit_consent=False,
                           arbitrary_identifier=None, card_serial="CARD-1", reader_outcome=None)
HOLDER = xmlmsg.CardHolder("広労 太郎", "コウロウ タロウ", date(1980, 4, 1), Sex.MALE)


def root_of(data: bytes) -> etree._Element:
    text = data.decode("cp932" if b'encoding="Shift_JIS"' in data[:80] else "utf-8")
    return etree.fromstring(text.split("?>", 1)[1].encode("utf-8"))


def face_file(tmp_path, outcome, holder=None, encoding="utf-8") -> etree._Element:
    term = Terminal(tmp_path / "OQS", TerminalHandlers(None, None, None, None), face_encoding=encoding)
    return root_of(term.write_face_result("1311234569", outcome, CARD, NOW, holder=holder).read_bytes())


def assert_readable_face(root: etree._Element, validity: str) -> etree._Element:
    """What both face readers need before they look at anything else."""
    h, b = root.find("MessageHeader"), root.find("MessageBody")
    assert (h.findtext("SegmentOfResult"), b.findtext("ProcessingResultStatus")) == ("1", "1")
    assert b.findtext("QualificationValidity") == validity
    assert len(h.findtext("MedicalInstitutionCode")) == 10
    results = b.findall("ResultList/ResultOfQualificationConfirmation")
    assert len(results) == 1
    r = results[0]
    for required in ("InsuredCardClassification", "Name", "Sex1", "Birthdate", "InsurerName"):
        assert len(r.findall(required)) == 1, required  # present once, even when empty
    return r


@pytest.mark.parametrize("encoding", ["utf-8", "shift_jis"])
def test_a_face_file_for_no_qualification_holds_the_card_holder(tmp_path, encoding):
    r = assert_readable_face(face_file(tmp_path, VerificationOutcome(Validity.NOT_FOUND, (), None), HOLDER, encoding),
                             "4")
    assert (r.findtext("Name"), r.findtext("NameKana"), r.findtext("Birthdate"), r.findtext("Sex1")) == \
        ("広労 太郎", "ｺｳﾛｳ ﾀﾛｳ", "19800401", "1")
    assert (r.findtext("InsuredCardClassification"), r.findtext("InsurerName")) == ("", "")
    assert r.find("InsurerNumber") is None  # nothing that looks like insurance


def test_a_face_file_without_a_known_holder_still_has_its_one_result(tmp_path):
    r = assert_readable_face(face_file(tmp_path, VerificationOutcome(Validity.NOT_FOUND, (), None)), "4")
    assert r.find("NameKana") is None and r.findtext("Sex1") == "3"  # 未設定: a reader flags it for a person


def test_face_files_with_a_qualification_are_unchanged(tmp_path, valid_outcome, make_answer):
    assert_readable_face(face_file(tmp_path, valid_outcome(), HOLDER), "1")
    r = assert_readable_face(face_file(tmp_path, VerificationOutcome(Validity.INVALID, (make_answer(),), None)), "2")
    assert r.findtext("InsurerNumber")  # the holder is only for an outcome without a qualification


def test_an_answer_to_a_clinic_keeps_an_empty_result_list(request_xml):
    """Only face files get the holder: an answer to a numbers request for 該当資格なし lists nobody."""
    req = xmlmsg.parse_request(request_xml(), today=date(2026, 11, 22))
    root = root_of(xmlmsg.render_result(VerificationOutcome(Validity.NOT_FOUND, (), None), req, processed_at=NOW))
    assert root.find("MessageBody/ResultList") is not None
    assert root.find("MessageBody/ResultList/ResultOfQualificationConfirmation") is None


def rendered(request_xml, answer, consent: str = "1") -> etree._Element:
    req = xmlmsg.parse_request(request_xml(consent=consent), today=date(2026, 11, 22))
    out = xmlmsg.render_result(VerificationOutcome(Validity.VALID, (answer,), None), req, processed_at=NOW)
    return root_of(out).find("MessageBody/ResultList/ResultOfQualificationConfirmation")


@pytest.mark.parametrize("insurer, expected", [("39131156", "010"), ("06139992", None), ("138057", None)])
def test_contribution_ratio_only_for_late_elderly_members(request_xml, make_answer, insurer, expected):
    r = rendered(request_xml, make_answer(insurer_number=insurer, co_pay_ratio_tenths=1))
    assert r.findtext("InsuredPartialContributionRatio") == expected


def test_insured_name_only_for_a_dependent(request_xml, make_answer):
    dependent = make_answer()
    assert dependent.personal_family == PersonalFamily.FAMILY
    assert rendered(request_xml, dependent).findtext("InsuredName") == dependent.insured_name
    member = replace(dependent, personal_family=PersonalFamily.INSURED, insured_name=dependent.name)
    assert rendered(request_xml, member).find("InsuredName") is None


def test_the_rest_answer_names_the_insured_only_to_a_dependent(make_answer):
    """The same decision in the REST (JSON) answer: ``insured_name`` tells a dependent whom they are insured
    through; for the member themselves it is null (their name is ``name``) — the domain answer drops it, so every
    interface built on it agrees."""
    from onshi.verify.views import outcome_json

    dependent = make_answer()
    member = replace(dependent, personal_family=PersonalFamily.INSURED, insured_name=dependent.name)
    assert member.insured_name is None
    body = outcome_json(VerificationOutcome(Validity.VALID, (dependent,)))["results"][0]
    assert (body["personal_family"], body["insured_name"]) == (2, dependent.insured_name)
    body = outcome_json(VerificationOutcome(Validity.VALID, (member,)))["results"][0]
    assert (body["personal_family"], body["insured_name"], body["name"]) == (1, None, dependent.name)


def test_consent_times_only_for_a_given_consent(request_xml, make_answer):
    at = datetime(2026, 11, 22, 0, 30, tzinfo=timezone.utc)
    refused = make_answer(limit_consent=Consent(ConsentKind.LIMIT, ConsentStatus.NONE, at, None),
                          other_consents=(Consent(ConsentKind.PHARMACIST, ConsentStatus.NONE, at, at),))
    r = rendered(request_xml, refused, consent="0")
    assert r.findtext("LimitApplicationCertificateRelatedConsFlg") == "0"
    assert r.find("LimitApplicationCertificateRelatedConsTime") is None
    assert r.findtext("PharmacistsInfoConsFlg") == "0" and r.find("PharmacistsInfoConsTime") is None
    given = make_answer(limit_consent=Consent(ConsentKind.LIMIT, ConsentStatus.GIVEN, at, None))
    assert rendered(request_xml, given).findtext("LimitApplicationCertificateRelatedConsTime") == "20261122093000"
