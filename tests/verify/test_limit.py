"""限度額 information with consent and without an application, from the registry to every interface.

On both databases: the 区分 derived from the registered 標準報酬月額 (at each threshold, for a dependent, after a
revision, across the 70+ boundary), オ only from an application, an application winning while valid, and nothing
at all without consent — in the service, REST, OQS XML and JSON, FHIR and the reception screen.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime

import pytest
from fastapi.testclient import TestClient
from lxml import etree
from sqlalchemy import select

from onshi.exchange.publish import publish_all
from onshi.registry.models import NotificationType as T
from onshi.store.clock import japan_today
from onshi.store.db import unit_of_work
from onshi.verify import service
from onshi.verify.result import LimitSource, ReferenceClass, VerificationRequest

from tests.registry.helpers import INSURER, SYMBOL, acquisition, dependent, load, numbers, setup_insurers, write

CLINIC = "1310000011"
NOW = datetime(2024, 11, 20, 1, 0)  # 10:00 in Japan


@pytest.fixture
def world(engine, tmp_path):
    setup_insurers(tmp_path)
    with unit_of_work() as s:
        service.add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
    return tmp_path


def ask(day: date, *, number="101", branch="00", birth=date(1970, 1, 1), consent=True):
    req = VerificationRequest(reference_class=ReferenceClass.NUMBERS, care_date=day, institution_code=CLINIC,
                              arbitrary_file_identifier=None, insurer_number=INSURER, symbol=SYMBOL, number=number,
                              branch=branch, birth_date=birth, limit_consent=consent, arbitrary_identifier=None)
    with unit_of_work() as s:
        inst = s.scalar(select(service.Institution).where(service.Institution.code == CLINIC))
        return service.verify(s, req, inst, now=NOW).answers[0]


def members(world, *rows):
    rep = load(write(world, "a.csv", T.acquisition, list(rows)), T.acquisition)
    assert rep.applied == len(rows), rep.errors


def apply_limit(world, name="l.csv", **over):
    row = numbers(application_date="2024-10-15", tax_exempt="0", low_income_1="0", income_exemption="0")
    row.update(over)
    rep = load(write(world, name, T.limit_application, [row]), T.limit_application)
    assert rep.applied == 1, rep.errors


# 標準報酬月額 grades at each boundary (健康保険法 §40; bands: 健康保険法施行令 §41, see rules/limit_category.py)
BANDS = [("1390000", "A01"), ("830000", "A01"), ("790000", "A02"), ("530000", "A02"), ("500000", "A03"),
         ("280000", "A03"), ("260000", "A04"), ("58000", "A04")]


def test_each_threshold_without_an_application(world):
    members(world, *(acquisition(number=str(200 + i), my_number="", monthly_remuneration=r)
                     for i, (r, _) in enumerate(BANDS)))
    publish_all()
    for i, (remuneration, code) in enumerate(BANDS):
        a = ask(date(2024, 11, 20), number=str(200 + i))
        assert a.limit is not None and a.limit.category_code == code, remuneration
        assert a.limit.source == LimitSource.REMUNERATION and a.limit.certificate_date is None
        assert a.limit.classification_code == "01" and a.limit.valid_from == date(2024, 4, 1)
        assert ask(date(2024, 11, 20), number=str(200 + i), consent=False).limit is None


@pytest.mark.parametrize("remuneration, code", [("830000", "A01"), ("530000", "A02"), ("280000", "A03"),
                                                ("260000", "A04")])
def test_a_dependent_follows_the_member(world, remuneration, code):
    members(world, acquisition(monthly_remuneration=remuneration))
    load(write(world, "d.csv", T.dependent, [dependent(my_number="")]), T.dependent)
    publish_all()
    child = ask(date(2024, 11, 20), branch="01", birth=date(1972, 5, 5))
    assert child.limit.category_code == code and child.limit.source == LimitSource.REMUNERATION
    assert ask(date(2024, 11, 20), branch="01", birth=date(1972, 5, 5), consent=False).limit is None


def test_the_remuneration_valid_on_the_care_date_counts(world):
    members(world, acquisition(monthly_remuneration="410000"))
    rep = load(write(world, "r.csv", T.remuneration, [numbers(monthly_remuneration="830000", effective_month="2024-10",
                                                              reason="随時改定")]), T.remuneration)
    assert rep.applied == 1, rep.errors
    publish_all()
    before, after = ask(date(2024, 9, 30)), ask(date(2024, 10, 1))
    assert (before.limit.category_code, before.limit.valid_to) == ("A03", date(2024, 9, 30))
    assert (after.limit.category_code, after.limit.valid_from) == ("A01", date(2024, 10, 1))
    assert ask(date(2024, 11, 20)).limit.category_code == "A01"


@pytest.mark.parametrize("birth, start", [(date(1954, 11, 2), date(2024, 12, 1)),   # 70 reached on 1 Nov
                                          (date(1954, 12, 1), date(2024, 12, 1)),   # a 1st: the birthday
                                          (date(1954, 11, 1), date(2024, 11, 1))])  # reached 70 on 31 Oct
def test_70_plus_from_the_elderly_start(world, birth, start):
    members(world, acquisition(birth_date=birth.isoformat(), monthly_remuneration="410000"))
    publish_all()
    day_before = date.fromordinal(start.toordinal() - 1)
    assert ask(day_before, birth=birth).limit.category_code == "A03"  # ウ
    assert ask(start, birth=birth).limit.category_code == "B03"  # 現役並みⅠ


def test_o_only_from_an_application_and_an_application_wins_while_valid(world):
    members(world, acquisition(monthly_remuneration="410000"),
            acquisition(number="102", my_number="", monthly_remuneration="410000"))
    apply_limit(world, tax_exempt="1")  # 住民税非課税: オ
    publish_all()
    o = ask(date(2024, 11, 20))
    assert (o.limit.category_code, o.limit.source, o.limit.classification_code) == ("A05", LimitSource.APPLICATION,
                                                                                    "02")
    assert o.limit.certificate_date == date(2024, 10, 15)
    assert ask(date(2024, 9, 30)).limit.category_code == "A03"  # before the certificate's month: derived
    assert ask(date(2024, 11, 20), number="102").limit.category_code == "A03"  # no application: never オ
    assert ask(date(2024, 11, 20), consent=False).limit is None


def test_an_under_70_certificate_does_not_answer_once_70_plus(world):
    members(world, acquisition(birth_date="1954-11-02", monthly_remuneration="410000"))
    apply_limit(world, tax_exempt="1")  # A05 until 31 July 2025; 高齢受給者 from 1 Dec 2024
    publish_all()
    assert ask(date(2024, 11, 30), birth=date(1954, 11, 2)).limit.category_code == "A05"
    after = ask(date(2024, 12, 1), birth=date(1954, 11, 2)).limit
    assert (after.category_code, after.source) == ("B03", LimitSource.REMUNERATION)


def test_no_limit_information_when_the_qualification_does_not_cover_the_day(world):
    members(world, acquisition(monthly_remuneration="410000"))
    load(write(world, "x.csv", T.loss, [numbers(loss_date="2024-11-01", loss_reason="99")]), T.loss)
    publish_all()
    assert ask(date(2024, 10, 31)).limit.valid_to == date(2024, 10, 31)
    assert ask(date(2024, 11, 20)).limit is None


# ---------------------------------------------------------------- every interface, consent 0 and 1

@pytest.fixture
def api(world, engine):
    members(world, acquisition(acquisition_date="2024-04-01", monthly_remuneration="530000"))
    publish_all()
    with unit_of_work() as s:
        _i, token = service.add_institution(s, code="1310000029", name="テスト外科", facility_type="clinic")
    client = TestClient(create_app(engine))
    client.token, client.code = token, "1310000029"
    return client


def create_app(engine):
    from onshi.web.app import create_app as make

    return make(engine, publisher_interval=0)


def _body(consent: bool) -> dict:
    return {"insurer_number": INSURER, "symbol": SYMBOL, "number": "101", "branch": "00", "birth_date": "1970-01-01",
            "care_date": japan_today().isoformat(), "limit_consent": consent}


def _xml(code: str, consent: int) -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="no"?><XmlMsg><MessageHeader>'
            f"<QualificationConfirmationDate>{japan_today():%Y%m%d}</QualificationConfirmationDate>"
            f"<MedicalInstitutionCode>{code}</MedicalInstitutionCode></MessageHeader><MessageBody>"
            f"<QualificationConfirmSearchInfo><InsurerNumber>{INSURER}</InsurerNumber>"
            f"<InsuredCardSymbol>{SYMBOL}</InsuredCardSymbol><InsuredIdentificationNumber>101"
            f"</InsuredIdentificationNumber><InsuredBranchNumber>00</InsuredBranchNumber><Birthdate>19700101"
            f"</Birthdate><LimitApplicationCertificateRelatedConsFlg>{consent}"
            f"</LimitApplicationCertificateRelatedConsFlg></QualificationConfirmSearchInfo></MessageBody></XmlMsg>"
            ).encode()


def test_rest(api):
    h = {"Authorization": f"Bearer {api.token}"}
    without = api.post("/api/v1/verifications/numbers", json=_body(False), headers=h).json()["results"][0]
    assert without["limit"] is None
    got = api.post("/api/v1/verifications/numbers", json=_body(True), headers=h).json()["results"][0]["limit"]
    assert (got["category_code"], got["source"], got["certificate_date"]) == ("A02", "remuneration", None)


def test_oqs_xml_and_json(api):
    h = {"Authorization": f"Bearer {api.token}"}
    no = api.post("/oqs/xml", content=_xml(api.code, 0), headers=h).text
    assert "<SegmentOfResult>1</SegmentOfResult>" in no and "LimitApplicationCertificateRelatedInfo" not in no
    assert "<LimitApplicationCertificateRelatedConsFlg>0</LimitApplicationCertificateRelatedConsFlg>" in no
    yes = api.post("/oqs/xml", content=_xml(api.code, 1), headers=h).content
    res = etree.fromstring(yes.split(b"?>", 1)[1]).find("MessageBody/ResultList/ResultOfQualificationConfirmation")
    info = res.find("LimitApplicationCertificateRelatedInfo")
    assert res.findtext("LimitApplicationCertificateRelatedConsFlg") == "1"
    assert info.findtext("LimitApplicationCertificateClassificationFlag") == "A02"
    assert info.findtext("LimitApplicationCertificateClassification") == "01"
    assert info.find("LimitApplicationCertificateDate") is None  # derived: no 認定, no 交付年月日
    assert info.findtext("LimitApplicationCertificateValidStartDate") == "20240401"

    def as_json(consent):
        req = {"XmlMsg": {"MessageHeader": {"QualificationConfirmationDate": f"{japan_today():%Y%m%d}",
                                            "MedicalInstitutionCode": api.code},
                          "MessageBody": {"QualificationConfirmSearchInfo": {
                              "InsurerNumber": INSURER, "InsuredCardSymbol": SYMBOL,
                              "InsuredIdentificationNumber": "101", "InsuredBranchNumber": "00",
                              "Birthdate": "19700101", "LimitApplicationCertificateRelatedConsFlg": str(consent)}}}}
        r = api.post("/oqs/json", content=json.dumps(req).encode(), headers=h)
        return r.json()["XmlMsg"]["MessageBody"]["ResultList"][0]["ResultOfQualificationConfirmation"]

    no_json = as_json(0)
    assert no_json["LimitApplicationCertificateRelatedConsFlg"] == "0"
    assert "LimitApplicationCertificateRelatedInfo" not in no_json
    info = as_json(1)["LimitApplicationCertificateRelatedInfo"]
    assert info["LimitApplicationCertificateClassificationFlag"] == "A02"
    assert "LimitApplicationCertificateDate" not in info


def test_fhir(api):
    h = {"Authorization": f"Bearer {api.token}"}

    def coverage(consent):
        bundle = api.post("/fhir/verify", json=_body(consent), headers=h).json()
        return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Coverage")

    assert "class" not in coverage(False)
    [cls] = coverage(True)["class"]
    assert (cls["value"], cls["name"], cls["type"]["coding"][0]["code"]) == ("A02", "イ", "class")
    ext = {e["url"].rsplit(":", 1)[1]: e for e in cls["extension"]}
    assert ext["limit-category-source"]["valueCode"] == "remuneration"
    assert ext["limit-category-period"]["valuePeriod"]["start"] == "2024-04-01"


def test_reception_screen(api):
    from onshi.auth import users

    with unit_of_work() as s:
        users.add_user(s, username="uketsuke", password="correct-horse-battery", role="clinic",
                       display_name="受付 一郎", institution_code=api.code)

    def csrf(path):
        return re.search(r'name="csrf_token" value="([^"]+)"', api.get(path).text).group(1)

    r = api.post("/login", data={"username": "uketsuke", "password": "correct-horse-battery",
                                 "csrf_token": csrf("/login"), "next": ""}, follow_redirects=False)
    assert r.status_code == 303
    form = {"insurer_number": INSURER, "symbol": SYMBOL, "number": "101", "branch": "00", "birth_date": "1970-01-01"}
    without = api.post("/reception/numbers", data={**form, "csrf_token": csrf("/reception")})
    assert without.status_code == 200 and "有効" in without.text
    assert 'data-testid="limit"' not in without.text and "同意した場合に表示されます" in without.text
    page = api.post("/reception/numbers", data={**form, "limit_consent": "1", "csrf_token": csrf("/reception")})
    assert page.status_code == 200
    shown = page.text.split('data-testid="limit"', 1)[1].split("</table>", 1)[0]
    assert "イ" in shown and "標準報酬月額による" in shown and "申請は不要" in shown
