"""The cash-benefit amounts at their boundaries (onshi.rules.benefits, pure): 待期 across a weekend, 11 vs 12 months,
multiples, the 1-year-6-months total, reductions, 多数回該当, the service standard across holidays and 年末年始."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from onshi.rules import benefits as r


def months(first: date, n: int, amount: int) -> list[tuple[date, int]]:
    from onshi.rules.calendar import add_months

    return [(add_months(first, i), amount) for i in range(n)]


# ---------------------------------------------------------------- daily amount: 12 vs 11 months

def test_twelve_months_use_the_members_own_average_even_above_the_insurer_average():
    hist = months(date(2025, 5, 1), 12, 410_000)  # May 2025 … Apr 2026
    e = r.daily_amount(hist, first_day=date(2026, 4, 15), insurer_average=320_000)
    # 410,000 ÷ 30 = 13,666.67 → 13,670 (5円以上切上げ); × 2/3 = 9,113.33 → 9,113
    assert e.amount == 9113
    assert any("12か月" in line for line in e.lines) and not any("12か月未満" in line for line in e.lines)


def test_eleven_months_take_the_lower_of_own_average_and_insurer_average():
    hist = months(date(2025, 6, 1), 11, 410_000)  # Jun 2025 … Apr 2026: 11 months
    e = r.daily_amount(hist, first_day=date(2026, 4, 15), insurer_average=320_000)
    # 320,000 ÷ 30 = 10,666.67 → 10,670; × 2/3 = 7,113.33 → 7,113
    assert e.amount == 7113
    assert any("12か月未満" in line and "320,000円" in line for line in e.lines)
    # own average lower than the insurer's: own is used
    low = r.daily_amount(months(date(2025, 6, 1), 11, 200_000), first_day=date(2026, 4, 15), insurer_average=320_000)
    assert low.amount == r.round_yen(r.round_daily_standard(r.Fraction(200_000, 30)) * r.Fraction(2, 3)) == 4447


def test_only_the_continuous_months_up_to_the_first_day_count():
    # a gap in Dec 2025: only Jan–Apr 2026 are continuous (4 months → the lower rule)
    hist = months(date(2025, 1, 1), 11, 500_000) + months(date(2026, 1, 1), 4, 500_000)
    e = r.daily_amount(hist, first_day=date(2026, 4, 1), insurer_average=300_000)
    assert e.amount == 6667 and "4か月" in e.lines[0]
    with pytest.raises(ValueError, match="標準報酬月額が定められていません"):
        r.daily_amount(hist, first_day=date(2026, 6, 1), insurer_average=300_000)


def test_the_10_yen_rounding_of_the_daily_standard():
    assert r.round_daily_standard(r.Fraction(10_334)) == 10_330
    assert r.round_daily_standard(r.Fraction(10_335)) == 10_340
    assert r.round_yen(r.Fraction(13_001, 2)) == 6501 and r.round_yen(r.Fraction(13_000 * 3 + 1, 6)) == 6500


def test_insurer_average_is_dated():
    assert r.KYOKAI_AVERAGE_REMUNERATION.at(date(2025, 3, 31)) == 300_000
    assert r.KYOKAI_AVERAGE_REMUNERATION.at(date(2025, 4, 1)) == 320_000


# ---------------------------------------------------------------- 待期

def test_waiting_completes_across_a_weekend():
    # Fri 2026-11-20 off, Sat, Sun: 待期 complete on Sunday; Monday 23 Nov (勤労感謝の日) is the first payable day
    w = r.waiting(date(2026, 11, 20), date(2026, 11, 27), worked=set())
    assert w.completed_on == date(2026, 11, 22)
    assert w.payable == (date(2026, 11, 23), date(2026, 11, 27))


def test_a_day_worked_restarts_the_waiting():
    w = r.waiting(date(2026, 11, 20), date(2026, 11, 30), worked={date(2026, 11, 22)})
    assert w.completed_on == date(2026, 11, 25)  # 23, 24, 25
    assert w.payable[0] == date(2026, 11, 26)


def test_waiting_not_completed_and_waiting_only():
    assert r.waiting(date(2026, 11, 20), date(2026, 11, 21), worked=set()) == r.WaitingResult(None, None)
    assert r.waiting(date(2026, 11, 20), date(2026, 11, 22), worked=set()) == \
        r.WaitingResult(date(2026, 11, 22), None)
    # a later application of the same incapacity: 待期 is not waited again
    assert r.waiting(date(2026, 12, 1), date(2026, 12, 31), set(), already_completed=True).payable[0] == date(2026, 12, 1)


# ---------------------------------------------------------------- 出産手当金: single and multiples

def test_maternity_period_single_multiple_and_late_birth():
    birth = date(2026, 7, 10)
    first, last = r.maternity_period(birth=birth, due=birth)
    assert (birth - first).days + 1 == 42 and (last - birth).days == 56
    first_m, _ = r.maternity_period(birth=birth, due=birth, multiple=True)
    assert (birth - first_m).days + 1 == 98
    # born 5 days after the due date: 42 days before the due date, the 5 days of delay, 56 after the birth
    late = r.maternity_period(birth=date(2026, 7, 15), due=birth)
    assert late == (first, date(2026, 7, 15) + timedelta(days=56))
    # born early: counted from the birth
    early = r.maternity_period(birth=date(2026, 7, 1), due=birth)
    assert early[0] == date(2026, 7, 1) - timedelta(days=41)


# ---------------------------------------------------------------- 1 year 6 months in total

def test_duration_is_one_year_six_months_of_days():
    assert r.duration_days(date(2026, 1, 1)) == 546  # 2026-01-01 … 2027-06-30
    assert r.duration_days(date(2025, 8, 31)) == (date(2027, 2, 28) - date(2025, 8, 31)).days


def test_the_total_stops_payment_beyond_the_remaining_days():
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(10)]
    e = r.period_amount(6000, days, remaining_days=4)
    assert e.amount == 24_000 and any("通算1年6か月の残り 4日" in line for line in e.lines)
    assert r.period_amount(6000, days, remaining_days=0).amount == 0
    assert r.period_amount(6000, days, remaining_days=10).amount == 60_000


def test_wages_and_other_benefits_reduce_the_days_they_were_paid_for():
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(3)]
    e = r.period_amount(6000, days, wages={days[0]: 2000, days[1]: 7000}, other_daily=0)
    assert e.amount == 4000 + 0 + 6000
    e = r.period_amount(6000, days, other_daily=1000, other_label="障害厚生年金")
    assert e.amount == 15_000 and any("障害厚生年金" in line for line in e.lines)


# ---------------------------------------------------------------- lump sums

def test_childbirth_lump_sum_by_date_and_coverage():
    assert r.childbirth_lump_sum(birth=date(2023, 3, 31), children=1, covered=True).amount == 420_000
    assert r.childbirth_lump_sum(birth=date(2023, 4, 1), children=1, covered=True).amount == 500_000
    assert r.childbirth_lump_sum(birth=date(2023, 4, 1), children=2, covered=False).amount == 976_000
    assert r.burial_amount(death=date(2026, 1, 1)).amount == 50_000
    assert r.burial_amount(death=date(2026, 1, 1), costs=30_000).amount == 30_000


# ---------------------------------------------------------------- 高額療養費

def test_household_total_counts_only_items_of_21000_or_more_under_70():
    items = [r.CareItem("本人", "A病院 入院", 90_000, 300_000), r.CareItem("本人", "B医院 外来", 20_999, 69_997),
             r.CareItem("家族", "C病院 外来", 21_000, 70_000)]
    e = r.high_cost_refund(month=date(2026, 10, 1), category="A03", items=items)
    # counted: 90,000 + 21,000 on a total cost of 370,000 → ceiling 80,100 + (370,000 − 267,000) × 1% = 81,130
    assert e.amount == 111_000 - 81_130
    assert any("21,000円未満のため合算しない" in line for line in e.lines)


def test_many_times_lowers_the_ceiling_from_the_fourth_month():
    items = [r.CareItem("本人", "A病院", 100_000, 400_000)]
    three = [date(2025, 11, 1), date(2026, 3, 1), date(2026, 9, 1)]
    assert r.high_cost_refund(month=date(2026, 10, 1), category="A03", items=items, refund_months=three).amount \
        == 100_000 - 44_400
    # the first of the three falls out of the 12 months before November 2026: not 多数回
    nov = r.high_cost_refund(month=date(2026, 11, 1), category="A03", items=items, refund_months=three)
    assert nov.amount == 100_000 - (80_100 + 1330)
    assert r.is_many_times(date(2026, 10, 1), three[1:]) is False
    # a 70–74 code for an under-70 household is read as its under-70 band (一般 → エ: 57,600)
    assert r.high_cost_refund(month=date(2026, 10, 1), category="B04", items=items).amount == 100_000 - 57_600
    with pytest.raises(ValueError, match="70歳以上の限度額区分"):
        r.high_cost_refund(month=date(2026, 10, 1), category="A03",
                           items=[r.CareItem("父", "A病院", 30_000, 150_000, "70_74")])


# ---------------------------------------------------------------- 高額療養費 at 70–74

OCT = date(2026, 10, 1)


def test_the_70th_birthday_month_is_under_70_unless_born_on_the_first():
    # one reaches 70 the day before the birthday; 高齢受給者 from the 1st of the following month
    assert r.age_group(date(1956, 6, 15), date(2026, 6, 1)) == "under_70"
    assert r.age_group(date(1956, 6, 15), date(2026, 7, 1)) == "70_74"
    assert r.age_group(date(1956, 6, 2), date(2026, 6, 1)) == "under_70"  # reaches 70 on 1 June: from July
    assert r.age_group(date(1956, 6, 1), date(2026, 5, 1)) == "under_70"
    assert r.age_group(date(1956, 6, 1), date(2026, 6, 1)) == "70_74"  # reached 70 on 31 May: from June


def test_the_75th_birthday_moves_to_the_late_elderly_scheme():
    assert r.age_group(date(1951, 6, 15), date(2026, 5, 1)) == "70_74"
    assert r.age_group(date(1951, 6, 15), date(2026, 6, 1)) == "75_month"  # the 到達月: half the individual limits
    with pytest.raises(r.NotThisInsurer, match="後期高齢者医療"):
        r.age_group(date(1951, 6, 15), date(2026, 7, 1))
    # born on the 1st: 後期高齢者 from the 1st of the month — the whole month is not this insurer's, no 特例
    with pytest.raises(r.NotThisInsurer):
        r.age_group(date(1951, 6, 1), date(2026, 6, 1))
    assert r.age_group(date(1951, 6, 1), date(2026, 5, 1)) == "70_74"


def test_general_70_74_outpatient_individual_limit_then_household_limit():
    items = [r.CareItem("父", "A医院 外来", 10_000, 50_000, "70_74"),
             r.CareItem("父", "B医院 外来", 12_000, 60_000, "70_74"),  # 外来 of the person added at any amount
             r.CareItem("父", "C病院 入院", 50_000, 250_000, "70_74", inpatient=True)]
    e = r.high_cost_refund(month=OCT, category="B04", items=items)
    # 外来 22,000 − 18,000 = 4,000; then 18,000 + 50,000 = 68,000 − 57,600 = 10,400
    assert e.amount == 4_000 + 10_400
    assert any("外来（個人単位）: 22,000円、限度額 18,000円 → 支給 4,000円" in line for line in e.lines)
    assert e.lines[-1] == "支給額: 14,400円"


def test_the_outpatient_limit_is_per_person_and_the_household_limit_for_all_70_74():
    items = [r.CareItem("父", "A医院 外来", 17_000, 85_000, "70_74"),
             r.CareItem("母", "B医院 外来", 17_999, 89_995, "70_74"),
             r.CareItem("母", "C病院 入院", 40_000, 200_000, "70_74", inpatient=True)]
    e = r.high_cost_refund(month=OCT, category="A04", category_70="B04", items=items)
    # neither 外来 reaches 18,000 alone; household 17,000 + 17,999 + 40,000 = 74,999 − 57,600
    assert e.amount == 74_999 - 57_600


def test_a_household_mixing_ages_computes_the_70_74_part_first_then_the_whole_under_70():
    items = [r.CareItem("母", "A医院 外来", 20_000, 100_000, "70_74"),
             r.CareItem("本人", "B病院 入院", 90_000, 300_000),
             r.CareItem("子", "C医院 外来", 20_999, 69_997)]  # under 70 and below 21,000: not added
    e = r.high_cost_refund(month=OCT, category="A03", category_70="B04", items=items)
    # ① 母 外来 20,000 → 18,000 (2,000); ② 18,000 ≤ 57,600 (0);
    # ③ 18,000 + 90,000 = 108,000 on 100,000 + 300,000: ウ 80,100 + (400,000 − 267,000) × 1% = 81,430 → 26,570
    assert e.amount == 2_000 + 26_570
    assert any("21,000円未満のため合算しない" in line for line in e.lines)
    # a 70–74 payment under 21,000 still joins the whole household's sum
    small = [r.CareItem("母", "A医院 外来", 5_000, 25_000, "70_74"), r.CareItem("本人", "B病院 入院", 90_000, 300_000)]
    assert r.high_cost_refund(month=OCT, category="A03", category_70="B04", items=small).amount \
        == 95_000 - (80_100 + (325_000 - 267_000 + 50) // 100)


def test_active_income_70_74_uses_the_formula_without_an_outpatient_limit():
    items = [r.CareItem("本人", "A病院 外来", 100_000, 333_334, "70_74")]
    # 現役並みⅠ: 80,100 + (333,334 − 267,000) × 1% = 80,100 + 663 (四捨五入) = 80,763
    assert r.high_cost_refund(month=OCT, category="B03", items=items).amount == 100_000 - 80_763


def test_many_times_at_70_74_general_and_none_for_low_income():
    three = [date(2026, 1, 1), date(2026, 5, 1), date(2026, 9, 1)]
    inpatient = [r.CareItem("本人", "A病院 入院", 60_000, 300_000, "70_74", inpatient=True)]
    assert r.high_cost_refund(month=OCT, category="B04", items=inpatient).amount == 60_000 - 57_600
    assert r.high_cost_refund(month=OCT, category="B04", items=inpatient, refund_months=three).amount \
        == 60_000 - 44_400
    # 低所得Ⅱ has no 多数回 amount: 24,600 either way; 低所得Ⅰ 15,000
    assert r.high_cost_refund(month=OCT, category="B05", items=inpatient, refund_months=three).amount \
        == 60_000 - 24_600
    assert r.high_cost_refund(month=OCT, category="B06", items=inpatient).amount == 60_000 - 15_000
    outpatient = [r.CareItem("本人", "A医院 外来", 9_000, 90_000, "70_74")]
    assert r.high_cost_refund(month=OCT, category="B06", items=outpatient).amount == 1_000  # 外来 8,000


def test_the_75th_birthday_month_halves_the_individual_limits_not_the_household_one():
    items = [r.CareItem("父", "A医院 外来", 12_000, 60_000, "75_month"),
             r.CareItem("父", "B病院 入院", 30_000, 150_000, "75_month", inpatient=True)]
    e = r.high_cost_refund(month=OCT, category="B04", items=items)
    # 外来 12,000 − 9,000 = 3,000; the person's own 9,000 + 30,000 = 39,000 − 28,800 = 10,200
    assert e.amount == 3_000 + 10_200
    assert any("75歳到達月の特例" in line for line in e.lines)
    # 現役並みⅢ halved: 126,300 + (総医療費 − 421,000) × 1%
    big = [r.CareItem("父", "B病院 入院", 300_000, 1_000_000, "75_month", inpatient=True)]
    assert r.high_cost_refund(month=OCT, category="B01", items=big).amount \
        == 300_000 - (126_300 + (1_000_000 - 421_000 + 50) // 100)


# ---------------------------------------------------------------- the service standard

def test_ten_business_days_across_holidays_and_the_year_end():
    # complete on Fri 25 Dec 2026: 28 Dec; 29 Dec – 3 Jan closed; 4–8 Jan; 11 Jan 成人の日; 12–15 Jan → due 15 Jan
    assert r.payment_due(date(2026, 12, 25)) == date(2027, 1, 15)
    assert r.within_standard(date(2026, 12, 25), date(2027, 1, 15))
    assert not r.within_standard(date(2026, 12, 25), date(2027, 1, 18))
    assert r.business_days_taken(date(2026, 12, 25), date(2027, 1, 4)) == 2
    # Golden Week 2026: 29 Apr, 4–6 May (6 May 振替休日) closed: 30 Apr, 1, 7, 8, 11–15, 18 May
    assert r.payment_due(date(2026, 4, 28)) == date(2026, 5, 18)
    assert r.transfer_date(date(2026, 12, 28)) == date(2027, 1, 4)


def test_an_outpatient_individual_refund_alone_does_not_count_for_many_times():
    out = r.high_cost_refund(month=OCT, category="B04", items=[r.CareItem("父", "A医院 外来", 30_000, 150_000, "70_74")])
    assert out.amount == 12_000 and out.outpatient_part == 12_000 and not out.counts_for_many_times
    both = r.high_cost_refund(month=OCT, category="B04", items=[
        r.CareItem("父", "A医院 外来", 30_000, 150_000, "70_74"),
        r.CareItem("父", "B病院 入院", 50_000, 250_000, "70_74", inpatient=True)])
    assert both.amount == 12_000 + (68_000 - 57_600) and both.counts_for_many_times
