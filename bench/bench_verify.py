"""Benchmark: verification by numbers over HTTP, against 1,000,000 registered members in PostgreSQL.

    .venv/bin/python bench/bench_verify.py                 # 1,000,000 members
    .venv/bin/python bench/bench_verify.py --rows 100000 --seconds 15

Builds a PostgreSQL database of its own (dropped at the end) with the intake
path and the publisher (the publication rate is reported too), starts the real
server (uvicorn, ``--workers`` processes) and drives it with ``wrk`` (Debian
package; installed here by ``scripts/system-packages bench`` or by hand) from
the same machine:

* baseline: ``GET /bench/fixed`` — the same server stack returning a fixed JSON;
* verify: ``POST /api/v1/verifications/numbers`` with random members (authenticated,
  logged, audited — the full path).

Prints throughput, p50/p99 latency (wrk's), peak RSS of the server processes
and the ratio to the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wrk(url: str, seconds: int, connections: int, script: str | None = None) -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout

    def ms(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": ms("50"), "p99": ms("99"), "errors": int(non2xx.group(1)) if non2xx else 0,
            "raw": out}


def rss_mb(pid: int) -> float:
    total = 0.0
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True,
                                                   text=True).stdout.split()]
    for p in pids:
        try:
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        except FileNotFoundError:
            pass
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found: apt-get install wrk")

    import base64

    keys = {"enc": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "hash": base64.urlsafe_b64encode(os.urandom(32)).decode()}
    env = dict(os.environ, ONSHI_MY_NUMBER_KEY=keys["enc"], ONSHI_MY_NUMBER_HASH_KEY=keys["hash"],
               ONSHI_BENCH_KEYS=json.dumps(keys), ONSHI_VAR_DIR=str(bi.OUT / "var"))
    os.environ.update(env)
    bi.OUT.mkdir(parents=True, exist_ok=True)
    path = bi.OUT / f"acquisition_{args.rows}.csv"
    if not path.exists():
        bi.write_file(path, args.rows)
    name = f"onshi_bench_{uuid.uuid4().hex[:8]}"
    url = bi.create_db(name)
    server = None
    try:
        from onshi.verify.service import add_institution

        tokens = []
        bi.prepare_database(url, args.rows, extra=lambda s: tokens.append(
            add_institution(s, code=_clinic_code(), name="ベンチ内科", facility_type="clinic")[1]))
        token = tokens[0]
        print("intake …", file=sys.stderr)
        subprocess.check_output([sys.executable, bi.__file__, "--child", "intake", url, str(path)], env=env)
        print("publishing …", file=sys.stderr)
        pub = json.loads(subprocess.check_output([sys.executable, bi.__file__, "--child", "publish", url], env=env))
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "onshi.web.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "--workers", str(args.workers), "--log-level", "warning", "--no-access-log"],
            env=dict(env, ONSHI_DATABASE_URL=url, ONSHI_PUBLISH_INTERVAL="0"), start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        years = _birth_lua()
        from datetime import date

        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
            fh.write(years + LUA % {"rows": args.rows, "token": token, "seed": 1,
                                    "today": date.today().isoformat()})
            script = fh.name
        wrk(f"{base}/bench/fixed", 3, args.connections)  # warm up
        wrk(base, 3, args.connections, script)
        fixed = wrk(f"{base}/bench/fixed", args.seconds, args.connections)
        verify = wrk(base, args.seconds, args.connections, script)
        mem = rss_mb(server.pid)
    finally:
        if server:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
        bi.drop_db(name)

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"\nmachine: {platform.node()} · {os.cpu_count()} cores · {cpu}")
    print(f"members: {args.rows:,} · server workers: {args.workers} · wrk 1 thread, {args.connections} connections, "
          f"{args.seconds}s each\n")
    print(f"{'run':34} {'answers/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'server RSS MB':>14} "
          f"{'× baseline':>10}")
    print(f"{'bare endpoint (baseline)':34} {fixed['rps']:10,.0f} {fixed['p50']:8.2f} {fixed['p99']:8.2f} "
          f"{fixed['errors']:8} {'':>14} {1.0:10.2f}")
    print(f"{'verify by numbers (REST)':34} {verify['rps']:10,.0f} {verify['p50']:8.2f} {verify['p99']:8.2f} "
          f"{verify['errors']:8} {mem:14.0f} {verify['rps'] / fixed['rps']:10.2f}")
    print(f"\npublish to index: {pub['published'] / pub['seconds']:,.0f} records/s "
          f"({pub['published']:,} in {pub['seconds']:.1f}s)")


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
