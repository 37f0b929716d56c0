"""一部負担金の割合 (co-payment ratio): 未就学, 一般, 高齢受給者 (70–74), and the move to 後期高齢者医療 at 75.

Ratios are tenths (3 = 3割); :func:`ratio_percent_3` is the one conversion to the OQS 3-digit percent.
Sources: 健康保険法 §74 and §110, 同施行令 §34, 年齢計算ニ関スル法律; insurance-rules.md.

* 未就学 2割: up to the first 31 March on or after the day the child reaches 6.
* 3割 from then until 高齢受給者.
* 高齢受給者 from the 1st of the month after the month in which the person reaches 70 (the birthday itself when
  it is the 1st); from the acquisition date for someone who joins at 70 or older.  2割, or 3割 when the member
  (the insured person — for a dependent, the dependent's member) is also 高齢受給者 with 標準報酬月額 ≥ 28万円
  (現役並み所得者); back to 2割 from the 1st of the month of a 基準収入額適用申請.  People who reached 70 before
  1 April 2014 kept 1割 (特例措置) until 75.
* From the 75th birthday the person is in 後期高齢者医療, and a member's dependents leave with the member:
  :func:`co_pay_ratio` raises :class:`NotCovered`.

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
from typing import NamedTuple

from onshi.rules.age import birthday, day_reaching_age
from onshi.rules.calendar import add_months
from onshi.rules.dated import DatedTable


class Ratios(NamedTuple):
    preschool: int  # 未就学
    general: int  # 6–69
    active_income: int  # 70–74, 現役並み所得者


RATIOS: DatedTable[Ratios] = DatedTable("一部負担金の割合", (
    (date(2008, 4, 1), Ratios(preschool=2, general=3, active_income=3)),  # 未就学 2割 from April 2008
))
# 70–74 一般, by the day the person reached 70: 1割 under the 特例措置 for those who reached 70 by 31 March 2014,
# 2割 for those reaching 70 from 1 April 2014.
ELDERLY_RATIO_BY_DAY_REACHING_70: DatedTable[int] = DatedTable("高齢受給者の負担割合 (70歳到達日による)", (
    (date(2002, 10, 1), 1),
    (date(2014, 4, 1), 2),
))
# 現役並み所得: 70–74 pay 3割 when the member's 標準報酬月額 is at least this (健保法施行令 §34).
ACTIVE_INCOME_THRESHOLD: DatedTable[int] = DatedTable("現役並み所得の標準報酬月額", (
    (date(2008, 4, 1), 280_000),
))
#: 後期高齢者医療: everyone 75 or older is insured there from the 75th birthday (高齢者の医療の確保に関する法律
#: §50 (i), §52), and so leaves employee insurance, which excludes those insured there (健康保険法 §3 ①).
#: A plain constant: the age is asked before any day is known (it decides the day).  The SQL publisher
#: (:mod:`onshi.exchange.publish_pg`) builds its copy of the rule from it.
LATE_ELDERLY_AGE = 75


class NotCovered(ValueError):
    """On the day asked the person is not in employee insurance: 75 or older (後期高齢者医療), or the dependent
    of a member who is."""


@dataclass(frozen=True)
class CoPay:
    """The ratio on a day and why.  ``elderly_valid_from``/``_to`` are the 高齢受給者 period (None under 70)."""

    ratio_tenths: int
    preschool: bool
    elderly: bool
    elderly_valid_from: date | None
    elderly_valid_to: date | None
    basis: str  # 未就学 / 一般 / 高齢受給者 一般 / 現役並み所得者 / 基準収入額適用 / 特例措置


def preschool_until(birth: date) -> date:
    """The last day of 未就学: the first 31 March on or after the day the child reaches 6."""
    reached = day_reaching_age(birth, 6)
    return date(reached.year if reached <= date(reached.year, 3, 31) else reached.year + 1, 3, 31)


def elderly_start(birth: date, acquisition_date: date | None = None) -> date:
    """The first day as 高齢受給者: the 1st of the month after the month of reaching 70 (the day before the 70th
    birthday) — the birthday itself when it is the 1st; the acquisition date when that is later."""
    start = add_months(day_reaching_age(birth, 70), 1)
    return max(start, acquisition_date) if acquisition_date else start


def late_elderly_transition(birth: date) -> date:
    """The 75th birthday: the person joins 後期高齢者医療 and loses employee insurance (資格喪失日); a member's
    dependents lose dependent status on the member's 75th birthday."""
    return birthday(birth, LATE_ELDERLY_AGE)


def co_pay_ratio(*, birth_date: date, on: date, member_birth_date: date | None = None,
                 member_monthly_remuneration: int, income_exemption_from: date | None = None,
                 acquisition_date: date | None = None) -> CoPay:
    """The ratio of the person born on *birth_date* on the day *on*.

    ``member_birth_date``: for a dependent, the member's birth date (None for the member).
    ``member_monthly_remuneration``: the member's 標準報酬月額 in force on *on*.
    ``income_exemption_from``: the date of a 基準収入額適用申請 (effective from the 1st of its month).
    ``acquisition_date``: 資格取得日, for someone who joins at 70 or older.
    """
    if on < birth_date:
        raise ValueError(f"co_pay_ratio: {on} is before the birth date {birth_date}")
    transitions = [late_elderly_transition(birth_date)]
    if member_birth_date is not None:
        transitions.append(late_elderly_transition(member_birth_date))
    if on >= min(transitions):
        who = "被保険者本人" if on >= transitions[0] else "被扶養者の被保険者"
        raise NotCovered(f"{who}が75歳に達したため後期高齢者医療の対象です (75 or older on {on}: "
                         "後期高齢者医療, not employee insurance)")

    ratios = RATIOS.at(on)
    if on <= preschool_until(birth_date):
        return CoPay(ratios.preschool, True, False, None, None, "未就学")
    start = elderly_start(birth_date, acquisition_date)
    if on < start:
        return CoPay(ratios.general, False, False, None, None, "一般")

    valid_to = min(transitions) - timedelta(days=1)
    exempted = income_exemption_from is not None and on >= income_exemption_from.replace(day=1)
    member_is_elderly = on >= elderly_start(member_birth_date or birth_date)
    if member_is_elderly and not exempted and member_monthly_remuneration >= ACTIVE_INCOME_THRESHOLD.at(on):
        return CoPay(ratios.active_income, False, True, start, valid_to, "現役並み所得者")
    ratio = ELDERLY_RATIO_BY_DAY_REACHING_70.at(day_reaching_age(birth_date, 70))
    basis = "基準収入額適用" if exempted else ("特例措置" if ratio == 1 else "高齢受給者 一般")
    return CoPay(ratio, False, True, start, valid_to, basis)


def ratio_percent_3(ratio_tenths: int) -> str:
    """The OQS form of a ratio (InsuredPartialContributionRatio): 3-digit percent, "030" = 3割.

    >>> ratio_percent_3(3), ratio_percent_3(2)
    ('030', '020')
    """
    if not 0 <= ratio_tenths <= 10:
        raise ValueError(f"ratio_percent_3: a ratio is 0–10 tenths (got {ratio_tenths})")
    return f"{ratio_tenths * 10:03d}"
