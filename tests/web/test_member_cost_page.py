"""The member's 医療費のお知らせ page (``/member/medical-costs``, issue 21 point 5) in headless chromium against the
real server, on both databases: reached from the member's menu, the last calendar year by default with the
dependent's care, another year chosen with the selector, the PDF link, and another member seeing none of it."""

from __future__ import annotations

import pytest

from onshi.store.clock import japan_today
from onshi.store.db import unit_of_work
from tests.web.conftest import IMG, PASSWORD, sign_in

pytestmark = pytest.mark.browser


def _claims(tmp_path) -> int:
    """太郎's care in November and his dependent 花子's in December of last year, 太郎's in January of this year."""
    from onshi.auth import users
    from tests.claims.helpers import import_claims, line, load_master, write_claims
    from tests.registry.helpers import INSURER, SYMBOL

    last = japan_today().year - 1
    load_master()
    rep = import_claims(write_claims(tmp_path, "claims.csv", [
        line(claim_number="1", month=f"{last}-11", care_days="5;20", patient_share="2130", points="710"),
        line(claim_number="2", month=f"{last}-12", care_days="3", patient_share="900", points="300", branch="01",
             birth_date="1972-05-05"),
        line(claim_number="3", month=f"{last + 1}-01", care_days="9", patient_share="600", points="200"),
    ]), today=japan_today())
    assert rep.ok and rep.claims_applied == 3, rep.errors
    with unit_of_work() as s:
        users.add_member(s, username="taro", password=PASSWORD, insurer_number=INSURER, symbol=SYMBOL,
                         number="101", display_name="厚労 太郎")
        users.add_member(s, username="ichiro", password=PASSWORD, insurer_number=INSURER, symbol=SYMBOL,
                         number="102", display_name="転職 一郎")
    return last


def test_the_member_reads_the_family_costs_and_opens_the_notice(page, world, database_url, tmp_path):
    last = _claims(tmp_path)
    sign_in(page, "taro")
    page.click("nav.main a[href='/member/medical-costs']")
    page.wait_for_load_state()
    assert page.inner_text("h2") == f"{last}年1月〜12月の診療分"
    assert page.locator("select[name=year]").input_value() == str(last)
    table = page.locator("[data-testid=member-costs] tbody tr")
    assert table.count() == 2
    assert table.nth(0).inner_text().split("\t") == [f"{last}-11", "厚労　太郎", "テスト内科", "外来", "2日", "7,100円",
                                                     "2,130円"]
    assert table.nth(1).inner_text().split("\t")[:2] == [f"{last}-12", "厚労　花子"]
    assert page.inner_text("[data-testid=cost-total]") == "10,100円"
    assert page.inner_text("[data-testid=cost-paid]") == "3,030円"
    if database_url.startswith("sqlite"):
        IMG.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMG / "ui_member_medical_costs.png"), full_page=False)
    # the PDF of the same year, from the link
    pdf = page.request.get(page.get_attribute("[data-testid=cost-pdf]", "href"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf" and pdf.body()[:4] == b"%PDF"
    # this year so far, through the selector
    page.select_option("select[name=year]", str(last + 1))
    page.click("[data-testid=cost-year] button")
    page.wait_for_load_state()
    assert page.locator("[data-testid=member-costs] tbody tr").count() == 1
    assert page.inner_text("[data-testid=cost-total]") == "2,000円"
    # another member: none of 太郎's family
    ctx = page.context.browser.new_context(base_url=page.url.split("/member")[0], locale="ja-JP")
    other = ctx.new_page()
    sign_in(other, "ichiro")
    assert other.goto("/member/medical-costs").status == 200
    assert other.locator("[data-testid=member-costs]").count() == 0
    assert "花子" not in other.content() and "7,100" not in other.content()
    ctx.close()
