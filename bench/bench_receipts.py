"""Benchmark: what receipts and free repeat checks cost — REST verification by numbers over HTTP, PostgreSQL.

    .venv/bin/python bench/bench_receipts.py                       # 1,000,000 members
    .venv/bin/python bench/bench_receipts.py --rows 1000000 --seconds 5 --rounds 10 --calls 2000   # as measured

Builds its own PostgreSQL database (bench_verify's seeding, dropped at the end), starts the real server as
deployed (``onshi serve --workers``: a socket per worker, SO_REUSEPORT) and drives it with ``wrk`` from the same
machine.  Two servers stay up for all the runs — one signing, one not — and wrk alternates between them a run at
a time (ABBA), so that the two sides of each pair are measured seconds apart: this machine's speed drifts by up
to half within a minute, in one process too, and restarting the server round by round let that drift fall on
one side of a pair (docs/performance.md, "Receipts and 304"):

* signing off (``ONSHI_RECEIPTS=0``) vs on (the default): random members, the full path (logged, audited);
* full answer vs 304: the same ``--members`` members in turn, once without and once with the ``If-None-Match``
  of their earlier answer (fetched before the runs) — both signed, both logged; the 304s take the fast path
  (:mod:`onshi.verify.etag_fast`; from :mod:`onshi.verify.version_cache` once a worker has seen the member, so
  the measured 304 runs follow one unmeasured warm-up of the same requests: the steady state of repeat checks);
* then signing off vs on once more, with both servers loaded at the same time, each by its own wrk
  (``--same-time`` rounds): one stretch of seconds and one machine speed for both sides of each pair.

``--connections`` (48 by default) is per server.  With 16, the 304 runs left a tenth of the cores idle: every
answer waits for its rows' commit, and 16 requests in flight could not cover the WAL flush — the run measured
latency, not throughput.  The table prints the machine's idle share per run so that this shows; wrk's requests are
formatted once, in its ``init``, so that the load generator takes as little of the shared cores as it can.

Each run also counts the CPU time used per answer by the server's processes and by the PostgreSQL backends of
the bench's own database (``/proc``; other jobs' CPU is not counted): on a shared machine wrk's throughput moves
with whatever else runs, while CPU per answer is what the throughput of a dedicated machine follows (both sides
bound by the same cores).  Prints throughput, p50/p99 (wrk's), peak RSS of the server, CPU per answer and the
ratios — mean, and the median of the per-round ratios — against the goals (signing costs ≤ 10 %; a 304 at ≥ 2×
a full answer).  Then the same in process (no HTTP, no load generator), CPU time per call.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_intake as bi  # noqa: E402
import bench_verify as bv  # noqa: E402

# The requests are formatted once, in wrk's ``init``: wrk shares the two cores with the server, and formatting a
# request per call (``wrk.format`` and ``string.format`` in Lua) was load-generator CPU that every answer paid in
# throughput — the same for both sides of a pair, so it pulled every ratio towards 1.
FIXED_LUA = r"""
local token = "%(token)s"
local use_tag = %(use_tag)s
local bodies = {%(bodies)s}
local tags = {%(tags)s}
local reqs = {}
local n = #bodies
local i = 0
init = function(args)
  for k = 1, n do
    local h = {["Content-Type"]="application/json", ["Authorization"]="Bearer " .. token}
    if use_tag then h["If-None-Match"] = tags[k] end
    reqs[k] = wrk.format("POST", "/api/v1/verifications/numbers", h, bodies[k])
  end
end
request = function()
  i = i %% n + 1
  return reqs[i]
end
"""

#: random members of the whole index (bench_verify.LUA's draws, seeded the same in every run), formatted in ``init``
RANDOM_LUA = r"""
local rows = %(rows)d
local token = "%(token)s"
local n = %(count)d
local reqs = {}
local i = 0
init = function(args)
  math.randomseed(%(seed)d)
  for k = 1, n do
    local m = math.random(0, rows - 1)
    local body = string.format('{"insurer_number":"01130012","symbol":"%%d","number":"%%d","branch":"00",' ..
      '"birth_date":"%%s","care_date":"%(today)s"}', 10000001 + math.floor(m / 50), 1000 + (m %% 50), birth(m))
    reqs[k] = wrk.format("POST", "/api/v1/verifications/numbers",
      {["Content-Type"]="application/json", ["Authorization"]="Bearer " .. token}, body)
  end
end
request = function()
  i = i %% n + 1
  return reqs[i]
