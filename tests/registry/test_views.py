"""The registry REST endpoints (``/api/v1/registry/…``) through the real app — staff only, scoped to the user's
insurer, every read of a person's data audited — and the audit rows of the back-office intake pages; on both
databases."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from sqlalchemy import select

from onshi.privacy.models import AuditEntry
from onshi.registry import intake
from onshi.registry import service as registry
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from tests.registry.helpers import (
    INSURER,
    MN_HANAKO,
    OTHER_INSURER,
    acquisition,
    csv_bytes,
    load,
    setup_insurers,
    write,
)

PASSWORD = "correct-horse-battery"
CLINIC = "1310000011"
API = "/api/v1/registry"
RECEIVED = datetime(2026, 11, 20, 1, 0)  # 10:00 JST


@pytest.fixture
def world(engine, tmp_path):
    """厚労 太郎 and 見本 花子 at 01130012, 別社 太郎 at 06139992; one rejected row of each insurer (a birth date that
    does not exist); a user of every role and a clinic token."""
    from onshi.auth import users
    from onshi.verify.service import add_institution

    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [
        acquisition(),
        acquisition(number="102", my_number=MN_HANAKO, name="見本　花子", name_kana="ミホン　ハナコ",
                    birth_date="1985-04-12", sex="2"),
        acquisition(insurer_number=OTHER_INSURER, employer_symbol="9001", number="7", my_number="",
                    name="別社　太郎", name_kana="ベッシャ　タロウ"),
    ]), T.acquisition, received_at=RECEIVED)
    bad = load(write(tmp_path, "bad.csv", T.acquisition, [
        acquisition(number="201", my_number="", name="誤記　一", name_kana="ゴキ　ハジメ", birth_date="1999-02-30"),
        acquisition(insurer_number=OTHER_INSURER, employer_symbol="9001", number="8", my_number="",
                    name="他社　誤記", name_kana="タシャ　ゴキ", birth_date="1999-02-31"),
    ]), T.acquisition, received_at=RECEIVED)
    assert bad.rejected == 2, bad.errors
    with unit_of_work() as s:
        _inst, token = add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
        for name, role, extra in (("clerk", "clerk", {"insurer_number": INSURER}),
                                  ("supervisor", "supervisor", {"insurer_number": INSURER}),
                                  ("otherclerk", "clerk", {"insurer_number": OTHER_INSURER}),
                                  ("reception", "clinic", {"institution_code": CLINIC}),
                                  ("analyst", "analyst", {}), ("admin", "admin", {})):
            users.add_user(s, username=name, password=PASSWORD, role=role, **extra)
        people = {name: registry.find_persons_by_name_birth(s, name, birth)[0] for name, birth in (
            ("厚労　太郎", date(1970, 1, 1)), ("見本　花子", date(1985, 4, 12)), ("別社　太郎", date(1970, 1, 1)))}
    return {"token": token, "people": people, "tmp": tmp_path}


def quarantined_ids() -> dict[str, int]:
    """``{name as filed: quarantined row id}`` of every open row (read here, outside any scope)."""
    from onshi.registry.models import QuarantinedRow

    with unit_of_work() as s:
        return {intake.quarantined_values(r)["name"]: r.id
                for r in s.scalars(select(QuarantinedRow).where(QuarantinedRow.status == "open"))}


@pytest.fixture
def app(engine, world, tmp_path, monkeypatch):
    from onshi.config import get_settings
    from onshi.web.app import create_app

    monkeypatch.setattr(get_settings(), "var_dir", tmp_path / "var")
    return create_app(engine, publisher_interval=0)


def client_of(app, username: str | None = None):
    """A TestClient, signed in as *username* when given (the session cookie of ``/login``)."""
    from fastapi.testclient import TestClient

    c = TestClient(app)
    if username:
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token},
                   follow_redirects=False)
        assert r.status_code == 303, r.text
    return c


def audit_rows(subject_kind: str | None = None) -> list[tuple[str, str, str, str]]:
    """``(actor, action, subject kind, subject id)`` of every user's audit entry, oldest first."""
    with unit_of_work() as s:
        q = select(AuditEntry).where(AuditEntry.actor_kind == "user").order_by(AuditEntry.id)
        if subject_kind:
            q = q.where(AuditEntry.subject_kind == subject_kind)
        return [(e.actor_id, e.action, e.subject_kind, e.subject_id) for e in s.scalars(q)]


