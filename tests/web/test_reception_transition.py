"""The reception screen in headless chromium: the card panel reads a smartphone credential, and a check by the
numbers of an expired 健康保険証 shows the provisional billing on its days (docs/rules.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from onshi.exchange import cards
from onshi.store.db import unit_of_work
from tests.registry.helpers import MN_TARO
from tests.web.conftest import sign_in

pytestmark = pytest.mark.browser
PHONE = "TESTPHONE0001"


def _numbers(page, care: str) -> None:
    page.goto("/reception")
    for name, value in (("insurer_number", "01130012"), ("symbol", "10000001"), ("number", "101"),
                        ("branch", "00"), ("birth_date", "1970-01-01"), ("care_date", care)):
        page.fill(f"input[name={name}]", value)
    page.press("input[name=birth_date]", "Enter")
    page.wait_for_selector("[data-testid=validity]")
    assert page.inner_text("[data-testid=validity] strong") == "有効"


def test_an_expired_card_confirmed_online_shows_the_provisional_billing(page, world):
    sign_in(page, "reception")
    _numbers(page, "2025-12-02")
    notice = page.inner_text("[data-testid=provisional-billing]")
    assert "期限切れの保険証をオンラインで確認: 2026年3月31日まで 3割で請求できます" in notice
    assert "令和8年3月31日" in notice and "令和7年12月1日" in notice
    for care in ("2025-12-01", "2026-04-01"):
        _numbers(page, care)
        assert page.query_selector("[data-testid=provisional-billing]") is None


def test_the_card_panel_reads_a_smartphone_credential(page, world):
    with unit_of_work() as s:
        cards.register_card(s, my_number=MN_TARO, certificate_serial=PHONE,
                            certificate_expires_on=world.today + timedelta(days=400), kind="smartphone")
    sign_in(page, "reception")
    page.click("details.tab:nth-of-type(2) summary")
    assert PHONE in page.inner_text("#card-form")  # the demo's phone serials are offered
    page.click(f"#card-form button.chip[data-value={PHONE}]")
    page.fill("input[name=card_serial]", PHONE)
    page.check("input[name=credential][value=smartphone]")
    page.check("input[name=reader][value=face]")
    page.click("#card-form button[type=submit]")
    page.wait_for_selector("[data-testid=validity]")
    assert page.inner_text("[data-testid=validity] strong") == "有効"
    assert "スマホのマイナ保険証で照会" in page.inner_text("[data-testid=validity]")
    assert page.query_selector("[data-testid=provisional-billing]") is None
    # the phone's serial read as a card: refused with the reason, nothing verified
    page.goto("/reception")
    page.click("details.tab:nth-of-type(2) summary")
    page.fill("input[name=card_serial]", PHONE)
    page.check("input[name=credential][value=card]")
    page.click("#card-form button[type=submit]")
    assert "スマートフォン" in page.inner_text(".errors") and page.query_selector("[data-testid=validity]") is None
    page.goto("/reception/today")
    rows = page.query_selector_all("[data-testid=today] tbody tr")
    assert len(rows) == 1 and "スマホのマイナ保険証" in rows[0].inner_text()


def test_a_verification_only_institution_s_screen_offers_no_consent(page, world):
    from sqlalchemy import select

    from onshi.verify.models import Institution

    with unit_of_work() as s:
        s.scalar(select(Institution).where(Institution.code == world.clinic)).kind = "limited"
    sign_in(page, "reception")
    assert "資格確認限定型" in page.inner_text("[data-testid=limited-kind]")
    assert page.query_selector("input[name=limit_consent]") is None
    assert page.query_selector("input[name^=consent_]") is None
    _numbers(page, "2026-11-02")
    assert page.query_selector("[data-testid=limit]") is None
