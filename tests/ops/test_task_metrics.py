"""/metrics on the batch tasks: the queue's depth and consumers read from the real RabbitMQ (a passive declare),
the failed units and the runs by state read from the tasks' records — on both databases; a broker that does not
answer is a figure (``onshi_broker_up 0``), not a failed scrape."""

from __future__ import annotations

from fastapi.testclient import TestClient

from onshi.config import get_settings
from onshi.documents import tasks as documents_tasks
from onshi.store import batch, tasks
from onshi.store.db import session_factory
from onshi.web.app import create_app

from tests.ops.procs import samples
from tests.ops.workers import broker, queue  # noqa: F401 - fixtures


def test_queue_depth_failures_and_runs(engine, broker, queue, tmp_path, monkeypatch):
    monkeypatch.setattr(get_settings(), "broker_url", broker)
    monkeypatch.setattr(get_settings(), "task_queue", queue)
    client = TestClient(create_app(engine, publisher_interval=0))
    text = client.get("/metrics").text
    assert samples(text, "onshi_broker_up")[()] == 1
    assert samples(text, "onshi_task_queue_depth")[(("queue", queue),)] == 0  # no such queue yet: nothing waits
    assert samples(text, "onshi_task_failures") == {(("kind", k),): 0 for k in ("mailing", "daily", "linkage",
                                                                               "export")}
    # three tasks waiting, nobody consuming
    tasks.send(broker, queue, documents_tasks.daily_slice,
               [(f"t{i}", ("daily:m", f"u{i}", 1, "2026-11-24", str(tmp_path), 1, 0, 10, 0)) for i in range(3)])
    # a slice that fails as a whole (here: a day that is no date), run as a worker runs it: recorded on its row
    batch.open_run(session_factory(), "daily", "daily:m", units=4)
    documents_tasks.daily_slice("daily:m", "bad", 1, "not-a-date", str(tmp_path), 1, 0, 10, 0)
    text = client.get("/metrics").text
    assert samples(text, "onshi_task_queue_depth")[(("queue", queue),)] == 3
    assert samples(text, "onshi_task_queue_consumers")[(("queue", queue),)] == 0
    assert samples(text, "onshi_task_failures")[(("kind", "daily"),)] == 1
    assert samples(text, "onshi_batch_runs")[(("kind", "daily"), ("state", "running"))] == 1
    with session_factory()() as s:
        [row] = [u for u in batch.units_of(s, "daily:m") if u.unit == "bad"]
        assert row.state == "failed" and "ValueError" in row.failures[0]["error"]
    # the broker gone: the scrape still answers, and says so
    monkeypatch.setattr(get_settings(), "broker_url", "amqp://guest:guest@127.0.0.1:1//")
    r = client.get("/metrics")
    assert r.status_code == 200 and samples(r.text, "onshi_broker_up")[()] == 0
    assert samples(r.text, "onshi_task_failures")[(("kind", "daily"),)] == 1


def test_without_a_broker_no_queue_figures(engine):
    text = TestClient(create_app(engine, publisher_interval=0)).get("/metrics").text
    assert samples(text, "onshi_task_queue_depth") == {} and samples(text, "onshi_broker_up") == {}
    assert samples(text, "onshi_task_failures")[(("kind", "linkage"),)] == 0
