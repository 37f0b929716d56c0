"""Cash benefits (現金給付) of employee health insurance: the amounts, the periods and the service standard.

Pure: no database, no clock.  Every function that computes money returns an :class:`Explained` — the amount and the
lines that lead to it, in Japanese, as the clerk's screen and the decision letter print them.  Sources are cited at
each table and collected in docs/benefits.md (shared/reference/insurance-rules.md "Insurer work beyond eligibility").

Long: the cash benefits of one chapter of 健康保険法 (§99–§115) side by side, each section a few dated tables and the
functions that read them, sharing :class:`Explained` and the rounding rules.  Its seam, when it grows again, is the
高額療養費 part (§115 with 外来年間合算 and 基準収入額適用, the second half) into a module of its own.

傷病手当金 (健康保険法 §99): from the 4th day of incapacity (待期: 3 consecutive days off, weekends and holidays
included), per day 2/3 of the 標準報酬日額 — the average 標準報酬月額 of the last 12 continuous months up to the
month of the first payable day ÷ 30, rounded to 10 yen (5円未満切捨て・5円以上切上げ); the 2/3 rounded to the yen
(50銭未満切捨て・50銭以上切上げ).  With fewer than 12 months, the lower of that average and the insurer's average.

>>> months = [(date(2025, m, 1), 300_000) for m in range(5, 13)] + [(date(2026, m, 1), 360_000) for m in range(1, 5)]
>>> e = daily_amount(months, first_day=date(2026, 4, 10), insurer_average=300_000)  # 12 months: 320,000
>>> e.amount, e.lines[-1]
(7113, '日額: 10,670円 × 2/3 = 7,113円（50銭以上切上げ）')
>>> daily_amount(months[1:], first_day=date(2026, 4, 10), insurer_average=300_000).amount  # 11: the lower 300,000
6667

Waiting (待期) completes on the 3rd of three consecutive days off; the first payable day is the next day off:

>>> waiting(date(2026, 11, 20), date(2026, 11, 30), worked=set())  # Fri–Sun: complete over the weekend
WaitingResult(completed_on=datetime.date(2026, 11, 22), payable=(datetime.date(2026, 11, 23), datetime.date(2026, 11, 30)))

出産手当金 (§102): from 42 days before the birth (98 for multiples; the due date when the birth is later) to 56 days
after it:

>>> maternity_period(birth=date(2026, 7, 10), due=date(2026, 7, 10))
(datetime.date(2026, 5, 30), datetime.date(2026, 9, 4))
>>> maternity_period(birth=date(2026, 7, 10), due=date(2026, 7, 10), multiple=True)[0]
datetime.date(2026, 4, 4)

The service standard: paid within 10 business days of the day the application became complete:

>>> payment_due(date(2026, 12, 25))  # 28 Dec; 29 Dec – 3 Jan closed; 4–8 Jan; 11 Jan 成人の日; 12–15 Jan
datetime.date(2027, 1, 15)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction
from typing import NamedTuple

from onshi.rules.calendar import add_business_days, add_months, business_days_between, month_start
from onshi.rules.dated import DatedTable
from onshi.rules.co_pay import elderly_start, late_elderly_transition
from onshi.rules.limit_category import CEILINGS, LIMIT_CATEGORY_NAMES, monthly_ceiling

#: the kinds of application, with their names on screens and letters
KINDS = {"sickness": "傷病手当金", "maternity": "出産手当金", "childbirth": "出産育児一時金", "burial": "埋葬料",
         "high_cost": "高額療養費"}
#: how an application reached the insurer
CHANNELS = {"counter": "窓口", "mail": "郵送", "electronic": "電子申請"}


@dataclass(frozen=True)
class Explained:
    """An amount in yen and how it was reached, line by line."""

    amount: int
    lines: tuple[str, ...] = field(default_factory=tuple)


def yen(v: int | Fraction) -> str:
    return f"{int(v):,}円" if Fraction(v).denominator == 1 else f"{float(v):,.2f}円"


# ---------------------------------------------------------------------------- tables

#: 待期 — 「労務に服することができなくなった日から起算して三日を経過した日から」(健康保険法 §99 ①).
WAITING_DAYS: DatedTable[int] = DatedTable("傷病手当金の待期 (日)", ((date(1927, 1, 1), 3),))

#: 傷病手当金・出産手当金の額: 12 months, ÷30, ×2/3 (健康保険法 §99 ② as amended with effect from 2016-04-01 by
#: 平成27年法律第31号 — before it, the 標準報酬日額 of the day itself; not modelled).
class DailyRule(NamedTuple):
    months: int  # the months averaged
    divisor: int  # 標準報酬日額 = average ÷ divisor
    ratio: Fraction  # the share paid


DAILY_RULE: DatedTable[DailyRule] = DatedTable("傷病手当金・出産手当金の日額", (
    (date(2016, 4, 1), DailyRule(12, 30, Fraction(2, 3))),
))

#: 協会けんぽ's 「前年度の9月30日における全被保険者の同月の標準報酬月額を平均した額」 (§99 ② ii), by the fiscal year of
#: the first payable day.  28万 (FY2016–2018) and 30万 (from FY2019): 協会けんぽ「病気やケガで会社を休んだとき」 as
#: quoted by diamond.jp (2018: 28万円) and a 社労士 page (2024: 30万円).  32万 from 2025-04-01: corroborated by two
#: independent public sources that state it with that date, not read on 協会けんぽ's own page (docs/benefits.md).  A 健保組合 sets its own
#: (``Insurer.settings["average_remuneration"]``, read by the service).
KYOKAI_AVERAGE_REMUNERATION: DatedTable[int] = DatedTable("協会けんぽの全被保険者の標準報酬月額の平均", (
    (date(2016, 4, 1), 280_000),
    (date(2019, 4, 1), 300_000),
    (date(2025, 4, 1), 320_000),
))

#: 傷病手当金の支給期間: 1 year 6 months *in total* (通算) for claims whose first payable day is on or after
#: 2020-07-02 (令和3年法律第66号, in force 2022-01-01; before it, 1y6m of calendar time from the first day).  Keyed by
#: the first payable day.  The number of days is the calendar days from the first payable day to the day before
#: the same date 1 year 6 months later (厚生労働省 事務連絡 令和3年11月10日 Q&A: 「支給開始日から起算して1年6月を
#: 経過する日までの日数」).
class DurationRule(NamedTuple):
    months: int
    cumulative: bool  # 通算 (True) or calendar time from the first day (False)


SICKNESS_DURATION: DatedTable[DurationRule] = DatedTable("傷病手当金の支給期間", (
    (date(1927, 1, 1), DurationRule(18, False)),
    (date(2020, 7, 2), DurationRule(18, True)),
))


class MaternityRule(NamedTuple):
    before: int
    before_multiple: int
    after: int


#: 出産手当金 — 「出産の日（出産の日が出産の予定日後であるときは、出産の予定日）以前四十二日（多胎妊娠の場合において
#: は、九十八日）から出産の日後五十六日まで」 (健康保険法 §102 ①).  The 98 days for multiples since 1998-04-01.
MATERNITY_PERIOD: DatedTable[MaternityRule] = DatedTable("出産手当金の支給期間 (日)", (
    (date(1998, 4, 1), MaternityRule(42, 98, 56)),
))


class LumpSum(NamedTuple):
    covered: int  # 産科医療補償制度に加入する医療機関等で妊娠22週以降の出産
    not_covered: int  # その他 (未加入機関, 22週未満)


#: 出産育児一時金, per child (健康保険法施行令 §36): 42万 / 40.8万 from 2022-01-01 (the 産科医療補償制度 premium cut
#: to 1.2万), 50万 / 48.8万 for births on or after 2023-04-01 (令和5年政令 — 健保組合 and 社労士 notices of
#: 2023-03: 「令和5年4月1日出産分から50万円…産科医療補償制度に加入されていない医療機関等…48.8万円」).
CHILDBIRTH_LUMP_SUM: DatedTable[LumpSum] = DatedTable("出産育児一時金 (1児につき)", (
    (date(2022, 1, 1), LumpSum(420_000, 408_000)),
    (date(2023, 4, 1), LumpSum(500_000, 488_000)),
))

#: 埋葬料 — 「埋葬料として、政令で定める金額」, 5万円 (健康保険法 §100 ①, 施行令 §35) since 2006-10-01; without a
#: dependant who buries, the costs of burial up to the same amount (埋葬費, §100 ②).
BURIAL: DatedTable[int] = DatedTable("埋葬料", ((date(2006, 10, 1), 50_000),))

#: 高額療養費 世帯合算: under 70, only what one person paid at one institution (医科/歯科, 入院/外来 apart) in a month
#: of at least this much counts (健康保険法施行令 §41 ①; 厚生労働省「高額療養費制度を利用される皆さまへ」:
#: 「69歳以下の方の受診については、2万1千円以上の自己負担のみ合算」).  多数回該当: the 4th month or later with a
#: refund within 12 months (施行令 §42 ②).
class HouseholdRule(NamedTuple):
    threshold_under_70: int
    many_times_after: int  # refunds in the previous months of the window that make this one 多数回
    window_months: int


HIGH_COST_HOUSEHOLD: DatedTable[HouseholdRule] = DatedTable("高額療養費の世帯合算と多数回該当", (
    (date(2015, 1, 1), HouseholdRule(21_000, 3, 12)),
))


class ServiceStandard(NamedTuple):
    business_days: int


#: サービススタンダード: 「傷病手当金、出産手当金等を、申請受付から10営業日以内に」 (seed 001), counted from the
#: day the application is complete (the clock stops while it is incomplete) to the day of payment, in business
#: days (rules.calendar: no weekends, holidays, 29 Dec – 3 Jan).  **Choice**: in force from 2021-04-01, the first
#: fiscal year of the 5th action plan that sets the KPI; it applies to every kind of application here.
SERVICE_STANDARD: DatedTable[ServiceStandard] = DatedTable("サービススタンダード", (
    (date(2021, 4, 1), ServiceStandard(10)),
))


# ---------------------------------------------------------------------------- rounding (§99 ②)

def round_daily_standard(value: Fraction) -> int:
    """÷30 rounded to 10 yen: 5円未満切捨て、5円以上10円未満切上げ.

    >>> round_daily_standard(Fraction(10334)), round_daily_standard(Fraction(10335)), round_daily_standard(Fraction(20000, 3))
    (10330, 10340, 6670)
    """
    tens, rest = divmod(value, 10)
    return int(tens) * 10 + (10 if rest >= 5 else 0)


def round_yen(value: Fraction) -> int:
    """50銭未満切捨て、50銭以上切上げ."""
    whole, rest = divmod(value, 1)
    return int(whole) + (1 if rest >= Fraction(1, 2) else 0)


# ---------------------------------------------------------------------------- 傷病手当金 / 出産手当金

def continuous_months(monthly: list[tuple[date, int]], up_to: date, limit: int) -> list[tuple[date, int]]:
    """The months (1st of month, 標準報酬月額) that end a continuous run at the month of *up_to*, newest first, at
    most *limit* — 「直近の継続した」 months: a month without an amount ends the run."""
    by_month = {month_start(m): a for m, a in monthly}
    out, m = [], month_start(up_to)
    while m in by_month and len(out) < limit:
        out.append((m, by_month[m]))
        m = add_months(m, -1)
    return out


def daily_amount(monthly: list[tuple[date, int]], *, first_day: date, insurer_average: int) -> Explained:
    """The daily 傷病手当金 / 出産手当金 for a claim whose first payable day is *first_day*.

    *monthly*: the member's 標準報酬月額 per month (any day of the month → the amount of that month), as the
    registry's history gives it at this insurer.  *insurer_average*: the insurer's published average 標準報酬月額 for
    the fiscal year of *first_day* (:data:`KYOKAI_AVERAGE_REMUNERATION` for 協会けんぽ).
    """
    rule = DAILY_RULE.at(first_day)
    months = continuous_months(monthly, first_day, rule.months)
    if not months:
        raise ValueError(f"{first_day:%Y-%m}: 支給開始日の月に標準報酬月額が定められていません")
    lines = [f"支給開始日: {first_day.isoformat()}（{months[-1][0]:%Y年%m月}〜{months[0][0]:%Y年%m月}の"
             f"{len(months)}か月の標準報酬月額）"]
    total = sum(a for _, a in months)
    avg = Fraction(total, len(months))
    lines.append(f"標準報酬月額の平均: {yen(total)} ÷ {len(months)} = {yen(avg)}")
    if len(months) < rule.months:
        if insurer_average < avg:
            lines.append(f"被保険者期間が{rule.months}か月未満: 保険者の平均標準報酬月額 {yen(insurer_average)} の方が"
                         f"低いのでこれを用います（健康保険法第99条第2項）")
            avg = Fraction(insurer_average)
        else:
            lines.append(f"被保険者期間が{rule.months}か月未満: 保険者の平均標準報酬月額 {yen(insurer_average)} 以下"
                         f"なので本人の平均を用います（健康保険法第99条第2項）")
    daily_standard = round_daily_standard(avg / rule.divisor)
    lines.append(f"標準報酬日額: {yen(avg) if avg.denominator == 1 else f'{float(avg):,.2f}円'} ÷ {rule.divisor} → "
                 f"{daily_standard:,}円（10円未満四捨五入: 5円未満切捨て・5円以上切上げ）")
    amount = round_yen(daily_standard * rule.ratio)
    lines.append(f"日額: {daily_standard:,}円 × {rule.ratio.numerator}/{rule.ratio.denominator} = {amount:,}円"
                 f"（50銭以上切上げ）")
    return Explained(amount, tuple(lines))


class WaitingResult(NamedTuple):
    completed_on: date | None  # the 3rd consecutive day off; None when not completed in the period
    payable: tuple[date, date] | None  # the days after it up to the end of the period


def waiting(incapacity_from: date, period_to: date, worked: set[date], *, already_completed: bool = False) \
        -> WaitingResult:
    """The 待期 of an incapacity starting on *incapacity_from*: the first 3 consecutive days not worked (calendar
    days — a weekend or holiday counts, paid leave counts) on or after it, and the payable range after them up to
    *period_to*.  *already_completed*: a later application of the same incapacity (待期 is completed once)."""
    if already_completed:
        return WaitingResult(incapacity_from - timedelta(days=1), (incapacity_from, period_to))
    need = WAITING_DAYS.at(incapacity_from)
    run, day = 0, incapacity_from
    while day <= period_to:
        run = 0 if day in worked else run + 1
        if run == need:
            return WaitingResult(day, (day + timedelta(days=1), period_to) if day < period_to else None)
        day += timedelta(days=1)
    return WaitingResult(None, None)


def duration_days(first_payable: date) -> int:
    """The most days of 傷病手当金 one condition can be paid (通算 from 2022): the calendar days from the first
    payable day up to the day before the same date 1 year 6 months later.

    >>> duration_days(date(2026, 1, 1)), duration_days(date(2026, 4, 1))
    (546, 548)
    """
    rule = SICKNESS_DURATION.at(first_payable)
    end = add_months(first_payable, rule.months).replace(day=1)
    # the same day of the month 18 months later (the last day of that month when it has no such day)
    from calendar import monthrange

    end = end.replace(day=min(first_payable.day, monthrange(end.year, end.month)[1]))
    return (end - first_payable).days


def period_amount(daily: int, days: list[date], *, wages: dict[date, int] | None = None,
                  other_daily: int = 0, other_label: str = "他の給付", remaining_days: int | None = None,
                  label: str = "支給日数") -> Explained:
    """The amount for *days* at *daily* yen, less what was paid for the same days: wages (報酬, §108 ①) and another
    benefit per day (*other_daily*, e.g. 障害厚生年金 ÷ 360, or 出産手当金 against 傷病手当金); a day whose
    deductions reach the daily amount pays nothing.  *remaining_days*: the days of the 1y6m total not yet paid —
    days beyond it are not paid."""
    wages = wages or {}
    lines = []
    days = sorted(days)
    if remaining_days is not None and len(days) > remaining_days:
        lines.append(f"通算1年6か月の残り {remaining_days}日: {days[remaining_days].isoformat()} 以降の"
                     f"{len(days) - remaining_days}日は支給できません")
        days = days[:remaining_days]
    total, full, reduced, zero = 0, 0, [], 0
    for d in days:
        deduction = wages.get(d, 0) + other_daily
        pay = max(daily - deduction, 0)
        total += pay
        if deduction == 0:
            full += 1
        elif pay == 0:
            zero += 1
        else:
            reduced.append((d, deduction, pay))
    lines.append(f"{label}: {len(days)}日（全額 {full}日 × {daily:,}円 = {full * daily:,}円）")
    for d, deduction, pay in reduced:
        lines.append(f"{d.isoformat()}: 日額 {daily:,}円 − 報酬・{other_label} {deduction:,}円 = {pay:,}円")
    if zero:
        lines.append(f"報酬・{other_label}が日額以上の日: {zero}日（支給なし）")
    lines.append(f"支給額: {total:,}円")
    return Explained(total, tuple(lines))


def maternity_period(*, birth: date, due: date, multiple: bool = False) -> tuple[date, date]:
    """First and last day of the 出産手当金 period (both included)."""
    rule = MATERNITY_PERIOD.at(birth)
    base = min(birth, due)
    before = rule.before_multiple if multiple else rule.before
    return base - timedelta(days=before - 1), birth + timedelta(days=rule.after)


# ---------------------------------------------------------------------------- lump sums

def childbirth_lump_sum(*, birth: date, children: int, covered: bool) -> Explained:
    """出産育児一時金: per child, by whether the birth was under the 産科医療補償制度 (at 22 weeks or later)."""
    if children < 1:
        raise ValueError("出生児数は1以上です")
    row = CHILDBIRTH_LUMP_SUM.at(birth)
    per = row.covered if covered else row.not_covered
    what = "産科医療補償制度の対象となる出産" if covered else "産科医療補償制度の対象外の出産"
    return Explained(per * children, (f"{birth.isoformat()} の{what}: 1児につき {per:,}円",
                                      f"{children}児 × {per:,}円 = {per * children:,}円"))


def burial_amount(*, death: date, costs: int | None = None) -> Explained:
    """埋葬料 (5万円); *costs*: 埋葬費 — what the burial cost, for someone not a dependant, up to the same amount."""
    limit = BURIAL.at(death)
    if costs is None:
        return Explained(limit, (f"埋葬料（健康保険法第100条第1項）: {limit:,}円",))
    pay = min(costs, limit)
    return Explained(pay, (f"埋葬費（第100条第2項）: 埋葬に要した費用 {costs:,}円、上限 {limit:,}円 → {pay:,}円",))


# ---------------------------------------------------------------------------- 高額療養費

class CareItem(NamedTuple):
    """What one person paid at one institution in one month (医科/歯科, 入院/外来 apart; 調剤 with its 処方元)."""

    person: str
    institution: str
    paid: int  # 自己負担額
    total_cost: int  # 総医療費 (10割)
    age_group: str = "under_70"  # :func:`age_group` of the person in the month: under_70 | 70_74 | 75_month
    inpatient: bool = False  # 入院 (70–74: the 外来 individual limit applies to the other items only)


#: 高額療養費 at 70–74 (健康保険法施行令 §41–42 as in force from 2018-08-01; 厚生労働省保険局「高額療養費制度を
#: 利用される皆さまへ（平成30年8月診療分から）」; shared/reference/insurance-rules.md "Limit categories"): the
#: amounts are :data:`onshi.rules.limit_category.CEILINGS` (B01–B06); the rule's shape is here.
#: * every payment of a 70–74 person counts (no 21,000円 threshold: 「70歳以上の方は自己負担額をすべて合算」);
#: * 一般・低所得: first the 外来 individual limit per person (all 外来 items of the person), then the 70–74 household
#:   limit on 入院 + 外来 after it; a household that mixes ages: what is left of the 70–74 part is added to the
#:   under-70 items of 21,000円 or more and the under-70 ceiling applied to the whole (the order of the MHLW page:
#:   「①70歳以上の外来（個人単位）→ ②70歳以上の世帯 → ③69歳以下を含む世帯全体」; diamond.jp/articles/-/15245
#:   gives the same order);
#: * 多数回該当 counts the months with a refund at household level; a refund of the 外来 individual limit alone
#:   does not count (「外来（個人ごと）の限度額による支給は、多数回該当の回数に含みません」) — the caller passes
#:   only such months in ``refund_months``;
#: * the month of the 75th birthday when the birthday is not the 1st (75歳到達月の特例, from 2009-01-01): the
#:   person's individual limits (外来 individual and the person's own 入院+外来) are half the amounts — the 1 %
#:   threshold halved too — and the household limits stay whole (javakenpo.gr.jp/together/07-2.html: 「個人単位で
#:   両制度のいずれも本来額の2分の1…75歳の誕生日がその月の初日の場合は適用されません」);
#: * the 年間上限 of 一般's 外来 (144,000円, August–July) is a yearly benefit applied for once a year (外来年間合算):
#:   not this monthly calculation — :func:`outpatient_year_refund` adds up what each month leaves
#:   (:attr:`HighCostRefund.outpatient_borne`).
class ElderlyRule(NamedTuple):
    threshold: int  # 70–74 items count from this much (0: every item)
    birthday_month_ratio: Fraction  # the individual limits in the 75歳到達月


HIGH_COST_ELDERLY: DatedTable[ElderlyRule] = DatedTable("高額療養費（70〜74歳）", (
    (date(2018, 8, 1), ElderlyRule(0, Fraction(1, 2))),
))

#: the under-70 category with the same income band as a 70–74 category (the whole-household step of a mixed
#: household): 現役並みⅢ/Ⅱ/Ⅰ → ア/イ/ウ, 一般 → エ, 低所得 → オ
UNDER_70_EQUIVALENT = {"B01": "A01", "B02": "A02", "B03": "A03", "B04": "A04", "B05": "A05", "B06": "A05"}


class NotThisInsurer(ValueError):
    """The care is not this insurer's: the person was 75 or older (後期高齢者医療) for the whole month."""


