"""The 医療費通知 mailing run (issue 21 point 5) on the mailing machinery, on both databases: one bundle per employer
with a manifest, exactly once across a restart (a run killed after its first bundle, started again, then once
more after it finished), the bundle read back by PDF text extraction (pdftotext), a reprint, the audit, the CLI.

* 株式会社テスト (10000001): 太郎 (101) with 花子 (101-01, dependent) — care in November (太郎) and December
  (花子) 2024 and January 2025 (太郎, outside the period); 次郎 (102) — no care: no notice.
* 第二事業所 (10000002): 三郎 (201) — care in November.
"""

from __future__ import annotations

import csv
import hashlib
import subprocess
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from onshi.claims import notice_mailing
from onshi.documents import service as documents
from onshi.documents.models import DocumentRun, IssuedDocument, MailingBundle
from onshi.privacy.models import AuditEntry
from onshi.registry.models import NotificationType as T
from onshi.store.db import session_factory, unit_of_work
from tests.claims.helpers import import_claims, line, load_master, write_claims
from tests.ops.workers import broker, drain, queue, workers  # noqa: F401 - the shared real-broker fixtures
from tests.registry.helpers import (INSURER, MN_CHILD, MN_HANAKO, acquisition, dependent, load, setup_insurers,
                                    write)

ISSUE = date(2025, 1, 20)
SECOND = "10000002"
JIRO = dict(number="102", my_number=MN_HANAKO, name="厚労　次郎", name_kana="コウロウ　ジロウ", birth_date="1980-02-02")
SABURO = dict(employer_symbol=SECOND, number="201", my_number=MN_CHILD, name="厚労　三郎", name_kana="コウロウ　サブロウ",
              birth_date="1985-03-03")


@pytest.fixture
def families(engine, tmp_path):
    from onshi.verify.service import add_institution

    setup_insurers(tmp_path)
    load(write(tmp_path, "e.csv", T.employer, [{"insurer_number": INSURER, "employer_symbol": SECOND,
                                                 "employer_name": "第二事業所", "postal_code": "100-0003",
                                                 "address": "東京都千代田区一ツ橋1-1", "prefecture_code": "13"}]),
         T.employer)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition(), acquisition(**JIRO), acquisition(**SABURO)]),
         T.acquisition, received_at=datetime(2024, 3, 30))
    load(write(tmp_path, "d.csv", T.dependent, [dependent(my_number="")]), T.dependent,
         received_at=datetime(2024, 3, 30))
    with unit_of_work() as s:
        add_institution(s, code="1310000011", name="テスト内科", facility_type="clinic")
    load_master()
    rep = import_claims(write_claims(tmp_path, "claims.csv", [
        line(claim_number="1", month="2024-11", care_days="5;20", patient_share="2130", points="710"),
        line(claim_number="2", month="2024-12", care_days="3", patient_share="900", points="300", branch="01",
             birth_date="1972-05-05"),
        line(claim_number="3", month="2025-01", care_days="9", patient_share="600", points="200"),
        line(claim_number="4", month="2024-11", care_days="7", patient_share="1200", points="400",
             symbol=SECOND, number="201", birth_date="1985-03-03"),
    ]))
    assert rep.ok and rep.claims_applied == 4, rep.errors


def _notices(s) -> list[IssuedDocument]:
    s.expire_all()
    return list(s.scalars(select(IssuedDocument).where(IssuedDocument.kind == "cost_notice")
                          .order_by(IssuedDocument.id)))


def _text(pdf: Path) -> str:
    """The PDF's text by pdftotext (poppler), its runs of blanks (ideographic spaces too) made one space."""
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True).stdout
    return " ".join(out.decode("utf-8").replace("\u3000", " ").split())


