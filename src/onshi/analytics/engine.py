"""The analytics engine: DuckDB over the verification log, read from Parquet exports or from the database.

Everything the dashboards show is a sum over one small table, the **institution-month aggregate**: for each
month of care, institution, insurer and setting (入院・外来), the number of online verifications
(オンライン資格確認利用件数), of card verifications (マイナ保険証利用件数: the card or its certificate on a
smartphone, methods ``card`` and ``smartphone``), of distinct card users (マイナ保険証利用人数, counted per
institution and month — the unit of a レセプト) and, of the card verifications, those by smartphone
(``smartphone``: the breakdown of :meth:`onshi.analytics.usage.UsageAnalytics.credential_breakdown`).  Where it comes from:

* :class:`ParquetLog` — DuckDB reads ``month=YYYY-MM/*.parquet`` files written by :mod:`onshi.analytics.export`
  (hive partitions, so a month filter reads only that month's files).  This is the path for national volume.
* :class:`DatabaseLog` — the database groups ``verification_log`` itself (one ``GROUP BY`` on SQLite or
  PostgreSQL) and hands DuckDB the aggregate, so no raw row leaves the database.

Both give DuckDB a relation named ``agg`` with the columns of :data:`AGG_COLUMNS`; rates, rankings and
distributions are SQL over ``agg`` joined with the claim counts and institutions (:mod:`onshi.analytics.usage`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

AGG_COLUMNS = ("month", "institution_code", "prefecture_code", "facility_type", "insurer_number", "setting",
               "online", "card", "card_users", "smartphone")

#: the usage-log methods that are マイナ保険証 verifications (the card, or its certificate on a smartphone)
CARD_METHODS = ("card", "smartphone")

#: The Parquet schema of an exported log row (``month`` is the hive partition, not a column in the files).
LOG_SCHEMA = pa.schema([
    ("occurred_at", pa.timestamp("us")),
    ("care_date", pa.date32()),
    ("institution_code", pa.string()),
    ("prefecture_code", pa.string()),
    ("facility_type", pa.string()),
    ("method", pa.string()),
    ("validity", pa.int8()),
    ("insurer_number", pa.string()),
    ("setting", pa.string()),
    ("patient_key", pa.string()),
])


def connect(memory_limit: str | None = None, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection (nothing is written anywhere)."""
    con = duckdb.connect(":memory:")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def month_list(months: Iterable[str] | None) -> list[str] | None:
    """``months`` sorted and without repeats, each checked to be ``YYYY-MM`` (None stays None)."""
    if months is None:
        return None
    out = sorted(set(months))
    for m in out:
        if len(m) != 7 or m[4] != "-" or not (m[:4] + m[5:]).isdigit():
            raise ValueError(f"month must be YYYY-MM, not {m!r}")
    return out


@dataclass
class ParquetLog:
    """The verification log exported as Parquet under ``root`` (``root/month=YYYY-MM/part-N.parquet``)."""

    root: Path

    AGGREGATE_SQL = """
        SELECT CAST(month AS VARCHAR) AS month, institution_code, prefecture_code, facility_type,
               coalesce(insurer_number, '') AS insurer_number, setting,
               count(*) AS online, count(*) FILTER (WHERE method IN ('card', 'smartphone')) AS card,
               count(DISTINCT CASE WHEN method IN ('card', 'smartphone') THEN patient_key END) AS card_users,
               count(*) FILTER (WHERE method = 'smartphone') AS smartphone
        FROM {source}
        GROUP BY ALL"""
    EMPTY = ("(SELECT NULL::VARCHAR AS month, NULL::VARCHAR AS institution_code, NULL::VARCHAR AS "
             "prefecture_code, NULL::VARCHAR AS facility_type, NULL::VARCHAR AS method, NULL::VARCHAR AS "
             "insurer_number, NULL::VARCHAR AS setting, NULL::VARCHAR AS patient_key WHERE false)")

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    def files_sql(self, months: list[str] | None) -> str:
        dirs = self.months() if months is None else months
        globs = ", ".join(f"'{self.root.as_posix()}/month={m}/*.parquet'" for m in dirs
                          if any((self.root / f"month={m}").glob("*.parquet")))
        if not globs:
            return self.EMPTY
        return f"read_parquet([{globs}], hive_partitioning = true)"

    def months(self, con: duckdb.DuckDBPyConnection | None = None) -> list[str]:
        return sorted(p.name.split("=", 1)[1] for p in self.root.glob("month=*") if p.is_dir())

    def register(self, con: duckdb.DuckDBPyConnection, months: Iterable[str] | None = None, *,
                 with_users: bool = True) -> None:
        months_ = month_list(months)
        if not with_users:
            # counts only (the オン資 basis): no grouping here — the rate query's own GROUP BY then runs straight
            # over the files, as fast as a hand-written one (bench/bench_analytics.py)
            con.execute(f"""
                CREATE OR REPLACE TEMP VIEW agg AS
                SELECT CAST(month AS VARCHAR) AS month, institution_code, prefecture_code, facility_type,
                       coalesce(insurer_number, '') AS insurer_number, setting,
                       1 AS online, CAST(method IN ('card', 'smartphone') AS INTEGER) AS card,
                       CAST(NULL AS BIGINT) AS card_users, CAST(method = 'smartphone' AS INTEGER) AS smartphone
                FROM {self.files_sql(months_)}
            """)
            return
        # the aggregate written at export time where every asked month has one; else counted from the log
        wanted = self.months() if months_ is None else months_
        done = [self.root / "aggregate" / f"month={m}" / "aggregate.parquet" for m in wanted]
        if done and all(p.is_file() for p in done):
            files = ", ".join(f"'{p.as_posix()}'" for p in done)
            con.execute(f"CREATE OR REPLACE TEMP VIEW agg AS SELECT * FROM read_parquet([{files}])")
            return
        con.execute("CREATE OR REPLACE TEMP VIEW agg AS "
                    + self.AGGREGATE_SQL.format(source=self.files_sql(months_)))


