"""A PostgreSQL primary and its streaming replica of the test's own (initdb + pg_basebackup into a temporary
folder, on free ports) — never the shared server."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.ops.procs import free_port

PGBIN = Path(os.environ.get("ONSHI_TEST_PGBIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


class Cluster:
    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="onshi-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.started: list[Path] = []

    def run(self, *args: str) -> None:
        subprocess.run([*_as_postgres(), *args], check=True, capture_output=True, timeout=120)

    def start(self, data: Path, port: int) -> None:
        self.run(str(PGBIN / "pg_ctl"), "-D", str(data), "-l", str(data.parent / f"{data.name}.log"), "-w", "-o",
                 f"-p {port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        self.started.append(data)

    def primary(self) -> int:
        port = free_port()
        self.run(str(PGBIN / "initdb"), "-D", str(self.root / "primary"), "-A", "trust", "-U", "postgres",
                 "-E", "UTF8", "--locale=C", "--no-sync")
        self.start(self.root / "primary", port)
        return port

    def replica(self, primary_port: int) -> int:
        port = free_port()
        self.run(str(PGBIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(primary_port), "-U", "postgres",
                 "-D", str(self.root / "replica"), "-R", "-X", "stream", "--no-sync",
                 "--checkpoint=fast")  # the default, a spread checkpoint, waited up to 4.5 min: past the timeout
        self.start(self.root / "replica", port)
        return port

    def stop(self) -> None:
        for data in reversed(self.started):
            try:
                self.run(str(PGBIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(self.root, ignore_errors=True)
