"""The clerk's day on the member page, in headless chromium (issue 23): search by kana, the family and histories,
issue a 資格確認書 and print it, reissue on a lost card with the reason, record a return, reissue the お知らせ."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.web.conftest import sign_in
from tests.registry.helpers import MN_HANAKO
from tests.web.test_browser import shot

pytestmark = pytest.mark.browser


def test_clerk_works_a_members_documents_from_the_member_page(page, world, database_url):
    sign_in(page, "clerk")
    page.goto("/office/members")
    page.fill("input[name=name]", "こうろう")  # フリガナ, in hiragana, in part
    page.press("input[name=name]", "Enter")
    names = page.locator("[data-testid=hits] a").all_inner_texts()
    assert set(names) == {"厚労　太郎", "厚労　花子"}
    page.click("[data-testid=hits] a:has-text('厚労　花子')")
    page.wait_for_url(re.compile(r"/office/members/\d+"))
    assert "厚労　太郎" in page.inner_text("[data-testid=family]")
    assert "410,000円" in page.inner_text("[data-testid=remuneration]")  # the member's, which she follows
    # 発行: she has no card — one click, the PDF offered at once
    page.click("[data-testid=issue] button")
    expect(page.locator(".flash").first).to_contain_text("資格確認書を発行しました")
    href = page.locator("[data-testid=issued] a").first.get_attribute("href")
    pdf = page.request.get(href)
    assert pdf.status == 200 and pdf.body()[:5] == b"%PDF-"
    assert "資格確認書" in page.inner_text("[data-testid=documents]")
    # a second click says why nothing more is issued
    page.click("[data-testid=issue] button")
    expect(page.locator(".flash").first).to_contain_text("交付済み")
    # 再交付: the reason is required (the browser refuses without it), then issued
    page.click("[data-testid=reissue] button")
    assert page.query_selector("[data-testid=issued]") is None
    page.select_option("[data-testid=reissue] select[name=reason]", "card_lost")
    page.click("[data-testid=reissue] button")
    expect(page.locator(".flash").first).to_contain_text("再交付しました")
    assert "紛失による再交付" in page.inner_text("[data-testid=documents]")
    # 返納 of the first certificate
    page.locator("[data-testid=return] button").last.click()
    expect(page.locator(".flash").first).to_contain_text("返納を記録しました")
    assert "返納済" in page.inner_text("[data-testid=documents]")
    # the お知らせ
    page.click("[data-testid=notice] button")
    expect(page.locator(".flash").first).to_contain_text("資格情報のお知らせを再発行しました")
    assert MN_HANAKO not in page.content()  # only masked (末尾4桁)
    if database_url.startswith("sqlite"):
        shot(page, "office_member_workbench", full=True)


def test_supervisor_runs_a_mailing_with_a_japanese_name_and_downloads_it(page, world, database_url):
    sign_in(page, "supervisor")
    page.goto("/office/documents")
    assert re.search(r"対象 [1-9][\d,]*件", page.inner_text("[data-testid=mailing-total]"))  # known before it starts
    page.fill("input[name=run_name]", "令和8年12月分　定期")
    page.click("form[action='/office/documents/mailing'] button")
    row = page.locator("tr[data-run='令和8年12月分 定期']")
    expect(row.locator(".state")).to_have_text("完了", timeout=60000)  # polled, then the page shows the record
    page.wait_for_load_state()
    page.goto("/office/documents")  # the history as recorded, not the poll's last word
    expect(row.locator(".state")).to_have_text("完了")
    assert "件作成" in row.locator(".msg").inner_text() and "監督 次郎" in row.inner_text()
    assert "実行中" not in page.inner_text("[data-testid=runs]")  # progress and history agree
    page.locator("[data-testid=run-details] summary").first.click()
    with page.expect_download() as got:
        page.locator("a[data-kind=bundle]").first.click()
    assert got.value.suggested_filename.endswith(".pdf")
    with page.expect_download() as got:
        page.locator("a[data-kind=manifest]").first.click()
    assert got.value.suggested_filename == "manifest.csv"
    if database_url.startswith("sqlite"):
        shot(page, "office_documents_mailing", full=True)
