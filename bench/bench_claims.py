"""Benchmark: importing a claim file into PostgreSQL (issue 21), end to end, against a plain COPY of the same file.

    .venv/bin/python bench/bench_claims.py                  # 1,000,000 claim lines (the issue's size)
    .venv/bin/python bench/bench_claims.py --lines 100000
    .venv/bin/python bench/bench_claims.py --lines 0 --match-claims 1000000   # the monthly care-after-loss match
    .venv/bin/python bench/bench_claims.py --parquet-lines 100000000         # the generic share over Parquet

A database of its own (PostgreSQL at 127.0.0.1:5432, dropped at the end) seeded with ``onshi demo seed`` (2,000
members); a claim file of 4 lines per claim for those people at 50 institutions over 12 months (institution codes
the demo does not use), written under bench/out/.  Prints one table:

* baseline: a plain ``COPY`` of the same CSV into a table of text columns (no checks) — same run;
* ``onshi claims import``: decode line by line, parse and check every row, group into claims, match the people
  (one read of the insurers' numbers), the drug master, the already-imported checks, ``COPY`` of claims and lines,
  commit — in a child process so that its peak RSS is its own;
* the generic share over the imported lines (DuckDB over the database's aggregate).

``--match-claims N``: N claims of one month (2026-10) written straight into ``claims`` with ``COPY`` (the import is
measured above) for the seeded people — one in ten a person whose qualification ended before or in the month — then
the monthly care-after-loss match of every insurer, set-based (:mod:`onshi.claims.match_fast`); and, on a second
month of ``--reference-claims`` claims, the per-claim reference beside the fast path (same cases, both timed).

``--parquet-lines N``: no database — N claim lines of a fiscal year written as Parquet by DuckDB itself (a temporary
folder, deleted at the end), then the generic share by ``claims.generic`` beside a plain DuckDB GROUP BY of the same
files (the baseline), by 支部 and by institution, the two answers compared (:func:`parquet_bench`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _seeded  # noqa: E402
import bench_intake as bi  # noqa: E402

COLUMNS = ["institution_code", "month", "claim_number", "setting", "insurer_number", "symbol", "number", "branch",
           "birth_date", "copay_ratio", "care_days", "patient_share", "line_number", "kind", "code", "name",
           "quantity", "points"]
DRUGS = ["990000101", "990000102", "990000201", "990000202", "990000301", "990000302", "990000501", "990000502",
         "990000901", "990001001"]


def institutions(n: int) -> list[str]:
    from onshi.numbers import institution_code

    return [b + institution_code.calc_check_digit(b) for b in (f"13190{i:04d}" for i in range(n))]


def child_write(path: str, lines: str) -> None:
    """Write the claim file for the seeded people (a child: it needs the database)."""
    from onshi.registry import service as registry
    from onshi.store.db import unit_of_work

    with unit_of_work() as s:
        ins = {i.id: i.number for i in registry.list_insurers(s)}
        people = sorted({(ins[i], sym, num, br, birth) for i, sym, num, br, birth, _p, _q
                         in registry.numbers_of_insurers(s, list(ins))})
    # numbers shared by two people of the same birth date (twins without 枝番) would be quarantined: keep one each
    rng = random.Random(5)
    codes = institutions(50)
    months = [f"{2025 + (m + 3) // 12}-{(m + 3) % 12 + 1:02d}" for m in range(12)]
    n_lines = int(lines)
    serial: dict[tuple[str, str], int] = {}
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(COLUMNS) + "\n")
        written = 0
        while written < n_lines:
            code, month = codes[rng.randrange(50)], months[rng.randrange(12)]
            serial[(code, month)] = k = serial.get((code, month), 0) + 1
            p = people[rng.randrange(len(people))]
            head = (f"{code},{month},{k},外来,{p[0]},{p[1]},{p[2]},{p[3]},{p[4]},3,{1 + k % 27};{2 + k % 27},600")
            fh.write(f"{head},1,診療行為,112007410,再診料,1,75\n")
            for i in range(2, 5):
                drug = DRUGS[rng.randrange(len(DRUGS))]
                fh.write(f"{head},{i},医薬品,{drug},,{rng.choice((7, 14, 28))},{rng.randint(5, 60)}\n")
            written += 4
    print(json.dumps({"lines": written, "claims": sum(serial.values())}))


def child_import(path: str) -> None:
    from onshi.claims import intake
    from onshi.store.db import unit_of_work

    with unit_of_work() as s:
        intake.load_drug_master(s, intake.BUNDLED_DRUG_MASTER)
    t = time.perf_counter()
    with unit_of_work() as s:
        rep = intake.import_claims(s, path, actor="bench", today=date(2026, 11, 30))
    secs = time.perf_counter() - t
    print(json.dumps({"seconds": secs, "claims": rep.claims_applied, "lines": rep.lines_applied,
                      "rejected": rep.rows_rejected, "errors": [str(e) for e in rep.errors[:3]],
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "cpu_s": time.process_time()}))


def child_share() -> None:
    import duckdb

    from onshi.claims import generic
    from onshi.store.db import default_engine

    t = time.perf_counter()
    con = duckdb.connect(":memory:")
    generic.register_database(con, default_engine())
    rows = generic.generic_shares(con, "institution")
    print(json.dumps({"seconds": time.perf_counter() - t, "groups": len(rows),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def child_match_write(month: str, n: str) -> None:
    """N claims of *month* for the seeded people, straight into ``claims`` (COPY); one in ten has lost its
    qualification by the end of the month (care after loss), the others are random."""
    import hashlib

    from sqlalchemy import select, text

    from onshi.registry.models import Insurer, PersonVersion, QualificationVersion
    from onshi.rules.calendar import month_bounds
    from onshi.store.db import default_engine, unit_of_work
    from onshi.store.history import current

    from onshi.exchange.publish import publish_all

    publish_all()  # the verification index of the seeded people (what "as registered then" and 振替 read)
    first, after = month_bounds(month)
    with unit_of_work() as s:
        numbers = {i.id: i.number for i in s.scalars(select(Insurer))}
        rows = s.execute(select(QualificationVersion.insurer_id, QualificationVersion.symbol,
                                QualificationVersion.number, QualificationVersion.branch, PersonVersion.birth_date,
                                QualificationVersion.person_id, QualificationVersion.loss_date)
                         .join(PersonVersion, (PersonVersion.person_id == QualificationVersion.person_id)
                               & current(PersonVersion))
                         .where(current(QualificationVersion), QualificationVersion.acquisition_date < first)).all()
        file_id = s.execute(text("INSERT INTO claim_files (sha256, filename, encoding, received_at, imported_at, "
                                 "rows_total, claims_applied, lines_applied, rows_rejected) VALUES (:h, 'bench', "
                                 "'utf-8', now(), now(), 0, 0, 0, 0) RETURNING id"),
                            {"h": hashlib.sha256(month.encode() + n.encode()).hexdigest()}).scalar_one()
    lost = [r for r in rows if r.loss_date is not None and r.loss_date < after]
    rng = random.Random(21)
    codes = institutions(50)
    days_in = (after - first).days
    n = int(n)
    raw = default_engine().raw_connection()
    try:
        cur = raw.cursor()
        cols = ("file_id", "institution_code", "month", "claim_number", "setting", "insurer_id", "insurer_number",
                "symbol", "number", "branch", "birth_date", "person_id", "care_dates", "days", "points", "total_yen",
                "copay_ratio", "patient_share_yen", "insurer_share_yen", "content_hash")
        with cur.copy(f"COPY claims ({', '.join(cols)}) FROM STDIN") as copy:
            for k in range(n):
                r = lost[rng.randrange(len(lost))] if lost and k % 10 == 0 else rows[rng.randrange(len(rows))]
                d1, d2 = sorted(rng.sample(range(1, days_in + 1), 2))
                days = [f"{month}-{d1:02d}", f"{month}-{d2:02d}"]
                points = rng.randint(100, 3000)
                share = points * 3
                copy.write_row((file_id, codes[k % 50], month, str(k // 50 + 1), "outpatient", r.insurer_id,
                                numbers[r.insurer_id], r.symbol, r.number, r.branch, r.birth_date, r.person_id,
                                json.dumps(days), 2, points, points * 10, 3, share, points * 10 - share, "bench"))
        raw.commit()
        cur.execute("ANALYZE")  # as autovacuum would after a month's import: the planner's statistics
        raw.commit()
    finally:
        raw.close()
    print(json.dumps({"claims": n, "people": len(rows), "lost": len(lost)}))


def child_match(month: str, which: str) -> None:
    """The month's care-after-loss match of every insurer on the fast path or the reference (one transaction per
    insurer, as `onshi claims match` runs it)."""
    from sqlalchemy import func, select

    from onshi.claims import match_fast, service
    from onshi.claims.models import Claim
    from onshi.registry import service as registry
    from onshi.store.db import unit_of_work

    run = match_fast.match_care_after_loss if which == "fast" else service.match_care_after_loss
    with unit_of_work() as s:
        insurers = [i.id for i in registry.list_insurers(s)]
        claims = s.scalar(select(func.count()).select_from(Claim).where(Claim.month == month))
    t = time.perf_counter()
    opened: dict[str, int] = {}
    for ins in insurers:
        with unit_of_work() as s:
            for c in run(s, insurer_id=ins, month=month, today=date(2026, 11, 30)):
                debtor = c["debtor"] if isinstance(c, dict) else c.debtor
                opened[debtor] = opened.get(debtor, 0) + 1
    print(json.dumps({"seconds": time.perf_counter() - t, "claims": claims, "opened": opened,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def child_match_compare(month: str) -> None:
    """The reference and the fast path on the same state (each in a transaction rolled back): both timed, and
    whether they open the same cases field for field."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from onshi.claims import match_fast, service
    from onshi.claims.models import Claim
    from onshi.registry import service as registry
    from onshi.store.db import default_engine

    fields = ("claim_id", "person_id", "qualification_id", "loss_date", "days_after_loss", "days_valid_then",
              "amount_yen", "debtor", "new_insurer_number")
    out = {}
    for which, run in (("reference", service.match_care_after_loss), ("fast", match_fast.match_care_after_loss)):
        with Session(default_engine()) as s:
            insurers = [i.id for i in registry.list_insurers(s)]
            claims = s.scalar(select(func.count()).select_from(Claim).where(Claim.month == month))
            t = time.perf_counter()
            cases = [c for ins in insurers for c in run(s, insurer_id=ins, month=month, today=date(2026, 11, 30))]
            secs = time.perf_counter() - t
            got = sorted(tuple(str(c[k] if isinstance(c, dict) else getattr(c, k)) for k in fields) for c in cases)
            s.rollback()
        out[which] = {"seconds": secs, "claims": claims, "opened": len(got), "cases": got,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    same = out["reference"].pop("cases") == out["fast"].pop("cases")
    print(json.dumps({**out, "same": same}))


def match_bench(env: dict, claims: int, reference_claims: int) -> None:
    made = _seeded.child(__file__, "match_write", env, "2026-10", str(claims))
    fast = _seeded.child(__file__, "match", env, "2026-10", "fast")
    print(f"\nmatch month 2026-10: {fast['claims']:,} claims (bench {made['claims']:,}, one in ten of {made['lost']:,} "
          f"people whose qualification ended), cases opened {fast['opened']}")
    rows = [(f"fast path, {fast['claims']:,} claims", fast)]
    if reference_claims:
        _seeded.child(__file__, "match_write", env, "2026-09", str(reference_claims))
        cmp = _seeded.child(__file__, "match_compare", env, "2026-09")
        ref, fast2 = cmp["reference"], cmp["fast"]
        same = "the same cases, field for field" if cmp["same"] else "DIFFERENT CASES"
        print(f"match month 2026-09: {ref['claims']:,} claims, {ref['opened']:,} cases; reference and fast path: "
              f"{same}")
        rows += [(f"reference, {ref['claims']:,} claims", ref), (f"fast path, {fast2['claims']:,} claims", fast2)]
    print(f"{'care-after-loss match':34} {'claims/s':>12} {'seconds':>9} {'peak RSS MB':>12}")
    for name, r in rows:
        print(f"{name:34} {r['claims'] / r['seconds']:12,.0f} {r['seconds']:9.1f} {r['peak_rss_mb']:12,.0f}")


def baseline_copy(url: str, path: Path) -> float:
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE plain_copy (" + ", ".join(f"{c} text" for c in COLUMNS) + ")")
        t = time.perf_counter()
        with path.open("rb") as fh, cur.copy("COPY plain_copy FROM STDIN (FORMAT csv, HEADER true)") as copy:
            while chunk := fh.read(1 << 20):
                copy.write(chunk)
        conn.commit()
        secs = time.perf_counter() - t
        cur.execute("DROP TABLE plain_copy")
        conn.commit()
        return secs


# ---------------------------------------------------------------- the generic share over Parquet (--parquet-lines)

#: N claim lines of a fiscal year (2025: April 2025 – March 2026) written by DuckDB itself, hive-partitioned by month,
#: from one hash per line: 20,000 institutions, each of one of the 47 支部 of 協会けんぽ, billing its own 支部 for 98 %
#: of its lines and any other for 2 %; quantities 1–56; 30 % procedures, 40 % generics, 10 % brands with a generic,
#: 20 % brands without one (a generic share of about 80 % by quantity).  The strings come from small joined tables
#: (a printf per line made the writing of 10 million lines take 52 s on the loaded VM).
PARQUET_GEN_SQL = """
    COPY (
        WITH inst AS (SELECT k, printf('13%08d', k) AS code, k % 47 AS pref FROM range(20000) t(k)),
             ins AS (SELECT k, printf('01%02d0016', k + 1) AS number FROM range(47) t(k)),
             mon AS (SELECT k, printf('%04d-%02d', 2025 + (k + 3) // 12, (k + 3) % 12 + 1) AS month
                     FROM range(12) t(k)),
             l AS (SELECT i % 12 AS m, h % 20000 AS inst, (h >> 16) % 100 AS r, 1 + (h >> 24) % 56 AS qty,
                          (h >> 32) % 50 = 0 AS away, (h >> 40) % 47 AS other
                   FROM (SELECT i, hash(i) AS h FROM range({n}) t(i)))
        SELECT mon.month, inst.code AS institution_code, ins.number AS insurer_number,
               CAST(l.qty AS DOUBLE) AS quantity, l.r BETWEEN 30 AND 69 AS generic,
               l.r BETWEEN 30 AND 79 AS generic_exists
        FROM l JOIN mon ON mon.k = l.m JOIN inst ON inst.k = l.inst
               JOIN ins ON ins.k = CASE WHEN l.away THEN l.other ELSE inst.pref END
    ) TO '{dir}' (FORMAT parquet, PARTITION_BY (month), COMPRESSION zstd)"""

#: the baseline: one plain GROUP BY of the same files, straight to the answer (no aggregate view, no share)
PARQUET_BASELINE_SQL = """
    SELECT {key} AS key, sum(quantity) FILTER (WHERE generic) AS g,
           sum(quantity) FILTER (WHERE NOT generic AND generic_exists) AS b
    FROM read_parquet('{glob}', hive_partitioning = true)
    GROUP BY ALL"""


def parquet_bench(lines: int, where: str | None, repeat: int) -> None:
    """The generic share over *lines* claim lines in Parquet: written by DuckDB in a temporary folder (deleted at
    the end), then ``claims.generic`` (``register_parquet`` + ``generic_shares``, what a national-volume KPI would
    run) and a plain DuckDB GROUP BY of the same files, each in a fresh connection, alternating, *repeat* times."""
    import shutil
    import tempfile

    import duckdb

    from onshi.claims import generic

    def load() -> str:
        return open("/proc/loadavg").read().split()[0]

    root = Path(tempfile.mkdtemp(prefix="onshi-generic-parquet-", dir=where))
    try:
        print(f"writing {lines:,} lines under {root} (load {load()}) …", flush=True)
        con = duckdb.connect(":memory:")
        con.execute("SET preserve_insertion_order = false")
        t = time.perf_counter()
        con.execute(PARQUET_GEN_SQL.format(n=lines, dir=root.as_posix()))
        gen_secs = time.perf_counter() - t
        con.close()
        files = list(root.rglob("*.parquet"))
        size = sum(f.stat().st_size for f in files)
        glob = f"{root.as_posix()}/**/*.parquet"
        print(f"written in {gen_secs:.1f} s: {len(files)} files, {size / 1e9:.2f} GB (load {load()})", flush=True)
        results: dict[str, list[float]] = {}
        answers: dict[str, dict] = {}
        for by in ("branch", "institution"):
            for r in range(repeat):
                for which in (("ours", "baseline") if r % 2 == 0 else ("baseline", "ours")):
                    c = duckdb.connect(":memory:")
                    t = time.perf_counter()
                    if which == "ours":
                        generic.register_parquet(c, root)
                        rows = generic.generic_shares(c, by)
                        got = {x["key"]: (round(x["generic_qty"]), round(x["brand_qty"])) for x in rows}
                    else:
                        rows = c.execute(PARQUET_BASELINE_SQL.format(key=generic.GROUPINGS[by], glob=glob)).fetchall()
                        got = {k: (round(g or 0), round(b or 0)) for k, g, b in rows}
                    secs = time.perf_counter() - t
                    c.close()
                    results.setdefault(f"{by}:{which}", []).append(secs)
                    answers.setdefault(f"{by}:{which}", got)
                    print(f"  {by:11} {which:8} {secs:6.1f} s (load {load()})", flush=True)
            assert answers[f"{by}:ours"] == answers[f"{by}:baseline"], f"{by}: the two answers differ"
        total_g = sum(g for g, _ in answers["branch:ours"].values())
        total_b = sum(b for _, b in answers["branch:ours"].values())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    print(f"\nmachine: {platform.node()} · {os.cpu_count()} cores · {cpu} · duckdb {duckdb.__version__}")
    print(f"lines: {lines:,} in {len(files)} Parquet files, {size / 1e9:.2f} GB (zstd), written in {gen_secs:.1f} s; "
          f"{len(answers['branch:ours'])} 支部, {len(answers['institution:ours']):,} institutions; national share "
          f"{100 * total_g / (total_g + total_b):.2f} %; folder deleted")
    print(f"{'grouping':12} {'onshi (best)':>13} {'baseline (best)':>16} {'× baseline':>11}   runs (s)")
    for by in ("branch", "institution"):
        ours, base = results[f"{by}:ours"], results[f"{by}:baseline"]
        print(f"{by:12} {min(ours):13.1f} {min(base):16.1f} {min(ours) / min(base):11.2f}   "
              f"onshi {', '.join(f'{x:.1f}' for x in ours)} · baseline {', '.join(f'{x:.1f}' for x in base)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parquet-lines", type=int, default=0,
                    help="the generic share over N claim lines in Parquet (no database; e.g. 100000000)")
    ap.add_argument("--parquet-dir", default=None, help="where the temporary Parquet folder goes (default: $TMPDIR)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side of the Parquet comparison")
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--members", type=int, default=2000)
    ap.add_argument("--match-claims", type=int, default=0, help="claims of one month for the care-after-loss match")
    ap.add_argument("--reference-claims", type=int, default=5000,
                    help="claims of a second month matched by the reference and the fast path (0: skip)")
    ap.add_argument("--child", nargs="*")
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        {"write": child_write, "import": child_import, "share": child_share, "match_write": child_match_write,
         "match": child_match, "match_compare": child_match_compare}[kind](*rest)
        return
    if args.parquet_lines:
        parquet_bench(args.parquet_lines, args.parquet_dir, args.repeat)
        return
    path = bi.OUT / f"claims_{args.lines}.csv"
    with _seeded.seeded_database(members=args.members, seed=1, today=date(2026, 11, 23), pg=True,
                                 prefix="claims") as env:
        if args.match_claims:
            match_bench(env, args.match_claims, args.reference_claims)
        if not args.lines:
            return
        made = _seeded.child(__file__, "write", env, str(path), str(args.lines))
        copy_secs = baseline_copy(env["ONSHI_DATABASE_URL"], path)
        res = _seeded.child(__file__, "import", env, str(path))
        share = _seeded.child(__file__, "share", env)
    lines = made["lines"]
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    print(f"\nmachine: {platform.node()} · {os.cpu_count()} cores · {cpu} · PostgreSQL at {bi.PG.split('@')[-1]}")
    print(f"claim lines: {lines:,} ({made['claims']:,} claims), file {path.stat().st_size / 1e6:.0f} MB; "
          f"imported {res['lines']:,} lines, {res['rejected']} rows quarantined {res['errors']}\n")
    print(f"{'step':34} {'lines/s':>12} {'seconds':>9} {'peak RSS MB':>12} {'× baseline':>11}")
    rows = [("plain COPY (baseline)", lines / copy_secs, copy_secs, None, 1.0),
            ("onshi claims import (end to end)", lines / res["seconds"], res["seconds"], res["peak_rss_mb"],
             copy_secs / res["seconds"]),
            ("generic share (DuckDB, by institution)", lines / share["seconds"], share["seconds"],
             share["peak_rss_mb"], None)]
    for name, rate, secs, rss, ratio in rows:
        print(f"{name:34} {rate:12,.0f} {secs:9.1f} {'' if rss is None else f'{rss:12,.0f}':>12} "
              f"{'' if ratio is None else f'{ratio:11.2f}':>11}")


if __name__ == "__main__":
    main()
