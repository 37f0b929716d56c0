"""Benchmark: a replayed verification ("as registered at", docs/replay.md) against a current one, PostgreSQL.

    .venv/bin/python bench/bench_replay.py                       # 1,000,000 members
    .venv/bin/python bench/bench_replay.py --rows 100000 --requests 2000

Builds its own PostgreSQL database (dropped at the end unless ``--keep``): the members of bench_verify's direct
seed, all registered 30 days ago; then one member in ten had a back-dated loss registered 10 days ago (its old
row is in ``index_qualification_history``, as the publisher leaves it).  Each run answers ``--requests``
random members one after another through :func:`onshi.verify.hotpath.answer` — the REST endpoints' path without
HTTP (the same for both, so the ratio is the stricter one): lookup, usage-log and audit rows committed.

* current (baseline): the current answer's fast path, this tree's code;
* current, main's code (``--main-src``, default /work/main/src when present): the same path before replay existed,
  in the same run — the fast path must not have become slower;
* replay, random members: ``registered_at`` = 20 days ago (the reference path: one transaction, the union of
  the current rows and the history);
* replay, members with history: only the tenth whose answer changed (the history row answers).

Prints answers/s, p50/p99 latency, peak RSS of the measuring process and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_intake as bi  # noqa: E402
import bench_verify as bv  # noqa: E402

HISTORY_SQL = """
INSERT INTO index_qualification_history (
    qualification_id, person_id, insurer_id, insurer_number, insurer_name, symbol, number, branch, role,
    card_classification, name, name_kana, insured_name, birth_date, member_birth_date, sex, postal_code, address,
    acquisition_date, loss_date, loss_reason, voluntary_continuation, remuneration, limit_certificates,
    received_at, registered_at, change_id, superseded_at)
SELECT qualification_id, person_id, insurer_id, insurer_number, insurer_name, symbol, number, branch, role,
    card_classification, name, name_kana, insured_name, birth_date, member_birth_date, sex, postal_code, address,
    acquisition_date, loss_date, loss_reason, voluntary_continuation, remuneration, limit_certificates,
    received_at, registered_at, change_id, %(t1)s
