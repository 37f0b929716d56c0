"""The demo's outage list and national list (onshi.demo.outage): matches and non-matches, a person on the national
list issued a 資格確認書, and nothing added by a second call — both databases."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from onshi.demo.cli import seed_database
from onshi.demo.institutions import demo_institution_codes
from onshi.demo.outage import ensure_outage_demo
from onshi.documents import service as documents
from onshi.documents.models import IssuedDocument
from onshi.exchange.publish import publish_all
from onshi.outage.models import OutageRecord, UnknownInsurerClaim
from onshi.store.db import unit_of_work
from onshi.verify.service import add_institution

TODAY = date(2026, 11, 24)


def test_the_outage_demo(engine, tmp_path, session):
    seed_database(80, 3, TODAY, files_dir=tmp_path / "files")
    publish_all()
    code = demo_institution_codes()[0]
    with unit_of_work() as s:
        add_institution(s, code=code, name="オンシ内科クリニック", facility_type="clinic")
    first = ensure_outage_demo(code, today=TODAY)
    assert first["counts"]["有効"] >= 2 and first["counts"]["要確認"] == 2, first
    assert first["national_list"] == {"added": 1, "unmatched": 1, "already_imported": False}
    again = ensure_outage_demo(code, today=TODAY)
    assert again["national_list"]["already_imported"]
    assert session.scalar(select(func.count()).select_from(OutageRecord)) == first["records"]
    assert session.scalar(select(func.count()).select_from(UnknownInsurerClaim)) == 1
    with unit_of_work() as s:
        documents.daily_run(s, TODAY, tmp_path / "out", actor="t")
    assert session.scalar(select(func.count()).select_from(IssuedDocument).where(
        IssuedDocument.reason == "national_list:02")) == 1