def test_a_period_is_mailed_once_per_employer_exactly_once_across_a_restart(families, session, tmp_path,
                                                                          monkeypatch):
    out, factory = tmp_path / "out", session_factory()
    real, calls = notice_mailing._bundle_pdf, {"n": 0}

    def dies_on_the_second_bundle(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real(*a, **kw)

    monkeypatch.setattr(notice_mailing, "_bundle_pdf", dies_on_the_second_bundle)
    with pytest.raises(KeyboardInterrupt):
        notice_mailing.cost_mailing_run(factory, INSURER, out, first="2024-01", last="2024-12", issue=ISSUE,
                                        actor="t")
    first = _notices(session)
    assert [d.data["name"] for d in first] == ["厚労　太郎"]  # the first employer's bundle was committed whole
    monkeypatch.setattr(notice_mailing, "_bundle_pdf", real)
    report = notice_mailing.cost_mailing_run(factory, INSURER, out, first="2024-01", last="2024-12", issue=ISSUE,
                                             actor="t")
    assert (report.issued, report.skipped) == (1, 1)  # 三郎 issued now, 太郎 skipped (issued before the kill)
    # finished: started again (even with another issue date), nothing new
    again = notice_mailing.cost_mailing_run(factory, INSURER, out, first="2024-01", last="2024-12",
                                            issue=date(2025, 2, 1), actor="t")
    assert again.issued == 0
    docs = _notices(session)
    assert sorted(d.data["name"] for d in docs) == ["厚労　三郎", "厚労　太郎"]  # 次郎 had no care: none for him
    n, distinct = session.execute(select(func.count(), func.count(IssuedDocument.issue_key.distinct()))
                                  .where(IssuedDocument.kind == "cost_notice")).one()
    assert n == distinct == 2
    taro = next(d for d in docs if d.data["name"] == "厚労　太郎")
    # the family's care of the period only: 太郎's November and 花子's December, not 太郎's January 2025
    assert [(x["month"], x["patient"], x["total_yen"]) for x in taro.data["lines"]] == [
        ("2024-11", "厚労　太郎", 7100), ("2024-12", "厚労　花子", 3000)]
    assert taro.issue_key == f"cost_notice:{INSURER}:2024-01_2024-12:{taro.qualification_id}"
    assert session.scalar(select(DocumentRun.kind).where(DocumentRun.id == taro.run_id)) == "cost_notice"
    assert {b.state for b in session.scalars(select(MailingBundle).where(MailingBundle.run_id == taro.run_id))} \
        == {"done"}

    run_dir = out / "cost_notices" / f"{INSURER}_2024-01_2024-12"
    bundle = run_dir / "10000001.pdf"
    assert taro.file == str(bundle) and (run_dir / f"{SECOND}.pdf").exists()
    text = _text(bundle)
    for expected in ("「医療費のお知らせ」送付のご案内", "株式会社テスト 事業主様", "同封書類 医療費のお知らせ 1通",
                     "同封者一覧（医療費のお知らせ）", "1 10000001 101 00 厚労 太郎 コウロウ タロウ",
                     "厚労 太郎 様 診療年月 2024-01 〜 2024-12",
                     "2024-11 厚労 太郎 テスト内科 外来 2 7,100 2,130", "2024-12 厚労 花子 テスト内科 外来 1 3,000 900",
                     "合計 10,100 3,030"):
        assert expected in text, expected
    assert "厚労 次郎" not in text and "2025-01" not in text and "資格情報のお知らせ" not in text
    second = _text(run_dir / f"{SECOND}.pdf")
    assert "第二事業所 事業主様" in second and "2024-11 厚労 三郎 テスト内科 外来 1 4,000 1,200" in second
    assert "厚労 太郎" not in second
    with (run_dir / "manifest.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["employer_symbol"], r["notices"]) for r in rows] == [("10000001", "1"), (SECOND, "1")]
    for r in rows:
        assert r["sha256"] == hashlib.sha256(Path(r["file"]).read_bytes()).hexdigest()
    # a notice printed only in its bundle reprints on its own from what was recorded
    with unit_of_work() as s:
        pdf = documents.reprint(s, taro.id)
    (tmp_path / "reprint.pdf").write_bytes(pdf)
    assert "10,100" in _text(tmp_path / "reprint.pdf")
    # every person whose care the run read is in the audit log, read by the run: 太郎, 花子 (in 太郎's notice),
    # 三郎, and 次郎 (read, nothing found, no notice)
    with unit_of_work() as s:
        audited = s.scalars(select(AuditEntry.subject_id).where(AuditEntry.action == "claims.cost_notice",
                                                                AuditEntry.actor_id.like("run:cost_notice:%"))).all()
    assert len(set(audited)) == 4
    # the お知らせ runs are untouched: no 資格情報のお知らせ was issued
    assert not session.scalars(select(IssuedDocument).where(IssuedDocument.kind == "notice")).all()


def test_a_member_whose_notice_cannot_be_made_is_reported_and_retried_alone(families, session, tmp_path,
                                                                           monkeypatch):
    from onshi.claims import notices

    real = notices.render_cost_notice

    def breaks_for_taro(notice):
        if notice.name == "厚労　太郎":
            raise ValueError("印刷できない文字")
        return real(notice)

    monkeypatch.setattr(notices, "render_cost_notice", breaks_for_taro)
    out = tmp_path / "out"
    report = notice_mailing.cost_mailing_run(session_factory(), INSURER, out, first="2024-11", last="2024-12",
                                             issue=ISSUE, actor="t")
    assert report.issued == 1
    [bad] = [x for x in report.lines if "作成できません" in x]
    assert "記号 10000001 番号 101" in bad and "印刷できない文字" in bad
    monkeypatch.setattr(notices, "render_cost_notice", real)
    again = notice_mailing.cost_mailing_run(session_factory(), INSURER, out, first="2024-11", last="2024-12",
                                            issue=ISSUE, actor="t")
    assert again.issued == 1 and len(_notices(session)) == 2
    assert (out / "cost_notices" / f"{INSURER}_2024-11_2024-12" / "10000001.pdf").exists()


@pytest.mark.parametrize("text,expected", [
    ("2024", ("2024-01", "2024-12")), ("FY2024", ("2024-04", "2025-03")), ("2024年度", ("2024-04", "2025-03")),
    ("2024-03", ("2024-03", "2024-03")), ("2024-01..2024-10", ("2024-01", "2024-10")),
    ("2024-12..2025-01", ("2024-12", "2025-01"))])
def test_periods_as_a_clerk_writes_them(text, expected):
    assert notice_mailing.parse_period(text) == expected


@pytest.mark.parametrize("text", ["2024-13", "24", "2024-10..2024-01", "FY24", "2024/01", ""])
def test_bad_periods_are_refused_saying_how_to_write_one(text):
    with pytest.raises(notice_mailing.PeriodError, match="期間"):
        notice_mailing.parse_period(text)


def test_the_cli_mails_a_period_and_refuses_bad_input(families, tmp_path):
    from onshi.cli import app

    def run(*args):
        return CliRunner().invoke(app, ["claims", "notices", "mail", *args], env={"COLUMNS": "200"})

    out = str(tmp_path / "out")
    res = run("--insurer", INSURER, "--period", "2024", "--issue", "2025-01-20", "--out", out)
    assert res.exit_code == 0, res.output
    assert "issued 2, skipped 0, files 3" in res.output  # two bundles and the manifest
    res = run("--insurer", INSURER, "--period", "2024", "--issue", "2025-01-20", "--out", out)
    assert res.exit_code == 0 and "issued 0, skipped 2" in res.output
    res = run("--insurer", INSURER, "--period", "2024-13", "--out", out)
    assert res.exit_code != 0 and "期間" in res.output
    res = run("--insurer", "99999999", "--period", "2024", "--out", out)
    assert res.exit_code != 0 and "99999999" in res.output
    res = run("--insurer", INSURER, "--period", "2024", "--issue", "2025-02-30", "--out", out)
    assert res.exit_code != 0 and "YYYY-MM-DD" in res.output


@pytest.mark.postgres
def test_on_workers_redelivered_bundles_and_a_second_start_issue_nothing_new(families, session, tmp_path, broker,
                                                                              queue, workers):  # noqa: F811
    from onshi.claims import tasks

    workers.start(2)
    out = tmp_path / "out"
    report = tasks.run_cost_mailing(session_factory(), INSURER, out, first="2024-01", last="2024-12", issue=ISSUE,
                                    actor="t", broker_url=broker, queue=queue, timeout=300)
    assert report.issued == 2
    before = {d.id: (d.issue_key, d.file, d.recorded_at) for d in _notices(session)}
    for employer_id in {d.employer_id for d in _notices(session)}:  # each bundle delivered twice more
        for _ in range(2):
            tasks.cost_notice_bundle.apply_async((report.run_id, employer_id, str(out.resolve()), ISSUE.isoformat()),
                                                 queue=queue)
    drain(queue)
    assert {d.id: (d.issue_key, d.file, d.recorded_at) for d in _notices(session)} == before
    again = tasks.run_cost_mailing(session_factory(), INSURER, out, first="2024-01", last="2024-12", issue=ISSUE,
                                   actor="t", broker_url=broker, queue=queue, timeout=300)
    assert again.issued == 0 and len(_notices(session)) == 2
    assert {b.worker for b in session.scalars(select(MailingBundle))} - {"local", ""}  # made by the workers


def test_an_issued_notice_is_listed_read_and_reprinted_where_documents_are(families, engine, tmp_path):
    """The member's documents (REST and the member page) list a 医療費通知 the run issued, and reprint it."""
    import re as regex

    from fastapi.testclient import TestClient

    from onshi.auth import users
    from onshi.web.app import create_app
    from tests.registry.test_views import PASSWORD

    notice_mailing.cost_mailing_run(session_factory(), INSURER, tmp_path / "out", first="2024-01", last="2024-12",
                                    issue=ISSUE, actor="t")
    with unit_of_work() as s:
        users.add_user(s, username="clerk", password=PASSWORD, role="clerk", insurer_number=INSURER)
        taro = s.scalar(select(IssuedDocument).where(IssuedDocument.kind == "cost_notice",
                                                     IssuedDocument.data["name"].as_string() == "厚労　太郎"))
        doc_id, person_id = taro.id, taro.person_id
    app = create_app(engine, publisher_interval=0)
    app.state.rate_limits.enabled = False
    c = TestClient(app)
    token = regex.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    assert c.post("/login", data={"username": "clerk", "password": PASSWORD, "csrf_token": token},
                  follow_redirects=False).status_code == 303
    listed = c.get(f"/api/v1/documents/persons/{person_id}")
    assert listed.status_code == 200, listed.text
    [doc] = [d for d in listed.json() if d["id"] == doc_id]
    assert (doc["kind"], doc["reason"], doc["name"], doc["sha256"]) == ("cost_notice", "mailing", "厚労　太郎", None)
    pdf = c.get(f"/api/v1/documents/{doc_id}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    (tmp_path / "api.pdf").write_bytes(pdf.content)
    assert "合計 10,100 3,030" in _text(tmp_path / "api.pdf")
    page = c.get(f"/office/members/{person_id}").text
    assert "医療費のお知らせ" in page[page.index('data-testid="documents"'):]
