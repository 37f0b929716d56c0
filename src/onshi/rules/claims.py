"""Law-set values of the claims side (レセプト): the yen of a point, the care settings, 返納金 (proration and the
period of a debt), the generic share (its formula and target), and who counts in the 特定健診 denominator.

Sources (docs/rules.md, docs/claims.md):

* 1点 = 10円: 診療報酬の算定方法 (平成20年厚生労働省告示第59号) 第1号 ("1点の単価を10円とし").
* 返納金 (資格喪失後受診): 健康保険法 §58 (不正利得), 民法 §703 (不当利得); 消滅時効 民法 §166 ①: 5 years from the
  day the creditor knew it could claim (from 1 April 2020, 民法の一部を改正する法律 平成29年法律第44号); before that,
  10 years (旧 民法 §167).
* 保険者間調整: 「被保険者資格喪失後の受診により発生する返還金の保険者間調整について」(保保発0830第1号, 2014-08-30;
  from 2015-01).
* ジェネリック医薬品の数量シェア: 後発医薬品の数量 ÷ (後発医薬品のある先発医薬品の数量 + 後発医薬品の数量) — the
  formula of the 「経済財政運営と改革の基本方針2017」 target (80% by September 2020), carried on by the 2021
  骨太の方針 ("2023年度末までに全ての都道府県で80%以上"); seed 001 lines 135, 314–316.
* 特定健診の対象者: 高齢者の医療の確保に関する法律 §20, 特定健康診査及び特定保健指導の実施に関する基準
  (平成19年厚生労働省令第157号) §1: 加入者のうち当該年度において40歳以上75歳未満に達する者 (75 leaves for
  後期高齢者医療).  The 実施率's denominator (厚生労働省「特定健康診査・特定保健指導の実施状況」): those
  insured on the fiscal year's first day and through its last (年度途中の加入・脱退者を除く).  An age is reached on
  the day before the birthday (年齢計算ニ関スル法律): born on 1 April, the age is reached on 31 March.
* 薬剤情報・特定健診情報の閲覧 (オンライン資格確認): with the patient's consent at the card reader, a doctor, dentist or
  pharmacist of that institution sees the drug information of the last 3 years (from claims; 薬剤情報 from
  2021-10-20) and the 特定健診 results of the last 5 years (from 2021-10-20 too); the consent lasts 24 hours
  (厚生労働省「オンライン資格確認等システムについて」, 「マイナンバーカードの健康保険証利用で閲覧できる情報」; the
  reference rules of this repository, "Insurer work beyond eligibility").  The periods are **unconfirmed** against
  the national system's specification (not public): they are dated tables here, configurable by a new row.
"""

from __future__ import annotations

from datetime import date

from onshi.rules.age import day_reaching_age
from onshi.rules.dated import DatedTable

#: 1点の単価 (yen per point)
POINT_YEN: DatedTable[int] = DatedTable("1点単価", ((date(1958, 10, 1), 10),))

#: 消滅時効 of a 返納金 debt, in years from the notice (民法 §166 ①一 since 2020-04-01; 旧 §167 before)
REFUND_LIMITATION_YEARS: DatedTable[int] = DatedTable("返納金債権の消滅時効 (年)", (
    (date(1898, 7, 16), 10),
    (date(2020, 4, 1), 5),
))

#: 保険者間調整 (the new insurer pays the old one in the member's stead) — available from this day
INTER_INSURER_ADJUSTMENT: DatedTable[bool] = DatedTable("保険者間調整", (
    (date(1900, 1, 1), False),
    (date(2015, 1, 1), True),
))

#: ジェネリック医薬品の数量シェアの目標 (%)
GENERIC_SHARE_TARGET: DatedTable[float] = DatedTable("後発医薬品の数量シェア目標 (%)", (
    (date(2015, 6, 30), 70.0),   # 骨太の方針2015: 2017年央に70%
    (date(2017, 6, 9), 80.0),    # 骨太の方針2017: 2020年9月までに80%
))

#: 特定健診の対象年齢: reached during the fiscal year (from, up to and including)
CHECKUP_AGES: DatedTable[tuple[int, int]] = DatedTable("特定健康診査の対象年齢", (
    (date(2008, 4, 1), (40, 74)),
))

