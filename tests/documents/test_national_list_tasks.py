"""The national monthly lists on the task engine (issue 19): one task per list file — in this process on both
databases, and on the real RabbitMQ with real ``onshi worker`` processes on PostgreSQL: a good list and an unreadable
one in the same run (the good one applied, the other reported with why, nothing of it applied), every task delivered
twice more (nothing changes), the same files started again (each reports 取込済み)."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import func, select

from onshi.documents import tasks
from onshi.documents.models import NationalListEntry, NationalListFile
from onshi.store import batch
from onshi.store.db import session_factory

from tests.documents.test_national_lists import EXAMPLE, members  # noqa: F401 - fixture
from tests.ops.workers import broker, drain, queue, workers  # noqa: F401 - fixtures


def _files(folder):
    good = folder / "list_2026-12.csv"
    shutil.copyfile(EXAMPLE, good)
    bad = folder / "broken.csv"
    bad.write_bytes(b"a,b\n1,2\n")
    return [good, bad]


def _entries(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(NationalListEntry))


def _check(rows, session) -> None:
    good, bad = rows
    assert good.state == "done" and good.items == 3 and "追加 2件" in good.result["summary"]
    assert bad.state == "failed" and "broken.csv" in bad.failures[0]["error"]
    assert "何も取り込んでいません" in bad.failures[0]["error"]
    assert _entries(session) == 2
    assert session.scalar(select(func.count()).select_from(NationalListFile)) == 1


def test_in_process_a_unit_per_file(members, session):
    rows = tasks.run_lists(session_factory(), _files(members), kind="ex_officio", month="2026-12", broker_url="")
    _check(rows, session)
    again = tasks.run_lists(session_factory(), _files(members), kind="ex_officio", month="2026-12", broker_url="")
    assert again[0].result["already_imported"] and _entries(session) == 2
    run = session.scalar(select(batch.BatchRun).where(batch.BatchRun.kind == "national"))
    assert run.state == "done" and run.attempt == 2


@pytest.mark.postgres
def test_on_two_workers_and_delivered_twice_more(members, session, workers, queue, broker):
    workers.start(2)
    files = _files(members)
    rows = tasks.run_lists(session_factory(), files, kind="ex_officio", month="2026-12", broker_url=broker,
                           queue=queue, timeout=300)
    _check(rows, session)
    assert all(r.worker.startswith("w") for r in rows)  # done by the workers, not here
    run_key = session.scalar(select(batch.BatchRun.run_key).where(batch.BatchRun.kind == "national"))
    for r in rows:
        for _ in range(2):
            tasks.national_list.apply_async((run_key, r.unit, str(files[int(r.unit.split(":")[1][:3])].resolve()),
                                             "ex_officio", "2026-12-01", None, "cli"), queue=queue)
    drain(queue)
    _check(batch.units_of(session, run_key), session)
