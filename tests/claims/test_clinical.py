"""Consented clinical information at the clinic (issue 21 point 6): a 有資格者 sees a patient's drug history (3
years, from claims) and 特定健診 results (5 years) only with the patient's consent at this institution, within its
24 hours; every view (and every refusal) audited — on both databases, through the service and over REST.

* 太郎 (101) consents to both at the clinic at T0 (2025-06-10 10:00 JST); 次郎 (102) declines the drug information
  there and was never asked about 特定健診.
* 太郎's claims: drugs in 2022-05 (more than 3 years back), 2024-11 and 2025-05; his results: 2019, 2021 and 2024.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from onshi.claims import clinical
from onshi.exchange.publish import publish_batch
from onshi.privacy.models import AuditEntry
from onshi.registry import service as registry
from onshi.registry.models import NotificationType as T
from onshi.store.clock import frozen_at
from onshi.store.db import unit_of_work
from onshi.verify import service as verify
from tests.claims.helpers import CLINIC, drug, import_claims, line, load_master, write_claims
from tests.claims.test_views import signed_in
from tests.registry.helpers import INSURER, MN_HANAKO, SYMBOL, acquisition, load, setup_insurers, write
from tests.registry.test_views import PASSWORD

OTHER_CLINIC = "1310000029"
LIMITED = "1310000037"
T0 = datetime(2025, 6, 10, 1, 0)  # UTC: 10:00 in Japan
TODAY = date(2025, 6, 10)
TARO = dict(insurer_number=INSURER, symbol=SYMBOL, number="101", branch="00", birth_date=date(1970, 1, 1))
JIRO = dict(insurer_number=INSURER, symbol=SYMBOL, number="102", branch="00", birth_date=date(1980, 2, 2))


@pytest.fixture
def clinic_world(engine, tmp_path):
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [
        acquisition(acquisition_date="2020-04-01"),
        acquisition(number="102", my_number=MN_HANAKO, name="厚労　次郎", name_kana="コウロウ　ジロウ",
                    birth_date="1980-02-02", acquisition_date="2020-04-01")]),
        T.acquisition, received_at=datetime(2020, 3, 30))
    with unit_of_work() as s:
        assert publish_batch(s, now=datetime(2020, 4, 1, 3, 0))
        verify.add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
        verify.add_institution(s, code=OTHER_CLINIC, name="よその薬局", facility_type="pharmacy")
        verify.add_institution(s, code=LIMITED, name="テスト接骨院", facility_type="clinic", kind="limited")
    load_master()
    rep = import_claims(write_claims(tmp_path, "c.csv", [
        line(claim_number="1", month="2022-05", care_days="9"),
        drug(claim_number="1", month="2022-05", care_days="9", code="990000101", name="ノルバスク錠5mg"),
        line(claim_number="2", month="2024-11", care_days="5;20"),
        drug(claim_number="2", month="2024-11", care_days="5;20"),
        line(claim_number="3", month="2025-05", care_days="12", institution_code=OTHER_CLINIC, setting="調剤"),
        drug(claim_number="3", month="2025-05", care_days="12", institution_code=OTHER_CLINIC, setting="調剤",
             code="990000202", name="ロキソプロフェンNa錠60mg「トーワ」", quantity="14"),
    ]), today=TODAY)
    assert rep.ok, rep.errors
    (tmp_path / "r.csv").write_text(
        "insurer_number,symbol,number,branch,birth_date,checkup_date,hba1c,bmi\n"
        f"{INSURER},{SYMBOL},101,00,1970-01-01,2019-06-01,5.2,22.0\n"
        f"{INSURER},{SYMBOL},101,00,1970-01-01,2021-06-01,5.5,23.1\n"
        f"{INSURER},{SYMBOL},101,00,1970-01-01,2024-06-01,5.9,24.4\n", encoding="utf-8")
    from onshi.claims import checkups

    with unit_of_work() as s:
        assert checkups.import_checkup_results(s, tmp_path / "r.csv", today=TODAY).applied == 3
        taro = registry.find_person_by_my_number(s, "621498320257").id
        jiro = registry.find_person_by_my_number(s, MN_HANAKO).id
        verify.record_consents(s, person_id=taro, institution_code=CLINIC, now=T0, method="card",
                               kinds={"pharmacist": True, "specific_health_checkups": True})
        verify.record_consents(s, person_id=jiro, institution_code=CLINIC, now=T0, method="card",
                               kinds={"pharmacist": False})
    return {"taro": taro, "jiro": jiro}


def see(what: str, patient: dict, *, at: datetime, institution: str = CLINIC, actor: str = "doctor"):
    with unit_of_work() as s:
        return clinical.view(s, what, institution_code=institution, actor_id=actor, now=at, **patient)


def refusal(what: str, patient: dict, **kw) -> clinical.Refusal:
    got = see(what, patient, **kw)
    assert isinstance(got, clinical.Refusal), got
    return got


def audit_rows(action: str) -> list[AuditEntry]:
    with unit_of_work() as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))
        s.expunge_all()
        return rows


def test_granted_drugs_are_three_years_of_claims_and_the_view_is_audited(clinic_world):
    v = see("drugs", TARO, at=T0 + timedelta(hours=1))
    assert v.patient.name == "厚労　太郎" and v.since == date(2022, 6, 10)
    # newest first; 2022-05 is more than 3 years back and is not shown
    assert [(d.month, d.name, d.quantity, d.generic, d.institution_name, d.setting) for d in v.drugs] == [
        ("2025-05", "ロキソプロフェンNa錠60mg「トーワ」", 14.0, True, "よその薬局", "調剤"),
        ("2024-11", "アムロジピン錠5mg「サワイ」", 28.0, True, "テスト内科", "外来")]
    assert v.drugs[1].care_dates == ["2024-11-05", "2024-11-20"]
    assert v.available_until == T0 + timedelta(hours=24)
    [row] = audit_rows("clinical.drugs")
    assert (row.actor_id, row.subject_kind, row.subject_id) == ("doctor", "person", str(clinic_world["taro"]))


def test_granted_checkups_are_five_years(clinic_world):
    v = see("checkups", TARO, at=T0 + timedelta(hours=23, minutes=59))
    assert [(c.checkup_date, c.values["hba1c"]) for c in v.checkups] == [(date(2024, 6, 1), "5.9"),
                                                                          (date(2021, 6, 1), "5.5")]
    assert v.since == date(2020, 6, 11) and v.drugs == []  # 09:59 on 11 June in Japan
    assert len(audit_rows("clinical.checkups")) == 1


def test_the_consent_lasts_24_hours_to_the_second(clinic_world):
    assert see("drugs", TARO, at=T0 + timedelta(hours=24)).drugs  # the last instant of the window
    r = refusal("drugs", TARO, at=T0 + timedelta(hours=24, seconds=1))
    assert r.code == "expired" and "期限が切れました" in r.reason and "2025-06-11 10:00" in r.reason
    assert refusal("checkups", TARO, at=T0 + timedelta(days=3)).code == "expired"


def test_refused_without_consent_declined_or_at_another_institution(clinic_world):
    r = refusal("checkups", JIRO, at=T0)  # never asked about 特定健診
    assert r.code == "no_consent" and "同意を得ていません" in r.reason
    r = refusal("drugs", JIRO, at=T0)  # said no at the reader
    assert r.code == "declined" and "同意していません" in r.reason
    # 太郎's consent was given at CLINIC: the pharmacy across the street sees nothing
    r = refusal("drugs", TARO, at=T0, institution=OTHER_CLINIC)
    assert r.code == "no_consent"
    # before the consent was given, nothing either
    assert refusal("drugs", TARO, at=T0 - timedelta(minutes=1)).code == "no_consent"
    refused = audit_rows("clinical.refused")
    assert len(refused) == 4 and {r.subject_id for r in refused} == {str(clinic_world["taro"]), str(clinic_world["jiro"])}
    assert audit_rows("clinical.drugs") == []


def test_refused_for_a_limited_institution_unknown_numbers_and_several_people(clinic_world):
    with unit_of_work() as s:  # even with a consent recorded there, 資格確認限定型 sees no health information
        verify.record_consents(s, person_id=clinic_world["taro"], institution_code=LIMITED, now=T0, method="card",
                               kinds={"pharmacist": True})
    r = refusal("drugs", TARO, at=T0, institution=LIMITED)
    assert r.code == "limited" and "資格確認限定型" in r.reason
    assert refusal("drugs", {**TARO, "number": "999"}, at=T0).code == "not_found"
    assert refusal("drugs", TARO, at=T0, institution="1310000045").code == "institution"
    with unit_of_work() as s:
        verify.revoke_institution(s, OTHER_CLINIC)
    assert refusal("drugs", TARO, at=T0, institution=OTHER_CLINIC).code == "institution"


def test_a_new_consent_after_expiry_opens_the_window_again_and_a_later_no_closes_it(clinic_world):
    later = T0 + timedelta(days=2)
    with unit_of_work() as s:
        verify.record_consents(s, person_id=clinic_world["taro"], institution_code=CLINIC, now=later, method="card",
                               kinds={"pharmacist": True})
    assert see("drugs", TARO, at=later + timedelta(hours=1)).consented_at == later
    with unit_of_work() as s:
        verify.record_consents(s, person_id=clinic_world["taro"], institution_code=CLINIC,
                               now=later + timedelta(hours=2), method="card", kinds={"pharmacist": False})
    assert refusal("drugs", TARO, at=later + timedelta(hours=3)).code == "declined"


# ---------------------------------------------------------------- REST and the page

@pytest.fixture
def app(engine, clinic_world, tmp_path, monkeypatch):
    from onshi.auth import users
    from onshi.config import get_settings
    from onshi.web.app import create_app

    monkeypatch.setattr(get_settings(), "var_dir", tmp_path / "var")
    with unit_of_work() as s:
        users.add_user(s, username="doctor", password=PASSWORD, role="clinician", display_name="医師 健",
                       institution_code=CLINIC)
        users.add_user(s, username="pharmacist", password=PASSWORD, role="clinician", display_name="薬剤師 薫",
                       institution_code=OTHER_CLINIC)
        users.add_user(s, username="reception", password=PASSWORD, role="clinic", display_name="受付 一郎",
                       institution_code=CLINIC)
        users.add_user(s, username="clerk", password=PASSWORD, role="clerk", insurer_number=INSURER)
    app = create_app(engine, publisher_interval=0)
    app.state.rate_limits.enabled = False
    return app


def body(patient: dict) -> dict:
    return {**patient, "birth_date": patient["birth_date"].isoformat()}


def test_rest_access_matrix(app):
    api = "/api/v1/clinical"
    with frozen_at(T0.replace(tzinfo=timezone.utc) + timedelta(hours=2)):
        assert signed_in(app, None).post(f"{api}/drugs", json=body(TARO)).status_code == 401
        r = signed_in(app, "reception").post(f"{api}/drugs", json=body(TARO))
        assert r.status_code == 403 and "有資格者" in r.json()["detail"]
        assert signed_in(app, "clerk").post(f"{api}/checkups", json=body(TARO)).status_code == 403
        doctor = signed_in(app, "doctor")
        r = doctor.post(f"{api}/drugs", json=body(TARO))
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["name"] == "厚労　太郎" and [d["month"] for d in got["drugs"]] == ["2025-05", "2024-11"]
        assert [c["checkup_date"] for c in doctor.post(f"{api}/checkups", json=body(TARO)).json()["checkups"]] == \
            ["2024-06-01", "2021-06-01"]
        r = doctor.post(f"{api}/drugs", json=body(JIRO))
        assert r.status_code == 403 and "同意していません" in r.json()["detail"] and "厚労" not in r.text
        r = signed_in(app, "pharmacist").post(f"{api}/drugs", json=body(TARO))  # consent was at the other clinic
        assert r.status_code == 403 and "同意を得ていません" in r.json()["detail"] and "厚労" not in r.text
        assert doctor.post(f"{api}/drugs", json={**body(TARO), "number": "999"}).status_code == 404
        assert doctor.post(f"{api}/drugs", json={**body(TARO), "insurer_number": "0113"}).status_code == 422
        no_csrf = signed_in(app, "doctor")
        no_csrf.headers.pop("X-CSRF-Token", None)
        assert no_csrf.post(f"{api}/drugs", json=body(TARO)).status_code == 403
    with frozen_at(T0.replace(tzinfo=timezone.utc) + timedelta(hours=25)):
        r = signed_in(app, "doctor").post(f"{api}/drugs", json=body(TARO))
        assert r.status_code == 403 and "期限が切れました" in r.json()["detail"]
    with unit_of_work() as s:
        actions = [a for a, in s.execute(select(AuditEntry.action).where(AuditEntry.actor_id.in_(
            ["doctor", "pharmacist", "reception"])))]
    assert actions.count("clinical.drugs") == 1 and actions.count("clinical.checkups") == 1
    assert actions.count("clinical.refused") == 4  # 次郎, the pharmacy, 999, expired


def test_the_page_is_for_the_clinician_only_and_shows_each_refusal_in_japanese(app):
    with frozen_at(T0.replace(tzinfo=timezone.utc) + timedelta(hours=2)):
        assert signed_in(app, "reception").get("/clinical").status_code == 403
        doctor = signed_in(app, "doctor")
        page = doctor.get("/clinical")
        assert page.status_code == 200 and "薬剤情報・特定健診情報" in page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        form = {"csrf_token": token, "insurer_number": INSURER, "symbol": SYMBOL, "number": "101", "branch": "00",
                "birth_date": "S45.1.1"}
        r = doctor.post("/clinical", data=form)
        assert r.status_code == 200 and "厚労　太郎" in r.text and "ロキソプロフェンNa錠60mg「トーワ」" in r.text
        assert "ノルバスク" not in r.text and "5.9" in r.text and "HbA1c" in r.text
        r = doctor.post("/clinical", data={**form, "number": "102", "birth_date": "1980-02-02"})
        assert "この患者さんは薬剤情報の閲覧に同意していません" in r.text
        assert "当院での特定健診情報の閲覧の同意を得ていません" in r.text and "(" not in r.text.split("data-testid=\"drugs-refused\">")[1][:80]
        r = doctor.post("/clinical", data={**form, "insurer_number": "0113", "birth_date": "H31.5.1"})
        assert r.status_code == 422 and "保険者番号「0113」" in r.text and "平成" in r.text
