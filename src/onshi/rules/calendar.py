"""Days, months and fiscal years: business days of an insurer, the registration deadline, 年度 and month arithmetic.

Business days of an insurer (行政機関の休日に関する法律 §1): not Saturday, Sunday, a national holiday
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

Fiscal years (年度, 会計年度: 財政法 §11 — 1 April to 31 March) are named by the year they start in, and months as
``date`` (any day of the month; functions return the 1st) or as ``"YYYY-MM"`` keys (what the analytics store):

>>> fiscal_year_of(date(2025, 3, 31)), fiscal_year_of(date(2025, 4, 1))
(2024, 2025)
>>> add_months(date(2024, 11, 15), 3), add_months_end(date(2024, 11, 30), 3)
(datetime.date(2025, 2, 1), datetime.date(2025, 2, 28))
>>> month_range('2024-11', '2025-02'), previous_month('2025-01')
(['2024-11', '2024-12', '2025-01', '2025-02'], '2024-12')
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


# ---------------------------------------------------------------------------- fiscal years and months

FISCAL_YEAR_START_MONTH = 4  # 財政法 §11: 会計年度は毎年4月1日に始まり翌年3月31日に終る


def fiscal_year_of(day: date) -> int:
    """年度 of *day*, named by the year it starts in: 1 April 2024 – 31 March 2025 is 2024."""
    return day.year if day.month >= FISCAL_YEAR_START_MONTH else day.year - 1


def fiscal_year_bounds(fiscal_year: int) -> tuple[date, date]:
    """The first and last day of a 年度.

    >>> fiscal_year_bounds(2024)
    (datetime.date(2024, 4, 1), datetime.date(2025, 3, 31))
    """
    return (date(fiscal_year, FISCAL_YEAR_START_MONTH, 1),
            date(fiscal_year + 1, FISCAL_YEAR_START_MONTH, 1) - timedelta(days=1))


def fiscal_year_months(fiscal_year: int) -> list[str]:
    """The twelve months of a 年度 as ``"YYYY-MM"``, April first.

    >>> fiscal_year_months(2024)[0], fiscal_year_months(2024)[-1], len(fiscal_year_months(2024))
    ('2024-04', '2025-03', 12)
    """
    first, last = fiscal_year_bounds(fiscal_year)
    return month_range(month_key(first), month_key(last))


def month_start(day: date) -> date:
    """The 1st of the month of *day*."""
    return day.replace(day=1)


def add_months(day: date, n: int) -> date:
    """The 1st of the month *n* months after the month of *day* (before it when n < 0).

    >>> add_months(date(2024, 12, 31), 1), add_months(date(2025, 1, 1), -1), add_months(date(2024, 2, 29), 12)
    (datetime.date(2025, 1, 1), datetime.date(2024, 12, 1), datetime.date(2025, 2, 1))
    """
    i = day.year * 12 + day.month - 1 + n
    return date(i // 12, i % 12 + 1, 1)


def add_months_end(day: date, n: int) -> date:
    """The last day of the month *n* months after the month of *day*.

    >>> add_months_end(date(2023, 11, 30), 3), add_months_end(date(2024, 8, 15), 3), add_months_end(date(2024, 2, 1), 0)
    (datetime.date(2024, 2, 29), datetime.date(2024, 11, 30), datetime.date(2024, 2, 29))
    """
    return add_months(day, n + 1) - timedelta(days=1)


def month_key(day: date) -> str:
    """``"YYYY-MM"`` of the month of *day*.

    >>> month_key(date(2025, 3, 31))
    '2025-03'
    """
    return f"{day.year:04d}-{day.month:02d}"


def parse_month_key(month: str) -> date:
    """The 1st of the month ``"YYYY-MM"``.

    >>> parse_month_key('2025-03')
    datetime.date(2025, 3, 1)
    """
    return date(int(month[:4]), int(month[5:7]), 1)


def previous_month(month: str) -> str:
    """The month before ``YYYY-MM``.

    >>> previous_month('2025-01'), previous_month('2024-12')
    ('2024-12', '2024-11')
    """
    y, m = int(month[:4]), int(month[5:])
    return f"{y - (m == 1):04d}-{(m - 2) % 12 + 1:02d}"


def next_month(month: str) -> str:
    """The month after ``YYYY-MM``.

    >>> next_month('2024-12'), next_month('2025-01')
    ('2025-01', '2025-02')
    """
    return month_key(add_months(parse_month_key(month), 1))


def month_bounds(month: str) -> tuple[date, date]:
    """``[1st of the month, 1st of the next)`` of ``YYYY-MM`` — a half-open range of days.

    >>> month_bounds('2024-12')
    (datetime.date(2024, 12, 1), datetime.date(2025, 1, 1))
    """
    start = parse_month_key(month)
    return start, add_months(start, 1)


def month_range(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last`` (``"YYYY-MM"``), both included; empty when last < first.

    >>> month_range('2024-11', '2025-02')
    ['2024-11', '2024-12', '2025-01', '2025-02']
    """
    out, m = [], first
    while m <= last:
        out.append(m)
        y, mm = int(m[:4]), int(m[5:])
        m = f"{y + (mm == 12):04d}-{mm % 12 + 1:02d}"
    return out
