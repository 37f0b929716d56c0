"""The documents REST endpoints through the real app (TestClient on create_app, signed-in web sessions) — staff
only, scoped to the user's insurer, audited; on both databases."""

from __future__ import annotations

import io
import re
import time
from datetime import date, datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from onshi.documents.models import IssuedDocument
from onshi.privacy.models import AuditEntry
from onshi.registry import service as registry
from onshi.registry.models import NotificationType as T
from onshi.store.clock import japan_today
from onshi.store.db import unit_of_work

from tests.registry.helpers import (
    INSURER,
    MN_HANAKO,
    MN_TARO,
    OTHER_INSURER,
    acquisition,
    load,
    setup_insurers,
    write,
)

PASSWORD = "correct-horse-battery"
CLINIC = "1310000011"
API = "/api/v1/documents"
FRIDAY_10_JST = datetime(2026, 11, 20, 1, 0)  # received: due Tuesday 24 Nov (Monday 23 Nov is a holiday)


@pytest.fixture
def world(engine, tmp_path):
    """厚労 太郎 (マイナ保険証), 見本 花子 (no card: a certificate is due) at 01130012; 別社 太郎 (no My Number: due)
    at 06139992; a user of every role and a clinic token."""
    from onshi.exchange import cards
    from onshi.verify.service import add_institution
    from onshi.auth import users

    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [
        acquisition(),
        acquisition(number="102", my_number=MN_HANAKO, name="見本　花子", name_kana="ミホン　ハナコ",
                    birth_date="1985-04-12", sex="2"),
        acquisition(insurer_number=OTHER_INSURER, employer_symbol="9001", number="7", my_number="",
                    name="別社　太郎", name_kana="ベッシャ　タロウ"),
    ]), T.acquisition, received_at=FRIDAY_10_JST)
    with unit_of_work() as s:
        cards.register_card(s, my_number=MN_TARO, certificate_serial="C1", certificate_expires_on=date(2030, 1, 1))
        _inst, token = add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
        for name, role, extra in (("clerk", "clerk", {"insurer_number": INSURER}),
                                  ("supervisor", "supervisor", {"insurer_number": INSURER}),
                                  ("otherclerk", "clerk", {"insurer_number": OTHER_INSURER}),
                                  ("reception", "clinic", {"institution_code": CLINIC}),
                                  ("analyst", "analyst", {}), ("admin", "admin", {})):
            users.add_user(s, username=name, password=PASSWORD, role=role, **extra)
    with unit_of_work() as s:
        people = {name: registry.find_persons_by_name_birth(s, name, birth)[0] for name, birth in (
            ("厚労　太郎", date(1970, 1, 1)), ("見本　花子", date(1985, 4, 12)), ("別社　太郎", date(1970, 1, 1)))}
        quals = {name: registry.qualification_versions(s, person_id=pid)[0].qualification_id
                 for name, pid in people.items()}
    return {"token": token, "people": people, "quals": quals, "tmp": tmp_path}


@pytest.fixture
def app(engine, world, tmp_path, monkeypatch):
    from onshi.config import get_settings
    from onshi.web.app import create_app

    monkeypatch.setattr(get_settings(), "var_dir", tmp_path / "var")
    return create_app(engine, publisher_interval=0)


def client_of(app, username: str | None = None):
    from fastapi.testclient import TestClient

    c = TestClient(app)
    if username:
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token},
                   follow_redirects=False)
        assert r.status_code == 303, r.text
        c.headers["X-CSRF-Token"] = c.get(f"{API}/session").json()["csrf_token"] if username in (
            "clerk", "supervisor", "otherclerk") else token
    return c


def audit_actions(person_id: int) -> list[str]:
    with unit_of_work() as s:
        return list(s.scalars(select(AuditEntry.action).where(AuditEntry.subject_kind == "person",
                                                              AuditEntry.subject_id == str(person_id))
                              .order_by(AuditEntry.id)))


def documents_count() -> int:
    with unit_of_work() as s:
        return s.scalar(select(func.count()).select_from(IssuedDocument))


