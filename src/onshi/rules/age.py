"""Age in law (年齢計算ニ関スル法律, 民法 §143): one reaches age N on the day before the Nth birthday.

So a child born on 1 April reaches 6 on 31 March and starts school a year earlier than one born on 2 April, and
a person born on the 1st of a month reaches 70 on the last day of the previous month.

Someone born on 29 February has the birthday on 1 March in a common year (the anniversary of 29 February falls
after 28 February), and so reaches the age on 28 February.

>>> age_on(date(1970, 1, 1), date(2039, 12, 30)), age_on(date(1970, 1, 1), date(2039, 12, 31))
(69, 70)
>>> birthday(date(2000, 2, 29), 75), day_reaching_age(date(2000, 2, 29), 75)
(datetime.date(2075, 3, 1), datetime.date(2075, 2, 28))
"""

from __future__ import annotations

from datetime import date, timedelta


def birthday(birth: date, n: int) -> date:
    """The Nth birthday (n ≥ 0); for 29 February in a common year, 1 March."""
    if n < 0:
        raise ValueError(f"birthday: n must be 0 or more (got {n})")
    try:
        return birth.replace(year=birth.year + n)
    except ValueError:
        return date(birth.year + n, 3, 1)


def day_reaching_age(birth: date, n: int) -> date:
    """The day on which one legally reaches age N: the day before the Nth birthday (n ≥ 1)."""
    if n < 1:
        raise ValueError(f"day_reaching_age: n must be 1 or more (got {n})")
    return birthday(birth, n) - timedelta(days=1)


def age_on(birth: date, day: date) -> int:
    """Legal age on *day*: 0 from birth, N from the day before the Nth birthday."""
    if day < birth:
        raise ValueError(f"age_on: {day} is before the birth date {birth}")
    years = day.year - birth.year + 1  # at most this: reached on the day before a birthday in day.year + 1
    while years > 0 and day < day_reaching_age(birth, years):
        years -= 1
    return years
