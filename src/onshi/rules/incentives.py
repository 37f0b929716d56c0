"""The law-set numbers behind the マイナ保険証 incentives, in dated tables: the 2024 support money (支援金), the
May–July 2024 lump sum (一時金), 医療DX推進体制整備加算 and 医療情報取得加算.

:mod:`onshi.analytics.incentives` computes with them; this module holds only the tables, the shapes of their rows
and their sources.  Rates are in percent, rises in %pt, money ``int`` yen, points ``int`` 点.

Sources (details, line numbers and the choices made: docs/incentives-and-kpis.md):

* support money — 利用率増加に応じた支援金: seed 003 (the tier table, lines 1656–1705);
* lump sum — 一時金: seed 003 (lines 1605–1633) and, for the hospital column, the doubling of 2024-06-21 and the
  extension to August, secondary sources named in the table comments; the clinic/pharmacy and small-facility
  columns are **placeholders** (flagged ``placeholder=True`` in the table);
* 医療DX推進体制整備加算 and 医療情報取得加算: shared/reference/insurance-rules.md ("Usage rates and incentives")
  and seed 003 (lines 1730–1810).

>>> DX_THRESHOLDS.at(date(2025, 4, 1)).tier_rates_pct, MEDICAL_INFORMATION_POINTS.at(date(2024, 12, 1)).without_card
((45, 30, 15), 1)
>>> [b.label for b in LUMP_SUM_2024.at(date(2024, 6, 21)).scales["hospital"][:3]]
['3%未満', '3%以上5%未満', '5%以上10%未満']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from onshi.rules.dated import DatedTable


def format_pct(d: Decimal) -> str:
    """A rate or rise as words print it: ``Decimal('5.0')`` → ``'5'``, ``Decimal('4.99')`` → ``'4.99'``.

    >>> format_pct(Decimal('5.0')), format_pct(Decimal('4.99'))
    ('5', '4.99')
    """
    return format(d.normalize(), "f")


def band_label(rate_from_pct: Decimal, rate_below_pct: Decimal | None) -> str:
    """``3%以上5%未満``, ``3%未満`` (from 0), ``40%以上`` (no upper end)."""
    lo = format_pct(rate_from_pct)
    if rate_below_pct is None:
        return f"{lo}%以上"
    return f"{format_pct(rate_below_pct)}%未満" if rate_from_pct == 0 else f"{lo}%以上{format_pct(rate_below_pct)}%未満"


def _in_band(rate: Decimal, rate_from_pct: Decimal, rate_below_pct: Decimal | None) -> bool:
    return rate >= rate_from_pct and (rate_below_pct is None or rate < rate_below_pct)


# ============================================================================ 2024 support money (支援金)

@dataclass(frozen=True)
class SupportTier:
    min_rise_pt: int  # rise over the October 2023 rate, in %pt, at least
    unit_price_yen: int  # per card use (円/件)


@dataclass(frozen=True)
class SupportPeriod:
    """One period of 利用率増加に応じた支援金: its months and its tiers (ascending)."""

    label: str
    first_month: date
    last_month: date
    tiers: tuple[SupportTier, ...]
    note: str = ""


def _tiers(*pairs: tuple[int, int]) -> tuple[SupportTier, ...]:
    return tuple(SupportTier(r, p) for r, p in pairs)


#: 利用率増加に応じた支援金 (seed 003, lines 1656–1705): the average usage rate of the period against the
#: facility's October 2023 rate.  The seed's table has six rise rows (+5, +10, +20, +30, +40, +50 %pt) and two
#: price columns; the second column lists five prices starting at 40円, read as starting at the +10 %pt row (no
#: money for +5 %pt in the second period).  Rows are keyed by the first day of each period; ``None`` = ended.
SUPPORT_MONEY_2024: DatedTable[SupportPeriod | None] = DatedTable("利用率増加に応じた支援金 (2024)", (
    (date(2024, 1, 1), SupportPeriod("前半 2024年1月〜5月", date(2024, 1, 1), date(2024, 5, 1),
                                     _tiers((5, 20), (10, 40), (20, 60), (30, 80), (40, 100), (50, 120)))),
    (date(2024, 6, 1), SupportPeriod("後半 2024年6月〜11月", date(2024, 6, 1), date(2024, 11, 1),
                                     _tiers((10, 40), (20, 60), (30, 80), (40, 100), (50, 120)),
                                     note="seed 003 (lines 1614–1618): the second period was later replaced by "
                                          "the May–July lump sum (一時金); this is the scheme as first announced")),
    (date(2024, 12, 1), None),
))


# ============================================================================ May–July 2024 lump sum (一時金)

@dataclass(frozen=True)
class LumpSumTier:
    min_increase: int  # more card users than in October 2023, at least
    amount_yen: int
    placeholder: bool = False  # True: not from a published table; replace from MHLW's leaflet


@dataclass(frozen=True)
class LumpSumBand:
    """One row of a lump-sum scale: facilities whose October 2023 rate is in [rate_from_pct, rate_below_pct)."""

    rate_from_pct: Decimal
    rate_below_pct: Decimal | None
    tiers: tuple[LumpSumTier, ...]  # ascending

    def contains(self, rate: Decimal) -> bool:
        return _in_band(rate, self.rate_from_pct, self.rate_below_pct)

    @property
    def label(self) -> str:
        return band_label(self.rate_from_pct, self.rate_below_pct)


@dataclass(frozen=True)
class DeemedNormalBand:
    """A small facility whose October 2023 rate is in [rate_from_pct, rate_below_pct) and whose users rose by at
    least ``min_increase`` is deemed to meet the normal requirements (通常の要件を満たす)."""

    rate_from_pct: Decimal
    rate_below_pct: Decimal | None
    min_increase: int

    def contains(self, rate: Decimal) -> bool:
        return _in_band(rate, self.rate_from_pct, self.rate_below_pct)

    @property
    def label(self) -> str:
        return band_label(self.rate_from_pct, self.rate_below_pct)


@dataclass(frozen=True)
class LumpSumRules:
    """The lump-sum scheme as in force from a day: the months compared, the scales, the small-facility rules."""

    months: tuple[str, ...]  # YYYY-MM: the best of these months counts
    scales: Mapping[str, tuple[LumpSumBand, ...]]  # hospital | clinic_pharmacy | small
    small_facility_max_receipts: int  # レセプト件数 in October 2023, at most
    deemed_normal: tuple[DeemedNormalBand, ...]  # when a small facility meets the normal requirements
    deemed_normal_amount: Mapping[str, int]  # small facility meeting the normal requirements: this amount
    deemed_normal_placeholder: bool
    caps: Mapping[str, int]  # 上限 by normal scale, for the reason text
    source: str


_BREAKS = (Decimal(0), Decimal(3), Decimal(5), Decimal(10), Decimal(20), Decimal(30), Decimal(40), None)
#: Hospital, 20万円 tier: a secondary source (toushin-1.jp/articles/-/57214, quoting MHLW's leaflet of April 2024).
_HOSPITAL_FULL = (450, 350, 250, 150, 80, 40, 10)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _bands(rows: list[tuple[tuple[int, int, bool], ...]], breaks=_BREAKS) -> tuple[LumpSumBand, ...]:
    return tuple(LumpSumBand(breaks[i], breaks[i + 1], tuple(LumpSumTier(*t) for t in row))
                 for i, row in enumerate(rows))


def _normal_scale(full: tuple[int, ...], amount: int, *, full_placeholder: bool, doubled: bool):
    """A normal scale: half the amount at half the increase (placeholder), the full amount, and — after
    2024-06-21 — twice the amount at twice the increase (placeholder threshold)."""
    rows = []
    for inc in full:
        row = [(_ceil_div(inc, 2), amount // 2, True), (inc, amount, full_placeholder)]
        if doubled:
            row.append((inc * 2, amount * 2, True))
        rows.append(tuple(row))
    return _bands(rows)


def _small_scale():
    """小規模施設 (≤ 150 receipts in October 2023): single-digit increases, bands below 10 % only — at 10 % and
    above a small facility meets the normal requirements (seed 003 line 1629).  All values are placeholders; the
    doubling of 2024-06-21 raised the normal caps, so a small facility above this scale's 10万円 takes the normal
    scale (seed 003 line 1633)."""
    rows = [((4, 50_000, True), (8, 100_000, True)),  # under 5 %
            ((3, 50_000, True), (6, 100_000, True))]  # 5 % to 10 % (10 more users: normal requirements met)
    return _bands(rows, breaks=(Decimal(0), Decimal(5), Decimal(10)))


def _lump_sum_rules(*, doubled: bool, months: tuple[str, ...], source: str) -> LumpSumRules:
    clinic_full = tuple(_ceil_div(i, 2) for i in _HOSPITAL_FULL)  # placeholder: half the hospital increases
    return LumpSumRules(
        months=months,
        scales={"hospital": _normal_scale(_HOSPITAL_FULL, 200_000, full_placeholder=False, doubled=doubled),
                "clinic_pharmacy": _normal_scale(clinic_full, 100_000, full_placeholder=True, doubled=doubled),
                "small": _small_scale()},
        small_facility_max_receipts=150,
        # seed 003 line 1629: at 10 % or more with at least one more user, or 5–10 % with 10 or more users
        deemed_normal=(DeemedNormalBand(Decimal(10), None, 1), DeemedNormalBand(Decimal(5), Decimal(10), 10)),
        deemed_normal_amount={"hospital": 200_000, "clinic_pharmacy": 100_000},
        deemed_normal_placeholder=True,
        caps={"hospital": 400_000 if doubled else 200_000, "clinic_pharmacy": 200_000 if doubled else 100_000},
        source=source,
    )


#: 一時金 (マイナ保険証利用促進集中取組月間), keyed by the day the rules were announced.
#:
#: * 2024-04-10 (MHLW; seed 003 lines 1605–1633 restate it on 2024-06-21 as 「現行の一時金」): the best of
#:   May/June/July 2024 against October 2023, 最大10万円 (病院20万円).  The hospital 20万円 increases are from a
#:   secondary source (see ``_HOSPITAL_FULL``).
#: * 2024-06-21 (第179回医療保険部会; fp-soken.or.jp FPNews No.327; 支払基金 portal FAQ): caps doubled to
#:   20万円 (病院40万円); the portal also extends the months to May–August.  The higher tier's increase is a
#:   placeholder (twice the full-amount increase).
#:
#: PLACEHOLDERS, to be replaced from MHLW's leaflet (mhlw.go.jp/content/10200000/001259762.pdf): every
#: clinic/pharmacy threshold (half the hospital increases for 10万円, a quarter for 5万円), every half-amount tier,
#: every small-facility tier, the doubled tiers' increases and the amount paid to a small facility deemed to meet
#: the normal requirements.  Each such tier has ``placeholder=True`` and a result decided by one says so.
#: The small-facility limit is 150 receipts: seed 003's 「レセプト件数力江50件以下」 is OCR for 「が150件以下」
#: (toushin-1.jp says 150 件以下 too).
LUMP_SUM_2024: DatedTable[LumpSumRules] = DatedTable("マイナ保険証利用促進 一時金 (2024)", (
    (date(2024, 4, 10), _lump_sum_rules(doubled=False, months=("2024-05", "2024-06", "2024-07"),
                                        source="seed 003 lines 1605–1633; hospital column: toushin-1.jp")),
    (date(2024, 6, 21), _lump_sum_rules(doubled=True, months=("2024-05", "2024-06", "2024-07", "2024-08"),
                                        source="2024-06-21 医療保険部会: caps doubled; months to August "
                                               "(支払基金 portal FAQ)")),
))


# ============================================================================ 医療DX推進体制整備加算

@dataclass(frozen=True)
class DxThresholds:
    """Usage-rate requirements (%) of 加算1/2/3 for billing months from a day, and whose rate counts."""

    tier_rates_pct: tuple[int, int, int]  # 加算1, 加算2, 加算3: at least this usage rate
    rate_lag_months: int  # the rate of the month this many months before the billing month counts


@dataclass(frozen=True)
class DxPoints:
    """Points (医科, 初診) of tiers 1/2/3 with and without e-prescription (電子処方箋)."""

    with_e_prescription: tuple[int, int, int]
    without_e_prescription: tuple[int, int, int]
    labels_with: tuple[str, str, str] = ("加算1", "加算2", "加算3")
    labels_without: tuple[str, str, str] = ("加算1", "加算2", "加算3")


#: 医療DX推進体制整備加算: usage-rate thresholds by billing month (insurance-rules.md).  The rate that counts for
#: a billing month is that of the month three months earlier (e.g. July 2024 for October 2024): the usage rate
#: is published with a delay, and the rule reads the 3-months-earlier rate.  From 2024-06 to 2024-09 the 加算
#: had no usage-rate requirement; before 2024-10 and from 2026-06 the table knows nothing (an error, no guess).
DX_THRESHOLDS: DatedTable[DxThresholds | None] = DatedTable("医療DX推進体制整備加算 利用率要件", (
    (date(2024, 10, 1), DxThresholds((15, 10, 5), rate_lag_months=3)),
    (date(2025, 1, 1), DxThresholds((30, 20, 10), rate_lag_months=3)),
    (date(2025, 4, 1), DxThresholds((45, 30, 15), rate_lag_months=3)),
    (date(2025, 10, 1), DxThresholds((60, 40, 25), rate_lag_months=3)),
    (date(2026, 3, 1), DxThresholds((70, 50, 30), rate_lag_months=3)),
    (date(2026, 6, 1), None),
))
#: Points of 医療DX推進体制整備加算 (医科, 初診時): 11/10/8 from 2024-10; from 2025-04 12/11/10 for a facility that
#: issues e-prescriptions (加算1–3) and 10/9/8 for one that does not (加算4–6).
DX_POINTS: DatedTable[DxPoints] = DatedTable("医療DX推進体制整備加算 点数", (
    (date(2024, 10, 1), DxPoints((11, 10, 8), (11, 10, 8))),
    (date(2025, 4, 1), DxPoints((12, 11, 10), (10, 9, 8), labels_without=("加算4", "加算5", "加算6"))),
))


# ============================================================================ 医療情報取得加算

@dataclass(frozen=True)
class InformationPoints:
    without_card: int
    with_card: int


#: 医療情報取得加算 at a first visit (初診): 3 points without / 1 with マイナ保険証 from 2024-06 (seed 003, the
#: 2024 revision replacing 医療情報・システム基盤整備体制充実加算 4/2); 1 point either way from 2024-12.
MEDICAL_INFORMATION_POINTS: DatedTable[InformationPoints] = DatedTable("医療情報取得加算 (初診)", (
    (date(2024, 6, 1), InformationPoints(without_card=3, with_card=1)),
    (date(2024, 12, 1), InformationPoints(without_card=1, with_card=1)),
))
