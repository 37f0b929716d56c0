"""Benchmark: verification by numbers over HTTP, against 1,000,000 registered members in PostgreSQL.

    .venv/bin/python bench/bench_verify.py                           # 1,000,000 members
    .venv/bin/python bench/bench_verify.py --rows 100000 --seconds 15
    .venv/bin/python bench/bench_verify.py --seed intake             # members through intake + publisher

Builds a PostgreSQL database of its own (dropped at the end unless ``--keep``), starts the real server
as deployed (``onshi serve --workers N``: N uvicorn processes, each with its own ``SO_REUSEPORT`` socket) and drives it with ``wrk`` (Debian package; installed here by
``scripts/system-packages bench`` or by hand) from the same machine:

* baseline: ``GET /bench/fixed`` — the same server stack returning a fixed JSON;
* verify: ``POST /api/v1/verifications/numbers`` with random members (authenticated, logged, audited — the
  full path; every answer's usage-log and audit rows are counted afterwards), answered by the verification lane
  (:mod:`onshi.verify.lane`);
* the same through the middleware chain: the same requests with a cookie, which the lane hands down the chain
  (request log and metrics, rate limits, body guard, sessions, FastAPI's routing and dependencies) — what the
  lane saves, in the same run.

How the members are made (``--seed``):

* ``direct`` (default): ``INSERT … SELECT FROM generate_series`` straight into the verification index
  (``index_qualifications``), the rows the publisher would build for the members of ``bench_intake``'s file
  (same numbers, names and birth dates; 標準報酬月額 alternating 280,000/410,000) — ~20 s for 1,000,000;
* ``intake``: ``onshi intake`` of that file and the outbox publisher (the publication rate is printed too) —
  several minutes at 1,000,000 (see ``bench_intake.py`` and ``bench_publish.py``).

Prints throughput, p50/p99 latency (wrk's), peak RSS of the server processes, the ratio to the baseline
measured in the same run, and where the CPU went during each run (server, PostgreSQL, wrk, other jobs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_intake as bi  # noqa: E402

LUA = r"""
local rows = %(rows)d
local token = "%(token)s"
local counter = 0
math.randomseed(%(seed)d)
request = function()
  counter = counter + 1
  local i = math.random(0, rows - 1)
  local sym = 10000001 + math.floor(i / 50)
  local num = 1000 + (i %% 50)
  local body = string.format('{"insurer_number":"01130012","symbol":"%%d","number":"%%d","branch":"00",' ..
    '"birth_date":"%%s","care_date":"%(today)s"}', sym, num, birth(i))
  return wrk.format("POST", "/api/v1/verifications/numbers",
    {["Content-Type"]="application/json", ["Authorization"]="Bearer " .. token}, body)
end
"""

#: the same requests with a cookie: the verification lane hands them down the middleware chain
CHAIN_LUA = LUA.replace('["Authorization"]="Bearer " .. token}', '["Authorization"]="Bearer " .. token, '
                        '["Cookie"]="bench=chain"}')
assert CHAIN_LUA != LUA

LASTS, FIRSTS = bi.LASTS, bi.FIRSTS  # bench_intake.name_of
NL, NF = len(LASTS), len(FIRSTS)


def _arr(values) -> str:
    return "(ARRAY[" + ", ".join(f"'{v}'" for v in values) + "])"


def _b75(col: str) -> str:
    return (f"(CASE WHEN EXTRACT(MONTH FROM {col}) = 2 AND EXTRACT(DAY FROM {col}) = 29 "
            f"THEN make_date(EXTRACT(YEAR FROM {col})::int + 75, 3, 1) ELSE ({col} + interval '75 years')::date END)")


# bench_intake.write_file's members as the publisher indexes them (loss = the 75th birthday, 後期高齢者医療)
SEED_INDEX_SQL = f"""
INSERT INTO index_qualifications (
    qualification_id, person_id, insurer_id, insurer_number, insurer_name, symbol, number, branch, role,
    card_classification, name, name_kana, insured_name, birth_date, member_birth_date, sex, postal_code, address,
    acquisition_date, loss_date, loss_reason, voluntary_continuation, remuneration, limit_certificates,
    received_at, registered_at, change_id)
SELECT i + 1, i + 1, ins.id, ins.number, ins.name, (10000001 + i / 50)::text, (1000 + i %% 50)::text, '00',
       'insured', '01', m.name, m.kana, m.name, m.birth, NULL, 1 + i %% 2, '100-0001',
       '東京都千代田区千代田' || (i %% 9 + 1) || '-' || (i / 9 %% 20 + 1) || '-' || (i / 180 + 1), DATE '2024-04-01', {_b75("m.birth")}, '03', false,
       json_build_array(json_build_array('2024-04-01', NULL, CASE WHEN i %% 2 = 0 THEN 280000 ELSE 410000 END)),
       '[]'::json, %(now)s, %(now)s, i + 1