def age_group(birth: date, month: date) -> str:
    """The 高額療養費 age group of a person born on *birth* for the month of care *month*.

    70–74 (高齢受給者) from the month after the 70th birthday's month, or the birthday's month when born on the
    1st (one reaches 70 the day before the birthday; :func:`onshi.rules.co_pay.elderly_start`); the month of the
    75th birthday, when the birthday is not the 1st, is ``75_month`` (half the individual limits); from the 75th
    birthday the person is in 後期高齢者医療 — a month that starts on or after it raises :class:`NotThisInsurer`.

    >>> age_group(date(1956, 5, 15), date(2026, 5, 1)), age_group(date(1956, 5, 15), date(2026, 6, 1))
    ('under_70', '70_74')
    >>> age_group(date(1956, 5, 1), date(2026, 5, 1))
    '70_74'
    >>> age_group(date(1951, 5, 15), date(2026, 5, 1))
    '75_month'
    """
    m = month_start(month)
    late = late_elderly_transition(birth)
    if late <= m:
        raise NotThisInsurer(f"{m:%Y年%m月}: {late} に75歳に達し後期高齢者医療の被保険者です（この保険者の高額療養費"
                             "の対象外）")
    if month_start(late) == m:
        return "75_month"
    return "70_74" if elderly_start(birth) <= m else "under_70"


