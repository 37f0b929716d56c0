"""Generic share (DuckDB over claim lines) and the 特定健診 denominator at their boundaries (issue 21 point 4), both
databases, and the KPI actuals they feed."""

from __future__ import annotations

from datetime import date, datetime

import duckdb
import pytest

from onshi.claims import checkups, generic
from onshi.registry import service as registry
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from tests.claims.helpers import drug, import_claims, line, load_master, write_claims
from tests.registry.helpers import INSURER, acquisition, dependent, load, numbers, setup_insurers, write

OTHER_CLINIC = "1310000029"


@pytest.fixture
def world(engine, tmp_path):
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition()]), T.acquisition, received_at=datetime(2024, 4, 1))
    load_master()
    return tmp_path


def test_generic_share_by_quantity_per_branch_institution_and_month(world, engine):
    rep = import_claims(write_claims(world, "c.csv", [
        line(claim_number="1"),                                                            # a procedure: not counted
        drug(claim_number="1", quantity="28"),                                             # generic
        drug(claim_number="1", line_number="3", code="990000201", quantity="12"),          # brand with a generic
        drug(claim_number="1", line_number="4", code="990000901", quantity="100"),         # brand, no generic: not counted
        line(claim_number="7", institution_code=OTHER_CLINIC, month="2024-12", care_days="2"),
        drug(claim_number="7", institution_code=OTHER_CLINIC, month="2024-12", care_days="2", quantity="60.5"),
    ]))
    assert rep.ok, rep.errors
    con = duckdb.connect(":memory:")
    generic.register_database(con, engine)
    by_month = {r["key"]: r["share"] for r in generic.generic_shares(con, "month")}
    assert by_month == {"2024-11": 70.0, "2024-12": 100.0}
    assert generic.generic_shares(con, "branch") == [
        {"key": "13", "generic_qty": 88.5, "brand_qty": 12.0, "share": round(100 * 88.5 / 100.5, 2)}]
    by_inst = {r["key"]: r["share"] for r in generic.generic_shares(con, "institution", months=["2024-11"])}
    assert by_inst == {"1310000011": 70.0}
    assert generic.generic_shares(con, "branch", branch="04") == []
    assert generic.generic_share_kpi(engine, 2024, "13") == round(100 * 88.5 / 100.5, 2)
    assert generic.generic_share_kpi(engine, 2023) is None
    with pytest.raises(ValueError):
        generic.generic_shares(con, "employer")


def test_the_kpi_actuals_are_computed_not_imported(world, engine):
    from onshi.analytics.usage import system_actuals

    import_claims(write_claims(world, "c.csv", [drug(claim_number="1", line_number="1", quantity="30"),
                                                drug(claim_number="1", line_number="2", code="990000201",
                                                     quantity="10")]))
    with unit_of_work() as s:
        values = system_actuals(s, 2024, "13")
    assert values["generic_share"] == 75.0


PEOPLE = [  # number, birth, acquisition, loss, in the FY2024 denominator?
    ("201", "1985-04-01", "2020-01-01", None, True),          # reaches 40 on 31 March 2025
    ("202", "1985-04-02", "2020-01-01", None, False),         # reaches 40 on 1 April 2025: next year
    ("203", "1950-04-02", "2020-01-01", None, True),          # reaches 75 on 1 April 2025: still 74 this year
    ("204", "1950-04-01", "2020-01-01", None, False),         # reaches 75 on 31 March 2025
    ("205", "1970-01-01", "2024-04-01", None, True),          # insured from the first day
    ("206", "1970-01-01", "2024-04-02", None, False),         # joined in the year
    ("207", "1970-01-01", "2020-01-01", "2025-04-01", True),  # insured through the last day
    ("208", "1970-01-01", "2020-01-01", "2025-03-31", False),  # left on the last day
]

KANA = dict(zip([p[0] for p in PEOPLE], ["イチ", "ニ", "サン", "シ", "ゴ", "ロク", "シチ", "ハチ"]))


def test_checkup_denominator_at_its_boundaries_members_and_dependents_apart(world, tmp_path):
    rep = load(write(tmp_path, "p.csv", T.acquisition, [
        acquisition(number=n, my_number="", name=f"健診　{KANA[n]}", name_kana=f"ケンシン　{KANA[n]}", birth_date=b,
                    acquisition_date=a) for n, b, a, _l, _in in PEOPLE]), T.acquisition)
    assert rep.applied == len(PEOPLE), rep.errors
    load(write(tmp_path, "l.csv", T.loss, [numbers(number=n, loss_date=lo, loss_reason="99")
                                           for n, _b, _a, lo, _in in PEOPLE if lo]), T.loss)
    load(write(tmp_path, "d.csv", T.dependent, [
        dependent(number="201", branch="01", my_number="", birth_date="1980-06-06"),
        dependent(number="201", branch="02", my_number="", name="厚労　幼子", name_kana="コウロウ　オサナゴ",
                  birth_date="2015-06-06")]), T.dependent)
    with unit_of_work() as s:
        ins = registry.get_insurer(s, number=INSURER).id
        den = checkups.checkup_denominator(s, [ins], 2024)
        names = {k: sorted(registry.person_on(s, p).name for p in v) for k, v in den.items()}
    expected = sorted([f"健診　{KANA[n]}" for n, *_r, inside in PEOPLE if inside] + ["厚労　太郎"])
    assert names["insured"] == expected
    assert names["dependent"] == ["厚労　花子"]
    (tmp_path / "r.csv").write_text(
        "insurer_number,symbol,number,branch,birth_date,checkup_date,hba1c\n"
        f"{INSURER},10000001,201,00,1985-04-01,2024-06-01,5.4\n"
        f"{INSURER},10000001,201,01,1980-06-06,2025-03-31,5.1\n"
        f"{INSURER},10000001,202,00,1985-04-02,2024-06-01,\n"      # not in the denominator: counts nowhere
        f"{INSURER},10000001,999,00,1985-04-01,2024-06-01,\n"      # unknown
        f"{INSURER},10000001,201,00,1985-04-01,2024-06-01,5.4\n",  # again
        encoding="cp932")
    with unit_of_work() as s:
        rep = checkups.import_checkup_results(s, tmp_path / "r.csv", today=date(2025, 4, 30))
        assert (rep.applied, rep.duplicate) == (3, 1) and [e[0] for e in rep.errors] == [5]
        assert "unknown numbers" in rep.errors[0][3]
        assert checkups.checkup_rate(s, [ins], 2024, "insured") == 20.0   # 1 of 5 (太郎 too)
        assert checkups.checkup_rate(s, [ins], 2024, "dependent") == 100.0
        assert checkups.checkup_rate(s, [ins], 2024) == round(100 * 2 / 6, 2)
        assert checkups.checkup_rate(s, [ins], 2030) == 0.0  # a denominator, no results
        assert checkups.checkup_rate(s, [ins], 2010) is None  # nobody insured then