FROM generate_series(0, %(rows)s - 1) AS i
CROSS JOIN (SELECT id, number, name FROM insurers WHERE number = '01130012') ins
CROSS JOIN LATERAL (SELECT {_arr(l for l, _ in LASTS)}[i %% {NL} + 1] || '　' || {_arr(f for f, _ in FIRSTS)}[(i / {NL}) %% {NF} + 1]
                           AS name,
                           {_arr(k for _, k in LASTS)}[i %% {NL} + 1] || '　' || {_arr(k for _, k in FIRSTS)}[(i / {NL}) %% {NF} + 1]
                           AS kana,
                           make_date(1955 + (i * 37) %% 45, 1 + i %% 12, 1 + i %% 28) AS birth) m
"""


def seed_index(url: str, rows: int) -> float:
    import psycopg

    t = time.perf_counter()
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute(SEED_INDEX_SQL, {"rows": rows, "now": time.strftime("%Y-%m-%d %H:%M:%S")})
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE index_qualifications")
    return time.perf_counter() - t


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url: str, seconds: int, connections: int, script: str | None = None) -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        cmd += ["-s", script]
    proc = subprocess.Popen(cmd + [url], stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)  # wrk's own CPU time: the load generator shares the cores
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd, out)

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    done = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p50": ms("50"), "p99": ms("99"), "errors": int(non2xx.group(1)) if non2xx else 0,
            "requests": done, "raw": out, "wrk_cpu": usage.ru_utime + usage.ru_stime}


def start_server(url: str, env: dict, port: int, workers: int, reuse_port: bool = True,
                 **extra: str) -> subprocess.Popen:
    """The server as deployed (Dockerfile, compose.yaml): ``onshi serve --workers N`` — on Linux a supervisor
    and N workers, each with its own ``SO_REUSEPORT`` socket (onshi.web.serve); returns once every worker
    listens.  Its banner line goes nowhere."""
    server = subprocess.Popen(
        [sys.executable, "-m", "onshi", "serve", "--workers", str(workers), "--publish-every", "0",
         "--host", "127.0.0.1", "--port", str(port), *([] if reuse_port else ["--no-reuse-port"])],
        env=dict(env, ONSHI_DATABASE_URL=url, ONSHI_RATE_LIMIT_ENABLED="0", **extra),
        stdout=subprocess.DEVNULL, start_new_session=True)
    wait_listening(port, workers if reuse_port and workers > 1 else 1)
    return server


def wait_listening(port: int, sockets: int, timeout: float = 60) -> None:
    """Until *sockets* sockets listen on *port* (one per worker with SO_REUSEPORT): a run must not begin while
    only the first worker listens, or wrk's keep-alive connections would all stay on it."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rows = [l.split() for l in open("/proc/net/tcp").read().splitlines()[1:]]
        if sum(1 for f in rows if int(f[1].split(":")[1], 16) == port and f[3] == "0A") >= sockets:
            return
        time.sleep(0.2)
    sys.exit(f"the server did not listen on port {port} with {sockets} socket(s) within {timeout:.0f} s")


def _server_pids(pid: int) -> list[int]:
    """The server's processes: the supervisor (*pid*) and its children — the workers, and multiprocessing's
    resource tracker (idle).  The workers are the supervisor's direct children (spawned by it, not by a shell)."""
    return [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                   text=True).stdout.split()]


def rss_mb(pid: int) -> float:
    total = 0.0
    for p in _server_pids(pid):
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except FileNotFoundError:
            pass
    return total


def leader_held(url: str) -> bool:
    """Whether a session holds the publisher leader's advisory lock in the bench's database."""
    from sqlalchemy import create_engine, text

    from onshi.exchange.publish import LEADER_LOCK_KEY

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(text(
                "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                "WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database() "
                "AND ((l.classid::bigint << 32) | l.objid::bigint) = :k"), {"k": LEADER_LOCK_KEY}).scalar())
    finally:
        engine.dispose()


