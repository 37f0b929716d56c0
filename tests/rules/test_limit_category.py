"""限度額適用区分 at each band boundary, and every ceiling formula and amount."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshi.rules.dated import NotInForce
from onshi.rules.limit_category import (
    CERTIFICATE_YEAR,
    LIMIT_CATEGORY_NAMES,
    certificate_period,
    limit_category,
    monthly_ceiling,
)

DAY = date(2026, 11, 1)


@pytest.mark.parametrize("remuneration, under_70, age_70_to_74", [
    (1_390_000, "A01", "B01"), (830_000, "A01", "B01"), (829_999, "A02", "B02"), (790_000, "A02", "B02"),
    (530_000, "A02", "B02"), (529_999, "A03", "B03"), (500_000, "A03", "B03"), (280_000, "A03", "B03"),
    (279_999, "A04", "B04"), (260_000, "A04", "B04"), (58_000, "A04", "B04"), (0, "A04", "B04"),
])
def test_bands(remuneration, under_70, age_70_to_74):
    assert limit_category(on=DAY, age_70_plus=False, monthly_remuneration=remuneration) == under_70
    assert limit_category(on=DAY, age_70_plus=True, monthly_remuneration=remuneration) == age_70_to_74


def test_tax_exempt_categories_whatever_the_remuneration():
    assert limit_category(on=DAY, age_70_plus=False, monthly_remuneration=410_000, tax_exempt=True) == "A05"
    assert limit_category(on=DAY, age_70_plus=True, monthly_remuneration=0, tax_exempt=True) == "B05"
    assert limit_category(on=DAY, age_70_plus=True, monthly_remuneration=0, tax_exempt=True, low_income_1=True) == "B06"


def test_bad_arguments():
    with pytest.raises(ValueError, match="low_income_1 requires tax_exempt"):
        limit_category(on=DAY, age_70_plus=True, monthly_remuneration=0, low_income_1=True)
    with pytest.raises(ValueError):
        limit_category(on=DAY, age_70_plus=False, monthly_remuneration=-1)
    with pytest.raises(NotInForce):
        limit_category(on=date(2018, 7, 31), age_70_plus=False, monthly_remuneration=300_000)


def test_names_cover_oqscd012():
    assert len(LIMIT_CATEGORY_NAMES) == 16
    assert [LIMIT_CATEGORY_NAMES[c] for c in ("A01", "A05", "B01", "B04", "B06")] == [
        "ア", "オ", "現役並みⅢ", "一般", "低所得Ⅰ"]


@pytest.mark.parametrize("code, cost, expected", [
    ("A01", 842_000, 252_600), ("A01", 1_000_000, 254_180), ("A01", 500_000, 252_600),
    ("A02", 558_000, 167_400), ("A02", 1_000_000, 171_820),
    ("A03", 267_000, 80_100), ("A03", 1_000_000, 87_430), ("A03", 100_000, 80_100),
    ("A04", 1_000_000, 57_600), ("A05", 1_000_000, 35_400),
    ("B01", 1_000_000, 254_180), ("B02", 1_000_000, 171_820), ("B03", 1_000_000, 87_430),
    ("B04", 1_000_000, 57_600), ("B05", 1_000_000, 24_600), ("B06", 1_000_000, 15_000),
])
def test_household_ceilings(code, cost, expected):
    assert monthly_ceiling(code, cost, on=DAY) == expected


@pytest.mark.parametrize("code, expected", [("A01", 140_100), ("A02", 93_000), ("A03", 44_400), ("A04", 44_400),
                                            ("A05", 24_600), ("B01", 140_100), ("B02", 93_000), ("B03", 44_400),
                                            ("B04", 44_400), ("B05", 24_600), ("B06", 15_000)])
def test_many_times_amounts(code, expected):
    assert monthly_ceiling(code, 3_000_000, on=DAY, many_times=True) == expected


@pytest.mark.parametrize("code, expected", [("B04", 18_000), ("B05", 8_000), ("B06", 8_000),
                                            ("B03", 87_430), ("A03", 87_430)])
def test_outpatient_ceilings(code, expected):
    assert monthly_ceiling(code, 1_000_000, on=DAY, outpatient_only=True) == expected
    if code == "B04":  # 多数回 does not apply to the outpatient ceiling
        assert monthly_ceiling(code, 1_000_000, on=DAY, outpatient_only=True, many_times=True) == 18_000


@pytest.mark.parametrize("cost, expected", [(267_049, 80_100), (267_050, 80_101), (267_149, 80_101),
                                            (267_150, 80_102), (267_250, 80_103)])
def test_one_percent_is_rounded_half_up_to_the_yen(cost, expected):
    assert monthly_ceiling("A03", cost, on=DAY) == expected


@given(st.sampled_from([("A01", 252_600, 842_000), ("A02", 167_400, 558_000), ("A03", 80_100, 267_000)]),
       st.integers(0, 20_000_000))
def test_formula(row, cost):
    code, base, over = row
    one_percent = (Decimal(max(cost - over, 0)) / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    assert monthly_ceiling(code, cost, on=DAY) == base + int(one_percent)
    assert monthly_ceiling(code, cost + 1, on=DAY) >= monthly_ceiling(code, cost, on=DAY)


@pytest.mark.parametrize("code", ["A06", "B07", "B09", "B10", "X"])
def test_categories_without_an_employee_insurance_ceiling(code):
    with pytest.raises(ValueError, match="no ceiling"):
        monthly_ceiling(code, 100_000, on=DAY)


def test_negative_cost():
    with pytest.raises(ValueError):
        monthly_ceiling("A03", -1, on=DAY)


# ---------------------------------------------------------------- registered_limit: 区分 without an application

from datetime import timedelta  # noqa: E402

from onshi.rules.co_pay import NotCovered, elderly_start  # noqa: E402
from onshi.rules.limit_category import INCOME_BASED_CATEGORIES, registered_limit  # noqa: E402

CARE = date(2026, 11, 20)
REM_FROM = date(2026, 9, 1)


def reg(remuneration, *, birth=date(1980, 5, 5), on=CARE, **kw):
    return registered_limit(on=on, birth_date=birth, member_monthly_remuneration=remuneration,
                            remuneration_from=kw.pop("remuneration_from", REM_FROM), **kw)


# the grades at each boundary of the 標準報酬月額 table (健康保険法 §40): 83万 / 79万, 53万 / 50万, 28万 / 26万
@pytest.mark.parametrize("remuneration, under_70, active_70", [
    (1_390_000, "A01", "B01"), (830_000, "A01", "B01"), (790_000, "A02", "B02"), (530_000, "A02", "B02"),
    (500_000, "A03", "B03"), (280_000, "A03", "B03"), (260_000, "A04", "B04"), (58_000, "A04", "B04"),
])
def test_registered_bands_at_each_threshold(remuneration, under_70, active_70):
    assert reg(remuneration).category_code == under_70
    # a member of 71: 高齢受給者, 現役並み from 28万
    assert reg(remuneration, birth=date(1955, 5, 5)).category_code == active_70


@pytest.mark.parametrize("remuneration, expected", [(830_000, "A01"), (530_000, "A02"), (280_000, "A03"),
                                                    (260_000, "A04")])
def test_a_dependent_follows_the_member(remuneration, expected):
    # the child's 区分 is the member's band: the remuneration passed is the member's
    assert reg(remuneration, birth=date(2015, 6, 1), member_birth_date=date(1980, 5, 5)).category_code == expected


def test_a_70_plus_dependent_of_a_member_under_70_is_ippan_whatever_the_remuneration():
    got = reg(830_000, birth=date(1955, 5, 5), member_birth_date=date(1970, 1, 1))
    assert got.category_code == "B04"
    # the member is 高齢受給者 only from 2040-01-01; the dependent's 75th birthday (2030-05-05) comes first
    assert got.valid_to == date(2030, 5, 4)
    young = reg(830_000, birth=date(1955, 5, 5), member_birth_date=date(1956, 11, 2), on=date(2026, 11, 30))
    assert young.category_code == "B04" and young.valid_to == date(2026, 11, 30)  # the member's start: 1 Dec
    assert reg(830_000, birth=date(1955, 5, 5), member_birth_date=date(1956, 11, 2),
               on=date(2026, 12, 1)).category_code == "B01"
    both = reg(830_000, birth=date(1955, 5, 5), member_birth_date=date(1954, 1, 1))
    assert both.category_code == "B01"


def test_income_exemption_makes_a_genekinami_member_ippan_from_its_month():
    assert reg(530_000, birth=date(1955, 5, 5), income_exemption_from=date(2026, 11, 25)).category_code == "B04"
    assert reg(530_000, birth=date(1955, 5, 5), income_exemption_from=date(2026, 12, 1)).category_code == "B02"


def test_never_an_income_based_category():
    for remuneration in (0, 58_000, 260_000, 280_000, 830_000):
        for birth in (date(1980, 5, 5), date(1955, 5, 5)):
            assert reg(remuneration, birth=birth).category_code not in INCOME_BASED_CATEGORIES


@pytest.mark.parametrize("birth", [date(1956, 11, 1), date(1956, 11, 2), date(1956, 11, 15), date(1956, 11, 30),
                                   date(1956, 12, 1), date(1956, 2, 29)])
def test_70_plus_exactly_when_the_co_pay_rule_says(birth):
    start = elderly_start(birth)
    for on in (start - timedelta(days=1), start):
        got = reg(410_000, birth=birth, on=on, remuneration_from=date(2026, 1, 1))
        assert got.category_code == ("B03" if on >= start else "A03"), (birth, on)
    before = reg(410_000, birth=birth, on=start - timedelta(days=1), remuneration_from=date(2026, 1, 1))
    assert before.valid_to == start - timedelta(days=1)
    assert reg(410_000, birth=birth, on=start, remuneration_from=date(2026, 1, 1)).valid_from == start


def test_the_period_is_the_remuneration_period_within_the_qualification():
    got = reg(410_000, remuneration_from=date(2026, 9, 1), remuneration_to=date(2027, 9, 1),
              acquisition_date=date(2024, 4, 1), loss_date=date(2027, 3, 1))
    assert (got.valid_from, got.valid_to) == (date(2026, 9, 1), date(2027, 2, 28))
    late = reg(410_000, remuneration_from=date(2024, 1, 1), acquisition_date=date(2024, 4, 1))
    # under 70 the 区分 holds until the day before 高齢受給者 starts (born 5 May: 1 June 2050)
    assert late.valid_from == date(2024, 4, 1) and late.valid_to == date(2050, 5, 31)
    old = reg(410_000, birth=date(1955, 5, 5), remuneration_from=date(2024, 1, 1))
    assert old.valid_to == date(2030, 5, 4)  # 70+: until the day before the 75th birthday (後期高齢者医療)


def test_75_or_older_is_not_employee_insurance():
    with pytest.raises(NotCovered):
        reg(410_000, birth=date(1951, 11, 20))


@pytest.mark.parametrize("applied_on, valid_from, valid_to", [
    (date(2026, 7, 1), date(2026, 7, 1), date(2026, 8, 1)),  # the last month of a certificate year
    (date(2026, 7, 31), date(2026, 7, 1), date(2026, 8, 1)),
    (date(2026, 8, 1), date(2026, 8, 1), date(2027, 8, 1)),  # a new certificate year: a full year
    (date(2026, 8, 31), date(2026, 8, 1), date(2027, 8, 1)),
    (date(2026, 12, 31), date(2026, 12, 1), date(2027, 8, 1)),  # across the calendar year
    (date(2027, 1, 1), date(2027, 1, 1), date(2027, 8, 1)),
    (date(2028, 2, 29), date(2028, 2, 1), date(2028, 8, 1)),
    (date(2010, 4, 15), date(2010, 4, 1), date(2010, 8, 1)),  # before the 限度額 bands' first row: still a period
])
def test_certificate_period_runs_from_the_application_month_to_31_july(applied_on, valid_from, valid_to):
    assert certificate_period(applied_on) == (valid_from, valid_to)


def test_certificate_year_is_a_dated_table_in_force_on_every_day():
    assert CERTIFICATE_YEAR.at(date.min).first_month == 8
    assert CERTIFICATE_YEAR.effective_from(date(2026, 11, 1)) == date.min


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)))
def test_certificate_period_contains_the_application_day_and_ends_on_1_august(applied_on):
    valid_from, valid_to = certificate_period(applied_on)
    assert valid_from == applied_on.replace(day=1) <= applied_on < valid_to
    assert (valid_to.month, valid_to.day) == (8, 1) and (valid_to - valid_from).days <= 366
