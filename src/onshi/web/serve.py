"""``onshi serve --workers N``: N uvicorn processes, each with its own listening socket (``SO_REUSEPORT``).

With one socket shared by N processes (``uvicorn.run(workers=N)``), whichever worker wakes first drains the
accept backlog: a burst of keep-alive connections (wrk's 16, clinic terminals reconnecting after an outage) can
all land on one process while the other idles — one run of issue 19's benchmark used 78 % CPU of 200 % and
answered 1,345/s instead of ~2,190/s.  With a socket per worker bound to the same host:port with
``SO_REUSEPORT``, the kernel hashes each new connection to one of the sockets, so connections spread over the
workers (nginx's ``listen … reuseport``).  docs/deploy.md.

The parent is a small supervisor (:class:`Supervisor`): it starts the workers (multiprocessing, spawn), starts a
new one when one dies (logged; its metrics files stay, counters do not go back), and on SIGTERM/SIGINT stops them
all gracefully and returns.  Each worker binds its own socket, so a dead worker's socket dies with it — nothing
is left listening without a process to accept.  A worker ends itself when the supervisor dies
(``PR_SET_PDEATHSIG``).  Without ``SO_REUSEPORT`` (not Linux) or with ``--no-reuse-port``: uvicorn's own
workers on one socket, as before.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from multiprocessing.connection import wait as wait_for_exit

log = logging.getLogger("onshi.serve")

APP = "onshi.web.app:create_app"
BACKLOG = 2048  # uvicorn's default
EXIT_BIND_FAILED = 98  # a worker could not bind the port (EADDRINUSE's number on Linux): fatal, not restarted
STOP_GRACE_SECONDS = 30.0  # a worker still running this long after SIGTERM is killed
FAST_CRASH_SECONDS = 5.0  # a worker dying sooner than this after its start is restarted after a pause
RESTART_PAUSE_SECONDS = 1.0
FAST_CRASHES_TO_GIVE_UP = 5  # this many fast deaths in a row: the workers cannot start (a broken setting), stop


class ServeError(Exception):
    """``onshi serve`` cannot go on; the message says why (one line)."""


class PortTaken(ServeError):
    """The host:port is already listened on (another server, or an ``onshi serve`` still running)."""

    def __init__(self, host: str, port: int, reason: str):
        super().__init__(f"{host}:{port}: {reason}")
        self.host, self.port, self.reason = host, port, reason


def reuse_port_available() -> bool:
    """Whether the kernel spreads connections over sockets bound with ``SO_REUSEPORT`` (Linux ≥ 3.9)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn's Config.bind_socket


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`PortTaken` when *host*:*port* cannot be bound by a socket of its own.  Bound without
    ``SO_REUSEPORT`` on purpose: with it, a second ``onshi serve`` of the same user on the same port would join
    the first one's group silently and share its connections."""
    probe = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # connections in TIME_WAIT do not count
        probe.bind((host, port))
    except OSError as exc:
        raise PortTaken(host, port, exc.strerror or str(exc)) from None
    finally:
        probe.close()


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening socket of this process on *host*:*port*, one of the ``SO_REUSEPORT`` group."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def _die_with_parent(parent: int) -> None:
    """Linux: SIGTERM this worker when the supervisor dies (even by SIGKILL), so no worker serves orphaned."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the supervisor died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def run_worker(host: str, port: int, parent: int) -> None:
    """One worker process (the target the supervisor spawns): its own socket, then uvicorn on it."""
    import uvicorn

    _die_with_parent(parent)
    config = uvicorn.Config(APP, factory=True, host=host, port=port, log_level="warning", access_log=False)
    config.load()  # the app first (~1 s of imports): the socket joins the group only when it is about to be served
    try:
        sock = reuse_port_socket(host, port)
    except OSError as exc:
        logging.getLogger("uvicorn.error").error("worker %d: cannot listen on %s:%d: %s", os.getpid(), host, port,
                                                 exc.strerror or exc)
        sys.exit(EXIT_BIND_FAILED)
    uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    """Keeps *workers* processes of :func:`run_worker` running until SIGTERM or SIGINT."""

    def __init__(self, host: str, port: int, workers: int):
        self.host, self.port, self.workers = host, port, workers
        self.ctx = multiprocessing.get_context("spawn")
        self.procs: list[multiprocessing.process.BaseProcess] = []
        self.started: dict[int, float] = {}  # pid → monotonic start
        self.stopping = False
        self.failed: ServeError | None = None
        self.fast_crashes = 0

    def _start_one(self) -> None:
        p = self.ctx.Process(target=run_worker, args=(self.host, self.port, os.getpid()), name="onshi-worker",
                             daemon=False)
        p.start()
        self.procs.append(p)
        self.started[p.pid] = time.monotonic()

    def _on_signal(self, signum, frame) -> None:  # noqa: ARG002 - signal handler's signature
        self.stopping = True

    def run(self, on_worker_gone=None) -> None:
        """Supervise until a stop signal.  Raises :class:`ServeError` (:class:`PortTaken` when a worker could not
        bind the port) after stopping every worker.  ``on_worker_gone(pid)`` is called for each worker that
        ended (its metrics files)."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            for _ in range(self.workers):
                self._start_one()
            while not self.stopping and not self.failed:
                wait_for_exit([p.sentinel for p in self.procs], timeout=0.5)
                for p in [p for p in self.procs if p.exitcode is not None]:
                    self.procs.remove(p)
                    p.join()
                    if on_worker_gone:
                        on_worker_gone(p.pid)
                    if self.stopping:
                        break
                    lived = time.monotonic() - self.started.pop(p.pid, 0.0)
                    if p.exitcode == EXIT_BIND_FAILED:  # taken between check_port_free and the worker's bind
                        self.failed = PortTaken(self.host, self.port, "a worker could not listen on it")
                        break
                    how = f"signal {-p.exitcode}" if p.exitcode < 0 else f"exit code {p.exitcode}"
                    self.fast_crashes = self.fast_crashes + 1 if lived < FAST_CRASH_SECONDS else 0
                    if self.fast_crashes >= FAST_CRASHES_TO_GIVE_UP:
                        self.failed = ServeError(f"ワーカーが {self.fast_crashes} 回続けて起動から "
                                                 f"{FAST_CRASH_SECONDS:.0f} 秒以内に終了しました（最後は {how}）"
                                                 " — 原因はその前のログにあります")
                        break
                    log.warning("worker %d ended (%s) after %.1f s; starting a new one", p.pid, how, lived)
                    if lived < FAST_CRASH_SECONDS:
                        time.sleep(RESTART_PAUSE_SECONDS)  # a worker that cannot start must not spin the CPU
                    if not self.stopping:
                        self._start_one()
        finally:
            self._stop_all(on_worker_gone)
            for s, h in previous.items():
                signal.signal(s, h)
        if self.failed:
            raise self.failed

    def _stop_all(self, on_worker_gone) -> None:
        running = [p.pid for p in self.procs if p.exitcode is None]
        if running:
            log.info("stopping workers %s", ", ".join(map(str, running)))
        for p in self.procs:
            if p.exitcode is None:
                try:
                    os.kill(p.pid, signal.SIGTERM)  # uvicorn: finish the requests in flight, then exit
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for p in self.procs:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.exitcode is None:
                log.warning("worker %d did not stop within %.0f s; killing it", p.pid, STOP_GRACE_SECONDS)
                p.kill()
                p.join()
            if on_worker_gone:
                on_worker_gone(p.pid)
        self.procs.clear()


def serve(host: str, port: int, workers: int, *, reuse_port: bool = True) -> None:
    """Serve the app on *host*:*port* with *workers* processes until SIGTERM/SIGINT.  Raises :class:`PortTaken`
    before anything starts when the port is in use, :class:`ServeError` when the workers cannot run."""
    import uvicorn

    from onshi.config import get_settings
    from onshi.ops.metrics import forget_process

    check_port_free(host, port)
    if workers <= 1 or not reuse_port or not reuse_port_available():
        uvicorn.run(APP, factory=True, host=host, port=port, workers=workers, log_level="warning",
                    access_log=False)
        return
    if get_settings().log_format == "json":
        from onshi.ops.logs import install_json_logging

        install_json_logging()
    elif not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))  # uvicorn's text shape
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    Supervisor(host, port, workers).run(on_worker_gone=forget_process)
