"""The claims REST routes (issue 21): staff only, scoped to their insurer, audited reads, the case life cycle."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import select

from onshi.privacy.models import AuditEntry
from onshi.store.db import unit_of_work
from tests.claims.test_refunds import world  # noqa: F401 - the registry events and claims of November 2024
from tests.registry.test_views import PASSWORD

API = "/api/v1/claims"


@pytest.fixture
def app(engine, world, tmp_path, monkeypatch):  # noqa: F811
    from onshi.auth import users
    from onshi.config import get_settings
    from onshi.verify.service import add_institution
    from onshi.web.app import create_app

    monkeypatch.setattr(get_settings(), "var_dir", tmp_path / "var")
    with unit_of_work() as s:
        add_institution(s, code="1310000011", name="テスト内科", facility_type="clinic")
        for name, role, extra in (("clerk", "clerk", {"insurer_number": "01130012"}),
                                  ("otherclerk", "clerk", {"insurer_number": "06139992"}),
                                  ("analyst", "analyst", {})):
            users.add_user(s, username=name, password=PASSWORD, role=role, **extra)
    app = create_app(engine, publisher_interval=0)
    app.state.rate_limits.enabled = False  # several sign-ins from one address (the limits are tested in tests/auth)
    return app


def signed_in(app, username: str | None):
    from fastapi.testclient import TestClient

    c = TestClient(app)
    if username:
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token},
                   follow_redirects=False)
        assert r.status_code == 303, r.text[-800:]
        page = c.get(r.headers["location"]).text  # the role's home page carries the CSRF token
        m = re.search(r'name="csrf_token" value="([^"]+)"', page)
        if m:
            c.headers["X-CSRF-Token"] = m.group(1)
    return c


def test_roles_and_scope(app):
    assert signed_in(app, None).get(f"{API}/refunds").status_code == 401
    assert signed_in(app, "analyst").get(f"{API}/refunds").status_code == 403
    clerk = signed_in(app, "clerk")
    assert clerk.post(f"{API}/refunds/match", json={"month": "2024-11"}).json()["opened"] == 3
    cases = clerk.get(f"{API}/refunds").json()
    assert {c["debtor"] for c in cases} == {"ours", "member", "new_insurer"}
    for month in ("0000-01", "2024-13", "24-11"):  # year 0 reached date() as a 500 before (schemathesis)
        assert clerk.post(f"{API}/refunds/match", json={"month": month}).status_code == 422, month
        assert clerk.get(f"{API}/checks", params={"month": month}).status_code == 422, month
    other = signed_in(app, "otherclerk")
    assert other.get(f"{API}/refunds").json() == []
    assert other.get(f"{API}/refunds/{cases[0]['case_id']}").status_code == 404
    assert other.post(f"{API}/refunds/{cases[0]['case_id']}/notice",
                      json={"noticed_on": "2025-01-15"}).status_code == 404


def test_life_cycle_over_rest_with_audited_reads(app):
    clerk = signed_in(app, "clerk")
    clerk.post(f"{API}/refunds/match", json={"month": "2024-11"})
    by = {c["debtor"]: c for c in clerk.get(f"{API}/refunds", params={"month": "2024-11"}).json()}
    ours, member = by["ours"]["case_id"], by["member"]["case_id"]
    r = clerk.post(f"{API}/refunds/{ours}/notice", json={"noticed_on": "2025-01-15"})
    assert r.status_code == 422 and "当方の登録遅延" in r.json()["detail"]
    assert clerk.post(f"{API}/refunds/{member}/notice", json={"noticed_on": "2025-01-15"}).json()["status"] == "noticed"
    r = clerk.post(f"{API}/refunds/{member}/payments", json={"paid_on": "2025-02-01", "amount_yen": 2485})
    assert r.json() == {"case_id": member, "status": "paid", "amount_yen": 2485, "paid_yen": 2485}
    detail = clerk.get(f"{API}/refunds/{member}").json()
    assert detail["name"] == "厚労　次郎" and detail["payments"] == [{"paid_on": "2025-02-01", "amount_yen": 2485}]
    summary = clerk.get(f"{API}/refunds/summary", params={"fiscal_year": 2024}).json()
    assert summary["recovery_rate"] == 100.0 and summary["lateness_cost"] == {"cases": 1, "amount_yen": 4970}
    with unit_of_work() as s:
        actions = [a for a, in s.execute(select(AuditEntry.action).where(AuditEntry.actor_id == "clerk"))]
    assert actions.count("refund.list") == 3 and actions.count("refund.view") == 1
    assert clerk.post(f"{API}/checks", json={"month": "2024-11"}).json()["by_reason"] == {"wrong_insurer": 1}
    listed = clerk.get(f"{API}/checks", params={"month": "2024-11"}).json()
    assert [(f["name"], f["reason_ja"]) for f in listed] == [("厚労　三郎", "保険者の相違")]
    assert clerk.get(f"{API}/checks", params={"month": "2024-13"}).status_code == 422
    shares = clerk.get(f"{API}/generic-share", params={"fiscal_year": 2024}).json()
    assert shares == []  # these claims have procedures only
    assert date(2025, 1, 1)


def test_medical_cost_notice_as_data_and_pdf(app):
    import io

    from pypdf import PdfReader

    from tests.registry.helpers import MN_TARO
    clerk = signed_in(app, "clerk")
    with unit_of_work() as s:
        from onshi.registry import service as registry

        taro = registry.find_person_by_my_number(s, MN_TARO).id
    lines = clerk.get(f"{API}/persons/{taro}/costs", params={"first_month": "2024-10",
                                                             "last_month": "2024-12"}).json()
    # 太郎's claim and none of 花子's (she has none in these claims)
    assert lines == [{"month": "2024-11", "patient": "厚労　太郎", "institution_code": "1310000011",
                      "institution_name": "テスト内科", "setting": "外来", "days": 2, "total_yen": 7100,
                      "patient_share_yen": 2130}]
    r = clerk.get(f"{API}/persons/{taro}/cost-notice.pdf", params={"first_month": "2024-10", "last_month": "2024-12"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
    assert "医療費のお知らせ" in text and "テスト内科" in text and "7,100" in text and "2,130" in text
    with unit_of_work() as s:
        n = len(s.scalars(select(AuditEntry).where(AuditEntry.action == "claims.cost_notice")).all())
    assert n >= 4  # 太郎 and 花子, twice
    assert signed_in(app, "otherclerk").get(f"{API}/persons/{taro}/costs").status_code == 404
    assert clerk.get(f"{API}/persons/{taro}/costs", params={"first_month": "2025-01",
                                                           "last_month": "2024-01"}).status_code == 422
