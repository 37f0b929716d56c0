"""Verification reads from a streaming replica (``ONSHI_READ_DATABASE_URL``), started by the test itself:
a server answers through it, writes its usage log to the primary, and shows the replica's lag in /readyz and
/metrics — 503 when the lag passes ``ONSHI_READ_MAX_LAG_SECONDS``.  docs/deploy.md."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import text

import onshi.store.db as db
from onshi.exchange.publish import publish_all
from onshi.registry.models import NotificationType as T
from onshi.store import migrate
from onshi.store.db import make_engine, unit_of_work
from onshi.verify import service

from tests.ops.cluster import PGBIN, Cluster
from tests.ops.procs import Proc, env_for, free_port, samples, wait_for, wait_http
from tests.registry.helpers import MN_HANAKO, MN_TARO, acquisition, load, setup_insurers, write
from tests.verify.test_api import auth, body


@pytest.fixture
def cluster():
    if not (PGBIN / "pg_basebackup").exists():
        pytest.skip(f"no PostgreSQL binaries in {PGBIN} (set ONSHI_TEST_PGBIN)")
    c = Cluster()
    try:
        yield c
    finally:
        c.stop()


def test_verifications_read_from_the_replica_and_its_lag_is_shown(cluster, tmp_path, monkeypatch):
    p_port = cluster.primary()
    admin = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{p_port}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text("CREATE DATABASE onshi"))
    admin.dispose()
    primary_url = f"postgresql+psycopg://postgres@127.0.0.1:{p_port}/onshi"
    migrate.upgrade(primary_url)
    primary = make_engine(primary_url)
    monkeypatch.setattr(db, "default_engine", lambda: primary)
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition(number="7654321", my_number=MN_TARO)]), T.acquisition)
    publish_all()
    with unit_of_work() as s:
        _inst, token = service.add_institution(s, code="1310000011", name="テスト内科", facility_type="clinic")

    r_port = cluster.replica(p_port)
    replica_url = f"postgresql+psycopg://postgres@127.0.0.1:{r_port}/onshi"
    replica = make_engine(replica_url, isolation_level="AUTOCOMMIT")

    def on_replica(sql):
        with replica.connect() as c:
            return c.execute(text(sql)).scalar()

    wait_for(lambda: on_replica("SELECT count(*) FROM institutions") == 1, 30, "the replica to catch up")

    port = free_port()
    server = Proc(["serve", "--port", str(port), "--publish-every", "0"],
                  env_for(primary_url, ONSHI_READ_DATABASE_URL=replica_url, ONSHI_READ_MAX_LAG_SECONDS="1"),
                  tmp_path / "server.log", tmp_path)
    base = f"http://127.0.0.1:{port}"

    def validity(number):
        r = httpx.post(base + "/api/v1/verifications/numbers", json=body(number=number), headers=auth(token),
                       timeout=10)
        assert r.status_code == 200, r.text
        return r.json()["validity"]

    try:
        wait_http(base, server)
        assert validity("7654321") == 1
        ready = httpx.get(base + "/readyz").json()
        assert ready["status"] == "ready" and ready["checks"]["replica"]["ok"]

        # replay paused: the primary registers and publishes a member the replica does not see yet
        on_replica("SELECT pg_wal_replay_pause()::text")
        load(write(tmp_path, "b.csv", T.acquisition, [acquisition(number="7654322", my_number=MN_HANAKO)]),
             T.acquisition)
        publish_all()
        with primary.connect() as c:
            assert c.execute(text("SELECT count(*) FROM index_qualifications WHERE number = '7654322'")).scalar() == 1
        assert validity("7654322") == 4  # 該当資格なし: the answer came from the replica
        time.sleep(1.5)
        with primary.begin() as c:  # more WAL the paused replica receives but does not replay
            c.execute(text("CREATE TABLE lag_probe (x int)"))
        stale = wait_for(lambda: (r := httpx.get(base + "/readyz")).status_code == 503 and r, 20,
                         "/readyz to see the lag")
        assert stale.json()["checks"]["replica"]["ok"] is False
        assert stale.json()["checks"]["replica"]["lag_seconds"] > 1
        lag = samples(httpx.get(base + "/metrics").text, "onshi_replica_lag_seconds")[()]
        assert lag > 1

        on_replica("SELECT pg_wal_replay_resume()::text")
        wait_for(lambda: validity("7654322") == 1, 30, "the replica to replay the new member")
        assert httpx.get(base + "/readyz").status_code == 200
    finally:
        server.stop()
        replica.dispose()

    with primary.connect() as c:  # every answer's usage-log row was written to the primary
        assert c.execute(text("SELECT count(*) FROM verification_log")).scalar() >= 3
    primary.dispose()


def test_a_replica_that_has_replayed_no_transaction_yet_still_shows_its_lag(cluster):
    """PostgreSQL knows no "last replayed transaction" until a standby has replayed one since it started: WAL
    waiting behind a replay stalled before that must not read as no lag (it did, and /readyz stayed ready — CI
    once caught the race in the test above).  The lag is then counted from the standby's start."""
    from onshi.web.ops import replica_lag_seconds

    p_port = cluster.primary()
    r_port = cluster.replica(p_port)
    primary = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{p_port}/postgres", isolation_level="AUTOCOMMIT")
    replica = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{r_port}/postgres", isolation_level="AUTOCOMMIT")

    def on_replica(sql):
        with replica.connect() as c:
            return c.execute(text(sql)).scalar()

    try:
        on_replica("SELECT pg_wal_replay_pause()::text")
        assert on_replica("SELECT pg_last_xact_replay_timestamp()") is None  # nothing replayed since it started
        with primary.connect() as c:
            c.execute(text("CREATE TABLE waiting (x int)"))
        wait_for(lambda: on_replica("SELECT pg_last_wal_receive_lsn() <> pg_last_wal_replay_lsn()"), 20,
                 "the replica to receive WAL it does not replay")
        first = replica_lag_seconds(replica)
        assert first > 0
        time.sleep(0.3)
        assert replica_lag_seconds(replica) >= first + 0.2  # it grows while the replay stays stalled

        on_replica("SELECT pg_wal_replay_resume()::text")
        wait_for(lambda: replica_lag_seconds(replica) == 0, 20, "the replica to catch up")
        assert on_replica("SELECT to_regclass('waiting')::text") == "waiting"
    finally:
        primary.dispose()
        replica.dispose()