class CpuMeter:
    """Where the two cores went during a run: the server's processes, PostgreSQL's, wrk (a child of this
    process), interrupts, and the rest — other jobs on the machine."""

    HZ = os.sysconf("SC_CLK_TCK")

    def __init__(self, server_pid: int):
        self.server_pid = server_pid

    @staticmethod
    def _ticks(pid: int) -> int:
        try:
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            return int(f[11]) + int(f[12])
        except (FileNotFoundError, ProcessLookupError):
            return 0

    def _snap(self) -> dict:
        cpu = [int(x) for x in open("/proc/stat").readline().split()[1:]]
        pg = [int(p) for p in subprocess.run(["pgrep", "-u", "postgres"], capture_output=True, text=True).stdout.split()]
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {"t": time.monotonic(), "cpu": cpu, "children": ru.ru_utime + ru.ru_stime,
                "server": {p: self._ticks(p) for p in _server_pids(self.server_pid)},
                "pg": {p: self._ticks(p) for p in pg}}

    def start(self) -> None:
        self.a = self._snap()

    def stop(self) -> dict:
        a, b = self.a, self._snap()
        secs = b["t"] - a["t"]
        pct = lambda ticks: ticks / self.HZ / secs * 100  # noqa: E731
        d = [y - x for x, y in zip(a["cpu"], b["cpu"])]  # user nice system idle iowait irq softirq steal
        busy = pct(d[0] + d[1] + d[2] + d[5] + d[6])
        server = pct(sum(v - a["server"].get(p, 0) for p, v in b["server"].items()))
        pg = pct(sum(v - a["pg"].get(p, 0) for p, v in b["pg"].items()))
        wrk_ = (b["children"] - a["children"]) / secs * 100
        irq = pct(d[5] + d[6])
        # each server process's share, largest first: with the workers on one shared socket, one of them could
        # take every connection and the other idle (issue 19); per-worker sockets split them
        by_process = sorted((pct(v - a["server"].get(p, 0)) for p, v in b["server"].items()), reverse=True)
        return {"busy": busy, "server": server, "pg": pg, "wrk": wrk_, "irq": irq,
                "other": max(0.0, busy - server - pg - wrk_ - irq), "steal": pct(d[7]),
                "by_process": [round(x) for x in by_process if x >= 1]}


