"""The registration SLA board in headless chromium (issue 21 point 2): what lateness cost — the 返納金 cases caused
by our late registration — per month of care, and the link to those cases.  The data: tests/exchange/
test_sla_lateness.py (the registry events and claims of tests/claims/test_refunds.py, matched)."""

from __future__ import annotations

import re

import pytest

from tests.claims.test_refunds import world as refund_world  # noqa: F401 - registry events and November's claims
from tests.exchange.test_sla_lateness import world as lateness_world  # noqa: F401 - matched, with the clerks
from tests.web.conftest import sign_in


@pytest.fixture
def world(lateness_world):  # noqa: F811 - the server fixture asks for "world": this one, not the web world
    return lateness_world


def test_the_sla_board_in_chromium_links_lateness_to_its_cases(page, world):
    sign_in(page, "clerk")
    page.goto("/office/sla")
    assert page.inner_text("[data-testid=sla-lateness-cost]") == "4,970円"
    row = page.inner_text("[data-testid=sla-lateness] tbody tr")
    assert "2024-11" in row and "4,970円" in row
    page.click("[data-testid=sla-lateness] tbody a")
    page.wait_for_url(re.compile(r"/office/claims\?debtor=ours&month=2024-11$"))
    listed = page.inner_text("[data-testid=refunds]")
    assert "厚労　太郎" in listed and "当方の登録遅延" in listed and "厚労　次郎" not in listed
    assert page.eval_on_selector("select[name=debtor]", "e => e.value") == "ours"
