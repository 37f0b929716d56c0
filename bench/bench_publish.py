"""Benchmark: publishing registry changes to the verification index (the outbox publisher), in PostgreSQL.

    .venv/bin/python bench/bench_publish.py                  # 1,000,000 changes (the issue's size)
    .venv/bin/python bench/bench_publish.py --rows 100000
    .venv/bin/python bench/bench_publish.py --seed intake    # registry filled by `onshi intake` (slow)

Creates its own PostgreSQL database (127.0.0.1:5432, dropped at the end) and fills the registry with *rows*
pending changes, then runs :func:`onshi.exchange.publish.publish_all` in a child process (so its peak RSS is
its own) and prints records/s.

Seeding (``--seed sql``, the default) writes the registry tables directly with ``INSERT … SELECT FROM
generate_series`` — persons, qualifications, their current versions, 標準報酬月額 and one outbox row each —
in seconds rather than the minutes the 資格取得届 intake takes at this size; it is not what is measured.
Four in five changes are members (資格取得), one in five a dependent of the member before it (被扶養者), so
publishing a member also re-indexes a dependent, as in real batches.  ``--seed intake`` imports the
``bench_intake`` file instead (members only).

Baseline, same run: a plain ``INSERT INTO <copy of the index> SELECT * FROM index_qualifications`` of the
published rows into a table with the index's columns and indexes — what PostgreSQL alone needs to write
them.  The statistics of the freshly seeded tables are stale on purpose, as after a real bulk intake.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_intake as bi  # noqa: E402

LASTS = ("佐藤", "鈴木", "高橋", "田中", "伊藤")
FIRSTS = ("太郎", "花子", "健", "美咲", "翔")
LASTS_KANA = ("サトウ", "スズキ", "タカハシ", "タナカ", "イトウ")
FIRSTS_KANA = ("タロウ", "ハナコ", "ケン", "ミサキ", "ショウ")


def _arr(values) -> str:
    return "(ARRAY[" + ", ".join(f"'{v}'" for v in values) + "])"


SEED_SQL = f"""
CREATE TEMP TABLE seed AS
SELECT i, i + 1 AS id, (i %% 5 = 4) AS dependent,
       CASE WHEN i %% 5 = 4 THEN i ELSE NULL END AS member_qid,
       (10000001 + (CASE WHEN i %% 5 = 4 THEN i - 1 ELSE i END) / 50)::text AS symbol,
       (1000 + (CASE WHEN i %% 5 = 4 THEN i - 1 ELSE i END) %% 50)::text AS number,
       CASE WHEN i %% 5 = 4 THEN '01' ELSE '00' END AS branch,
       {_arr(LASTS)}[i %% 5 + 1] || '　' || {_arr(FIRSTS)}[(i / 5) %% 5 + 1] AS name,
       {_arr(LASTS_KANA)}[i %% 5 + 1] || '　' || {_arr(FIRSTS_KANA)}[(i / 5) %% 5 + 1] AS kana,
       make_date(1955 + (i * 37) %% 45, 1 + i %% 12, 1 + i %% 28) AS birth_date
FROM generate_series(0, %(rows)s - 1) AS i;
INSERT INTO persons (id, created_at) SELECT id, %(now)s FROM seed;
INSERT INTO qualifications (id, person_id, insurer_id, created_at) SELECT id, id, %(insurer_id)s, %(now)s FROM seed;
INSERT INTO person_versions (id, person_id, valid_from, valid_to, recorded_at, superseded_at, name, name_kana,
                             birth_date, sex, postal_code, address, change_id)
SELECT id, id, DATE '2024-04-01', NULL, %(now)s, NULL, name, kana, birth_date, 1 + i %% 2, '100-0001',
       '東京都千代田区千代田' || (i %% 9 + 1) || '-' || (i %% 20 + 1), id FROM seed;
INSERT INTO qualification_versions (id, qualification_id, recorded_at, superseded_at, person_id, insurer_id,
                                    employer_id, role, member_qualification_id, symbol, number, branch,
                                    card_classification, acquisition_date, loss_date, loss_reason,
                                    voluntary_continuation, change_id)
SELECT s.id, s.id, %(now)s, NULL, s.id, %(insurer_id)s, e.id,
       CASE WHEN s.dependent THEN 'dependent' ELSE 'insured' END, s.member_qid, s.symbol, s.number, s.branch,
       '01', DATE '2024-04-01', NULL, NULL, false, s.id
