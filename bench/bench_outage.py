"""Batch check of an outage list (docs/outage.md) on PostgreSQL: patients/s and wall time.

    .venv/bin/python bench/bench_outage.py --rows 1000000 --patients 10000
    .venv/bin/python bench/bench_outage.py --rows 1000000 --keep          # keep the database (name printed) …
    .venv/bin/python bench/bench_outage.py --rows 1000000 --reuse onshi_bench_xxxxxxxx   # … and run again

Its own database: bench_verify's direct seed of ``--rows`` members into the verification index (one insurer,
names from Faker's ja_JP pairs — 2,550 full names), their birth dates then spread over 25,000 days (bench_verify's
own give only 1,260 distinct dates, so ~9 people share each name and birth date: ``--seed-births`` keeps them, the
harsh case).  The 75th-birthday loss dates are left as seeded (all in the future on the day of care).  The outage list: ``--patients`` records of random members, typed as a reception types them
(hiragana kana, 漢数字 addresses, 和暦 birth dates), one in five with the card's numbers, one in ten nobody at all.
Steps, each in this process, timed: **record** (validate and store the list, one transaction), **check** (the batch
check: lookups, decisions, answers kept on the records, audit rows; one transaction).  The baseline, in the same
run: the same decision one record at a time (``--baseline`` records, each its own ``decide_all``), as patients/s.
Prints a table; peak RSS is this process's.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
import uuid
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_intake as bi  # noqa: E402
import bench_verify as bv  # noqa: E402

CLINIC = "1310000011"
KANJI = "〇一二三四五六七八九"


SPREAD_DAYS = 25_000  # birth dates over 68 years, as a population has them (--spread)
SPREAD_SQL = f"""
UPDATE index_qualifications SET birth_date = DATE '1935-01-01' + ((qualification_id - 1) * 7919 %% {SPREAD_DAYS})::int
"""
SPREAD = True


def birth_of(i: int) -> date:
    from datetime import timedelta

    if SPREAD:
        return date(1935, 1, 1) + timedelta(days=i * 7919 % SPREAD_DAYS)
    return date(1955 + (i * 37) % 45, 1 + i % 12, 1 + i % 28)


def member(i: int) -> dict:
    """Member *i* of bench_verify's seed, as its SQL builds it (birth dates spread with ``--spread``)."""
    name, kana = bi.name_of(i)
    return {"name": name, "kana": kana, "birth": birth_of(i),
            "sex": 1 + i % 2, "address": bi.address_of(i), "symbol": str(10000001 + i // 50),
            "number": str(1000 + i % 50)}


def typed(i: int, rng: random.Random, care: date, k: int) -> dict:
    """A reception's record of member *i* (or of nobody), typed with the usual variations."""
    from onshi.rules.wareki import format_date

    m = member(i)
    row = {"record_key": f"bench-{k}", "care_date": care.isoformat(), "name": m["name"].replace("\u3000", " "),
           "name_kana": _hira(m["kana"]) if k % 2 else m["kana"], "sex": str(m["sex"]),
           "birth_date": format_date(m["birth"], "wareki_short") if k % 3 == 0 else m["birth"].isoformat(),
           "address": m["address"]}
    if k % 4 == 1:  # 一丁目 written in kanji
        town, _, rest = m["address"].partition("千代田区千代田")
        block, _, tail = rest.partition("-")
        row["address"] = f"{town}千代田区千代田{KANJI[int(block)]}丁目{tail.replace('-', '番', 1)}号"
    if k % 5 == 0:
        row.update(insurer_number="01130012", symbol=m["symbol"], number=m["number"], branch="00")
    if k % 10 == 7:  # nobody
        row.update(name="不在　太郎", name_kana="フザイ　タロウ", birth_date="1950-02-03", insurer_number="",
                   symbol="", number="", branch="")
    return row


def _hira(kana: str) -> str:
    import jaconv

    return jaconv.kata2hira(kana)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000, help="members in the verification index")
    ap.add_argument("--patients", type=int, default=10_000, help="records in the outage list")
    ap.add_argument("--baseline", type=int, default=300, help="records checked one at a time (the baseline)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--reuse", metavar="NAME")
    ap.add_argument("--seed-births", action="store_true",
                    help="keep bench_verify's birth dates (only 1,260 distinct: ~800 members share each, and ~9 share "
                         "a name and a birth date) instead of spreading them over 25,000 days")
    args = ap.parse_args()
    global SPREAD
    SPREAD = not args.seed_births
    bi.bench_env()
    from onshi.store.db import make_engine, session_factory

    seed_secs = None
    if args.reuse:
        name = args.reuse
        url = f"{bi.PG}/{name}"
    else:
        name = f"onshi_bench_{uuid.uuid4().hex[:8]}"
        url = bi.create_db(name)
    try:
        if not args.reuse:
            from onshi.verify.service import add_institution

            bi.prepare_database(url, args.rows, extra=lambda s: add_institution(
                s, code=CLINIC, name="ベンチ内科", facility_type="clinic"))
            print(f"seeding {args.rows:,} members into the index …", file=sys.stderr)
            seed_secs = bv.seed_index(url, args.rows)
            if SPREAD:
                import psycopg

                t = time.perf_counter()
                with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
                    conn.execute(SPREAD_SQL.replace("%%", "%"))
                    conn.commit()
                    conn.autocommit = True
                    conn.execute("VACUUM ANALYZE index_qualifications")
                seed_secs += time.perf_counter() - t
        from onshi.outage import service
        from onshi.outage.models import OutageRecord
        from sqlalchemy import delete

        eng = make_engine(url)
        factory = session_factory(eng)
        with factory() as s:  # a rerun on a kept database starts from an empty list
            s.execute(delete(OutageRecord).where(OutageRecord.institution_code == CLINIC))
            s.commit()
        rng = random.Random(7)
        care = date(2026, 12, 4)
        rows = [typed(rng.randrange(args.rows), rng, care, k) for k in range(args.patients)]
        t0 = time.perf_counter()
        with factory() as s:
            rep = service.record_patients(s, CLINIC, rows, source="upload", actor="bench", today=date(2026, 12, 6))
            s.commit()
        t_record = time.perf_counter() - t0
        with factory() as s:  # the read part alone: lookups and decisions, nothing written
            recs = list(s.query(OutageRecord).filter(OutageRecord.institution_code == CLINIC))
            td = time.perf_counter()
            service.decide_all(s, recs)
            t_decide = time.perf_counter() - td
        t1 = time.perf_counter()
        with factory() as s:
            chk = service.check(s, CLINIC, actor_kind="system", actor_id="bench")
            s.commit()
        t_check = time.perf_counter() - t1
        counts = chk.counts()
        # baseline: the same decisions one record at a time
        with factory() as s:
            some = list(s.query(OutageRecord).filter(OutageRecord.institution_code == CLINIC)
                        .order_by(OutageRecord.id).limit(args.baseline))
            tb = time.perf_counter()
            one_by_one = [service.decide_all(s, [r])[0].status for r in some]
            t_base = time.perf_counter() - tb
            assert one_by_one == [d.status for r, d in sorted(chk.results, key=lambda x: x[0].id)[:len(some)]]
        eng.dispose()
    finally:
        if args.keep and not args.reuse:
            print(f"kept database {name}", file=sys.stderr)
        elif not args.reuse:
            bi.drop_db(name)
    total = t_record + t_check
    base_rate = len(some) / t_base if t_base else float("nan")
    table = [("record (validate + store)", len(rep.added), t_record),
             ("  lookups + decisions alone (no writes)", args.patients, t_decide),
             ("check (lookup + decide + keep + audit)", args.patients, t_check),
             ("record + check", args.patients, total)]
    print(f"\nbench_outage: {args.patients:,} patients, {args.rows:,} members in the index (PostgreSQL)"
          + (f", seeded in {seed_secs:.0f} s" if seed_secs else ""))
    print(f"{'step':<42}{'patients':>10}{'seconds':>10}{'patients/s':>12}")
    for label, n, secs in table:
        print(f"{label:<42}{n:>10,}{secs:>10.2f}{n / secs:>12,.0f}")
    print(f"{'baseline: one record at a time':<42}{len(some):>10,}{t_base:>10.2f}{base_rate:>12,.0f}")
    print(f"check × baseline: {args.patients / t_check / base_rate:.1f}   answers: "
          + ", ".join(f"{k} {v:,}" for k, v in counts.items()) + f"   peak RSS {peak_mb():.0f} MB")
    print(json.dumps({"patients": args.patients, "rows": args.rows, "record_s": round(t_record, 2),
                      "decide_s": round(t_decide, 2), "check_s": round(t_check, 2), "total_s": round(total, 2),
                      "check_per_s": round(args.patients / t_check), "baseline_per_s": round(base_rate),
                      "counts": counts, "peak_mb": round(peak_mb())}, ensure_ascii=False))


if __name__ == "__main__":
    main()
