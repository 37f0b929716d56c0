"""Benchmark: deciding complete cash-benefit applications in one batch on PostgreSQL, and the board's query.

    .venv/bin/python bench/bench_benefits.py                      # 100,000 applications (issue 22's figure)
    .venv/bin/python bench/bench_benefits.py --applications 5000  # a quick run

A fresh PostgreSQL database is seeded with ``onshi demo seed`` (``--members``, default 2,000), then
``--applications`` complete applications are loaded by COPY on the first insurer's members (a mix: 40% 傷病手当金
with 10-day periods that never overlap, 20% 出産育児一時金, 20% 高額療養費, 10% 埋葬料, 10% 出産手当金 on women).
Each step runs in a fresh process (its peak RSS is its own):

* ``baseline`` — one SQL ``UPDATE … SET status='decided', amount=…`` over the same rows (the database's floor for
  writing a decision; nothing read, nothing checked), then put back;
* ``decide``  — :func:`onshi.benefits.service.decide_batch`: every complete application checked again and its amount
  computed from the registry (remuneration history, earlier applications; 多数回該当 through the claims' function as
  ``onshi benefits decide`` passes it), an event written — in transactions of ``--chunk`` applications;
* ``board``   — :func:`onshi.benefits.service.board` ``--repeat`` times on the decided table.

The table gives throughput (applications per second), p50/p99 (per chunk for ``decide``, divided by its size; per
query for ``board``), peak memory and the ratio to the baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

TODAY = date(2026, 11, 20)


def _insurer_and_members(s):
    from onshi.registry import service as registry
    from onshi.registry.models import Role

    ins = registry.list_insurers(s)[0]
    members = [qv for qv in registry.qualification_versions(s, insurer_id=ins.id, about_day=TODAY)
               if qv.role == Role.insured and qv.acquisition_date <= TODAY - timedelta(days=800)]
    women = {pv.person_id for pv in s.scalars(__import__("sqlalchemy").select(
        __import__("onshi.registry.models", fromlist=["PersonVersion"]).PersonVersion).where(
        __import__("onshi.registry.models", fromlist=["PersonVersion"]).PersonVersion.sex == 2))}
    return ins, members, women


def load(n: int) -> dict:
    from sqlalchemy import func, select

    from onshi.benefits.models import BankAccount, BenefitApplication
    from onshi.benefits.service import add_bank_account
    from onshi.store.db import allocate_ids, bulk_insert, unit_of_work

    started = time.perf_counter()
    with unit_of_work() as s:
        ins, members, women = _insurer_and_members(s)
        accounts = {}
        for qv in members:
            accounts[qv.person_id] = add_bank_account(s, person_id=qv.person_id, bank={
                "bank_code": "0005", "branch_code": "123", "account_type": 1,
                "account_number": f"{qv.person_id % 10_000_000:07d}", "holder": "ﾍﾞﾝﾁ ﾀﾛｳ"}).id
        ids = allocate_ids(s, "benefit_applications", n)
        rows, per_member = [], {}
        cert = {"certified_on": TODAY.isoformat()}
        for i, app_id in enumerate(ids):
            qv = members[i % len(members)]
            k = per_member[qv.person_id] = per_member.get(qv.person_id, 0) + 1
            kind = ("sickness", "sickness", "sickness", "sickness", "childbirth", "childbirth", "high_cost",
                    "high_cost", "burial", "maternity")[i % 10]
            if kind == "maternity" and qv.person_id not in women:
                kind = "childbirth"
            if kind == "sickness":
                start = TODAY - timedelta(days=11 * k + 5)  # 10 days each, never overlapping (k ≤ ~60 per member)
                details = {"incapacity_from": start.isoformat(), "period_from": start.isoformat(),
                           "period_to": (start + timedelta(days=9)).isoformat()}
            elif kind == "maternity":
                birth = TODAY - timedelta(days=60 + 160 * k)
                details = {"birth_date": birth.isoformat(), "due_date": birth.isoformat(),
                           "period_from": (birth - timedelta(days=41)).isoformat(),
                           "period_to": (birth + timedelta(days=56)).isoformat()}
            elif kind == "childbirth":
                details = {"birth_date": (TODAY - timedelta(days=k)).isoformat(), "children": 1, "covered": True}
            elif kind == "burial":
                details = {"death_date": (TODAY - timedelta(days=k)).isoformat()}
            else:
                month = TODAY.replace(day=1) - timedelta(days=1 + 31 * (k % 20))
                details = {"month": f"{month:%Y-%m}", "items": [{"person": "本人", "institution": "病院",
                                                                  "paid": 90_000 + k, "total_cost": 300_000}]}
            rows.append({"id": app_id, "source_key": f"bench:{app_id}", "insurer_id": ins.id,
                         "person_id": qv.person_id, "qualification_id": qv.qualification_id, "kind": kind,
                         "channel": "mail", "received_on": TODAY, "status": "complete", "missing": json.dumps([]),
                         "complete_on": TODAY, "needs_approval": False, "explanation": json.dumps([]),
                         "paid_days": 0, "details": json.dumps(details), "employer_cert": json.dumps(cert),
                         "doctor_cert": json.dumps(cert), "attachments": json.dumps(["添付"]),
                         "bank_account_id": accounts[qv.person_id], "created_by": "bench",
                         "created_at": TODAY})
        bulk_insert(s, BenefitApplication.__table__, rows)
        total = s.scalar(select(func.count()).select_from(BenefitApplication))
        del BankAccount
    return {"seconds": time.perf_counter() - started, "applications": total, "members": len(members)}


def baseline() -> dict:
    from sqlalchemy import text

    from onshi.store.db import unit_of_work

    started = time.perf_counter()
    with unit_of_work() as s:
        n = s.execute(text("UPDATE benefit_applications SET status = 'decided', amount = 50000, "
                           "decided_on = :d, decided_by = 'bench' WHERE status = 'complete'"), {"d": TODAY}).rowcount
    seconds = time.perf_counter() - started
    with unit_of_work() as s:
        s.execute(text("UPDATE benefit_applications SET status = 'complete', amount = NULL, decided_on = NULL, "
                       "decided_by = NULL WHERE decided_by = 'bench'"))
    return {"n": n, "seconds": seconds, "chunks": [seconds / max(n, 1)]}


def decide(chunk: int) -> dict:
    from sqlalchemy import select

    from onshi.benefits import service
    from onshi.benefits.models import BenefitApplication
    from onshi.store.db import unit_of_work

    try:  # as `onshi benefits decide` does: 多数回該当 from the claims (a version without it takes no such argument)
        from onshi.claims.service import high_cost_months

        extra = {"claims": high_cost_months}
    except ImportError:
        extra = {}
    with unit_of_work() as s:
        ins_id = s.scalar(select(BenefitApplication.insurer_id).limit(1))
    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        prof = cProfile.Profile()
        with unit_of_work() as s:
            prof.runcall(service.decide_batch, s, insurer_id=ins_id, on=TODAY, actor="bench", limit=chunk, **extra)
            s.rollback()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    per_app, n, started = [], 0, time.perf_counter()
    while True:
        t = time.perf_counter()
        with unit_of_work() as s:
            k = service.decide_batch(s, insurer_id=ins_id, on=TODAY, actor="bench", limit=chunk, **extra)
        if not k:
            break
        per_app.append((time.perf_counter() - t) / k)
        n += k
    seconds = time.perf_counter() - started
    with unit_of_work() as s:
        statuses = {st: c for st, c in s.execute(select(BenefitApplication.status,
                                                        __import__("sqlalchemy").func.count())
                                                 .group_by(BenefitApplication.status))}
    return {"n": n, "seconds": seconds, "chunks": per_app, "statuses": statuses}


def board(repeat: int) -> dict:
    from sqlalchemy import select

    from onshi.benefits import service
    from onshi.benefits.models import BenefitApplication
    from onshi.store.db import unit_of_work

    times = []
    with unit_of_work() as s:
        ins_id = s.scalar(select(BenefitApplication.insurer_id).limit(1))
        for _ in range(repeat):
            service.due_on.cache_clear()
            t = time.perf_counter()
            b = service.board(s, insurer_id=ins_id, today=TODAY + timedelta(days=20))
            times.append(time.perf_counter() - t)
    return {"n": b.totals["received"], "seconds": sum(times), "chunks": times, "totals": b.totals}


def run_child(kind: str, args: list[str]) -> None:
    from _seeded import peak_mb

    out = {"load": lambda: load(int(args[0])), "baseline": baseline, "decide": lambda: decide(int(args[0])),
           "board": lambda: board(int(args[0]))}[kind]()
    out["peak_mb"] = peak_mb()
    print(json.dumps(out, default=str))


def main() -> None:
    from _seeded import child, pct, seeded_database

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--applications", type=int, default=100_000)
    p.add_argument("--members", type=int, default=2000)
    p.add_argument("--chunk", type=int, default=2000)
    p.add_argument("--repeat", type=int, default=20)
    a = p.parse_args()
    with seeded_database(members=a.members, seed=1, today=TODAY, pg=True, prefix="benefits") as env:
        loaded = child(__file__, "load", env, str(a.applications))
        base = child(__file__, "baseline", env)
        dec = child(__file__, "decide", env, str(a.chunk))
        brd = child(__file__, "board", env, str(a.repeat))
    print(f"\nbench_benefits — {loaded['applications']:,} applications on {loaded['members']:,} members, PostgreSQL; "
          f"{platform.machine()}, {os.cpu_count()} CPUs (shared with other work)")
    print(f"load (COPY): {loaded['seconds']:.1f} s; decided: {dec['statuses']}")
    print(f"{'step':<10} {'n':>9} {'per s':>11} {'p50':>12} {'p99':>12} {'peak MB':>9} {'× baseline':>11}")
    for name, r, unit in (("baseline", base, "ms/app"), ("decide", dec, "ms/app"), ("board", brd, "ms/query")):
        rate = r["n"] / r["seconds"] if name != "board" else len(r["chunks"]) / r["seconds"]
        ratio = r["seconds"] / base["seconds"] if name == "decide" else float("nan")
        print(f"{name:<10} {r['n']:>9,} {rate:>11,.0f} {pct(r['chunks'], .5) * 1000:>8.3f} {unit[:2]} "
              f"{pct(r['chunks'], .99) * 1000:>8.3f} {unit[:2]} {r['peak_mb']:>9.0f} {ratio:>11.1f}")
    print(f"board p50 {statistics.median(brd['chunks']) * 1000:.1f} ms, max {max(brd['chunks']) * 1000:.1f} ms "
          f"(goal < 200 ms); decide {dec['n'] / dec['seconds']:,.0f}/s (goal ≥ 1,000/s)")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        run_child(sys.argv[2], sys.argv[3:])
    else:
        main()
