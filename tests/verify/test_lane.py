"""The verification lane (onshi.web.verification_lane): POST /api/v1/verifications/numbers answered in one ASGI pass must
answer, count, limit and record exactly as the middleware chain and the route do — on both databases.

A request with a cookie goes down the chain (the session middleware's), so the same request with and without a
cookie compares the two paths in one app."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from onshi.auth.throttle import RateLimits
from onshi.config import Settings
from onshi.exchange.publish import publish_all
from onshi.ops.metrics import HTTP_REQUESTS
from onshi.registry.models import NotificationType as T
from onshi.store.clock import japan_today
from onshi.store.db import unit_of_work
from onshi.verify import receipts, service
from onshi.web.verification_lane import PATH, VerificationLane
from onshi.verify.models import Institution, VerificationLogEntry
from onshi.web.app import create_app

from tests.registry.helpers import acquisition, load, setup_insurers, write
from tests.verify.test_api import auth, body

CLINIC = "1310000011"
COOKIE = {"Cookie": "unrelated=1"}


@pytest.fixture
def api(engine, tmp_path):
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition(acquisition_date="2024-04-01")]), T.acquisition)
    publish_all()
    with unit_of_work() as s:
        _inst, token = service.add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
    service.institution_cache.clear()
    client = TestClient(create_app(engine, publisher_interval=0))
    client.token = token
    client.post(PATH, json=body(), headers={**auth(token), **COOKIE})  # down the chain: the credential is cached
    yield client
    service.institution_cache.clear()


def lane_of(client) -> VerificationLane:
    lane = client.app.lane
    assert isinstance(lane, VerificationLane)
    return lane


def log_rows(engine) -> list:
    with engine.connect() as c:
        return c.execute(select(VerificationLogEntry.validity, VerificationLogEntry.not_modified,
                                VerificationLogEntry.receipt_id).order_by(VerificationLogEntry.id)).all()


def count(status: str) -> float:
    return HTTP_REQUESTS.labels(PATH, "POST", status)._value.get()


def post(client, b=None, *, cookie=False, **headers):
    return client.post(PATH, json=body() if b is None else b,
                       headers={**auth(client.token), **(COOKIE if cookie else {}), **headers})


def test_the_lane_answers_as_the_chain(api, engine):
    lane = lane_of(api)
    before, logged = lane.answered, len(log_rows(engine))
    fast, slow = post(api), post(api, cookie=True)
    assert lane.answered == before + 1  # only the request without a cookie took the lane
    assert fast.status_code == slow.status_code == 200
    strip = lambda d: {k: v for k, v in d.items() if k not in ("receipt", "receipt_id")}  # noqa: E731
    assert strip(fast.json()) == strip(slow.json()) and fast.json()["validity"] == 1
    for r in (fast, slow):
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["content-type"] == "application/json"
        assert r.headers["x-request-id"] and r.json()["receipt"]
        assert "onshi-receipt" not in r.headers  # a 200 carries its receipt once, in the JSON
    assert fast.headers["etag"] == slow.headers["etag"]
    claims = receipts.verify_receipt(fast.json()["receipt"], receipts.key_ring())
    assert claims["rid"] == fast.json()["receipt_id"] and claims["ins"] == CLINIC
    rows = log_rows(engine)[logged:]  # both committed before their answers were sent
    assert [(v, nm) for v, nm, _ in rows] == [(1, False), (1, False)]
    assert {rid for *_, rid in rows} == {fast.json()["receipt_id"], slow.json()["receipt_id"]}
    assert post(api, **{"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    assert post(api, **{"X-Request-ID": "no spaces"}).headers["x-request-id"] != "no spaces"


def test_a_304_in_the_lane_is_a_check_with_a_fresh_receipt(api, engine):
    lane = lane_of(api)
    tag = post(api).headers["etag"]
    before, logged, counted = lane.answered, len(log_rows(engine)), count("304")
    r = post(api, **{"If-None-Match": tag})
    assert lane.answered == before + 1
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == tag
    assert r.headers["cache-control"] == "no-store" and r.headers["x-request-id"]
    claims = receipts.verify_receipt(r.headers["onshi-receipt"], receipts.key_ring())
    assert claims["nm"] is True and claims["et"] == tag
    assert log_rows(engine)[logged:] == [(1, True, claims["rid"])]
    assert count("304") == counted + 1
    # another institution's tag, or the same one after a change, is a full answer
    assert post(api, **{"If-None-Match": '"1.AAAAAAAAAAAAAAAAAAAAAAAA"'}).status_code == 200


def test_metrics_count_the_lanes_answers_under_the_route(api):
    ok = count("200")
    post(api)
    post(api, cookie=True)
    assert count("200") == ok + 2


def test_a_body_that_does_not_validate_gets_fastapis_422_and_is_counted_once(api, engine):
    api.app.state.rate_limits = RateLimits(Settings(rate_limit_verify_per_token="3/day"))
    lane = lane_of(api)
    before, logged = lane.answered, len(log_rows(engine))
    bad = post(api, body(birth_date="1970-13-01"))
    slow = post(api, body(birth_date="1970-13-01"), cookie=True)
    assert bad.status_code == slow.status_code == 422 and bad.json() == slow.json()
    assert bad.json()["detail"][0]["loc"] == ["body", "birth_date"]
    assert lane.answered == before  # handed down the chain
    assert post(api).status_code == 200  # the third request of three: the refused one counted once, not twice
    r = post(api)
    assert r.status_code == 429 and "verify-token" in r.json()["detail"] and int(r.headers["retry-after"]) >= 1
    assert r.headers["cache-control"] == "no-store"
    assert len(log_rows(engine)) == logged + 1


def test_the_rate_limit_refuses_in_the_lane_before_the_body(api, engine):
    api.app.state.rate_limits = RateLimits(Settings(rate_limit_verify_per_address="2/day"))
    logged = len(log_rows(engine))
    assert [post(api).status_code for _ in range(3)] == [200, 200, 429]
    assert post(api, cookie=True).status_code == 429  # the chain shares the count
    assert len(log_rows(engine)) == logged + 2


def test_a_refusal_of_the_service_is_the_routes_422(api, engine):
    far = (japan_today() + timedelta(days=400)).isoformat()
    fast, slow = post(api, body(care_date=far)), post(api, body(care_date=far), cookie=True)
    assert fast.status_code == slow.status_code == 422 and fast.json() == slow.json()
    assert fast.headers["cache-control"] == "no-store"


def test_a_revoked_cached_credential_is_401_and_counted_as_refused(api, engine):
    api.app.state.rate_limits = RateLimits(Settings(rate_limit_bad_token_per_address="1/day"))
    logged = len(log_rows(engine))
    with engine.begin() as c:
        c.execute(update(Institution).where(Institution.code == CLINIC).values(revoked_at=datetime(2026, 1, 1)))
    assert service.institution_cache.get(service.token_digest(api.token)) is not None  # still cached here
    r = post(api)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.headers["cache-control"] == "no-store" and r.json() == {"detail": "authentication required"}
    assert post(api).status_code == 429  # the refused credential was counted against the address
    assert len(log_rows(engine)) == logged


def test_bodies_over_the_limit_are_refused_unread(api, engine):
    from onshi.config import get_settings

    limit = get_settings().max_body_bytes
    lane = lane_of(api)
    before = lane.answered
    big = {**body(), "arbitrary_identifier": "x" * 40, "pad": "y" * limit}
    r = api.post(PATH, json=big, headers=auth(api.token))
    assert r.status_code == 413 and r.headers["cache-control"] == "no-store"
    assert lane.answered == before


def test_what_the_lane_leaves_to_the_chain(api, engine):
    lane = lane_of(api)
    before = lane.answered
    assert post(api, cookie=True).status_code == 200
    assert api.post(PATH, content=b"{}", headers={**auth(api.token), "Content-Type": "text/plain"}).status_code == 422
    assert api.post(PATH, json=body(), headers=auth("unknown-token")).status_code == 401
    assert api.post(PATH, json=body()).status_code == 401
    assert api.get(PATH, headers=auth(api.token)).status_code == 405
    assert lane.answered == before
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM verification_log")).scalar() == 2  # the fixture's and the first


def test_a_body_nested_too_deep_is_the_chains_answer_not_a_500(api):
    deep = b"[" * 200_000 + b"]" * 200_000  # json.loads raises RecursionError; within the body limit
    lane = lane_of(api)
    before = lane.answered
    r = api.post(PATH, content=deep[:60_000] + deep[-60_000:], headers={**auth(api.token),
                                                                      "Content-Type": "application/json"})
    assert r.status_code in (400, 422) and lane.answered == before


def test_an_unexpected_error_in_the_lane_is_the_servers_500_and_the_next_request_is_answered(api, monkeypatch):
    """The lane sits in front of Starlette's ServerErrorMiddleware (onshi.web.verification_lane.LaneFirstApp): an
    error no exception handler takes reaches the real server (uvicorn, here on a socket), which answers a plain 500
    — counted under the route as a 500 — and the connection's next request is answered as usual."""
    import httpx

    from onshi.verify import views
    from tests.ops.procs import served_in_thread

    real, failed = views.answer, []

    async def failing_once(*args, **kwargs):
        if not failed:
            failed.append(True)
            raise RuntimeError("unexpected")
        return await real(*args, **kwargs)

    monkeypatch.setattr(views, "answer", failing_once)
    lane, errors = lane_of(api), count("500")
    with served_in_thread(api.app, lifespan="off", log_level="critical") as port, \
            httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=auth(api.token)) as client:
        r = client.post(PATH, json=body())
        assert r.status_code == 500 and r.text == "Internal Server Error" and failed
        assert count("500") == errors + 1
        before = lane.answered
        assert client.post(PATH, json=body()).status_code == 200 and lane.answered == before + 1


def test_a_client_that_goes_away_while_the_chain_reads_its_body_is_no_500(api):
    """Down the chain (a cookie), the route reads the body itself; a client that disconnects meanwhile gets FastAPI's
    400 for a body it could not read (sent to nobody) — not an exception and a 500 with its traceback in the log,
    as the bench's wrk runs showed when they stopped mid-request."""
    import asyncio

    sent: list[dict] = []

    async def receive():
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    headers = [(b"host", b"testserver"), (b"content-type", b"application/json"), (b"content-length", b"120"),
               (b"authorization", f"Bearer {api.token}".encode()), (b"cookie", b"unrelated=1")]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": PATH, "raw_path": PATH.encode(), "root_path": "", "query_string": b"", "headers": headers,
             "client": ("127.0.0.1", 40000), "server": ("testserver", 80)}
    errors = count("500")
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:  # a loop of its own: the suite's browser tests may leave one running here
        pool.submit(asyncio.run, api.app(scope, receive, send)).result()
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 400
    assert count("500") == errors
