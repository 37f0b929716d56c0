"""The database figures of /metrics on both databases: outbox backlog and lag, SLA records overdue, and (on
PostgreSQL) whether a publisher leads."""

from __future__ import annotations

from datetime import datetime

from fastapi.testclient import TestClient

from onshi.exchange.publish import PublisherLeadership, leader_present, publish_all
from onshi.registry.models import NotificationType as T
from onshi.web.app import create_app

from tests.ops.procs import samples
from tests.registry.helpers import acquisition, load, setup_insurers, write


def test_outbox_and_sla_figures(engine, tmp_path):
    setup_insurers(tmp_path)
    publish_all()
    # received long ago and never published: past the 5-day deadline
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition(number="101"), acquisition(
        number="102", my_number="", name="厚労　次郎")]), T.acquisition, received_at=datetime(2024, 4, 1, 1, 0))
    client = TestClient(create_app(engine, publisher_interval=0))
    text = client.get("/metrics").text
    backlog = samples(text, "onshi_outbox_backlog")[()]
    assert backlog >= 1
    assert samples(text, "onshi_sla_overdue_records")[()] == backlog
    assert samples(text, "onshi_outbox_lag_seconds")[()] > 86400 * 30
    publish_all()
    text = client.get("/metrics").text
    assert samples(text, "onshi_outbox_backlog")[()] == 0
    assert samples(text, "onshi_sla_overdue_records")[()] == 0
    assert samples(text, "onshi_outbox_lag_seconds")[()] == 0


def test_leader_presence(engine, session):
    lead = PublisherLeadership(engine, lease_seconds=5)
    if engine.dialect.name != "postgresql":
        assert lead.acquire() and leader_present(session) is None  # SQLite: every process may publish
        return
    assert leader_present(session) is False
    assert lead.acquire()
    other = PublisherLeadership(engine, lease_seconds=5)
    try:
        assert leader_present(session) is True
        assert not other.acquire()  # one leader per database
    finally:
        lead.release()
    assert leader_present(session) is False
    assert other.acquire()
    other.release()
