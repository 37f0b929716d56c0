"""The insurer clerk's claims pages in headless chromium (issue 21): the 返納金 cases with their state and the
資格点検 list of a month, built from the registry events of tests/claims/test_refunds.py; each person shown is
audited; the reception cannot open them; a bad month is refused in Japanese."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from onshi.store.db import unit_of_work
from tests.claims.test_refunds import world as refund_world  # noqa: F401 - a fixture: the registry events and claims
from tests.web.conftest import IMG, PASSWORD, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def claims_world(refund_world):  # noqa: F811
    """The world of the refund tests (November 2024: ours, the member's, the new insurer's), matched and checked,
    one case noticed; a clerk of the insurer and a receptionist."""
    from datetime import date

    from onshi.auth import users
    from onshi.claims import match_fast, service
    from onshi.verify.service import add_institution
    insurer_id = refund_world
    with unit_of_work() as s:
        match_fast.match_care_after_loss(s, insurer_id=insurer_id, month="2024-11", today=date(2025, 1, 10))
        service.check_month(s, insurer_id=insurer_id, month="2024-11")
        from onshi.claims.models import RefundCase

        member = s.scalar(select(RefundCase.id).where(RefundCase.debtor == "member"))
        service.notice(s, member, insurer_id=insurer_id, noticed_on=date(2025, 1, 15))
        add_institution(s, code="1310000011", name="テスト内科", facility_type="clinic")
        users.add_user(s, username="clerk", password=PASSWORD, role="clerk", insurer_number="01130012")
        users.add_user(s, username="reception", password=PASSWORD, role="clinic", institution_code="1310000011")
    return insurer_id


@pytest.fixture
def world(claims_world):  # the server fixture of tests/web/conftest.py serves this world
    return claims_world


def test_refund_cases_and_checks_pages(page, claims_world, database_url):
    from onshi.privacy.models import AuditEntry

    sign_in(page, "clerk")
    page.click("nav.main a[href='/office/claims']")
    page.wait_for_selector("[data-testid=refunds]")
    table = page.inner_text("[data-testid=refunds]")
    for text in ("厚労　太郎", "当方の登録遅延", "厚労　次郎", "加入者本人", "通知済", "厚労　三郎",
                 "新保険者 (保険者間調整)（06139992）", "4,970円", "2,485円"):
        assert text in table, text
    assert page.inner_text("[data-testid=lateness-cost]") == "4,970円"
    page.select_option("select[name=status]", "noticed")
    page.click("[data-testid=refund-filter] button")
    page.wait_for_load_state()
    rows = page.query_selector_all("[data-testid=refunds] tbody tr")
    assert len(rows) == 1 and "厚労　次郎" in rows[0].inner_text()
    if database_url.startswith("sqlite"):
        page.goto("/office/claims")
        IMG.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMG / "ui_office_refunds.png"), full_page=True)
    resp = page.goto("/office/claims?month=2024-13")
    assert resp.status == 422 and "診療年月「2024-13」" in page.inner_text("[data-testid=errors]")
    page.click("text=資格点検の一覧")
    page.wait_for_selector("[data-testid=checks]")
    checks = page.inner_text("[data-testid=checks]")
    assert "厚労　三郎" in checks and "保険者の相違" in checks and "06139992" in checks and "(" not in checks
    if database_url.startswith("sqlite"):
        page.screenshot(path=str(IMG / "ui_office_checks.png"), full_page=True)
    with unit_of_work() as s:
        actions = [a for a, in s.execute(select(AuditEntry.action).where(AuditEntry.actor_id == "clerk"))]
    assert actions.count("refund.list") >= 4 and actions.count("claims.findings") >= 1
    page.context.clear_cookies()
    sign_in(page, "reception")
    assert page.goto("/office/claims").status == 403
    assert page.goto("/office/claims/checks").status == 403
