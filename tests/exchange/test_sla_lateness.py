"""What lateness cost, on the registration SLA board (issue 21 point 2): the 返納金 cases caused by our late
registration, count and yen per month of care, linking to the cases — the page (both databases), `onshi exchange
sla`, and the figures themselves.  The page in headless chromium: tests/web/test_sla_lateness_browser.py (beside the
browser fixtures: one browser per test session).

The registry events and claims are those of tests/claims/test_refunds.py: in November 2024 太郎's loss was
registered late (a case that is ours, 4,970円), 次郎's case is the member's and 三郎's the new insurer's — neither
is lateness.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from typer.testing import CliRunner

from onshi.claims import service
from onshi.store.db import unit_of_work
from tests.claims.test_refunds import world as refund_world  # noqa: F401 - registry events and November's claims
from tests.registry.helpers import INSURER, OTHER_INSURER
from tests.web.conftest import PASSWORD


@pytest.fixture
def world(refund_world):  # noqa: F811
    """The refund world with its cases matched, and a clerk of each insurer."""
    from onshi.auth import users
    from onshi.verify.service import add_institution

    with unit_of_work() as s:
        service.match_care_after_loss(s, insurer_id=refund_world, month="2024-11", today=date(2025, 1, 10))
        add_institution(s, code="1310000011", name="テスト内科", facility_type="clinic")
        users.add_user(s, username="clerk", password=PASSWORD, role="clerk", insurer_number=INSURER)
        users.add_user(s, username="otherclerk", password=PASSWORD, role="clerk", insurer_number=OTHER_INSURER)
    return refund_world


def test_the_cost_of_lateness_per_month_counts_only_our_cases(world):
    with unit_of_work() as s:
        assert service.lateness_cost_by_month(s, insurer_id=world) == [
            {"month": "2024-11", "cases": 1, "amount_yen": 4970}]  # not 次郎's (member) nor 三郎's (new insurer)
        from onshi.registry import service as registry

        other = registry.get_insurer(s, number=OTHER_INSURER).id
        assert service.lateness_cost_by_month(s, insurer_id=other) == []
        ours = service.refund_cases(s, insurer_id=world, debtor="ours", actor_kind="test", actor_id="t")
        assert [r.name for r in ours] == ["厚労　太郎"]


def _client(engine, username: str):
    from fastapi.testclient import TestClient

    from onshi.web.app import create_app

    app = create_app(engine, publisher_interval=0)
    app.state.rate_limits.enabled = False
    c = TestClient(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token},
               follow_redirects=False)
    assert r.status_code == 303, r.text[-500:]
    return c


def test_the_sla_page_shows_what_lateness_cost_and_links_to_the_cases(world, engine):
    clerk = _client(engine, "clerk")
    html = clerk.get("/office/sla").text
    assert 'data-testid="sla-lateness-cost">4,970円<' in html and "登録遅延による費用（1件）" in html
    table = html[html.index('data-testid="sla-lateness"'):]
    assert re.search(r"<td>2024-11</td><td class=\"num\">1</td><td class=\"num\">4,970円</td>", table)
    link = re.search(r'href="(/office/claims\?debtor=ours&amp;month=2024-11)"', table).group(1).replace("&amp;", "&")
    cases = clerk.get(link)
    assert cases.status_code == 200
    listed = cases.text[cases.text.index('data-testid="refunds"'):]
    assert "厚労　太郎" in listed and "厚労　次郎" not in listed and "厚労　三郎" not in listed
    assert clerk.get("/office/claims?debtor=nobody").status_code == 422  # refused in Japanese, not a 500
    # another insurer's clerk: nothing of ours on the board
    other = _client(engine, "otherclerk").get("/office/sla").text
    assert 'data-testid="sla-lateness-cost">0円<' in other and "登録遅延による返納金の案件はありません" in other


def test_onshi_exchange_sla_prints_the_cost_of_lateness(world):
    from onshi.cli import app

    res = CliRunner().invoke(app, ["exchange", "sla", INSURER], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "登録遅延による費用" in res.output
    assert re.search(r"2024-11\s*│\s*1\s*│\s*4,970", res.output), res.output
    res = CliRunner().invoke(app, ["exchange", "sla", OTHER_INSURER], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "登録遅延による費用: なし" in res.output