def log_rows(url: str) -> int:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return conn.execute("SELECT count(*) FROM verification_log").fetchone()[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-reuse-port", dest="reuse_port", action="store_false",
                    help="the workers share one socket (`onshi serve --no-reuse-port`), to compare")
    ap.add_argument("--seed", choices=("direct", "intake"), default="direct")
    ap.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    ap.add_argument("--reuse", metavar="NAME", help="a database kept by --keep with the same --rows")
    ap.add_argument("--no-publisher", dest="publisher", action="store_false",
                    help="do not run the outbox publisher leader beside the servers (issue 19 runs it)")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")

    env = bi.bench_env()
    server = publisher = None
    pub = seed_secs = None
    if args.reuse:
        name, url = args.reuse, f"{bi.PG}/{args.reuse}"
        token = json.loads((bi.OUT / f"{name}.json").read_text())["token"]
    else:
        name = f"onshi_bench_{uuid.uuid4().hex[:8]}"
        url = bi.create_db(name)
    try:
        if not args.reuse:
            from onshi.verify.service import add_institution

            tokens = []
            bi.prepare_database(url, args.rows, extra=lambda s: tokens.append(
                add_institution(s, code=_clinic_code(), name="ベンチ内科", facility_type="clinic")[1]))
            token = tokens[0]
            if args.seed == "direct":
                print(f"seeding {args.rows:,} members into the index …", file=sys.stderr)
                seed_secs = seed_index(url, args.rows)
            else:
                path = bi.OUT / f"acquisition_{args.rows}.csv"
                if not path.exists():
                    bi.write_file(path, args.rows)
                print("intake …", file=sys.stderr)
                t = time.perf_counter()
                subprocess.check_output([sys.executable, bi.__file__, "--child", "intake", url, str(path)], env=env)
                print("publishing …", file=sys.stderr)
                pub = json.loads(subprocess.check_output([sys.executable, bi.__file__, "--child", "publish", url],
                                                         env=env))
                seed_secs = time.perf_counter() - t
            if args.keep:
                (bi.OUT / f"{name}.json").write_text(json.dumps({"token": token, "rows": args.rows}))
        port = free_port()
        server = start_server(url, env, port, args.workers, args.reuse_port, ONSHI_BENCH_ENDPOINT="1")
        if args.publisher:  # the production shape: the outbox publisher as a process of its own, leading
            publisher = subprocess.Popen(
                [sys.executable, "-m", "onshi", "exchange", "publisher", "--interval", "2"],
                env=dict(env, ONSHI_DATABASE_URL=url), start_new_session=True,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        base = f"http://127.0.0.1:{port}"
        years = _birth_lua()
        from onshi.store.clock import japan_today

        scripts = {}
        for chain, lua in (("false", LUA), ("true", CHAIN_LUA)):
            with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
                fh.write(years + lua % {"rows": args.rows, "token": token, "seed": 1,
                                        "today": japan_today().isoformat()})
                scripts[chain] = fh.name
        script = scripts["false"]
        wrk(f"{base}/bench/fixed", 3, args.connections)  # warm up
        wrk(base, 3, args.connections, script)
        meter = CpuMeter(server.pid)
        meter.start()
        fixed = wrk(f"{base}/bench/fixed", args.seconds, args.connections)
        fixed["cpu"] = meter.stop()
        logged_before = log_rows(url)
        meter.start()
        verify = wrk(base, args.seconds, args.connections, script)
        verify["cpu"] = meter.stop()
        meter.start()
        chain = wrk(base, args.seconds, args.connections, scripts["true"])
        chain["cpu"] = meter.stop()
        mem = rss_mb(server.pid)
        time.sleep(1)
        logged = log_rows(url) - logged_before
        led = leader_held(url) if publisher else None
    finally:
        if server:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
        if publisher:
            os.killpg(publisher.pid, signal.SIGTERM)
            publisher.wait(timeout=20)
        if not (args.keep or args.reuse):
            bi.drop_db(name)

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem_total = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")) / 1024 / 1024
    print(f"\nmachine: {platform.node()} · {os.cpu_count()} cores · {cpu} · {mem_total:.0f} GiB")
    print(f"members: {args.rows:,} ({'reused ' + name if args.reuse else f'seeded by {args.seed}'}"
          f"{f' in {seed_secs:.0f}s' if seed_secs else ''}) · server workers: {args.workers}"
          f"{'' if args.reuse_port else ' (one shared socket: --no-reuse-port)'} · "
          f"wrk 1 thread, {args.connections} connections, {args.seconds}s each\n")
    print(f"{'run':28} {'answers/s':>10} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>7} {'server RSS MB':>13} "
          f"{'× baseline':>10}   CPU % of 200: server / PostgreSQL / wrk / irq / other jobs")

    def cpu_cols(c: dict) -> str:
        return (f"{c['server']:.0f} / {c['pg']:.0f} / {c['wrk']:.0f} / {c['irq']:.0f} / {c['other']:.0f}   "
                f"(server by process: {' + '.join(map(str, c['by_process'])) or '0'})")

    print(f"{'bare endpoint (baseline)':28} {fixed['rps']:10,.0f} {fixed['p50']:7.2f} {fixed['p99']:7.2f} "
          f"{fixed['errors']:7} {'':>13} {1.0:10.2f}   {cpu_cols(fixed['cpu'])}")
    print(f"{'verify by numbers (REST)':28} {verify['rps']:10,.0f} {verify['p50']:7.2f} {verify['p99']:7.2f} "
          f"{verify['errors']:7} {mem:13.0f} {verify['rps'] / fixed['rps']:10.2f}   {cpu_cols(verify['cpu'])}")
    print(f"{'  the same through the chain':28} {chain['rps']:10,.0f} {chain['p50']:7.2f} {chain['p99']:7.2f} "
          f"{chain['errors']:7} {mem:13.0f} {chain['rps'] / fixed['rps']:10.2f}   {cpu_cols(chain['cpu'])}")
    if publisher:
        print(f"publisher leader (`onshi exchange publisher`, its own process; its CPU is in 'other jobs'): "
              f"{'held the lead during the runs' if led else 'DID NOT HOLD THE LEAD'}")
    else:
        print("publisher leader: not running (--no-publisher)")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f}")
    print(f"\n{verify['requests'] + chain['requests']:,} answers, {logged:,} usage-log rows written (the difference is requests "
          "still in flight when wrk stopped)")
    if pub:
        print(f"publish to index: {pub['published'] / pub['seconds']:,.0f} records/s "
              f"({pub['published']:,} in {pub['seconds']:.1f}s)")
    if args.keep:
        print(f"database kept: {name} (--reuse {name})")


def _clinic_code() -> str:
    from onshi.numbers import institution_code

    return "131" + "000001" + institution_code.calc_check_digit("131000001")


def _birth_lua() -> str:
    """The generator's birth dates, mirrored in Lua (bench_intake.write_file)."""
    return r"""
function birth(i)
  return string.format("%d-%02d-%02d", 1955 + (i * 37) % 45, 1 + i % 12, 1 + i % 28)
end
"""


if __name__ == "__main__":
    main()
