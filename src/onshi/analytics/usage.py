"""マイナ保険証利用率 — the usage rates, by month, prefecture, facility type, institution and insurer.

Three definitions (shared/reference/insurance-rules.md, "Usage rates and incentives"):

* ``online`` — **オン資 basis**: マイナ保険証利用件数 ÷ オンライン資格確認利用件数 (card verifications over all
  online verifications; seed 003's prefecture tables);
* ``receipt`` — **レセプト basis**: マイナ保険証利用人数 ÷ レセプト件数 (distinct card users per institution and month
  over the claim counts imported with :mod:`onshi.analytics.claims`);
* ``kyokai`` — **協会けんぽ's KPI** (seed 000): 外来 card users ÷ 外来 claims, for members of 協会けんぽ
  (法別番号 01) only, per insurer number (= 支部) — it needs claim counts per insurer.

All of it is SQL in DuckDB over the institution-month aggregate (:mod:`onshi.analytics.engine`): by default the
one kept in the database by :mod:`onshi.analytics.aggregate` (``usage_months``), or the reference
(:class:`~onshi.analytics.engine.DatabaseLog`, the log grouped at each read) or Parquet exports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from onshi.analytics.aggregate import AggregateLog
from onshi.analytics.engine import DatabaseLog, LogSource, ParquetLog, connect, register_claims, register_institutions
from onshi.analytics.kpi_actuals import (certificate_next_business_day, claims_actuals, mail_application,
                                         registration_within_5_days, service_standard)
from onshi.numbers.prefectures import PREFECTURES
from onshi.rules.calendar import fiscal_year_months, month_range, previous_month

__all__ = ["BASES", "CredentialShare", "DIMENSIONS", "FACILITY_TYPES", "AnalyticsError", "RankingRow", "Rate", "UsageAnalytics",
           "month_range", "previous_month", "system_actuals", "usage_rate_kpi"]

BASES = {
    "online": "オン資ベース (マイナ保険証利用件数 ÷ オンライン資格確認利用件数)",
    "receipt": "レセプトベース (マイナ保険証利用人数 ÷ レセプト件数)",
    "kyokai": "協会けんぽ KPI (外来のマイナ保険証利用人数 ÷ 外来レセプト件数)",
}

FACILITY_TYPES = {"hospital": "病院", "clinic": "医科診療所", "dental": "歯科", "pharmacy": "薬局"}

#: Dimensions a rate can be broken down by → the SQL expression over ``agg`` (the log side).
DIMENSIONS = {
    "month": "month",
    "prefecture": "prefecture_code",
    "facility_type": "facility_type",
    "institution": "institution_code",
    "insurer": "insurer_number",
    "branch": "substr(insurer_number, 3, 2)",
    "setting": "setting",
}
#: The same dimensions on the claim side (``claims`` joined with ``institutions``); None = not available there.
_CLAIM_DIMENSIONS = {
    "month": "c.month", "prefecture": "i.prefecture_code", "facility_type": "i.facility_type",
    "institution": "c.institution_code", "insurer": "c.insurer_number", "branch": "substr(c.insurer_number, 3, 2)",
    "setting": "c.setting",
}

KYOKAI_LAW_NUMBER = "01"  # 法別番号 of 全国健康保険協会管掌健康保険


class AnalyticsError(ValueError):
    """A question the data cannot answer as asked (unknown basis or dimension, missing claim counts)."""


@dataclass(frozen=True)
class Rate:
    """One cell of a usage-rate table: the breakdown keys, numerator, denominator and the rate (None if 0/0)."""

    keys: dict
    numerator: int
    denominator: int

    @property
    def rate(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def percent(self) -> float | None:
        r = self.rate
        return None if r is None else round(100 * r, 2)


@dataclass(frozen=True)
class RankingRow:
    """A row of the prefecture ranking (seed 003): rank, previous month's rank, rate and change in %pt."""

    rank: int
    previous_rank: int | None
    prefecture_code: str
    prefecture: str
    rate: float | None
    previous_rate: float | None
    numerator: int
    denominator: int
    top5: bool
    bottom5: bool

    @property
    def change_pt(self) -> float | None:
        if self.rate is None or self.previous_rate is None:
            return None
        return round(100 * (self.rate - self.previous_rate), 2)