def is_many_times(month: date, refund_months: list[date]) -> bool:
    """多数回該当: 3 or more months with a refund in the 12 months before *month* (this one the 4th or later).

    >>> is_many_times(date(2026, 12, 1), [date(2026, 1, 1), date(2026, 5, 1), date(2026, 11, 1)])
    True
    >>> is_many_times(date(2026, 12, 1), [date(2025, 12, 1), date(2026, 5, 1), date(2026, 11, 1)])
    False
    """
    rule = HIGH_COST_HOUSEHOLD.at(month)
    first = add_months(month, -(rule.window_months - 1))
    this = month_start(month)
    return len({month_start(m) for m in refund_months if first <= month_start(m) < this}) >= rule.many_times_after


def _halved_ceiling(code: str, cost: int, *, on: date, many_times: bool, ratio: Fraction) -> int:
    """The ceiling of *code* at *ratio* of its amounts (75歳到達月: base, the 1 % threshold and the 多数回 amount)."""
    c = CEILINGS.at(on)[code]
    if many_times and c.many_times is not None:
        return round_yen(c.many_times * ratio)
    base = c.base * ratio
    if c.over is None:
        return round_yen(base)
    return round_yen(base) + (max(cost - int(c.over * ratio), 0) + 50) // 100


@dataclass(frozen=True)
class HighCostRefund(Explained):
    """:class:`Explained` with the part paid under the 70–74 外来 individual limit alone (which does not count
    towards 多数回該当)."""

    outpatient_part: int = 0
    #: each 70–74 person's 外来 一部負担金 still borne after the month's steps (the 外来 individual limit, then the
    #: household steps' refunds apportioned by burden): what the yearly 外来年間合算 adds up (:func:`outpatient_year_refund`)
    outpatient_borne: tuple[tuple[str, int], ...] = ()

    @property
    def counts_for_many_times(self) -> bool:
        return self.amount > self.outpatient_part

    def borne_of(self, person: str) -> int:
        return dict(self.outpatient_borne).get(person, 0)