@dataclass
class DatabaseLog:
    """The verification log in the database (SQLite or PostgreSQL); the database does the grouping."""

    engine: object
    _cache: dict = field(default_factory=dict, repr=False)

    def _month_expr(self):
        return log_month_expr(self.engine.dialect.name)

    def months(self, con: duckdb.DuckDBPyConnection | None = None) -> list[str]:
        from sqlalchemy import select

        month = self._month_expr()
        with self.engine.connect() as c:
            return [m for (m,) in c.execute(select(month).distinct().order_by(month)) if m]

    def aggregate(self, months: Iterable[str] | None = None) -> pa.Table:
        months_ = month_list(months)
        lo = hi = None
        if months_ is not None:
            from onshi.rules.calendar import month_bounds

            lo, hi = month_bounds(months_[0])[0], month_bounds(months_[-1])[1]
        stmt = aggregate_select(self.engine.dialect.name, lo, hi)
        with self.engine.connect() as c:
            rows = c.execute(stmt).all()
        if months_ is not None:
            keep = set(months_)
            rows = [r for r in rows if r[0] in keep]
        return arrow_aggregate(rows)

    def register(self, con: duckdb.DuckDBPyConnection, months: Iterable[str] | None = None, *,
                 with_users: bool = True) -> None:
        """Registers the aggregate of *every* month (queries filter by month): it is small, and it is cached
        until the log changes (a new row, or rows removed and written again)."""
        from sqlalchemy import case, func, select

        from onshi.verify.models import VerificationLogEntry as L

        with self.engine.connect() as c:
            # a fingerprint of the log: one scan, no grouping (rows removed and written again change it too)
            stamp = tuple(c.execute(select(
                func.max(L.id), func.min(L.id), func.count(L.id), func.sum(L.validity),
                func.sum(case((L.method.in_(CARD_METHODS), L.id), else_=0)),
                func.sum(case((L.method == "smartphone", L.id), else_=0)), func.max(L.occurred_at),
                func.min(L.care_date), func.max(L.care_date))).one())
        key = (str(self.engine.url), stamp)
        table = _AGG_CACHE.get(key)
        if table is None:
            table = self.aggregate(None)
            _AGG_CACHE.clear()
            _AGG_CACHE[key] = table
        con.register("agg_arrow", table)
        con.execute("CREATE OR REPLACE TEMP VIEW agg AS SELECT * FROM agg_arrow")


def arrow_aggregate(rows) -> pa.Table:
    """Rows of :data:`AGG_COLUMNS` (tuples, in that order) as the Arrow table DuckDB reads as ``agg``."""
    cols = list(zip(*rows)) if rows else [[] for _ in AGG_COLUMNS]
    return pa.table({
        "month": pa.array(cols[0], pa.string()), "institution_code": pa.array(cols[1], pa.string()),
        "prefecture_code": pa.array(cols[2], pa.string()), "facility_type": pa.array(cols[3], pa.string()),
        "insurer_number": pa.array(cols[4], pa.string()), "setting": pa.array(cols[5], pa.string()),
        "online": pa.array([int(v) for v in cols[6]], pa.int64()),
        "card": pa.array([int(v or 0) for v in cols[7]], pa.int64()),
        "card_users": pa.array([int(v or 0) for v in cols[8]], pa.int64()),
        "smartphone": pa.array([int(v or 0) for v in cols[9]], pa.int64()),
    })


