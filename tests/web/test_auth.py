"""Sign-in, roles, CSRF and lock-out through the HTTP stack (TestClient); every database."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from onshi.store.db import unit_of_work
from onshi.auth import users
from onshi.auth.models import WebUser
from tests.web.conftest import PASSWORD

OFFICE_PAGES = ["/office", "/office/members", "/office/members/1", "/office/intake", "/office/sla",
                "/office/linkage", "/office/documents", "/office/quarantine/1", "/office/documents/1.pdf"]


def csrf(client, path="/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def login(client, username, password=PASSWORD, nxt=""):
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf(client),
                                       "next": nxt}, follow_redirects=False)


def test_production_hashes_cost_at_least_owasp_minimum():
    """The suite hashes at a test's cost (tests/conftest.py); what a deployment uses is checked here: argon2id, at
    least OWASP's minimum (19 MiB of memory, 2 passes), read back from a real hash."""
    from argon2 import Type, extract_parameters

    from onshi.auth.users import production_hasher

    params = extract_parameters(production_hasher().hash("見本のパスワード"))
    assert params.type is Type.ID and params.memory_cost >= 19 * 1024 and params.time_cost >= 2
    assert params.parallelism >= 1 and params.salt_len >= 16 and params.hash_len >= 32


def test_password_is_stored_as_argon2id_only(client):
    with unit_of_work() as s:
        u = s.scalar(select(WebUser).where(WebUser.username == "clerk"))
        assert u.password_hash.startswith("$argon2id$") and PASSWORD not in u.password_hash


@pytest.mark.parametrize("username, home", [("reception", "/reception"), ("clerk", "/office"),
                                            ("supervisor", "/office"), ("admin", "/admin/users")])
def test_each_role_lands_on_its_screen_and_sees_who_is_signed_in(client, username, home):
    r = login(client, username)
    assert r.status_code == 303 and r.headers["location"] == home
    page = client.get(home)
    assert page.status_code == 200
    who = re.search(r'data-testid="who">(.*?)</div>', page.text, re.DOTALL).group(1)
    assert users.ROLES[{"reception": "clinic"}.get(username, username)] in who
    if username == "reception":
        assert "テスト内科" in who
    if username in ("clerk", "supervisor"):
        assert "01130012" in who


def test_not_signed_in_is_sent_to_login_with_the_page_to_return_to(client):
    r = client.get("/office/sla", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/office/sla"
    r = login(client, "clerk", nxt="/office/sla")
    assert r.headers["location"] == "/office/sla"


def test_next_cannot_point_to_another_site(client):
    r = login(client, "clerk", nxt="//evil.example/")
    assert r.headers["location"] == "/office"


def test_wrong_password_and_unknown_user_get_the_same_answer(client):
    a = login(client, "clerk", "wrong-password-1")
    b = login(client, "nobody", "wrong-password-1")
    assert a.status_code == b.status_code == 401
    assert "ユーザー名またはパスワードが違います" in a.text and "ユーザー名またはパスワードが違います" in b.text


def test_no_lock_out_an_outsider_can_trigger_wrong_passwords_only_delay(client):
    """Five wrong passwords used to lock ``clerk`` out for 15 minutes; now the attempts are delayed (429 with
    Retry-After) and the right password passes once the delay is over — no administrator needed."""
    from datetime import UTC, datetime, timedelta

    from onshi.store.clock import frozen_at

    start = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)
    with frozen_at(start):
        for _ in range(3):
            assert login(client, "clerk", "wrong-password-1").status_code == 401
        r = login(client, "clerk", PASSWORD)  # too soon after the third failure: not even checked
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1 and "ロック" not in r.text
    with frozen_at(start + timedelta(seconds=3)):
        assert login(client, "clerk", PASSWORD).status_code == 303
    with unit_of_work() as s:
        assert s.scalar(select(WebUser.locked_until).where(WebUser.username == "clerk")) is None


