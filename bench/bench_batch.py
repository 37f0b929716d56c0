"""Benchmark: the batch runs on the task engine (docs/batch.md) — the linkage check of a resident-registry extract
and the daily 資格確認書 run — in this process (the baseline, same run) and on N Celery workers over RabbitMQ.

    .venv/bin/python bench/bench_batch.py linkage --rows 1000000           # records/s per worker (goal ≥ 20,000/s)
    .venv/bin/python bench/bench_batch.py daily --members 100000           # wall time (goal ≤ 60 s on one worker)
    … --workers 1,2                                                        # engine runs with 1 and with 2 workers

PostgreSQL at 127.0.0.1:5432 (``ONSHI_BENCH_PG``), RabbitMQ at ``ONSHI_BENCH_AMQP`` (default
amqp://guest:guest@127.0.0.1:5672//), a queue of its own (deleted at the end).  Its own database, seeded by SQL
(``bench_publish.seed_sql``: persons, qualifications, current versions, 標準報酬月額, one enrolment change each;
four in five members, one in five a dependent), then every person given a My Number (keyed hash, as the intake
stores it) and — for the daily run — 99 in 100 a registered マイナ保険証, so that 1 in 100 is due a certificate on
the first business day after the seed, while the run checks every enrolment, card and holder: a day of a
registry of that size.  The extract (linkage) is synthetic: 95 % registered people (1 in 50 of them with another
name: a mismatch), 5 % not registered.

Each run is timed from its start to its end (the starter's wall time, workers started and idle beforehand); the
daily run's certificates and the database's records of it are removed between runs so each run does the same
work; a second extract file (one more blank line: another SHA-256) is used for each engine run.  p50/p99: the
units' (chunk / slice) durations, from their rows' finish times.  Peak RSS: the starter (in-process) or the worker
(``--pool threads --concurrency 1``: the worker process does the work itself; the solo pool stalled 10 s between tasks, performance.md).  The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import bench_intake as bi  # noqa: E402
import bench_publish as bp  # noqa: E402

AMQP = os.environ.get("ONSHI_BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672//")
SRC = str(ROOT / "src")


def _pg(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def person_row(i: int) -> tuple[str, str, str, int, str]:
    """What ``bench_publish.seed_sql`` recorded for row *i*: name, kana, birth date, sex, address."""
    name = f"{bp.LASTS[i % 5]}　{bp.FIRSTS[(i // 5) % 5]}"
    kana = f"{bp.LASTS_KANA[i % 5]}　{bp.FIRSTS_KANA[(i // 5) % 5]}"
    birth = f"{1955 + (i * 37) % 45}-{1 + i % 12:02d}-{1 + i % 28:02d}"
    return name, kana, birth, 1 + i % 2, f"東京都千代田区千代田{i % 9 + 1}-{i % 20 + 1}"


def seed(url: str, rows: int, *, cards: bool) -> float:
    """The registry of *rows* qualifications, every person with a My Number; with *cards*, 99 in 100 with a card."""
    import psycopg

    from onshi.privacy.crypto import vault

    t = time.perf_counter()
    bi.prepare_database(url, rows)
    bp.seed_sql(url, rows)
    h = vault().lookup_hash
    with psycopg.connect(_pg(url)) as conn:
        conn.execute("CREATE TEMP TABLE mn (id bigint, h text)")
        with conn.cursor().copy("COPY mn (id, h) FROM STDIN") as cp:
            for i in range(rows):
                cp.write_row((i + 1, h(bi.my_number(i))))
        conn.execute("UPDATE persons p SET my_number_hash = decode(mn.h, 'hex') FROM mn WHERE p.id = mn.id")
        if cards:
            conn.execute("INSERT INTO insurance_cards (certificate_serial, person_id, registered_at, "
                         "certificate_expires_on) SELECT 'C' || id, id, now() - interval '30 days', DATE '2031-03-31' "
                         "FROM persons WHERE id % 100 <> 0")
        conn.commit()
        conn.execute("ANALYZE")
    return time.perf_counter() - t


def write_extract(path: Path, rows: int, registered: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write("my_number,name,name_kana,birth_date,sex,address\n")
        for i in range(rows):
            if i % 20 == 19:  # 5 % not registered
                fh.write(f"{bi.my_number(registered + i)},住民　一郎,ジュウミン　イチロウ,1980-02-02,2,東京都中野区中野1-1\n")
                continue
            k = i % registered
            name, kana, birth, sex, address = person_row(k)
            if i % 50 == 7:
                name = "別人　次郎"
            fh.write(f"{bi.my_number(k)},{name},{kana},{birth},{sex},{address}\n")


# ---------------------------------------------------------------- children (each a fresh process)

def _unit_times(run_key: str, started: float, wall: float) -> list[float]:
    """Durations of a run's units from their rows' finish times (units finish one after another per worker)."""
    from sqlalchemy import select

    from onshi.store import batch
    from onshi.store.db import session_factory

    with session_factory()() as s:
        ends = sorted(r.timestamp() for r in s.scalars(select(batch.BatchUnit.finished_at)
                                                        .where(batch.BatchUnit.run_key == run_key)))
    if not ends:
        return []
    first = ends[0] - (ends[-1] - ends[0]) / max(1, len(ends) - 1)  # the first unit: about the average
    return [b - a for a, b in zip([first] + ends[:-1], ends)]


def child_linkage(path: str, broker: str, queue: str) -> None:
    from onshi.exchange import linkage, tasks
    from onshi.store.db import session_factory

    from _seeded import peak_mb

    t, c = time.perf_counter(), cpu_seconds()
    rep = tasks.run_linkage(session_factory(), Path(path), broker_url=broker, queue=queue or None, timeout=3600)
    wall = time.perf_counter() - t
    digest = linkage.extract_chunks(Path(path))[0]
    print(json.dumps({"seconds": wall, "cpu": cpu_seconds() - c, "rows": rep.rows, "matched": rep.matched, "mismatched": rep.mismatched,
                      "not_registered": rep.not_registered, "errors": len(rep.errors), "peak_rss_mb": peak_mb(),
                      "units": _unit_times(f"linkage:{digest}", t, wall)}))


def child_daily(day: str, out: str, broker: str, queue: str) -> None:
    from datetime import date

    from sqlalchemy import func, select

    from onshi.documents import tasks
    from onshi.registry.models import QualificationVersion
    from onshi.store.db import session_factory

    from _seeded import peak_mb

    t, c = time.perf_counter(), cpu_seconds()
    rep = tasks.run_daily(session_factory(), date.fromisoformat(day), Path(out), actor="bench", broker_url=broker,
                          queue=queue or None, timeout=3600)
    wall = time.perf_counter() - t
    with session_factory()() as s:
        checked = s.scalar(select(func.count()).select_from(QualificationVersion)
                           .where(QualificationVersion.superseded_at.is_(None)))
    print(json.dumps({"seconds": wall, "cpu": cpu_seconds() - c, "issued": rep.issued, "checked": checked, "peak_rss_mb": peak_mb(),
                      "units": _unit_times(f"daily:{day}", t, wall)}))


def reset_daily(url: str) -> None:
    import psycopg

    with psycopg.connect(_pg(url)) as conn:
        conn.execute("TRUNCATE issued_documents, document_runs, batch_units, batch_runs")
        conn.commit()


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of a process (this one by default) so far."""
    if pid is None:
        import resource

        ru = resource.getrusage(resource.RUSAGE_SELF)
        return ru.ru_utime + ru.ru_stime
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_mb(pid: int) -> float:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def start_workers(n: int, env: dict, queue: str) -> list[subprocess.Popen]:
    procs = [subprocess.Popen([sys.executable, "-m", "onshi", "worker", "--queue", queue, "--pool", "threads", "--concurrency", "1",
                               "--hostname", f"bench{i}-{queue}@%h"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for i in range(n)]
    from onshi.store.tasks import queue_depth

    deadline = time.monotonic() + 60
    while queue_depth(AMQP, queue)[1] < n and time.monotonic() < deadline:  # all consuming before the clock runs
        time.sleep(0.2)
    for p in procs:
        p.cpu0 = cpu_seconds(p.pid)  # the start-up is not the run's
    return procs


def stop_workers(procs: list[subprocess.Popen], res: dict) -> float:
    """Stop the workers; their CPU seconds (of the whole time they were up, idle included) go into *res*."""
    peak = max((vm_hwm_mb(p.pid) for p in procs), default=float("nan"))
    res["worker_cpu"] = sum(cpu_seconds(p.pid) - getattr(p, "cpu0", 0.0) for p in procs)
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
    return peak


def run_child(env: dict, *args: str) -> dict:
    out = subprocess.check_output([sys.executable, __file__, "--child", *args], env=env)
    return json.loads(out.decode().strip().splitlines()[-1])


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", nargs="?", choices=("linkage", "daily"))
    ap.add_argument("--rows", type=int, default=1_000_000, help="linkage: rows of the extract")
    ap.add_argument("--members", type=int, default=100_000, help="daily: qualifications in the registry")
    ap.add_argument("--workers", default="1", help="engine runs with these numbers of workers, e.g. 1,2")
    ap.add_argument("--child", nargs="*")
    args = ap.parse_args()
    if args.child is not None:
        sys.path.insert(0, str(ROOT / "bench"))
        {"linkage": child_linkage, "daily": child_daily}[args.child[0]](*args.child[1:])
        return
    env = dict(bi.bench_env(), PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    name = f"onshi_bench_{uuid.uuid4().hex[:8]}"
    url = bi.create_db(name)
    env.update(ONSHI_DATABASE_URL=url, ONSHI_BROKER_URL=AMQP)
    os.environ["ONSHI_DATABASE_URL"] = url
    queue = f"onshi-bench-{uuid.uuid4().hex[:8]}"
    work = Path(tempfile.mkdtemp(prefix="onshi-bench-batch-"))
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    results: list[tuple[str, dict, float]] = []
    size = args.rows if args.kind == "linkage" else args.members
    registered = min(size, 1_000_000) if args.kind == "linkage" else size
    loads = [load_line()]
    try:
        print(f"seeding {registered:,} qualifications …", file=sys.stderr)
        seed_secs = seed(url, registered, cards=args.kind == "daily")
        loads.append(load_line())
        if args.kind == "linkage":
            files = []
            for k in range(len(counts) + 1):
                p = work / f"juki_{k}.csv"
                write_extract(p, args.rows, registered)
                with p.open("a") as fh:
                    fh.write("\n" * k)  # another file (another SHA-256), the same rows
                files.append(p)
            print("in-process …", file=sys.stderr)
            results.append(("in-process (baseline)", run_child(env, "linkage", str(files[0]), "", ""), float("nan")))
            for k, n in enumerate(counts, start=1):
                print(f"{n} worker(s) …", file=sys.stderr)
                procs = start_workers(n, env, queue)
                res = run_child(env, "linkage", str(files[k]), AMQP, queue)
                results.append((f"{n} Celery worker(s)", res, stop_workers(procs, res)))
        else:
            from datetime import date

            from onshi.documents.issue_rules import issue_date_for
            from onshi.store.clock import japan_today

            day = issue_date_for(japan_today()).isoformat()  # the enrolments were received today
            print("in-process …", file=sys.stderr)
            results.append(("in-process (baseline)", run_child(env, "daily", day, str(work / "a"), "", ""),
                            float("nan")))
            for n in counts:
                reset_daily(url)
                print(f"{n} worker(s) …", file=sys.stderr)
                procs = start_workers(n, env, queue)
                res = run_child(env, "daily", day, str(work / f"w{n}"), AMQP, queue)
                results.append((f"{n} Celery worker(s)", res, stop_workers(procs, res)))
            _ = date
        loads.append(load_line())
    finally:
        try:
            from onshi.store.tasks import delete_queue

            delete_queue(queue, AMQP)
        except Exception:  # noqa: BLE001
            pass
        bi.drop_db(name)
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    from _seeded import pct

    cpu = next((x.split(":", 1)[1].strip() for x in open("/proc/cpuinfo") if x.startswith("model name")), "?")
    print(f"\nmachine: {platform.node()} · {os.cpu_count()} cores · {cpu} · PostgreSQL {bi.PG.split('@')[-1]} · "
          f"RabbitMQ {AMQP.split('@')[-1]}")
    print(f"load: before {loads[0]}; after seeding {loads[1]}; at the end {loads[-1]}")
    base = results[0][1]
    if args.kind == "linkage":
        print(f"extract: {args.rows:,} rows against {registered:,} registered people (seeded in {seed_secs:.0f} s)\n")
        print(f"{'run':28} {'records/s':>10} {'/s per worker':>13} {'seconds':>8} {'chunk p50':>9} {'p99':>6} "
              f"{'peak RSS MB':>11} {'× baseline':>10} {'worker CPU s':>12} {'rows/CPU-s':>10}")
        base_rate = base["rows"] / base["seconds"]
        for label, r, worker_rss in results:
            n = int(label.split()[0]) if label[0].isdigit() else 1
            rate = r["rows"] / r["seconds"]
            rss = r["peak_rss_mb"] if worker_rss != worker_rss else worker_rss
            cpu = r.get("worker_cpu", r["cpu"])
            print(f"{label:28} {rate:10,.0f} {rate / n:13,.0f} {r['seconds']:8.1f} {pct(r['units'], .5):9.2f} "
                  f"{pct(r['units'], .99):6.2f} {rss:11.0f} {rate / base_rate:10.2f} {cpu:12.1f} "
                  f"{r['rows'] / cpu:10,.0f}")
        print(f"\nrows {base['rows']:,}: {base['matched']:,} match, {base['mismatched']:,} mismatch, "
              f"{base['not_registered']:,} not registered, {base['errors']} unreadable (every run the same: "
              f"{all(r['rows'] == base['rows'] and r['mismatched'] == base['mismatched'] for _, r, _ in results)})")
    else:
        print(f"registry: {registered:,} qualifications, 1 in 100 without a card (seeded in {seed_secs:.0f} s)\n")
        print(f"{'run':28} {'seconds':>8} {'certificates':>12} {'qualif. checked/s':>17} {'slice p50':>9} {'p99':>6} "
              f"{'peak RSS MB':>11} {'× baseline (time)':>17} {'CPU s (worker+starter)':>22}")
        for label, r, worker_rss in results:
            rss = r["peak_rss_mb"] if worker_rss != worker_rss else worker_rss
            print(f"{label:28} {r['seconds']:8.1f} {r['issued']:12,} {r['checked'] / r['seconds']:17,.0f} "
                  f"{pct(r['units'], .5):9.2f} {pct(r['units'], .99):6.2f} {rss:11.0f} "
                  f"{r['seconds'] / base['seconds']:17.2f} {r.get('worker_cpu', 0) + r['cpu']:22.1f}")


if __name__ == "__main__":
    main()
