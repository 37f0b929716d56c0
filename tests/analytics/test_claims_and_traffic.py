"""Claim-count import (whole file or nothing, idempotent, corrections) and the traffic simulator."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from onshi.analytics.claims import ClaimFileError, import_claim_counts
from onshi.analytics.models import ClaimCount

TODAY = date(2026, 11, 23)
GOOD = ("institution_code,month,setting,claims,insurer_number\n"
        "1310000011,2025-03,outpatient,1200,\n"
        "1310000011,2025-03,inpatient,40,\n"
        "1310000011,2025-03,outpatient,420,01130012\n")


def _file(tmp_path, name: str, text: str, encoding: str = "utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def _count(session) -> int:
    return session.scalar(select(func.count()).select_from(ClaimCount))


def test_import_then_again_then_a_correction(session, tmp_path):
    r = import_claim_counts(session, _file(tmp_path, "claims_202503.csv", GOOD), today=TODAY)
    assert r.ok and (r.inserted, r.updated, r.unchanged) == (3, 0, 0)
    r = import_claim_counts(session, _file(tmp_path, "claims_202503.csv", GOOD), today=TODAY)
    assert (r.inserted, r.updated, r.unchanged) == (0, 0, 3)
    assert _count(session) == 3
    fixed = GOOD.replace("1200", "1210")
    r = import_claim_counts(session, _file(tmp_path, "claims_202503_v2.csv", fixed), today=TODAY)
    assert (r.inserted, r.updated, r.unchanged) == (0, 1, 2)
    row = session.scalar(select(ClaimCount).where(ClaimCount.insurer_number == "", ClaimCount.setting == "outpatient"))
    assert row.claims == 1210 and row.source_file == "claims_202503_v2.csv"


def test_japanese_headers_in_shift_jis(session, tmp_path):
    text = "医療機関コード,診療年月,入院外来区分,件数\n1310000011,2025年3月,外来,\"1,200\"\n1310000011,2025/03,入院,40\n"
    r = import_claim_counts(session, _file(tmp_path, "sjis.csv", text, "cp932"), today=TODAY)
    assert r.ok and r.inserted == 2
    assert sorted(session.scalars(select(ClaimCount.claims))) == [40, 1200]


def test_bad_rows_are_all_named_and_nothing_is_applied(session, tmp_path):
    text = GOOD + ("1310000012,2025-03,outpatient,5,\n"       # check digit
                   "1310000029,2025-13,outpatient,5,\n"       # month
                   "1310000029,2027-01,outpatient,5,\n"       # future
                   "1310000029,2025-03,visit,5,\n"            # setting
                   "1310000029,2025-03,outpatient,-1,\n"      # count
                   "1310000029,2025-03,outpatient,5,01130013\n"  # insurer check digit
                   "1310000011,2025-03,outpatient,9,\n")      # duplicate of row 2
    r = import_claim_counts(session, _file(tmp_path, "bad.csv", text), today=TODAY)
    assert not r.ok
    found = [(e.row, e.column) for e in r.errors]
    assert found == [(5, "institution_code"), (6, "month"), (7, "month"), (8, "setting"), (9, "claims"),
                     (10, "insurer_number"), (11, "*")]
    assert "2027-01" in str(r.errors[2]) and "future" in str(r.errors[2])
    assert "row 2" in r.errors[-1].reason
    session.flush()
    assert _count(session) == 0


@pytest.mark.parametrize("text, why", [
    ("", "empty"), ("institution_code,month,claims\n1310000011,2025-03,1\n", "missing columns"),
    ("医療機関コード,月,件数\n", "unknown column")])
def test_whole_file_errors(session, tmp_path, text, why):
    with pytest.raises(ClaimFileError, match=why):
        import_claim_counts(session, _file(tmp_path, "x.csv", text), today=TODAY)


def test_claims_cli_reports_and_exits_2_on_a_bad_file(engine, tmp_path):
    from typer.testing import CliRunner

    from onshi.cli import app

    good = _file(tmp_path, "good.csv", GOOD)
    res = CliRunner().invoke(app, ["analytics", "import-claims", str(good)])
    assert res.exit_code == 0, res.output
    assert "3 new" in res.output
    bad = _file(tmp_path, "bad.csv", GOOD + "1310000011,2025-03,outpatient,x,\n")
    res = CliRunner().invoke(app, ["analytics", "import-claims", str(bad)])
    assert res.exit_code == 2
    assert "5行目 claims='x'" in res.output and "nothing applied" in res.output


def test_traffic_rises_from_about_5_to_about_30_percent_and_does_not_double(session, engine):
    from onshi.analytics.usage import UsageAnalytics
    from onshi.demo.traffic import simulate_traffic
    from onshi.verify.models import VerificationLogEntry

    report = simulate_traffic(session, months=12, until="2026-10", scale=0.15)
    session.commit()
    assert report.months[0] == "2025-11" and report.months[-1] == "2026-10" and report.institutions == 235
    ua = UsageAnalytics(engine)
    by_month = [r.percent for r in ua.rates(by=("month",))]
    assert 3 <= by_month[0] <= 8 and 25 <= by_month[-1] <= 36, by_month
    assert by_month[-1] > by_month[5] > by_month[0]
    by_ft = {r.keys["facility_type"]: r.rate for r in ua.rates(by=("facility_type",), months=["2026-10"])}
    assert by_ft["hospital"] > by_ft["clinic"] and by_ft["dental"] > by_ft["pharmacy"] * 0.9
    assert len(ua.prefecture_ranking("2026-10")) == 47
    receipt = ua.rate(basis="receipt", months=["2026-10"])
    assert 0 < receipt.rate < 1
    rows = session.scalar(select(func.count()).select_from(VerificationLogEntry))
    claims = _count(session)
    again = simulate_traffic(session, months=12, until="2026-10", scale=0.15)
    session.commit()
    assert again.verifications == report.verifications
    assert session.scalar(select(func.count()).select_from(VerificationLogEntry)) == rows
    assert _count(session) == claims


@pytest.mark.parametrize(("utc", "accepted"), [("2026-11-30T14:59:00Z", False), ("2026-11-30T15:00:00Z", True)])
def test_the_current_month_is_japans(utc, accepted):
    """December's claims become possible at 00:00 JST on 1 December (15:00 UTC on 30 November), not at UTC midnight."""
    from onshi.analytics.claims import parse
    from onshi.store import clock

    with clock.frozen_at(utc):
        rows, errors = parse(b"institution_code,month,setting,claims\n1310000011,2026-12,outpatient,5\n")
    assert (len(rows), len(errors)) == ((1, 0) if accepted else (0, 1))
