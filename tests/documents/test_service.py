"""Issue rules at their boundaries, the daily run's idempotence, the mailing run's resumption — both databases."""

from __future__ import annotations

import hashlib
import io
from datetime import date, datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from onshi.documents import issue_rules, service
from onshi.documents.models import IssuedDocument
from onshi.exchange import cards
from onshi.registry.models import NotificationType as T
from onshi.store.db import session_factory, unit_of_work

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


def test_issue_date_is_the_next_business_day():
    assert issue_rules.issue_date_for(date(2026, 11, 20)) == date(2026, 11, 24)  # Fri before 勤労感謝の日 (Mon)
    assert issue_rules.issue_date_for(date(2026, 12, 28)) == date(2027, 1, 4)   # 28 Dec → after 年末年始
    assert issue_rules.issue_date_for(date(2026, 11, 24)) == date(2026, 11, 25)


def test_validity_is_cut_at_the_day_before_the_75th_birthday():
    assert issue_rules.valid_until(issue=date(2026, 11, 24), birth_date=date(1953, 6, 10)) == date(2028, 6, 9)
    assert issue_rules.valid_until(issue=date(2026, 11, 24), birth_date=date(1980, 1, 1),
                                   validity_years=2) == date(2028, 11, 23)
    assert issue_rules.valid_until(issue=date(2026, 11, 24), birth_date=date(1980, 1, 1),
                                   common_expiry=date(2027, 7, 31)) == date(2027, 7, 31)
    assert issue_rules.valid_until(issue=date(2026, 11, 24), birth_date=date(1980, 1, 1),
                                   voluntary_continuation_from=date(2026, 4, 1)) == date(2028, 3, 31)
    with pytest.raises(ValueError):
        issue_rules.valid_until(issue=date(2026, 11, 24), birth_date=date(1980, 1, 1), validity_years=6)


@pytest.fixture
def members(engine, tmp_path):
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [
        acquisition(),
        acquisition(number="102", my_number=MN_HANAKO, name="見本　花子", name_kana="ミホン　ハナコ",
                    birth_date="1985-04-12", sex="2"),
        acquisition(number="103", my_number="", name="番号　なし", name_kana="バンゴウ　ナシ", address=""),
    ]), T.acquisition, received_at=datetime(2026, 11, 20, 10, 0))
    with unit_of_work() as s:  # 厚労太郎 uses マイナ保険証
        cards.register_card(s, my_number=MN_TARO, certificate_serial="C1", certificate_expires_on=date(2030, 1, 1))
    return tmp_path


def count(session) -> int:
    return session.scalar(select(func.count()).select_from(IssuedDocument))


def test_daily_run_issues_on_the_next_business_day_only_to_those_without_a_card(members, session, tmp_path):
    with unit_of_work() as s:
        early = service.daily_run(s, date(2026, 11, 23), tmp_path / "out", actor="t")
    assert early.issued == 0  # received Friday 20 Nov: due Tuesday 24 Nov
    with unit_of_work() as s:
        report = service.daily_run(s, date(2026, 11, 24), tmp_path / "out", actor="t")
    assert report.issued == 2  # 花子 (no card) and the member without a My Number; 太郎 has a card
    docs = list(session.scalars(select(IssuedDocument).order_by(IssuedDocument.id)))
    assert {d.reason for d in docs} == {"no_card", "no_my_number"}
    text = PdfReader(docs[0].file).pages[0].extract_text()
    assert "資格確認書" in text and "令和8年11月24日" in text
    with unit_of_work() as s:
        again = service.daily_run(s, date(2026, 11, 24), tmp_path / "out", actor="t")
    assert again.issued == 0 and count(session) == 2


def test_day_of_receipt_is_the_day_in_japan(engine, tmp_path):
    setup_insurers(tmp_path)
    # 20:00 UTC on Thursday 19 Nov is 05:00 JST on Friday 20 Nov: due Tuesday 24 Nov (23 Nov is 勤労感謝の日), not Fri
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition(my_number="")]), T.acquisition,
         received_at=datetime(2026, 11, 19, 20, 0))
    with unit_of_work() as s:
        assert service.daily_run(s, date(2026, 11, 20), tmp_path / "out", actor="t").issued == 0
    with unit_of_work() as s:
        assert service.daily_run(s, date(2026, 11, 24), tmp_path / "out", actor="t").issued == 1


