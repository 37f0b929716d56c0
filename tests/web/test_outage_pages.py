"""After an outage, from the clinic's side (docs/outage.md): the REST API, the page, and the page's offline queue in
headless chromium with the network cut and restored — both databases."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from onshi.outage.models import OutageRecord
from onshi.store.db import unit_of_work
from tests.registry.helpers import INSURER, SYMBOL
from tests.web.conftest import CLINIC, PASSWORD, sign_in

TOKEN = "outage-test-institution-token"


@pytest.fixture
def token(world):
    from onshi.verify.institutions import token_digest
    from onshi.verify.models import Institution

    with unit_of_work() as s:
        s.scalar(select(Institution).where(Institution.code == CLINIC)).token_digest = token_digest(TOKEN)
    return {"Authorization": f"Bearer {TOKEN}"}


def outage_csv(today, *rows: str) -> bytes:
    return ("診療日,氏名,カナ氏名,性別,生年月日,住所,保険者番号,記号,番号,枝番\n" + "".join(r + "\n" for r in rows)).encode()


def count(session) -> int:
    return session.scalar(select(func.count()).select_from(OutageRecord))


def test_the_rest_api_checks_a_file_and_refuses_a_bad_one_whole(client, world, token, session):
    day = world.today.isoformat()
    good = outage_csv(world.today,
                      f"{day},厚労　太郎,コウロウ　タロウ,1,S45.1.1,東京都港区虎ノ門1-1,,,,",
                      f"{day},遅延　次郎,チエン　ジロウ,1,1990-03-03,東京都港区虎ノ門1-1,,,,",  # filed, not registered
                      f"{day},誰か,ダレカ,2,1999-09-09,どこか,{INSURER},{SYMBOL},101,00")
    r = client.post("/api/v1/outage/checks/file", headers=token, files={"file": ("o.csv", good, "text/csv")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [x["status"] for x in body["results"]] == ["有効", "要確認", "要確認"]
    assert body["results"][0]["insurer_number"] == INSURER and body["results"][0]["number"] == "101"
    again = client.post("/api/v1/outage/checks/file", headers=token, files={"file": ("o.csv", good, "text/csv")})
    assert again.json()["added"] == 0 and again.json()["duplicate"] == 3 and count(session) == 3
    bad = outage_csv(world.today, f"{day},厚労　太郎,コウロウ　タロウ,1,H31.5.1,東京都港区虎ノ門1-1,,,,",
                     f"{day},厚労　花子,コウロウ　ハナコ,2,1972-05-05,,,,,")
    r = client.post("/api/v1/outage/checks/file", headers=token, files={"file": ("bad.csv", bad, "text/csv")})
    assert r.status_code == 422
    assert [(e["row"], e["field"], e["value"]) for e in r.json()["detail"]] == [(2, "生年月日", "H31.5.1"),
                                                                                (3, "住所", "")]
    assert count(session) == 3
    # an unknown-insurer claim for the record that stayed 要確認; refused for the one found
    ids = {x["status"]: x["record_id"] for x in body["results"]}
    r = client.post(f"/api/v1/outage/records/{ids['要確認']}/unknown-insurer", headers=token,
                    json={"amount_yen": 12000})
    assert r.status_code == 201 and r.json()["amount_yen"] == 12000
    r = client.post(f"/api/v1/outage/records/{ids['有効']}/unknown-insurer", headers=token, json={"amount_yen": 1})
    assert r.status_code == 409


def test_who_may_call(client, world, token):
    assert client.post("/api/v1/outage/checks", json={}).status_code == 401
    assert client.post("/api/v1/outage/checks", json={}, headers=token).status_code == 200
    assert client.get("/api/v1/outage/apportionment", params={"month": "2026-12"}).status_code == 401
    r = client.get("/reception/outage", follow_redirects=False)
    assert r.status_code in (302, 303, 401)


def _login(client, username):
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303


def test_the_apportionment_is_for_the_insurer_s_staff(client, world):
    _login(client, "reception")
    assert client.get("/api/v1/outage/apportionment", params={"month": "2026-12"}).status_code == 403
    client.cookies.clear()
    _login(client, "supervisor")
    r = client.get("/api/v1/outage/apportionment", params={"month": "R8.12"})
    assert r.status_code == 200 and r.json()["month"] == "2026-12"
    assert r.json()["insurers"] == 2 and [s["insurer_number"] for s in r.json()["shares"]] == [INSURER]
    assert client.get("/api/v1/outage/apportionment", params={"month": "H31.5"}).status_code == 422


def test_the_page_uploads_checks_and_names_bad_rows(client, world, session):
    _login(client, "reception")
    page = client.get("/reception/outage")
    assert page.status_code == 200 and "システム障害時の受付" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    day = world.today.isoformat()
    bad = outage_csv(world.today, f"{day},厚労　太郎,コウロウ　タロウ,1,R1.4.30,東京都港区虎ノ門1-1,,,,")
    r = client.post("/reception/outage/upload", data={"csrf_token": csrf}, files={"file": ("b.csv", bad, "text/csv")})
    assert r.status_code == 422 and "2行目 生年月日「R1.4.30」" in r.text and "令和は元年5月1日から" in r.text
    good = outage_csv(world.today, f"{day},厚労　太郎,コウロウ　タロウ,1,S45.1.1,東京都港区虎ノ門1-1,,,,")
    r = client.post("/reception/outage/upload", data={"csrf_token": csrf}, files={"file": ("g.csv", good, "text/csv")})
    assert r.status_code == 200 and 'data-testid="outage-results"' in r.text and "有効" in r.text
    assert count(session) == 1


def test_records_typed_while_offline_are_kept_and_sent_when_the_network_is_back(page, world, session):
    from playwright.sync_api import expect

    sign_in(page, "reception")
    page.goto("/reception/outage")
    expect(page.get_by_test_id("outage-pending")).to_have_text("未送信 0件")
    page.context.set_offline(True)
    form = page.locator("#outage-form")
    form.locator("input[name=name]").fill("厚労　太郎")
    form.locator("input[name=name_kana]").fill("こうろう たろう")
    form.locator("select[name=sex]").select_option("1")
    form.locator("input[name=birth_date]").fill("S45.1.1")
    form.locator("input[name=address]").fill("東京都港区虎ノ門一丁目1番")
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("outage-pending")).to_have_text("未送信 1件")
    expect(page.get_by_test_id("outage-status")).to_contain_text("つながりません", timeout=10000)
    assert count(session) == 0
    page.context.set_offline(False)  # the network is back: the queue is sent (online event, or the retry)
    expect(page.get_by_test_id("outage-pending")).to_have_text("未送信 0件", timeout=20000)
    session.expire_all()
    assert count(session) == 1
    page.reload()  # nothing left in the queue: a reload sends nothing twice
    expect(page.get_by_test_id("outage-pending")).to_have_text("未送信 0件")
    page.get_by_test_id("outage-check").click()
    expect(page.get_by_test_id("outage-counts")).to_contain_text("有効 1件")
    expect(page.get_by_test_id("outage-results")).to_contain_text("10000001")
    session.expire_all()
    assert count(session) == 1


def test_a_record_the_server_refuses_stays_to_be_corrected(page, world, session):
    from playwright.sync_api import expect

    sign_in(page, "reception")
    page.goto("/reception/outage")
    form = page.locator("#outage-form")
    form.locator("input[name=name]").fill("見本　次子")
    form.locator("input[name=name_kana]").fill("ミホン　ツギコ")
    form.locator("select[name=sex]").select_option("2")
    form.locator("input[name=birth_date]").fill("H31.5.1")  # 平成 ended on 30 April 2019
    form.locator("input[name=address]").fill("東京都中野区中野1-1")
    form.locator("button[type=submit]").click()
    queue = page.get_by_test_id("outage-queue")
    expect(queue).to_contain_text("要修正", timeout=15000)
    expect(queue).to_contain_text("平成は31年4月30日まで")
    assert count(session) == 0
    queue.get_by_role("button", name="修正する").click()
    expect(form.locator("input[name=birth_date]")).to_have_value("H31.5.1")
    form.locator("input[name=birth_date]").fill("H31.4.30")
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("outage-pending")).to_have_text("未送信 0件", timeout=15000)
    session.expire_all()
    assert count(session) == 1