def high_cost_refund(*, month: date, category: str, items: list[CareItem], refund_months: list[date] = (),
                     category_70: str | None = None) -> HighCostRefund:
    """高額療養費 of a household (the member and dependants of one insurer) for *month*, less what the ceilings allow.

    *category*: the household's under-70 限度額区分 (A01–A05; a 70–74 code B01–B06 is taken for both, its under-70
    equivalent by :data:`UNDER_70_EQUIVALENT`); *category_70*: the 区分 of the 70–74 members (B01–B06; required
    when an item is of a 70–74 person).  Under 70 only the items of at least 21,000円 count (世帯合算).  With 70–74
    items: the 外来 individual limit per person (一般・低所得), then the 70–74 household limit, then — when under-70
    items count too — the under-70 ceiling on the whole (:data:`HIGH_COST_ELDERLY`).  多数回該当 from
    *refund_months* (household-level refunds only).
    """
    if category.startswith("B"):
        category_70 = category_70 or category
        category = UNDER_70_EQUIVALENT[category]
    if not category.startswith("A"):
        raise ValueError(f"限度額区分「{category}」は高額療養費の区分ではありません")
    rule = HIGH_COST_HOUSEHOLD.at(month)
    many = is_many_times(month, list(refund_months))
    young = [i for i in items if i.age_group == "under_70"]
    old = [i for i in items if i.age_group != "under_70"]
    name = lambda c: LIMIT_CATEGORY_NAMES.get(c, c)  # noqa: E731
    lines = [f"{month:%Y年%m月}・区分 {name(category)}" + (f"（70〜74歳: {name(category_70)}）" if old else "")]
    refund = outpatient_part = 0
    carried_paid = carried_cost = 0  # what the 70–74 part leaves to the household step
    borne: dict[str, Fraction] = {}  # each 70–74 person's 外来 still borne, as the steps reduce it
    if old:
        if category_70 is None or not category_70.startswith("B"):
            raise ValueError("70〜74歳の方の高額療養費には70歳以上の限度額区分（現役並みⅢ〜Ⅰ・一般・低所得Ⅱ・Ⅰ）が必要です")
        elderly = HIGH_COST_ELDERLY.at(month)
        half = elderly.birthday_month_ratio
        owe: dict[str, int] = {}  # each 70–74 person's burden after the individual steps
        cost: dict[str, int] = {}
        for person in dict.fromkeys(i.person for i in old):
            mine = [i for i in old if i.person == person]
            special = any(i.age_group == "75_month" for i in mine)
            ratio = half if special else Fraction(1)
            for i in mine:
                lines.append(f"{i.person}（70〜74歳）・{i.institution}: 自己負担 {i.paid:,}円（総医療費 "
                             f"{i.total_cost:,}円）{'入院' if i.inpatient else '外来'}・合算")
            outpatient = sum(i.paid for i in mine if not i.inpatient)
            out_limit = CEILINGS.at(month)[category_70].outpatient  # 一般・低所得 only
            after_out = outpatient
            if out_limit is not None and outpatient:
                out_limit = round_yen(out_limit * ratio)
                after_out = min(outpatient, out_limit)
                lines.append(f"{person} 外来（個人単位）: {outpatient:,}円、限度額 {out_limit:,}円"
                             + ("（75歳到達月の特例: 2分の1）" if special else "")
                             + f" → 支給 {outpatient - after_out:,}円")
                refund += outpatient - after_out
                outpatient_part += outpatient - after_out
            own = after_out + sum(i.paid for i in mine if i.inpatient)
            own_cost = sum(i.total_cost for i in mine)
            borne[person] = Fraction(after_out)
            if special:
                limit = _halved_ceiling(category_70, own_cost, on=month, many_times=many, ratio=half)
                lines.append(f"{person} 入院・外来（75歳到達月の特例: 個人単位で2分の1）: {own:,}円、限度額 "
                             f"{limit:,}円 → 支給 {max(own - limit, 0):,}円")
                refund += max(own - limit, 0)
                if own > limit:
                    borne[person] *= Fraction(limit, own)
                own = min(own, limit)
            owe[person], cost[person] = own, own_cost
        paid70, cost70 = sum(owe.values()), sum(cost.values())
        limit70 = monthly_ceiling(category_70, cost70, on=month, many_times=many)
        lines.append(f"70〜74歳の世帯合算: {paid70:,}円、限度額 {limit70:,}円"
                     + ("（多数回該当）" if many and limit70 != monthly_ceiling(category_70, cost70, on=month) else "")
                     + f" → 支給 {max(paid70 - limit70, 0):,}円")
        refund += max(paid70 - limit70, 0)
        carried_paid, carried_cost = min(paid70, limit70), cost70
        if paid70 > limit70:
            borne = {p: b * Fraction(limit70, paid70) for p, b in borne.items()}
    counted = [i for i in young if i.paid >= rule.threshold_under_70]
    for i in young:
        mark = "合算" if i in counted else f"{rule.threshold_under_70:,}円未満のため合算しない"
        lines.append(f"{i.person}・{i.institution}: 自己負担 {i.paid:,}円（総医療費 {i.total_cost:,}円）{mark}")
    if counted or not old:
        paid = carried_paid + sum(i.paid for i in counted)
        cost = carried_cost + sum(i.total_cost for i in counted)
        ceiling = monthly_ceiling(category, cost, on=month, many_times=many)
        if old:
            lines.append(f"70〜74歳の負担 {carried_paid:,}円 と69歳以下の合算対象 {paid - carried_paid:,}円 を世帯合算"
                         f"（区分 {name(category)}、総医療費 {cost:,}円）")
        lines.append(f"自己負担限度額: {ceiling:,}円" + ("（多数回該当: 過去12か月に3回以上の支給）" if many else ""))
        lines.append(f"合算額 {paid:,}円 − 限度額 {ceiling:,}円 = {max(paid - ceiling, 0):,}円")
        refund += max(paid - ceiling, 0)
        if paid > ceiling:
            borne = {p: b * Fraction(ceiling, paid) for p, b in borne.items()}
    lines.append(f"支給額: {refund:,}円")
    return HighCostRefund(refund, tuple(lines), outpatient_part,
                          tuple((p, round_yen(b)) for p, b in borne.items()))


