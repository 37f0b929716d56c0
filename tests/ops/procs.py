"""Real onshi processes for the ops tests: servers and publishers started as an operator starts them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

import onshi

SRC = Path(onshi.__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served_in_thread(app, *, lifespan: str = "on", log_level: str = "warning"):
    """*app* under real uvicorn on 127.0.0.1 and a free port, in a background thread; yields the port and stops
    the server at the end."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level=log_level,
                                           lifespan=lifespan))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def env_for(database_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"ONSHI_DATABASE_URL": database_url, "PYTHONPATH": str(SRC), "ONSHI_LOG_FORMAT": "json"})
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.update(extra)
    return env


class Proc:
    """A child process whose stderr goes to a file (JSON log lines)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, cwd: Path):
        self.log = log
        self._fh = open(log, "wb")
        self.p = subprocess.Popen([sys.executable, "-m", "onshi", *args], env=env, cwd=cwd,
                                  stdout=self._fh, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.p.pid

    def lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8", errors="replace").splitlines()

    def events(self) -> list[dict]:
        out = []
        for line in self.lines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def stop(self) -> None:
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGCONT)
                os.killpg(self.p.pid, signal.SIGTERM)
                self.p.wait(15)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self.p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait(15)
        self._fh.close()


def wait_for(predicate, timeout: float, what: str, step: float = 0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def wait_http(base: str, proc: Proc, timeout: float = 60) -> None:
    def up():
        if proc.p.poll() is not None:
            raise AssertionError(f"server exited {proc.p.returncode}: " + "\n".join(proc.lines()[-20:]))
        try:
            return httpx.get(base + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, timeout, f"{base}/healthz", step=0.2)


def samples(text: str, name: str) -> dict[tuple, float]:
    """The samples of one metric in Prometheus text: {sorted label pairs: value}."""
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out
