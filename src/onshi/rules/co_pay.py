"""一部負担金の割合 (co-payment ratio), 未就学, 高齢受給者 and the move to 後期高齢者医療 at 75.

Ratios are tenths (3 = 3割).  Sources: 健康保険法 §74, 同施行令 §34; insurance-rules.md.

>>> co_pay_ratio(birth_date=date(1980, 5, 5), on=date(2026, 11, 1), member_monthly_remuneration=300000).ratio_tenths
3
>>> preschool_until(date(2020, 4, 1)), preschool_until(date(2020, 4, 2))
(datetime.date(2026, 3, 31), datetime.date(2027, 3, 31))
>>> elderly_start(date(1956, 11, 1)), elderly_start(date(1956, 11, 2))
(datetime.date(2026, 11, 1), datetime.date(2026, 12, 1))
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from onshi.rules.age import age_on, birthday, day_reaching_age
from onshi.rules.dated import DatedTable

# 現役並み所得: 70–74 pay 3割 when the member's 標準報酬月額 is at least this (健保法施行令 §34).
ACTIVE_INCOME_THRESHOLD = DatedTable("現役並み 標準報酬月額", ((date(2008, 4, 1), 280_000),))
RATIOS = DatedTable("負担割合", ((date(2014, 4, 1), {"preschool": 2, "general": 3, "elderly": 2, "elderly_active": 3}),))


class NotCovered(ValueError):
    """The person is 75 or older on the day: covered by 後期高齢者医療, not by employee insurance."""


@dataclass(frozen=True)
class CoPay:
    ratio_tenths: int
    preschool: bool
    elderly: bool
    elderly_valid_from: date | None
    elderly_valid_to: date | None
    basis: str


def preschool_until(birth: date) -> date:
    """Last day of 未就学: the first 31 March on or after the day the child reaches 6."""
    reached = day_reaching_age(birth, 6)
    year = reached.year if reached <= date(reached.year, 3, 31) else reached.year + 1
    return date(year, 3, 31)


def elderly_start(birth: date, acquisition_date: date | None = None) -> date:
    """高齢受給者 from the 1st of the month after reaching 70 (a 1st-of-month birthday: that day);
    someone who joins at 70 or older from the acquisition date."""
    reached = day_reaching_age(birth, 70)
    first_next = (reached.replace(day=1) + timedelta(days=32)).replace(day=1)
    start = first_next
    if acquisition_date and acquisition_date > start:
        return acquisition_date
    return start


def late_elderly_transition(birth: date) -> date:
    """The 75th birthday: the day employee insurance ends (資格喪失日) and 後期高齢者医療 begins."""
    return birthday(birth, 75)


def co_pay_ratio(*, birth_date: date, on: date, member_monthly_remuneration: int, member_birth_date: date | None = None,
                 income_exemption_from: date | None = None, acquisition_date: date | None = None) -> CoPay:
    """The ratio on *on*.  ``member_birth_date`` is given for a dependent (the member's own for the member)."""
    if on >= late_elderly_transition(birth_date):
        raise NotCovered("75歳以上は後期高齢者医療の対象です (75 or older)")
    ratios = RATIOS.at(on)
    if on <= preschool_until(birth_date):
        return CoPay(ratios["preschool"], True, False, None, None, "未就学")
    start = elderly_start(birth_date, acquisition_date)
    if on < start:
        return CoPay(ratios["general"], False, False, None, None, "一般")
    valid_to = late_elderly_transition(birth_date) - timedelta(days=1)
    member_birth = member_birth_date or birth_date
    member_is_70 = on >= elderly_start(member_birth)
    active = (member_is_70 and member_monthly_remuneration >= ACTIVE_INCOME_THRESHOLD.at(on)
              and not (income_exemption_from and on >= income_exemption_from.replace(day=1)))
    if active:
        return CoPay(ratios["elderly_active"], False, True, start, valid_to, "現役並み所得者")
    basis = "基準収入額適用" if income_exemption_from and on >= income_exemption_from.replace(day=1) else "一般"
    return CoPay(ratios["elderly"], False, True, start, valid_to, basis)


def ratio_percent_3(ratio_tenths: int) -> str:
    """The OQS form of the ratio: 3-digit percent ("030" = 3割).

    >>> ratio_percent_3(3), ratio_percent_3(2)
    ('030', '020')
    """
    return f"{ratio_tenths * 10:03d}"