def test_no_session_a_clinic_token_or_another_role_gets_401_or_403_and_no_data(app, world):
    taro = world["people"]["厚労　太郎"]
    qid = quarantined_ids()["誤記　一"]
    paths = [f"{API}/members?symbol=10000001&number=101", f"{API}/members?name=厚労太郎&birth_date=1970-01-01",
             f"{API}/members/{taro}", f"{API}/quarantine", f"{API}/quarantine/{qid}"]
    anonymous = client_of(app)
    clinic_token = client_of(app)
    clinic_token.headers["Authorization"] = f"Bearer {world['token']}"
    for who, c, status in [("nobody", anonymous, 401), ("clinic token", clinic_token, 401),
                           ("reception", client_of(app, "reception"), 403),
                           ("analyst", client_of(app, "analyst"), 403), ("admin", client_of(app, "admin"), 403)]:
        for path in paths:
            r = c.get(path, follow_redirects=False)
            assert r.status_code == status, (who, path, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/json")
            assert "太郎" not in r.text and "誤記" not in r.text and "1970" not in r.text
    assert audit_rows() == []


def test_search_by_numbers_and_by_name_is_scoped_and_audited(app, world):
    taro, hanako = world["people"]["厚労　太郎"], world["people"]["見本　花子"]
    clerk = client_of(app, "clerk")
    r = clerk.get(f"{API}/members", params={"symbol": "１０００００01", "number": "101"})  # full width as typed
    assert r.status_code == 200, r.text
    assert [(h["person_id"], h["name"], h["symbol"], h["number"], h["branch"], h["active"], h["birth_date"])
            for h in r.json()] == [(taro, "厚労　太郎", "10000001", "101", "00", True, "1970-01-01")]
    r = clerk.get(f"{API}/members", params={"name": "見本 花子", "birth_date": "S60.4.12"})  # 和暦
    assert [h["person_id"] for h in r.json()] == [hanako]
    # 別社 太郎 has the same birth date but is another insurer's member: not found here
    assert clerk.get(f"{API}/members", params={"name": "別社　太郎", "birth_date": "1970-01-01"}).json() == []
    assert audit_rows("person") == [("clerk", "member.search", "person", str(taro)),
                                    ("clerk", "member.search", "person", str(hanako))]


def test_search_terms_that_cannot_be_used_are_named(app, world):
    clerk = client_of(app, "clerk")
    r = clerk.get(f"{API}/members", params={"birth_date": "H31.5.1"})
    assert r.status_code == 422
    invalid = r.json()["detail"]["invalid"]
    assert "name" not in invalid and invalid["birth_date"].startswith("生年月日「H31.5.1」")  # a birth date alone is a search
    assert clerk.get(f"{API}/members").status_code == 422  # nothing to search by
    r = clerk.get(f"{API}/members", params={"symbol": "10000001", "number": "1-#"})
    assert r.status_code == 422 and r.json()["detail"]["invalid"]["number"].startswith("番号「1-#」")
    assert audit_rows() == []


def test_member_view_is_the_insurers_and_audited(app, world):
    taro, other = world["people"]["厚労　太郎"], world["people"]["別社　太郎"]
    clerk = client_of(app, "clerk")
    r = clerk.get(f"{API}/members/{taro}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "厚労　太郎" and body["birth_date"] == "1970-01-01"
    assert body["my_number_masked"] == "********0257" and "621498320257" not in r.text
    assert [(q["symbol"], q["number"], q["branch"], q["role"]) for q in body["qualifications"]] == [
        ("10000001", "101", "00", "insured")]
    assert audit_rows("person") == [("clerk", "member.view", "person", str(taro))]
    # another insurer's member, an unknown person and ids no column holds: 404/422, never data, never a 500
    for path, status in ((f"{API}/members/{other}", 404), (f"{API}/members/999999", 404),
                         (f"{API}/members/{2**63}", 422), (f"{API}/members/{2**64 + 5}", 422),
                         (f"{API}/members/0", 422), (f"{API}/quarantine/{2**63}", 422),
                         (f"{API}/quarantine/{2**63 - 1}", 404)):
        r = clerk.get(path)
        assert r.status_code == status, (path, r.status_code, r.text)
        assert "別社" not in r.text
    other_clerk = client_of(app, "otherclerk")
    assert other_clerk.get(f"{API}/members/{taro}").status_code == 404
    assert other_clerk.get(f"{API}/members/{other}").json()["name"] == "別社　太郎"
    assert audit_rows("person") == [("clerk", "member.view", "person", str(taro)),
                                    ("otherclerk", "member.view", "person", str(other))]


def test_quarantine_lists_the_insurers_open_rows_audited(app, world):
    ids = quarantined_ids()
    mine, theirs = ids["誤記　一"], ids["他社　誤記"]
    clerk = client_of(app, "clerk")
    rows = clerk.get(f"{API}/quarantine").json()
    assert [(r["id"], r["row_number"], r["filename"], r["notification_type"]) for r in rows] == [
        (mine, 2, "bad.csv", "acquisition")]
    assert rows[0]["values"]["name"] == "誤記　一" and rows[0]["errors"][0]["column"] == "birth_date"
    assert "他社" not in str(rows)
    assert clerk.get(f"{API}/quarantine/{theirs}").status_code == 404
    assert clerk.get(f"{API}/quarantine/{mine}").json()["values"]["birth_date"] == "1999-02-30"
    assert audit_rows("quarantined_row") == [("clerk", "quarantine.list", "quarantined_row", str(mine)),
                                             ("clerk", "quarantine.view", "quarantined_row", str(mine))]
    other = client_of(app, "otherclerk").get(f"{API}/quarantine").json()
    assert [r["id"] for r in other] == [theirs]


def test_the_quarantine_page_and_the_intake_report_write_audit_rows(app, world):
    """Both show names, birth dates, addresses and numbers as filed: each view is an audit row of its reader."""
    mine = quarantined_ids()["誤記　一"]
    clerk = client_of(app, "clerk")
    r = clerk.get(f"/office/quarantine/{mine}")
    assert r.status_code == 200 and "誤記" in r.text
    assert ("clerk", "quarantine.view", "quarantined_row", str(mine)) in audit_rows()
    page = clerk.get("/office/intake")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    data = csv_bytes(T.acquisition, [acquisition(number="301", my_number="", name="新規　誤記",
                                                 name_kana="シンキ　ゴキ", birth_date="2001-13-01")])
    r = clerk.post("/office/intake", data={"ntype": "acquisition", "csrf_token": token},
                   files={"file": ("new.csv", data, "text/csv")})
    assert r.status_code == 200 and "2001-13-01" in r.text, r.text
    with unit_of_work() as s:
        file_id = s.scalar(select(AuditEntry.subject_id).where(AuditEntry.action == "intake.report"))
    assert file_id is not None
    assert ("clerk", "intake.report", "intake_file", file_id) in audit_rows()
    new = quarantined_ids()["新規　誤記"]
    assert ("clerk", "quarantine.list", "quarantined_row", str(new)) in audit_rows()
    # another insurer's clerk sees neither the page of the row nor anything of it
    other = client_of(app, "otherclerk")
    r = other.get(f"/office/quarantine/{mine}")
    assert r.status_code == 404 and "誤記" not in r.text
    assert not [a for a in audit_rows() if a[0] == "otherclerk" and a[3] == str(mine)]


def test_a_correction_still_refused_shows_what_was_typed(app, world):
    mine = quarantined_ids()["誤記　一"]
    clerk = client_of(app, "clerk")
    page = clerk.get(f"/office/quarantine/{mine}")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = clerk.post(f"/office/quarantine/{mine}", data={"csrf_token": token, "action": "fix",
                                                        "col_birth_date": "1999-02-31"})
    assert r.status_code == 422
    assert 'name="col_birth_date" value="1999-02-31"' in r.text  # the row as it now stands, not as first filed
    assert [a[1] for a in audit_rows("quarantined_row")] == ["quarantine.view", "quarantine.view"]
