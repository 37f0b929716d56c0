"""The generic share (ジェネリック医薬品使用割合, 数量ベース) per 支部, institution and month — DuckDB over the
claim lines, the same engine as the usage analytics (:mod:`onshi.analytics.engine`'s pattern: the database groups,
DuckDB computes over the small aggregate; or DuckDB reads Parquet exports of the lines for national volume).

The aggregate ``generic_agg`` has one row per month, institution and insurer: ``generic_qty`` (quantity of
generics) and ``brand_qty`` (quantity of brands *that have a generic*); brands without a generic and procedures do
not count.  Share = generic_qty ÷ (generic_qty + brand_qty) × 100 (:func:`onshi.rules.claims.generic_share`, its
source there).  The 支部 of a 協会けんぽ insurer is the prefecture in its number (digits 3–4), as the KPI actuals.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
from sqlalchemy import Numeric, case, cast, func, select

from onshi.claims.models import Claim, ClaimLine
from onshi.rules.calendar import fiscal_year_months
from onshi.rules.claims import generic_share

#: the groupings :func:`generic_shares` answers
GROUPINGS = {"branch": "substr(insurer_number, 3, 2)", "institution": "institution_code", "month": "month",
             "branch_month": "substr(insurer_number, 3, 2) || ' ' || month"}

SHARE_SQL = """
    SELECT {key} AS key, sum(generic_qty) AS generic_qty, sum(brand_qty) AS brand_qty,
           round(100 * sum(generic_qty) / nullif(sum(generic_qty) + sum(brand_qty), 0), 2) AS share
    FROM generic_agg {where}
    GROUP BY ALL ORDER BY key"""

#: the same columns over Parquet files of claim lines (columns month, institution_code, insurer_number, quantity,
#: generic, generic_exists) — the national-volume path (bench/bench_claims.py): one row per counted line, not
#: pre-grouped, so that :data:`SHARE_SQL` groups the lines once, straight by the key asked for.  (Pre-grouping by
#: month × institution × insurer first, as the database path does, made a second GROUP BY of millions of groups:
#: 5.4× a plain GROUP BY by 支部 at 100 million lines — docs/performance.md.)  ELSE 0, not NULL: a key with generics only
#: (or brands only) has a share of 100 (or 0), not "nothing counted" (the pre-grouped view answered None there).
PARQUET_AGG_SQL = """
    CREATE OR REPLACE TEMP VIEW generic_agg AS
    SELECT CAST(month AS VARCHAR) AS month, institution_code, insurer_number,
           CASE WHEN generic THEN quantity ELSE 0 END AS generic_qty,
           CASE WHEN NOT generic AND generic_exists THEN quantity ELSE 0 END AS brand_qty
    FROM read_parquet('{glob}', hive_partitioning = true)
    WHERE generic OR generic_exists"""


def aggregate(engine, months: list[str] | None = None) -> pa.Table:
    """The database's GROUP BY of the drug lines (SQLite or PostgreSQL) as an Arrow table."""
    qty = cast(ClaimLine.quantity, Numeric(18, 3))
    stmt = (select(Claim.month, Claim.institution_code, Claim.insurer_number,
                   func.sum(case((ClaimLine.generic, qty), else_=0)).label("g"),
                   func.sum(case((~ClaimLine.generic & ClaimLine.generic_exists, qty), else_=0)).label("b"))
            .join(Claim, Claim.id == ClaimLine.claim_id)
            .where(ClaimLine.kind == "drug", ClaimLine.generic | ClaimLine.generic_exists)
            .group_by(Claim.month, Claim.institution_code, Claim.insurer_number))
    if months is not None:
        stmt = stmt.where(Claim.month.in_(months))
    with engine.connect() as c:
        rows = c.execute(stmt).all()
    cols = list(zip(*rows)) if rows else [[], [], [], [], []]
    return pa.table({"month": pa.array(cols[0], pa.string()), "institution_code": pa.array(cols[1], pa.string()),
                     "insurer_number": pa.array(cols[2], pa.string()),
                     "generic_qty": pa.array([float(v or 0) for v in cols[3]], pa.float64()),
                     "brand_qty": pa.array([float(v or 0) for v in cols[4]], pa.float64())})


def register_database(con: duckdb.DuckDBPyConnection, engine, months: list[str] | None = None) -> None:
    con.register("generic_arrow", aggregate(engine, months))
    con.execute("CREATE OR REPLACE TEMP VIEW generic_agg AS SELECT * FROM generic_arrow")


def register_parquet(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    con.execute(PARQUET_AGG_SQL.format(glob=f"{Path(root).as_posix()}/**/*.parquet"))


def generic_shares(con: duckdb.DuckDBPyConnection, by: str, *, months: list[str] | None = None,
                   branch: str | None = None) -> list[dict]:
    """``[{key, generic_qty, brand_qty, share}]`` over the registered ``generic_agg`` grouped *by* (one of
    :data:`GROUPINGS`), optionally for some months and one 支部; share None where nothing counted."""
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {', '.join(GROUPINGS)}, not {by!r}")
    conds, params = [], []
    if months is not None:
        conds.append("month IN (SELECT unnest(?))")
        params.append(list(months))
    if branch is not None:
        conds.append("substr(insurer_number, 3, 2) = ?")
        params.append(branch)
    where = ("WHERE " + " AND ".join(conds)) if conds else ""
    rows = con.execute(SHARE_SQL.format(key=GROUPINGS[by], where=where), params).fetchall()
    return [{"key": k, "generic_qty": float(g or 0), "brand_qty": float(b or 0),
             "share": None if s is None else float(s)} for k, g, b, s in rows]


def generic_share_kpi(engine, fiscal_year: int, branch: str = "00") -> float | None:
    """The fiscal year's generic share for a 支部 (``"00"``: every insurer), in %; None without drug lines."""
    con = duckdb.connect(":memory:")
    months = fiscal_year_months(fiscal_year)
    register_database(con, engine, months)
    rows = generic_shares(con, "month", months=months, branch=None if branch == "00" else branch)
    return generic_share(sum(r["generic_qty"] for r in rows), sum(r["brand_qty"] for r in rows))
