"""XmlMsg parsing and rendering, checked the way strict clinic clients check it."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date, datetime, timezone

import jaconv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from onshi.interop.oqs import codes, xmlmsg
from onshi.verify.result import (
    Consent,
    ConsentKind,
    ConsentStatus,
    ElderlyInfo,
    LossReason,
    ReferenceClass,
    ReferenceRegistration,
    Validity,
    VerificationError,
    VerificationOutcome,
)

TODAY = date(2026, 11, 22)
NOW = datetime(2026, 11, 22, 0, 30, 15, tzinfo=timezone.utc)

# The order of the field list in the interface description.
ANSWER_ORDER = [
    "InsuredCardClassification", "InsurerNumber", "InsuredCardSymbol", "InsuredIdentificationNumber",
    "InsuredBranchNumber", "PersonalFamilyClassification", "InsuredName", "Name", "NameOfOther", "NameKana",
    "NameOfOtherKana", "Sex1", "Sex2", "Birthdate", "Address", "PostNumber", "InsurerName", "QualificationDate",
    "DisqualificationDate", "ReasonOfLoss", "InsuredCertificateIssuanceDate", "InsuredCardValidDate",
    "InsuredCardExpirationDate", "InsuredPartialContributionRatio", "PreschoolClassification",
    "ElderlyRecipientCertificateInfo", "LimitApplicationCertificateRelatedConsFlg",
    "LimitApplicationCertificateRelatedConsTime", "LimitApplicationCertificateRelatedInfo",
    "SpecificHealthCheckupsInfoConsFlg", "SpecificHealthCheckupsInfoConsTime", "SpecificHealthCheckupsInfoAvailableTime",
    "PharmacistsInfoConsFlg", "PharmacistsInfoConsTime", "PharmacistsInfoAvailableTime",
    "DiagnosisInfoConsFlg", "DiagnosisInfoConsTime", "DiagnosisInfoAvailableTime",
    "OperationInfoConsFlg", "OperationInfoConsTime", "OperationInfoAvailableTime",
    "ReferenceNumber", "ArbitraryIdentifier",
]
HEADER_ORDER = ["ProcessExecutionTime", "QualificationConfirmationDate", "MedicalInstitutionCode",
                "ArbitraryFileIdentifier", "ReferenceClassification", "SegmentOfResult", "ErrorCode", "ErrorMessage",
                "CharacterCodeIdentifier"]
BODY_ORDER = ["ProcessingResultStatus", "ProcessingResultCode", "ProcessingResultMessage", "QualificationValidity",
              "QualificationConfirmSearchInfo", "ResultList"]

# Which element carries which code table.
CODE_FIELDS = {
    "ReferenceClassification": "OQSCD002", "SegmentOfResult": "OQSCD003", "ProcessingResultStatus": "OQSCD004",
    "CharacterCodeIdentifier": "OQSCD005", "QualificationValidity": "OQSCD006", "Sex1": "OQSCD007",
    "Sex2": "OQSCD007", "ReasonOfLoss": "OQSCD008", "PersonalFamilyClassification": "OQSCD009",
    "InsuredCardClassification": "OQSCD010", "LimitApplicationCertificateClassification": "OQSCD011",
    "LimitApplicationCertificateClassificationFlag": "OQSCD012", "PreschoolClassification": "OQSCD015",
    "LimitApplicationCertificateRelatedConsFlg": "OQSCD001",
    "SpecificHealthCheckupsInfoConsFlg": "OQSCD016", "PharmacistsInfoConsFlg": "OQSCD016",
    "DiagnosisInfoConsFlg": "OQSCD016", "OperationInfoConsFlg": "OQSCD016",
}
DATE_FIELDS = {"QualificationConfirmationDate", "Birthdate", "QualificationDate", "DisqualificationDate",
               "InsuredCertificateIssuanceDate", "InsuredCardValidDate", "InsuredCardExpirationDate",
               "ElderlyRecipientCertificateDate", "ElderlyRecipientValidStartDate", "ElderlyRecipientValidEndDate",
               "LimitApplicationCertificateDate", "LimitApplicationCertificateValidStartDate",
               "LimitApplicationCertificateValidEndDate", "LimitApplicationCertificateLongTermDate"}


def declared_encoding(xml: bytes) -> str:
    return re.match(rb'<\?xml[^>]*encoding="([^"]+)"', xml).group(1).decode().lower()


def parse(xml: bytes) -> etree._Element:
    """Parse as a Windows client does: Shift_JIS read as CP932.

    (libxml2's own Shift_JIS table is JIS X 0208 only: it refuses 髙 and ① and reads 0x7E as an overline.)
    """
    if declared_encoding(xml) == "shift_jis":
        xml = xml.decode("cp932").replace('encoding="Shift_JIS"', 'encoding="UTF-8"', 1).encode("utf-8")
    return etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))


def t(el: etree._Element, path: str) -> str | None:
    found = el.find(path)
    return None if found is None else (found.text or "")


def assert_strict_client_rules(xml: bytes, *, expect_success: bool | None = None) -> etree._Element:
    """What strict clients check, in one place."""
    root = parse(xml)
    assert root.tag == "XmlMsg"
    header, body = root.find("MessageHeader"), root.find("MessageBody")
    for name in ("ProcessExecutionTime", "QualificationConfirmationDate", "MedicalInstitutionCode",
                 "ReferenceClassification", "SegmentOfResult", "CharacterCodeIdentifier"):
        assert header.find(name) is not None, name
    assert body.find("ProcessingResultStatus") is not None
    # tag order follows the field lists
    assert [c.tag for c in header] == [n for n in HEADER_ORDER if header.find(n) is not None]
    # (elements of another namespace — onshi's signed receipt at the end — are extensions clients skip)
    assert [c.tag for c in body if not c.tag.startswith("{")] == [n for n in BODY_ORDER if body.find(n) is not None]
    # CharacterCodeIdentifier matches the real encoding and the declaration
    declared = declared_encoding(xml)
    cci = t(header, "CharacterCodeIdentifier")
    assert (declared, cci) in {("utf-8", "0"), ("shift_jis", "1")}
    xml.decode("cp932" if cci == "1" else "utf-8")  # really in that encoding
    # no code outside the tables; dates are yyyyMMdd
    for el in root.iter():
        if el.tag in CODE_FIELDS:
            assert (el.text or "") in codes.LABELS[CODE_FIELDS[el.tag]], (el.tag, el.text)
        if el.tag in DATE_FIELDS:
            date(int(el.text[:4]), int(el.text[4:6]), int(el.text[6:8]))
            assert len(el.text) == 8
    assert len(t(header, "ProcessExecutionTime")) == 14
    for result in root.iter("ResultOfQualificationConfirmation"):
        for name in ("InsuredCardClassification", "Name", "Sex1", "Birthdate", "InsurerName"):
            assert result.find(name) is not None, name
        assert [c.tag for c in result] == [n for n in ANSWER_ORDER if result.find(n) is not None]
    if t(header, "SegmentOfResult") != "1":
        assert header.find("ErrorCode") is not None or t(header, "SegmentOfResult") == "2"
    success = (t(header, "SegmentOfResult") == "1" and t(body, "ProcessingResultStatus") == "1"
               and t(body, "QualificationValidity") == "1"
               and len(body.findall("ResultList/ResultOfQualificationConfirmation")) == 1)
    if expect_success is not None:
        assert success is expect_success
    return root


# ---------------------------------------------------------------- parsing

def test_parse_utf8(request_xml):
    req = xmlmsg.parse_request(request_xml(), today=TODAY)
    assert req.reference_class == ReferenceClass.NUMBERS
    assert (req.care_date, req.institution_code, req.arbitrary_file_identifier) == (TODAY, "1311234569", "clinic-0001")
    assert (req.insurer_number, req.symbol, req.number, req.branch) == ("06139992", "あいう", "187", "05")
    assert (req.birth_date, req.limit_consent, req.arbitrary_identifier) == (date(1980, 4, 1), True, "P-42")


def test_parse_shift_jis_gives_the_same_request(request_xml):
    sjis = request_xml(encoding="Shift_JIS", symbol="髙橋①")
    assert b"Shift_JIS" in sjis
    utf8 = request_xml(symbol="髙橋①")
    assert xmlmsg.detect_encoding(sjis) == "shift_jis"
    assert xmlmsg.parse_request(sjis, today=TODAY) == xmlmsg.parse_request(utf8, today=TODAY)


def test_parse_json(request_xml):
    body = {"XmlMsg": {"MessageHeader": {"QualificationConfirmationDate": "20261122",
                                         "MedicalInstitutionCode": "1311234569"},
                       "MessageBody": {"QualificationConfirmSearchInfo": {
                           "InsurerNumber": "06139992", "InsuredCardSymbol": "あいう",
                           "InsuredIdentificationNumber": "187", "InsuredBranchNumber": "05",
                           "Birthdate": "19800401", "LimitApplicationCertificateRelatedConsFlg": "0"}}}}
    req = xmlmsg.parse_request_json(json.dumps(body, ensure_ascii=False).encode(), today=TODAY)
    assert (req.insurer_number, req.number, req.limit_consent, req.arbitrary_file_identifier) == \
        ("06139992", "187", False, None)


@pytest.mark.parametrize("padded", ["  138057", "00138057", "138057", "　 138057"[1:]])
def test_six_digit_kokuho_numbers_padded_either_way(request_xml, padded):
    reference = xmlmsg.parse_request(request_xml(insurer="00138057"), today=TODAY).insurer_number
    assert xmlmsg.parse_request(request_xml(insurer=padded), today=TODAY).insurer_number == reference


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<XmlMsg><MessageHeader><MedicalInstitutionCode>&lol4;</MedicalInstitutionCode></MessageHeader></XmlMsg>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE XmlMsg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<XmlMsg><MessageHeader><MedicalInstitutionCode>&xxe;</MedicalInstitutionCode></MessageHeader></XmlMsg>"""


def _bad_inputs(request_xml):
    good = request_xml()
    return {
        "missing InsurerNumber": (request_xml(insurer=None), "E0101", "InsurerNumber"),
        "7-digit InsurerNumber": (request_xml(insurer="0613999"), "E0102", "InsurerNumber"),
        "no such date": (request_xml(birth="20250230"), "E0104", "Birthdate"),
        "care date 20250230": (request_xml(care="20250230"), "E0104", "QualificationConfirmationDate"),
        "far-future care date": (request_xml(care="20270401"), "E0103", "QualificationConfirmationDate"),
        "birth after today": (request_xml(birth="20261201"), "E0103", "Birthdate"),
        "truncated": (good[: len(good) // 2], "E0001", None),
        "empty": (b"", "E0001", None),
        "sjis bytes declared utf-8": (request_xml(symbol="髙橋").decode().encode("cp932"), "E0003", "encoding"),
        "utf-8 bytes declared sjis": ("<?xml version='1.0' encoding='Shift_JIS'?><XmlMsg>".encode() + "\ufffd".encode()
                                      + b"\xff</XmlMsg>", "E0003", "encoding"),
        "unsupported encoding": (good.replace(b"UTF-8", b"EUC-JP"), "E0003", "encoding"),
        "billion laughs": (BILLION_LAUGHS, "E0004", None),
        "external entity": (EXTERNAL_ENTITY, "E0004", None),
        "not XmlMsg": (b"<Other/>", "E0005", "XmlMsg"),
        "bad consent flag": (request_xml(consent="2"), "E0102", "LimitApplicationCertificateRelatedConsFlg"),
        "bad branch": (request_xml(branch="ABC"), "E0102", "InsuredBranchNumber"),
        "short institution code": (request_xml(institution="131123"), "E0102", "MedicalInstitutionCode"),
    }


@pytest.mark.parametrize("case", list(_bad_inputs(lambda **k: b"").keys()))
def test_bad_input_is_a_verification_error_and_segment_9(request_xml, case):
    data, code, field = _bad_inputs(request_xml)[case]
    with pytest.raises(VerificationError) as info:
        xmlmsg.parse_request(data, today=TODAY)
    exc = info.value
    assert exc.code == code, exc
    if field:
        assert field in (exc.field or "")
    assert exc.message
    for enc in ("utf-8", "shift_jis"):
        root = assert_strict_client_rules(xmlmsg.render_error(exc, None, encoding=enc, processed_at=NOW),
                                          expect_success=False)
        assert t(root, "MessageHeader/SegmentOfResult") == "9"
        assert t(root, "MessageHeader/ErrorCode") == code
        assert t(root, "MessageBody/ProcessingResultStatus") == "2"
    error_json = json.loads(xmlmsg.render_error_json(exc, None, processed_at=NOW))
    assert error_json["XmlMsg"]["MessageHeader"]["SegmentOfResult"] == "9"


def test_error_echoes_the_header_it_could_read(request_xml):
    with pytest.raises(VerificationError) as info:
        xmlmsg.parse_request(request_xml(insurer="0613999", afi="file-77"), today=TODAY)
    root = parse(xmlmsg.render_error(info.value, None, processed_at=NOW))
    assert t(root, "MessageHeader/ArbitraryFileIdentifier") == "file-77"
    assert t(root, "MessageHeader/MedicalInstitutionCode") == "1311234569"
    assert t(root, "MessageHeader/QualificationConfirmationDate") == "20261122"


def test_json_errors(request_xml):
    for data, code in [(b"{not json", "E0001"), (b"[]", "E0005"), (b'{"XmlMsg": {}}', "E0005"),
                       ("{}".encode("utf-16"), "E0003")]:
        with pytest.raises(VerificationError) as info:
            xmlmsg.parse_request_json(data, today=TODAY)
        assert info.value.code == code


# ---------------------------------------------------------------- rendering

@pytest.mark.parametrize("encoding", ["utf-8", "shift_jis"])
def test_round_trip_request_outcome_xml(request_xml, valid_outcome, encoding):
    req = xmlmsg.parse_request(request_xml(encoding="Shift_JIS" if encoding == "shift_jis" else "UTF-8"), today=TODAY)
    out = xmlmsg.render_result(valid_outcome(), req, encoding=encoding, processed_at=NOW)
    root = assert_strict_client_rules(out, expect_success=True)
    h, b = root.find("MessageHeader"), root.find("MessageBody")
    assert out.startswith(f'<?xml version="1.0" encoding="{"Shift_JIS" if encoding == "shift_jis" else "UTF-8"}" '
                          f'standalone="no"?>'.encode())
    assert t(h, "CharacterCodeIdentifier") == ("1" if encoding == "shift_jis" else "0")
    assert t(h, "ProcessExecutionTime") == "20261122093015"  # JST
    assert t(h, "ArbitraryFileIdentifier") == "clinic-0001"
    assert t(h, "MedicalInstitutionCode") == "1311234569"
    assert t(h, "ReferenceClassification") == "2"
    assert [c.tag for c in b.find("QualificationConfirmSearchInfo")] == [
        "InsurerNumber", "InsuredCardSymbol", "InsuredIdentificationNumber", "InsuredBranchNumber", "Birthdate",
        "LimitApplicationCertificateRelatedConsFlg", "ArbitraryIdentifier"]
    r = b.find("ResultList/ResultOfQualificationConfirmation")
    assert t(r, "NameKana") == "ｺｳﾛｳ ﾀﾛｳ"
    assert t(r, "Name") == "広労 太郎"
    assert t(r, "InsuredName") == "広労 一郎"
    assert t(r, "PersonalFamilyClassification") == "2"
    assert t(r, "InsuredPartialContributionRatio") is None  # not a 後期高齢者医療 member (see test_oqs_field_semantics)
    assert t(r, "PostNumber") == "100-8916"
    assert t(r, "Birthdate") == "19800401"
    assert t(r, "LimitApplicationCertificateRelatedInfo/LimitApplicationCertificateClassificationFlag") == "A03"
    assert t(r, "LimitApplicationCertificateRelatedConsTime") == "20261122093000"
    assert t(r, "PharmacistsInfoAvailableTime") == "20261123093000"
    assert t(r, "ReferenceNumber") == "R-0001"
    assert t(r, "ArbitraryIdentifier") == "P-42"
    # the echoed identifier is findable by the plain substring match one client does
    text = out.decode("cp932" if encoding == "shift_jis" else "utf-8")
    assert "<ArbitraryFileIdentifier>clinic-0001</ArbitraryFileIdentifier>" in text


def test_limit_info_only_with_consent(request_xml, valid_outcome):
    req = xmlmsg.parse_request(request_xml(consent="0"), today=TODAY)
    outcome = valid_outcome(limit_consent=Consent(ConsentKind.LIMIT, ConsentStatus.NONE, None, None))
    root = assert_strict_client_rules(xmlmsg.render_result(outcome, req, processed_at=NOW), expect_success=True)
    r = root.find("MessageBody/ResultList/ResultOfQualificationConfirmation")
    assert t(r, "LimitApplicationCertificateRelatedConsFlg") == "0"
    assert r.find("LimitApplicationCertificateRelatedInfo") is None
    # without a recorded consent the request's flag decides
    root = parse(xmlmsg.render_result(valid_outcome(limit_consent=None), req, processed_at=NOW))
    assert root.find(".//LimitApplicationCertificateRelatedInfo") is None


def test_elderly_preschool_loss(request_xml, valid_outcome):
    req = xmlmsg.parse_request(request_xml(), today=TODAY)
    outcome = VerificationOutcome(Validity.INVALID, (replace(
        valid_outcome().answers[0], elderly=ElderlyInfo(date(2026, 5, 1), date(2026, 5, 1), date(2027, 7, 31), 2),
        preschool=True, disqualification_date=date(2026, 10, 1), loss_reason=LossReason.OTHER_INSURANCE,
        co_pay_ratio_tenths=2),), None)
    root = assert_strict_client_rules(xmlmsg.render_result(outcome, req, processed_at=NOW), expect_success=False)
    r = root.find(".//ResultOfQualificationConfirmation")
    assert t(r, "ElderlyRecipientCertificateInfo/ElderlyRecipientContributionRatio") == "020"
    assert t(r, "PreschoolClassification") == "1"
    assert t(r, "ReasonOfLoss") == "03"
    assert t(r, "DisqualificationDate") == "20261001"
    assert t(root, "MessageBody/QualificationValidity") == "2"
    assert t(root, "MessageBody/ProcessingResultMessage").startswith("無効")


def test_not_found_has_an_empty_result_list(request_xml):
    req = xmlmsg.parse_request(request_xml(), today=TODAY)
    out = xmlmsg.render_result(VerificationOutcome(Validity.NOT_FOUND, (), None), req, processed_at=NOW)
    root = assert_strict_client_rules(out, expect_success=False)
    assert t(root, "MessageBody/QualificationValidity") == "4"
    assert root.find("MessageBody/ResultList") is not None
    assert root.findall("MessageBody/ResultList/*") == []
    doc = json.loads(xmlmsg.render_result_json(VerificationOutcome(Validity.NOT_FOUND, (), None), req,
                                               processed_at=NOW))
    assert doc["XmlMsg"]["MessageBody"]["ResultList"] == []


def test_warning_on_success_keeps_success(request_xml, valid_outcome):
    req = xmlmsg.parse_request(request_xml(), today=TODAY)
    outcome = replace(valid_outcome(), warning="電子証明書の有効期限が3か月以内に切れます")
    root = assert_strict_client_rules(xmlmsg.render_result(outcome, req, processed_at=NOW), expect_success=True)
    assert "3か月" in t(root, "MessageBody/ProcessingResultMessage")


def test_valid_outcome_must_have_exactly_one_answer(request_xml, valid_outcome):
    req = xmlmsg.parse_request(request_xml(), today=TODAY)
    two = VerificationOutcome(Validity.VALID, valid_outcome().answers * 2, None)
    with pytest.raises(ValueError):
        xmlmsg.render_result(two, req, processed_at=NOW)


def test_codes_outside_the_tables_never_reach_the_wire(request_xml, make_answer):
    req = xmlmsg.parse_request(request_xml(), today=TODAY)
    bad = VerificationOutcome(Validity.VALID, (make_answer(limit=replace(make_answer().limit, category_code="Z99")),))
    with pytest.raises(ValueError):
        xmlmsg.render_result(bad, req, processed_at=NOW)


def test_shift_jis_substitutes_what_it_cannot_encode(request_xml, valid_outcome):
    req = xmlmsg.parse_request(request_xml(), today=TODAY)
    outcome = valid_outcome(name="𠮷野 家〜", address="東京都\x07港区\n1-1")
    sjis = parse(xmlmsg.render_result(outcome, req, encoding="shift_jis", processed_at=NOW))
    assert t(sjis, ".//Name") == "〓野 家～"  # 𠮷 is not in CP932; WAVE DASH folds to FULLWIDTH TILDE
    assert t(sjis, ".//Address") == "東京都〓港区 1-1"
    utf8 = parse(xmlmsg.render_result(outcome, req, encoding="utf-8", processed_at=NOW))
    assert t(utf8, ".//Name") == "𠮷野 家〜"


def test_json_all_strings_and_result_list_array(request_xml, valid_outcome):
    req = xmlmsg.parse_request(request_xml(), today=TODAY)
    doc = json.loads(xmlmsg.render_result_json(valid_outcome(), req, processed_at=NOW))

    def leaves(node):
        if isinstance(node, dict):
            for v in node.values():
                yield from leaves(v)
        elif isinstance(node, list):
            for v in node:
                yield from leaves(v)
        else:
            yield node

    assert all(isinstance(v, str) for v in leaves(doc))
    body = doc["XmlMsg"]["MessageBody"]
    assert isinstance(body["ResultList"], list) and len(body["ResultList"]) == 1
    result = body["ResultList"][0]["ResultOfQualificationConfirmation"]
    assert result["NameKana"] == "ｺｳﾛｳ ﾀﾛｳ"
    assert "InsuredPartialContributionRatio" not in result  # 後期高齢者医療 only
    assert doc["XmlMsg"]["MessageHeader"]["CharacterCodeIdentifier"] == "0"
    assert (body["ProcessingResultStatus"], body["QualificationValidity"]) == ("1", "1")


def test_card_result_has_reference_class_1_and_no_search_echo(request_xml, valid_outcome):
    req = replace(xmlmsg.parse_request(request_xml(), today=TODAY), reference_class=ReferenceClass.CARD)
    root = assert_strict_client_rules(xmlmsg.render_result(valid_outcome(), req, processed_at=NOW),
                                      expect_success=True)
    assert t(root, "MessageHeader/ReferenceClassification") == "1"
    assert root.find("MessageBody/QualificationConfirmSearchInfo") is None


def test_naive_times_are_utc():
    assert xmlmsg._ymdhms(datetime(2026, 11, 22, 15, 0)) == "20261123000000"


# ---------------------------------------------------------------- hypothesis

KATAKANA = st.text(alphabet=st.sampled_from(
    [chr(c) for c in range(0x30A1, 0x30F7)] + ["ー", "　"]), min_size=1, max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(min_size=1, max_size=40), kana=KATAKANA, encoding=st.sampled_from(["utf-8", "shift_jis"]))
def test_any_name_renders_to_parseable_xml(request_xml, valid_outcome, name, kana, encoding):
    req = xmlmsg.parse_request(request_xml(), today=TODAY)
    out = xmlmsg.render_result(valid_outcome(name=name, name_kana=kana, insured_name=name), req, encoding=encoding,
                               processed_at=NOW)
    root = assert_strict_client_rules(out, expect_success=True)
    expected = xmlmsg._clean(name)
    if encoding == "shift_jis":
        folded = expected.translate(xmlmsg._CP932_FOLD)
        expected = "".join(ch if _cp932_ok(ch) else "〓" for ch in folded)
    assert t(root, ".//ResultOfQualificationConfirmation/Name") == expected
    half = t(root, ".//NameKana")
    assert half == jaconv.z2h(kana, kana=True, ascii=True, digit=True)
    assert all(not ("\u30a0" <= ch <= "\u30ff") or ch in "ヮヰヱヵヶ" for ch in half)  # no full-width kana left
    assert jaconv.h2z(half.replace(" ", "　"), kana=True) == kana.replace("ヮ", "ヮ")


def _cp932_ok(ch: str) -> bool:
    try:
        ch.encode("cp932")
        return True
    except UnicodeEncodeError:
        return False


# ---------------------------------------------------------------- 照会番号 and bulk

REGISTRATION = """<?xml version="1.0" encoding="{enc}" standalone="no"?>
<XmlMsg>
  <MessageHeader>
    <MedicalInstitutionCode>1311234569</MedicalInstitutionCode>
    <ArbitraryFileIdentifier>reg-1</ArbitraryFileIdentifier>
  </MessageHeader>
  <MessageBody>{items}</MessageBody>
</XmlMsg>
"""
REG_ITEM = """
    <ReferenceNumberRegistrationInfo>
      <ReferenceNumber>{ref}</ReferenceNumber>
      <InsurerNumber>06139992</InsurerNumber>
      <InsuredCardSymbol>あいう</InsuredCardSymbol>
      <InsuredIdentificationNumber>{number}</InsuredIdentificationNumber>
      <InsuredBranchNumber>05</InsuredBranchNumber>
    </ReferenceNumberRegistrationInfo>"""


def registration_xml(refs, enc="UTF-8") -> bytes:
    items = "".join(REG_ITEM.format(ref=r, number=str(180 + i)) for i, r in enumerate(refs))
    return REGISTRATION.format(enc=enc, items=items).encode("cp932" if enc == "Shift_JIS" else "utf-8")


def test_reference_registration_single_and_bulk():
    one = xmlmsg.parse_reference_registration(registration_xml(["患者-001"], enc="Shift_JIS"))
    assert one.registrations == (ReferenceRegistration("患者-001", "06139992", "あいう", "180", "05"),)
    many = xmlmsg.parse_reference_registration(registration_xml(["A", "B", "C"]))
    assert [r.reference_number for r in many.registrations] == ["A", "B", "C"]
    err = VerificationError("E0301", "bad", "ReferenceNumber")
    root = parse(xmlmsg.render_reference_registration_result(many, {1: err}, processed_at=NOW))
    assert t(root, "MessageHeader/SegmentOfResult") == "1"
    assert (t(root, "MessageHeader/NumberOfProcessingResult"), t(root, "MessageHeader/NumberOfNormalProcessing"),
            t(root, "MessageHeader/NumberOfError")) == ("3", "2", "1")
    statuses = [t(u, "ProcessingResultStatus") for u in root.iter("ReferenceNumberRegistrationResult")]
    assert statuses == ["1", "2", "1"]


@pytest.mark.parametrize("ref", ["", "x" * 51])
def test_reference_number_length(ref):
    with pytest.raises(VerificationError) as info:
        xmlmsg.parse_reference_registration(registration_xml([ref]))
    assert info.value.code == "E0301"


def bulk_xml(n: int, *, bad_index: int | None = None) -> bytes:
    infos = "".join(
        f"""<QualificationConfirmSearchInfo><InsurerNumber>{'0613999' if i == bad_index else '06139992'}</InsurerNumber>
        <InsuredIdentificationNumber>{100 + i}</InsuredIdentificationNumber><Birthdate>19800401</Birthdate>
        <LimitApplicationCertificateRelatedConsFlg>0</LimitApplicationCertificateRelatedConsFlg>
        <ArbitraryIdentifier>appt-{i}</ArbitraryIdentifier></QualificationConfirmSearchInfo>""" for i in range(n))
    return f"""<?xml version="1.0" encoding="UTF-8"?><XmlMsg><MessageHeader>
<QualificationConfirmationDate>20261123</QualificationConfirmationDate>
<MedicalInstitutionCode>1311234569</MedicalInstitutionCode></MessageHeader>
<MessageBody>{infos}</MessageBody></XmlMsg>""".encode()


def fetch_xml(number: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?><XmlMsg><MessageHeader>
<MedicalInstitutionCode>1311234569</MedicalInstitutionCode><ArbitraryFileIdentifier>f-1</ArbitraryFileIdentifier>
</MessageHeader><MessageBody><ReceptionNumber>{number}</ReceptionNumber></MessageBody></XmlMsg>""".encode()


def test_bulk_request_accept_and_results(valid_outcome):
    bulk = xmlmsg.parse_bulk_request(bulk_xml(3), today=TODAY)
    assert len(bulk.items) == 3 and bulk.care_date == date(2026, 11, 23)
    assert [r.number for r in bulk.items] == ["100", "101", "102"]
    accepted = parse(xmlmsg.render_bulk_accepted(bulk, "R123", received_at=NOW, processed_at=NOW))
    assert t(accepted, "MessageHeader/ReceptionNumber") == "R123"
    assert t(accepted, "MessageHeader/ReceptionDateTime") == "20261122093015"
    fetch = xmlmsg.parse_bulk_fetch(fetch_xml("R123"))
    assert fetch.reception_number == "R123"
    processing = parse(xmlmsg.render_bulk_result(fetch, None, processed_at=NOW))
    assert t(processing, "MessageHeader/SegmentOfResult") == "2"
    results = [(bulk.items[0], valid_outcome()), (bulk.items[1], VerificationOutcome(Validity.NOT_FOUND)),
               (bulk.items[2], VerificationError("E0102", "bad", "InsurerNumber"))]
    out = xmlmsg.render_bulk_result(fetch, results, encoding="shift_jis", processed_at=NOW)
    root = parse(out)
    h = root.find("MessageHeader")
    assert (t(h, "SegmentOfResult"), t(h, "NumberOfProcessingResult"), t(h, "NumberOfNormalProcessing"),
            t(h, "NumberOfError"), t(h, "CharacterCodeIdentifier")) == ("1", "3", "2", "1", "1")
    units = root.findall("MessageBody/BulkConfirmUnit")
    assert [t(u, "ProcessingResultStatus") for u in units] == ["1", "1", "2"]
    assert t(units[0], "ReferenceNumber") == "R-0001"
    assert t(units[0], "ResultOfQualificationConfirmation/Name") == "広労 太郎"
    assert t(units[1], "QualificationValidity") == "4"
    assert t(units[2], "QualificationConfirmSearchInfo/ArbitraryIdentifier") == "appt-2"
    doc = json.loads(xmlmsg.render_bulk_result(fetch, results[:1], encoding="json", processed_at=NOW))
    assert isinstance(doc["XmlMsg"]["MessageBody"]["BulkConfirmUnit"], list)


def test_bulk_one_bad_item_rejects_the_upload_and_names_it():
    with pytest.raises(VerificationError) as info:
        xmlmsg.parse_bulk_request(bulk_xml(4, bad_index=2), today=TODAY)
    assert info.value.field == "QualificationConfirmSearchInfo[2].InsurerNumber"


def test_truncated_request_still_echoes_a_complete_header(request_xml):
    full = request_xml(afi="cut-2")
    with pytest.raises(VerificationError) as info:
        xmlmsg.parse_request(full[:full.index(b"<Birthdate>")], today=TODAY)
    assert info.value.code == "E0001"
    root = parse(xmlmsg.render_error(info.value, None, processed_at=NOW))
    assert t(root, "MessageHeader/ArbitraryFileIdentifier") == "cut-2"
    assert xmlmsg.read_header(full[:40]) is None
