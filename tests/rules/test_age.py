"""Legal age (年齢計算ニ関スル法律): reached on the day before the birthday; 29 February; month and year ends."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshi.rules.age import age_on, birthday, day_reaching_age

D = date


def _ordinary_age(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@pytest.mark.parametrize("birth, day, age", [
    (D(1970, 1, 1), D(2039, 12, 30), 69), (D(1970, 1, 1), D(2039, 12, 31), 70),  # 1 Jan: reached on 31 Dec
    (D(1970, 6, 15), D(2040, 6, 13), 69), (D(1970, 6, 15), D(2040, 6, 14), 70), (D(1970, 6, 15), D(2040, 6, 15), 70),
    (D(1970, 3, 1), D(2040, 2, 28), 69), (D(1970, 3, 1), D(2040, 2, 29), 70),  # 1 Mar, leap year: reached 29 Feb
    (D(1971, 3, 1), D(2041, 2, 28), 70),  # common year: reached 28 Feb
    (D(2000, 2, 29), D(2001, 2, 27), 0), (D(2000, 2, 29), D(2001, 2, 28), 1),  # 29 Feb, common year
    (D(2000, 2, 29), D(2004, 2, 27), 3), (D(2000, 2, 29), D(2004, 2, 28), 4),  # 29 Feb, leap year
    (D(2024, 5, 5), D(2024, 5, 5), 0), (D(2024, 5, 5), D(2025, 5, 3), 0), (D(2024, 5, 5), D(2025, 5, 4), 1),
])
def test_legal_age(birth, day, age):
    assert age_on(birth, day) == age


def test_twenty_ninth_of_february_birthday_is_first_of_march_in_common_years():
    assert birthday(D(2000, 2, 29), 1) == D(2001, 3, 1) and birthday(D(2000, 2, 29), 4) == D(2004, 2, 29)
    assert day_reaching_age(D(2000, 2, 29), 1) == D(2001, 2, 28) == day_reaching_age(D(2000, 3, 1), 1)
    assert day_reaching_age(D(2000, 2, 29), 4) == D(2004, 2, 28)


@given(st.dates(D(1900, 1, 1), D(2030, 12, 31)), st.integers(0, 40000))
def test_legal_age_is_the_ordinary_age_of_the_next_day(birth, days):
    day = birth + timedelta(days=days)
    assert age_on(birth, day) == _ordinary_age(birth, day + timedelta(days=1))


@given(st.dates(D(1900, 1, 1), D(2030, 12, 31)), st.integers(1, 110))
def test_age_changes_exactly_on_the_day_reaching_it(birth, n):
    reached = day_reaching_age(birth, n)
    assert age_on(birth, reached) == n and age_on(birth, reached - timedelta(days=1)) == n - 1


def test_bad_arguments():
    with pytest.raises(ValueError, match="before the birth date"):
        age_on(D(2000, 1, 2), D(2000, 1, 1))
    with pytest.raises(ValueError):
        day_reaching_age(D(2000, 1, 1), 0)
    with pytest.raises(ValueError):
        birthday(D(2000, 1, 1), -1)
