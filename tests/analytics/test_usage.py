"""Usage rates on the three definitions, the seed-003 ranking, and the two sources (database, Parquet) agreeing."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import create_engine, insert

from onshi.analytics.engine import LOG_SCHEMA
from onshi.analytics.usage import AnalyticsError, UsageAnalytics, month_range, previous_month, usage_rate_kpi

KYOKAI_TOKYO = "01130012"
KUMIAI = "06139992"


def row(inst: str, day: date, method: str, patient: str | None, *, pref: str = "13", ftype: str = "clinic",
        insurer: str | None = KYOKAI_TOKYO, setting: str = "outpatient", validity: int = 1) -> dict:
    return {"occurred_at": datetime(day.year, day.month, day.day, 1), "care_date": day, "institution_code": inst,
            "prefecture_code": pref, "facility_type": ftype, "method": method, "validity": validity,
            "insurer_number": insurer, "setting": setting, "patient_key": patient}


def put(engine, rows: list[dict]) -> None:
    from onshi.verify.models import VerificationLogEntry

    with engine.begin() as c:
        c.execute(insert(VerificationLogEntry), rows)


def claims(engine, rows: list[tuple]) -> None:
    from onshi.analytics.models import ClaimCount

    with engine.begin() as c:
        c.execute(insert(ClaimCount), [{"institution_code": i, "month": m, "setting": s, "insurer_number": n,
                                        "claims": k, "source_file": "t"} for i, m, s, n, k in rows])


def institutions(engine, *specs: tuple[str, str, str]) -> None:
    from onshi.verify.models import Institution

    with engine.begin() as c:
        c.execute(insert(Institution), [{"code": code, "name": code, "prefecture_code": pref, "facility_type": ft,
                                          "token_digest": code * 6, "created_at": datetime(2025, 1, 1)}
                                         for code, pref, ft in specs])


A, B = "1310000011", "1310000029"


@pytest.fixture
def small_world(engine):
    """Two institutions in Tokyo, March and April 2025.

    A (clinic), March: patients p1 (card twice), p2 (card), p3 (numbers), p4 (健保組合, card), p5 inpatient card.
    B (hospital), March: p1 again by card (another institution: another claim), p6 numbers.
    April: A only, p1 card, p2 numbers, p7 card (国保).
    """
    institutions(engine, (A, "13", "clinic"), (B, "13", "hospital"))
    m, a = date(2025, 3, 3), date(2025, 4, 7)
    put(engine, [
        row(A, m, "card", "p1"), row(A, m.replace(day=20), "card", "p1"), row(A, m, "card", "p2"),
        row(A, m, "numbers", "p3"), row(A, m, "card", "p4", insurer=KUMIAI),
        row(A, m, "card", "p5", setting="inpatient"),
        row(B, m, "card", "p1", ftype="hospital"), row(B, m, "numbers", "p6", ftype="hospital"),
        row(A, a, "card", "p1"), row(A, a, "numbers", "p2"),
        row(A, a, "card", "p7", insurer="010017"),  # 北海道の国保: six digits starting with 01, not 協会けんぽ
    ])
    claims(engine, [(A, "2025-03", "outpatient", "", 6), (A, "2025-03", "inpatient", "", 1),
                    (B, "2025-03", "outpatient", "", 2), (A, "2025-04", "outpatient", "", 3),
                    (A, "2025-03", "outpatient", KYOKAI_TOKYO, 4), (B, "2025-03", "outpatient", KYOKAI_TOKYO, 2),
                    (A, "2025-04", "outpatient", KYOKAI_TOKYO, 2)])
    return engine


def test_online_basis_counts_verifications(small_world):
    ua = UsageAnalytics(small_world)
    by_month = {r.keys["month"]: r for r in ua.rates(basis="online", by=("month",))}
    assert (by_month["2025-03"].numerator, by_month["2025-03"].denominator) == (6, 8)
    assert by_month["2025-03"].percent == 75.0
    assert (by_month["2025-04"].numerator, by_month["2025-04"].denominator) == (2, 3)
    by_ft = {r.keys["facility_type"]: r for r in ua.rates(basis="online", by=("facility_type",), months=["2025-03"])}
    assert (by_ft["hospital"].numerator, by_ft["hospital"].denominator) == (1, 2)
    assert (by_ft["clinic"].numerator, by_ft["clinic"].denominator) == (5, 6)


def test_receipt_basis_counts_card_users_once_per_institution_and_month(small_world):
    ua = UsageAnalytics(small_world)
    march = ua.rate(basis="receipt", months=["2025-03"])
    # A: p1 (twice → once), p2, p4, p5 = 4 users; B: p1 = 1 user (another institution, another claim)
    assert (march.numerator, march.denominator) == (5, 9)
    by_inst = {r.keys["institution"]: r for r in ua.rates(basis="receipt", by=("institution",), months=["2025-03"])}
    assert (by_inst[A].numerator, by_inst[A].denominator) == (4, 7)
    assert (by_inst[B].numerator, by_inst[B].denominator) == (1, 2)


def test_kyokai_basis_is_outpatient_members_of_kyokai_only(small_world):
    ua = UsageAnalytics(small_world)
    march = ua.rate(basis="kyokai", months=["2025-03"])
    # p4 is a 健保組合 member and p5 an inpatient: neither counts; A: p1, p2; B: p1
    assert (march.numerator, march.denominator) == (3, 6)
    by_branch = ua.rates(basis="kyokai", by=("month", "branch"))
    assert [(r.keys["month"], r.keys["branch"], r.numerator, r.denominator) for r in by_branch] == [
        ("2025-03", "13", 3, 6), ("2025-04", "13", 1, 2)]


def test_kyokai_kpi_of_a_fiscal_year_is_its_last_month(small_world):
    assert usage_rate_kpi(small_world, 2024) == 50.0  # March 2025 belongs to FY2024: 3 / 6
    assert usage_rate_kpi(small_world, 2025) == 50.0  # April 2025: 1 / 2
    assert usage_rate_kpi(small_world, 2024, branch="27") is None  # no Osaka members
    assert usage_rate_kpi(small_world, 2023) is None


def test_kyokai_kpi_needs_claims_per_insurer(engine):
    institutions(engine, (A, "13", "clinic"))
    put(engine, [row(A, date(2025, 3, 3), "card", "p1")])
    claims(engine, [(A, "2025-03", "outpatient", "", 1)])  # totals only
    assert usage_rate_kpi(engine, 2024) is None  # never silently another definition
    assert UsageAnalytics(engine).rate(basis="receipt").percent == 100.0


def test_questions_the_data_cannot_answer(small_world):
    ua = UsageAnalytics(small_world)
    with pytest.raises(AnalyticsError, match="レセプト basis"):
        ua.rates(basis="receipt", by=("insurer",))
    with pytest.raises(AnalyticsError, match="unknown basis"):
        ua.rates(basis="visits")
    with pytest.raises(AnalyticsError, match="unknown breakdown"):
        ua.rates(by=("doctor",))


def _ranking_rows(pref_rates: dict[str, tuple[int, int]], day: date) -> list[dict]:
    out = []
    for pref, (card, total) in pref_rates.items():
        inst = f"{pref}10000{pref}"
        for k in range(total):
            out.append(row(inst, day, "card" if k < card else "numbers", f"{pref}-{k}", pref=pref))
    return out


def test_prefecture_ranking_change_in_points_and_top_and_bottom_five(engine):
    # seed 003, May 2024: 北海道 8.32% (+1.19%): April was 7.13%.  Twelve prefectures, per mille for brevity.
    april = {"01": (713, 10000)}
    may = {"01": (832, 10000)}
    for i, pref in enumerate(["02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12"]):
        april[pref] = (10 + i, 100)
        may[pref] = (20 + i, 100) if pref != "12" else (5, 100)
    put(engine, _ranking_rows(april, date(2024, 4, 10)) + _ranking_rows(may, date(2024, 5, 10)))
    ranking = UsageAnalytics(engine).prefecture_ranking("2024-05")
    hokkaido = next(r for r in ranking if r.prefecture == "北海道")
    assert hokkaido.change_pt == 1.19
    assert round(100 * hokkaido.rate, 2) == 8.32
    assert [r.prefecture_code for r in ranking[:3]] == ["11", "10", "09"]
    assert ranking[0].rank == 1 and ranking[0].previous_rank == 2  # 11 had 19% in April, behind 12's 20%
    assert next(r for r in ranking if r.prefecture_code == "12").previous_rank == 1
    assert [r.prefecture_code for r in ranking if r.top5] == ["11", "10", "09", "08", "07"]
    assert [r.prefecture_code for r in ranking if r.bottom5] == ["04", "03", "02", "01", "12"]
    assert next(r for r in ranking if r.prefecture_code == "12").change_pt == -15.0  # 20% → 5%


def _parquet_month(root, month: str, groups: list[tuple[str, str, str, int, int]]) -> None:
    """Write log rows with DuckDB: for each (institution, prefecture, facility type, card, total) the counts."""
    folder = root / f"month={month}"
    folder.mkdir(parents=True)
    con = duckdb.connect()
    parts = []
    for inst, pref, ft, card, total in groups:
        parts.append(f"""SELECT TIMESTAMP '{month}-05 01:00:00' AS occurred_at, DATE '{month}-05' AS care_date,
            '{inst}' AS institution_code, '{pref}' AS prefecture_code, '{ft}' AS facility_type,
            CASE WHEN i < {card} THEN 'card' ELSE 'numbers' END AS method, 1::TINYINT AS validity,
            '{KYOKAI_TOKYO}' AS insurer_number, 'outpatient' AS setting, '{inst}-' || i AS patient_key
            FROM range({total}) t(i)""")
    con.execute(f"COPY ({' UNION ALL '.join(parts)}) TO '{folder}/part-00000.parquet' (FORMAT parquet)")
    con.close()


def test_seed_003_rates_recomputed_from_its_counts(tmp_path):
    """Seed 003 (May 2024): a 病院 row with MNC利用件数 34,347 of オン資件数 142,792 → 24.05%, and a 歯科 row
    with 31,530 of 162,708 → 19.38%."""
    _parquet_month(tmp_path, "2024-05", [("0810000010", "08", "hospital", 34_347, 142_792),
                                         ("4630000012", "46", "dental", 31_530, 162_708)])
    ua = UsageAnalytics.over_parquet(tmp_path, engine=create_engine("sqlite://"))
    rates = {r.keys["facility_type"]: r for r in ua.rates(by=("facility_type",))}
    assert rates["hospital"].percent == 24.05
    assert rates["dental"].percent == 19.38
    assert (rates["hospital"].numerator, rates["hospital"].denominator) == (34_347, 142_792)


def test_parquet_export_and_database_give_the_same_figures(small_world, tmp_path):
    from onshi.analytics.export import export_log

    done = export_log(tmp_path / "log", engine=small_world)
    assert [(d.month, d.rows) for d in done] == [("2025-03", 8), ("2025-04", 3)]
    db = UsageAnalytics(small_world)
    pq = UsageAnalytics.over_parquet(tmp_path / "log", engine=small_world)
    for basis in ("online", "receipt", "kyokai"):
        for by in (("month",), ("month", "prefecture", "facility_type"), ("institution",)):
            assert db.rates(basis=basis, by=by) == pq.rates(basis=basis, by=by), (basis, by)


def test_the_export_time_aggregate_and_the_log_give_the_same_figures(small_world, tmp_path):
    import shutil

    from onshi.analytics.export import export_log

    export_log(tmp_path, engine=small_world)
    with_agg = UsageAnalytics.over_parquet(tmp_path, engine=small_world)
    with_agg._prepare(None, with_users=True)
    plan = with_agg.con.execute("EXPLAIN SELECT * FROM agg").fetchall()[0][1]
    assert "READ_PARQUET" in plan and "GROUP_BY" not in plan  # read, not counted again
    expected = with_agg.rates(basis="receipt", by=("month", "institution"))
    shutil.rmtree(tmp_path / "aggregate")
    from_log = UsageAnalytics.over_parquet(tmp_path, engine=small_world)
    from_log._prepare(None, with_users=True)
    assert "GROUP_BY" in from_log.con.execute("EXPLAIN SELECT * FROM agg").fetchall()[0][1]
    assert from_log.rates(basis="receipt", by=("month", "institution")) == expected
    assert [r.numerator for r in expected] == [4, 1, 2]


def test_export_again_replaces_the_month(small_world, tmp_path):
    import pyarrow.parquet as pq

    from onshi.analytics.export import export_log

    export_log(tmp_path, engine=small_world)
    export_log(tmp_path, engine=small_world, months=["2025-03"])
    table = pq.read_table(tmp_path / "month=2025-03")
    assert table.num_rows == 8
    assert table.schema.names[:len(LOG_SCHEMA.names)] == LOG_SCHEMA.names
    assert sorted(p.name for p in tmp_path.iterdir()) == ["aggregate", "month=2025-03", "month=2025-04"]
    assert sorted(p.name for p in (tmp_path / "aggregate").iterdir()) == ["month=2025-03", "month=2025-04"]
    assert "patient_key" in table.schema.names and "my_number" not in table.schema.names


def test_the_database_aggregate_is_recomputed_when_the_log_changes(small_world):
    before = UsageAnalytics(small_world).rate(months=["2025-04"])
    put(small_world, [row(A, date(2025, 4, 8), "card", "p9")])
    after = UsageAnalytics(small_world).rate(months=["2025-04"])
    assert (before.numerator, before.denominator) == (2, 3)
    assert (after.numerator, after.denominator) == (3, 4)


@given(st.integers(2000, 2100), st.integers(1, 12))
def test_previous_month_is_the_inverse_of_the_next(year, month):
    m = f"{year:04d}-{month:02d}"
    nxt = month_range(m, "2200-01")[1]
    assert previous_month(nxt) == m
    assert len(month_range(previous_month(m), m)) == 2