def test_a_success_resets_the_failure_count(client):
    from onshi.auth.models import SignInFailure

    for _ in range(2):
        login(client, "clerk", "wrong-password-1")
    with unit_of_work() as s:
        assert s.get(SignInFailure, "clerk").failures == 2
    assert login(client, "clerk").status_code == 303
    with unit_of_work() as s:
        assert s.get(SignInFailure, "clerk") is None


def test_post_without_or_with_a_wrong_csrf_token_is_refused(client):
    login(client, "reception")
    body = {"insurer_number": "01130012", "symbol": "10000001", "number": "101", "branch": "00",
            "birth_date": "1970-01-01"}
    assert client.post("/reception/numbers", data=body).status_code == 403
    assert client.post("/reception/numbers", data={**body, "csrf_token": "forged"}).status_code == 403
    ok = client.post("/reception/numbers", data={**body, "csrf_token": csrf(client, "/reception")})
    assert ok.status_code == 200 and "有効" in ok.text
    r = client.post("/login", data={"username": "clerk", "password": PASSWORD})  # login CSRF too
    assert r.status_code == 403


def test_login_starts_a_new_session(client):
    before = csrf(client)
    login(client, "reception")
    assert csrf(client, "/reception") != before


def test_logout_ends_the_session(client):
    login(client, "reception")
    client.post("/logout", data={"csrf_token": csrf(client, "/reception")})
    assert client.get("/reception", follow_redirects=False).status_code == 303


def test_password_change_ends_open_sessions(client):
    login(client, "clerk")
    assert client.get("/office", follow_redirects=False).status_code == 200
    with unit_of_work() as s:
        users.set_password(s, "clerk", "another-long-passphrase")
    assert client.get("/office", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("path", OFFICE_PAGES)
def test_clinic_user_gets_403_on_insurer_pages(client, path):
    login(client, "reception")
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 403 and "権限がありません" in r.text


@pytest.mark.parametrize("path", ["/reception", "/reception/today", "/reception/bulk", "/admin/users"])
def test_clerk_gets_403_on_reception_and_admin(client, path):
    login(client, "clerk")
    assert client.get(path, follow_redirects=False).status_code == 403


@pytest.mark.parametrize("path", ["/office", "/office/members/1", "/reception"])
def test_admin_sees_no_personal_data_pages(client, path):
    login(client, "admin")
    assert client.get(path, follow_redirects=False).status_code == 403


def test_clerk_cannot_open_a_member_of_another_insurer(client):
    from onshi.registry import service

    with unit_of_work() as s:
        [pid] = service.find_persons_by_name_birth(s, "厚労　太郎", __import__("datetime").date(1970, 1, 1))
    login(client, "otherclerk")
    r = client.get(f"/office/members/{pid}")
    assert r.status_code == 404 and "厚労" not in r.text
    other = client.__class__(client.app)
    login(other, "clerk")
    assert other.get(f"/office/members/{pid}").status_code == 200


def test_pages_forbid_outside_assets(client):
    login(client, "reception")
    r = client.get("/reception")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert not re.search(r'(src|href)="(https?:)?//', r.text)
    assert client.get("/assets/ipaexg.ttf").status_code == 200


def test_admin_adds_a_user_with_a_scope(client):
    login(client, "admin")
    token = csrf(client, "/admin/users")
    bad = client.post("/admin/users", data={"csrf_token": token, "username": "x1", "password": "short",
                                            "role": "clerk", "scope": "01130012"})
    assert bad.status_code == 422 and "10文字以上" in bad.text
    ok = client.post("/admin/users", data={"csrf_token": token, "username": "newclerk", "password": "vast-ocean-pw",
                                           "role": "clerk", "scope": "01130012", "display_name": "新人"})
    assert ok.status_code == 200 and "newclerk" in ok.text
    fresh = client.__class__(client.app)
    assert login(fresh, "newclerk", "vast-ocean-pw").headers["location"] == "/office"