def test_daily_run_for_one_insurer_issues_only_its_documents(engine, session, tmp_path):
    from typer.testing import CliRunner

    from onshi.cli import app
    from onshi.documents.models import DocumentRun
    from onshi.registry import service as registry

    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [
        acquisition(my_number=""),
        acquisition(insurer_number=OTHER_INSURER, employer_symbol="9001", number="7", my_number="",
                    name="別社　太郎", name_kana="ベッシャ　タロウ"),
        acquisition(insurer_number=OTHER_INSURER, employer_symbol="9001", number="8", my_number="",
                    name="別社　次郎", name_kana="ベッシャ　ジロウ"),
    ]), T.acquisition, received_at=datetime(2026, 11, 20, 1, 0))
    mine, other = (registry.get_insurer(session, number=n).id for n in (INSURER, OTHER_INSURER))
    with unit_of_work() as s:
        first = service.daily_run(s, date(2026, 11, 24), tmp_path / "out", actor="t", insurer=INSURER)
    assert first.issued == 1
    assert {d.insurer_id for d in session.scalars(select(IssuedDocument))} == {mine}
    with unit_of_work() as s:  # idempotent per insurer
        assert service.daily_run(s, date(2026, 11, 24), tmp_path / "out", actor="t", insurer=INSURER).issued == 0
    res = CliRunner().invoke(app, ["documents", "run", "--date", "2026-11-24", "--insurer", OTHER_INSURER,
                                   "--out", str(tmp_path / "out")])
    assert res.exit_code == 0 and "issued 2" in res.output, res.output
    with unit_of_work() as s:  # and an all-insurer run afterwards issues nothing twice
        assert service.daily_run(s, date(2026, 11, 24), tmp_path / "out", actor="t").issued == 0
    assert count(session) == 3
    runs = {r.run_key: r for r in session.scalars(select(DocumentRun))}
    assert runs[f"daily:2026-11-24:{INSURER}"].insurer_id == mine
    assert runs[f"daily:2026-11-24:{OTHER_INSURER}"].insurer_id == other
    assert runs["daily:2026-11-24"].insurer_id is None and runs["daily:2026-11-24"].documents == 0
    res = CliRunner().invoke(app, ["documents", "run", "--date", "2026-11-24", "--insurer", "99999999"])
    assert res.exit_code == 2 and "unknown insurer" in res.output


def test_reprint_is_identical(members, session, tmp_path):
    with unit_of_work() as s:
        service.daily_run(s, date(2026, 11, 24), tmp_path / "out", actor="t")
    doc = session.scalars(select(IssuedDocument)).first()
    with unit_of_work() as s:
        pdf = service.reprint(s, doc.id)
    assert pdf == open(doc.file, "rb").read()


def test_application_and_return(members, session, tmp_path):
    from onshi.registry import service as registry

    [taro] = registry.find_by_numbers(session, insurer_number=INSURER, symbol="10000001", number="101", branch="00")
    with unit_of_work() as s:
        service.apply_for_certificate(s, qualification_id=taro.qualification_id, applied_on=date(2026, 11, 24),
                                      reason="card_lost", applicant="本人")
    with unit_of_work() as s:
        report = service.daily_run(s, date(2026, 11, 25), tmp_path / "out", actor="t")
    assert report.issued == 3
    load(write(tmp_path, "l.csv", T.loss, [{"insurer_number": INSURER, "employer_symbol": "10000001",
                                             "number": "102", "branch": "00", "loss_date": "2026-12-01",
                                             "loss_reason": "99"}]), T.loss)
    with unit_of_work() as s:
        service.daily_run(s, date(2026, 12, 2), tmp_path / "out", actor="t")
    with unit_of_work() as s:
        outstanding = service.outstanding_returns(s)
        assert [d.due_back_since for d in outstanding] == [date(2026, 12, 1)]
        service.record_return(s, outstanding[0].id, date(2026, 12, 5))
    with unit_of_work() as s:
        assert service.outstanding_returns(s) == []


