"""Real broker, real workers, for the batch-task tests of every domain (documents, exchange, analytics, ops).

RabbitMQ at ``ONSHI_TEST_AMQP`` (default amqp://guest:guest@127.0.0.1:5672//): a test is skipped, saying so, only
where it is unreachable.  Each test uses a queue of its own (``queue`` fixture) and deletes it.  :class:`Workers`
starts real ``onshi worker`` processes (threads pool of one: SIGKILL kills the whole worker mid-task);
:class:`Proxy` is a TCP relay to the broker that a test kills to make "the broker" unreachable without touching
the shared RabbitMQ."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from onshi.store import tasks

AMQP = os.environ.get("ONSHI_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")
SRC = str(Path(__file__).resolve().parents[2] / "src")


def amqp_reason() -> str:
    from kombu import Connection

    try:
        with Connection(AMQP, connect_timeout=3) as c:
            c.ensure_connection(max_retries=1)
        return ""
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}: {exc}"


@pytest.fixture
def broker():
    reason = amqp_reason()
    if reason:
        pytest.skip(f"RabbitMQ unreachable at {AMQP} ({reason}): the Celery tests need a real broker")
    # The in-process Celery app may still point at the unreachable broker an earlier test configured (the outage
    # tests do); a test that calls ``apply_async`` itself must publish to this one.
    tasks.configure(AMQP)
    return AMQP


@pytest.fixture
def queue(broker):
    name = f"onshi-test-{uuid.uuid4().hex[:10]}"
    yield name
    tasks.delete_queue(name, broker)


class Workers:
    """Real ``onshi worker`` processes."""

    def __init__(self, database_url: str, broker: str, queue: str):
        self.env = {**os.environ, "ONSHI_DATABASE_URL": database_url, "ONSHI_BROKER_URL": broker,
                    "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.queue, self.procs = queue, []

    def start(self, n: int = 1, broker: str | None = None) -> None:
        env = dict(self.env, ONSHI_BROKER_URL=broker) if broker else self.env
        for _ in range(n):
            i = len(self.procs)
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "onshi", "worker", "--queue", self.queue, "--pool", "threads",
                 "--concurrency", "1", "--hostname", f"w{i}-{self.queue}@%h"], env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def wait_consuming(self, broker: str, timeout: float = 120) -> None:
        """Wait until every started worker consumes the queue: RabbitMQ then deals a run's units out in turn
        (prefetch 1), so each worker takes one — a run sent before the second had connected could go wholly to the
        first (CI saw a "two workers" run done by one)."""
        want = len(self.procs)

        def ready() -> bool:
            try:
                return tasks.queue_depth(broker, self.queue)[1] >= want
            except Exception:  # noqa: BLE001 - the queue is not declared yet
                return False

        wait_until(ready, timeout, f"{want} workers consuming {self.queue}")

    def stop(self) -> None:
        """SIGKILL: the test has drained its queue, and neither a warm (SIGTERM) nor a cold (SIGQUIT) shutdown of a
        threads-pool worker ended within 10 s — minutes of every suite run.  Late acknowledgement makes a kill safe
        (the test of a worker killed mid-task relies on exactly that)."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            p.wait()


@pytest.fixture
def workers(engine, database_url, broker, queue):
    w = Workers(database_url, broker, queue)
    yield w
    w.stop()


def drain(queue: str, timeout: float = 120) -> None:
    """Wait until the queue holds no message, ready or unacknowledged (no consumer holds one)."""
    tasks.configure(AMQP)
    deadline = time.monotonic() + timeout
    with tasks.app.connection_for_write() as conn:
        while time.monotonic() < deadline:
            ready = conn.default_channel.queue_declare(queue, passive=True).message_count
            active = tasks.app.control.inspect(timeout=1.0).active() or {}
            reserved = tasks.app.control.inspect(timeout=1.0).reserved() or {}
            if ready == 0 and active and not any(active.values()) and not any(reserved.values()):
                return
            time.sleep(0.2)
    pytest.fail(f"queue {queue} not drained in {timeout} s")


def wait_until(predicate, timeout: float = 120, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    pytest.fail(f"{what}: not within {timeout} s")


class Proxy:
    """A TCP relay from a free local port to the broker; :meth:`kill` closes it and every connection through it —
    to whoever uses it, the broker is gone (the shared RabbitMQ is not touched)."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5672)):
        self.target = target
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.socks: list[socket.socket] = []
        self.alive = True
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def _accept(self) -> None:
        while self.alive:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def kill(self) -> None:
        self.alive = False
        try:
            self.server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.server.close()
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
