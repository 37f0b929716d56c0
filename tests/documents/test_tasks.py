"""The mailing run as Celery tasks on the real RabbitMQ broker and real worker processes (``onshi worker``), on a
PostgreSQL test database: equal to the in-process run, a worker killed with SIGKILL mid-run, redelivered and
duplicated tasks, a run started twice.  And, on both databases, a bad member recorded while the rest go on.

Skipped, saying so, only where RabbitMQ (``ONSHI_TEST_AMQP``, default amqp://guest:guest@127.0.0.1:5672//) is
unreachable.  Each test uses a queue of its own and deletes it, so runs on the shared broker never meet."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from datetime import date

import pytest
from sqlalchemy import func, select

from onshi.documents import runs, service, tasks
from onshi.documents.models import IssuedDocument, MailingBundle
from onshi.registry.models import NotificationType as T
from onshi.store.db import session_factory

from tests.ops.workers import AMQP, broker, drain, queue, workers  # noqa: F401 - the shared real-broker fixtures
from tests.registry.helpers import INSURER, acquisition, load, setup_insurers, write

ISSUE = date(2026, 12, 1)
EMPLOYERS, PER_EMPLOYER = 24, 3


@pytest.fixture
def population(engine, tmp_path):
    """EMPLOYERS employers of PER_EMPLOYER members each (besides the helpers' two)."""
    setup_insurers(tmp_path)
    load(write(tmp_path, "emps.csv", T.employer, [
        {"insurer_number": INSURER, "employer_symbol": f"2{i:07d}", "employer_name": f"事業所{i}",
         "postal_code": "100-0001", "address": f"東京都千代田区千代田{i}", "prefecture_code": "13"}
        for i in range(EMPLOYERS)]), T.employer)
    load(write(tmp_path, "members.csv", T.acquisition, [
        acquisition(employer_symbol=f"2{i:07d}", number=str(100 + j), my_number="",
                    name=f"見本　{i}の{j}", name_kana="ミホン　タロウ")
        for i in range(EMPLOYERS) for j in range(PER_EMPLOYER)]), T.acquisition)
    return EMPLOYERS * PER_EMPLOYER


def _docs(session) -> list[IssuedDocument]:
    session.expire_all()
    return list(session.scalars(select(IssuedDocument).where(IssuedDocument.reason == "mailing")))


def _by_member(docs) -> dict[int, str]:
    return {d.qualification_id: json.dumps(d.data, sort_keys=True, ensure_ascii=False) for d in docs}


def _exactly_once(session, run_name: str, members: int) -> None:
    key = f"notice:mailing:{INSURER}:{run_name}:%"
    n, distinct = session.execute(select(func.count(), func.count(IssuedDocument.qualification_id.distinct()))
                                  .where(IssuedDocument.issue_key.like(key))).one()
    assert n == distinct == members


@pytest.mark.postgres
def test_a_run_on_two_workers_makes_the_documents_of_the_in_process_run(population, session, workers, queue,
                                                                         broker, tmp_path):
    workers.start(2)
    workers.wait_consuming(broker)
    local = service.mailing_run(session_factory(), INSURER, tmp_path / "a", actor="t", run_name="local",
                                issue=ISSUE)
    seen = []
    remote = tasks.run_mailing(session_factory(), INSURER, tmp_path / "b", actor="t", run_name="celery",
                               issue=ISSUE, broker_url=broker, queue=queue, timeout=300, progress=seen.append)
    docs = _docs(session)
    local_docs = [d for d in docs if ":local:" in d.issue_key]
    remote_docs = [d for d in docs if ":celery:" in d.issue_key]
    assert remote.issued == local.issued == len(local_docs) == len(remote_docs) == population
    assert _by_member(local_docs) == _by_member(remote_docs)
    assert sum(seen) == population  # the progress bar's steps, gathered from the workers' bundle rows
    # what the API's status answers on a server that did not start the run
    assert runs.members_done(session, runs.run_record(session, INSURER, "celery")) == population
    _exactly_once(session, "celery", population)
    workers_seen = {b.worker for b in session.scalars(select(MailingBundle).where(
        MailingBundle.run_id == remote.run_id, MailingBundle.members > 0))}
    assert len(workers_seen) == 2, workers_seen  # both workers took bundles
    for sym in (f"2{i:07d}" for i in range(EMPLOYERS)):
        a = tmp_path / "a" / "mailing" / f"{INSURER}_local" / f"{sym}.pdf"
        b = tmp_path / "b" / "mailing" / f"{INSURER}_celery" / f"{sym}.pdf"
        assert a.exists() and b.exists()
    assert (tmp_path / "b" / "mailing" / f"{INSURER}_celery" / "manifest.csv").read_text().count("\n") \
        == EMPLOYERS + 1


@pytest.mark.postgres
def test_a_worker_killed_mid_run_loses_nothing_and_makes_nothing_twice(population, session, workers, queue,
                                                                        broker, tmp_path):
    workers.start(1)  # one first: with two from the start the other could take every bundle and the victim none
    result: dict = {}
    run = threading.Thread(target=lambda: result.update(report=tasks.run_mailing(
        session_factory(), INSURER, tmp_path / "out", actor="t", run_name="killed", issue=ISSUE,
        broker_url=broker, queue=queue, timeout=300)))
    run.start()
    victim = workers.procs[0]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # as soon as the victim has done one bundle it is busy with its next
        session.expire_all()
        if session.scalar(select(func.count()).select_from(MailingBundle).where(
                MailingBundle.worker.like("w0-%"))):
            break
        time.sleep(0.05)
    else:
        pytest.fail("worker w0 did no bundle in 120 s")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(10)
    workers.start(1)  # the survivor: takes the killed worker's bundle back from the queue, and the rest
    run.join(300)
    assert not run.is_alive(), "the run did not complete after its worker was killed"
    _exactly_once(session, "killed", population)
    bundles = list(session.scalars(select(MailingBundle).where(MailingBundle.run_id == result["report"].run_id)))
    assert all(b.state == "done" for b in bundles) and sum(b.members for b in bundles) == population


@pytest.mark.postgres
def test_redelivered_and_duplicated_tasks_change_nothing(population, session, workers, queue, broker, tmp_path):
    workers.start(2)
    report = tasks.run_mailing(session_factory(), INSURER, tmp_path / "out", actor="t", run_name="dup",
                               issue=ISSUE, broker_url=broker, queue=queue, timeout=300)
    before = {d.id: (d.issue_key, d.file, d.recorded_at) for d in _docs(session)}
    rows = {b.employer_id: (b.state, b.issued, b.worker, b.finished_at) for b in
            session.scalars(select(MailingBundle).where(MailingBundle.run_id == report.run_id))}
    for employer_id in rows:  # every bundle delivered twice more, as a broker redelivering would
        for _ in range(2):
            tasks.mailing_bundle.apply_async((report.run_id, employer_id, str((tmp_path / "out").resolve()),
                                              ISSUE.isoformat(), None), queue=queue)
    drain(queue)
    session.expire_all()
    assert {d.id: (d.issue_key, d.file, d.recorded_at) for d in _docs(session)} == before
    assert {b.employer_id: (b.state, b.issued, b.worker, b.finished_at) for b in
            session.scalars(select(MailingBundle).where(MailingBundle.run_id == report.run_id))} == rows


@pytest.mark.postgres
def test_a_run_started_twice_is_joined_never_doubled(population, session, workers, queue, broker, tmp_path):
    workers.start(2)
    reports = []

    def start():
        reports.append(tasks.run_mailing(session_factory(), INSURER, tmp_path / "out", actor="t", run_name="twice",
                                         issue=ISSUE, broker_url=broker, queue=queue, timeout=300))

    both = [threading.Thread(target=start) for _ in range(2)]
    for t in both:
        t.start()
    for t in both:
        t.join(300)
    assert len(reports) == 2 and reports[0].run_id == reports[1].run_id  # one run record, joined
    _exactly_once(session, "twice", population)


def test_a_bad_member_is_recorded_with_who_and_why_and_the_rest_go_on(population, session, tmp_path, monkeypatch):
    real = service.notices_data

    def breaks_on_101(s, qvs, issue, emp):
        if any(qv.number == "101" and qv.symbol == "20000003" for qv in qvs):
            raise ValueError("住所の文字が印刷できません")
        return real(s, qvs, issue, emp)

    monkeypatch.setattr(service, "notices_data", breaks_on_101)
    report = service.mailing_run(session_factory(), INSURER, tmp_path / "out", actor="t", run_name="bad",
                                 issue=ISSUE)
    assert report.issued == population - 1
    [line] = [x for x in report.lines if "作成できません" in x]
    assert "記号 20000003 番号 101" in line and "住所の文字が印刷できません" in line
    [bad] = session.scalars(select(MailingBundle).where(MailingBundle.state == "failed")).all()
    assert bad.issued == PER_EMPLOYER - 1 and bad.failures[0]["number"] == "101"
    monkeypatch.setattr(service, "notices_data", real)  # fixed: the run started again retries him alone
    again = service.mailing_run(session_factory(), INSURER, tmp_path / "out", actor="t", run_name="bad",
                                issue=ISSUE)
    assert again.issued == 1
    assert (tmp_path / "out" / "mailing" / f"{INSURER}_bad" / f"20000003.{PER_EMPLOYER - 1}.pdf").exists()
    _exactly_once(session, "bad", population)
    session.expire_all()
    assert not session.scalars(select(MailingBundle).where(MailingBundle.state != "done")).all()