# ---------------------------------------------------------------------------- 外来年間合算 (70歳以上)

class OutpatientYearRule(NamedTuple):
    cap: int  # 年間上限
    first_month: int  # the 計算期間 runs from the 1st of this month to the day before it a year later
    categories: frozenset[str]  # the 70–74 区分 whose months count, and one of which the person must hold on the 基準日


#: 高額療養費の外来年間合算 (健康保険法施行令 §41の2 「年間の高額療養費」, from the 計算期間 starting 2017-08-01):
#: 「基準日（毎年7月31日）において…区分が『一般』または『低所得者』に属する70歳以上の方のうち、計算期間（前年8月1日から
#: 7月31日までの1年間）における『一般』または『低所得者』であった月の外来での窓口負担額（高額療養費の世帯合算などで支給さ
#: れる額を除く）を合算し、年間上限額（14万4千円）を超える場合に、その超えた額が支給されます」
#: (city.otake.hiroshima.jp …/kokukyuhu/1540178710228.html, updated 2025-08-15; the article of the 施行令 as cited by
#: tome.jimusho.jp/syarousi/kennkouhokenn/kenkou4/kenkou4E.htm).  現役並み (B01–B03) months do not count and a person
#: who is 現役並み on the 基準日 gets nothing; months before 70–74 (高齢受給者) do not count.
OUTPATIENT_YEARLY: DatedTable[OutpatientYearRule] = DatedTable("高額療養費の外来年間合算（70歳以上）", (
    (date(2017, 8, 1), OutpatientYearRule(144_000, 8, frozenset({"B04", "B05", "B06"}))),
))


