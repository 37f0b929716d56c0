"""限度額適用区分 (limit categories, OQSCD012) and the monthly ceilings of 高額療養費 (自己負担限度額).

健康保険法施行令 §41–42; insurance-rules.md.  By the member's 標準報酬月額: ア/現役並みⅢ ≥ 83万, イ/現役並みⅡ
53–79万, ウ/現役並みⅠ 28–50万, エ/一般 ≤ 26万; オ (under 70) and 低所得Ⅱ/Ⅰ (70–74) when 住民税非課税.
The 1 % term of the ceiling is rounded to the nearest yen (1円未満四捨五入).
Sources of the thresholds and amounts: 健康保険法施行令 §41 (高額療養費算定基準額) and §42 as amended with effect
from 1 August 2018 (the 70–74 現役並み split into Ⅲ/Ⅱ/Ⅰ); the same bands as published by 協会けんぽ
(「高額な医療費を支払ったとき」, 70歳未満 and 70歳以上 tables) and shared/reference/insurance-rules.md
("Limit categories"): the boundaries are the grades of the 標準報酬月額 table — 83万 is the first grade of ア,
53万 of イ, 28万 of ウ; 79万, 50万 and 26万 are the grades just below them.

What an insurer registers for online verification (:func:`registered_limit`): with the patient's consent the
clinic receives the 区分 derived from the member's 標準報酬月額 on the date of care, without any application —
under 70 ア–エ; at 70–74 現役並みⅢ/Ⅱ/Ⅰ when the person is 現役並み所得者 (the co-pay rule: the member is also
高齢受給者 with 標準報酬月額 ≥ 28万 and no 基準収入額適用), else 一般.  A dependent follows the member.  The
income-based 区分 (オ, 低所得Ⅱ/Ⅰ: 住民税非課税) only come from an application.

>>> registered_limit(on=date(2026, 11, 20), birth_date=date(1980, 5, 5), member_monthly_remuneration=830000,
...                  remuneration_from=date(2026, 9, 1)).category_code
'A01'

>>> limit_category(on=date(2026, 11, 1), age_70_plus=False, monthly_remuneration=410000)
'A03'
>>> LIMIT_CATEGORY_NAMES['A03'], monthly_ceiling('A03', 1_000_000, on=date(2026, 11, 1))
('ウ', 87430)
>>> monthly_ceiling('B04', 1_000_000, on=date(2026, 11, 1), outpatient_only=True)
18000

The period of a 限度額適用認定 (認定証の有効期間) applied for through an intake file: from the 1st of the
application month to the end of the certificate year, 31 July (:data:`CERTIFICATE_YEAR`, :func:`certificate_period`).
Source: no rule in shared/reference/insurance-rules.md sets the end; **Choice** recorded in docs/rules.md
("限度額適用認定 validity"): the usual end of the certificate year — the 住民税 year on which 住民税非課税 is judged
turns on 1 August.  A change (e.g. a one-year validity) is a new row.

>>> certificate_period(date(2026, 7, 31)), certificate_period(date(2026, 8, 1))
((datetime.date(2026, 7, 1), datetime.date(2026, 8, 1)), (datetime.date(2026, 8, 1), datetime.date(2027, 8, 1)))
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import NamedTuple

from onshi.rules.co_pay import co_pay_ratio, elderly_start, late_elderly_transition
from onshi.rules.dated import DatedTable

LIMIT_CATEGORY_NAMES = {
    "A01": "ア", "A02": "イ", "A03": "ウ", "A04": "エ", "A05": "オ", "A06": "オ（境）",
    "B01": "現役並みⅢ", "B02": "現役並みⅡ", "B03": "現役並みⅠ", "B04": "一般", "B05": "低所得Ⅱ", "B06": "低所得Ⅰ",
    "B07": "低所得Ⅰ（老福）", "B08": "低所得Ⅰ（境）", "B09": "一般Ⅱ", "B10": "一般Ⅰ",
}


class Band(NamedTuple):
    lowest_remuneration: int  # 標準報酬月額 from which the band applies
    under_70: str
    age_70_to_74: str


class Ceiling(NamedTuple):
    base: int  # yen
    over: int | None  # 総医療費 above which 1 % is added (None: a flat amount)
    many_times: int | None  # 多数回該当 (from the 4th time in 12 months); None: no such amount
    outpatient: int | None = None  # 外来 (個人単位) for 70–74 一般 and 低所得


# Bands from highest to lowest; the 70–74 split into 現役並みⅢ/Ⅱ/Ⅰ dates from August 2018.
BANDS: DatedTable[tuple[Band, ...]] = DatedTable("限度額適用区分の標準報酬月額", (
    (date(2018, 8, 1), (Band(830_000, "A01", "B01"), Band(530_000, "A02", "B02"),
                        Band(280_000, "A03", "B03"), Band(0, "A04", "B04"))),
))
CEILINGS: DatedTable[dict[str, Ceiling]] = DatedTable("高額療養費の自己負担限度額", (
    (date(2018, 8, 1), {
        "A01": Ceiling(252_600, 842_000, 140_100), "A02": Ceiling(167_400, 558_000, 93_000),
        "A03": Ceiling(80_100, 267_000, 44_400), "A04": Ceiling(57_600, None, 44_400),
        "A05": Ceiling(35_400, None, 24_600),
        "B01": Ceiling(252_600, 842_000, 140_100), "B02": Ceiling(167_400, 558_000, 93_000),
        "B03": Ceiling(80_100, 267_000, 44_400), "B04": Ceiling(57_600, None, 44_400, outpatient=18_000),
        "B05": Ceiling(24_600, None, None, outpatient=8_000), "B06": Ceiling(15_000, None, None, outpatient=8_000),
    }),
))


def limit_category(*, on: date, age_70_plus: bool, monthly_remuneration: int, tax_exempt: bool = False,
                   low_income_1: bool = False) -> str:
    """The OQSCD012 code for the member's 標準報酬月額 on *on*.

    ``tax_exempt``: 住民税非課税 (オ, or 低所得Ⅱ at 70–74); ``low_income_1``: 70–74 低所得Ⅰ (requires tax_exempt).
    """
    if monthly_remuneration < 0:
        raise ValueError(f"limit_category: 標準報酬月額 cannot be negative (got {monthly_remuneration})")
    if low_income_1 and not tax_exempt:
        raise ValueError("limit_category: 低所得Ⅰ is a 住民税非課税 category (low_income_1 requires tax_exempt)")
    if tax_exempt:
        return ("B06" if low_income_1 else "B05") if age_70_plus else "A05"
    band = next(b for b in BANDS.at(on) if monthly_remuneration >= b.lowest_remuneration)
    return band.age_70_to_74 if age_70_plus else band.under_70


def monthly_ceiling(code: str, total_medical_cost: int, *, on: date, many_times: bool = False,
                    outpatient_only: bool = False) -> int:
    """The monthly 自己負担限度額 in yen for category *code* and 総医療費 (the full 10割 cost) *total_medical_cost*.

    ``many_times``: 多数回該当 (the 4th time or later in 12 months); ``outpatient_only``: the 外来 (個人単位)
    ceiling of 70–74 一般 and 低所得 (other categories have none, and 多数回 does not apply to it).
    """
    if total_medical_cost < 0:
        raise ValueError(f"monthly_ceiling: 総医療費 cannot be negative (got {total_medical_cost})")
    ceilings = CEILINGS.at(on)
    if code not in ceilings:
        raise ValueError(f"monthly_ceiling: no ceiling for {code} ({LIMIT_CATEGORY_NAMES.get(code, 'unknown')}) "
                         f"in employee insurance; known: {', '.join(sorted(ceilings))}")
    ceiling = ceilings[code]
    if outpatient_only and ceiling.outpatient is not None:
        return ceiling.outpatient
    if many_times and ceiling.many_times is not None:
        return ceiling.many_times
    if ceiling.over is None:
        return ceiling.base
    return ceiling.base + (max(total_medical_cost - ceiling.over, 0) + 50) // 100


class CertificateYear(NamedTuple):
    """The year a 限度額適用認定 runs in: it starts on the 1st of *first_month*; a certificate ends with its year."""

    first_month: int  # 8: the year runs from 1 August to 31 July


# **Choice** (docs/rules.md): one row from the start — intake has applied it to every application date since onshi
# began, and a first row of a later date would refuse older applications that are applied today.
CERTIFICATE_YEAR: DatedTable[CertificateYear] = DatedTable("限度額適用認定証の有効期間 (認定年度)", (
    (date.min, CertificateYear(first_month=8)),
))


def certificate_period(application_date: date) -> tuple[date, date]:
    """``(valid_from, valid_to)`` of a 限度額適用認定 applied for on *application_date*: from the 1st of its month to
    the end of its certificate year, *valid_to* exclusive (the day after the last valid day: 1 August)."""
    start = application_date.replace(day=1)
    first_month = CERTIFICATE_YEAR.at(application_date).first_month
    return start, date(start.year + (1 if start.month >= first_month else 0), first_month, 1)


#: the OQSCD012 codes that only an application (住民税非課税の認定) can give
INCOME_BASED_CATEGORIES = frozenset({"A05", "A06", "B05", "B06", "B07", "B08"})


@dataclass(frozen=True)
class RegisteredLimit:
    """The 限度額適用区分 derived from registered data on a day, and the period around that day over which the
    same data give the same 区分 (``valid_to`` the last day, None when open)."""

    category_code: str
    valid_from: date
    valid_to: date | None


def registered_limit(*, on: date, birth_date: date, member_monthly_remuneration: int, remuneration_from: date,
                     remuneration_to: date | None = None, member_birth_date: date | None = None,
                     acquisition_date: date | None = None, loss_date: date | None = None,
                     income_exemption_from: date | None = None) -> RegisteredLimit:
    """The 区分 of the person born on *birth_date* on the day of care *on*, from the member's 標準報酬月額.

    ``member_monthly_remuneration`` is the member's 標準報酬月額 in force on *on* (for a dependent, the member's),
    registered for ``remuneration_from`` ≤ day < ``remuneration_to``.  ``member_birth_date``: for a dependent.
    ``acquisition_date`` / ``loss_date`` (exclusive): the qualification.  ``income_exemption_from``: a
    基準収入額適用 (from the 1st of its month the person is 一般, not 現役並み).  70+ is decided exactly as the
    co-pay ratio decides it (:func:`onshi.rules.co_pay.co_pay_ratio`: 高齢受給者 from the 1st of the month after
    the 70th birthday, the birthday itself when it is the 1st).  Raises :class:`~onshi.rules.co_pay.NotCovered`
    from 75 and :class:`~onshi.rules.dated.NotInForce` before the bands' first row.
    """
    cp = co_pay_ratio(birth_date=birth_date, on=on, member_birth_date=member_birth_date,
                      member_monthly_remuneration=member_monthly_remuneration,
                      income_exemption_from=income_exemption_from, acquisition_date=acquisition_date)
    if cp.elderly and cp.basis != "現役並み所得者":
        code = limit_category(on=on, age_70_plus=True, monthly_remuneration=0)  # 一般 (≤ 26万 band: B04)
    else:
        code = limit_category(on=on, age_70_plus=cp.elderly, monthly_remuneration=member_monthly_remuneration)
    # the days around *on* on which the same facts hold: the remuneration period, the qualification, the
    # person's (and for a 70+ dependent the member's) 70+ boundary, the 基準収入額適用 month, the bands' row
    starts = [remuneration_from, BANDS.effective_from(on)]
    ends = [remuneration_to, loss_date, late_elderly_transition(birth_date)]
    if acquisition_date:
        starts.append(acquisition_date)
    own = elderly_start(birth_date, acquisition_date)
    (starts if on >= own else ends).append(own)
    if cp.elderly:
        if member_birth_date is not None:
            member_start = elderly_start(member_birth_date)
            (starts if on >= member_start else ends).append(member_start)
            ends.append(late_elderly_transition(member_birth_date))
        if income_exemption_from is not None:
            exempt = income_exemption_from.replace(day=1)
            (starts if on >= exempt else ends).append(exempt)
    end = min((d for d in ends if d is not None), default=None)
    return RegisteredLimit(code, max(starts), end - timedelta(days=1) if end else None)
