"""Shared by the document benchmarks: a database of their own seeded with ``onshi demo seed``, and their children.

    with seeded_database(members=2000, seed=1, today=date(2026, 11, 23), pg=True) as env:
        result = child(__file__, "step", env, "arg")

Each step runs in a fresh child process (``python BENCH --child KIND ARGS…`` printing one JSON line last), so its
peak RSS is its own.  The database (PostgreSQL at 127.0.0.1:5432, or a SQLite file) and the work folder are removed
at the end.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import bench_intake as bi


@contextmanager
def seeded_database(*, members: int, seed: int, today: date, pg: bool, prefix: str) -> Iterator[dict[str, str]]:
    """The environment for children: ONSHI_DATABASE_URL of a fresh database holding the seeded population,
    ONSHI_VAR_DIR and ONSHI_WORK (a folder for output) in a temporary folder, the bench's keys."""
    env = bi.bench_env()
    work = Path(tempfile.mkdtemp(prefix=f"onshi-bench-{prefix}-"))
    name = f"onshi_bench_{uuid.uuid4().hex[:8]}"
    url = bi.create_db(name) if pg else f"sqlite:///{work / 'bench.db'}"
    env = dict(env, ONSHI_DATABASE_URL=url, ONSHI_VAR_DIR=str(work / "var"), ONSHI_WORK=str(work / "out"))
    try:
        from onshi.store import migrate

        migrate.upgrade(url)
        print(f"seeding {members:,} members …", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "onshi.cli", "demo", "seed", "--members", str(members),
                        "--seed", str(seed), "--today", today.isoformat()],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        yield env
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if pg:
            bi.drop_db(name)


def child(script: str, kind: str, env: dict[str, str], *args: str) -> dict:
    """Run one step of *script* in a fresh process; its last line of output, as JSON."""
    print(f"{kind} …", file=sys.stderr)
    out = subprocess.check_output([sys.executable, script, "--child", kind, *args], env=env)
    return json.loads(out.decode().strip().splitlines()[-1])


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")