def log_month_expr(dialect: str):
    """The month of care (``YYYY-MM``) of a ``verification_log`` row, as SQL of the given dialect."""
    from sqlalchemy import func

    from onshi.verify.models import VerificationLogEntry as L

    if dialect == "sqlite":
        return func.strftime("%Y-%m", L.care_date)
    return func.to_char(L.care_date, "YYYY-MM")


def aggregate_select(dialect: str, lo=None, hi=None):
    """The log grouped into :data:`AGG_COLUMNS` (month, institution, prefecture, facility type, insurer, setting;
    online, card, card users, smartphone), for days of care in ``[lo, hi)`` (every day when None): the one
    definition of the aggregate, read whole by :meth:`DatabaseLog.aggregate` and month by month by
    :mod:`onshi.analytics.aggregate`."""
    from sqlalchemy import case, func, select, text

    from onshi.verify.models import VerificationLogEntry as L

    month = log_month_expr(dialect).label("month")
    by_card = L.method.in_(CARD_METHODS)
    card = case((by_card, 1), else_=0)
    stmt = (select(month, L.institution_code, L.prefecture_code, L.facility_type,
                   func.coalesce(L.insurer_number, "").label("insurer_number"), L.setting,
                   func.count().label("online"), func.coalesce(func.sum(card), 0).label("card"),
                   func.count(func.distinct(case((by_card, L.patient_key)))).label("card_users"),
                   func.coalesce(func.sum(case((L.method == "smartphone", 1), else_=0)), 0).label("smartphone"))
            .group_by(text("1, 2, 3, 4, 5, 6")))  # by position: PostgreSQL sees the same expressions
    if lo is not None:
        stmt = stmt.where(L.care_date >= lo)
    if hi is not None:
        stmt = stmt.where(L.care_date < hi)
    return stmt


LogSource = ParquetLog | DatabaseLog
_AGG_CACHE: dict[tuple, pa.Table] = {}


def register_claims(con: duckdb.DuckDBPyConnection, engine, version: tuple | None = None) -> None:
    """The imported claim counts (``claim_counts``) as the DuckDB relation ``claims``; with ``version`` (a key
    that changes whenever the claim counts do: :func:`onshi.analytics.aggregate.claims_version`) the Arrow table
    is kept for the next read of the same version."""
    from sqlalchemy import select

    from onshi.analytics.models import ClaimCount as C

    key = (str(engine.url), version)
    table = _CLAIMS_CACHE.get(key) if version is not None else None
    if table is None:
        with engine.connect() as c:
            rows = c.execute(select(C.institution_code, C.month, C.setting, C.insurer_number, C.claims)).all()
        cols = list(zip(*rows)) if rows else [[] for _ in range(5)]
        table = pa.table({
            "institution_code": pa.array(cols[0], pa.string()), "month": pa.array(cols[1], pa.string()),
            "setting": pa.array(cols[2], pa.string()), "insurer_number": pa.array(cols[3], pa.string()),
            "claims": pa.array(cols[4], pa.int64())})
        if version is not None:
            _CLAIMS_CACHE.clear()
            _CLAIMS_CACHE[key] = table
    con.register("claims_arrow", table)
    con.execute("CREATE OR REPLACE TEMP VIEW claims AS SELECT * FROM claims_arrow")


_CLAIMS_CACHE: dict[tuple, pa.Table] = {}


def register_institutions(con: duckdb.DuckDBPyConnection, engine) -> None:
    """Institutions (code, name, prefecture, facility type) as the DuckDB relation ``institutions``."""
    from sqlalchemy import select

    from onshi.verify.models import Institution as I

    with engine.connect() as c:
        rows = c.execute(select(I.code, I.name, I.prefecture_code, I.facility_type)).all()
    cols = list(zip(*rows)) if rows else [[] for _ in range(4)]
    con.register("institutions_arrow", pa.table({
        "institution_code": pa.array(cols[0], pa.string()), "name": pa.array(cols[1], pa.string()),
        "prefecture_code": pa.array(cols[2], pa.string()), "facility_type": pa.array(cols[3], pa.string())}))
    con.execute("CREATE OR REPLACE TEMP VIEW institutions AS SELECT * FROM institutions_arrow")
