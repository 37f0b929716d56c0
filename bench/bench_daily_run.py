"""Benchmark: the daily 資格確認書 run (`onshi documents run --date D`) on a seeded registry.

    .venv/bin/python bench/bench_daily_run.py                   # 2,000 members on PostgreSQL (127.0.0.1:5432)
    .venv/bin/python bench/bench_daily_run.py --members 4000 --sqlite

Builds its own database with ``onshi demo seed`` (the demo's members carry no マイナ保険証 card, so nearly all of
them are due a certificate on the first day), then, each step in a fresh child process so peak RSS is its own:

* ``render only`` (baseline of day 1): the same certificates' data rendered one PDF each, nothing read or written;
* ``day 1``: ``daily_run`` on the first business day after the seed — every certificate issued, written, recorded;
* ``read the registry once`` (baseline of day 2): every current qualification read in one statement;
* ``day 2``: the next business day — nothing new is due, but every enrolment, holder and card is checked again.

Per-item latency is not printed for the daily run (it decides in bulk); the baselines' is.  The database is
dropped at the end.
"""

from __future__ import annotations

import json
import argparse
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from _seeded import child, peak_mb, pct, seeded_database  # noqa: E402

SEEDED_ON = date(2026, 11, 20)  # a Friday: day 1 is Tuesday 24 Nov (23 Nov is 勤労感謝の日), day 2 the 25th
DAY1, DAY2 = date(2026, 11, 24), date(2026, 11, 25)


def _run(day: date, out: str) -> dict:
    from onshi.documents.service import daily_run
    from onshi.store.db import unit_of_work

    t = time.perf_counter()
    with unit_of_work() as s:
        report = daily_run(s, day, Path(out), actor="bench")
    return {"seconds": time.perf_counter() - t, "items": report.issued, "peak_rss_mb": peak_mb()}


def child_day1(out: str) -> dict:
    return _run(DAY1, out)


def child_day2(out: str) -> dict:
    from sqlalchemy import func, select

    from onshi.registry.models import QualificationVersion
    from onshi.store.db import unit_of_work

    res = _run(DAY2, out)
    with unit_of_work() as s:
        res["checked"] = s.scalar(select(func.count()).select_from(QualificationVersion)
                                  .where(QualificationVersion.superseded_at.is_(None)))
    return res


def child_render() -> dict:
    """Baseline of day 1: the issued certificates rendered again from their recorded data, one PDF each."""
    from sqlalchemy import select

    from onshi.documents.models import IssuedDocument
    from onshi.documents.render import CertificateData, render_certificate
    from onshi.store.db import unit_of_work

    with unit_of_work() as s:
        docs = [(d.data, d.layout) for d in s.scalars(select(IssuedDocument).where(IssuedDocument.kind == "certificate"))]
    datas = [(CertificateData(**{k: date.fromisoformat(v) if (k.endswith("date") or k == "valid_until") and v else v
                                 for k, v in data.items()}), layout) for data, layout in docs]
    render_certificate(*datas[0])
    lat, t0 = [], time.perf_counter()
    for d, layout in datas:
        t = time.perf_counter()
        render_certificate(d, layout)
        lat.append(time.perf_counter() - t)
    return {"seconds": time.perf_counter() - t0, "items": len(datas), "lat": lat, "peak_rss_mb": peak_mb()}


def child_read() -> dict:
    """Baseline of day 2: every current qualification read once (ORM objects, as the run reads them)."""
    from onshi.registry import service as registry
    from onshi.store.db import unit_of_work

    t = time.perf_counter()
    with unit_of_work() as s:
        n = len(registry.qualification_versions(s))
    return {"seconds": time.perf_counter() - t, "items": n, "peak_rss_mb": peak_mb()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL at 127.0.0.1:5432")
    ap.add_argument("--child", nargs="*")
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        fn = {"day1": child_day1, "day2": child_day2, "render": child_render, "read": child_read}[kind]
        print(json.dumps(fn(*rest)))
        return

    with seeded_database(members=args.members, seed=args.seed, today=SEEDED_ON, pg=not args.sqlite,
                         prefix="daily") as env:
        day1 = child(__file__, "day1", env, env["ONSHI_WORK"])
        render = child(__file__, "render", env)
        read = child(__file__, "read", env)
        day2 = child(__file__, "day2", env, env["ONSHI_WORK"])

    rate = lambda r, n=None: (n if n is not None else r["items"]) / r["seconds"]  # noqa: E731
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"\nmachine: {platform.node()} · {os.cpu_count()} cores · {cpu} · "
          f"{'SQLite' if args.sqlite else 'PostgreSQL at 127.0.0.1:5432'} · Python {platform.python_version()}")
    print(f"members seeded: {args.members:,} (seed {args.seed}) on {SEEDED_ON}; current qualifications: "
          f"{day2['checked']:,}\n")
    print(f"{'step':44} {'items':>7} {'items/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'peak RSS MB':>12} {'× baseline':>11}")
    rows = [
        ("render the same certificates only (baseline)", render, render["items"], render.get("lat"), 1.0),
        (f"day 1 {DAY1}: certificates issued", day1, day1["items"], None, rate(day1) / rate(render)),
        ("read every current qualification (baseline)", read, read["items"], None, 1.0),
        (f"day 2 {DAY2}: qualifications checked", day2, day2["checked"], None,
         rate(day2, day2["checked"]) / rate(read)),
    ]
    for label, r, n, lat, ratio in rows:
        p50 = f"{pct(lat, .5) * 1e3:7.2f}" if lat else f"{'—':>7}"
        p99 = f"{pct(lat, .99) * 1e3:7.2f}" if lat else f"{'—':>7}"
        print(f"{label:44} {n:>7,} {n / r['seconds']:>9,.1f} {p50} {p99} {r['peak_rss_mb']:>12.0f} {ratio:>11.3f}")
    print(f"\nday 2 issued {day2['items']} (what fell due that day); its time is the daily cost of checking the "
          "whole registry again.")


if __name__ == "__main__":
    main()