#: how many years back a 有資格者 may see a consenting patient's drug information (薬剤情報, from claims)
DRUG_VIEW_YEARS: DatedTable[int] = DatedTable("薬剤情報の閲覧期間 (年)", ((date(2021, 10, 20), 3),))
#: how many years back a 有資格者 may see a consenting patient's 特定健診 results
CHECKUP_VIEW_YEARS: DatedTable[int] = DatedTable("特定健診情報の閲覧期間 (年)", ((date(2021, 10, 20), 5),))


def years_before(day: date, years: int) -> date:
    """The same day *years* earlier (28 February for a 29 February).

    >>> years_before(date(2025, 6, 1), 3), years_before(date(2024, 2, 29), 5)
    (datetime.date(2022, 6, 1), datetime.date(2019, 2, 28))
    """
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return date(day.year - years, 2, 28)


#: care settings of a claim (入院外来区分 and the 調剤・歯科 receipts): code → label
SETTINGS = {"inpatient": "入院", "outpatient": "外来", "pharmacy": "調剤", "dental": "歯科"}
SETTING_ALIASES = {**{k: k for k in SETTINGS}, **{v: k for k, v in SETTINGS.items()}, "入院外": "outpatient"}


def yen_of_points(points: int, on: date) -> int:
    """The cost of *points* on the day *on* (10円 a point).

    >>> yen_of_points(1234, date(2025, 4, 1))
    12340
    """
    return points * POINT_YEN.at(on)


def prorated(amount: int, days: int, of_days: int) -> int:
    """The part of *amount* for *days* of *of_days* days of care, rounded down to the yen (a claim is not split
    per day; onshi prorates the insurer's share by days of care — docs/claims.md).

    >>> prorated(7000, 1, 3), prorated(7000, 3, 3), prorated(7000, 0, 3)
    (2333, 7000, 0)
    """
    if of_days <= 0 or days <= 0:
        return 0
    return amount * min(days, of_days) // of_days


def limitation_date(noticed_on: date) -> date:
    """The day a 返納金 debt noticed on *noticed_on* becomes time-barred (消滅時効).

    >>> limitation_date(date(2025, 5, 1)), limitation_date(date(2019, 5, 1))
    (datetime.date(2030, 5, 1), datetime.date(2029, 5, 1))
    """
    years = REFUND_LIMITATION_YEARS.at(noticed_on)
    try:
        return noticed_on.replace(year=noticed_on.year + years)
    except ValueError:  # 29 February
        return date(noticed_on.year + years, 3, 1)


def generic_share(generic_quantity: float, brand_with_generic_quantity: float) -> float | None:
    """数量シェア in %: generics ÷ (brands that have a generic + generics); None when neither was dispensed.
    Brands without a generic do not count at all.

    >>> generic_share(80, 20), generic_share(0, 10), generic_share(0, 0)
    (80.0, 0.0, None)
    """
    total = generic_quantity + brand_with_generic_quantity
    if total <= 0:
        return None
    return round(100 * generic_quantity / total, 2)


def checkup_target(birth_date: date, fiscal_year: int) -> bool:
    """Whether someone born on *birth_date* is of 特定健診 age in *fiscal_year*: reaches 40 by the year's last day
    (31 March) and has not reached 75 by then.

    >>> checkup_target(date(1986, 4, 1), 2025), checkup_target(date(1986, 4, 2), 2025)
    (True, False)
    >>> checkup_target(date(1951, 4, 1), 2025), checkup_target(date(1951, 4, 2), 2025)
    (False, True)
    """
    last = date(fiscal_year + 1, 3, 31)
    lo, hi = CHECKUP_AGES.at(date(fiscal_year, 4, 1))
    return day_reaching_age(birth_date, lo) <= last < day_reaching_age(birth_date, hi + 1)


def enrolled_through(acquisition_date: date, loss_date: date | None, fiscal_year: int) -> bool:
    """Insured from the fiscal year's first day through its last (the 実施率 denominator's rule).

    >>> enrolled_through(date(2025, 4, 1), None, 2025), enrolled_through(date(2025, 4, 2), None, 2025)
    (True, False)
    >>> enrolled_through(date(2020, 1, 1), date(2026, 4, 1), 2025), enrolled_through(date(2020, 1, 1), date(2026, 3, 31), 2025)
    (True, False)
    """
    return acquisition_date <= date(fiscal_year, 4, 1) and (loss_date is None or loss_date > date(fiscal_year + 1, 3, 31))
