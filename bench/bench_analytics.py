"""Benchmark: monthly usage rates by prefecture × facility type over the verification log in Parquet.

    .venv/bin/python bench/bench_analytics.py                  # 200,000,000 rows (issue #6's figure)
    .venv/bin/python bench/bench_analytics.py --rows 20000000  # a quick run

The data: ``--rows`` synthetic log rows in the layout of ``onshi analytics export`` (``month=YYYY-MM/part-*.parquet``,
zstd), one month of national volume (~2億 verifications), 47 prefectures × 4 facility types, about 240,000
institutions, card share varying by prefecture and type.  Generated once with DuckDB into ``--data``
(default ``var/bench/analytics-<rows>``) and reused by later runs; ``--regenerate`` makes it again.

Measured in the same run, each query ``--repeat`` times in a fresh process (peak RSS is that process's):

* ``onshi``    – :meth:`onshi.analytics.usage.UsageAnalytics.rates` with ``basis="online"`` and
  ``by=("month", "prefecture", "facility_type")`` over :class:`~onshi.analytics.engine.ParquetLog`;
* ``onshi-users`` (with ``--users``) – the institution-month aggregate with distinct card users per institution,
  which the レセプト and 協会けんぽ bases need (240,000 institutions × 60 million patient keys), counted from the log;
  then ``onshi-users-agg``: the export-time aggregate is written once (time printed) and the same question is read
  from it, as ``onshi analytics export`` leaves it;
* ``baseline`` – a plain DuckDB ``GROUP BY month, prefecture_code, facility_type`` with ``count(*)`` and a
  filtered count over the same files.

The table gives throughput (log rows per second), p50/p99 of the query time, peak memory and onshi's time as a
ratio of the baseline's.  DuckDB's memory limit is set to 3 GB (the issue allows 4 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

MEMORY_LIMIT = "3GB"


def generate(data: Path, rows: int) -> float:
    import duckdb

    tmp = data.with_name(data.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "month=2025-03").mkdir(parents=True)
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    files = max(1, rows // 20_000_000)
    per = rows // files
    for f in range(files):
        n = per if f < files - 1 else rows - per * (files - 1)
        # institution i: prefecture (i % 47) + 1, facility type by i % 10 (hospital 1, clinic 5, dental 2, pharmacy 2)
        con.execute(f"""
            COPY (
              WITH base AS (SELECT i, hash(i * 7919 + {f}) AS h FROM range({n}) t(i)),
              inst AS (SELECT i, h, (h % 240000)::BIGINT AS inst FROM base)
              SELECT TIMESTAMP '2025-03-01 00:00:00' + to_microseconds(((h >> 20) % 2678400000000)::BIGINT)
                       AS occurred_at,
                     DATE '2025-03-01' + ((h >> 20) % 31)::INTEGER AS care_date,
                     lpad(((inst % 47) + 1)::VARCHAR, 2, '0') || '1' || lpad(inst::VARCHAR, 7, '0')
                       AS institution_code,
                     lpad(((inst % 47) + 1)::VARCHAR, 2, '0') AS prefecture_code,
                     CASE inst % 10 WHEN 0 THEN 'hospital' WHEN 1 THEN 'dental' WHEN 2 THEN 'dental'
                          WHEN 3 THEN 'pharmacy' WHEN 4 THEN 'pharmacy' ELSE 'clinic' END AS facility_type,
                     CASE WHEN (h >> 8) % 1000 < 120 + (inst % 47) * 6 + (CASE WHEN inst % 10 = 0 THEN 150 ELSE 0 END)
                          THEN 'card' ELSE 'numbers' END AS method,
                     CASE WHEN (h >> 40) % 100 < 93 THEN 1 ELSE 2 END::TINYINT AS validity,
                     '01' || lpad(((inst % 47) + 1)::VARCHAR, 2, '0') || '0016' AS insurer_number,
                     CASE WHEN inst % 10 = 0 AND (h >> 50) % 10 = 0 THEN 'inpatient' ELSE 'outpatient' END
                       AS setting,
                     md5((h % 60000000)::VARCHAR)[1:16] AS patient_key
              FROM inst
            ) TO '{tmp}/month=2025-03/part-{f:05d}.parquet' (FORMAT parquet, COMPRESSION zstd)
        """)
        print(f"  generated file {f + 1}/{files}", file=sys.stderr, flush=True)
    con.close()
    shutil.rmtree(data, ignore_errors=True)
    tmp.rename(data)
    return time.perf_counter() - started


def one_run(kind: str, data: str) -> None:
    """Child process: run one query, print {"seconds", "groups", "peak_mb"} as JSON."""
    import resource

    import duckdb
    from sqlalchemy import create_engine

    from onshi.analytics.usage import UsageAnalytics

    started = time.perf_counter()  # imports excluded: the same Python for both
    if kind == "write-aggregate":
        from onshi.analytics.export import write_aggregate

        write_aggregate(Path(data) / "month=2025-03", "2025-03", Path(data) / "aggregate" / "month=2025-03")
        groups = check = 0
    elif kind == "onshi":
        ua = UsageAnalytics.over_parquet(data, engine=create_engine("sqlite://"), memory_limit=MEMORY_LIMIT)
        rows = ua.rates(basis="online", by=("month", "prefecture", "facility_type"))
        groups, check = len(rows), sum(r.denominator for r in rows)
    elif kind == "onshi-users":  # the institution-month aggregate with distinct card users (レセプト basis)
        ua = UsageAnalytics.over_parquet(data, engine=create_engine("sqlite://"), memory_limit=MEMORY_LIMIT)
        ua._prepare(None, with_users=True)
        groups, check, _users = ua.con.execute(
            "SELECT count(*), sum(online), sum(card_users) FROM agg").fetchone()
    else:
        con = duckdb.connect()
        con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        rows = con.execute(f"""
            SELECT month, prefecture_code, facility_type, count(*) FILTER (WHERE method = 'card') AS card,
                   count(*) AS online
            FROM read_parquet('{data}/month=*/*.parquet', hive_partitioning = true)
            GROUP BY ALL""").fetchall()
        groups, check = len(rows), sum(r[4] for r in rows)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "groups": groups, "rows": check, "peak_mb": peak}))


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(q * (len(values) - 1))))
    return values[k]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", type=Path)
    ap.add_argument("--regenerate", action="store_true")
    ap.add_argument("--users", action="store_true",
                    help="also time the institution-month aggregate with distinct card users (レセプト basis)")
    ap.add_argument("--child", nargs=2, metavar=("KIND", "DATA"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        one_run(*args.child)
        return
    data = args.data or ROOT / "var" / "bench" / f"analytics-{args.rows}"
    if args.regenerate or not data.exists():
        print(f"generating {args.rows:,} rows of Parquet into {data} …", file=sys.stderr, flush=True)
        took = generate(data, args.rows)
        print(f"generated in {took:.1f} s", file=sys.stderr)
    size = sum(p.stat().st_size for p in data.rglob("*.parquet"))
    kinds = ("baseline", "onshi") + (("onshi-users",) if args.users else ())
    results: dict[str, list[dict]] = {k: [] for k in kinds}
    for _ in range(args.repeat):
        for kind in kinds:  # interleaved: the machine's other load hits both alike
            out = subprocess.run([sys.executable, __file__, "--child", kind, str(data)], check=True,
                                 capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
            results[kind].append(json.loads(out.stdout.strip().splitlines()[-1]))
    if args.users:  # the aggregate written at export time, then the same question read from it
        shutil.rmtree(data / "aggregate", ignore_errors=True)
        out = subprocess.run([sys.executable, __file__, "--child", "write-aggregate", str(data)], check=True,
                             capture_output=True, text=True)  # its own process: Linux keeps a parent's peak RSS
        made = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"export-time aggregate written in {made['seconds']:.1f} s, peak {made['peak_mb']:,.0f} MB",
              file=sys.stderr)
        kinds += ("onshi-users-agg",)
        results["onshi-users-agg"] = []
        try:
            for _ in range(args.repeat):
                out = subprocess.run([sys.executable, __file__, "--child", "onshi-users", str(data)], check=True,
                                     capture_output=True, text=True)
                results["onshi-users-agg"].append(json.loads(out.stdout.strip().splitlines()[-1]))
        finally:
            shutil.rmtree(data / "aggregate", ignore_errors=True)
    base = statistics.median(r["seconds"] for r in results["baseline"])
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}; "
          f"data: {data} ({size / 2**30:.2f} GiB, {args.rows:,} rows)")
    print(f"{'query':<10} {'rows/s':>14} {'p50 s':>8} {'p99 s':>8} {'peak MB':>9} {'groups':>7} {'ratio':>7}")
    for kind in kinds:
        rs = results[kind]
        secs = [r["seconds"] for r in rs]
        assert all(r["rows"] == args.rows for r in rs), "a query missed rows"
        p50 = statistics.median(secs)
        print(f"{kind:<10} {args.rows / p50:>14,.0f} {p50:>8.2f} {pct(secs, 0.99):>8.2f} "
              f"{max(r['peak_mb'] for r in rs):>9,.0f} {rs[0]['groups']:>7} {p50 / base:>7.2f}")


if __name__ == "__main__":
    main()
