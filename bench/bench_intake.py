"""Benchmark: intake of a 資格取得届 file into PostgreSQL, publication to the index, and lookups.

    .venv/bin/python bench/bench_intake.py            # 1,000,000 rows (the issue's size)
    .venv/bin/python bench/bench_intake.py --rows 100000

Creates its own PostgreSQL database (127.0.0.1:5432, dropped at the end), writes
the file under bench/out/, and prints one table:

* baseline: a plain ``COPY`` of the same rows (text columns, no checks) — same run;
* intake: ``onshi intake`` end to end (decode, validate, check digits, My Number
  encryption and keyed hash, set-based checks, staged into six tables), in a
  child process so its peak RSS is its own (a large file is read by a second
  process of its own: its CPU and peak RSS are printed too);
* publish: the outbox → verification index;
* lookups at the database: by 保険者番号+記号+番号+枝番 and by My Number hash.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PG = os.environ.get("ONSHI_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
COLUMNS = ["insurer_number", "employer_symbol", "number", "branch", "my_number", "name", "name_kana", "birth_date",
           "sex", "postal_code", "address", "acquisition_date", "monthly_remuneration", "card_classification",
           "voluntary_continuation"]
WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def my_number(i: int) -> str:
    body = f"{(i * 7919 + 10_000_000_000) % 100_000_000_000:011d}"
    s = sum(int(d) * w for d, w in zip(body, WEIGHTS)) % 11
    return body + str(0 if s <= 1 else 11 - s)


def _name_pairs():
    from faker.providers.person.ja_JP import Provider

    return ([(k, r) for k, r, _ in Provider.last_name_pairs],
            [(k, r) for k, r, _ in (*Provider.first_name_male_pairs, *Provider.first_name_female_pairs)])


# Faker's ja_JP surnames and given names (kanji and reading): 50 × 51 = 2,550 full names, as a population repeats
# them; addresses differ on every row.  Mirrored by bench_verify's SQL.
LASTS, FIRSTS = _name_pairs()


def name_of(i: int) -> tuple[str, str]:
    (l, lk), (f, fk) = LASTS[i % len(LASTS)], FIRSTS[(i // len(LASTS)) % len(FIRSTS)]
    return f"{l}　{f}", f"{lk}　{fk}"


def address_of(i: int) -> str:
    return f"東京都千代田区千代田{i % 9 + 1}-{i // 9 % 20 + 1}-{i // 180 + 1}"


def write_file(path: Path, rows: int) -> None:
    rng = random.Random(1)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(COLUMNS) + "\n")
        for i in range(rows):
            name, kana = name_of(i)
            y = 1955 + (i * 37) % 45  # mirrored by bench_verify's Lua script
            fh.write(f"01130012,{10000001 + i // 50},{1000 + i % 50 + (i // 50) * 0},00,{my_number(i)},"
                     f"{name},{kana},{y}-{1 + i % 12:02d}-{1 + i % 28:02d},{1 + i % 2},100-0001,"
                     f"{address_of(i)},2024-04-01,{rng.choice((280000, 410000))},01,0\n")


def create_db(name: str) -> str:
    from sqlalchemy import text

    from onshi.store.db import make_engine

    admin = make_engine(f"{PG}/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{PG}/{name}"


def drop_db(name: str) -> None:
    from sqlalchemy import text

    from onshi.store.db import make_engine

    admin = make_engine(f"{PG}/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


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
        return time.perf_counter() - t


def child_intake(url: str, path: str) -> None:
    """Runs in a child process: import the file, report seconds, chunk latencies and peak RSS."""
    os.environ["ONSHI_DATABASE_URL"] = url
    from onshi.registry import intake
    from onshi.store.db import unit_of_work

    stamps: list[float] = []
    last = [time.perf_counter()]

    def progress(n: int) -> None:
        now = time.perf_counter()
        stamps.append((now - last[0]) / n)
        last[0] = now

    t = time.perf_counter()
    with unit_of_work() as s:
        rep = intake.import_file(s, path, "acquisition", progress=progress)
    secs = time.perf_counter() - t
    reader = resource.getrusage(resource.RUSAGE_CHILDREN)  # the second reading process, for large files
    print(json.dumps({"seconds": secs, "applied": rep.applied, "rejected": rep.rejected, "per_row": stamps,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "reader_peak_rss_mb": reader.ru_maxrss / 1024,
                      "cpu_s": time.process_time(), "reader_cpu_s": reader.ru_utime + reader.ru_stime}))


def bench_env() -> dict[str, str]:
    """Fresh My Number keys for this run (children get them through the environment) and the bench's var folder;
    sets them in this process too and returns the environment for subprocesses."""
    keys = {"enc": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "hash": base64.urlsafe_b64encode(os.urandom(32)).decode()}
    env = dict(os.environ, ONSHI_MY_NUMBER_KEY=keys["enc"], ONSHI_MY_NUMBER_HASH_KEY=keys["hash"],
               ONSHI_BENCH_KEYS=json.dumps(keys), ONSHI_VAR_DIR=str(OUT / "var"))
    os.environ.update(env)
    OUT.mkdir(parents=True, exist_ok=True)
    return env


def child_publish(url: str) -> None:
    os.environ["ONSHI_DATABASE_URL"] = url
    from onshi.exchange.publish import publish_all

    t = time.perf_counter()
    n = publish_all()
    print(json.dumps({"seconds": time.perf_counter() - t, "published": n,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def lookups(url: str, rows: int, n: int = 20000) -> dict[str, list[float]]:
    import psycopg

    from onshi.privacy.crypto import MyNumberVault

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    keys = json.loads(os.environ["ONSHI_BENCH_KEYS"])
    v = MyNumberVault(base64.urlsafe_b64decode(keys["enc"]), base64.urlsafe_b64decode(keys["hash"]))
    rng = random.Random(7)
    out: dict[str, list[float]] = {"numbers": [], "my_number_hash": []}
    with psycopg.connect(dsn, prepare_threshold=0) as conn, conn.cursor() as cur:
        cur.execute("SELECT insurer_id FROM qualification_versions LIMIT 1")
        ins = cur.fetchone()[0]
        for _ in range(n):
            i = rng.randrange(rows)
            t = time.perf_counter()
            cur.execute("SELECT qualification_id, person_id, acquisition_date, loss_date FROM qualification_versions "
                        "WHERE insurer_id = %s AND symbol = %s AND number = %s AND branch = %s "
                        "AND superseded_at IS NULL", (ins, str(10000001 + i // 50), str(1000 + i % 50), "00"))
            cur.fetchall()
            out["numbers"].append(time.perf_counter() - t)
            h = v.lookup_hash(my_number(i))  # hex; the column holds its bytes
            t = time.perf_counter()
            cur.execute("SELECT id FROM persons WHERE my_number_hash = %s", (bytes.fromhex(h),))
            cur.fetchall()
            out["my_number_hash"].append(time.perf_counter() - t)
    return out


def prepare_database(url: str, rows: int, extra=None) -> None:
    """Schema, the insurer and one employer per 50 rows; *extra(session)* may add more (e.g. an institution)."""
    from onshi.registry import service
    from onshi.registry.models import Employer
    from onshi.store import migrate
    from onshi.store.db import bulk_insert, make_engine, session_factory

    migrate.upgrade(url)
    eng = make_engine(url)
    with session_factory(eng)() as s:
        ins = service.add_insurer(s, number="01130012", name="協会けんぽ東京", kind="kyokai")
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        bulk_insert(s, Employer.__table__, [
            {"insurer_id": ins.id, "symbol": str(10000001 + k), "name": f"事業所{k}", "prefecture_code": "13",
             "postal_code": None, "address": None, "created_at": now} for k in range(rows // 50 + 1)])
        if extra:
            extra(s)
        s.commit()
    eng.dispose()


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--child", nargs="*")
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        (child_intake if kind == "intake" else child_publish)(*rest)
        return

    env = bench_env()
    path = OUT / f"acquisition_{args.rows}.csv"
    if not path.exists():
        print(f"writing {path} …", file=sys.stderr)
        write_file(path, args.rows)
    name = f"onshi_bench_{uuid.uuid4().hex[:8]}"
    url = create_db(name)
    try:
        prepare_database(url, args.rows)
        copy_secs = baseline_copy(url, path)
        print("running intake …", file=sys.stderr)
        res = json.loads(subprocess.check_output([sys.executable, __file__, "--child", "intake", url, str(path)],
                                                 env=env))
        print("publishing …", file=sys.stderr)
        pub = json.loads(subprocess.check_output([sys.executable, __file__, "--child", "publish", url], env=env))
        print("lookups …", file=sys.stderr)
        lk = lookups(url, args.rows)
    finally:
        drop_db(name)

    rows = args.rows
    table = [
        ("plain COPY (baseline)", rows / copy_secs, None, None, None, 1.0),
        ("onshi intake 資格取得届", rows / res["seconds"], pct(res["per_row"], .5) * 1e6, pct(res["per_row"], .99) * 1e6,
         res["peak_rss_mb"], (rows / res["seconds"]) / (rows / copy_secs)),
        ("publish to index", pub["published"] / pub["seconds"], None, None, pub["peak_rss_mb"], None),
    ]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"\nmachine: {platform.node()} · {os.cpu_count()} cores · {cpu} · PostgreSQL at {PG.split('@')[-1]}")
    print(f"rows: {rows:,}\n")
    print(f"{'step':28} {'rows/s':>12} {'p50 µs/row':>11} {'p99 µs/row':>11} {'peak RSS MB':>12} {'× baseline':>11}")
    for name_, rps, p50, p99, mem, ratio in table:
        f = lambda v, spec: format(v, spec) if v is not None else "—"  # noqa: E731
        print(f"{name_:28} {rps:12,.0f} {f(p50, '11.1f')} {f(p99, '11.1f')} {f(mem, '12.0f')} {f(ratio, '11.2f')}")
    print(f"intake CPU: importing process {res['cpu_s']:.1f} s, reading process {res['reader_cpu_s']:.1f} s "
          f"(peak RSS {res['reader_peak_rss_mb']:.0f} MB); wall {res['seconds']:.1f} s")
    print()
    print(f"{'lookup at the database':28} {'n':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for k, vals in lk.items():
        print(f"{k:28} {len(vals):8} {pct(vals, .5) * 1e3:8.3f} {pct(vals, .99) * 1e3:8.3f}")


if __name__ == "__main__":
    main()
