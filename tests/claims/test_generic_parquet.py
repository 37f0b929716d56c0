"""The generic share over Parquet files of claim lines (``claims.generic.register_parquet``, the national-volume
path of bench/bench_claims.py --parquet-lines): the same formula as the database path — generics ÷ (generics +
brands that have a generic), brands without one and procedures not counted — by 支部, institution and month, with
the month and 支部 filters.  No database: DuckDB writes the files."""

from __future__ import annotations

import duckdb
import pytest

from onshi.claims import generic

# month, institution, insurer (支部 = digits 3–4), quantity, generic, generic_exists
LINES = [
    ("2025-04", "1310000011", "01130016", 30.0, True, True),     # generic
    ("2025-04", "1310000011", "01130016", 10.0, False, True),    # brand with a generic
    ("2025-04", "1310000011", "01130016", 50.0, False, False),   # brand without one: not counted
    ("2025-04", "1310000011", "01130016", 1.0, False, False),    # a procedure: not counted
    ("2025-05", "1310000011", "01130016", 5.0, False, True),     # brand with a generic, May
    ("2025-05", "2710000022", "01270016", 2.5, True, True),      # Osaka: generics only
    ("2025-05", "2710000022", "01270016", 4.0, False, False),
]


@pytest.fixture
def parquet(tmp_path):
    con = duckdb.connect(":memory:")
    con.execute("CREATE TABLE l (month VARCHAR, institution_code VARCHAR, insurer_number VARCHAR, quantity DOUBLE, "
                "generic BOOLEAN, generic_exists BOOLEAN)")
    con.executemany("INSERT INTO l VALUES (?, ?, ?, ?, ?, ?)", LINES)
    con.execute(f"COPY l TO '{tmp_path.as_posix()}/lines' (FORMAT parquet, PARTITION_BY (month))")
    con.close()
    c = duckdb.connect(":memory:")
    generic.register_parquet(c, tmp_path / "lines")
    return c


def test_the_share_by_branch_institution_and_month(parquet):
    by_branch = {r["key"]: (r["generic_qty"], r["brand_qty"], r["share"])
                 for r in generic.generic_shares(parquet, "branch")}
    assert by_branch == {"13": (30.0, 15.0, 66.67), "27": (2.5, 0.0, 100.0)}
    by_month = {r["key"]: r["share"] for r in generic.generic_shares(parquet, "month")}
    assert by_month == {"2025-04": 75.0, "2025-05": 33.33}  # 30/(30+10); 2.5/(2.5+5)
    by_inst = {r["key"]: r["share"] for r in generic.generic_shares(parquet, "institution")}
    assert by_inst == {"1310000011": 66.67, "2710000022": 100.0}
    assert [(r["key"], r["share"]) for r in generic.generic_shares(parquet, "branch_month")] == [
        ("13 2025-04", 75.0), ("13 2025-05", 0.0), ("27 2025-05", 100.0)]


def test_the_filters_by_month_and_branch(parquet):
    rows = generic.generic_shares(parquet, "branch", months=["2025-04"])
    assert [(r["key"], r["share"]) for r in rows] == [("13", 75.0)]
    rows = generic.generic_shares(parquet, "month", branch="27")
    assert [(r["key"], r["generic_qty"], r["share"]) for r in rows] == [("2025-05", 2.5, 100.0)]
    assert generic.generic_shares(parquet, "branch", months=["2026-01"]) == []
    with pytest.raises(ValueError, match="by must be one of"):
        generic.generic_shares(parquet, "prefecture")
