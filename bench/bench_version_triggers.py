"""Benchmark: what the change counter's triggers (migration 0018_etag_version) cost the publisher, PostgreSQL.

    .venv/bin/python bench/bench_version_triggers.py --rows 100000 --rounds 2

Each round seeds a fresh database with ``--rows`` pending changes (bench_publish's SQL seeding) and runs
:func:`onshi.exchange.publish.publish_all` once with the ``answer_versions`` triggers of ``index_qualifications``
on and once with them disabled (``ALTER TABLE … DISABLE TRIGGER USER``) — alternating ABBA so drift hits both.
Counts the wall time and the CPU of the client backends of that database (``/proc``, sampled while it runs; not
autovacuum's, which comes when it will):
on a shared machine the wall time moves with other jobs, the backends' CPU much less.  Prints records/s, wall,
PostgreSQL CPU, peak RSS of this process and the ratios (median of rounds) to the run without triggers.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import threading
import time
import uuid
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_intake as bi  # noqa: E402
import bench_publish as bp  # noqa: E402
from bench_receipts import HZ, _ticks  # noqa: E402


def one(rows: int, triggers: bool) -> dict:
    import psycopg

    from onshi.exchange.publish import publish_all
    from onshi.store.db import make_engine

    name = f"onshi_bench_{uuid.uuid4().hex[:8]}"
    url = bi.create_db(name)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        bi.prepare_database(url, rows)
        bp.seed_sql(url, rows)
        if not triggers:
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute("ALTER TABLE index_qualifications DISABLE TRIGGER USER")
        seen: dict[int, int] = {}
        done = threading.Event()

        def sample() -> None:
            with psycopg.connect(dsn, autocommit=True) as c:
                while not done.is_set():
                    for (pid,) in c.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND backend_type = "
                                            "'client backend' AND pid <> pg_backend_pid()", (name,)).fetchall():
                        seen[pid] = max(seen.get(pid, 0), _ticks(pid))
                    done.wait(0.1)

        sampler = threading.Thread(target=sample)
        sampler.start()
        eng = make_engine(url)
        t = time.perf_counter()
        published = publish_all(eng)
        wall = time.perf_counter() - t
        done.set()
        sampler.join()
        eng.dispose()
        return {"published": published, "wall": wall, "pg": sum(seen.values()) / HZ,
                "load": os.getloadavg()[0]}
    finally:
        bi.drop_db(name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    bi.bench_env()
    runs: dict[str, list[dict]] = {"on": [], "off": []}
    for rnd in range(args.rounds):
        for mode in (("on", "off") if rnd % 2 == 0 else ("off", "on")):
            print(f"round {rnd + 1}: triggers {mode} …", file=sys.stderr)
            runs[mode].append(one(args.rows, mode == "on"))
            r = runs[mode][-1]
            print(f"  {r['published']:,} in {r['wall']:.1f}s, PostgreSQL CPU {r['pg']:.1f}s, load {r['load']:.1f}",
                  file=sys.stderr)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    loads = [r["load"] for rs in runs.values() for r in rs]
    print(f"\nmachine: {os.cpu_count()} cores · load average {min(loads):.1f}–{max(loads):.1f} · "
          f"{args.rows:,} changes · {args.rounds} rounds ABBA · peak RSS {rss:.0f} MB")
    print(f"{'publish_all':34} {'records/s':>10} {'wall s':>7} {'PG CPU s':>9} {'wall ratio':>10} {'CPU ratio':>9}")
    for label, key in (("triggers disabled (baseline)", "off"), ("with the answer_versions triggers", "on")):
        rs = runs[key]
        wall_ratio = median(a["wall"] / b["wall"] for a, b in zip(rs, runs["off"]))
        cpu_ratio = median(a["pg"] / b["pg"] for a, b in zip(rs, runs["off"]))
        print(f"{label:34} {median(r['published'] / r['wall'] for r in rs):10,.0f} "
              f"{median(r['wall'] for r in rs):7.1f} {median(r['pg'] for r in rs):9.1f} {wall_ratio:10.2f} "
              f"{cpu_ratio:9.2f}")


if __name__ == "__main__":
    main()
