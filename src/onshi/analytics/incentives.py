"""Incentives tied to a facility's マイナ保険証 usage: the 2024 support money, the May–July 2024 lump sum, and the
two fee-schedule additions whose points depend on the card (医療DX推進体制整備加算, 医療情報取得加算).

Pure functions over the dated tables of :mod:`onshi.rules.incentives` (every threshold, price and point is there,
with its source): they take plain values and return a small frozen dataclass that says what was decided and why.
They never touch a database.

**Units.**  Every usage rate here is in **percent** (``12.5`` means 12.5 %), and a rise is in **percentage points**
(%pt); parameters say so in their names (``…_pct``).  Rates are compared exactly: a float is read through its
shortest decimal form (``Decimal(str(x))``), so ``10.3 - 5.3`` is exactly 5 %pt, never 4.999….  Money is ``int``
yen; points are ``int`` 点.

Sources (details, line numbers and the choices made: docs/incentives-and-kpis.md):

* support money — 利用率増加に応じた支援金: seed 003 (the tier table, lines 1656–1705);
* lump sum — 一時金: seed 003 (lines 1605–1633) and, for the hospital column, the doubling of 2024-06-21 and the
  extension to August, secondary sources named in the table comments; the clinic/pharmacy and small-facility
  columns are **placeholders** (flagged ``placeholder=True`` in the table and in every result they decide);
* 医療DX推進体制整備加算 and 医療情報取得加算: shared/reference/insurance-rules.md ("Usage rates and incentives")
  and seed 003 (lines 1730–1810).

>>> support_money_2024(period_month=date(2024, 3, 1), october_2023_rate_pct=4.0, period_average_rate_pct=16.5,
...                    card_uses=1000).amount_yen
40000
>>> dx_promotion_tier(billing_month=date(2025, 4, 1), usage_rate_pct=30, with_e_prescription=False).points
9
>>> medical_information_points(visit_date=date(2024, 12, 1), with_my_number_card=False).points
1
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from onshi.rules.calendar import add_months, month_key, month_start
from onshi.rules.dated import DatedTable, NotInForce
from onshi.rules.incentives import (
    DX_POINTS,
    DX_THRESHOLDS,
    LUMP_SUM_2024,
    MEDICAL_INFORMATION_POINTS,
    SUPPORT_MONEY_2024,
    DxThresholds,
    LumpSumBand,
    LumpSumRules,
    SupportPeriod,
    format_pct,
)

Number = int | float | Decimal | str


class OutsideKnownPeriod(NotInForce):
    """The day or month asked is outside every period the tables know: the function refuses rather than guess."""


def _pct(value: Number, what: str) -> Decimal:
    """One conversion point: a rate in % (or a rise in %pt) as an exact decimal."""
    if isinstance(value, bool):
        raise TypeError(f"{what}: a number in %, not {value!r}")
    d = value if isinstance(value, Decimal) else Decimal(str(value))
    if not d.is_finite():
        raise ValueError(f"{what}: {value!r} is not a number")
    return d


def _rate(value: Number, what: str) -> Decimal:
    d = _pct(value, what)
    if not Decimal(0) <= d <= Decimal(100):
        raise ValueError(f"{what}: a usage rate is 0–100 % (got {value}); pass percent, not a fraction")
    return d


def _month_key(m: date | str) -> str:
    return month_key(m) if isinstance(m, date) else m


def _at(table: DatedTable, day: date, what: str):
    try:
        value = table.at(day)
    except NotInForce as exc:
        raise OutsideKnownPeriod(f"{what}: {day} is before the first period the table knows ({exc})") from None
    if value is None:
        raise OutsideKnownPeriod(f"{what}: {day} is after the last period the table knows "
                                 f"(it ends before {table.effective_from(day)}); add a dated row for it")
    return value


# ============================================================================ 2024 support money (支援金)

@dataclass(frozen=True)
class SupportMoney:
    """支援金 of one facility for one period: the tier reached, the unit price and the amount."""

    period: str
    rise_pt: Decimal  # period average rate − October 2023 rate, %pt
    tier_min_rise_pt: int | None  # the tier reached (+5, +10, … %pt), None below the first
    unit_price_yen: int
    card_uses: int
    amount_yen: int
    reason: str


def support_money_2024(*, period_month: date, october_2023_rate_pct: Number, period_average_rate_pct: Number,
                       card_uses: int) -> SupportMoney:
    """利用率増加に応じた支援金: the unit price per card use for the rise of the period's average usage rate over the
    facility's October 2023 rate, and the amount = unit price × card uses in the period.

    ``period_month``: any day in the period (2024-01..05 or 2024-06..11).  Rates in %.

    >>> s = support_money_2024(period_month=date(2024, 5, 31), october_2023_rate_pct=2.0,
    ...                        period_average_rate_pct=7.0, card_uses=300)
    >>> s.tier_min_rise_pt, s.unit_price_yen, s.amount_yen
    (5, 20, 6000)
    >>> support_money_2024(period_month=date(2024, 6, 1), october_2023_rate_pct=2.0,
    ...                    period_average_rate_pct=7.0, card_uses=300).amount_yen
    0
    """
    period: SupportPeriod = _at(SUPPORT_MONEY_2024, period_month, "支援金")
    if card_uses < 0:
        raise ValueError(f"支援金: card_uses is a count (got {card_uses})")
    oct_rate = _rate(october_2023_rate_pct, "october_2023_rate_pct")
    avg = _rate(period_average_rate_pct, "period_average_rate_pct")
    rise = avg - oct_rate
    reached = [t for t in period.tiers if rise >= t.min_rise_pt]
    head = (f"{period.label}: 平均利用率 {format_pct(avg)}% − 2023年10月 {format_pct(oct_rate)}% = {format_pct(rise)}%pt")
    note = f" ({period.note})" if period.note else ""
    if not reached:
        return SupportMoney(period.label, rise, None, 0, card_uses, 0,
                            f"{head}: 最低区分 +{period.tiers[0].min_rise_pt}%pt 未満のため支援金なし{note}")
    tier = reached[-1]
    amount = tier.unit_price_yen * card_uses
    return SupportMoney(period.label, rise, tier.min_rise_pt, tier.unit_price_yen, card_uses, amount,
                        f"{head} ≥ +{tier.min_rise_pt}%pt: {tier.unit_price_yen}円/件 × {card_uses:,}件 = "
                        f"{amount:,}円{note}")


# ============================================================================ May–July 2024 lump sum (一時金)

FacilityType = Literal["hospital", "clinic", "dental", "pharmacy"]
LumpSumScale = Literal["hospital", "clinic_pharmacy", "small"]


_SCALE_OF = {"hospital": "hospital", "clinic": "clinic_pharmacy", "dental": "clinic_pharmacy",
             "pharmacy": "clinic_pharmacy"}
_SCALE_NAMES = {"hospital": "病院", "clinic_pharmacy": "診療所・薬局", "small": "小規模施設"}


@dataclass(frozen=True)
class LumpSum:
    """一時金 of one facility: the best month, the increase over October 2023, the scale and amount."""

    amount_yen: int
    best_month: str | None
    best_month_users: int
    increase: int
    scale: str  # hospital | clinic_pharmacy | small | deemed_normal
    band: str  # the October 2023 rate band, e.g. "5%以上10%未満"
    tier_min_increase: int | None
    small_facility: bool
    placeholder: bool  # the amount comes from a placeholder value of the table
    rules_from: date
    reason: str


def _scale_amount(bands: tuple[LumpSumBand, ...], rate: Decimal, increase: int):
    for band in bands:
        if band.contains(rate):
            reached = [t for t in band.tiers if increase >= t.min_increase]
            return band, (reached[-1] if reached else None)
    return None, None


def lump_sum_2024(*, facility_type: FacilityType, october_2023_rate_pct: Number, october_2023_users: int,
                  monthly_users: Mapping[str | date, int], october_2023_receipts: int,
                  promotion_done: bool = True, as_of: date | None = None) -> LumpSum:
    """一時金 of the 集中取組月間: by the increase in card users (利用人数) of the best month of the period over
    October 2023, in the band of the facility's October 2023 rate (%).

    ``monthly_users``: card users per month (``"2024-05"`` or a date); months outside the period are ignored.
    ``october_2023_receipts``: レセプト件数 of October 2023 — at most 150 makes a small facility (小規模施設),
    which gets the better of the small scale and its normal scale, and is deemed to meet the normal requirements
    at an October 2023 rate of 10 % or more (with at least one more user), or 5–10 % with 10 or more users.
    ``promotion_done``: the two conditions of payment (poster at the counter; asking patients and handing out the
    leaflet) — without them nothing is paid.  ``as_of``: the rules in force on that day (default: the latest,
    under which the money was paid).

    >>> r = lump_sum_2024(facility_type="hospital", october_2023_rate_pct=4, october_2023_users=100,
    ...                   monthly_users={"2024-05": 300, "2024-06": 460, "2024-07": 420},
    ...                   october_2023_receipts=3000, as_of=date(2024, 5, 1))
    >>> r.amount_yen, r.best_month, r.increase, r.band, r.placeholder
    (200000, '2024-06', 360, '3%以上5%未満', False)
    """
    rules: LumpSumRules = LUMP_SUM_2024.at(as_of or date.max)
    rules_from = LUMP_SUM_2024.effective_from(as_of or date.max)
    if facility_type not in _SCALE_OF:
        raise ValueError(f"一時金: facility_type {facility_type!r} is not one of {', '.join(_SCALE_OF)}")
    for what, n in (("october_2023_users", october_2023_users), ("october_2023_receipts", october_2023_receipts)):
        if n < 0:
            raise ValueError(f"一時金: {what} is a count (got {n})")
    rate = _rate(october_2023_rate_pct, "october_2023_rate_pct")
    counted = {_month_key(m): n for m, n in monthly_users.items() if _month_key(m) in rules.months}
    if not counted:
        raise ValueError(f"一時金: monthly_users has none of the months {', '.join(rules.months)}")
    if any(n < 0 for n in counted.values()):
        raise ValueError("一時金: monthly users are counts (got a negative number)")
    best_month = max(sorted(counted), key=lambda m: counted[m])  # the earliest of equal months
    best = counted[best_month]
    increase = best - october_2023_users
    normal = _SCALE_OF[facility_type]
    small = october_2023_receipts <= rules.small_facility_max_receipts
    head = (f"{best_month} の利用人数 {best:,}人 − 2023年10月 {october_2023_users:,}人 = {increase:+,}人, "
            f"2023年10月の利用率 {format_pct(rate)}%")

    def result(amount, scale, band, tier, placeholder, why):
        return LumpSum(amount, best_month, best, increase, scale, band, tier, small, placeholder, rules_from,
                       f"{head}: {why}")

    if not promotion_done:
        return result(0, normal, "", None, False, "支給条件（ポスター掲示・声掛けとチラシ配布）を満たさないため支給なし")

    band, tier = _scale_amount(rules.scales[normal], rate, increase)
    options = []  # (amount, scale, band label, tier min increase, placeholder, words)
    if tier is not None:
        options.append((tier.amount_yen, normal, band.label, tier.min_increase, tier.placeholder,
                        f"{_SCALE_NAMES[normal]}の区分 {band.label} で +{tier.min_increase}人以上 → "
                        f"{tier.amount_yen:,}円"))
    if small:
        sband, stier = _scale_amount(rules.scales["small"], rate, increase)
        if stier is not None:
            options.append((stier.amount_yen, "small", sband.label, stier.min_increase, stier.placeholder,
                            f"小規模施設の区分 {sband.label} で +{stier.min_increase}人以上 → "
                            f"{stier.amount_yen:,}円"))
        deemed = next((d for d in rules.deemed_normal if d.contains(rate) and increase >= d.min_increase), None)
        if deemed is not None:
            amount = rules.deemed_normal_amount[normal]
            options.append((amount, "deemed_normal", deemed.label, None, rules.deemed_normal_placeholder,
                            f"小規模施設だが通常の要件を満たす（2023年10月 {format_pct(rate)}%"
                            f"{'' if deemed.min_increase <= 1 else f', +{deemed.min_increase}人以上'}）→ {amount:,}円"))
    size = (f"小規模施設（2023年10月のレセプト {october_2023_receipts:,}件 ≤ "
            f"{rules.small_facility_max_receipts}件）" if small else _SCALE_NAMES[normal])
    if not options:
        lowest = band.tiers[0].min_increase if band else None
        need = f"（{_SCALE_NAMES[normal]} {band.label} の最低区分は +{lowest}人）" if band else ""
        return result(0, "small" if small else normal, band.label if band else "", None, False,
                      f"{size}: 増加人数が支給区分に届かないため支給なし{need}")
    prefer = {normal: 2, "deemed_normal": 1, "small": 0}  # equal amounts: the normal scale, then "deemed normal"
    best_option = max(options, key=lambda o: (o[0], prefer[o[1]]))
    amount, scale, label, min_inc, placeholder, words = best_option
    also = ""
    if small and len(options) > 1:
        also = "（小規模施設は小規模区分と通常の基準の有利な方: " + " / ".join(o[5] for o in options) + "）"
    mark = " [暫定値: MHLW の表で置き換えること]" if placeholder else ""
    return result(amount, scale, label, min_inc, placeholder,
                  f"{size}, 上限 {rules.caps[normal]:,}円: {words}{also}{mark}")


# ============================================================================ 医療DX推進体制整備加算

@dataclass(frozen=True)
class DxTier:
    """The 医療DX推進体制整備加算 tier a facility qualifies for in a billing month."""

    billing_month: date
    rate_month: date  # the month whose usage rate counted
    usage_rate_pct: Decimal
    tier: int | None  # 1, 2, 3 — None below the 加算3 threshold
    label: str  # 加算1 … 加算6, or "" without a tier
    points: int
    thresholds_pct: tuple[int, int, int]
    reason: str


def dx_rate_month(billing_month: date) -> date:
    """The month whose usage rate counts for *billing_month* (the dated lag, 3 months).

    >>> dx_rate_month(date(2024, 10, 15)), dx_rate_month(date(2025, 1, 1))
    (datetime.date(2024, 7, 1), datetime.date(2024, 10, 1))
    """
    month = month_start(billing_month)
    return add_months(month, -_at(DX_THRESHOLDS, month, "医療DX推進体制整備加算").rate_lag_months)


def dx_promotion_tier(*, billing_month: date, usage_rate_pct: Number, with_e_prescription: bool = True) -> DxTier:
    """医療DX推進体制整備加算: the tier (1 highest) and points for *billing_month*, given the facility's usage rate
    in % **of the month** :func:`dx_rate_month` names (3 months earlier).

    >>> t = dx_promotion_tier(billing_month=date(2024, 12, 1), usage_rate_pct=15)
    >>> t.tier, t.points, t.rate_month
    (1, 11, datetime.date(2024, 9, 1))
    >>> dx_promotion_tier(billing_month=date(2025, 1, 1), usage_rate_pct=15).tier  # 30/20/10 from January
    3
    >>> dx_promotion_tier(billing_month=date(2024, 9, 1), usage_rate_pct=15)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    onshi.analytics.incentives.OutsideKnownPeriod: 医療DX推進体制整備加算: 2024-09-01 is before the first period ...
    """
    month = month_start(billing_month)
    th: DxThresholds = _at(DX_THRESHOLDS, month, "医療DX推進体制整備加算")
    pts = DX_POINTS.at(month)
    rate = _rate(usage_rate_pct, "usage_rate_pct")
    rate_month = add_months(month, -th.rate_lag_months)
    points = pts.with_e_prescription if with_e_prescription else pts.without_e_prescription
    labels = pts.labels_with if with_e_prescription else pts.labels_without
    erx = "" if points == pts.without_e_prescription == pts.with_e_prescription else (
        "（電子処方箋あり）" if with_e_prescription else "（電子処方箋なし）")
    head = (f"{month:%Y-%m} 算定: {rate_month:%Y-%m} の利用率 {format_pct(rate)}%, 要件 "
            f"{th.tier_rates_pct[0]}/{th.tier_rates_pct[1]}/{th.tier_rates_pct[2]}%")
    for i, need in enumerate(th.tier_rates_pct):
        if rate >= need:
            return DxTier(month, rate_month, rate, i + 1, labels[i], points[i], th.tier_rates_pct,
                          f"{head}: {need}%以上 → {labels[i]}{erx} {points[i]}点")
    return DxTier(month, rate_month, rate, None, "", 0, th.tier_rates_pct,
                  f"{head}: 加算3 の要件 {th.tier_rates_pct[2]}% 未満のため算定不可")


def dx_promotion_tier_from_rates(*, billing_month: date, monthly_rates_pct: Mapping[str | date, Number],
                                 with_e_prescription: bool = True) -> DxTier:
    """:func:`dx_promotion_tier` with the facility's monthly rates (% by ``"YYYY-MM"`` or date): picks the month
    that counts; a missing month is an error, never a guess."""
    want = _month_key(dx_rate_month(billing_month))
    rates = {_month_key(m): v for m, v in monthly_rates_pct.items()}
    if want not in rates:
        raise LookupError(f"医療DX推進体制整備加算: {billing_month:%Y-%m} needs the usage rate of {want}, "
                          "which is not given")
    return dx_promotion_tier(billing_month=billing_month, usage_rate_pct=rates[want],
                             with_e_prescription=with_e_prescription)


# ============================================================================ 医療情報取得加算

@dataclass(frozen=True)
class InformationAcquisition:
    visit_date: date
    with_my_number_card: bool
    points: int
    reason: str


def medical_information_points(*, visit_date: date, with_my_number_card: bool) -> InformationAcquisition:
    """医療情報取得加算 at a first visit on *visit_date*, with or without マイナ保険証 (re-visits are not modelled).

    >>> medical_information_points(visit_date=date(2024, 11, 30), with_my_number_card=False).points
    3
    >>> medical_information_points(visit_date=date(2024, 11, 30), with_my_number_card=True).points
    1
    """
    try:
        p = MEDICAL_INFORMATION_POINTS.at(visit_date)
    except NotInForce:
        raise OutsideKnownPeriod(f"医療情報取得加算: {visit_date} is before 2024-06-01, when the 加算 began (before "
                                 "it, 医療情報・システム基盤整備体制充実加算 applied; not modelled)") from None
    since = MEDICAL_INFORMATION_POINTS.effective_from(visit_date)
    points = p.with_card if with_my_number_card else p.without_card
    how = "マイナ保険証利用あり" if with_my_number_card else "マイナ保険証利用なし"
    return InformationAcquisition(visit_date, with_my_number_card, points,
                                  f"{visit_date} 初診 {how}: {points}点（{since} からの点数）")
