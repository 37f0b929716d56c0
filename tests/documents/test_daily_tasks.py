"""The daily 資格確認書 run as tasks (one per insurer and slice): in this process on both databases, and on the real
RabbitMQ with real ``onshi worker`` processes on PostgreSQL — across two workers, a worker killed with SIGKILL
mid-run, every slice delivered twice more (nothing changes), the broker lost mid-run (the run stops waiting, is
recorded failed with the reason, and resumes) and no worker at all (the same, bounded)."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from onshi.documents import service, tasks
from onshi.documents.models import DocumentRun, IssuedDocument
from onshi.registry.models import NotificationType as T
from onshi.store import batch
from onshi.store.db import session_factory
from onshi.store.tasks import RunStalled

from tests.ops.workers import Proxy, broker, drain, queue, wait_until, workers  # noqa: F401 - fixtures
from tests.registry.helpers import INSURER, acquisition, load, setup_insurers, write

DAY = date(2026, 11, 24)  # the first business day after the enrolments of Friday 20 Nov (23 Nov: 勤労感謝の日)
MEMBERS = 40
SLICE = 4


@pytest.fixture
def population(engine, tmp_path):
    """MEMBERS members without a card: each is due a 資格確認書 on DAY."""
    setup_insurers(tmp_path)
    load(write(tmp_path, "members.csv", T.acquisition, [
        acquisition(number=str(200 + j), my_number="", name=f"見本　{j}", name_kana="ミホン　タロウ")
        for j in range(MEMBERS)]), T.acquisition, received_at=datetime(2026, 11, 20, 10, 0))
    with session_factory()() as s:
        due = len(service.due_certificates(s, DAY))
    assert due >= MEMBERS
    return due


def _certs(session) -> dict[str, tuple]:
    session.expire_all()
    return {d.issue_key: (d.id, d.file, d.sha256, d.recorded_at) for d in
            session.scalars(select(IssuedDocument).where(IssuedDocument.kind == "certificate"))}


def _exactly_once(session, due: int) -> None:
    n, distinct = session.execute(select(func.count(), func.count(IssuedDocument.issue_key.distinct()))
                                  .where(IssuedDocument.kind == "certificate")).one()
    assert n == distinct == due


def test_in_process_the_run_issues_what_the_single_transaction_run_would(population, session, tmp_path):
    seen, total = [], []
    report = tasks.run_daily(session_factory(), DAY, tmp_path / "out", actor="t", broker_url="", slice_size=SLICE,
                             progress=seen.append, total=total.append)
    assert report.issued == population == sum(seen) == total[0]
    _exactly_once(session, population)
    run = session.scalar(select(DocumentRun).where(DocumentRun.run_key == f"daily:{DAY.isoformat()}"))
    assert run.documents == population and run.finished_at is not None
    assert session.scalar(select(batch.BatchRun.state).where(batch.BatchRun.run_key == run.run_key)) == "done"
    units = batch.units_of(session, run.run_key)
    assert len(units) == -(-MEMBERS // SLICE) and {u.worker for u in units} == {"local"}
    assert sum(u.items for u in units) == MEMBERS  # every qualification checked once
    # started again (or the single-transaction run): nothing more is issued
    again = tasks.run_daily(session_factory(), DAY, tmp_path / "out", actor="t", broker_url="", slice_size=SLICE)
    assert again.issued == 0
    with session_factory()() as s:
        assert service.daily_run(s, DAY, tmp_path / "out", actor="t").issued == 0
    # each certificate is the one daily_run would print: it reprints byte for byte from its record
    for doc in session.scalars(select(IssuedDocument).limit(3)):
        assert service.reprint(session, doc.id)


def test_a_certificate_that_cannot_be_made_is_reported_and_retried_alone(population, session, tmp_path,
                                                                        monkeypatch):
    real = service.render_certificate

    def breaks_on_205(data, layout):
        if data.number == "205":
            raise ValueError("氏名の文字が印刷できません")
        return real(data, layout)

    monkeypatch.setattr(service, "render_certificate", breaks_on_205)
    report = tasks.run_daily(session_factory(), DAY, tmp_path / "out", actor="t", broker_url="", slice_size=SLICE)
    assert report.issued == population - 1
    assert any("205" in line and "印刷できません" in line for line in report.lines)
    monkeypatch.setattr(service, "render_certificate", real)
    assert tasks.run_daily(session_factory(), DAY, tmp_path / "out", actor="t", broker_url="",
                           slice_size=SLICE).issued == 1
    _exactly_once(session, population)


@pytest.mark.postgres
def test_on_two_workers_every_certificate_once(population, session, workers, queue, broker, tmp_path):
    workers.start(2)
    workers.wait_consuming(broker)
    seen = []
    report = tasks.run_daily(session_factory(), DAY, tmp_path / "out", actor="t", broker_url=broker, queue=queue,
                             slice_size=SLICE, timeout=300, progress=seen.append)
    assert report.issued == population == sum(seen)
    _exactly_once(session, population)
    units = batch.units_of(session, f"daily:{DAY.isoformat()}")
    assert len({u.worker for u in units}) == 2, {u.worker for u in units}  # both workers took slices
    assert all(os.path.exists(f) for f in report.files) and len(report.files) == population


@pytest.mark.postgres
def test_a_worker_killed_mid_run_loses_nothing(population, session, workers, queue, broker, tmp_path):
    workers.start(1)  # one first: with two from the start the other could take every slice and the victim none
    result: dict = {}
    run = threading.Thread(target=lambda: result.update(report=tasks.run_daily(
        session_factory(), DAY, tmp_path / "out", actor="t", broker_url=broker, queue=queue, slice_size=SLICE,
        timeout=300)))
    run.start()

    def victim_busy() -> bool:  # as soon as the victim has done one slice it is busy with its next
        session.expire_all()
        return bool(session.scalar(select(func.count()).select_from(batch.BatchUnit)
                                   .where(batch.BatchUnit.worker.like("w0-%"))))

    wait_until(victim_busy, 120, "worker w0 did no slice")
    os.kill(workers.procs[0].pid, signal.SIGKILL)
    workers.procs[0].wait(10)
    workers.start(1)  # the survivor: takes the killed worker's slice back from the queue, and the rest
    run.join(300)
    assert not run.is_alive(), "the run did not complete after its worker was killed"
    _exactly_once(session, population)
    assert all(u.state == "done" for u in batch.units_of(session, f"daily:{DAY.isoformat()}"))


@pytest.mark.postgres
def test_redelivered_and_duplicated_slices_change_nothing(population, session, workers, queue, broker, tmp_path):
    workers.start(2)
    tasks.run_daily(session_factory(), DAY, tmp_path / "out", actor="t", broker_url=broker, queue=queue,
                    slice_size=SLICE, timeout=300)
    key = f"daily:{DAY.isoformat()}"
    run_id = session.scalar(select(DocumentRun.id).where(DocumentRun.run_key == key))
    before = _certs(session)
    rows = {u.unit: (u.state, u.items, u.worker, u.finished_at) for u in batch.units_of(session, key)}
    _, _, slices = service.daily_open(session_factory(), DAY, actor="t", slice_size=SLICE)
    attempt = session.scalar(select(batch.BatchRun.attempt).where(batch.BatchRun.run_key == key))
    # every slice as it was sent, delivered twice more (as a broker redelivering would); and each once more as a
    # slice of a new unit (a duplicate the unit's row does not stop): its certificates are issued already
    out = str((tmp_path / "out").resolve())
    for iid, lo, hi, n in slices:
        unit = f"{attempt}:{iid}:{lo}-{hi}"
        assert unit in rows
        for u in (unit, unit, f"dup:{iid}:{lo}-{hi}"):
            tasks.daily_slice.apply_async((key, u, run_id, DAY.isoformat(), out, iid, lo, hi, n), queue=queue)
    drain(queue)
    assert _certs(session) == before
    session.expire_all()
    after = {u.unit: (u.state, u.items, u.worker, u.finished_at) for u in batch.units_of(session, key)}
    assert {u: r for u, r in after.items() if not u.startswith("dup:")} == rows
    assert all(u.result["issued"] == 0 for u in batch.units_of(session, key) if u.unit.startswith("dup:"))


@pytest.mark.postgres
def test_the_broker_lost_mid_run_stops_the_wait_marks_the_run_failed_and_it_resumes(population, session, workers,
                                                                                 queue, broker, tmp_path):
    proxy = Proxy()
    result: dict = {}

    def start():
        try:
            tasks.run_daily(session_factory(), DAY, tmp_path / "out", actor="t", broker_url=proxy.url(), queue=queue,
                            slice_size=SLICE, wait=4, poll=0.2)
        except Exception as exc:  # noqa: BLE001 - what the test looks at
            result["error"] = exc

    run = threading.Thread(target=start)
    run.start()
    key = f"daily:{DAY.isoformat()}"
    from onshi.store.tasks import queue_depth

    wait_until(lambda: queue_depth(broker, queue)[0] >= -(-MEMBERS // SLICE), 60, "the slices were not sent")
    proxy.kill()  # the broker, as the run's starter sees it, is gone
    t0 = time.monotonic()
    run.join(60)
    assert not run.is_alive(), "the starter waits forever with its broker gone"
    assert time.monotonic() - t0 < 30
    assert isinstance(result.get("error"), RunStalled), result
    assert "broker unreachable" in str(result["error"])
    session.expire_all()
    run_row = session.scalar(select(batch.BatchRun).where(batch.BatchRun.run_key == key))
    assert run_row.state == "failed" and "broker unreachable" in run_row.reason
    assert session.scalar(select(func.count()).select_from(IssuedDocument)) == 0
    # the broker back (here: the real one) and a worker: the same run started again finishes, every certificate once
    workers.start(1)
    report = tasks.run_daily(session_factory(), DAY, tmp_path / "out", actor="t", broker_url=broker, queue=queue,
                             slice_size=SLICE, timeout=300)
    assert report.issued == population
    _exactly_once(session, population)
    session.expire_all()
    assert session.scalar(select(batch.BatchRun.state).where(batch.BatchRun.run_key == key)) == "done"


@pytest.mark.postgres
def test_no_worker_consuming_is_a_bounded_wait_too(population, session, engine, queue, broker, tmp_path):
    with pytest.raises(RunStalled, match="no worker consumes"):
        tasks.run_daily(session_factory(), DAY, tmp_path / "out", actor="t", broker_url=broker, queue=queue,
                        slice_size=SLICE, wait=2, poll=0.2)
    assert "no worker" in session.scalar(select(batch.BatchRun.reason))


def test_the_command_line_says_in_one_line_when_the_broker_does_not_answer(population, database_url, tmp_path):
    """`onshi documents run` with a broker that does not answer (a closed port): one line, exit code 1, the run
    recorded failed — and the same command without the broker (embedded) then does the run."""
    import subprocess
    import sys

    from tests.ops.workers import SRC

    env = {**os.environ, "ONSHI_DATABASE_URL": database_url, "PYTHONPATH": SRC,
           "ONSHI_BROKER_URL": "amqp://guest:guest@127.0.0.1:1//"}
    args = [sys.executable, "-m", "onshi", "documents", "run", "--date", DAY.isoformat(), "--out", str(tmp_path)]
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    assert "broker unreachable" in r.stderr and "Traceback" not in r.stderr
    env.pop("ONSHI_BROKER_URL")
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and f"issued {population}" in r.stdout, r.stdout + r.stderr
