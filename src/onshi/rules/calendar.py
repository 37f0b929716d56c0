"""Business days of an insurer (行政機関の休日に関する法律): not Saturday, Sunday, a national holiday
(``jpholiday``), or 29 December – 3 January.

>>> is_business_day(date(2026, 12, 28)), is_business_day(date(2026, 12, 29)), is_business_day(date(2027, 1, 4))
(True, False, True)
>>> next_business_day(date(2026, 12, 28))
datetime.date(2027, 1, 4)
>>> next_business_day(date(2026, 11, 20))  # Friday; Monday 23 Nov is 勤労感謝の日
datetime.date(2026, 11, 24)
"""

from __future__ import annotations

from datetime import date, timedelta

import jpholiday

from onshi.rules.dated import DatedTable

# Registration deadline after the insurer receives a filing (届出受付から5日以内).  The sources say "5日以内";
# onshi reads it as 5 *calendar* days after the day of receipt (the stricter reading).  Change the table to
# count business days instead.
REGISTRATION_DEADLINE = DatedTable("registration deadline", (
    (date(2023, 6, 1), {"days": 5, "business_days": False}),
))


def is_year_end_holiday(day: date) -> bool:
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and not jpholiday.is_holiday(day) and not is_year_end_holiday(day)


def next_business_day(day: date) -> date:
    """The first business day strictly after *day*."""
    day += timedelta(days=1)
    while not is_business_day(day):
        day += timedelta(days=1)
    return day


def add_business_days(day: date, n: int) -> date:
    """*n* business days after *day* (n ≥ 0; 0 returns *day*)."""
    for _ in range(n):
        day = next_business_day(day)
    return day


def business_days_between(start: date, end: date) -> int:
    """Business days in ``(start, end]``."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += is_business_day(day)
    return count


def deadline_after_receipt(received: date) -> date:
    """Last day on which a filing received on *received* may be registered.

    >>> deadline_after_receipt(date(2026, 11, 20))
    datetime.date(2026, 11, 25)
    """
    rule = REGISTRATION_DEADLINE.at(received)
    if rule["business_days"]:
        return add_business_days(received, rule["days"])
    return received + timedelta(days=rule["days"])
