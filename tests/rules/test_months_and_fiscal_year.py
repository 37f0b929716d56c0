"""年度 and month arithmetic (rules.calendar): the 31 March / 1 April boundary, month ends, 29 February."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshi.rules.calendar import (
    add_months,
    add_months_end,
    fiscal_year_bounds,
    fiscal_year_months,
    fiscal_year_of,
    month_key,
    month_range,
    month_start,
    parse_month_key,
    previous_month,
)


@pytest.mark.parametrize(("day", "fy"), [
    (date(2025, 3, 31), 2024), (date(2025, 4, 1), 2025), (date(2024, 12, 31), 2024), (date(2025, 1, 1), 2024),
    (date(2024, 2, 29), 2023), (date(2024, 4, 1), 2024), (date(2024, 3, 31), 2023),
])
def test_fiscal_year_turns_on_1_april(day, fy):
    assert fiscal_year_of(day) == fy
    first, last = fiscal_year_bounds(fy)
    assert first <= day <= last


def test_fiscal_year_bounds_and_months():
    assert fiscal_year_bounds(2023) == (date(2023, 4, 1), date(2024, 3, 31))
    assert fiscal_year_months(2023) == month_range("2023-04", "2024-03")
    assert fiscal_year_of(fiscal_year_bounds(2023)[1] + timedelta(days=1)) == 2024


@pytest.mark.parametrize(("day", "n", "start", "end"), [
    (date(2024, 1, 31), 1, date(2024, 2, 1), date(2024, 2, 29)),  # leap February
    (date(2023, 1, 31), 1, date(2023, 2, 1), date(2023, 2, 28)),
    (date(2024, 2, 29), 12, date(2025, 2, 1), date(2025, 2, 28)),
    (date(2024, 11, 30), 3, date(2025, 2, 1), date(2025, 2, 28)),  # across the year end
    (date(2024, 12, 1), 1, date(2025, 1, 1), date(2025, 1, 31)),
    (date(2025, 1, 15), -1, date(2024, 12, 1), date(2024, 12, 31)),
    (date(2025, 3, 31), 0, date(2025, 3, 1), date(2025, 3, 31)),
    (date(2025, 3, 31), -13, date(2024, 2, 1), date(2024, 2, 29)),
])
def test_add_months_and_month_end(day, n, start, end):
    assert add_months(day, n) == start
    assert add_months_end(day, n) == end


@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2199, 12, 31)), st.integers(-240, 240))
def test_month_arithmetic_agrees_with_counting_months(day, n):
    start, end = add_months(day, n), add_months_end(day, n)
    assert start.day == 1 and start == month_start(end)
    assert (end + timedelta(days=1)).day == 1
    assert (start.year - day.year) * 12 + start.month - day.month == n
    assert add_months(start, -n) == month_start(day)


@given(st.dates(min_value=date(1900, 2, 1), max_value=date(2199, 12, 31)))
def test_month_keys(day):
    key = month_key(day)
    assert parse_month_key(key) == month_start(day)
    assert previous_month(key) == month_key(add_months(day, -1))
    assert month_range(previous_month(key), key) == [previous_month(key), key]


def test_month_range_of_nothing():
    assert month_range("2025-02", "2025-01") == []