def outpatient_year(day: date) -> tuple[date, date]:
    """The 計算期間 (1 August – 31 July) that holds *day*; its last day is the 基準日.

    >>> outpatient_year(date(2026, 7, 31)), outpatient_year(date(2026, 8, 1))[0]
    ((datetime.date(2025, 8, 1), datetime.date(2026, 7, 31)), datetime.date(2026, 8, 1))
    """
    first_month = OUTPATIENT_YEARLY.at(day).first_month
    start = date(day.year if day.month >= first_month else day.year - 1, first_month, 1)
    return start, add_months(start, 12) - timedelta(days=1)


class OutpatientMonth(NamedTuple):
    """One month of a person's 外来 at this insurer, as the yearly sum reads it."""

    month: date
    age_group: str  # :func:`age_group` of the person in the month
    category_70: str | None  # the 70–74 区分 of the month (B01–B06; None under 70)
    paid: int  # 外来 一部負担金 of the month
    borne: int  # what is left of it after the month's 高額療養費 (:attr:`HighCostRefund.outpatient_borne`)


def outpatient_year_refund(*, base_day: date, base_category: str | None, base_age_group: str,
                           months: list[OutpatientMonth]) -> Explained:
    """外来年間合算: the months of the 計算期間 ending on *base_day* (31 July) in which the person was 70–74 and
    一般 or 低所得 add up what their 外来 still bore after each month's 高額療養費; above the 年間上限 (144,000円) the
    excess is paid — when on the 基準日 the person is 70–74 and 一般 or 低所得 (*base_category*, *base_age_group*).

    >>> m = [OutpatientMonth(date(2025, 8 + i, 1) if i < 5 else date(2026, i - 4, 1), "70_74", "B04", 18_000, 18_000)
    ...      for i in range(12)]
    >>> outpatient_year_refund(base_day=date(2026, 7, 31), base_category="B04", base_age_group="70_74", months=m).amount
    72000
    """
    first, last = outpatient_year(base_day)
    if base_day != last:
        raise ValueError(f"基準日 {base_day} は計算期間の末日（7月31日）ではありません")
    rule = OUTPATIENT_YEARLY.at(first)
    name = lambda c: LIMIT_CATEGORY_NAMES.get(c, c) if c else "69歳以下"  # noqa: E731
    lines = [f"外来年間合算: 計算期間 {first} 〜 {last}（基準日 {last}）、年間上限 {rule.cap:,}円"]
    if base_age_group == "under_70" or base_category not in rule.categories:
        why = "70歳未満" if base_age_group == "under_70" else f"区分 {name(base_category)}"
        lines.append(f"基準日の{why}のため対象外（一般・低所得の70歳以上の方が対象）")
        return Explained(0, tuple(lines))
    total = 0
    for m in sorted(months, key=lambda m: m.month):
        if not first <= m.month <= last:
            continue
        if m.age_group == "under_70":
            lines.append(f"{m.month:%Y年%m月}: 70歳未満の月のため合算しない（外来 {m.paid:,}円）")
        elif m.category_70 not in rule.categories:
            lines.append(f"{m.month:%Y年%m月}: 区分 {name(m.category_70)} の月のため合算しない（外来 {m.paid:,}円）")
        else:
            total += m.borne
            lines.append(f"{m.month:%Y年%m月}: 外来 {m.paid:,}円" + (f" − 月間の高額療養費 {m.paid - m.borne:,}円"
                                                                if m.borne != m.paid else "")
                         + f" → {m.borne:,}円（{name(m.category_70)}）")
    pay = max(total - rule.cap, 0)
    lines.append(f"合算額 {total:,}円 − 年間上限 {rule.cap:,}円 = {pay:,}円")
    return Explained(pay, tuple(lines))