def test_mailing_run_bundles_per_employer_and_resumes(members, session, tmp_path, monkeypatch):
    factory = session_factory()
    calls = {"n": 0}
    real = service.render_bundle

    def dies_after_first(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real(*a, **kw)

    # a second employer so there are two bundles
    load(write(tmp_path, "b.csv", T.acquisition, [acquisition(insurer_number="06139992", employer_symbol="9001",
                                                              number="7", my_number="111111111118",
                                                              name="別社　太郎")]), T.acquisition)
    monkeypatch.setattr(service, "render_bundle", dies_after_first)
    load(write(tmp_path, "e.csv", T.employer, [{"insurer_number": INSURER, "employer_symbol": "10000002",
                                                 "employer_name": "第二事業所", "postal_code": "", "address": "",
                                                 "prefecture_code": "13"}]), T.employer)
    load(write(tmp_path, "c.csv", T.acquisition, [acquisition(employer_symbol="10000002", number="1",
                                                              my_number="123456789999", name="二社　花子")]),
         T.acquisition)
    with pytest.raises(KeyboardInterrupt):
        service.mailing_run(factory, INSURER, tmp_path / "out", actor="t", run_name="2026-12", issue=date(2026, 12, 1))
    first = count(session)
    assert first == 3  # the first employer's three notices were committed
    monkeypatch.setattr(service, "render_bundle", real)
    report = service.mailing_run(factory, INSURER, tmp_path / "out", actor="t", run_name="2026-12",
                                 issue=date(2026, 12, 1))
    assert report.issued == 1 and report.skipped == 3 and count(session) == 4
    assert any("no address" in line for line in report.lines)
    again = service.mailing_run(factory, INSURER, tmp_path / "out", actor="t", run_name="2026-12",
                                issue=date(2026, 12, 1))
    assert again.issued == 0 and count(session) == 4
    bundle = tmp_path / "out" / "mailing" / f"{INSURER}_2026-12" / "10000001.pdf"
    text = "".join(p.extract_text() for p in PdfReader(bundle).pages)
    assert "資格情報のお知らせ" in text and "見本 花子" in text.replace("\u3000", " ")
    cover = PdfReader(bundle).pages[0].extract_text()
    assert "千代田区千代田1-1" in cover  # the employer's address on the cover letter, where it is delivered
    assert (tmp_path / "out" / "mailing" / f"{INSURER}_2026-12" / "manifest.csv").read_text().count("\n") == 3


def test_a_mailed_notice_reprints_on_its_own_unless_its_layout_changed(members, session, tmp_path):
    """A notice mailed in a bundle is rendered once (into the bundle): no PDF checksum of its own, the layout's
    fingerprint instead, which a reprint checks."""
    from onshi.documents.render import layout_fingerprint

    service.mailing_run(session_factory(), INSURER, tmp_path / "out", actor="t", run_name="r", issue=date(2026, 12, 1))
    notices = session.scalars(select(IssuedDocument).where(IssuedDocument.reason == "mailing")).all()
    assert notices and all(d.sha256 is None for d in notices)
    assert {d.layout_fingerprint for d in notices} == {layout_fingerprint(service.NOTICE_LAYOUT)}
    doc = notices[0]
    with unit_of_work() as s:
        pdf = service.reprint(s, doc.id)
    page = PdfReader(io.BytesIO(pdf)).pages
    assert len(page) == 1 and doc.data["name"].replace("\u3000", "") in page[0].extract_text().replace("\u3000", "")
    with unit_of_work() as s:
        s.get(IssuedDocument, doc.id).layout_fingerprint = "0" * 64  # as if issued with another layout
    with unit_of_work() as s, pytest.raises(RuntimeError, match="prints differently"):
        service.reprint(s, doc.id)


def test_a_mailing_run_reads_each_employer_s_members_and_asks_for_issued_keys_in_blocks(members, session, tmp_path):
    """Members are found by employer (ix_qv_employer_current), so one whose 記号 was corrected is still in his
    employer's bundle; which notices a resumed run has done is asked key by key, in blocks."""
    from onshi.registry import service as registry

    [qv] = registry.find_by_numbers(session, insurer_number=INSURER, symbol="10000001", number="101", branch="00")
    with unit_of_work() as s:
        registry.supersede_qualification(s, s.merge(qv), now=datetime(2026, 11, 20, 0, 30), change_id=None,
                                         symbol="10000009", number="7")
    report = service.mailing_run(session_factory(), INSURER, tmp_path / "out", actor="t", run_name="r",
                                 issue=date(2026, 12, 1))
    docs = session.scalars(select(IssuedDocument).where(IssuedDocument.reason == "mailing")).all()
    assert report.issued == len(docs) == 3
    assert qv.qualification_id in {d.qualification_id for d in docs}
    assert {d.data["symbol"] for d in docs if d.qualification_id == qv.qualification_id} == {"10000009"}
    keys = [d.issue_key for d in docs]
    with unit_of_work() as s:
        assert service._already_issued(s, [*keys, "notice:none:1"], block=2) == set(keys)


def test_a_certificate_records_its_own_checksum_and_the_fingerprint(members, session, tmp_path):
    with unit_of_work() as s:
        service.daily_run(s, date(2026, 11, 24), tmp_path / "out", actor="t")
    doc = session.scalars(select(IssuedDocument).where(IssuedDocument.kind == "certificate")).first()
    assert doc.sha256 == hashlib.sha256(open(doc.file, "rb").read()).hexdigest()
    assert doc.layout_fingerprint is not None


def test_national_list_becomes_certificates_once(members, session, tmp_path):
    data = ("insurer_number,symbol,number,branch\n01130012,10000001,101,00\n01130012,10000001,999,00\n"
            "0113001,1,1,00\n").encode()
    with unit_of_work() as s:
        added, problems = service.import_national_list(s, data, listed_on=date(2026, 11, 24))
    assert added == 1 and len(problems) == 2 and "999" in problems[0]
    with unit_of_work() as s:
        again, _ = service.import_national_list(s, data, listed_on=date(2026, 11, 24))
    assert again == 0
    with unit_of_work() as s:
        report = service.daily_run(s, date(2026, 11, 25), tmp_path / "out", actor="t")
    reasons = sorted(d.reason for d in session.scalars(select(IssuedDocument)))
    assert report.issued == 3 and "application:national_list" in reasons


def test_reissue_when_the_printed_ratio_changes_at_seventy(engine, tmp_path, session):
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition(birth_date="1956-12-01", my_number="",
                                                              monthly_remuneration="200000")]),
         T.acquisition, received_at=datetime(2026, 11, 2, 10, 0))
    with unit_of_work() as s:
        first = service.daily_run(s, date(2026, 11, 4), tmp_path / "out", actor="t")
    assert first.issued == 1
    with unit_of_work() as s:  # reaches 70 on 30 Nov 2026: 2割 from 1 Dec 2026
        assert service.daily_run(s, date(2026, 11, 30), tmp_path / "out", actor="t").issued == 0
    with unit_of_work() as s:
        assert service.daily_run(s, date(2026, 12, 1), tmp_path / "out", actor="t").issued == 1
    with unit_of_work() as s:
        assert service.daily_run(s, date(2026, 12, 2), tmp_path / "out", actor="t").issued == 0
    docs = list(session.scalars(select(IssuedDocument).order_by(IssuedDocument.id)))
    assert [d.reason for d in docs] == ["no_my_number", "reissue:ratio_change"]
    # the 3割 certificate must come back from the day the 2割 one was issued; the new one is not due back
    assert [(d.due_back_since, d.returned_at) for d in docs] == [(date(2026, 12, 1), None), (None, None)]
    with unit_of_work() as s:
        assert [d.id for d in service.outstanding_returns(s)] == [docs[0].id]


