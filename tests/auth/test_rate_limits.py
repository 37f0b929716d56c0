"""Rate limits: 429 with Retry-After on the verification routes (per token, per address, refused credentials) and
on sign-in (per address; per user the delay of the one clock).  No test sleeps: the request counts are the
library's, the sign-in delay runs on ``onshi.store.clock``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from onshi.auth.throttle import RateLimits
from onshi.config import Settings
from onshi.store.clock import frozen_at, japan_today
from onshi.store.db import unit_of_work
from tests.auth.conftest import CLINIC, PASSWORD, login

VERIFY = "/api/v1/verifications/numbers"
BODY = {"insurer_number": "01130012", "symbol": "10000001", "number": "101", "branch": "00",
        "birth_date": "1970-01-01", "care_date": japan_today().isoformat()}


def limited(client, **limits) -> RateLimits:
    """Give the app of *client* rate limits from these settings (the rest as configured)."""
    client.app.state.rate_limits = rl = RateLimits(Settings(**limits))
    return rl


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_per_token_limit_answers_429_with_retry_after_and_other_clinics_go_on(client, auth_world):
    from onshi.verify.service import add_institution

    with unit_of_work() as s:
        _, other = add_institution(s, code="1310000029", name="別の医院", facility_type="clinic")
    limited(client, rate_limit_verify_per_token="5/day")
    for _ in range(5):
        assert client.post(VERIFY, json=BODY, headers=bearer(auth_world.token)).status_code != 429
    r = client.post(VERIFY, json=BODY, headers=bearer(auth_world.token))
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 86400
    assert "verify-token" in r.json()["detail"]
    assert client.post(VERIFY, json=BODY, headers=bearer(other)).status_code != 429
    # the same token on the OQS and FHIR doors is the same count
    assert client.post("/oqs/xml", content=b"<x/>", headers=bearer(auth_world.token)).status_code == 429


def test_per_address_limit(client, auth_world, engine):
    from fastapi.testclient import TestClient

    limited(client, rate_limit_verify_per_address="4/day")
    for _ in range(4):
        assert client.post(VERIFY, json=BODY, headers=bearer(auth_world.token)).status_code != 429
    assert client.post(VERIFY, json=BODY, headers=bearer(auth_world.token)).status_code == 429
    elsewhere = TestClient(client.app, client=("192.0.2.7", 50000))
    assert elsewhere.post(VERIFY, json=BODY, headers=bearer(auth_world.token)).status_code != 429


def test_wrong_tokens_cannot_be_tried_without_limit(client, auth_world):
    """The old code answered 401 to every guess, for ever."""
    # the default is 30 a minute; a day-long window keeps the test independent of how fast the machine runs it
    limited(client, rate_limit_bad_token_per_address="30/day")
    codes = [client.post(VERIFY, json=BODY, headers=bearer(f"guess-{i}")).status_code for i in range(40)]
    assert codes[:30] == [401] * 30 and set(codes[30:]) == {429}
    # from that address even the right token waits now; from another it does not
    assert client.post(VERIFY, json=BODY, headers=bearer(auth_world.token)).status_code == 429


def test_a_clinics_bulk_check_does_not_trip_the_default_limits(client, auth_world):
    limited(client)  # the defaults
    codes = {client.post(VERIFY, json={**BODY, "number": str(100 + i)}, headers=bearer(auth_world.token)).status_code
             for i in range(400)}
    assert 429 not in codes and codes == {200}


def test_sign_in_per_address_limit(client, auth_world):
    limited(client, rate_limit_login_per_address="3/day")
    for _ in range(3):
        assert login(client, "nobody-here", "whatever-password").status_code == 401
    r = login(client, "clerk")  # even the right password: this address is over its limit
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "秒後" in r.text


def test_sign_in_delay_doubles_on_the_clock_and_an_outsider_cannot_lock_admin_out(client, auth_world):
    from onshi.auth.models import SignInFailure

    limited(client)
    t = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    waits = []
    for _ in range(6):  # an outsider keeps guessing admin's password, each time as soon as it is allowed
        with frozen_at(t):
            assert login(client, "admin", "guess-password-x").status_code == 401
        with unit_of_work() as s:
            row = s.get(SignInFailure, "admin")
            wait = int((row.wait_until - t.replace(tzinfo=None)).total_seconds()) if row.wait_until else 0
        waits.append(wait)
        if wait:
            with frozen_at(t + timedelta(seconds=wait - 1)):  # one second too soon: refused, not even checked
                r = login(client, "admin", PASSWORD)
                assert r.status_code == 429 and r.headers["retry-after"] == "1"
        t += timedelta(seconds=wait)
    assert waits == [0, 0, 2, 4, 8, 16]
    # the real administrator waits at most the maximum delay (60 s), never 15 minutes, and needs nobody's help
    with frozen_at(t + timedelta(seconds=60)):
        assert login(client, "admin", PASSWORD).status_code == 303


def test_unknown_names_are_delayed_like_known_ones(client, auth_world):
    """The delay does not tell which user names exist."""
    limited(client)
    with frozen_at(datetime(2026, 12, 7, 1, 0, tzinfo=UTC)):
        known = [login(client, "clerk", "guess-password-x").status_code for _ in range(4)]
        unknown = [login(client, "no-such-user", "guess-password-x").status_code for _ in range(4)]
    assert known == unknown == [401, 401, 401, 429]


@pytest.fixture
def redis_prefix():
    import redis

    prefix = f"onshi-test-{uuid.uuid4().hex[:12]}"
    conn = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        conn.ping()
    except redis.ConnectionError as exc:
        pytest.fail(f"the local Redis at 127.0.0.1:6379 is not reachable: {exc}")
    yield prefix, conn
    for key in conn.scan_iter(f"{prefix}*"):
        conn.delete(key)


def test_redis_backed_counts_are_shared_by_every_worker(engine, auth_world, redis_prefix):
    """Two apps (two workers) over one Redis: the count is one; without Redis each would allow 4."""
    from tests.auth.conftest import make_client

    prefix, conn = redis_prefix
    settings = {"redis_url": "redis://127.0.0.1:6379/0", "redis_key_prefix": prefix,
                "rate_limit_verify_per_token": "4/day"}
    worker_a, worker_b = make_client(engine), make_client(engine)
    limited(worker_a, **settings)
    limited(worker_b, **settings)
    assert [worker_a.post(VERIFY, json=BODY, headers=bearer(auth_world.token)).status_code != 429
            for _ in range(2)] == [True, True]
    assert [worker_b.post(VERIFY, json=BODY, headers=bearer(auth_world.token)).status_code != 429
            for _ in range(2)] == [True, True]
    r = worker_a.post(VERIFY, json=BODY, headers=bearer(auth_world.token))
    assert r.status_code == 429 and "retry-after" in r.headers
    keys = [k.decode() for k in conn.scan_iter(f"{prefix}*")]
    assert keys and not any(auth_world.token in k for k in keys)  # the token is counted under its digest


def test_limits_can_be_turned_off(client, auth_world):
    limited(client, rate_limit_enabled=False, rate_limit_verify_per_token="1/day")
    assert {client.post(VERIFY, json=BODY, headers=bearer(auth_world.token)).status_code for _ in range(3)} != {429}
    assert CLINIC
