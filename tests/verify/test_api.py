"""The HTTP interfaces: REST, OQS XmlMsg (XML in both encodings, JSON), FHIR, authentication."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from onshi.exchange.publish import publish_all
from onshi.registry.models import NotificationType as T
from onshi.store import clock
from onshi.store.clock import japan_today
from onshi.store.db import unit_of_work
from onshi.verify import service
from onshi.web.app import create_app

from tests.registry.helpers import acquisition, load, setup_insurers, write

CLINIC = "1310000011"
TODAY = japan_today()


@pytest.fixture
def api(engine, tmp_path):
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition(acquisition_date="2024-04-01")]), T.acquisition)
    publish_all()
    with unit_of_work() as s:
        _inst, token = service.add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
        _other, revoked = service.add_institution(s, code="1310000029", name="停止医院", facility_type="clinic")
        service.revoke_institution(s, "1310000029")
    client = TestClient(create_app(engine, publisher_interval=0))
    client.token, client.revoked = token, revoked
    return client


def body(**over):
    b = {"insurer_number": "01130012", "symbol": "10000001", "number": "101", "branch": "00",
         "birth_date": "1970-01-01", "care_date": TODAY.isoformat()}
    b.update(over)
    return b


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_rest_verification(api):
    r = api.post("/api/v1/verifications/numbers", json=body(), headers=auth(api.token))
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["validity"] == 1 and data["validity_label"] == "有効"
    assert data["results"][0]["name"] == "厚労　太郎" and data["results"][0]["co_pay_ratio_tenths"] == 3
    assert "621498320257" not in r.text and "my_number" not in r.text


@pytest.mark.parametrize("token", [None, "wrong", "revoked"])
def test_unknown_or_revoked_institution_gets_401_and_nothing(api, token):
    headers = {} if token is None else auth(api.revoked if token == "revoked" else token)
    r = api.post("/api/v1/verifications/numbers", json=body(), headers=headers)
    assert r.status_code == 401 and "厚労" not in r.text
    x = api.post("/oqs/xml", content=b"<XmlMsg/>", headers=headers)
    assert x.status_code == 401 and "厚労" not in x.text


@pytest.mark.parametrize("field, value", [("insurer_number", "0113001"), ("insurer_number", "01130013"),
                                          ("branch", "001"), ("birth_date", "1970-02-30"), ("number", "1●2")])
def test_rest_field_errors_are_422_with_the_field(api, field, value):
    r = api.post("/api/v1/verifications/numbers", json=body(**{field: value}), headers=auth(api.token))
    assert r.status_code == 422
    assert any(field in e["loc"] for e in r.json()["detail"])


def test_rest_far_future_care_date(api):
    r = api.post("/api/v1/verifications/numbers", json=body(care_date="2099-01-01"), headers=auth(api.token))
    assert r.status_code == 422 and "QualificationConfirmationDate" in r.text


def xml_request(encoding="UTF-8", insurer="01130012", care=None):
    care = care or TODAY.strftime("%Y%m%d")
    text = (f'<?xml version="1.0" encoding="{encoding}" standalone="no"?>'
            f"<XmlMsg><MessageHeader><QualificationConfirmationDate>{care}</QualificationConfirmationDate>"
            f"<MedicalInstitutionCode>{CLINIC}</MedicalInstitutionCode>"
            f"<ArbitraryFileIdentifier>受付-0001</ArbitraryFileIdentifier></MessageHeader>"
            f"<MessageBody><QualificationConfirmSearchInfo><InsurerNumber>{insurer}</InsurerNumber>"
            f"<InsuredCardSymbol>10000001</InsuredCardSymbol><InsuredIdentificationNumber>101"
            f"</InsuredIdentificationNumber><InsuredBranchNumber>00</InsuredBranchNumber>"
            f"<Birthdate>19700101</Birthdate><LimitApplicationCertificateRelatedConsFlg>0"
            f"</LimitApplicationCertificateRelatedConsFlg></QualificationConfirmSearchInfo></MessageBody></XmlMsg>")
    return text.encode("cp932" if encoding == "Shift_JIS" else "utf-8")


@pytest.mark.parametrize("encoding, cci", [("UTF-8", "0"), ("Shift_JIS", "1")])
def test_oqs_xml_both_encodings(api, encoding, cci):
    r = api.post("/oqs/xml", content=xml_request(encoding), headers=auth(api.token))
    assert r.status_code == 200
    assert r.content.startswith(f'<?xml version="1.0" encoding="{encoding}"'.encode())
    root = etree.fromstring(r.content.decode("cp932" if cci == "1" else "utf-8").split("?>", 1)[1].encode())
    h, b = root.find("MessageHeader"), root.find("MessageBody")
    assert h.findtext("CharacterCodeIdentifier") == cci
    assert h.findtext("SegmentOfResult") == "1" and h.findtext("ArbitraryFileIdentifier") == "受付-0001"
    assert h.findtext("MedicalInstitutionCode") == CLINIC and h.findtext("ReferenceClassification") == "2"
    assert b.findtext("QualificationValidity") == "1" and b.findtext("ProcessingResultStatus") == "1"
    results = b.find("ResultList").findall("ResultOfQualificationConfirmation")
    assert len(results) == 1
    res = results[0]
    # 一部負担金割合 is sent for 後期高齢者医療 members only (docs/oqs-clients.md): this member is 56
    assert res.findtext("NameKana") == "ｺｳﾛｳ ﾀﾛｳ" and res.findtext("InsuredPartialContributionRatio") is None
    assert res.findtext("Birthdate") == "19700101" and res.findtext("InsurerName")


@pytest.mark.parametrize("payload, code", [
    (b"<XmlMsg><MessageHeader>", "E0001"),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><XmlMsg>&e;</XmlMsg>', None),
    (xml_request(insurer="0113001"), None),
    (xml_request(care="20991231"), None),
    (b"\xff\xfe garbage", None),
])
def test_oqs_bad_requests_answer_segment_9_never_500(api, payload, code):
    r = api.post("/oqs/xml", content=payload, headers=auth(api.token))
    assert r.status_code == 200
    text = r.content.decode("utf-8", errors="replace")
    assert "<SegmentOfResult>9</SegmentOfResult>" in text and "<ErrorCode>" in text
    assert "root:" not in text and "厚労" not in text
    if code:
        assert f"<ErrorCode>{code}</ErrorCode>" in text


def test_oqs_json_values_are_strings_and_result_list_is_an_array(api):
    req = {"XmlMsg": {"MessageHeader": {"QualificationConfirmationDate": TODAY.strftime("%Y%m%d"),
                                        "MedicalInstitutionCode": CLINIC},
                      "MessageBody": {"QualificationConfirmSearchInfo": {
                          "InsurerNumber": "01130012", "InsuredCardSymbol": "10000001",
                          "InsuredIdentificationNumber": "101", "InsuredBranchNumber": "00",
                          "Birthdate": "19700101", "LimitApplicationCertificateRelatedConsFlg": "0"}}}}
    r = api.post("/oqs/json", content=json.dumps(req).encode(), headers=auth(api.token))
    data = r.json()["XmlMsg"]
    assert data["MessageHeader"]["SegmentOfResult"] == "1"
    results = data["MessageBody"]["ResultList"]
    assert isinstance(results, list) and len(results) == 1

    def strings_only(node):
        if isinstance(node, dict):
            return all(strings_only(v) for v in node.values())
        if isinstance(node, list):
            return all(strings_only(v) for v in node)
        return isinstance(node, str)

    assert strings_only(data)


def test_fhir_bundle(api):
    r = api.post("/fhir/verify", json=body(), headers=auth(api.token))
    assert r.status_code == 200
    bundle = r.json()
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {"Coverage", "Organization", "Patient"} <= kinds
    coverage = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Coverage")
    assert coverage["subscriberId"] == "10000001:101" and coverage["dependent"] == "00"


def test_reference_number_and_eligibility_claim_and_rerouting(api):
    r = api.post("/api/v1/reference-numbers", json={"reference_number": "P-0001", "insurer_number": "01130012",
                                                    "symbol": "10000001", "number": "101", "branch": "00"},
                 headers=auth(api.token))
    assert r.status_code == 201
    v = api.post("/api/v1/verifications/numbers", json=body(), headers=auth(api.token)).json()
    assert v["results"][0]["reference_number"] == "P-0001"
    c = api.post("/api/v1/eligibility-claims", json={"care_date": TODAY.isoformat(), "name": "申立　花子",
                                                     "name_kana": "もうしたて はなこ", "birth_date": "1990-01-01",
                                                     "phone": "03-0000-0000", "employer_hint": "株式会社テスト"},
                 headers=auth(api.token))
    assert c.status_code == 201 and c.json()["id"] > 0
    recorded = datetime.fromisoformat(c.json()["recorded_at"])  # Japan time, with its offset: unambiguous
    assert recorded.utcoffset() == timedelta(hours=9) and abs(recorded - clock.japan_now()) < timedelta(minutes=5)
    # The day of care is taken now, after the fixture registered the member: with TODAY (taken at import) a run
    # that crosses Japan's midnight would ask about a day that ended before anything was registered — rightly
    # answered "nothing registered by the end of the day of care".
    rr = api.post("/api/v1/claim-rerouting", json=body(care_date=japan_today().isoformat()), headers=auth(api.token))
    assert rr.status_code == 200 and rr.json()["reroute"] is False