# ---------------------------------------------------------------------------- 基準収入額適用 (70歳以上 現役並み)

class IncomeBasisRule(NamedTuple):
    single: int  # the 70–74 member alone (no 70–74 dependant)
    household: int  # with 70–74 dependants (their incomes added), or alone with a 旧被扶養者 now in 後期高齢者医療


#: 基準収入額適用: a 70–74 member (and 70–74 dependants) placed in 現役並み by the 標準報酬月額 (28万円 or more) is
#: 一般 on application when the income is under the 基準収入額 — 「被保険者お一人が70歳以上の場合…年間収入383万円
#: 未満」「被保険者と被扶養者のお二人とも70歳以上の場合は年間収入520万円未満」 (phio.panasonic.co.jp/qa/kourei.html;
#: tokakenpo.or.jp/sikaku/sikaku18/sikaku018.htm: 520万 with the 70–74 dependant's income included, 383万 for the
#: member alone); 「70歳以上の被扶養者がいない場合は収入額が383万円未満。ただし、長寿医療制度の被保険者となったために
#: 被扶養者でなくなった者（…5年を経過する者に限る）の場合、520万円未満」 (kobe-kikai-kenpo.org/koureizyukyuusya.html).
#: **The row's start** (2008-04-01, the first day of 後期高齢者医療, which the 旧被扶養者 clause needs) is ours: the
#: sources give the amounts undated.
INCOME_BASIS: DatedTable[IncomeBasisRule] = DatedTable("高齢受給者の基準収入額", (
    (date(2008, 4, 1), IncomeBasisRule(3_830_000, 5_200_000)),
))

