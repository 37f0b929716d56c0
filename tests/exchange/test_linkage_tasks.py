"""The linkage check of a resident-registry extract as tasks (one per chunk of the file): in this process on both
databases, equal to the single-transaction check; on the real RabbitMQ with real ``onshi worker`` processes on
PostgreSQL — across two workers, a worker killed with SIGKILL mid-run, every chunk delivered twice more (nothing
changes).  And the cutting of a file into chunks at record ends, quoted newlines included."""

from __future__ import annotations

import csv
import io
import os
import signal
import threading

import pytest
from sqlalchemy import func, select
from stdnum.jp import in_

from onshi.exchange import linkage, tasks
from onshi.exchange.models import LinkageCheck, ResidentExtract
from onshi.registry.models import NotificationType as T
from onshi.store import batch
from onshi.store.db import session_factory

from tests.ops.workers import broker, drain, queue, wait_until, workers  # noqa: F401 - fixtures
from tests.registry.helpers import acquisition, load, setup_insurers, write

PEOPLE = 30
CHUNK = 400  # bytes: an extract of ~60 rows in ~15 chunks


def my_number(i: int) -> str:
    body = f"{700000000000 + i * 7919:012d}"[:11]
    return body + in_.calc_check_digit(body)


@pytest.fixture
def extract(engine, tmp_path):
    """PEOPLE registered people, and an extract: each of them (every third with another name: a mismatch), as many
    people not registered, and a few unreadable rows."""
    setup_insurers(tmp_path)
    load(write(tmp_path, "people.csv", T.acquisition, [
        acquisition(number=str(300 + i), my_number=my_number(i), name=f"見本　{i}", name_kana="ミホン　タロウ")
        for i in range(PEOPLE)]), T.acquisition)
    lines = [",".join(linkage.EXTRACT_COLUMNS)]
    for i in range(PEOPLE):
        name = f"見本 {i}" if i % 3 else f"別人 {i}"
        lines.append(f"{my_number(i)},{name},みほん たろう,1970-01-01,1,東京都港区虎ノ門1丁目1番")
        lines.append(f"{my_number(1000 + i)},住民 {i},ジュウミン,1980-02-02,2,東京都中野区中野1-1")
        if i % 10 == 0:
            lines.append(f"12345,壊れ {i},コワレ,1980-02-02,2,東京都")  # not a My Number
            lines.append("")  # a blank line: not a row, but counted in the row numbers
    path = tmp_path / "juki.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _checks(session) -> list[tuple]:
    session.expire_all()
    return sorted((c.row_number, c.status, tuple(c.mismatches), c.person_id, c.my_number_hash)
                  for c in session.scalars(select(LinkageCheck)))


def _reference(path) -> tuple[list[tuple], linkage.LinkageReport]:
    """What the single-transaction check finds (rolled back)."""
    with session_factory()() as s:
        rep = linkage.import_extract(s, path.read_bytes(), path.name)
        rows = sorted((c.row_number, c.status, tuple(c.mismatches), c.person_id, c.my_number_hash)
                      for c in s.scalars(select(LinkageCheck)))
        s.rollback()
    return rows, rep


def _same_report(a: linkage.LinkageReport, b: linkage.LinkageReport) -> None:
    assert (a.rows, a.matched, a.mismatched, a.not_registered) == (b.rows, b.matched, b.mismatched, b.not_registered)
    assert sorted(a.errors) == sorted(b.errors)


def test_chunks_cut_at_record_ends_even_inside_quotes(tmp_path):
    rows = [["my_number", "name", "name_kana", "birth_date", "sex", "address"]]
    rows += [[f"{i:012d}", f"名{i}", "メイ", "1980-01-01", "1", f"東京都\n{i}丁目" if i % 7 == 0 else "東京都"]
             for i in range(200)]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    for encoding in ("utf-8", "cp932"):
        path = tmp_path / f"q-{encoding}.csv"
        path.write_bytes(buf.getvalue().encode(encoding))
        _digest, enc, chunks = linkage.extract_chunks(path, chunk_bytes=300)
        assert len(chunks) > 5
        got = []
        for c in chunks:
            text = path.read_bytes()[c.start:c.end].decode(enc)
            got += [(n, r) for n, r in enumerate(csv.reader(io.StringIO(text, newline="")), start=c.first_row)]
        assert got == list(enumerate(rows[1:], start=2))


