"""Business days (行政機関の休日) and the registration deadline."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshi.rules import calendar
from onshi.rules.calendar import (
    DeadlineRule,
    add_business_days,
    business_days_between,
    deadline_after_receipt,
    is_business_day,
    next_business_day,
    previous_business_day,
)
from onshi.rules.dated import DatedTable, NotInForce

D = date


@pytest.mark.parametrize("day, business", [
    (D(2026, 11, 20), True),  # Friday
    (D(2026, 11, 21), False), (D(2026, 11, 22), False),  # weekend
    (D(2026, 11, 23), False),  # Monday, 勤労感謝の日
    (D(2026, 11, 24), True),
    (D(2026, 5, 6), False),  # 振替休日 (憲法記念日 on a Sunday)
    (D(2026, 9, 22), False),  # 国民の休日 between 敬老の日 and 秋分の日
    (D(2026, 12, 28), True),  # Monday: the last business day of the year
    (D(2026, 12, 29), False), (D(2026, 12, 30), False), (D(2026, 12, 31), False),  # weekdays, 年末
    (D(2027, 1, 1), False), (D(2027, 1, 2), False), (D(2027, 1, 3), False),  # 年始
    (D(2027, 1, 4), True),  # Monday 4 January
    (D(2024, 12, 30), False), (D(2025, 1, 3), False), (D(2025, 1, 6), True),  # 年末年始 on Monday and Friday
    (D(2026, 1, 4), False), (D(2026, 1, 5), True),  # 4 January on a Sunday
])
def test_business_days(day, business):
    assert is_business_day(day) is business


@pytest.mark.parametrize("day, after", [
    (D(2026, 11, 20), D(2026, 11, 24)),  # Friday before a Monday holiday → Tuesday
    (D(2026, 11, 24), D(2026, 11, 25)),  # strictly after a business day
    (D(2026, 12, 28), D(2027, 1, 4)),
    (D(2025, 12, 26), D(2026, 1, 5)),  # Friday → over 年末年始 and Sunday 4 January
    (D(2026, 5, 1), D(2026, 5, 7)),  # Golden Week
])
def test_next_business_day(day, after):
    assert next_business_day(day) == after
    assert previous_business_day(after) == (day if is_business_day(day) else previous_business_day(day))


def test_add_business_days():
    assert add_business_days(D(2026, 11, 20), 0) == D(2026, 11, 20)
    assert add_business_days(D(2026, 11, 21), 0) == D(2026, 11, 21)  # 0 is the day itself, even a Saturday
    assert add_business_days(D(2026, 11, 20), 2) == D(2026, 11, 25)
    assert add_business_days(D(2026, 12, 25), 2) == D(2027, 1, 4)
    assert add_business_days(D(2027, 1, 4), -1) == D(2026, 12, 28)


def test_business_days_between_counts_the_half_open_interval():
    assert business_days_between(D(2026, 12, 25), D(2027, 1, 5)) == 3  # 28 Dec, 4 Jan, 5 Jan
    assert business_days_between(D(2026, 11, 20), D(2026, 11, 20)) == 0
    assert business_days_between(D(2026, 11, 20), D(2026, 11, 23)) == 0
    assert business_days_between(D(2027, 1, 5), D(2026, 12, 25)) == -3


@given(st.dates(D(2022, 1, 1), D(2027, 12, 31)), st.integers(1, 40))
def test_adding_n_business_days_is_n_business_days_later(day, n):
    later = add_business_days(day, n)
    assert is_business_day(later) and business_days_between(day, later) == n
    assert add_business_days(later, -n) == (day if is_business_day(day) else previous_business_day(day))


@pytest.mark.parametrize("received, deadline", [
    (D(2026, 11, 20), D(2026, 11, 25)),  # five calendar days, the day of receipt not counted
    (D(2026, 12, 28), D(2027, 1, 2)),  # no roll-forward out of 年末年始
    (D(2026, 2, 24), D(2026, 3, 1)),  # over a month end
])
def test_registration_deadline_is_five_calendar_days(received, deadline):
    assert deadline_after_receipt(received) == deadline


def test_registration_deadline_days_parameter():
    assert deadline_after_receipt(D(2026, 11, 20), days=0) == D(2026, 11, 20)
    assert deadline_after_receipt(D(2026, 11, 20), days=10) == D(2026, 11, 30)
    with pytest.raises(ValueError):
        deadline_after_receipt(D(2026, 11, 20), days=-1)
    with pytest.raises(NotInForce):
        deadline_after_receipt(D(2021, 10, 19))


def test_registration_deadline_in_business_days_when_the_table_says_so(monkeypatch):
    monkeypatch.setattr(calendar, "REGISTRATION_DEADLINE", DatedTable("test", (
        (D(2021, 10, 20), DeadlineRule(days=5, business_days=False)),
        (D(2026, 12, 1), DeadlineRule(days=5, business_days=True)),
    )))
    assert deadline_after_receipt(D(2026, 11, 20)) == D(2026, 11, 25)
    assert deadline_after_receipt(D(2026, 12, 25)) == D(2027, 1, 7)  # 28 Dec, 4, 5, 6, 7 Jan
    assert deadline_after_receipt(D(2026, 12, 25)) - D(2026, 12, 25) > timedelta(days=5)