FROM index_qualifications WHERE qualification_id %% 10 = 1
"""


def build_history(url: str, t0: datetime, t1: datetime, loss: date) -> float:
    import psycopg

    t = time.perf_counter()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("UPDATE index_qualifications SET registered_at = %(t0)s, received_at = %(t0)s", {"t0": t0})
        conn.execute(HISTORY_SQL, {"t1": t1})
        conn.execute("INSERT INTO index_epoch (id, first_registered_at) VALUES (1, %(t0)s)", {"t0": t0})
        conn.execute("UPDATE index_qualifications SET registered_at = %(t1)s, loss_date = %(loss)s, "
                     "loss_reason = '99' WHERE qualification_id %% 10 = 1", {"t1": t1, "loss": loss})
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE index_qualifications")
        conn.execute("VACUUM ANALYZE index_qualification_history")
    return time.perf_counter() - t


def member(i: int) -> dict:
    return {"symbol": str(10000001 + i // 50), "number": str(1000 + i % 50),
            "birth_date": date(1955 + (i * 37) % 45, 1 + i % 12, 1 + i % 28)}


def child_measure(url: str, token: str, rows: int, requests: int, mode: str, at: str, care: str) -> None:
    """Runs in a subprocess (this tree's or main's code on PYTHONPATH): prints the latencies as JSON."""
    from onshi.store.db import make_engine
    from onshi.verify import hotpath, service
    from onshi.verify.result import ReferenceClass, VerificationRequest

    engine = make_engine(url)
    inst = service.authenticate_cached(engine, token)
    rnd = random.Random(7)
    pick = (lambda: rnd.randrange(rows // 10) * 10 + 1) if mode == "replay-history" else (lambda: rnd.randrange(rows))
    registered_at = datetime.fromisoformat(at) if mode.startswith("replay") else None

    def req(i: int) -> VerificationRequest:
        m = member(i)
        return VerificationRequest(reference_class=ReferenceClass.NUMBERS, care_date=date.fromisoformat(care),
                                   institution_code=inst.code, arbitrary_file_identifier=None,
                                   insurer_number="01130012", symbol=m["symbol"], number=m["number"], branch="00",
                                   birth_date=m["birth_date"], limit_consent=False, arbitrary_identifier=None)

    async def run() -> tuple[list[float], dict]:
        kw = {"registered_at": registered_at} if registered_at else {}
        validities: dict = {}
        for _ in range(200):  # warm up: statements prepared, caches filled
            await hotpath.answer(engine, req(pick()), inst, **kw)
        lat = []
        t_all = time.perf_counter()
        for _ in range(requests):
            r = req(pick())
            t = time.perf_counter()
            out = await hotpath.answer(engine, r, inst, **kw)
            lat.append(time.perf_counter() - t)
            validities[int(out.validity)] = validities.get(int(out.validity), 0) + 1
        return lat, {"seconds": time.perf_counter() - t_all, "validities": validities}

    lat, info = asyncio.run(run())
    print(json.dumps({"lat": lat, **info, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(env: dict, src: str, *args: str) -> dict:
    out = subprocess.check_output([sys.executable, __file__, "--child", *args], env=dict(env, PYTHONPATH=src))
    return json.loads(out)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        url, token, rows, requests, mode, at, care = sys.argv[2:9]
        child_measure(url, token, int(rows), int(requests), mode, at, care)
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--main-src", default="/work/main/src" if Path("/work/main/src").is_dir() else "")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    env = bi.bench_env()
    src = str(Path(__file__).resolve().parent.parent / "src")
    name = f"onshi_bench_{uuid.uuid4().hex[:8]}"
    url = bi.create_db(name)
    from onshi.store.clock import japan_date, utcnow

    now = utcnow().replace(microsecond=0)
    t0, t1, at = now - timedelta(days=30), now - timedelta(days=10), now - timedelta(days=20)
    care = japan_date(at)
    try:
        from onshi.verify.service import add_institution

        tokens = []
        bi.prepare_database(url, args.rows, extra=lambda s: tokens.append(
            add_institution(s, code=bv._clinic_code(), name="ベンチ内科", facility_type="clinic")[1]))
        print(f"seeding {args.rows:,} members …", file=sys.stderr)
        seed = bv.seed_index(url, args.rows)
        hist = build_history(url, t0, t1, care - timedelta(days=1))
        common = [url, tokens[0], str(args.rows), str(args.requests)]
        runs = [("current (baseline)", src, "current"), ("current, main's code", args.main_src, "current"),
                ("replay, random members", src, "replay"), ("replay, members with history", src, "replay-history")]
        results = []
        for label, code, mode in runs:
            if not code:
                continue
            print(f"{label} …", file=sys.stderr)
            results.append((label, measure(env, code, *common, mode, at.isoformat(), care.isoformat())))
    finally:
        if not args.keep:
            bi.drop_db(name)

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"\nmachine: {platform.node()} · {os.cpu_count()} cores · {cpu}")
    print(f"members: {args.rows:,} (seeded in {seed:.0f}s; history of one in ten built in {hist:.0f}s) · "
          f"{args.requests:,} answers per run, one at a time, through hotpath.answer (no HTTP)\n")
    print(f"{'run':32} {'answers/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'peak RSS MB':>11} {'p50 × baseline':>14}"
          f"  validities")
    base = None
    for label, r in results:
        lat = sorted(r["lat"])
        p50, p99 = bi.pct(lat, 0.5) * 1000, bi.pct(lat, 0.99) * 1000
        base = base or p50
        print(f"{label:32} {len(lat) / r['seconds']:10,.0f} {p50:7.2f} {p99:7.2f} {r['rss_mb']:11.0f} "
              f"{p50 / base:14.2f}  {dict(sorted(r['validities'].items()))}")


if __name__ == "__main__":
    main()
