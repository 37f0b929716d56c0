"""The outbox publisher across processes (PostgreSQL): two ``onshi exchange publisher`` processes against one
database; only the leader publishes; killed (``kill -9``) or frozen (``SIGSTOP``), it is replaced within seconds,
and no change is published twice.  docs/deploy.md."""

from __future__ import annotations

import os
import signal
import time

import pytest
from sqlalchemy import text

from onshi.numbers.my_number import calc_check_digit
from onshi.registry.models import NotificationType as T

from tests.ops.procs import Proc, env_for, wait_for
from tests.registry.helpers import acquisition, load, setup_insurers, write

pytestmark = pytest.mark.postgres
LEASE = 2  # seconds; production default 5 (ONSHI_PUBLISHER_LEASE_SECONDS)


class Members:
    """Files of new members (each one change in the outbox), numbered on."""

    def __init__(self, tmp_path):
        self.tmp_path, self.n = tmp_path, 0

    def add(self, count: int) -> None:
        rows = []
        for _ in range(count):
            self.n += 1
            first = f"{50000000000 + self.n:011d}"
            rows.append(acquisition(number=str(800000 + self.n), my_number=first + calc_check_digit(first)))
        report = load(write(self.tmp_path, f"m{self.n}.csv", T.acquisition, rows), T.acquisition)
        assert report.applied == count, report.errors


def pending(engine) -> int:
    with engine.connect() as c:
        return c.execute(text("SELECT count(*) FROM registry_changes WHERE published_at IS NULL")).scalar()


def published(proc: Proc) -> list[dict]:
    return [e for e in proc.events() if e.get("event") == "published"]


def leads(proc: Proc) -> bool:
    return any(e.get("event") == "leader_acquired" for e in proc.events())


def publisher(database_url, tmp_path, name) -> Proc:
    return Proc(["exchange", "publisher", "--interval", "0.2", "--lease", str(LEASE)], env_for(database_url),
                tmp_path / f"{name}.log", tmp_path)


def check_once(engine, procs: list[Proc], total: int) -> None:
    """Every change published, each once: the publishers' counts add up to the changes, one index row each."""
    with engine.connect() as c:
        changes = c.execute(text("SELECT count(*), count(published_at) FROM registry_changes")).one()
        index = c.execute(text("SELECT count(*), count(DISTINCT qualification_id) FROM index_qualifications")).one()
        members = c.execute(text("SELECT count(*) FROM qualifications")).scalar()
    assert changes == (total, total)
    assert index == (members, members)
    assert sum(e["changes"] for p in procs for e in published(p)) == total


@pytest.fixture
def members(engine, tmp_path):
    setup_insurers(tmp_path)
    with engine.connect() as c:
        base = c.execute(text("SELECT count(*) FROM registry_changes")).scalar()
    m = Members(tmp_path)
    m.base = base  # the employers' changes
    return m


def test_a_killed_leader_is_replaced_and_nothing_is_published_twice(engine, database_url, members, tmp_path):
    members.add(40)
    a = publisher(database_url, tmp_path, "a")
    b = None
    try:
        wait_for(lambda: leads(a) and pending(engine) == 0, 60, "the first publisher to lead and publish")
        b = publisher(database_url, tmp_path, "b")
        wait_for(lambda: any("publisher started" in line for line in b.lines()), 60, "the second to start")
        time.sleep(2 * LEASE)
        members.add(30)
        wait_for(lambda: pending(engine) == 0, 30, "the leader to publish")
        assert not leads(b) and not published(b), "the standby published while the leader lived"

        os.kill(a.pid, signal.SIGKILL)
        killed = time.monotonic()
        members.add(30)
        wait_for(lambda: leads(b), 30, "the standby to take over")
        takeover = time.monotonic() - killed
        wait_for(lambda: pending(engine) == 0, 30, "the new leader to publish")
        print(f"takeover after kill -9: {takeover:.2f} s")
        assert takeover < 10  # the lock goes with the socket; the standby tries every 0.2 s
        check_once(engine, [a, b], members.base + 100)
    finally:
        for p in (a, b):
            if p:
                p.stop()


def test_a_frozen_leader_loses_the_lead_and_stays_out_when_it_wakes(engine, database_url, members, tmp_path):
    members.add(20)
    a = publisher(database_url, tmp_path, "a")
    b = None
    try:
        wait_for(lambda: leads(a) and pending(engine) == 0, 60, "the first publisher to lead and publish")
        b = publisher(database_url, tmp_path, "b")
        wait_for(lambda: any("publisher started" in line for line in b.lines()), 60, "the second to start")

        os.kill(a.pid, signal.SIGSTOP)  # alive, its connection open, silent
        frozen = time.monotonic()
        members.add(20)
        wait_for(lambda: leads(b), 30, "the standby to take over from the frozen leader")
        takeover = time.monotonic() - frozen
        wait_for(lambda: pending(engine) == 0, 30, "the new leader to publish")
        print(f"takeover from a frozen leader: {takeover:.2f} s (lease {LEASE} s)")
        assert LEASE * 0.5 < takeover < LEASE + 10  # not before the lease could run out; soon after it did

        os.kill(a.pid, signal.SIGCONT)
        wait_for(lambda: any(e.get("event") == "leader_lost" for e in a.events()), 20,
                 "the woken leader to find it lost the lead")
        a_before = len(published(a))
        members.add(20)
        wait_for(lambda: pending(engine) == 0, 30, "the leader to publish")
        time.sleep(1)
        assert len(published(a)) == a_before, "the woken leader published again"
        check_once(engine, [a, b], members.base + 60)
    finally:
        for p in (a, b):
            if p:
                p.stop()