def test_reissue_when_the_numbers_change(engine, tmp_path, session):
    """A holder's 記号・番号 change (here a correction recorded on the qualification): a new certificate with the
    new numbers on the next business day after the change, once."""
    from onshi.registry import service as registry

    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition(my_number="")]), T.acquisition,
         received_at=datetime(2026, 11, 2, 1, 0))
    with unit_of_work() as s:
        assert service.daily_run(s, date(2026, 11, 4), tmp_path / "out", actor="t").issued == 1
    [qv] = registry.find_by_numbers(session, insurer_number=INSURER, symbol="10000001", number="101", branch="00")
    with unit_of_work() as s:  # recorded at 09:30 JST on Friday 20 Nov: due Tuesday 24 Nov (23 Nov is a holiday)
        registry.supersede_qualification(s, s.merge(qv), now=datetime(2026, 11, 20, 0, 30), change_id=None,
                                         symbol="10000002", number="7")
    with unit_of_work() as s:
        assert service.daily_run(s, date(2026, 11, 20), tmp_path / "out", actor="t").issued == 0
    with unit_of_work() as s:
        assert service.daily_run(s, date(2026, 11, 24), tmp_path / "out", actor="t").issued == 1
    with unit_of_work() as s:
        assert service.daily_run(s, date(2026, 11, 25), tmp_path / "out", actor="t").issued == 0
    docs = list(session.scalars(select(IssuedDocument).order_by(IssuedDocument.id)))
    assert [d.reason for d in docs] == ["no_my_number", "reissue:numbers_change"]
    assert (docs[1].data["symbol"], docs[1].data["number"]) == ("10000002", "7")
    assert [d.due_back_since for d in docs] == [date(2026, 11, 24), None]  # the old numbers come back
    text = PdfReader(docs[1].file).pages[0].extract_text()
    assert "10000002" in text and "令和8年11月24日" in text
