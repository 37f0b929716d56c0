"""What the analytics page and the report charts show, assembled from :class:`~onshi.analytics.usage.UsageAnalytics`.

Kept apart from the routes so that the CLI (``onshi analytics chart``) and the web page draw the same charts.

The page opens on the **last complete month**: the current month (Japan time) is still being counted (集計中) —
its rate moves every day and its change from the previous month means nothing yet — so it is offered, labelled
集計中, but never chosen by default, and the trend chart stops at the last complete month.

What is drawn from the usage aggregate (:mod:`onshi.analytics.aggregate`) is kept in a small in-process cache
keyed by :meth:`UsageAnalytics.data_version <onshi.analytics.usage.UsageAnalytics.data_version>`: a chart is drawn
once per state of the log and the claim counts, not on every load (matplotlib takes 0.4–0.9 s per chart).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

from onshi.analytics.usage import BASES, FACILITY_TYPES, Rate, RankingRow, UsageAnalytics, previous_month
from onshi.rules.calendar import month_key, next_month, parse_month_key
from onshi.store.clock import japan_today

T = TypeVar("T")
_DRAWN: OrderedDict[tuple, object] = OrderedDict()
_DRAWN_SIZE = 64


def _cached(ua: UsageAnalytics, key: tuple, compute: Callable[[], T]) -> T:
    """``compute()``, kept while the figures it is drawn from stay the same (module docstring)."""
    version = ua.data_version()
    if version is None:
        return compute()
    k = (version, key)
    if k in _DRAWN:
        _DRAWN.move_to_end(k)
        return _DRAWN[k]  # type: ignore[return-value]
    value = compute()
    _DRAWN[k] = value
    while len(_DRAWN) > _DRAWN_SIZE:
        _DRAWN.popitem(last=False)
    return value


def current_month(today: date | None = None) -> str:
    """The month being counted (集計中): this month in Japan time."""
    return month_key(today or japan_today())


def default_month(months: list[str], today: date | None = None) -> str | None:
    """The month a page opens on: the latest complete month with data, else the latest month (only the current
    one has data)."""
    complete = [m for m in months if m < current_month(today)]
    return complete[-1] if complete else (months[-1] if months else None)

KYOKAI_TARGET = 50.0  # seed 000: 協会けんぽ's usage-rate KPI target (%)
BASIS_LABELS = {"online": "オン資ベース", "receipt": "レセプトベース", "kyokai": "協会けんぽKPI"}


@dataclass
class Overview:
    months: list[str]
    month: str | None
    basis: str
    facility_type: str | None
    national: Rate | None = None
    previous: Rate | None = None
    by_facility: list[tuple[str, Rate]] = field(default_factory=list)
    ranking: list[RankingRow] = field(default_factory=list)
    institutions: int = 0
    counting: str = ""  #: the month still being counted (集計中), YYYY-MM

    @property
    def partial(self) -> bool:
        """The month shown is the current one, still being counted (集計中)."""
        return self.month == self.counting

    @property
    def change_pt(self) -> float | None:
        if self.partial:
            return None  # a month half counted against a whole one: no change to speak of
        if not self.national or not self.previous or self.national.rate is None or self.previous.rate is None:
            return None
        return round(100 * (self.national.rate - self.previous.rate), 2)


def _check(basis: str, facility_type: str | None, month: str | None, months: list[str]) -> None:
    if basis not in BASES:
        raise ValueError(f"basis must be one of {', '.join(BASES)}")
    if facility_type and facility_type not in FACILITY_TYPES:
        raise ValueError(f"facility_type must be one of {', '.join(FACILITY_TYPES)}")
    if month is not None and month not in months:
        raise ValueError(f"no verifications in {month}" if months else "the verification log is empty")


def overview(ua: UsageAnalytics, *, month: str | None = None, basis: str = "online",
             facility_type: str | None = None, today: date | None = None) -> Overview:
    """The page's figures for ``month`` (default: :func:`default_month`), cached while the data stay the same."""
    months = ua.months()
    _check(basis, facility_type, month, months)
    month = month or default_month(months, today)
    counting = current_month(today)
    return _cached(ua, ("overview", month, basis, facility_type, counting),
                   lambda: _overview(ua, months, month, basis, facility_type, counting))


