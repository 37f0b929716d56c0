"""A small world for sign-in, sessions and administration: two insurers, one clinic, one user per role, and the
app under TestClient (plain http: ONSHI_COOKIE_SECURE=0 from tests/conftest.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from tests.registry.helpers import INSURER, OTHER_INSURER, setup_insurers

CLINIC = "1310000011"
PASSWORD = "correct-horse-battery"


@dataclass
class AuthWorld:
    token: str
    clinic: str = CLINIC


@pytest.fixture
def auth_world(engine, tmp_path) -> AuthWorld:
    from onshi.auth import users
    from onshi.store.db import unit_of_work
    from onshi.verify.service import add_institution

    setup_insurers(tmp_path)
    with unit_of_work() as s:
        _, token = add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
        users.add_user(s, username="reception", password=PASSWORD, role="clinic", institution_code=CLINIC)
        users.add_user(s, username="clerk", password=PASSWORD, role="clerk", display_name="事務 花子",
                       insurer_number=INSURER)
        users.add_user(s, username="supervisor", password=PASSWORD, role="supervisor", insurer_number=INSURER)
        users.add_user(s, username="othersuper", password=PASSWORD, role="supervisor", insurer_number=OTHER_INSURER)
        users.add_user(s, username="admin", password=PASSWORD, role="admin", display_name="管理 三郎")
    return AuthWorld(token=token)


def make_client(engine):
    from fastapi.testclient import TestClient

    from onshi.web.app import create_app

    return TestClient(create_app(engine, publisher_interval=0))


@pytest.fixture
def client(engine, auth_world):
    return make_client(engine)


def csrf(client, path="/login") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def login(client, username, password=PASSWORD, nxt=""):
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf(client),
                                       "next": nxt}, follow_redirects=False)
