"""Benchmark: a whole mailing run of 資格情報のお知らせ (お知らせの一括送付), from the database to employer bundles.

    .venv/bin/python bench/bench_mailing.py                    # 2,000 members on SQLite
    .venv/bin/python bench/bench_mailing.py --members 5000 --pg   # on PostgreSQL (127.0.0.1:5432, own database)
    .venv/bin/python bench/bench_mailing.py --members 5000 --pg --workers 2   # + Celery on 1 and 2 workers

Builds its own database with ``onshi demo seed`` (intake files, as the demo does), then, each in a fresh child
process so peak RSS is its own, for the insurer with the most members (``--insurer``):

* ``render only`` (the baseline): the same notices' data read once, then rendered into the same employer bundles
  with ``render_bundle`` and thrown away — what rendering alone costs;
* ``mailing run``: ``onshi.documents.service.mailing_run`` end to end (members read per employer, notice data
  assembled, bundles written, every notice recorded, the manifest);
* ``reprint one``: ``render_notice`` of one notice on its own, per notice — what each notice used to cost on
  top of the run before migration 0009 (the run rendered every notice a second time for its checksum).

With ``--workers N`` (needs RabbitMQ, ``ONSHI_BROKER_URL`` or amqp://guest:guest@127.0.0.1:5672//) the same run
is made again, each time under a new run name, on Celery with 1, 2 … N ``onshi worker`` processes (solo pool, one
process each: ``--pool threads --concurrency 1``; the solo pool stalled 10 s between some tasks) consuming a queue of the bench's own (deleted at the end); the in-process run is their baseline.
The peak RSS of those rows is the starter's (which only sends tasks and reads progress), not the workers'.

Latency is per notice within each employer's bundle (the bundle's time over its notices): p50 and p99 over the
bundles.  The database and its output folder are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from _seeded import child, peak_mb, pct, seeded_database  # noqa: E402

ISSUE = date(2026, 12, 1)
TODAY = date(2026, 11, 23)


def child_render(insurer: str) -> dict:
    """The baseline: the run's notices rendered into the same bundles, nothing written or recorded."""
    from onshi.documents.render import CoverLetterData, render_bundle
    from onshi.documents.service import notice_data
    from onshi.registry import service as registry
    from onshi.store.db import session_factory

    with session_factory()() as s:
        ins = registry.get_insurer(s, number=insurer)
        members = registry.qualification_versions(s, insurer_id=ins.id, about_day=ISSUE)
        by_employer: dict[int, list] = {}
        for qv in members:
            by_employer.setdefault(qv.employer_id, []).append(qv)
        employers = {e.id: e for e in registry.list_employers(s, insurer_id=ins.id)}
        bundles = [(employers[eid], [notice_data(s, qv, ISSUE, employers[eid]) for qv in qvs])
                   for eid, qvs in by_employer.items() if eid in employers]
    per_notice, n = [], 0
    t0 = time.perf_counter()
    for emp, notices in bundles:
        t = time.perf_counter()
        render_bundle(CoverLetterData(employer_name=emp.name, insurer_name=ins.name, issue_date=ISSUE,
                                      employer_postal_code=emp.postal_code, employer_address_line1=emp.address,
                                      insurer_number=insurer), notices)
        per_notice.append((time.perf_counter() - t) / len(notices))
        n += len(notices)
    return {"seconds": time.perf_counter() - t0, "notices": n, "per_notice": per_notice, "peak_rss_mb": peak_mb()}


def child_mail(insurer: str, out: str) -> dict:
    from onshi.documents.service import mailing_run
    from onshi.store.db import session_factory

    stamps: list[float] = []
    last = [time.perf_counter()]

    def progress(n: int) -> None:
        now = time.perf_counter()
        stamps.append((now - last[0]) / max(n, 1))
        last[0] = now

    t = time.perf_counter()
    report = mailing_run(session_factory(), insurer, Path(out), actor="bench", run_name=f"bench-{uuid.uuid4().hex[:6]}",
                         issue=ISSUE, progress=progress)
    return {"seconds": time.perf_counter() - t, "notices": report.issued, "per_notice": stamps,
            "peak_rss_mb": peak_mb(), "files": len(report.files)}


def child_celery(insurer: str, out: str, queue: str) -> dict:
    """The same run on Celery workers (already started on *queue*): the starter sends one task per bundle and
    waits for the workers' bundle rows."""
    from onshi.documents.tasks import run_mailing
    from onshi.store.db import session_factory

    stamps: list[float] = []
    last = [time.perf_counter()]

    def progress(n: int) -> None:
        now = time.perf_counter()
        stamps.append((now - last[0]) / max(n, 1))
        last[0] = now

    t = time.perf_counter()
    report = run_mailing(session_factory(), insurer, Path(out), actor="bench", run_name=f"bench-{uuid.uuid4().hex[:6]}",
                         issue=ISSUE, progress=progress, queue=queue, poll=0.1, timeout=3600)
    return {"seconds": time.perf_counter() - t, "notices": report.issued, "per_notice": stamps,
            "peak_rss_mb": peak_mb(), "files": len(report.files)}


