"""Fixtures of the web screens: a small world (insurers, members, a card, a linkage mismatch, users), the real
server (uvicorn in a thread on a free port, against the test database) and headless Debian chromium."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from onshi.store.clock import japan_today, utcnow
from tests.registry.helpers import (
    INSURER,
    MN_HANAKO,
    MN_TARO,
    OTHER_INSURER,
    SYMBOL,
    acquisition,
    dependent,
    load,
    setup_insurers,
    write,
)

CLINIC = "1310000011"
PASSWORD = "correct-horse-battery"
CARD = "TESTCARD0001"
#: Where the browser tests leave their screenshots: docs/img (the README and docs/web.md show them), or elsewhere
#: when ONSHI_SCREENSHOTS says so — scripts/test-clock does, so its runs beside the main one never write the same file.
IMG = Path(os.environ.get("ONSHI_SCREENSHOTS") or Path(__file__).resolve().parents[2] / "docs" / "img")
MN_MOVED = "234567890124"
MN_LATE = "345678901230"


def _valid_my_number(body: str) -> str:
    from stdnum.jp import in_

    return body + in_.calc_check_digit(body)


@dataclass
class World:
    today: date
    clinic: str = CLINIC
    password: str = PASSWORD


@pytest.fixture
def world(engine, tmp_path) -> World:
    """Members of 協会けんぽ東京 (10000001): 厚労 太郎 (card, 限度額), his dependent 花子 (linkage mismatch),
    転職 一郎 who moved here from the other insurer, and 遅延 次郎 whose filing is not registered yet (overdue)."""
    from onshi.exchange import cards, linkage
    from onshi.exchange.publish import publish_all
    from onshi.registry.models import NotificationType as T
    from onshi.store.db import unit_of_work
    from onshi.verify.service import add_institution
    from onshi.auth import users

    today = japan_today()
    setup_insurers(tmp_path)
    old = utcnow().replace(microsecond=0) - timedelta(days=12)
    load(write(tmp_path, "acq_other.csv", T.acquisition, [acquisition(
        insurer_number=OTHER_INSURER, employer_symbol="9001", number="77", my_number=_valid_my_number("23456789012"),
        name="転職　一郎", name_kana="テンショク　イチロウ", birth_date="1985-06-15", acquisition_date="2020-04-01")]),
        T.acquisition, received_at=old)
    load(write(tmp_path, "acq.csv", T.acquisition, [
        acquisition(),
        acquisition(number="102", my_number=_valid_my_number("23456789012"), name="転職　一郎",
                    name_kana="テンショク　イチロウ", birth_date="1985-06-15",
                    acquisition_date=(today - timedelta(days=20)).isoformat(), monthly_remuneration="300000"),
    ]), T.acquisition, received_at=old)
    load(write(tmp_path, "dep.csv", T.dependent, [dependent()]), T.dependent, received_at=old)
    load(write(tmp_path, "limit.csv", T.limit_application, [{
        "insurer_number": INSURER, "employer_symbol": SYMBOL, "number": "101", "branch": "00",
        "application_date": today.replace(day=1).isoformat(), "tax_exempt": "0", "low_income_1": "0",
        "income_exemption": "0"}]), T.limit_application, received_at=utcnow().replace(microsecond=0)
        - timedelta(days=1))
    publish_all()
    # filed twelve days ago and still not registered: overdue on the SLA board, 資格情報なし at the clinic
    load(write(tmp_path, "acq_late.csv", T.acquisition, [acquisition(
        number="103", my_number=_valid_my_number("34567890123"), name="遅延　次郎", name_kana="チエン　ジロウ",
        birth_date="1990-03-03", acquisition_date=(today - timedelta(days=14)).isoformat())]),
        T.acquisition, received_at=old)
    with unit_of_work() as s:
        add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
        cards.register_card(s, my_number=MN_TARO, certificate_serial=CARD,
                            certificate_expires_on=today + timedelta(days=900))
        extract = ("my_number,name,name_kana,birth_date,sex,address\n"
                   f"{MN_HANAKO},厚労　花子,コウロウ　ハナコ,1972-05-05,2,大阪府大阪市北区梅田1-1\n").encode()
        linkage.import_extract(s, extract, "juki_202611.csv")
        users.add_user(s, username="reception", password=PASSWORD, role="clinic", display_name="受付 一郎",
                       institution_code=CLINIC)
        users.add_user(s, username="clerk", password=PASSWORD, role="clerk", display_name="事務 花子",
                       insurer_number=INSURER)
        users.add_user(s, username="supervisor", password=PASSWORD, role="supervisor", display_name="監督 次郎",
                       insurer_number=INSURER)
        users.add_user(s, username="admin", password=PASSWORD, role="admin", display_name="管理 三郎")
        users.add_user(s, username="otherclerk", password=PASSWORD, role="clerk", display_name="他 保険者",
                       insurer_number=OTHER_INSURER)
    return World(today=today)


@pytest.fixture
def client(engine, world):
    from fastapi.testclient import TestClient

    from onshi.web.app import create_app

    return TestClient(create_app(engine, publisher_interval=0))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(engine, world):
    """The real app under uvicorn on 127.0.0.1, in a background thread."""
    from onshi.web.app import create_app
    from tests.ops.procs import served_in_thread

    with served_in_thread(create_app(engine, publisher_interval=0)) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def chromium():
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian chromium is not installed (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--headless", "--no-sandbox", "--disable-gpu",
                                          "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, server):
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="ja-JP", base_url=server)
    requests_outside: list[str] = []
    context.on("request", lambda r: None if r.url.startswith(server) or r.url.startswith("data:")
               else requests_outside.append(r.url))
    pg = context.new_page()
    pg.set_default_timeout(15000)
    pg.requests_outside = requests_outside
    yield pg
    context.close()
    assert not requests_outside, f"the page loaded something from outside the app: {requests_outside}"


def sign_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.press("input[name=password]", "Enter")
    page.wait_for_load_state()
    assert "/login" not in page.url, page.inner_text("main")
