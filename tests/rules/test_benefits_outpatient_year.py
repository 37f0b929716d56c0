"""高額療養費の外来年間合算 (70歳以上 一般・低所得, 年間上限 144,000円, 8月〜翌7月) — onshi.rules.benefits, pure.

Boundaries: the 7/31–8/1 edge of the 計算期間, a person who turns 70 during it, the cap reached exactly, 一般 vs
現役並み (no yearly cap), and what a month's own 高額療養費 leaves (``HighCostRefund.outpatient_borne``)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshi.rules import benefits as r
from onshi.rules.calendar import add_months

BASE = date(2026, 7, 31)
PERIOD = [add_months(date(2025, 8, 1), i) for i in range(12)]


def month(m: date, paid: int, *, borne: int | None = None, group: str = "70_74", cat: str | None = "B04"):
    return r.OutpatientMonth(m, group, cat if group != "under_70" else None, paid, paid if borne is None else borne)


def refund(months, *, base_category="B04", base_age_group="70_74", base_day=BASE):
    return r.outpatient_year_refund(base_day=base_day, base_category=base_category, base_age_group=base_age_group,
                                    months=months)


def test_the_period_runs_from_1_august_to_31_july():
    assert r.outpatient_year(date(2026, 7, 31)) == (date(2025, 8, 1), date(2026, 7, 31))
    assert r.outpatient_year(date(2026, 8, 1)) == (date(2026, 8, 1), date(2027, 7, 31))
    assert r.outpatient_year(date(2026, 1, 15)) == (date(2025, 8, 1), date(2026, 7, 31))
    with pytest.raises(LookupError):  # before the first 計算期間 (2017-08-01)
        r.outpatient_year(date(2017, 7, 31))


@given(st.dates(date(2017, 8, 1), date(2060, 12, 31)))
def test_every_day_is_in_exactly_one_period_ending_on_31_july(day):
    first, last = r.outpatient_year(day)
    assert first <= day <= last
    assert (first.month, first.day, last.month, last.day) == (8, 1, 7, 31)
    assert last.year == first.year + 1
    assert r.outpatient_year(last + timedelta(days=1))[0] == last + timedelta(days=1)


def test_the_cap_reached_exactly_pays_nothing_one_yen_above_pays_one():
    months = [month(m, 12_000) for m in PERIOD]  # 12 × 12,000 = 144,000
    assert refund(months).amount == 0
    months[-1] = month(PERIOD[-1], 12_001)
    e = refund(months)
    assert e.amount == 1
    assert e.lines[-1] == "合算額 144,001円 − 年間上限 144,000円 = 1円"


def test_only_months_of_the_period_count_at_the_7_31_8_1_edge():
    inside = [month(m, 18_000) for m in PERIOD]  # 216,000 → 72,000
    july_before = month(date(2025, 7, 1), 18_000)  # the previous period's last month
    august_after = month(date(2026, 8, 1), 18_000)  # the next period's first month
    assert refund(inside).amount == 72_000
    assert refund(inside + [july_before, august_after]).amount == 72_000


def test_what_the_months_own_high_cost_paid_is_not_counted_again():
    # each month 30,000 paid, the 外来 individual limit (18,000) refunded 12,000 monthly: 18,000 borne
    months = [month(m, 30_000, borne=18_000) for m in PERIOD]
    e = refund(months)
    assert e.amount == 12 * 18_000 - 144_000
    assert "外来 30,000円 − 月間の高額療養費 12,000円 → 18,000円" in e.lines[1]


def test_a_person_who_turns_70_during_the_period_counts_from_the_first_70_74_month():
    # born 1956-01-15: 70 on 2026-01-14, 高齢受給者 from February 2026 — August–January are under 70
    birth = date(1956, 1, 15)
    months = [month(m, 30_000, group=r.age_group(birth, m)) for m in PERIOD]
    assert [m.age_group for m in months].count("under_70") == 6
    e = refund(months)
    assert e.amount == 6 * 30_000 - 144_000  # 36,000: the six 70–74 months only
    assert sum("70歳未満の月のため合算しない" in x for x in e.lines) == 6


def test_genekinami_gets_no_yearly_cap_and_its_months_do_not_count():
    months = [month(m, 18_000, cat="B03") for m in PERIOD]
    e = refund(months, base_category="B03")
    assert e.amount == 0 and "区分 現役並みⅠ" in e.lines[1]
    # 一般 on the 基準日 after 現役並み months: only the 一般 months count
    mixed = [month(m, 40_000, cat="B03" if i < 6 else "B04") for i, m in enumerate(PERIOD)]
    assert refund(mixed).amount == 6 * 40_000 - 144_000
    # 低所得 counts like 一般
    assert refund([month(m, 15_000, cat="B05") for m in PERIOD], base_category="B05").amount == 180_000 - 144_000


def test_under_70_on_the_base_day_or_a_base_day_that_is_not_31_july():
    assert refund([month(m, 50_000) for m in PERIOD], base_age_group="under_70").amount == 0
    with pytest.raises(ValueError, match="7月31日"):
        refund([], base_day=date(2026, 7, 30))


@given(st.lists(st.tuples(st.integers(0, 11), st.integers(0, 60_000), st.sampled_from(["B03", "B04", "B05"]),
                          st.sampled_from(["under_70", "70_74"])), max_size=12))
def test_the_refund_is_the_sum_of_the_counted_months_above_the_cap(rows):
    months = [month(PERIOD[i], paid, cat=cat, group=group) for i, paid, cat, group in rows]
    counted = sum(m.borne for m in months if m.age_group != "under_70" and m.category_70 in ("B04", "B05"))
    assert refund(months).amount == max(counted - 144_000, 0)


# ---------------------------------------------------------------- what one month leaves borne

def test_a_month_leaves_the_outpatient_limit_borne():
    e = r.high_cost_refund(month=date(2026, 3, 1), category="A04", category_70="B04",
                           items=[r.CareItem("父", "A医院", 30_000, 150_000, "70_74")])
    assert e.amount == 12_000 and e.borne_of("父") == 18_000


def test_the_household_refund_is_apportioned_to_the_outpatient_by_burden():
    # 父 外来 18,000 (at his limit); 母 入院 70,000: 88,000 against 57,600 → the household refund 30,400 is
    # shared by burden: 父's 外来 keeps 18,000 × 57,600 / 88,000 = 11,781.8 → 11,782
    e = r.high_cost_refund(month=date(2026, 3, 1), category="A04", category_70="B04",
                           items=[r.CareItem("父", "A医院", 18_000, 90_000, "70_74"),
                                  r.CareItem("母", "B病院", 70_000, 350_000, "70_74", inpatient=True)])
    assert e.amount == 30_400
    assert e.borne_of("父") == 11_782 and e.borne_of("母") == 0  # 母 has no 外来


@given(st.lists(st.tuples(st.sampled_from(["父", "母"]), st.integers(1, 80_000), st.booleans()), min_size=1,
                max_size=6), st.sampled_from(["B04", "B05", "B06"]))
def test_the_outpatient_borne_never_exceeds_the_outpatient_paid_or_its_limit(items, cat):
    care = [r.CareItem(p, f"機関{i}", paid, paid * 5, "70_74", inpatient) for i, (p, paid, inpatient) in
            enumerate(items)]
    e = r.high_cost_refund(month=date(2026, 3, 1), category="A04", category_70=cat, items=care)
    limit = {"B04": 18_000, "B05": 8_000, "B06": 8_000}[cat]
    for p in ("父", "母"):
        paid = sum(i.paid for i in care if i.person == p and not i.inpatient)
        assert 0 <= e.borne_of(p) <= min(paid, limit)
