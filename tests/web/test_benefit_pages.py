"""The cash-benefit screens and API on both databases: roles, the employer API's idempotent record, the clerk's
decision with its explanation, the supervisor's approval and transfer file, and the queue in headless chromium."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from onshi.store.db import unit_of_work
from tests.registry.helpers import SYMBOL
from tests.web.conftest import PASSWORD, sign_in

BANK = {"bank_code": "0005", "branch_code": "123", "account_type": 1, "account_number": "7654321",
        "holder": "コウロウ タロウ"}


def _login(client, name: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    assert client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token},
                       follow_redirects=False).status_code == 303
    home = "/reception" if name == "reception" else "/office"
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(home).text).group(1)


def _sickness(today, key="emp-1"):
    start = today - timedelta(days=20)
    return {"source_key": key, "kind": "sickness", "channel": "electronic", "received_on": today.isoformat(),
            "symbol": SYMBOL, "number": "101", "branch": "00", "bank": BANK,
            "details": {"incapacity_from": start.isoformat(), "period_from": start.isoformat(),
                        "period_to": (today - timedelta(days=1)).isoformat()},
            "employer_cert": {"certified_on": today.isoformat()}, "doctor_cert": {"certified_on": today.isoformat()}}


def test_roles_and_the_employer_api_makes_one_record(client, world):
    assert client.get("/api/v1/benefits/board").status_code == 401
    assert client.get("/office/benefits", follow_redirects=False).status_code == 303  # to the sign-in page
    token = _login(client, "reception")
    assert client.get("/api/v1/benefits/board").status_code == 403
    assert client.get("/office/benefits").status_code == 403
    client.post("/logout", data={"csrf_token": token})
    token = _login(client, "clerk")
    h = {"X-CSRF-Token": token}
    r = client.post("/api/v1/benefits/applications", json=_sickness(world.today), headers=h)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["status"] == "complete" and first["due"]
    again = client.post("/api/v1/benefits/applications", json=_sickness(world.today), headers=h).json()
    assert again["id"] == first["id"]
    bad = client.post("/api/v1/benefits/applications", json={**_sickness(world.today, "emp-2"), "number": "999"},
                      headers=h)
    assert bad.status_code == 422 and "見つかりません" in bad.text
    detail = client.get(f"/api/v1/benefits/applications/{first['id']}").json()
    assert detail["name"] == "厚労　太郎" and detail["account"].endswith("****321") and "7654321" not in str(detail)
    decided = client.post(f"/api/v1/benefits/applications/{first['id']}/decide", headers=h).json()
    assert decided["status"] == "decided" and decided["amount"] > 0 and decided["explanation"]
    assert client.post(f"/api/v1/benefits/applications/{first['id']}/decide", headers=h).status_code == 409
    assert client.get("/api/v1/benefits/board").json()["totals"]["waiting"] == 1
    # the other insurer's clerk does not see it
    client.post("/logout", data={"csrf_token": token})
    _login(client, "otherclerk")
    assert client.get(f"/api/v1/benefits/applications/{first['id']}").status_code == 404


def test_clerk_decides_supervisor_approves_and_pays_once(client, world):
    from onshi.benefits.models import BenefitApplication

    token = _login(client, "clerk")
    body = {"source_key": "big", "kind": "childbirth", "channel": "mail", "symbol": SYMBOL, "number": "101",
            "branch": "01", "bank": BANK, "details": {"birth_date": (world.today - timedelta(days=10)).isoformat(),
                                                      "children": 3, "covered": True},
            "doctor_cert": {"certified_on": world.today.isoformat()}}
    app_id = client.post("/api/v1/benefits/applications", json=body, headers={"X-CSRF-Token": token}).json()["id"]
    page = client.get(f"/office/benefits/{app_id}")
    assert page.status_code == 200 and "厚労　花子" in page.text and "支給額を算定して決定" in page.text
    r = client.post(f"/office/benefits/{app_id}/decide", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(f"/office/benefits/{app_id}").text
    assert "1,500,000円" in page and "承認待ち" in page and "1児につき 500,000円" in page
    assert client.post(f"/office/benefits/{app_id}/approve", data={"csrf_token": token}).status_code == 403
    pdf = client.get(f"/office/benefits/{app_id}/letter.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    client.post("/logout", data={"csrf_token": token})
    token = _login(client, "supervisor")
    assert client.post(f"/office/benefits/{app_id}/approve", data={"csrf_token": token},
                       follow_redirects=False).status_code == 303
    f = client.post("/office/benefits/pay", data={"csrf_token": token})
    assert f.status_code == 200 and len(f.content.replace(b"\r\n", b"")) == 4 * 120
    again = client.post("/office/benefits/pay", data={"csrf_token": token}, follow_redirects=False)
    assert again.status_code == 303  # nothing left to pay
    with unit_of_work() as s:
        assert s.scalar(select(BenefitApplication.status)) == "paid"


def test_the_clerk_queue_and_board_in_chromium(page, world, database_url):
    from onshi.benefits import service
    from onshi.registry import service as registry
    from tests.benefits.conftest import app_input

    with unit_of_work() as s:
        ins = registry.get_insurer(s, number="01130012")
        start = world.today - timedelta(days=20)
        det = {"incapacity_from": start.isoformat(), "period_from": start.isoformat(),
               "period_to": (world.today - timedelta(days=1)).isoformat()}
        complete = service.receive(s, app_input("sickness", received_on=world.today, details=det),
                                   insurer_id=ins.id, actor="test")
        service.receive(s, app_input("burial", received_on=world.today, details={"death_date": start.isoformat()}),
                        insurer_id=ins.id, actor="test")  # no attachment: incomplete
    sign_in(page, "clerk")
    page.goto("/office/benefits")
    rows = page.locator("[data-testid=benefit-queue] tbody tr")
    assert rows.count() == 2
    assert page.inner_text("[data-testid=benefit-received]") == "2"
    page.click(f"a[href='/office/benefits/{complete.id}']")
    assert page.inner_text("[data-testid=benefit-name]") == "厚労　太郎"
    page.click("[data-testid=decide]")
    page.wait_for_load_state()
    assert page.inner_text("[data-testid=benefit-status]") == "決定済み"
    explanation = page.inner_text("[data-testid=benefit-explanation]")
    assert "待期" in explanation and "標準報酬日額" in explanation
    page.goto("/office/benefits/board")
    assert page.inner_text("[data-testid=board-incomplete]") == "1"
    assert page.inner_text("[data-testid=board-waiting]") == "1"


def _member(world_today):
    from onshi.auth import users

    with unit_of_work() as s:
        users.add_member(s, username="taro", password=PASSWORD, insurer_number="01130012", symbol=SYMBOL,
                         number="101", display_name="厚労 太郎")
        users.add_member(s, username="ichiro", password=PASSWORD, insurer_number="01130012", symbol=SYMBOL,
                         number="102", display_name="転職 一郎")


def test_a_member_applies_electronically_and_sees_only_their_own(page, world, database_url):
    from onshi.auth import users
    from onshi.benefits.models import BenefitApplication
    from onshi.privacy.models import AuditEntry

    _member(world.today)
    with unit_of_work() as s:
        try:
            users.add_member(s, username="nobody", password=PASSWORD, insurer_number="01130012", symbol=SYMBOL,
                             number="999")
            raise AssertionError("a member user for an unknown card was created")
        except users.UserError as exc:
            assert "見つかりません" in str(exc)
    sign_in(page, "taro")
    assert page.url.endswith("/member/benefits")
    page.click("[data-testid=member-new]")
    death = (world.today - timedelta(days=10)).isoformat()
    page.select_option("select[name=kind]", "burial")
    page.fill("input[name=death_date]", "2026-13-40")  # not a date: refused, nothing kept
    page.fill("input[name=bank_code]", "0005")
    page.fill("input[name=branch_code]", "123")
    page.fill("input[name=account_number]", "7654321")
    page.fill("input[name=holder]", "コウロウ タロウ")
    page.click("[data-testid=member-submit]")
    assert "死亡日" in page.inner_text("[data-testid=errors]")
    with unit_of_work() as s:
        assert s.scalars(select(BenefitApplication)).all() == []
    assert page.input_value("input[name=account_number]") == ""  # the account number is never sent back
    page.fill("input[name=death_date]", death)
    page.fill("input[name=account_number]", "7654321")
    page.click("[data-testid=member-submit]")
    page.wait_for_load_state()
    # no attachment yet: received, kept incomplete, the member sees why
    assert page.inner_text("[data-testid=member-status]") == "不備（補正待ち）"
    assert "埋葬許可証" in page.inner_text("[data-testid=member-missing]")
    assert "7654321" not in page.content()
    with unit_of_work() as s:
        [app] = s.scalars(select(BenefitApplication)).all()
        assert app.channel == "electronic" and app.status == "incomplete"
        assert s.scalar(select(AuditEntry).where(AuditEntry.actor_id == "taro", AuditEntry.action == "benefit.view"))
    page.goto("/member/benefits")
    assert page.locator("[data-testid=member-applications] tbody tr").count() == 1
    # the clerk's pages are not the member's
    assert page.goto("/office/benefits").status == 403
    # another member: does not see 太郎's application
    ctx = page.context.browser.new_context(base_url=page.url.split("/member")[0], locale="ja-JP")
    other = ctx.new_page()
    sign_in(other, "ichiro")
    assert other.goto(f"/member/benefits/{app.id}").status == 404
    assert other.locator("[data-testid=member-applications]").count() == 0
    ctx.close()


def test_the_member_form_twice_is_one_application_and_roles_are_kept(client, world):
    _member(world.today)
    token = _login_member(client, "taro")
    form = client.get("/member/benefits/new").text
    nonce = re.search(r'name="nonce" value="([^"]+)"', form).group(1)
    data = {"csrf_token": token, "nonce": nonce, "kind": "burial",
            "death_date": (world.today - timedelta(days=5)).isoformat(), "attachments": "埋葬許可証",
            "bank_code": "0005", "branch_code": "123", "account_type": "1", "account_number": "7654321",
            "holder": "コウロウ タロウ"}
    first = client.post("/member/benefits", data=data, follow_redirects=False)
    second = client.post("/member/benefits", data=data, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert client.get("/api/v1/benefits/board").status_code == 403  # a member is not staff
    assert client.get("/office/benefits").status_code == 403


def _login_member(client, name: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    assert client.post("/login", data={"username": name, "password": PASSWORD, "csrf_token": token},
                       follow_redirects=False).status_code == 303
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/member/benefits").text).group(1)
