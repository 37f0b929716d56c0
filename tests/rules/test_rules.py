"""Rules at their boundaries: birthdays, month ends, school years, 70 and 75, holidays and 29 Dec – 3 Jan."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshi.rules.age import age_on, birthday, day_reaching_age
from onshi.rules.calendar import (
    add_business_days,
    business_days_between,
    deadline_after_receipt,
    is_business_day,
    next_business_day,
)
from onshi.rules.co_pay import (
    NotCovered,
    co_pay_ratio,
    elderly_start,
    late_elderly_transition,
    preschool_until,
    ratio_percent_3,
)
from onshi.rules.dated import DatedTable, NotInForce
from onshi.rules.limit_category import limit_category, monthly_ceiling

D = date


# ---------------------------------------------------------------- age

@pytest.mark.parametrize("birth, day, age", [
    (D(1970, 1, 1), D(2039, 12, 30), 69), (D(1970, 1, 1), D(2039, 12, 31), 70),
    (D(2000, 2, 29), D(2075, 2, 27), 74), (D(2000, 2, 29), D(2075, 2, 28), 75),
    (D(2024, 5, 5), D(2024, 5, 5), 0),
])
def test_legal_age(birth, day, age):
    assert age_on(birth, day) == age


@given(st.dates(D(1900, 1, 1), D(2030, 12, 31)), st.integers(1, 90))
def test_age_changes_exactly_on_the_day_before_the_birthday(birth, n):
    reached = day_reaching_age(birth, n)
    assert age_on(birth, reached) == n
    assert age_on(birth, date.fromordinal(reached.toordinal() - 1)) == n - 1


def test_leap_day_birthday():
    assert birthday(D(2000, 2, 29), 1) == D(2001, 3, 1) and birthday(D(2000, 2, 29), 4) == D(2004, 2, 29)


# ---------------------------------------------------------------- 未就学

@pytest.mark.parametrize("birth, last_day", [
    (D(2020, 4, 1), D(2026, 3, 31)),  # reaches 6 on 31 March 2026: starts school in April 2026
    (D(2020, 4, 2), D(2027, 3, 31)),
    (D(2020, 3, 31), D(2026, 3, 31)),
    (D(2019, 12, 31), D(2026, 3, 31)),
])
def test_preschool_until_the_first_31_march_after_reaching_six(birth, last_day):
    assert preschool_until(birth) == last_day


def test_preschool_ratio_changes_on_1_april():
    kw = dict(birth_date=D(2020, 4, 1), member_monthly_remuneration=300000)
    assert co_pay_ratio(on=D(2026, 3, 31), **kw).ratio_tenths == 2
    after = co_pay_ratio(on=D(2026, 4, 1), **kw)
    assert after.ratio_tenths == 3 and not after.preschool


# ---------------------------------------------------------------- 70–74

@pytest.mark.parametrize("birth, start", [
    (D(1956, 11, 1), D(2026, 11, 1)),   # birthday on the 1st: reaches 70 on 31 Oct → from 1 Nov
    (D(1956, 11, 2), D(2026, 12, 1)),
    (D(1956, 11, 30), D(2026, 12, 1)),
    (D(1956, 12, 1), D(2026, 12, 1)),
    (D(1957, 1, 1), D(2027, 1, 1)),
])
def test_elderly_start(birth, start):
    assert elderly_start(birth) == start


def test_joining_at_seventy_plus_starts_on_acquisition():
    assert elderly_start(D(1950, 5, 5), acquisition_date=D(2024, 7, 10)) == D(2024, 7, 10)


@pytest.mark.parametrize("remuneration, ratio", [(279999, 2), (280000, 3), (830000, 3), (260000, 2)])
def test_seventy_to_seventy_four_by_remuneration(remuneration, ratio):
    cp = co_pay_ratio(birth_date=D(1953, 6, 10), on=D(2026, 11, 1), member_monthly_remuneration=remuneration)
    assert cp.ratio_tenths == ratio and cp.elderly and cp.elderly_valid_to == D(2028, 6, 9)


def test_day_before_elderly_start_is_still_three_tenths():
    kw = dict(birth_date=D(1956, 11, 2), member_monthly_remuneration=200000)
    assert co_pay_ratio(on=D(2026, 11, 30), **kw).ratio_tenths == 3
    assert co_pay_ratio(on=D(2026, 12, 1), **kw).ratio_tenths == 2


def test_dependent_follows_the_member():
    # a 72-year-old dependent of a 65-year-old member earning 41万: the member is not 70+, so 2割
    cp = co_pay_ratio(birth_date=D(1954, 3, 3), on=D(2026, 11, 1), member_birth_date=D(1961, 1, 1),
                      member_monthly_remuneration=410000)
    assert cp.ratio_tenths == 2
    both_old = co_pay_ratio(birth_date=D(1954, 3, 3), on=D(2026, 11, 1), member_birth_date=D(1953, 1, 1),
                            member_monthly_remuneration=410000)
    assert both_old.ratio_tenths == 3


def test_income_exemption_from_the_application_month():
    kw = dict(birth_date=D(1953, 6, 10), member_monthly_remuneration=410000, income_exemption_from=D(2026, 9, 15))
    assert co_pay_ratio(on=D(2026, 8, 31), **kw).ratio_tenths == 3
    assert co_pay_ratio(on=D(2026, 9, 1), **kw).ratio_tenths == 2


def test_seventy_fifth_birthday_ends_coverage():
    assert late_elderly_transition(D(1951, 12, 1)) == D(2026, 12, 1)
    co_pay_ratio(birth_date=D(1951, 12, 1), on=D(2026, 11, 30), member_monthly_remuneration=0)
    with pytest.raises(NotCovered):
        co_pay_ratio(birth_date=D(1951, 12, 1), on=D(2026, 12, 1), member_monthly_remuneration=0)


def test_ratio_percent():
    assert [ratio_percent_3(r) for r in (1, 2, 3)] == ["010", "020", "030"]


# ---------------------------------------------------------------- limit categories

@pytest.mark.parametrize("remuneration, under70, over70", [
    (830000, "A01", "B01"), (790000, "A02", "B02"), (530000, "A02", "B02"), (500000, "A03", "B03"),
    (280000, "A03", "B03"), (260000, "A04", "B04"), (58000, "A04", "B04"),
])
def test_limit_category_bands(remuneration, under70, over70):
    day = D(2026, 11, 1)
    assert limit_category(on=day, age_70_plus=False, monthly_remuneration=remuneration) == under70
    assert limit_category(on=day, age_70_plus=True, monthly_remuneration=remuneration) == over70


def test_tax_exempt_categories():
    day = D(2026, 11, 1)
    assert limit_category(on=day, age_70_plus=False, monthly_remuneration=0, tax_exempt=True) == "A05"
    assert limit_category(on=day, age_70_plus=True, monthly_remuneration=0, tax_exempt=True) == "B05"
    assert limit_category(on=day, age_70_plus=True, monthly_remuneration=0, tax_exempt=True, low_income_1=True) == "B06"


@pytest.mark.parametrize("code, cost, expected", [
    ("A01", 842_000, 252_600), ("A01", 1_000_000, 254_180), ("A02", 1_000_000, 171_820),
    ("A03", 267_000, 80_100), ("A03", 1_000_000, 87_430), ("A03", 100_000, 80_100), ("A04", 1_000_000, 57_600),
    ("A05", 1_000_000, 35_400),
])
def test_monthly_ceiling_formulas(code, cost, expected):
    assert monthly_ceiling(code, cost, on=D(2026, 11, 1)) == expected


def test_many_times_and_outpatient_amounts():
    day = D(2026, 11, 1)
    assert monthly_ceiling("A03", 1_000_000, on=day, many_times=True) == 44_400
    assert monthly_ceiling("B04", 500_000, on=day, outpatient_only=True) == 18_000
    assert monthly_ceiling("B06", 500_000, on=day) == 15_000


def test_dated_table_before_first_row():
    with pytest.raises(NotInForce):
        DatedTable("x", ((D(2020, 1, 1), 1),)).at(D(2019, 12, 31))


# ---------------------------------------------------------------- business days

@pytest.mark.parametrize("day, business", [
    (D(2026, 12, 28), True), (D(2026, 12, 29), False), (D(2026, 12, 31), False), (D(2027, 1, 3), False),
    (D(2027, 1, 4), True), (D(2026, 11, 23), False), (D(2026, 11, 21), False), (D(2026, 11, 24), True),
])
def test_business_days(day, business):
    assert is_business_day(day) is business


def test_next_business_day_over_a_holiday_weekend_and_the_year_end():
    assert next_business_day(D(2026, 11, 20)) == D(2026, 11, 24)  # Fri → Tue (Mon is 勤労感謝の日)
    assert next_business_day(D(2026, 12, 28)) == D(2027, 1, 4)
    assert next_business_day(D(2025, 12, 26)) == D(2026, 1, 5)  # Fri 26 Dec 2025 → Mon 5 Jan 2026
    assert add_business_days(D(2026, 11, 20), 2) == D(2026, 11, 25)
    assert business_days_between(D(2026, 12, 25), D(2027, 1, 5)) == 3  # 28 Dec, 4 Jan, 5 Jan


def test_registration_deadline_is_five_days_after_receipt():
    assert deadline_after_receipt(D(2026, 11, 20)) == D(2026, 11, 25)
    assert deadline_after_receipt(D(2026, 12, 28)) == D(2027, 1, 2)
