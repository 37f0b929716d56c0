"""The transition years and the kinds of verification, end to end over HTTP on both databases: the provisional
billing on an expired 健康保険証 in every answer (REST, OQS XML, FHIR), a smartphone credential beside the card (the
usage log and the analytics tell them apart), a 資格確認限定型 institution refused consents and 限度額, and a
居宅同意取得型 institution's re-query within its period — refused requests record nothing."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import func, select

from onshi.exchange import cards
from onshi.exchange.publish import publish_all
from onshi.interop.fhir.coverage import MEMBER_ID_SYSTEM
from onshi.interop.fhir.eligibility import PROVISIONAL_BILLING_EXTENSION
from onshi.interop.oqs.render import TRANSITION_NS
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from onshi.verify import service
from onshi.verify.models import ConsentRecord, VerificationLogEntry
from onshi.web.app import create_app
from tests.registry.helpers import MN_HANAKO, MN_TARO, acquisition, load, setup_insurers, write

GENERAL, LIMITED, HOME = "1310000011", "1310000029", "1310000037"
CARD, PHONE = "TRANS-CARD-0001", "TRANS-PHONE-0001"


@pytest.fixture
def api(engine, tmp_path):
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition(acquisition_date="2024-04-01"),
                                                 acquisition(number="102", my_number=MN_HANAKO, name="厚労　花子",
                                                             name_kana="コウロウ　ハナコ", birth_date="1972-05-05")]),
         T.acquisition)
    publish_all()
    tokens = {}
    with unit_of_work() as s:
        for code, kind in ((GENERAL, "general"), (LIMITED, "limited"), (HOME, "home_visit")):
            tokens[kind] = service.add_institution(s, code=code, name=f"{kind}機関", facility_type="clinic",
                                                   kind=kind)[1]
        cards.register_card(s, my_number=MN_TARO, certificate_serial=CARD, certificate_expires_on=date(2030, 1, 1))
        cards.register_card(s, my_number=MN_TARO, certificate_serial=PHONE, certificate_expires_on=date(2029, 6, 30),
                            kind="smartphone")
        cards.register_card(s, my_number=MN_HANAKO, certificate_serial="TRANS-CARD-0002",
                            certificate_expires_on=date(2030, 1, 1))
    client = TestClient(create_app(engine, publisher_interval=0))
    client.app.state.rate_limits.enabled = False
    client.tokens = tokens
    return client


def auth(api, kind="general"):
    return {"Authorization": f"Bearer {api.tokens[kind]}"}


def numbers(care: date, **over):
    b = {"insurer_number": "01130012", "symbol": "10000001", "number": "101", "branch": "00",
         "birth_date": "1970-01-01", "care_date": care.isoformat()}
    b.update(over)
    return b


def by_card(serial: str, care: date, consents=None, credential=None):
    b = {"certificate_serial": serial, "care_date": care.isoformat(),
         "reader": {"method": "face", "consents": consents or {}}}
    if credential:
        b["credential"] = credential
    return b


def log_rows(code: str) -> list:
    with unit_of_work() as s:
        return list(s.execute(select(VerificationLogEntry.method, VerificationLogEntry.care_date,
                                     VerificationLogEntry.validity)
                              .where(VerificationLogEntry.institution_code == code)
                              .order_by(VerificationLogEntry.id)).all())


def consent_count(code: str) -> int:
    with unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(ConsentRecord).where(ConsentRecord.institution_code == code))


# ---------------------------------------------------------------- the provisional billing in the answers

@pytest.mark.parametrize(("care", "applies"), [(date(2025, 12, 1), False), (date(2025, 12, 2), True),
                                               (date(2026, 3, 31), True), (date(2026, 4, 1), False)])
def test_the_rest_answer_carries_the_provisional_billing_on_its_days(api, care, applies):
    r = api.post("/api/v1/verifications/numbers", json=numbers(care), headers=auth(api))
    assert r.status_code == 200, r.text
    pb = r.json()["provisional_billing"]
    if not applies:
        assert pb is None
        return
    assert pb == {"until": "2026-03-31", "lapsed_after": "2025-12-01", "ratio_tenths": 3,
                  "message": "期限切れの保険証をオンラインで確認: 2026年3月31日まで 3割で請求できます"}


def test_a_card_check_or_an_invalid_answer_carries_no_provisional_billing(api):
    r = api.post("/api/v1/verifications/card", json=by_card(CARD, date(2026, 1, 5)), headers=auth(api))
    assert r.status_code == 200 and r.json()["validity"] == 1 and r.json()["provisional_billing"] is None
    r = api.post("/api/v1/verifications/numbers", json=numbers(date(2026, 1, 5), number="999"), headers=auth(api))
    assert r.json()["validity"] == 4 and r.json()["provisional_billing"] is None


def _oqs(care: date) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="no"?>'
            f"<XmlMsg><MessageHeader><QualificationConfirmationDate>{care:%Y%m%d}</QualificationConfirmationDate>"
            f"<MedicalInstitutionCode>{GENERAL}</MedicalInstitutionCode>"
            f"<ArbitraryFileIdentifier>T-1</ArbitraryFileIdentifier></MessageHeader>"
            f"<MessageBody><QualificationConfirmSearchInfo><InsurerNumber>01130012</InsurerNumber>"
            f"<InsuredCardSymbol>10000001</InsuredCardSymbol><InsuredIdentificationNumber>101"
            f"</InsuredIdentificationNumber><InsuredBranchNumber>00</InsuredBranchNumber>"
            f"<Birthdate>19700101</Birthdate><LimitApplicationCertificateRelatedConsFlg>0"
            f"</LimitApplicationCertificateRelatedConsFlg></QualificationConfirmSearchInfo></MessageBody></XmlMsg>"
            ).encode()


@pytest.mark.parametrize(("care", "applies"), [(date(2025, 12, 1), False), (date(2025, 12, 2), True)])
def test_oqs_xml_carries_it_as_an_element_of_onshi_s_namespace_after_every_national_one(api, care, applies):
    r = api.post("/oqs/xml", content=_oqs(care), headers=auth(api))
    assert r.status_code == 200
    body = etree.fromstring(r.content.split(b"?>", 1)[1]).find("MessageBody")
    assert body.findtext("QualificationValidity") == "1"
    pb = body.find(f"{{{TRANSITION_NS}}}ProvisionalBilling")
    assert (pb is not None) is applies
    if applies:
        assert pb.findtext(f"{{{TRANSITION_NS}}}Until") == "20260331"
        assert pb.findtext(f"{{{TRANSITION_NS}}}RatioTenths") == "3"
        national = [c.tag for c in body if not c.tag.startswith("{")]
        assert list(body).index(pb) > max(i for i, c in enumerate(body) if c.tag in national)


def test_fhir_carries_it_as_an_onshi_extension(api):
    def cer(care: date) -> dict:
        return {"resourceType": "CoverageEligibilityRequest", "status": "active", "purpose": ["validation"],
                "contained": [{"resourceType": "Patient", "id": "pat", "birthDate": "1970-01-01"},
                              {"resourceType": "Coverage", "id": "cov", "status": "active",
                               "beneficiary": {"reference": "#pat"}, "payor": [{"display": "保険者"}],
                               "identifier": [{"system": MEMBER_ID_SYSTEM, "value": "01130012:10000001:101:00"}]}],
                "patient": {"reference": "#pat"}, "servicedDate": care.isoformat(), "created": "2026-01-01",
                "insurer": {"display": "オンライン資格確認"}, "insurance": [{"coverage": {"reference": "#cov"}}]}

    r = api.post("/fhir/CoverageEligibilityRequest/$submit", json=cer(date(2026, 3, 31)), headers=auth(api))
    assert r.status_code == 200, r.text
    ext = next(e for e in r.json()["extension"] if e["url"] == PROVISIONAL_BILLING_EXTENSION)
    parts = {e["url"]: next(v for k, v in e.items() if k.startswith("value")) for e in ext["extension"]}
    assert parts["until"] == "2026-03-31" and parts["ratioTenths"] == 3 and "3割" in parts["message"]
    r = api.post("/fhir/CoverageEligibilityRequest/$submit", json=cer(date(2026, 4, 1)), headers=auth(api))
    assert all(e["url"] != PROVISIONAL_BILLING_EXTENSION for e in r.json()["extension"])
    # a 資格確認限定型 institution asking for 限度額 over FHIR: 403, an OperationOutcome, nothing recorded
    from onshi.interop.fhir.eligibility import EXT_LIMIT_CONSENT

    asked = dict(cer(date(2026, 11, 2)), extension=[{"url": EXT_LIMIT_CONSENT, "valueBoolean": True}])
    r = api.post("/fhir/CoverageEligibilityRequest/$submit", json=asked, headers=auth(api, "limited"))
    assert r.status_code == 403 and r.json()["resourceType"] == "OperationOutcome" and "E0403" in r.text
    assert log_rows(LIMITED) == []


# ---------------------------------------------------------------- a phone as a card

def test_either_credential_verifies_and_the_log_tells_them_apart(api):
    care = date(2026, 11, 2)
    for serial, credential in ((CARD, None), (PHONE, None), (PHONE, "smartphone"), (CARD, "card")):
        r = api.post("/api/v1/verifications/card", json=by_card(serial, care, credential=credential),
                     headers=auth(api))
        assert r.status_code == 200 and r.json()["validity"] == 1, r.text
        assert r.json()["results"][0]["name"] == "厚労　太郎"
    assert [m for m, *_ in log_rows(GENERAL)] == ["card", "smartphone", "smartphone", "card"]


def test_a_serial_read_as_the_other_credential_is_refused_and_recorded_nowhere(api):
    r = api.post("/api/v1/verifications/card", json=by_card(PHONE, date(2026, 11, 2), credential="card"),
                 headers=auth(api))
    assert r.status_code == 422 and "スマートフォン" in r.text and "E0203" in r.text
    assert log_rows(GENERAL) == []


def test_each_credential_has_its_own_cancellation_and_expiry(api):
    from onshi.store.clock import japan_today

    care = japan_today()  # a cancellation counts from its own day
    with unit_of_work() as s:
        cards.cancel_card(s, PHONE, reason="機種変更")
    r = api.post("/api/v1/verifications/card", json=by_card(PHONE, care), headers=auth(api))
    assert r.status_code == 422 and "E0202" in r.text
    r = api.post("/api/v1/verifications/card", json=by_card(CARD, care), headers=auth(api))
    assert r.status_code == 200 and r.json()["validity"] == 1
    with unit_of_work() as s:
        phone = cards.get_card(s, PHONE)
        assert phone.kind == "smartphone" and phone.certificate_expires_on == date(2029, 6, 30)
        assert cards.get_card(s, CARD).cancelled_at is None


def test_a_smartphone_credential_needs_a_card_credential(api):
    from onshi.registry.service import find_person_by_my_number  # noqa: F401 - the person exists

    with unit_of_work() as s:
        cards.cancel_card(s, "TRANS-CARD-0002", reason="返納")
    with pytest.raises(cards.CardError, match="スマホ用電子証明書"):
        with unit_of_work() as s:
            cards.register_card(s, my_number=MN_HANAKO, certificate_serial="TRANS-PHONE-0002",
                                certificate_expires_on=date(2030, 1, 1), kind="smartphone")
    with unit_of_work() as s:
        assert cards.get_card(s, "TRANS-PHONE-0002") is None
    with pytest.raises(cards.CardError):
        with unit_of_work() as s:
            cards.register_card(s, my_number=MN_HANAKO, certificate_serial="X", kind="watch",
                                certificate_expires_on=date(2030, 1, 1))


def test_the_usage_analytics_break_the_card_verifications_down_by_credential(api, engine):
    from onshi.analytics.usage import UsageAnalytics

    care = date(2026, 11, 2)
    for serial in (CARD, PHONE, PHONE):
        assert api.post("/api/v1/verifications/card", json=by_card(serial, care), headers=auth(api)).status_code == 200
    assert api.post("/api/v1/verifications/numbers", json=numbers(care), headers=auth(api)).status_code == 200
    ua = UsageAnalytics(engine)
    try:
        [cell] = ua.credential_breakdown(months=["2026-11"])
        assert (cell.online, cell.card, cell.smartphone) == (4, 1, 2)
        assert cell.smartphone_share == pytest.approx(2 / 3)
        assert ua.rate(months=["2026-11"]).numerator == 3  # both count as マイナ保険証利用
    finally:
        ua.close()


# ---------------------------------------------------------------- 資格確認限定型

def test_a_verification_only_institution_gets_what_a_card_shows(api):
    care = date(2026, 11, 2)
    r = api.post("/api/v1/verifications/numbers", json=numbers(care), headers=auth(api, "limited"))
    assert r.status_code == 200, r.text
    res = r.json()["results"][0]
    assert res["name"] == "厚労　太郎" and res["co_pay_ratio_tenths"] == 3
    assert res["limit"] is None and res["limit_consent"] is None and res["other_consents"] == []
    r = api.post("/api/v1/verifications/card", json=by_card(CARD, care), headers=auth(api, "limited"))
    assert r.status_code == 200 and r.json()["results"][0]["other_consents"] == []


@pytest.mark.parametrize("request_kind", ["numbers_limit", "card_limit", "card_pharmacist"])
def test_a_verification_only_institution_asking_for_more_is_refused_403_and_nothing_recorded(api, request_kind):
    care = date(2026, 11, 2)
    if request_kind == "numbers_limit":
        r = api.post("/api/v1/verifications/numbers", json=numbers(care, limit_consent=True),
                     headers=auth(api, "limited"))
    else:
        kind = "limit" if request_kind == "card_limit" else "pharmacist"
        r = api.post("/api/v1/verifications/card", json=by_card(CARD, care, consents={kind: True}),
                     headers=auth(api, "limited"))
    assert r.status_code == 403, r.text
    detail = r.json()["detail"][0]
    assert detail["type"] == "E0403" and "資格確認限定型" in detail["msg"]
    said = detail["msg"].split("を提供できません")[0]  # what was asked for, named first
    assert ("限度額情報" in said) is (request_kind != "card_pharmacist")
    assert "厚労" not in r.text
    assert log_rows(LIMITED) == [] and consent_count(LIMITED) == 0


def test_the_oqs_path_refuses_a_limit_flag_from_a_verification_only_institution(api):
    xml = _oqs(date(2026, 11, 2)).replace(GENERAL.encode(), LIMITED.encode()).replace(
        b"<LimitApplicationCertificateRelatedConsFlg>0", b"<LimitApplicationCertificateRelatedConsFlg>1")
    r = api.post("/oqs/xml", content=xml, headers=auth(api, "limited"))
    assert "E0403" in r.text and "厚労" not in r.text
    assert log_rows(LIMITED) == []


# ---------------------------------------------------------------- 居宅同意取得型: the re-query

def test_a_home_visit_institution_re_queries_within_the_period_with_the_first_visit_s_consents(api):
    first = date(2026, 6, 10)
    r = api.post("/api/v1/verifications/card", json=by_card(CARD, first, consents={"pharmacist": True}),
                 headers=auth(api, "home_visit"))
    assert r.status_code == 200 and r.json()["validity"] == 1
    for care in (first, date(2026, 7, 1), date(2026, 9, 30)):  # the last day: the end of the 3rd month after
        r = api.post("/api/v1/verifications/requery", json=numbers(care), headers=auth(api, "home_visit"))
        assert r.status_code == 200, (care, r.text)
        res = r.json()["results"][0]
        assert res["name"] == "厚労　太郎"
        assert [(c["kind"], c["status"]) for c in res["other_consents"]] == [("pharmacist", 1)]
        assert r.json()["provisional_billing"] is None
    assert [m for m, *_ in log_rows(HOME)] == ["card", "requery", "requery", "requery"]


@pytest.mark.parametrize(("care", "why"), [(date(2026, 10, 1), "過ぎています"), (date(2026, 6, 9), "確認していません")])
def test_a_re_query_outside_the_period_is_refused_and_records_nothing(api, care, why):
    assert api.post("/api/v1/verifications/card", json=by_card(CARD, date(2026, 6, 10)),
                    headers=auth(api, "home_visit")).status_code == 200
    before = log_rows(HOME)
    r = api.post("/api/v1/verifications/requery", json=numbers(care), headers=auth(api, "home_visit"))
    assert r.status_code == 422 and r.json()["detail"][0]["type"] == "E0411" and why in r.text
    assert "厚労" not in r.text
    assert log_rows(HOME) == before


def test_a_re_query_needs_a_card_check_by_this_institution(api):
    # a card check at another institution does not count; a numbers check by this one does not either
    assert api.post("/api/v1/verifications/card", json=by_card(CARD, date(2026, 6, 10)),
                    headers=auth(api)).status_code == 200
    assert api.post("/api/v1/verifications/numbers", json=numbers(date(2026, 6, 10)),
                    headers=auth(api, "home_visit")).status_code == 200
    r = api.post("/api/v1/verifications/requery", json=numbers(date(2026, 6, 11)), headers=auth(api, "home_visit"))
    assert r.status_code == 422 and "E0411" in r.text
    r = api.post("/api/v1/verifications/requery", json=numbers(date(2026, 6, 11), number="999"),
                 headers=auth(api, "home_visit"))
    assert r.status_code == 422 and "E0411" in r.text
    assert [m for m, *_ in log_rows(HOME)] == ["numbers"]


@pytest.mark.parametrize("kind", ["general", "limited"])
def test_a_re_query_by_another_kind_of_institution_is_403(api, kind):
    api.post("/api/v1/verifications/card", json=by_card(CARD, date(2026, 6, 10)), headers=auth(api, kind))
    before = log_rows(GENERAL if kind == "general" else LIMITED)
    r = api.post("/api/v1/verifications/requery", json=numbers(date(2026, 6, 11)), headers=auth(api, kind))
    assert r.status_code == 403 and r.json()["detail"][0]["type"] == "E0404" and "厚労" not in r.text
    assert log_rows(GENERAL if kind == "general" else LIMITED) == before


def test_a_re_query_carries_no_consent_flag(api):
    api.post("/api/v1/verifications/card", json=by_card(CARD, date(2026, 6, 10)), headers=auth(api, "home_visit"))
    r = api.post("/api/v1/verifications/requery", json=numbers(date(2026, 6, 11), limit_consent=True),
                 headers=auth(api, "home_visit"))
    assert r.status_code == 422 and "E0412" in r.text
    assert [m for m, *_ in log_rows(HOME)] == ["card"]


def test_the_kind_is_part_of_the_registration_and_refused_when_unknown(api):
    with unit_of_work() as s:
        with pytest.raises(ValueError, match="kind"):
            service.add_institution(s, code="1310000045", name="x", facility_type="clinic", kind="mobile")
        inst = service.institution_by_code(s, HOME)
        assert inst.kind == "home_visit"
        assert service.authenticate_cached(s, api.tokens["limited"]).kind == "limited"
