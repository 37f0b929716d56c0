"""基準収入額適用 (70–74 現役並み → 一般 on application) and the 傷病手当金 daily amount's 11 vs 12 months — pure."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshi.rules import benefits as r
from onshi.rules.calendar import add_months


def test_single_member_under_383_man():
    assert r.income_basis(applied_on=date(2026, 9, 10), incomes=[3_829_999]).applies
    no = r.income_basis(applied_on=date(2026, 9, 10), incomes=[3_830_000])
    assert (no.applies, no.effective_from) == (False, None)
    assert no.lines[-1] == "基準収入額以上のため現役並みのまま"


def test_with_a_70_74_dependant_the_incomes_add_up_under_520_man():
    assert r.income_basis(applied_on=date(2026, 9, 10), incomes=[3_900_000, 1_299_999]).applies
    assert not r.income_basis(applied_on=date(2026, 9, 10), incomes=[3_900_000, 1_300_000]).applies


def test_a_former_dependant_in_late_elderly_care_counts_only_when_the_member_alone_is_above():
    assert not r.income_basis(applied_on=date(2026, 9, 10), incomes=[4_000_000]).applies
    yes = r.income_basis(applied_on=date(2026, 9, 10), incomes=[4_000_000], former_dependant_income=1_100_000)
    assert yes.applies and "5,100,000円 < 5,200,000円" in yes.lines[1]
    assert not r.income_basis(applied_on=date(2026, 9, 10), incomes=[4_000_000],
                              former_dependant_income=1_200_000).applies


def test_in_force_from_the_application_month_or_the_determination_month_when_timely():
    # the reference's rule, the month from which the co-pay ratio shows 2割 (rules.co_pay): one 区分 per month
    for day in (date(2026, 9, 1), date(2026, 9, 30)):
        assert r.income_basis(applied_on=day, incomes=[1]).effective_from == date(2026, 9, 1)
    assert r.income_basis(applied_on=date(2026, 12, 31), incomes=[1]).effective_from == date(2026, 12, 1)
    timely = r.income_basis(applied_on=date(2026, 10, 20), incomes=[1], timely_from=date(2026, 8, 1))
    assert timely.effective_from == date(2026, 8, 1)
    assert timely.lines[-1] == "判定の月（2026年08月）の申請期限内の申請: 2026-08-01 から一般"
    # a determination month after the application's is not a reason to go back: the application's month
    assert r.income_basis(applied_on=date(2026, 9, 20), incomes=[1],
                          timely_from=date(2026, 11, 1)).effective_from == date(2026, 9, 1)


def test_the_category_changes_from_the_effective_month_only_for_genekinami():
    basis = r.income_basis(applied_on=date(2026, 9, 10), incomes=[3_000_000])
    assert r.with_income_basis("B01", date(2026, 8, 31), basis) == "B01"
    assert r.with_income_basis("B01", date(2026, 9, 1), basis) == "B04"
    assert r.with_income_basis("B03", date(2026, 10, 1), basis) == "B04"
    assert r.with_income_basis("B02", date(2026, 10, 31), basis) == "B04"
    assert r.with_income_basis("B05", date(2026, 10, 1), basis) == "B05"
    assert r.with_income_basis("B01", date(2026, 10, 1), None) == "B01"


def test_bad_incomes_are_refused():
    with pytest.raises(ValueError):
        r.income_basis(applied_on=date(2026, 9, 10), incomes=[])
    with pytest.raises(ValueError):
        r.income_basis(applied_on=date(2026, 9, 10), incomes=[-1])


@given(st.lists(st.integers(0, 8_000_000), min_size=1, max_size=3), st.dates(date(2008, 4, 1), date(2040, 12, 31)))
def test_applies_exactly_when_under_the_threshold(incomes, day):
    e = r.income_basis(applied_on=day, incomes=incomes)
    threshold = 3_830_000 if len(incomes) == 1 else 5_200_000
    assert e.applies == (sum(incomes) < threshold)
    if e.applies:
        assert e.effective_from == day.replace(day=1)


# ---------------------------------------------------------------- 傷病手当金: 11 vs 12 months

def _months(first: date, n: int, amounts: list[int]) -> list[tuple[date, int]]:
    return [(add_months(first, i), amounts[i % len(amounts)]) for i in range(n)]


@given(st.integers(1, 12), st.lists(st.sampled_from([88_000, 200_000, 300_000, 320_000, 410_000, 1_390_000]),
                                    min_size=1, max_size=12), st.sampled_from([280_000, 300_000, 320_000]))
def test_short_membership_takes_the_lesser_twelve_months_the_own_average(n, amounts, average):
    first_day = date(2026, 4, 15)
    hist = _months(add_months(date(2026, 4, 1), -(n - 1)), n, amounts)
    got = r.daily_amount(hist, first_day=first_day, insurer_average=average).amount
    own = r.daily_amount(hist, first_day=first_day, insurer_average=10**9).amount
    if n < 12:
        insurer = r.daily_amount([(date(2026, 4, 1), average)], first_day=first_day, insurer_average=10**9).amount
        assert got == min(own, insurer)
    else:
        assert got == own


def test_the_insurer_average_is_keyed_by_the_fiscal_year_of_the_first_payable_day():
    hist = _months(date(2025, 6, 1), 11, [410_000])  # June 2025 – April 2026: 11 months
    assert r.daily_amount(hist[:10], first_day=date(2026, 3, 31),
                          insurer_average=r.KYOKAI_AVERAGE_REMUNERATION.at(date(2026, 3, 31))).amount == 7_113
    assert r.KYOKAI_AVERAGE_REMUNERATION.at(date(2019, 3, 31)) == 280_000
    assert r.KYOKAI_AVERAGE_REMUNERATION.at(date(2019, 4, 1)) == 300_000