def _overview(ua: UsageAnalytics, months: list[str], month: str | None, basis: str, facility_type: str | None,
              counting: str) -> Overview:
    ov = Overview(months=months, month=month, basis=basis, facility_type=facility_type, counting=counting)
    if month is None:
        return ov
    where = {"facility_type": facility_type} if facility_type else None
    prev = previous_month(month)
    both = {r.keys["month"]: r for r in ua.rates(basis=basis, by=("month",), months=[prev, month], where=where)}
    ov.national, ov.previous = both.get(month), both.get(prev)
    by_ft = {r.keys["facility_type"]: r for r in ua.rates(basis=basis, by=("facility_type",), months=[month])}
    ov.by_facility = [(FACILITY_TYPES[k], by_ft[k]) for k in FACILITY_TYPES if k in by_ft]
    ov.ranking = ua.prefecture_ranking(month, basis=basis, facility_type=facility_type)
    ov.institutions = len(ua.facility_rates(month, basis=basis, facility_type=facility_type))
    return ov


def trend_series(ua: UsageAnalytics, *, facility_type: str | None = None,
                 bases: tuple[str, ...] = ("online", "receipt", "kyokai"),
                 until: str | None = None) -> dict[str, list[tuple[str, float | None]]]:
    """One line per basis (a basis without data — e.g. no claim counts — is left out), up to the month ``until``
    (every month when None)."""
    where = {"facility_type": facility_type} if facility_type else None
    out = {}
    for b in bases:
        if b == "kyokai" and facility_type:
            continue
        rows = ua.rates(basis=b, by=("month",), where=where)
        pts = [(r.keys["month"], r.percent) for r in rows if r.keys["month"] and (until is None
                                                                                 or r.keys["month"] <= until)]
        if any(v is not None for _m, v in pts):
            out[BASIS_LABELS[b]] = pts
    return out


def chart_bytes(ua: UsageAnalytics, kind: str, *, fmt: str = "svg", month: str | None = None,
                basis: str = "online", facility_type: str | None = None, today: date | None = None) -> bytes:
    """The chart ``kind`` (trend | ranking | distribution) as SVG or PNG bytes (the trend up to the last
    complete month; cached while the data stay the same)."""
    months = ua.months()
    _check(basis, facility_type, month, months)
    month = month or default_month(months, today)
    counting = current_month(today)
    if kind not in ("trend", "ranking", "distribution"):
        raise ValueError("chart must be trend, ranking or distribution")
    return _cached(ua, ("chart", kind, fmt, month, basis, facility_type, counting),
                   lambda: _chart(ua, kind, fmt, month, basis, facility_type, counting))


def _chart(ua: UsageAnalytics, kind: str, fmt: str, month: str | None, basis: str, facility_type: str | None,
           counting: str) -> bytes:
    from onshi.analytics import charts

    scope = FACILITY_TYPES.get(facility_type or "", "全施設")
    if kind == "trend":
        complete = any(m < counting for m in ua.months())
        return charts.trend_chart(trend_series(ua, facility_type=facility_type,
                                               until=previous_month(counting) if complete else None),
                                  title=f"マイナ保険証利用率の推移 ({scope})", target=KYOKAI_TARGET, fmt=fmt)
    if month is None:
        raise ValueError("the verification log is empty")
    if kind == "ranking":
        rows = ua.prefecture_ranking(month, basis=basis, facility_type=facility_type)
        nat = ua.rate(basis=basis, months=[month], where={"facility_type": facility_type} if facility_type else None)
        return charts.ranking_chart([(r.prefecture, 100 * r.rate, r.top5, r.bottom5) for r in rows],
                                    title=f"都道府県別 利用率 {month} ({BASIS_LABELS[basis]}, {scope})",
                                    national=nat.percent, fmt=fmt)
    if kind == "distribution":
        values = {}
        for ft, label in FACILITY_TYPES.items():
            if facility_type and ft != facility_type:
                continue
            values[label] = [100 * r.rate for r in ua.facility_rates(month, basis=basis, facility_type=ft)
                             if r.rate is not None]
        return charts.distribution_chart(values, title=f"施設ごとの利用率の分布 {month} ({BASIS_LABELS[basis]})",
                                         fmt=fmt)
    raise ValueError("chart must be trend, ranking or distribution")