def on_workers(env: dict[str, str], insurer: str, n: int) -> dict:
    """Start *n* worker processes on a queue of their own, run the mailing on them, stop them, delete the queue."""
    import subprocess

    from onshi.documents.tasks import app, delete_queue

    queue = f"onshi-bench-{uuid.uuid4().hex[:8]}"
    app.conf.broker_url = env["ONSHI_BROKER_URL"]
    pool = os.environ.get("BENCH_POOL", "threads")
    procs = [subprocess.Popen([sys.executable, "-m", "onshi", "worker", "--queue", queue, "--pool", pool,
                               "--hostname", f"bench{i}-{queue}@%h"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(n)]
    try:
        deadline = time.monotonic() + 120  # the workers are up and consuming before the run is timed
        while (sum(queue in name for reply in app.control.ping(timeout=1.0) or [] for name in reply) < n
               and time.monotonic() < deadline):
            time.sleep(0.5)
        return child(__file__, "celery", env, insurer, env["ONSHI_WORK"], queue)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(30)
        delete_queue(queue, env["ONSHI_BROKER_URL"])


def child_single(insurer: str, n: str) -> dict:
    """``render_notice`` on its own for the first *n* notices of the run (the old per-notice checksum render)."""
    from onshi.documents.render import render_notice
    from onshi.documents.service import NOTICE_LAYOUT, notice_data
    from onshi.registry import service as registry
    from onshi.store.db import session_factory

    with session_factory()() as s:
        ins = registry.get_insurer(s, number=insurer)
        data = [notice_data(s, qv, ISSUE, None)
                for qv in registry.qualification_versions(s, insurer_id=ins.id, about_day=ISSUE)[:int(n)]]
    render_notice(data[0], NOTICE_LAYOUT)  # warm-up: font registered
    times = []
    t0 = time.perf_counter()
    for d in data:
        t = time.perf_counter()
        render_notice(d, NOTICE_LAYOUT)
        times.append(time.perf_counter() - t)
    return {"seconds": time.perf_counter() - t0, "notices": len(data), "per_notice": times, "peak_rss_mb": peak_mb()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--insurer", default="01130012")
    ap.add_argument("--pg", action="store_true", help="PostgreSQL at 127.0.0.1:5432 instead of SQLite")
    ap.add_argument("--workers", type=int, default=0, help="also on Celery with 1..N worker processes")
    ap.add_argument("--child", nargs="*")
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        fn = {"render": child_render, "mail": child_mail, "single": child_single, "celery": child_celery}[kind]
        print(json.dumps(fn(*rest)))
        return

    with seeded_database(members=args.members, seed=args.seed, today=TODAY, pg=args.pg, prefix="mailing") as env:
        base = child(__file__, "render", env, args.insurer)
        mail = child(__file__, "mail", env, args.insurer, env["ONSHI_WORK"])
        single = child(__file__, "single", env, args.insurer, str(min(base["notices"], 500)))
        if args.workers:
            env["ONSHI_BROKER_URL"] = os.environ.get("ONSHI_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
            env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
        celery = [(n, on_workers(env, args.insurer, n)) for n in range(1, args.workers + 1)]

    rate = lambda r: r["notices"] / r["seconds"]  # noqa: E731
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"\nmachine: {platform.node()} · {os.cpu_count()} cores · {cpu} · "
          f"{'PostgreSQL at 127.0.0.1:5432' if args.pg else 'SQLite'} · Python {platform.python_version()}")
    print(f"members seeded: {args.members:,} (seed {args.seed}); insurer {args.insurer}: {mail['notices']:,} notices "
          f"in {mail['files'] - 1} employer bundles\n")
    print(f"{'step':34} {'notices/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'peak RSS MB':>12} {'× baseline':>11}")
    for label, r in (("render bundles only (baseline)", base), ("mailing run, end to end", mail),
                     ("one notice on its own (reprint)", single),
                     *((f"mailing run, Celery × {n} worker{'s' if n > 1 else ''}", r) for n, r in celery)):
        print(f"{label:34} {rate(r):>10,.1f} {pct(r['per_notice'], .5) * 1e3:>8.2f} "
              f"{pct(r['per_notice'], .99) * 1e3:>8.2f} {r['peak_rss_mb']:>12.0f} {rate(r) / rate(base):>11.2f}")
    for n, r in celery:
        print(f"Celery × {n}: {rate(r) / rate(mail):.2f} × the in-process run's notices/s, "
              f"{rate(r) / n:,.1f} notices/s per worker")
    print("\np50/p99: per notice within each employer bundle (bundle time / its notices); for the reprint row, "
          "per notice.")


if __name__ == "__main__":
    main()