def test_in_process_the_chunks_find_what_the_single_transaction_check_finds(extract, session):
    expected, ref = _reference(extract)
    seen = []
    rep = tasks.run_linkage(session_factory(), extract, broker_url="", chunk_bytes=CHUNK, progress=seen.append)
    _same_report(rep, ref)
    assert rep.mismatched == PEOPLE // 3 and rep.not_registered == PEOPLE and len(rep.errors) == 3
    assert _checks(session) == expected and sum(seen) == rep.rows
    assert len(batch.units_of(session, f"linkage:{session.scalar(select(ResidentExtract.sha256))}")) > 5
    again = tasks.run_linkage(session_factory(), extract, broker_url="", chunk_bytes=CHUNK)
    assert again.already_imported and _checks(session) == expected


@pytest.mark.postgres
def test_on_two_workers_equal_to_the_single_transaction_check(extract, session, workers, queue, broker):
    expected, ref = _reference(extract)
    workers.start(2)
    workers.wait_consuming(broker)
    rep = tasks.run_linkage(session_factory(), extract, broker_url=broker, queue=queue, chunk_bytes=CHUNK,
                            timeout=300)
    _same_report(rep, ref)
    assert _checks(session) == expected
    assert session.scalar(select(func.count()).select_from(ResidentExtract)) == 1
    units = batch.units_of(session, f"linkage:{session.scalar(select(ResidentExtract.sha256))}")
    assert len({u.worker for u in units}) == 2


@pytest.mark.postgres
def test_a_worker_killed_mid_run_loses_nothing_and_checks_nothing_twice(extract, session, workers, queue, broker):
    expected, _ = _reference(extract)
    # one worker first: with two from the start the other could take every chunk and the victim none (CI saw it)
    workers.start(1)
    result: dict = {}
    run = threading.Thread(target=lambda: result.update(report=tasks.run_linkage(
        session_factory(), extract, broker_url=broker, queue=queue, chunk_bytes=CHUNK, timeout=300)))
    run.start()

    def victim_busy() -> bool:
        session.expire_all()
        return bool(session.scalar(select(func.count()).select_from(batch.BatchUnit)
                                   .where(batch.BatchUnit.worker.like("w0-%"))))

    wait_until(victim_busy, 120, "worker w0 did no chunk")
    os.kill(workers.procs[0].pid, signal.SIGKILL)
    workers.procs[0].wait(10)
    workers.start(1)  # the survivor: takes the killed worker's chunk back from the queue, and the rest
    run.join(300)
    assert not run.is_alive(), "the run did not complete after its worker was killed"
    assert _checks(session) == expected  # every row checked exactly once


@pytest.mark.postgres
def test_redelivered_and_duplicated_chunks_change_nothing(extract, session, workers, queue, broker):
    workers.start(2)
    tasks.run_linkage(session_factory(), extract, broker_url=broker, queue=queue, chunk_bytes=CHUNK, timeout=300)
    before = {c.id: (c.row_number, c.status, c.checked_at) for c in session.scalars(select(LinkageCheck))}
    digest, enc, chunks = linkage.extract_chunks(extract, chunk_bytes=CHUNK)
    key = f"linkage:{digest}"
    rows = {u.unit: (u.state, u.items, u.worker, u.finished_at) for u in batch.units_of(session, key)}
    now = session.scalar(select(batch.BatchRun.started_at)).isoformat()
    for i, c in enumerate(chunks):  # every chunk delivered twice more, as a broker redelivering would
        for _ in range(2):
            tasks.linkage_chunk.apply_async((key, f"{i:06d}", str(extract.resolve()), enc, c.start, c.end,
                                             c.first_row, extract.name, now), queue=queue)
    drain(queue)
    session.expire_all()
    assert {c.id: (c.row_number, c.status, c.checked_at) for c in session.scalars(select(LinkageCheck))} == before
    assert {u.unit: (u.state, u.items, u.worker, u.finished_at) for u in batch.units_of(session, key)} == rows
