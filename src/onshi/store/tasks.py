"""The task engine every batch run uses: Celery over RabbitMQ, or this process when no broker is configured
(docs/batch.md).

* :data:`app` — the one Celery app; its tasks live beside their domain (``documents/tasks.py``,
  ``exchange/tasks.py``, ``analytics/tasks.py``, ``claims/tasks.py``) and are imported by ``onshi worker``
  (``include``).  Late
  acknowledgement, a lost worker's message put back, prefetch 1: a worker killed with ``kill -9`` loses nothing.
* :func:`run_units` — start (or resume) a run: its units are sent to the queue (or run here one after another
  without a broker), and the starter waits for their rows in ``batch_units`` — whichever worker wrote them —
  feeding the progress, **for a bounded time when the broker is gone**: a broker unreachable (or a queue nobody
  consumes, with no progress) for ``ONSHI_TASK_WAIT_SECONDS`` ends the wait, the run is marked ``failed`` with the
  reason, and :class:`RunStalled` is raised.  Starting the run again resumes it (units done are skipped).
* :func:`queue_depth` — messages waiting and consumers of a queue (a passive ``queue_declare``), for ``/metrics``.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from celery import Celery
from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.config import get_settings
from onshi.store import batch

__all__ = ["RunStalled", "app", "configure", "delete_queue", "queue_depth", "run_units", "start_worker",
           "wait_for", "worker_name"]

TASK_MODULES = ["onshi.documents.tasks", "onshi.exchange.tasks", "onshi.analytics.tasks", "onshi.claims.tasks"]

app = Celery("onshi", set_as_current=False, include=TASK_MODULES)
app.conf.update(
    task_acks_late=True,  # acknowledged once the unit is committed: a worker killed mid-task loses nothing
    task_reject_on_worker_lost=True,  # a pool child killed mid-task: its message goes back on the queue
    worker_prefetch_multiplier=1,  # a worker holds one unit at a time; the others wait on the queue for anyone
    task_serializer="json", accept_content=["json"], result_backend=None, task_ignore_result=True,
    broker_connection_retry_on_startup=True, worker_hijack_root_logger=False,
    worker_cancel_long_running_tasks_on_connection_loss=True,
)


class RunStalled(RuntimeError):
    """The starter stopped waiting: the broker is unreachable, or nobody consumes the queue and nothing moves.
    The run is recorded ``failed`` with this reason; starting it again resumes it."""


def configure(broker_url: str | None = None) -> None:
    """Point the Celery app at *broker_url* (default: the settings').  When the URL changes, the app's connection
    and producer pools are dropped: they stay bound to the first broker they served, so after one run against an
    unreachable broker every later ``apply_async`` in the process was refused (found by the clock-run order)."""
    url = broker_url or get_settings().broker_url
    if app.conf.broker_url != url:
        app.conf.broker_url = url
        app._after_fork()  # noqa: SLF001 - Celery's own reset of both pools (what it does in a forked child)


def factory():
    """The session factory of a worker process: its engine from ONSHI_DATABASE_URL (``default_engine``, one per
    process)."""
    from onshi.store.db import session_factory

    return session_factory()


def worker_name(task) -> str:
    return f"{task.request.hostname or socket.gethostname()}"


def queue_depth(broker_url: str, queue: str, *, timeout: float = 2.0) -> tuple[int, int]:
    """``(messages ready, consumers)`` of *queue* — a passive declare, which creates nothing; ``(0, 0)`` for a
    queue that does not exist (yet).  Raises when the broker does not answer."""
    from amqp.exceptions import NotFound
    from kombu import Connection

    with Connection(broker_url, connect_timeout=timeout, transport_options={"max_retries": 0}) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
        try:
            ok = conn.default_channel.queue_declare(queue, passive=True)
        except NotFound:
            return 0, 0
        return int(ok.message_count), int(ok.consumer_count)


@dataclass
class Watch:
    """What the starter knows of the broker while it waits."""

    broker_url: str
    queue: str
    wait: float
    down_since: float | None = None
    idle_since: float | None = None
    last_error: str = ""

    def check(self, moved: bool) -> None:
        """Raise :class:`RunStalled` when the broker has been unreachable, or the queue unconsumed with nothing
        moving, for longer than *wait* seconds."""
        now = time.monotonic()
        try:
            messages, consumers = queue_depth(self.broker_url, self.queue)
            self.down_since = None
        except Exception as exc:  # noqa: BLE001 - the broker is down (or refuses): counted, then reported
            self.last_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
            self.down_since = self.down_since or now
            if now - self.down_since > self.wait:
                raise RunStalled(f"ブローカーに {self.wait:.0f} 秒つながりません — 実行は中断しました。ブローカーが戻ったら"
                                 f"同じ実行をもう一度始めてください (broker unreachable for {self.wait:.0f} s: "
                                 f"{self.last_error}; start the run again to resume)") from None
            return
        if moved or consumers > 0:
            self.idle_since = None
            return
        self.idle_since = self.idle_since or now
        if now - self.idle_since > self.wait:
            raise RunStalled(f"キュー {self.queue} を受け取るワーカーがなく {self.wait:.0f} 秒進みません — "
                             f"`onshi worker --queue {self.queue}` を起動して同じ実行をもう一度始めてください "
                             f"(no worker consumes queue {self.queue}, {messages} waiting, nothing done for "
                             f"{self.wait:.0f} s)")


def wait_for(factory: Callable[[], Session], count: Callable[[Session], tuple[int, int]], wanted: int, *,
             broker_url: str, queue: str, progress: Callable[[int], None] | None = None, poll: float = 0.5,
             timeout: float | None = None, wait: float | None = None, what: str = "units") -> None:
    """Wait until ``count(session)`` says *wanted* units are finished; ``count`` returns ``(units finished, items
    they covered)`` and the items feed *progress*.  Bounded: :class:`RunStalled` when the broker is gone or nobody
    consumes (see :class:`Watch`), :class:`TimeoutError` after *timeout* seconds in all when given."""
    watch = Watch(broker_url, queue, get_settings().task_wait_seconds if wait is None else wait)
    seen_items, seen_units = 0, -1
    deadline = None if timeout is None else time.monotonic() + timeout
    next_check = time.monotonic()
    while True:
        with factory() as s:
            finished, items = count(s)
        if progress and items > seen_items:
            progress(items - seen_items)
        seen_items = max(seen_items, items)
        moved, seen_units = finished != seen_units, finished
        if finished >= wanted:
            return
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"{wanted - finished} {what} not done in {timeout:.0f} s — is a worker consuming "
                               f"queue {queue}?")
        if moved or time.monotonic() >= next_check:
            watch.check(moved)
            next_check = time.monotonic() + 1.0
        time.sleep(poll)


def send(broker_url: str, queue: str, task, calls: Sequence[tuple[str, tuple]]) -> None:
    """Publish *task* once per ``(task id prefix, args)`` on a connection of this run's own broker (the app's pool
    stays bound to the first URL it served)."""
    from kombu.exceptions import OperationalError

    try:
        with app.connection_for_write(broker_url) as conn, app.amqp.Producer(conn) as producer:
            for prefix, args in calls:
                task.apply_async(args, queue=queue, producer=producer, task_id=f"{prefix}:{time.time_ns()}")
    except (OSError, OperationalError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise RunStalled(f"ブローカーに仕事を送れません — ブローカーが戻ったら同じ実行をもう一度始めてください "
                         f"(broker unreachable: {type(exc).__name__}: {first[:200]}; start the run again to "
                         f"resume)") from None


def run_units(factory: Callable[[], Session], *, kind: str, run_key: str, units: Sequence[tuple[str, tuple]],
              task, local: Callable[..., object], broker_url: str | None = None, queue: str | None = None,
              progress: Callable[[int], None] | None = None, actor: str = "", poll: float = 0.5,
              timeout: float | None = None, wait: float | None = None) -> list[batch.BatchUnit]:
    """Run the *units* of a run — ``(unit id, args)``, each ``task(*args)`` on a worker, or ``local(*args)`` here
    when there is no broker — and return their rows once every one is finished (done or failed).

    The run is recorded in ``batch_runs`` (``running``, then ``done``; ``failed`` with the reason when the wait is
    cut short).  Units already done (by an earlier start, or another starter of the same run) are skipped by
    whoever receives them."""
    broker_url = broker_url if broker_url is not None else get_settings().broker_url
    batch.open_run(factory, kind, run_key, units=len(units), actor=actor)  # (the caller may have opened it: joined)
    wanted = [u for u, _ in units]
    try:
        if not broker_url:
            for unit, args in units:
                local(*args)
                if progress:
                    with factory() as s:
                        row = batch.unit_row(s, run_key, unit)
                        progress(row.items if row is not None else 0)
        else:
            queue = queue or get_settings().task_queue
            send(broker_url, queue, task, [(f"{run_key}:{u}", args) for u, args in units])
            wanted_set = set(wanted)

            def count(s: Session) -> tuple[int, int]:
                rows = [r for r in s.execute(select(batch.BatchUnit.unit, batch.BatchUnit.items).where(
                    batch.BatchUnit.run_key == run_key, batch.BatchUnit.state.in_(("done", "failed")))).all()
                    if r.unit in wanted_set]
                return len(rows), sum(r.items for r in rows)

            wait_for(factory, count, len(wanted), broker_url=broker_url, queue=queue, progress=progress, poll=poll,
                     timeout=timeout, wait=wait)
    except Exception as exc:
        batch.close_run(factory, run_key, "failed", f"{type(exc).__name__}: {exc}"[:1000])
        raise
    with factory() as s:
        rows = {r.unit: r for r in batch.units_of(s, run_key)}
        for r in rows.values():
            s.expunge(r)
    batch.close_run(factory, run_key, "done")
    return [rows[u] for u in wanted if u in rows]


def delete_queue(queue: str, broker_url: str | None = None) -> None:
    """Remove a queue from the broker (tests and benchmarks use one queue each)."""
    configure(broker_url)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(queue)


def start_worker(*, queue: str | None = None, concurrency: int = 1, pool: str = "prefork",
                 hostname: str | None = None, broker_url: str | None = None, loglevel: str = "INFO") -> None:
    """Run a Celery worker of every batch task in this process until it is stopped (``onshi worker``)."""
    configure(broker_url)
    if not app.conf.broker_url:
        raise ValueError("ONSHI_BROKER_URL がありません — ワーカーはブローカーから仕事を受けます "
                         "(no broker: set ONSHI_BROKER_URL, e.g. amqp://guest:guest@127.0.0.1:5672//)")
    argv = ["worker", "-Q", queue or get_settings().task_queue, "--concurrency", str(concurrency), "--pool", pool,
            "--loglevel", loglevel, "--without-gossip", "--without-mingle", "--without-heartbeat"]
    if hostname:
        argv += ["-n", hostname]
    app.worker_main(argv)