@dataclass(frozen=True)
class CredentialShare:
    """マイナ保険証 verifications of one cell by credential: the card, the smartphone; ``online`` is every online
    verification of the cell (numbers too)."""

    keys: dict
    online: int
    card: int
    smartphone: int

    @property
    def smartphone_share(self) -> float | None:
        """Smartphone verifications ÷ マイナ保険証 verifications (card + smartphone), None when there were none."""
        total = self.card + self.smartphone
        return self.smartphone / total if total else None


class UsageAnalytics:
    """Usage rates over one log source (database or Parquet) and the claim counts in the database.

    >>> # see tests/analytics/test_usage.py for worked examples
    """

    def __init__(self, engine=None, source: LogSource | AggregateLog | None = None, *,
                 memory_limit: str | None = None,
                 threads: int | None = None):
        if engine is None:
            from onshi.store.db import default_engine

            engine = default_engine()
        self.engine = engine
        self.source = source or AggregateLog(engine)
        self.con: duckdb.DuckDBPyConnection = connect(memory_limit, threads)
        self._registered: tuple | None = None
        self._claims = False

    @classmethod
    def over_parquet(cls, root: Path | str, engine=None, **kw) -> UsageAnalytics:
        return cls(engine, ParquetLog(Path(root)), **kw)

    # ------------------------------------------------------------------ plumbing
    def data_version(self) -> tuple | None:
        """A key that changes whenever the figures can (the log through the aggregate's watermark, the claim
        counts); None for a source that cannot say (Parquet, the reference) — nothing drawn from it is cached."""
        return self.source.version() if isinstance(self.source, AggregateLog) else None

    def months(self) -> list[str]:
        """Months of care that have any verification in the log."""
        return self.source.months(self.con)

    def _prepare(self, months: Sequence[str] | None, with_users: bool) -> None:
        if isinstance(self.source, (DatabaseLog, AggregateLog)):
            months, with_users = None, True  # the database aggregate holds every month (and is cached)
        key = (tuple(months) if months is not None else None, with_users)
        if self._registered != key:
            self.source.register(self.con, months, with_users=with_users)
            self._registered = key

    def _prepare_claims(self) -> None:
        if not self._claims:
            register_claims(self.con, self.engine, self.data_version())
            register_institutions(self.con, self.engine)
            self._claims = True

    @staticmethod
    def _dims(by: Iterable[str]) -> list[str]:
        dims = list(by)
        for d in dims:
            if d not in DIMENSIONS:
                raise AnalyticsError(f"unknown breakdown {d!r}: use {', '.join(DIMENSIONS)}")
        return dims

    # ------------------------------------------------------------------ rates
    def rates(self, *, basis: str = "online", by: Iterable[str] = ("month",),
              months: Sequence[str] | None = None, where: dict | None = None) -> list[Rate]:
        """Usage rates broken down ``by`` the given dimensions, for ``months`` (all when None).

        ``where`` filters on dimensions, e.g. ``{"facility_type": "hospital"}``.
        """
        if basis not in BASES:
            raise AnalyticsError(f"unknown basis {basis!r}: use {', '.join(BASES)}")
        dims = self._dims(by)
        where = dict(where or {})
        self._dims(where)
        self._prepare(months, with_users=basis != "online")
        params: list = []

        def filters(exprs: dict, with_months: bool = True) -> str:
            parts = []
            for d, v in where.items():
                parts.append(f"{exprs[d]} = ?")
                params.append(v)
            if with_months and months is not None:
                parts.append(f"{exprs['month']} IN ({', '.join('?' for _ in months)})")
                params.extend(months)
            return "".join(f" AND {p}" for p in parts)

        if basis == "online":
            sel = ", ".join(f"{DIMENSIONS[d]} AS {d}" for d in dims)
            sql = (f"SELECT {sel + ', ' if sel else ''}sum(card) AS num, sum(online) AS den FROM agg "
                   f"WHERE true{filters(DIMENSIONS)}"
                   + (f" GROUP BY {', '.join(DIMENSIONS[d] for d in dims)}" if dims else ""))
            rows = self.con.execute(sql, params).fetchall()
        else:
            self._prepare_claims()
            if basis == "receipt":
                if "insurer" in dims or "branch" in dims or "insurer" in where or "branch" in where:
                    raise AnalyticsError("the レセプト basis has institution totals only; use basis 'kyokai' "
                                         "for a breakdown by insurer")
                log_filter, claim_filter = "true", "c.insurer_number = ''"
            else:  # kyokai
                # 8-digit numbers with 法別番号 01 (a 6-digit 国保 number of Hokkaido also starts with 01)
                log_filter = (f"setting = 'outpatient' AND length(insurer_number) = 8 "
                              f"AND substr(insurer_number, 1, 2) = '{KYOKAI_LAW_NUMBER}'")
                claim_filter = (f"c.setting = 'outpatient' AND length(c.insurer_number) = 8 "
                                f"AND substr(c.insurer_number, 1, 2) = '{KYOKAI_LAW_NUMBER}'")
            lsel = ", ".join(f"{DIMENSIONS[d]} AS {d}" for d in dims)
            csel = ", ".join(f"{_CLAIM_DIMENSIONS[d]} AS {d}" for d in dims)
            lgroup = f" GROUP BY {', '.join(DIMENSIONS[d] for d in dims)}" if dims else ""
            cgroup = f" GROUP BY {', '.join(_CLAIM_DIMENSIONS[d] for d in dims)}" if dims else ""
            lwhere = filters(DIMENSIONS)
            lparams = list(params)
            params.clear()
            cwhere = filters(_CLAIM_DIMENSIONS)
            cparams = list(params)
            key_cols = ", ".join(dims)
            joined = (f"USING ({key_cols})" if dims else "ON true")
            sql = f"""
                WITH l AS (SELECT {lsel + ', ' if lsel else ''}sum(card_users) AS num FROM agg
                           WHERE {log_filter}{lwhere}{lgroup}),
                     c AS (SELECT {csel + ', ' if csel else ''}sum(c.claims) AS den
                           FROM claims c LEFT JOIN institutions i USING (institution_code)
                           WHERE {claim_filter}{cwhere}{cgroup})
                SELECT {key_cols + ', ' if dims else ''}coalesce(l.num, 0), coalesce(c.den, 0)
                FROM l FULL OUTER JOIN c {joined}
            """
            rows = self.con.execute(sql, lparams + cparams).fetchall()
        out = [Rate(dict(zip(dims, r[:len(dims)])), int(r[len(dims)] or 0), int(r[len(dims) + 1] or 0))
               for r in rows]
        out.sort(key=lambda x: tuple("" if v is None else str(v) for v in x.keys.values()))
        return out

    def credential_breakdown(self, *, by: Iterable[str] = ("month",), months: Sequence[str] | None = None,
                             where: dict | None = None) -> list[CredentialShare]:
        """マイナ保険証 verifications split by credential — the card itself or its certificate on a smartphone
        (スマホ搭載マイナ保険証, usage-log method ``smartphone``) — broken down ``by`` dimensions (オン資 basis:
        counts of verifications; both count as マイナ保険証利用 in :meth:`rates`)."""
        dims = self._dims(by)
        where = dict(where or {})
        self._dims(where)
        self._prepare(months, with_users=False)
        params: list = []
        parts = []
        for d, v in where.items():
            parts.append(f"{DIMENSIONS[d]} = ?")
            params.append(v)
        if months is not None:
            parts.append(f"month IN ({', '.join('?' for _ in months)})")
            params.extend(months)
        sel = ", ".join(f"{DIMENSIONS[d]} AS {d}" for d in dims)
        sql = (f"SELECT {sel + ', ' if sel else ''}sum(online), sum(card), sum(smartphone) FROM agg "
               f"WHERE true{''.join(f' AND {p}' for p in parts)}"
               + (f" GROUP BY {', '.join(DIMENSIONS[d] for d in dims)}" if dims else ""))
        out = []
        for r in self.con.execute(sql, params).fetchall():
            online, card, phone = (int(v or 0) for v in r[len(dims):])
            out.append(CredentialShare(dict(zip(dims, r[:len(dims)])), online, card - phone, phone))
        out.sort(key=lambda x: tuple("" if v is None else str(v) for v in x.keys.values()))
        return out

    def rate(self, *, basis: str = "online", months: Sequence[str] | None = None,
             where: dict | None = None) -> Rate:
        """One overall rate (no breakdown)."""
        rows = self.rates(basis=basis, by=(), months=months, where=where)
        return rows[0] if rows else Rate({}, 0, 0)

    # ------------------------------------------------------------------ tables of seed 003
    def prefecture_ranking(self, month: str, *, basis: str = "online",
                           facility_type: str | None = None) -> list[RankingRow]:
        """The prefecture ranking of one month: rate, change from the previous month in %pt, rank and the
        previous month's rank; the top and bottom five flagged (seed 003's tables).  Prefectures without
        data are left out."""
        prev = previous_month(month)
        where = {"facility_type": facility_type} if facility_type else None
        rows = self.rates(basis=basis, by=("month", "prefecture"), months=[prev, month], where=where)
        now = {r.keys["prefecture"]: r for r in rows if r.keys["month"] == month and r.rate is not None}
        before = {r.keys["prefecture"]: r for r in rows if r.keys["month"] == prev and r.rate is not None}

        def ranks(d: dict) -> dict[str, int]:
            order = sorted(d, key=lambda p: (-d[p].rate, p))
            return {p: i + 1 for i, p in enumerate(order)}

        rank_now, rank_before = ranks(now), ranks(before)
        n = len(rank_now)
        out = []
        for p, rk in sorted(rank_now.items(), key=lambda kv: kv[1]):
            r = now[p]
            out.append(RankingRow(rank=rk, previous_rank=rank_before.get(p), prefecture_code=p,
                                  prefecture=PREFECTURES.get(p, p), rate=r.rate,
                                  previous_rate=before[p].rate if p in before else None,
                                  numerator=r.numerator, denominator=r.denominator,
                                  top5=rk <= 5, bottom5=n > 5 and rk > n - 5))
        return out

    def facility_rates(self, month: str, *, basis: str = "online", facility_type: str | None = None,
                       min_denominator: int = 1) -> list[Rate]:
        """Each institution's rate in one month (for the distribution of facility rates)."""
        where = {"facility_type": facility_type} if facility_type else None
        rows = self.rates(basis=basis, by=("institution",), months=[month], where=where)
        return [r for r in rows if r.denominator >= min_denominator]

    def close(self) -> None:
        self.con.close()