FROM seed s JOIN employers e ON e.insurer_id = %(insurer_id)s AND e.symbol = s.symbol;
INSERT INTO remuneration_versions (qualification_id, valid_from, valid_to, recorded_at, superseded_at,
                                   monthly_amount, change_id)
SELECT id, DATE '2024-04-01', NULL, %(now)s, NULL, CASE WHEN i %% 2 = 0 THEN 280000 ELSE 410000 END, id
FROM seed WHERE NOT dependent;
INSERT INTO registry_changes (id, insurer_id, kind, row_hash, employer_id, person_id, qualification_id,
                              effective_date, received_at, recorded_at, published_at)
SELECT s.id, %(insurer_id)s, CASE WHEN s.dependent THEN 'dependent' ELSE 'acquisition' END,
       sha256(('bench-publish-' || s.i)::bytea), e.id, s.id, s.id, DATE '2024-04-01', %(now)s, %(now)s, NULL
FROM seed s JOIN employers e ON e.insurer_id = %(insurer_id)s AND e.symbol = s.symbol;
SELECT setval(pg_get_serial_sequence(t, 'id'), (SELECT coalesce(max(id), 1) FROM seed))
FROM unnest(ARRAY['persons', 'qualifications', 'person_versions', 'qualification_versions',
                  'registry_changes']) AS t;
"""


def seed_sql(url: str, rows: int) -> float:
    import psycopg

    t = time.perf_counter()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        insurer_id = conn.execute("SELECT id FROM insurers WHERE number = '01130012'").fetchone()[0]
        params = {"rows": rows, "now": time.strftime("%Y-%m-%d %H:%M:%S"), "insurer_id": insurer_id}
        for stmt in SEED_SQL.split(";"):
            if stmt.strip():
                conn.execute(stmt, params)
        conn.commit()
    return time.perf_counter() - t


def baseline_insert(url: str) -> tuple[int, float]:
    """Copy the published rows into a table like the index (same indexes): PostgreSQL's own write cost."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("CREATE TABLE index_copy (LIKE index_qualifications INCLUDING ALL)")
        conn.commit()
        t = time.perf_counter()
        n = conn.execute("INSERT INTO index_copy SELECT * FROM index_qualifications").rowcount
        conn.commit()
        return n, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", choices=("sql", "intake"), default="sql")
    ap.add_argument("--child", nargs="*")
    args = ap.parse_args()
    if args.child:
        bi.child_publish(*args.child)
        return

    env = bi.bench_env()
    name = f"onshi_bench_{uuid.uuid4().hex[:8]}"
    url = bi.create_db(name)
    try:
        bi.prepare_database(url, args.rows)
        print(f"seeding {args.rows:,} pending changes ({args.seed}) …", file=sys.stderr)
        if args.seed == "sql":
            seed_secs = seed_sql(url, args.rows)
        else:
            path = bi.OUT / f"acquisition_{args.rows}.csv"
            if not path.exists():
                bi.write_file(path, args.rows)
            t = time.perf_counter()
            subprocess.check_output([sys.executable, bi.__file__, "--child", "intake", url, str(path)], env=env)
            seed_secs = time.perf_counter() - t
        print(f"seeded in {seed_secs:.0f}s; publishing …", file=sys.stderr)
        pub = json.loads(subprocess.check_output([sys.executable, __file__, "--child", url], env=env))
        base_rows, base_secs = baseline_insert(url)
    finally:
        bi.drop_db(name)

    rate = pub["published"] / pub["seconds"]
    base = base_rows / base_secs
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"\nmachine: {platform.node()} · {os.cpu_count()} cores · {cpu} · PostgreSQL at {bi.PG.split('@')[-1]}")
    print(f"changes: {args.rows:,} (seeded by {args.seed} in {seed_secs:.0f}s)\n")
    print(f"{'step':40} {'records/s':>12} {'seconds':>9} {'peak RSS MB':>12} {'× baseline':>11}")
    print(f"{'INSERT … SELECT of the rows (baseline)':40} {base:12,.0f} {base_secs:9.1f} {'—':>12} {1.0:11.2f}")
    print(f"{'publish_all (outbox → index)':40} {rate:12,.0f} {pub['seconds']:9.1f} {pub['peak_rss_mb']:12.0f} "
          f"{rate / base:11.2f}")
    print(f"\n{pub['published']:,} changes published, {base_rows:,} index rows")


if __name__ == "__main__":
    main()
