"""What the analytics page and the report charts show, assembled from :class:`~onshi.analytics.usage.UsageAnalytics`.

Kept apart from the routes so that the CLI (``onshi analytics chart``) and the web page draw the same charts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from onshi.analytics.usage import BASES, FACILITY_TYPES, Rate, RankingRow, UsageAnalytics, previous_month

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

    @property
    def change_pt(self) -> float | None:
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
             facility_type: str | None = None) -> Overview:
    months = ua.months()
    _check(basis, facility_type, month, months)
    month = month or (months[-1] if months else None)
    ov = Overview(months=months, month=month, basis=basis, facility_type=facility_type)
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
                 bases: tuple[str, ...] = ("online", "receipt", "kyokai")) -> dict[str, list[tuple[str, float | None]]]:
    """One line per basis (a basis without data — e.g. no claim counts — is left out)."""
    where = {"facility_type": facility_type} if facility_type else None
    out = {}
    for b in bases:
        if b == "kyokai" and facility_type:
            continue
        rows = ua.rates(basis=b, by=("month",), where=where)
        pts = [(r.keys["month"], r.percent) for r in rows if r.keys["month"]]
        if any(v is not None for _m, v in pts):
            out[BASIS_LABELS[b]] = pts
    return out


def chart_bytes(ua: UsageAnalytics, kind: str, *, fmt: str = "svg", month: str | None = None,
                basis: str = "online", facility_type: str | None = None) -> bytes:
    """The chart ``kind`` (trend | ranking | distribution) as SVG or PNG bytes."""
    from onshi.analytics import charts

    months = ua.months()
    _check(basis, facility_type, month, months)
    month = month or (months[-1] if months else None)
    scope = FACILITY_TYPES.get(facility_type or "", "全施設")
    if kind == "trend":
        return charts.trend_chart(trend_series(ua, facility_type=facility_type),
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
