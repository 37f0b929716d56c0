"""A real server of 2 uvicorn workers against PostgreSQL: /metrics sums both workers, the request log is one
JSON line per request with no personal datum; /readyz says what is not ready (docs/deploy.md)."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from onshi.config import get_settings
from onshi.exchange.publish import publish_all
from onshi.registry.models import NotificationType as T
from onshi.store import migrate
from onshi.store.db import make_engine, unit_of_work
from onshi.verify import service
from onshi.web.app import create_app

from tests.ops.procs import Proc, env_for, free_port, samples, wait_http
from tests.registry.helpers import MN_HANAKO, MN_TARO, acquisition, load, setup_insurers, write
from tests.verify.test_api import auth, body

CLINIC = "1310000011"
NUMBER = "7654321"  # a 被保険者番号 that appears nowhere else, so finding it in a log means a leak


@pytest.fixture
def population(engine, tmp_path):
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [
        acquisition(number=NUMBER, my_number=MN_TARO),
        acquisition(number="7654322", my_number=MN_HANAKO, name="厚労　花子", name_kana="コウロウ　ハナコ",
                    birth_date="1972-05-05", sex="2")]), T.acquisition)
    publish_all()
    with unit_of_work() as s:
        _inst, token = service.add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
    return token


@pytest.mark.postgres
def test_two_workers_are_counted_together_and_log_nothing_personal(population, database_url, tmp_path):
    token = population
    port, metrics_dir = free_port(), tmp_path / "metrics"
    env = env_for(database_url, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    server = Proc(["serve", "--port", str(port), "--workers", "2", "--publish-every", "0"], env,
                  tmp_path / "server.log", tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base, server)
        valid = body(number=NUMBER, birth_date="1970-01-01")
        unknown = body(number="7654399", birth_date="1970-01-01")

        def ask(i):  # a connection of its own each time, so that both workers answer
            with httpx.Client(base_url=base, timeout=10) as c:
                return c.post("/api/v1/verifications/numbers", json=valid if i % 3 else unknown,
                              headers={**auth(token), "X-Request-ID": f"req-{i}"}).status_code

        def worker_pids():  # each worker writes its own files, named after its pid
            return {f.stem.rsplit("_", 1)[-1] for f in metrics_dir.glob("counter_*.db")}

        sent = 0
        with ThreadPoolExecutor(8) as pool:
            while sent == 0 or (len(worker_pids()) < 2 and sent < 300):  # until both workers have answered
                codes = list(pool.map(ask, range(sent, sent + 30)))
                assert codes == [200] * 30
                sent += 30
        bad = httpx.post(base + "/api/v1/verifications/numbers", json={"number": NUMBER, "name": "厚労　太郎"},
                         headers=auth(token))
        assert bad.status_code == 422
        assert bad.headers["x-request-id"]  # a new id when the client sent none
        scrape = httpx.get(base + "/metrics").text
    finally:
        server.stop()

    # both workers counted (each in its own files); the scrape summed them
    assert len(worker_pids()) == 2, worker_pids()
    route = (("method", "POST"), ("route", "/api/v1/verifications/numbers"), ("status", "200"))
    assert samples(scrape, "onshi_http_requests_total")[route] == sent
    latency = samples(scrape, "onshi_http_request_duration_seconds_count")
    assert latency[(("method", "POST"), ("route", "/api/v1/verifications/numbers"))] == sent + 1
    outcomes = samples(scrape, "onshi_verifications_total")
    assert outcomes[(("method", "numbers"), ("outcome", "valid"))] == sent * 2 // 3
    assert outcomes[(("method", "numbers"), ("outcome", "not_found"))] == sent // 3
    # every answer's log row went through a group commit, and its receipt under one of its signatures
    group = {labels[0][1]: value for labels, value in samples(scrape, "onshi_group_commit_total").items()}
    assert group["rows"] == group["receipts"] == sent
    assert 1 <= group["signatures"] <= group["writes"] <= sent
    assert samples(scrape, "onshi_outbox_backlog")[()] == 0
    assert samples(scrape, "onshi_database_up")[()] == 1

    text = server.log.read_text(encoding="utf-8")
    requests = [e for e in map(json.loads, (l for l in text.splitlines() if l.startswith("{")))
                if e.get("message") == "request" and e["route"] == "/api/v1/verifications/numbers"]
    assert len(requests) == sent + 1
    assert {e["request_id"] for e in requests if e["status"] == 200} == {f"req-{i}" for i in range(sent)}
    assert all(isinstance(e["latency_ms"], float) and e["method"] == "POST" for e in requests)
    for datum in (NUMBER, "7654399", "7654322", MN_TARO, MN_HANAKO, "1970-01-01", "1972-05-05", "厚労", "太郎",
                  "コウロウ", "虎ノ門"):
        assert datum not in text, f"{datum!r} is in the server's log"


def test_readyz_says_what_is_not_ready(tmp_path, monkeypatch):
    migrated = f"sqlite:///{tmp_path / 'ok.sqlite3'}"
    migrate.upgrade(migrated)

    def client(url: str) -> TestClient:
        get_settings.cache_clear()
        return TestClient(create_app(make_engine(url), publisher_interval=0))

    try:
        ok = client(migrated).get("/readyz")
        assert ok.status_code == 200 and ok.json()["checks"]["migrations"]["ok"]
        empty = client(f"sqlite:///{tmp_path / 'empty.sqlite3'}").get("/readyz")
        assert empty.status_code == 503
        assert empty.json()["checks"]["migrations"] == {"ok": False, "current": None,
                                                        "head": ok.json()["checks"]["migrations"]["head"]}
        monkeypatch.setenv("ONSHI_BROKER_URL", "amqp://guest:guest@127.0.0.1:1/")
        down = client(migrated).get("/readyz")
        assert down.status_code == 503 and not down.json()["checks"]["broker"]["ok"]
        assert "guest" not in down.text  # the URL's credentials are not repeated
        monkeypatch.setenv("ONSHI_BROKER_URL", "amqp://127.0.0.1:5432/")  # something answers, not a broker
        assert client(migrated).get("/readyz").status_code == 503
    finally:
        get_settings.cache_clear()


def test_readyz_checks_a_real_broker(tmp_path, monkeypatch):
    from onshi.web.ops import amqp_reachable

    url = "amqp://guest:guest@127.0.0.1:5672/"
    try:
        amqp_reachable(url)
    except OSError as exc:
        pytest.skip(f"RabbitMQ unreachable at 127.0.0.1:5672 ({exc}); the broker check ran only against "
                    "closed ports")
    migrated = f"sqlite:///{tmp_path / 'ok.sqlite3'}"
    migrate.upgrade(migrated)
    monkeypatch.setenv("ONSHI_BROKER_URL", url)
    get_settings.cache_clear()
    try:
        r = TestClient(create_app(make_engine(migrated), publisher_interval=0)).get("/readyz")
    finally:
        get_settings.cache_clear()
    assert r.status_code == 200 and r.json()["checks"]["broker"] == {"ok": True}