# ---------------------------------------------------------------------- incentives of one institution

def institution_incentives(ua: UsageAnalytics, institution: str, *,
                           billing_month: str | None = None) -> list[tuple[str, str]]:
    """What one institution qualifies for, computed from its log and claim counts, as ``(label, words)`` lines:
    the 2024 support money (two periods), the May–August 2024 lump sum, 医療DX推進体制整備加算 for a billing
    month (default: the month after the latest month in the log) and 医療情報取得加算.

    Rates for the support money and the lump sum are オン資-basis (the 2024 schemes were paid on them); the 医療DX
    tier uses the レセプト-basis rate where claim counts exist, else the オン資 basis, and says which.
    """
    from datetime import date

    from onshi.analytics import incentives as inc
    from onshi.rules.dated import NotInForce

    inst = ua.rates(by=("institution", "facility_type"), where={"institution": institution})
    if not inst:
        raise ValueError(f"医療機関コード {institution} の照会記録がありません (no verifications logged)")
    ftype = inst[0].keys["facility_type"]
    online = {r.keys["month"]: r for r in ua.rates(by=("month",), where={"institution": institution})}
    users = {r.keys["month"]: r for r in ua.rates(basis="receipt", by=("month",), where={"institution": institution})}
    out: list[tuple[str, str]] = []

    def pct(r) -> float | None:
        return None if r is None or r.rate is None else round(100 * r.rate, 2)

    base = online.get("2023-10")
    for label, months, any_day in (("支援金 2024年1〜5月", ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05"],
                                    date(2024, 1, 1)),
                                   ("支援金 2024年6〜11月", ["2024-06", "2024-07", "2024-08", "2024-09", "2024-10",
                                                          "2024-11"], date(2024, 6, 1))):
        rows = [online[m] for m in months if m in online]
        if base is None or base.rate is None or not rows:
            out.append((label, "2023年10月または対象期間の照会記録がないため算定できません"))
            continue
        card, total = sum(r.numerator for r in rows), sum(r.denominator for r in rows)
        s = inc.support_money_2024(period_month=any_day, october_2023_rate_pct=pct(base),
                                   period_average_rate_pct=round(100 * card / total, 2), card_uses=card)
        out.append((label, f"{s.amount_yen:,}円 — {s.reason}"))
    claims_oct = users.get("2023-10")
    if base is None or claims_oct is None or not claims_oct.denominator:
        out.append(("一時金 2024年5〜8月", "2023年10月の照会記録またはレセプト件数がないため算定できません"))
    else:
        monthly = {m: users[m].numerator for m in ("2024-05", "2024-06", "2024-07", "2024-08") if m in users}
        ls = inc.lump_sum_2024(facility_type=ftype, october_2023_rate_pct=pct(base),
                               october_2023_users=claims_oct.numerator, monthly_users=monthly,
                               october_2023_receipts=claims_oct.denominator)
        out.append(("一時金 2024年5〜8月", f"{ls.amount_yen:,}円 — {ls.reason}"))
    if billing_month is None:
        billing_month = next_month(max(online))
    bm = parse_month_key(billing_month)
    use_receipt = any(r.denominator for r in users.values())
    rates = {m: pct(r) for m, r in (users if use_receipt else online).items() if pct(r) is not None}
    basis = "レセプトベース" if use_receipt else "オン資ベース"
    try:
        tier = inc.dx_promotion_tier_from_rates(billing_month=bm, monthly_rates_pct=rates)
        out.append((f"医療DX推進体制整備加算 {billing_month}", f"{tier.label or '算定なし'} {tier.points}点 — "
                                                        f"{tier.reason}（{basis}の利用率）"))
    except (NotInForce, LookupError, ValueError) as exc:
        out.append((f"医療DX推進体制整備加算 {billing_month}", f"算定できません: {exc}"))
    try:
        info = [inc.medical_information_points(visit_date=bm, with_my_number_card=c) for c in (True, False)]
        out.append((f"医療情報取得加算 {billing_month}", f"初診 マイナ保険証あり {info[0].points}点 / なし "
                                                 f"{info[1].points}点"))
    except (NotInForce, ValueError) as exc:
        out.append((f"医療情報取得加算 {billing_month}", f"算定できません: {exc}"))
    return out