#: the 現役並み 区分 that a 基準収入額適用 turns into 一般
ACTIVE_LIKE = frozenset({"B01", "B02", "B03"})


class IncomeBasis(NamedTuple):
    applies: bool
    effective_from: date | None  # the first month of 一般 (None when not applicable)
    lines: tuple[str, ...]


def income_basis(*, applied_on: date, incomes: list[int], former_dependant_income: int | None = None,
                 timely_from: date | None = None) -> IncomeBasis:
    """The decision on a 基準収入額適用申請.

    *incomes*: the yearly 収入 of the member (first) and of each 70–74 dependant; *former_dependant_income*: of a
    旧被扶養者 who left for 後期高齢者医療 (within 5 years), counted only when the member alone is at or above the
    single amount.  In force from the 1st of the application's month — the project's rule
    (../shared/reference/insurance-rules.md: 「from the application month」), the month from which the co-pay ratio
    (:mod:`onshi.rules.co_pay`) and verification already show 2割, so that a month's 高額療養費 and its co-pay never
    use two 区分; some insurers' pages say the month after (kenpo.gr.jp/sanyo: 「申請期限後に提出された場合は申請月
    の翌月から」; city.shinshiro.aichi.jp for 後期高齢者医療), recorded in docs/benefits.md as a point to confirm.  An
    application within the insurer's deadline after a new 現役並み determination applies from that determination's
    month (*timely_from*: 「申請期限以内に…認められた方については該当月の1日から」, kenpo.gr.jp/sanyo).

    >>> income_basis(applied_on=date(2026, 9, 10), incomes=[3_829_999]).effective_from
    datetime.date(2026, 9, 1)
    >>> income_basis(applied_on=date(2026, 9, 10), incomes=[3_830_000]).applies
    False
    >>> income_basis(applied_on=date(2026, 9, 10), incomes=[3_000_000, 2_199_999]).applies
    True
    """
    if not incomes or any(i < 0 for i in incomes):
        raise ValueError("収入額は被保険者の分から0以上で記入してください")
    rule = INCOME_BASIS.at(applied_on)
    total = sum(incomes)
    lines = []
    if len(incomes) == 1:
        ok = total < rule.single
        lines.append(f"70歳以上は被保険者お一人: 収入 {total:,}円 {'<' if ok else '≥'} 基準収入額 {rule.single:,}円")
        if not ok and former_dependant_income is not None:
            total += former_dependant_income
            ok = total < rule.household
            lines.append(f"後期高齢者医療に移った旧被扶養者の収入を加えて {total:,}円 {'<' if ok else '≥'} "
                         f"{rule.household:,}円")
    else:
        ok = total < rule.household
        lines.append(f"70歳以上の被保険者・被扶養者 {len(incomes)}人の収入の合計 {total:,}円 {'<' if ok else '≥'} "
                     f"基準収入額 {rule.household:,}円")
    if not ok:
        lines.append("基準収入額以上のため現役並みのまま")
        return IncomeBasis(False, None, tuple(lines))
    start = income_basis_from(applied_on, timely_from)
    if start < month_start(applied_on):
        lines.append(f"判定の月（{start:%Y年%m月}）の申請期限内の申請: {start} から一般")
    else:
        lines.append(f"申請 {applied_on} の月 {start} から一般")
    return IncomeBasis(True, start, tuple(lines))


def income_basis_from(applied_on: date, timely_from: date | None = None) -> date:
    """The first day of 一般 after a 基準収入額適用 applied for on *applied_on*: the 1st of its month (see
    :func:`income_basis`); the 1st of *timely_from*'s month when the application was timely for an earlier
    determination."""
    if timely_from is not None and month_start(timely_from) <= month_start(applied_on):
        return month_start(timely_from)
    return month_start(applied_on)


def with_income_basis(category_70: str, month: date, basis: IncomeBasis | None) -> str:
    """The 70–74 区分 of *month* after a 基準収入額適用: 現役並み (B01–B03) → 一般 (B04) from its month."""
    if basis is not None and basis.applies and category_70 in ACTIVE_LIKE and month_start(month) >= basis.effective_from:
        return "B04"
    return category_70


# ---------------------------------------------------------------------------- service standard and schedule

def payment_due(complete_on: date) -> date:
    """The last day a payment is within the service standard for an application complete on *complete_on*."""
    return add_business_days(complete_on, SERVICE_STANDARD.at(complete_on).business_days)


def business_days_taken(complete_on: date, paid_on: date) -> int:
    """Business days from completeness to payment (the day of completeness not counted)."""
    return business_days_between(complete_on, paid_on)


def within_standard(complete_on: date, paid_on: date) -> bool:
    return business_days_taken(complete_on, paid_on) <= SERVICE_STANDARD.at(complete_on).business_days


def transfer_date(decided_on: date) -> date:
    """The payment day of a decision: the next business day (the transfer file reaches the bank the day of the
    decision).  **Choice** recorded in docs/benefits.md."""
    return add_business_days(decided_on, 1)