def test_no_session_a_clinic_token_or_another_role_gets_401_or_403_and_no_data(app, world):
    hanako, q = world["people"]["見本　花子"], world["quals"]["見本　花子"]
    calls = [("get", f"{API}/persons/{hanako}", None), ("get", f"{API}/returns", None), ("get", f"{API}/1", None),
             ("get", f"{API}/1/pdf", None), ("get", f"{API}/session", None),
             ("post", f"{API}/persons/{hanako}/certificates", {"qualification_id": q, "issue_date": "2026-11-24"}),
             ("post", f"{API}/daily-runs", {"date": "2026-11-24"}),
             ("post", f"{API}/mailing-runs", {"run_name": "x"}),
             ("post", f"{API}/applications", {"qualification_id": q, "reason": "card_lost", "applicant": "本人",
                                              "applied_on": "2026-11-24"}),
             ("post", f"{API}/1/return", {"returned_on": "2026-11-24"})]
    anonymous = client_of(app)
    clinic_token = client_of(app)
    clinic_token.headers["Authorization"] = f"Bearer {world['token']}"
    for who, c, status in [("nobody", anonymous, 401), ("clinic token", clinic_token, 401),
                           ("reception", client_of(app, "reception"), 403),
                           ("analyst", client_of(app, "analyst"), 403), ("admin", client_of(app, "admin"), 403)]:
        for method, path, body in calls:
            r = c.request(method.upper(), path, json=body, follow_redirects=False)
            assert r.status_code == status, (who, path, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/json")
            assert "花子" not in r.text and "太郎" not in r.text
    assert documents_count() == 0 and audit_actions(hanako) == []


def test_clerk_issues_reprints_identical_bytes_and_every_read_is_audited(app, world):
    hanako, q = world["people"]["見本　花子"], world["quals"]["見本　花子"]
    clerk = client_of(app, "clerk")
    assert clerk.get(f"{API}/session").json()["insurer_number"] == INSURER
    body = {"qualification_id": q, "issue_date": "2026-11-23"}
    forged = client_of(app, "clerk")
    forged.headers["X-CSRF-Token"] = "forged"
    assert forged.post(f"{API}/persons/{hanako}/certificates", json=body).status_code == 403  # CSRF
    r = clerk.post(f"{API}/persons/{hanako}/certificates", json=body)
    assert r.status_code == 409 and "翌業務日（令和8年11月24日）から発行します" in r.json()["detail"]  # due from Tuesday 24 Nov
    r = clerk.post(f"{API}/persons/{hanako}/certificates", json={**body, "issue_date": "2026-11-24"})
    assert r.status_code == 201 and r.headers["content-type"] == "application/pdf", r.text
    doc_id = int(r.headers["X-Document-Id"])
    text = PdfReader(io.BytesIO(r.content)).pages[0].extract_text()
    assert "資格確認書" in text and "令和8年11月24日" in text and "見本" in text
    again = clerk.post(f"{API}/persons/{hanako}/certificates", json={**body, "issue_date": "2026-11-24"})
    assert again.status_code == 409 and documents_count() == 1  # nothing twice
    reprint = clerk.get(f"{API}/{doc_id}/pdf")
    assert reprint.status_code == 200 and reprint.content == r.content  # identical bytes
    listed = clerk.get(f"{API}/persons/{hanako}").json()
    assert [(d["id"], d["kind"], d["reason"], d["issue_date"], d["name"]) for d in listed] == [
        (doc_id, "certificate", "no_card", "2026-11-24", "見本　花子")]
    assert clerk.get(f"{API}/{doc_id}").json()["sha256"] == listed[0]["sha256"]
    assert audit_actions(hanako) == ["document.issue", "document.print", "documents.list", "document.read"]
    with unit_of_work() as s:
        assert set(s.scalars(select(AuditEntry.actor_id).where(AuditEntry.subject_id == str(hanako)))) == {"clerk"}
    # the daily run of that day does not issue it again
    supervisor = client_of(app, "supervisor")
    assert supervisor.post(f"{API}/daily-runs", json={"date": "2026-11-24"}).json()["issued"] == 0


def test_another_insurers_people_and_documents_are_not_found(app, world):
    hanako, q = world["people"]["見本　花子"], world["quals"]["見本　花子"]
    clerk = client_of(app, "clerk")
    doc_id = int(clerk.post(f"{API}/persons/{hanako}/certificates",
                            json={"qualification_id": q, "issue_date": "2026-11-24"}).headers["X-Document-Id"])
    before = audit_actions(hanako)
    other = client_of(app, "otherclerk")
    for r in (other.get(f"{API}/persons/{hanako}"), other.get(f"{API}/{doc_id}"), other.get(f"{API}/{doc_id}/pdf"),
              other.post(f"{API}/persons/{hanako}/certificates", json={"qualification_id": q}),
              other.post(f"{API}/{doc_id}/return", json={"returned_on": "2026-12-01"}),
              other.post(f"{API}/applications", json={"qualification_id": q, "reason": "card_lost",
                                                      "applicant": "本人", "applied_on": "2026-11-24"})):
        assert r.status_code == 404 and "花子" not in r.text, r.text
    # a qualification of another person of the same insurer is not this person's either
    taro_q = world["quals"]["厚労　太郎"]
    assert clerk.post(f"{API}/persons/{hanako}/certificates", json={"qualification_id": taro_q}).status_code == 404
    assert other.get(f"{API}/returns").json() == []
    assert audit_actions(hanako) == before and documents_count() == 1


def test_daily_run_is_the_supervisors_for_their_own_insurer(app, world):
    clerk, supervisor = client_of(app, "clerk"), client_of(app, "supervisor")
    assert clerk.post(f"{API}/daily-runs", json={"date": "2026-11-24"}).status_code == 403
    r = supervisor.post(f"{API}/daily-runs", json={"date": "2026-11-24", "insurer_number": OTHER_INSURER})
    assert r.status_code == 403
    assert supervisor.post(f"{API}/daily-runs", json={"date": "2026-11-23"}).json()["issued"] == 0
    run = supervisor.post(f"{API}/daily-runs", json={"date": "2026-11-24", "insurer_number": INSURER}).json()
    assert run["issued"] == 1 and run["skipped"] == 0 and run["run_id"]  # 花子 only: 別社 太郎 is another insurer's
    with unit_of_work() as s:
        assert [d.person_id for d in s.scalars(select(IssuedDocument))] == [world["people"]["見本　花子"]]
    assert supervisor.post(f"{API}/daily-runs", json={"date": "2026-11-24"}).json()["issued"] == 0  # idempotent


def test_applications_and_returns(app, world):
    from onshi.exchange import cards

    taro, hanako = world["people"]["厚労　太郎"], world["people"]["見本　花子"]
    clerk = client_of(app, "clerk")
    app_body = {"qualification_id": world["quals"]["厚労　太郎"], "reason": "card_lost", "applicant": "本人",
                "applied_on": "2026-11-24"}
    r = clerk.post(f"{API}/applications", json=app_body)
    assert r.status_code == 201 and r.json()["person_id"] == taro and r.json()["reason"] == "card_lost"
    assert clerk.post(f"{API}/applications", json=app_body).json()["id"] == r.json()["id"]  # the same application
    bad = clerk.post(f"{API}/applications", json={**app_body, "channel": "direct", "applied_on": "2026-11-25"})
    assert bad.status_code == 422 and "任意継続" in bad.json()["detail"]
    issue = {"qualification_id": world["quals"]["厚労　太郎"], "issue_date": "2026-11-24"}
    assert clerk.post(f"{API}/persons/{taro}/certificates", json=issue).status_code == 409  # next business day
    r = clerk.post(f"{API}/persons/{taro}/certificates", json={**issue, "issue_date": "2026-11-25"})
    assert r.status_code == 201
    assert clerk.get(f"{API}/persons/{taro}").json()[0]["reason"] == "application:card_lost"
    assert "certificate.application" in audit_actions(taro)

    # 花子's certificate comes back once she uses a マイナ保険証
    hanako_doc = int(clerk.post(f"{API}/persons/{hanako}/certificates", json={
        "qualification_id": world["quals"]["見本　花子"], "issue_date": "2026-11-24"}).headers["X-Document-Id"])
    with unit_of_work() as s:
        cards.register_card(s, my_number=MN_HANAKO, certificate_serial="C2", certificate_expires_on=date(2030, 1, 1))
    supervisor = client_of(app, "supervisor")
    supervisor.post(f"{API}/daily-runs", json={"date": "2026-12-01"})
    outstanding = clerk.get(f"{API}/returns").json()
    assert [(d["id"], d["due_back_since"]) for d in outstanding] == [(hanako_doc, "2026-12-01")]
    assert "documents.returns" in audit_actions(hanako)
    r = clerk.post(f"{API}/{hanako_doc}/return", json={"returned_on": "2026-12-03"})
    assert r.status_code == 200 and r.json()["returned_at"] == "2026-12-03"
    assert clerk.get(f"{API}/returns").json() == []
    assert audit_actions(hanako)[-1] == "document.return"


def test_mailing_run_in_the_background_resumable(app, world):
    clerk, supervisor = client_of(app, "clerk"), client_of(app, "supervisor")
    body = {"run_name": "2026-12", "issue_date": "2026-12-01"}
    assert clerk.post(f"{API}/mailing-runs", json=body).status_code == 403
    assert supervisor.post(f"{API}/mailing-runs", json={"run_name": "../x"}).status_code == 422
    r = supervisor.post(f"{API}/mailing-runs", json=body)
    assert r.status_code == 202 and r.json()["total"] == 2
    status = wait_for(clerk, r.json()["status"])
    assert status["state"] == "done" and status["documents"] == 2 and status["files"] >= 2, status
    assert supervisor.post(f"{API}/mailing-runs", json=body).status_code == 202  # again: resumes, adds nothing
    again = wait_for(clerk, r.json()["status"])
    assert again["state"] == "done" and again["documents"] == 2, again
    with unit_of_work() as s:
        kinds = {d.person_id: d.kind for d in s.scalars(select(IssuedDocument))}
    assert kinds == {world["people"]["厚労　太郎"]: "notice", world["people"]["見本　花子"]: "notice"}
    assert clerk.get(f"{API}/mailing-runs/none").status_code == 404


def test_a_mailing_run_during_a_broker_outage_fails_clearly_and_resumes(app, world, monkeypatch):
    """ONSHI_BROKER_URL names a broker that does not answer (a closed port): the start is still accepted (the run
    is a background job), its status says failed and why — never a 500 — and, the broker back (here: the embedded
    default), the same run resumes and makes every notice once."""
    from onshi.config import get_settings

    clerk, supervisor = client_of(app, "clerk"), client_of(app, "supervisor")
    body = {"run_name": "2026-12-outage", "issue_date": "2026-12-01"}
    monkeypatch.setattr(get_settings(), "broker_url", "amqp://guest:guest@127.0.0.1:1//")
    r = supervisor.post(f"{API}/mailing-runs", json=body)
    assert r.status_code == 202
    status = wait_for(clerk, r.json()["status"])
    assert status["state"] == "failed", status
    assert "Error" in str(status) and "Traceback" not in str(status), status
    assert documents_count() == 0
    monkeypatch.setattr(get_settings(), "broker_url", None)
    assert supervisor.post(f"{API}/mailing-runs", json=body).status_code == 202
    again = wait_for(clerk, r.json()["status"])
    assert again["state"] == "done" and again["documents"] == 2, again


def wait_for(client, path: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(path).json()
        if status["state"] != "running" or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


@pytest.fixture
def held_run(monkeypatch):
    """Mailing runs that wait for the test to let them finish (the run's real work is tested above): a run stays
    "running" exactly as long as the test needs it to."""
    import threading

    from onshi.documents import service

    release, started = threading.Event(), threading.Event()
    real = service.mailing_run

    def held(*args, **kwargs):
        started.set()
        assert release.wait(30), "the test never released the run"
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "mailing_run", held)
    yield release, started
    release.set()


def _page_start(client, run_name: str) -> str:
    """Start a mailing run from the back-office page; returns the flash the page shows afterwards."""
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/office/documents").text).group(1)
    r = client.post("/office/documents/mailing", data={"run_name": run_name, "csrf_token": token})
    assert r.status_code == 200, r.text
    return r.text


@pytest.mark.parametrize("first", ["api", "page"])
def test_one_registry_of_runs_for_the_api_and_the_page(app, world, held_run, first):
    """A run started from one side is "already running" for the other (there were two registries, and the second
    run died on the unique run key after writing the same PDFs); when it ends, the page's history says 完了 with
    its documents."""
    release, started = held_run
    supervisor = client_of(app, "supervisor")
    body = {"run_name": "202612", "issue_date": japan_today().isoformat()}
    if first == "api":
        assert supervisor.post(f"{API}/mailing-runs", json=body).status_code == 202
        assert started.wait(10)
        assert "送付回「202612」は実行中です" in _page_start(supervisor, "202612")
    else:
        assert "送付回「202612」を開始しました" in _page_start(supervisor, "202612")
        assert started.wait(10)
        assert supervisor.post(f"{API}/mailing-runs", json=body).status_code == 409
    assert supervisor.get(f"{API}/mailing-runs/202612").json()["state"] == "running"
    release.set()
    status = wait_for(supervisor, f"{API}/mailing-runs/202612")
    assert status["state"] == "done" and status["documents"] == 2, status
    page = supervisor.get("/office/documents").text
    row = re.search(r'<tr data-run="202612">.*?</tr>', page, re.S).group(0)
    assert "実行中" not in row and re.search(r'<td class="num">2</td>', row), row
    progress = supervisor.get("/office/documents/progress.json").json()
    assert [(p["state"], p["message"]) for p in progress if p["run"] == "202612"] == [("done", "2件作成")]
