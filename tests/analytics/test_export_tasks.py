"""The analytics export as tasks (one per month of care): in this process on both databases, equal to the
single-process export; on the real RabbitMQ with real ``onshi worker`` processes on PostgreSQL — across two
workers, every month delivered twice more (nothing changes), and the only worker killed with SIGKILL mid-run."""

from __future__ import annotations

import os
import signal
import threading

import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

from onshi.analytics import tasks
from onshi.analytics.export import export_log
from onshi.store import batch
from onshi.store.db import session_factory

from tests.analytics.test_usage import small_world  # noqa: F401 - fixture
from tests.ops.workers import broker, drain, queue, wait_until, workers  # noqa: F401 - fixtures

MONTHS = ["2025-03", "2025-04"]


def _tables(out) -> dict[str, list]:
    return {m: sorted(pq.read_table(out / f"month={m}").to_pylist(), key=repr) for m in MONTHS}


def _listing(out) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*"))


def test_in_process_the_months_are_the_single_process_export(small_world, session, tmp_path):
    export_log(tmp_path / "a", engine=small_world)
    seen = []
    rows = tasks.run_export(session_factory(), tmp_path / "b", run_name="r1", db_engine=small_world, broker_url="",
                            progress=seen.append)
    assert [r.unit for r in rows] == MONTHS and [r.items for r in rows] == [8, 3] and sum(seen) == 11
    assert _tables(tmp_path / "a") == _tables(tmp_path / "b")
    assert _listing(tmp_path / "a") == _listing(tmp_path / "b")  # no partial or backup folder left behind
    assert session.scalar(select(batch.BatchRun.state).where(batch.BatchRun.run_key == "export:r1")) == "done"
    again = tasks.run_export(session_factory(), tmp_path / "b", run_name="r1", db_engine=small_world,
                             broker_url="")  # the same run: months done are skipped
    assert [r.finished_at for r in again] == [r.finished_at for r in rows]


@pytest.mark.postgres
def test_on_two_workers_and_delivered_twice_more(small_world, session, workers, queue, broker, tmp_path):
    export_log(tmp_path / "a", engine=small_world)
    workers.start(2)
    rows = tasks.run_export(session_factory(), tmp_path / "b", run_name="w", broker_url=broker, queue=queue,
                            timeout=300)
    assert [r.unit for r in rows] == MONTHS and all(r.state == "done" for r in rows)
    assert _tables(tmp_path / "a") == _tables(tmp_path / "b")
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "b").rglob("*.parquet")}
    units = {r.unit: (r.state, r.items, r.worker, r.finished_at) for r in batch.units_of(session, "export:w")}
    for m in MONTHS:
        for _ in range(2):
            tasks.export_month.apply_async(("export:w", m, str((tmp_path / "b").resolve()), 5_000_000), queue=queue)
    drain(queue)
    session.expire_all()
    assert {r.unit: (r.state, r.items, r.worker, r.finished_at) for r in batch.units_of(session, "export:w")} == units
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "b").rglob("*.parquet")} == before
    assert _listing(tmp_path / "a") == _listing(tmp_path / "b")


@pytest.mark.postgres
def test_a_worker_killed_mid_run_loses_no_month_and_leaves_no_partial_folder(small_world, session, workers, queue,
                                                                              broker, tmp_path):
    """The only worker is killed (SIGKILL) as soon as it has taken its first month; a second worker started after
    finishes the run: every month once, equal to the single-process export, no temporary folder left behind."""
    from onshi.store.tasks import queue_depth

    export_log(tmp_path / "a", engine=small_world)
    workers.start(1)
    result: dict = {}
    run = threading.Thread(target=lambda: result.update(rows=tasks.run_export(
        session_factory(), tmp_path / "b", run_name="k", broker_url=broker, queue=queue, timeout=300)))
    run.start()
    # both months sent, one taken by the worker (prefetch 1, acknowledged only once its month is committed)
    wait_until(lambda: queue_depth(broker, queue)[0] == 1, 120, "the worker took no month")
    os.kill(workers.procs[0].pid, signal.SIGKILL)
    workers.procs[0].wait(10)
    workers.start(1)
    run.join(300)
    assert not run.is_alive(), "the run did not complete after its worker was killed"
    rows = result["rows"]
    assert [r.unit for r in rows] == MONTHS and all(r.state == "done" for r in rows)
    # the killed worker held the first month; the second was still on the queue: done by the worker started after
    assert rows[1].worker.startswith("w1-"), rows[1].worker
    assert _tables(tmp_path / "a") == _tables(tmp_path / "b")
    assert _listing(tmp_path / "a") == _listing(tmp_path / "b")  # no partial or backup folder left by the kill
