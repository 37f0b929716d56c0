"""Server-side sessions: a copy of the cookie stops working the moment the session ends on the server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from onshi.auth import users
from onshi.store.clock import frozen_at
from onshi.store.db import unit_of_work
from tests.auth.conftest import csrf, login, make_client

MEMBERS = "/api/v1/registry/quarantine"  # a staff API read (the insurer's quarantined rows)


def _replay(engine, cookies: dict):
    """Another client that holds only a stolen copy of the cookie."""
    thief = make_client(engine)
    for name, value in cookies.items():
        thief.cookies.set(name, value)
    return thief


def test_the_cookie_holds_only_a_session_id_and_the_csrf_token(client):
    import base64
    import json

    login(client, "clerk")
    raw = client.cookies.get("onshi_session")
    payload = json.loads(base64.b64decode(raw.split(".")[0] + "=="))
    assert set(payload) == {"sid", "csrf"}


def test_the_cookie_replayed_after_logout_gets_nothing(client, engine):
    login(client, "clerk")
    stolen = dict(client.cookies)
    assert _replay(engine, stolen).get("/office", follow_redirects=False).status_code == 200
    assert _replay(engine, stolen).get(MEMBERS).status_code == 200
    client.post("/logout", data={"csrf_token": csrf(client, "/office")})
    # the old code answered 200 with the office page and personal data: the session lived only in the cookie
    assert _replay(engine, stolen).get("/office", follow_redirects=False).status_code == 303
    assert _replay(engine, stolen).get(MEMBERS).status_code == 401
    from onshi.auth.models import WebSession

    with unit_of_work() as s:
        [row] = s.scalars(select(WebSession)).all()
        assert row.ended_reason == "sign-out" and row.ended_at is not None


@pytest.mark.parametrize("end", ["disable", "signout-all", "password", "role"])
def test_every_administrative_end_ends_the_session_at_once(client, engine, end):
    login(client, "clerk")
    assert client.get(MEMBERS).status_code == 200
    other_device = make_client(engine)
    login(other_device, "clerk")
    by = ("cli", "test")
    with unit_of_work() as s:
        if end == "disable":
            users.disable(s, "clerk", by=by)
        elif end == "signout-all":
            assert users.sign_out_everywhere(s, "clerk", by=by) == 2
        elif end == "password":
            users.set_password(s, "clerk", "another-long-passphrase", by=by)
        else:
            users.change_role(s, "clerk", "supervisor", by=by, insurer_number="01130012")
    for c in (client, other_device):
        assert c.get(MEMBERS).status_code == 401
        assert c.get("/office", follow_redirects=False).headers["location"].startswith("/login")


def test_idle_and_absolute_limits_on_the_one_clock(client):
    start = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)
    with frozen_at(start):
        login(client, "clerk")
    with frozen_at(start + timedelta(hours=1, minutes=59)):
        assert client.get(MEMBERS).status_code == 200
    with frozen_at(start + timedelta(hours=3, minutes=58)):  # 1 h 59 idle again: still in
        assert client.get(MEMBERS).status_code == 200
    with frozen_at(start + timedelta(hours=6)):  # 2 h 2 min idle
        assert client.get(MEMBERS).status_code == 401
    with frozen_at(start):
        login(client, "clerk")
    for hours in range(1, 12):  # used every hour, never idle …
        with frozen_at(start + timedelta(hours=hours)):
            assert client.get(MEMBERS).status_code == 200
    with frozen_at(start + timedelta(hours=12, minutes=1)):  # … but 12 hours is the end
        assert client.get(MEMBERS).status_code == 401


def test_secure_cookie_with_the_host_prefix_by_default(engine, auth_world, monkeypatch):
    from onshi.config import get_settings

    monkeypatch.delenv("ONSHI_COOKIE_SECURE")
    get_settings.cache_clear()
    try:
        assert get_settings().cookie_secure is True
        c = make_client(engine)
        c.base_url = c.base_url.copy_with(scheme="https")
        r = c.get("https://testserver/login")
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("__Host-onshi_session=") and "secure" in cookie.lower() and "path=/" in cookie
        assert "domain" not in cookie.lower()
    finally:
        monkeypatch.setenv("ONSHI_COOKIE_SECURE", "0")
        get_settings.cache_clear()
