"""Business days of an insurer (行政機関の休日に関する法律 §1): not Saturday, Sunday, a national holiday
(国民の祝日, 振替休日 and 国民の休日, via ``jpholiday``), nor 29 December – 3 January.

And the registration deadline (データ登録の期限): "within 5 days" of the insurer receiving the filing
(seed 003: 「事業主による届出から5日以内の迅速かつ正確なデータ登録」).  Read as 5 *calendar* days after the day
of receipt, the day of receipt not counted (民法 §140) and no roll-forward over holidays: the stricter reading.
Both the number and the way of counting sit in ``REGISTRATION_DEADLINE``.

>>> is_business_day(date(2026, 12, 28)), is_business_day(date(2026, 12, 29)), is_business_day(date(2027, 1, 4))
(True, False, True)
>>> next_business_day(date(2026, 11, 20))  # Friday; Monday 23 Nov is 勤労感謝の日
datetime.date(2026, 11, 24)
>>> deadline_after_receipt(date(2026, 11, 20)), deadline_after_receipt(date(2026, 11, 20), days=3)
(datetime.date(2026, 11, 25), datetime.date(2026, 11, 23))
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

import jpholiday

from onshi.rules.dated import DatedTable


class DeadlineRule(NamedTuple):
    days: int
    business_days: bool  # False: calendar days after the day of receipt; True: business days after it


# From 2021-10-20 (本格運用開始), the first day a registration delay could matter — a choice: the sources give no
# effective date for the 5-day expectation.
REGISTRATION_DEADLINE: DatedTable[DeadlineRule] = DatedTable("データ登録の期限 (registration deadline)", (
    (date(2021, 10, 20), DeadlineRule(days=5, business_days=False)),
))


def is_year_end_holiday(day: date) -> bool:
    """29 December – 3 January (年末年始)."""
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


def is_business_day(day: date) -> bool:
    """Not a weekend, national holiday or 年末年始 day."""
    return day.weekday() < 5 and not is_year_end_holiday(day) and not jpholiday.is_holiday(day)


def next_business_day(day: date) -> date:
    """The first business day strictly after *day*."""
    day += timedelta(days=1)
    while not is_business_day(day):
        day += timedelta(days=1)
    return day


def previous_business_day(day: date) -> date:
    """The last business day strictly before *day*."""
    day -= timedelta(days=1)
    while not is_business_day(day):
        day -= timedelta(days=1)
    return day


def add_business_days(day: date, n: int) -> date:
    """The *n*-th business day after *day* (before it when n < 0); n = 0 returns *day* itself.

    >>> add_business_days(date(2026, 12, 25), 2)  # Fri → Mon 28 Dec → Mon 4 Jan
    datetime.date(2027, 1, 4)
    """
    step = next_business_day if n >= 0 else previous_business_day
    for _ in range(abs(n)):
        day = step(day)
    return day


def business_days_between(start: date, end: date) -> int:
    """Business days in ``(start, end]`` — the count *end* is "after" *start*; negative when end < start.

    >>> business_days_between(date(2026, 12, 25), date(2027, 1, 5))  # 28 Dec, 4 Jan, 5 Jan
    3
    """
    if end < start:
        return -business_days_between(end, start)
    return sum(is_business_day(start + timedelta(days=i)) for i in range(1, (end - start).days + 1))


def deadline_after_receipt(received: date, days: int | None = None) -> date:
    """The last day on which a filing received on *received* is registered in time.

    *days* overrides the number in ``REGISTRATION_DEADLINE`` (the way of counting stays the table's).
    """
    rule = REGISTRATION_DEADLINE.at(received)
    n = rule.days if days is None else days
    if n < 0:
        raise ValueError(f"deadline_after_receipt: days must be 0 or more (got {n})")
    return add_business_days(received, n) if rule.business_days else received + timedelta(days=n)