# ---------------------------------------------------------------------- figures for the KPIs

def usage_rate_kpi(engine, fiscal_year: int, branch: str = "00", *, ua: UsageAnalytics | None = None) -> float | None:
    """協会けんぽ's KPI for a fiscal year: the 外来 rate of the fiscal year's last month with data (seed 000
    reports the rate of the year's last month, e.g. 30.50% for March 2025), nationwide (``"00"``) or one 支部
    (the prefecture digits of the 保険者番号).  None without 外来 claim counts per insurer — the KPI is never
    silently computed on another basis.  *ua*: an open :class:`UsageAnalytics` to read with (the KPI page asks for
    two fiscal years from one; the caller closes it)."""
    own = ua is None
    ua = UsageAnalytics(engine) if own else ua
    try:
        months = fiscal_year_months(fiscal_year)
        where = {"branch": branch} if branch != "00" else None
        rows = [r for r in ua.rates(basis="kyokai", by=("month",), months=months, where=where) if r.rate is not None]
        return round(100 * rows[-1].rate, 2) if rows else None
    finally:
        if own:
            ua.close()


def system_actuals(session, fiscal_year: int, branch: str = "00") -> dict[str, float]:
    """Every KPI actual the system computes for the fiscal year and branch, keyed by the catalogue's
    ``computed_by``: the usage rate (:func:`usage_rate_kpi`) and the figures of :mod:`onshi.analytics.kpi_actuals`;
    a figure without data is absent (never 0)."""
    values = {
        "usage_rate": usage_rate_kpi(session.get_bind(), fiscal_year, branch),
        "registration_within_5_days": registration_within_5_days(session, fiscal_year, branch),
        "certificate_next_business_day": certificate_next_business_day(session, fiscal_year, branch),
        **claims_actuals(session, fiscal_year, branch),
        "service_standard": service_standard(session, fiscal_year, branch),
        "mail_application": mail_application(session, fiscal_year, branch),
    }
    return {k: v for k, v in values.items() if v is not None}