end
"""


def start_server(url: str, env: dict, workers: int, receipts: bool) -> tuple[subprocess.Popen, str]:
    """A server on its own port; its connections name it to PostgreSQL (``application_name``), so that the CPU of
    its own backends can be told from the other server's when both run at the same time."""
    port = bv.free_port()
    server = bv.start_server(f"{url}?application_name={app_name(receipts)}", env, port, workers,
                             ONSHI_RECEIPTS="1" if receipts else "0")
    return server, f"http://127.0.0.1:{port}"


def app_name(receipts: bool) -> str:
    return "onshi_bench_signing" if receipts else "onshi_bench_unsigned"


def stop(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=20)


HZ = os.sysconf("SC_CLK_TCK")


def _ticks(pid: int) -> int:
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    except (FileNotFoundError, ProcessLookupError):
        return 0


class OwnCpu:
    """CPU ticks of the server's processes and of the PostgreSQL backends serving it (its ``application_name``
    in the bench's database)."""

    def __init__(self, server_pid: int, dbname: str, application: str):
        self.server_pid, self.dbname, self.application = server_pid, dbname, application

    def _backends(self) -> list[int]:
        import psycopg

        with psycopg.connect(f"{bi.PG.replace('postgresql+psycopg://', 'postgresql://')}/{self.dbname}") as c:
            return [r[0] for r in c.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND "
                                            "application_name = %s", (self.dbname, self.application))]

    def snap(self) -> dict:
        return {"server": {p: _ticks(p) for p in bv._server_pids(self.server_pid)},
                "pg": {p: _ticks(p) for p in self._backends()}}

    @staticmethod
    def used(a: dict, b: dict) -> dict[str, float]:
        """Seconds of CPU between two snaps (a process that appeared between them counts from its start)."""
        return {k: sum(v - a[k].get(p, 0) for p, v in b[k].items()) / HZ for k in ("server", "pg")}


def idle_seconds() -> float:
    """The machine's idle CPU time so far, all cores (``/proc/stat``: idle + iowait): a run whose cores sat idle
    was bound by latency — the commits' WAL flushes — not by CPU, and more connections would raise its throughput."""
    f = open("/proc/stat").readline().split()
    return (int(f[4]) + int(f[5])) / HZ


def group_commit(base: str) -> dict[str, float]:
    """The server's ``onshi_group_commit_total`` by ``what`` (writes, rows, signatures, receipts), from /metrics."""
    import re

    import httpx

    text = httpx.get(base + "/metrics", timeout=30).text
    return {m[1]: float(m[2]) for m in re.finditer(r'^onshi_group_commit_total\{what="(\w+)"\} (\S+)$', text, re.M)}


