"""一部負担金の割合 at its boundaries: school start, 70 (month start), 28万, dependents, 基準収入額, 75."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshi.rules.age import age_on
from onshi.rules.co_pay import (
    NotCovered,
    co_pay_ratio,
    elderly_start,
    late_elderly_transition,
    preschool_until,
    ratio_percent_3,
)
from onshi.rules.dated import NotInForce

D = date
DAY = timedelta(days=1)


def ratio(birth, on, remuneration=300_000, **kw):
    return co_pay_ratio(birth_date=birth, on=on, member_monthly_remuneration=remuneration, **kw)


# ---------------------------------------------------------------- 未就学

@pytest.mark.parametrize("birth, last_day", [
    (D(2020, 4, 1), D(2026, 3, 31)),  # reaches 6 on 31 March 2026 itself: school from April 2026
    (D(2020, 4, 2), D(2027, 3, 31)),  # reaches 6 on 1 April 2026: one more year
    (D(2020, 3, 31), D(2026, 3, 31)),
    (D(2020, 1, 1), D(2026, 3, 31)),
    (D(2019, 12, 31), D(2026, 3, 31)),
    (D(2020, 2, 29), D(2026, 3, 31)),  # reaches 6 on 28 Feb 2026
])
def test_preschool_until_the_first_31_march_after_reaching_six(birth, last_day):
    assert preschool_until(birth) == last_day


@pytest.mark.parametrize("birth", [D(2020, 4, 1), D(2020, 4, 2), D(2019, 12, 31)])
def test_preschool_ratio_ends_on_31_march(birth):
    last = preschool_until(birth)
    before, after = ratio(birth, last), ratio(birth, last + DAY)
    assert (before.ratio_tenths, before.preschool, before.basis) == (2, True, "未就学")
    assert (after.ratio_tenths, after.preschool, after.basis) == (3, False, "一般")


def test_newborn_on_the_day_of_birth():
    assert ratio(D(2026, 11, 23), D(2026, 11, 23)).ratio_tenths == 2


# ---------------------------------------------------------------- 70: the 1st of the month after reaching 70

@pytest.mark.parametrize("birth, start", [
    (D(1956, 11, 1), D(2026, 11, 1)),  # birthday on the 1st: reaches 70 on 31 Oct → 1 Nov, the birthday
    (D(1956, 11, 2), D(2026, 12, 1)),  # reaches 70 on 1 Nov → 1 Dec
    (D(1956, 11, 30), D(2026, 12, 1)),
    (D(1956, 12, 1), D(2026, 12, 1)),
    (D(1956, 12, 2), D(2027, 1, 1)),  # over the year end
    (D(1957, 1, 1), D(2027, 1, 1)),  # reaches 70 on 31 Dec 2026
    (D(1956, 2, 29), D(2026, 3, 1)),  # 29 Feb: reaches 70 on 28 Feb 2026
    (D(1956, 3, 1), D(2026, 3, 1)),
])
def test_elderly_start(birth, start):
    assert elderly_start(birth) == start


@pytest.mark.parametrize("acquisition, start", [
    (D(2026, 7, 10), D(2026, 7, 10)),  # joins at 72: from the acquisition date
    (D(2020, 4, 1), D(2024, 6, 1)),  # joined before 70: the usual start
    (D(2024, 5, 20), D(2024, 6, 1)),  # joined in the month of reaching 70: still the 1st of the next month
])
def test_elderly_start_for_someone_joining(acquisition, start):
    assert elderly_start(D(1954, 5, 5), acquisition_date=acquisition) == start


def test_ratio_changes_on_the_elderly_start_day():
    birth = D(1956, 11, 2)
    before, first = ratio(birth, D(2026, 11, 30), 200_000), ratio(birth, D(2026, 12, 1), 200_000)
    assert (before.ratio_tenths, before.elderly) == (3, False)
    assert (first.ratio_tenths, first.elderly, first.basis) == (2, True, "高齢受給者 一般")
    assert (first.elderly_valid_from, first.elderly_valid_to) == (D(2026, 12, 1), D(2031, 11, 1))


def test_joining_at_seventy_two_is_elderly_from_the_acquisition_date():
    cp = ratio(D(1954, 5, 5), D(2026, 7, 10), 200_000, acquisition_date=D(2026, 7, 10))
    assert cp.elderly and cp.elderly_valid_from == D(2026, 7, 10)


# ---------------------------------------------------------------- 現役並み: 28万

@pytest.mark.parametrize("remuneration, tenths, basis", [
    (260_000, 2, "高齢受給者 一般"), (279_999, 2, "高齢受給者 一般"), (280_000, 3, "現役並み所得者"),
    (830_000, 3, "現役並み所得者"),
])
def test_active_income_threshold(remuneration, tenths, basis):
    cp = ratio(D(1953, 6, 10), D(2026, 11, 1), remuneration)
    assert (cp.ratio_tenths, cp.basis, cp.elderly) == (tenths, basis, True)


@pytest.mark.parametrize("member_birth, remuneration, tenths", [
    (D(1961, 1, 1), 410_000, 2),  # member 65: the dependent is not 現役並み however much the member earns
    (D(1953, 1, 1), 410_000, 3),  # member 73 and ≥ 28万
    (D(1953, 1, 1), 260_000, 2),  # member 73 and < 28万
])
def test_a_dependent_follows_the_member(member_birth, remuneration, tenths):
    cp = ratio(D(1954, 3, 3), D(2026, 11, 1), remuneration, member_birth_date=member_birth)
    assert cp.ratio_tenths == tenths and cp.elderly


def test_a_dependent_turns_active_on_the_members_elderly_start():
    member, dependent = D(1956, 11, 2), D(1954, 3, 3)  # member's elderly start: 1 Dec 2026
    assert ratio(dependent, D(2026, 11, 30), 410_000, member_birth_date=member).ratio_tenths == 2
    assert ratio(dependent, D(2026, 12, 1), 410_000, member_birth_date=member).ratio_tenths == 3


def test_under_seventy_dependent_of_an_active_member_pays_three_tenths_as_anyone():
    cp = ratio(D(1970, 1, 1), D(2026, 11, 1), 410_000, member_birth_date=D(1953, 1, 1))
    assert (cp.ratio_tenths, cp.elderly) == (3, False)


def test_income_exemption_from_the_first_of_the_application_month():
    kw = {"income_exemption_from": D(2026, 9, 15)}
    assert ratio(D(1953, 6, 10), D(2026, 8, 31), 410_000, **kw).ratio_tenths == 3
    first = ratio(D(1953, 6, 10), D(2026, 9, 1), 410_000, **kw)
    assert (first.ratio_tenths, first.basis) == (2, "基準収入額適用")


def test_special_one_tenth_for_those_who_reached_seventy_before_april_2014():
    assert ratio(D(1944, 4, 1), D(2018, 5, 1), 200_000).ratio_tenths == 1  # reached 70 on 31 Mar 2014
    assert ratio(D(1944, 4, 1), D(2018, 5, 1), 200_000).basis == "特例措置"
    assert ratio(D(1944, 4, 2), D(2018, 5, 1), 200_000).ratio_tenths == 2  # reached 70 on 1 Apr 2014
    assert ratio(D(1944, 4, 1), D(2018, 5, 1), 410_000).ratio_tenths == 3  # 現役並み stays 3割


# ---------------------------------------------------------------- 75

def test_seventy_fifth_birthday_ends_employee_insurance():
    birth = D(1951, 12, 1)
    assert late_elderly_transition(birth) == D(2026, 12, 1)
    last = ratio(birth, D(2026, 11, 30), 0)
    assert last.ratio_tenths == 2 and last.elderly_valid_to == D(2026, 11, 30)
    with pytest.raises(NotCovered, match="75"):
        ratio(birth, D(2026, 12, 1), 0)


def test_seventy_fifth_birthday_of_a_twenty_ninth_of_february():
    assert late_elderly_transition(D(1952, 2, 29)) == D(2027, 3, 1)
    ratio(D(1952, 2, 29), D(2027, 2, 28), 0)
    with pytest.raises(NotCovered):
        ratio(D(1952, 2, 29), D(2027, 3, 1), 0)


def test_dependents_leave_with_the_member_at_the_members_seventy_fifth_birthday():
    member = D(1951, 12, 1)
    spouse = ratio(D(1954, 3, 3), D(2026, 11, 30), 0, member_birth_date=member)
    assert spouse.elderly_valid_to == D(2026, 11, 30)  # the member's 75th birthday comes first
    for dependent in (D(1954, 3, 3), D(2022, 5, 5), D(1990, 1, 1)):
        with pytest.raises(NotCovered, match="被扶養者"):
            ratio(dependent, D(2026, 12, 1), 0, member_birth_date=member)


def test_out_of_range():
    with pytest.raises(ValueError, match="before the birth date"):
        ratio(D(2026, 11, 23), D(2026, 11, 22))
    with pytest.raises(NotInForce):
        ratio(D(1980, 1, 1), D(2008, 3, 31))


@given(st.dates(D(1945, 1, 1), D(2026, 11, 1)), st.dates(D(2014, 4, 1), D(2030, 12, 31)))
def test_flags_agree_with_the_legal_age(birth, on):
    if on < birth or on >= late_elderly_transition(birth):
        return
    cp = ratio(birth, on)
    age = age_on(birth, on)
    if cp.preschool:
        assert age <= 6 and cp.ratio_tenths == 2
    elif cp.elderly:
        assert 70 <= age < 75 and cp.ratio_tenths in (2, 3)
        assert cp.elderly_valid_from <= on <= cp.elderly_valid_to
    else:
        assert 6 <= age <= 70 and cp.ratio_tenths == 3


# ---------------------------------------------------------------- OQS percent

def test_ratio_percent_3():
    assert [ratio_percent_3(r) for r in (0, 1, 2, 3, 10)] == ["000", "010", "020", "030", "100"]
    for bad in (-1, 11):
        with pytest.raises(ValueError):
            ratio_percent_3(bad)
