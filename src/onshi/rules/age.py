"""Age in law (年齢計算ニ関スル法律): a person reaches age N at the end of the day before the Nth birthday.

>>> age_on(date(1970, 1, 1), date(2039, 12, 30)), age_on(date(1970, 1, 1), date(2039, 12, 31))
(69, 70)
>>> birthday(date(2000, 2, 29), 75)
datetime.date(2075, 3, 1)
"""

from __future__ import annotations

from datetime import date, timedelta


def birthday(birth: date, n: int) -> date:
    """The Nth birthday; for 29 February in a common year, 1 March (the day after 28 February)."""
    try:
        return birth.replace(year=birth.year + n)
    except ValueError:
        return date(birth.year + n, 3, 1)


def day_reaching_age(birth: date, n: int) -> date:
    """The day on which one legally reaches age N: the day before the Nth birthday."""
    return birthday(birth, n) - timedelta(days=1)


def age_on(birth: date, day: date) -> int:
    """Legal age on *day*."""
    years = day.year - birth.year + 1
    while years > 0 and day < day_reaching_age(birth, years):
        years -= 1
    return years