def member_body(i: int, today: str) -> str:
    birth = f"{1955 + (i * 37) % 45}-{1 + i % 12:02d}-{1 + i % 28:02d}"
    return json.dumps({"insurer_number": "01130012", "symbol": str(10000001 + i // 50), "number": str(1000 + i % 50),
                       "branch": "00", "birth_date": birth, "care_date": today}, separators=(",", ":"))


def in_process(url: str, bodies: list[str], n: int, rounds: int = 3) -> dict[str, float]:
    """CPU microseconds per call in this process (median of *rounds* alternations of *n* calls): service.verify on
    one autocommit connection (the REST fast path's read; the log rows collected, not written) with signing off
    and on and the answer rendered as the route renders it; a 304 through service.verify (the reference path);
    and a 304 through :func:`onshi.verify.etag_fast.not_modified` (what the REST route does first), without and
    with :mod:`onshi.verify.version_cache` (a hit: no read) — without HTTP and the load generator.  PostgreSQL's CPU is not in these figures."""
    from statistics import median

    from sqlalchemy import select

    from onshi.config import get_settings
    from onshi.store.db import make_engine
    from onshi.verify import etag_fast, service, version_cache
    from onshi.verify.models import Institution
    from onshi.verify.views import NumbersQuery, outcome_json

    eng = make_engine(url)
    out: dict[str, list[float]] = {}
    settings = get_settings()
    try:
        with eng.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            inst = conn.execute(select(Institution)).first()
            reqs = [NumbersQuery.model_validate_json(b).to_request(inst.code) for b in bodies]
            tags = [service.verify(conn, r, inst, record=lambda *a: None).etag for r in reqs]

            cache = version_cache.VersionCache()  # filled by the first round's calls; no listener needed here
            cache.enabled = True

            def call(label: str, k: int) -> None:
                if label == "fast 304":
                    assert etag_fast.not_modified(conn, reqs[k], inst, tags[k], record=lambda *a: None)
                    return
                if label == "cached 304":
                    assert etag_fast.not_modified(conn, reqs[k], inst, tags[k], record=lambda *a: None,
                                                  versions=cache)
                    return
                o = service.verify(conn, reqs[k], inst, record=lambda *a: None,
                                   if_none_match=tags[k] if label == "304" else None)
                if not o.not_modified:
                    json.dumps(outcome_json(o), ensure_ascii=False)  # what the route renders

            for _ in range(rounds):
                for label in ("off", "on", "304", "fast 304", "cached 304"):
                    settings.receipts = label != "off"
                    t = time.process_time()
                    for i in range(n):
                        call(label, i % len(reqs))
                    out.setdefault(label, []).append((time.process_time() - t) / n * 1e6)
    finally:
        settings.receipts = True
        eng.dispose()
    return {k: median(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--connections", type=int, default=48, help="per server (module docstring)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--members", type=int, default=2000, help="members of the full-vs-304 runs")
    ap.add_argument("--rounds", type=int, default=4, help="alternations of each pair")
    ap.add_argument("--same-time", type=int, default=None, metavar="ROUNDS",
                    help="rounds with both servers loaded at once (default: --rounds)")
    ap.add_argument("--calls", type=int, default=3000, help="calls per in-process measurement")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")
    import httpx

    from onshi.store.clock import japan_today
    from onshi.verify.service import add_institution

    env = bi.bench_env()
    name = f"onshi_bench_{uuid.uuid4().hex[:8]}"
    url = bi.create_db(name)
    today = japan_today().isoformat()
    results: dict[str, list[dict]] = {k: [] for k in ("off", "on", "full", "304")}
    together: list[dict[str, dict]] = []  # rounds with both servers loaded at once: {"off": run, "on": run}
    servers: dict = {}
    scripts = []
    try:
        tokens = []
        bi.prepare_database(url, args.rows, extra=lambda s: tokens.append(
            add_institution(s, code=bv._clinic_code(), name="ベンチ内科", facility_type="clinic")[1]))
        token = tokens[0]
        print(f"seeding {args.rows:,} members into the index …", file=sys.stderr)
        seed_secs = bv.seed_index(url, args.rows)

        def script(text: str) -> str:
            with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
                fh.write(text)
            scripts.append(fh.name)
            return fh.name

        random_script = script(bv._birth_lua() + RANDOM_LUA % {
            "rows": args.rows, "token": token, "seed": 1, "today": today,
            "count": min(args.rows, max(50_000, args.seconds * 6_000))})
        step = max(1, args.rows // args.members)
        bodies = [member_body(i, today) for i in range(0, args.rows, step)][:args.members]
        server, base = start_server(url, env, args.workers, True)
        servers = {"on": (server, base)}
        tags = []
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"}) as client:
            for b in bodies:
                r = client.post("/api/v1/verifications/numbers", content=b)
                r.raise_for_status()
                tags.append(r.headers["ETag"])
            check = client.post("/api/v1/verifications/numbers", content=bodies[0],
                                headers={"If-None-Match": tags[0]})
            assert check.status_code == 304 and check.headers["Onshi-Receipt"], check.status_code
        lua_bodies = ",".join(f"[[{b}]]" for b in bodies)
        lua_tags = ",".join(f"[[{t}]]" for t in tags)
        full_script = script(FIXED_LUA % {"token": token, "use_tag": "false", "bodies": lua_bodies, "tags": lua_tags})
        tag_script = script(FIXED_LUA % {"token": token, "use_tag": "true", "bodies": lua_bodies, "tags": lua_tags})
        micro = in_process(url, bodies, args.calls)  # the server is up but idle
        servers["off"] = start_server(url, env, args.workers, False)
        rss = {}
        load = [os.getloadavg()[0]]
        warmed: list[int] = []  # requests of the 304 runs' warm-up (not measured, but logged)
        for setting in ("off", "on"):
            bv.wrk(servers[setting][1], 3, args.connections, random_script)  # warm up each server
        # steady state of repeat checks: every worker has seen every member's repeat check (its version cache)
        warmed.append(bv.wrk(servers["on"][1], args.seconds, args.connections, tag_script)["requests"])
        meters = {k: OwnCpu(srv.pid, name, app_name(k == "on")) for k, (srv, _b) in servers.items()}

        def run(kind: str, setting: str, script_: str) -> None:
            a, idle = meters[setting].snap(), idle_seconds()
            r = bv.wrk(servers[setting][1], args.seconds, args.connections, script_)
            r.update(OwnCpu.used(a, meters[setting].snap()), idle=idle_seconds() - idle)
            results[kind].append(r)
            rss[kind] = max(rss.get(kind, 0), bv.rss_mb(servers[setting][0].pid))
            load.append(os.getloadavg()[0])

        # Both servers stay up; each pair is measured back to back, a few seconds apart, ABBA.  The machine's own
        # speed drifts: identical servers measured 985 to 1,543 µs of CPU per answer from one minute to the
        # next, and one process 1,241 then 1,543 (docs/performance.md) — slices close together see the same drift.
        for rnd in range(args.rounds):
            for setting in (("off", "on") if rnd % 2 == 0 else ("on", "off")):
                run(setting, setting, random_script)
            for kind, s_ in ((("full", full_script), ("304", tag_script)) if rnd % 2 == 0
                             else (("304", tag_script), ("full", full_script))):
                run(kind, "on", s_)
        # Then both servers at once, each with its own wrk: one stretch of seconds, one machine speed, for both
        # sides of the pair — the drift that ABBA only narrows falls on both equally (they share the two cores,
        # so each answer's CPU is the figure; throughput follows it).  Each side's CPU: its processes and its
        # own PostgreSQL backends (application_name).
        from concurrent.futures import ThreadPoolExecutor

        for rnd in range(args.rounds if args.same_time is None else args.same_time):
            order = ("off", "on") if rnd % 2 == 0 else ("on", "off")
            a = {s_: meters[s_].snap() for s_ in order}
            with ThreadPoolExecutor(2) as pool:
                futures = {s_: pool.submit(bv.wrk, servers[s_][1], args.seconds, args.connections, random_script)
                           for s_ in order}
                pair = {s_: f.result() for s_, f in futures.items()}
            for s_ in order:
                pair[s_].update(OwnCpu.used(a[s_], meters[s_].snap()))
            together.append(pair)
            load.append(os.getloadavg()[0])
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as c:
            answered_304 = c.execute("SELECT count(*) FROM verification_log WHERE not_modified").fetchone()[0]
        group = {k: group_commit(servers[k][1]) for k in servers}
    finally:
        for srv, _b in servers.values():
            stop(srv)
        bi.drop_db(name)
        for s in scripts:
            os.unlink(s)

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem_total = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")) / 1024 / 1024
    print(f"\nmachine: {platform.node()} · {os.cpu_count()} cores · {cpu} · {mem_total:.0f} GiB")
    print(f"members: {args.rows:,} (seeded in {seed_secs:.0f}s) · server workers: {args.workers} · wrk 1 thread, "
          f"{args.connections} connections, {args.seconds}s each, {args.rounds} alternating rounds; "
          f"full/304 over {len(bodies):,} members\n")

    from statistics import median

    def mean(runs: list[dict], key: str) -> float:
        return sum(r[key] for r in runs) / len(runs)

    def cpu_us(r: dict) -> float:  # server + its PostgreSQL backends, µs of CPU per answer
        return (r["server"] + r["pg"]) / r["requests"] * 1e6

    print(f"{'run':34} {'answers/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'RSS MB':>7} {'ratio':>6}"
          f"   CPU µs/answer: server + PostgreSQL = total {'ratio':>6}   wrk µs/request  idle")
    rows = [("verify, signing off (baseline)", "off", None), ("verify, signing on", "on", "off"),
            ("same members, full answer (baseline)", "full", None), ("same members, 304 Not Modified", "304", "full")]
    for label, key, base_key in rows:
        runs = results[key]
        ratio = mean(runs, "rps") / mean(results[base_key], "rps") if base_key else 1.0
        srv = sum(r["server"] for r in runs) / sum(r["requests"] for r in runs) * 1e6
        pg = sum(r["pg"] for r in runs) / sum(r["requests"] for r in runs) * 1e6
        cpu_ratio = (median(cpu_us(r) for r in results[base_key]) / median(cpu_us(r) for r in runs)
                     if base_key else 1.0)
        print(f"{label:34} {mean(runs, 'rps'):10,.0f} {mean(runs, 'p50'):7.2f} {mean(runs, 'p99'):7.2f} "
              f"{sum(r['errors'] for r in runs):6} {rss.get(key, 0):7.0f} {ratio:6.2f}"
              f"   {srv:6.0f} + {pg:5.0f} = {srv + pg:6.0f}{'':14} {cpu_ratio:6.2f}   "
              f"{sum(r['wrk_cpu'] for r in runs) / sum(r['requests'] for r in runs) * 1e6:14.0f}  "
              f"{sum(r['idle'] for r in runs) / (len(runs) * args.seconds * os.cpu_count()):4.0%}")
    pairs_sign = [1 - a["rps"] / b["rps"] for a, b in zip(results["on"], results["off"])]
    pairs_304 = [a["rps"] / b["rps"] for a, b in zip(results["304"], results["full"])]
    cpu_sign = [1 - cpu_us(b) / cpu_us(a) for a, b in zip(results["on"], results["off"])]
    cpu_304 = [cpu_us(b) / cpu_us(a) for a, b in zip(results["304"], results["full"])]
    print(f"\nload average during the runs: {min(load):.1f}–{max(load):.1f} (2 cores: above ~3 other jobs share them)")
    print(f"signing costs (goal ≤ 10 %): by throughput {median(pairs_sign):+.1%} median of rounds ("
          + ", ".join(f"{x:+.1%}" for x in pairs_sign) + f"); by CPU per answer {median(cpu_sign):+.1%} ("
          + ", ".join(f"{x:+.1%}" for x in cpu_sign) + ")")
    print(f"304 vs a full answer (goal ≥ 2×): by throughput {median(pairs_304):.2f}× median of rounds ("
          + ", ".join(f"{x:.2f}" for x in pairs_304) + f"); by CPU per answer {median(cpu_304):.2f}× ("
          + ", ".join(f"{x:.2f}" for x in cpu_304) + ")")
    print("per round, CPU µs per answer (off / on / full / 304): " + "; ".join(
        " / ".join(f"{cpu_us(results[k][i]):.0f}" for k in ("off", "on", "full", "304"))
        for i in range(len(results["off"]))))
    print(f"signing costs, mean of all rounds: by CPU per answer "
          f"{1 - sum(map(cpu_us, results['off'])) / sum(map(cpu_us, results['on'])):+.1%}, by throughput "
          f"{1 - mean(results['on'], 'rps') / mean(results['off'], 'rps'):+.1%}")
    if together:
        t_rps = [1 - p["on"]["rps"] / p["off"]["rps"] for p in together]
        t_cpu = [1 - cpu_us(p["off"]) / cpu_us(p["on"]) for p in together]
        print(f"signing costs, both servers loaded at once ({len(together)} rounds; each answer's CPU measured over "
              f"the same seconds): by CPU per answer {median(t_cpu):+.1%} median of rounds ("
              + ", ".join(f"{x:+.1%}" for x in t_cpu) + f"), mean of all rounds "
              f"{1 - sum(cpu_us(p['off']) for p in together) / sum(cpu_us(p['on']) for p in together):+.1%}; "
              f"throughput, which here says how the scheduler split the cores between the two servers rather than what "
              f"an answer costs: {median(t_rps):+.1%} median (" + ", ".join(f"{x:+.1%}" for x in t_rps) + ")")
        print("  per round, CPU µs per answer (off / on) and answers/s (off / on): " + "; ".join(
            f"{cpu_us(p['off']):.0f} / {cpu_us(p['on']):.0f} ({p['off']['rps']:.0f} / {p['on']['rps']:.0f})"
            for p in together))
    on, off = group["on"], group["off"]
    print(f"group commit, whole run: signing server {on.get('rows', 0) / max(1, on.get('writes', 0)):.2f} rows per "
          f"write, {on.get('receipts', 0) / max(1, on.get('signatures', 0)):.2f} receipts per signature; unsigned "
          f"server {off.get('rows', 0) / max(1, off.get('writes', 0)):.2f} rows per write (onshi_group_commit_total)")
    sent_304 = sum(r["requests"] for r in results["304"]) + sum(warmed)
    print(f"usage log: {answered_304:,} checks answered 304 for {sent_304:,} requests sent with If-None-Match "
          "(the difference: requests in flight when wrk stopped, and the one check before the runs; "
          f"{sum(warmed):,} of them the 304 runs' unmeasured warm-ups)")
    print(f"\nin process, CPU µs per call (median of 3 × {args.calls:,} calls; PostgreSQL's CPU not included): "
          f"signing off {micro['off']:.0f}, on {micro['on']:.0f} ({micro['on'] / micro['off'] - 1:+.1%}); "
          f"304 through service.verify {micro['304']:.0f}, through etag_fast {micro['fast 304']:.0f} "
          f"({micro['on'] / micro['fast 304']:.2f}× the rate of a signed full answer), from the version cache "
          f"{micro['cached 304']:.0f} ({micro['on'] / micro['cached 304']:.2f}×; no read)")


if __name__ == "__main__":
    main()
