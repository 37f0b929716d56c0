"""一括処理の状況 (issue 19): the runs on the task engine as a supervisor or the operator sees them — progress
gathered from the units every worker committed, the failed units with their worker and reason, the run's reason
when it stopped — refused to every other role; and in headless chromium the list follows a running run live."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from onshi.store import batch
from onshi.store.db import session_factory
from tests.web.conftest import sign_in
from tests.web.test_auth import login


def _runs() -> None:
    """A daily run half done on two workers with one slice failed, and a linkage run the broker's loss stopped."""
    f = session_factory()
    batch.open_run(f, "daily", "daily:2026-12-07", units=4, actor="web:監督 次郎")
    with f() as s:
        batch.commit_unit(s, "daily:2026-12-07", "0001-a", "daily", items=120, worker="w0@host")
    with f() as s:
        batch.commit_unit(s, "daily:2026-12-07", "0001-b", "daily", items=80, worker="w1@host")
    batch.record_unit_failure(f, "daily:2026-12-07", "0002-a", "daily", "w1@host",
                              RuntimeError("could not connect to server"))
    batch.open_run(f, "linkage", "linkage:abc123", units=3, actor="cli")
    with f() as s:
        batch.commit_unit(s, "linkage:abc123", "000000", "linkage", items=5000, worker="w0@host")
    batch.close_run(f, "linkage:abc123", "failed", "broker unreachable (amqp://127.0.0.1:5672)")


@pytest.mark.parametrize("who", ["supervisor", "admin"])
def test_runs_with_progress_failures_and_reason(client: TestClient, who):
    _runs()
    login(client, who)
    page = client.get("/office/batch")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)
    assert "資格確認書の日次作成" in text and "住基との紐付け確認" in text
    assert "2 / 4" in text and "失敗 1" in text and "200" in text  # two units done on two workers, 200 members
    assert "1 / 3" in text and "中断" in text and "broker unreachable" in text
    assert 'data-live="1"' in text  # a run is still running: the page refreshes itself
    only = client.get("/office/batch", params={"kind": "linkage"}).text
    assert "linkage:abc123" in only and "daily:2026-12-07" not in only

    run = client.get("/office/batch/run/daily:2026-12-07")
    assert run.status_code == 200
    body = re.sub(r"\s+", " ", run.text)
    assert "w0@host" in body and "w1@host" in body and "could not connect to server" in body
    assert "1 失敗" in body and "1 未完了" in body
    assert client.get("/office/batch/run/linkage:abc123").text.count("同じ実行をもう一度開始") >= 1
    assert client.get("/office/batch/run/nothing:here").status_code == 404

    live = client.get("/office/batch/progress.json")
    assert live.headers["cache-control"] == "no-store"
    daily = next(r for r in live.json() if r["run_key"] == "daily:2026-12-07")
    assert (daily["done"], daily["failed"], daily["pending"], daily["count"]) == (2, 1, 1, 200)


@pytest.mark.parametrize("who", ["clerk", "reception"])
def test_other_roles_are_refused(client: TestClient, who):
    _runs()
    login(client, who)
    for path in ("/office/batch", "/office/batch/progress.json", "/office/batch/run/daily:2026-12-07"):
        r = client.get(path)
        assert r.status_code == 403 and "w0@host" not in r.text


def test_signed_out_goes_to_sign_in(client: TestClient):
    r = client.get("/office/batch", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_the_list_follows_a_running_run_in_chromium(page):
    f = session_factory()
    batch.open_run(f, "export", "export:live", units=2, actor="cli")
    with f() as s:
        batch.commit_unit(s, "export:live", "2026-10", "export", items=10, worker="w0@host")
    sign_in(page, "supervisor")
    page.goto("/office/batch")
    row = page.locator("tr[data-run='export:live']")
    assert row.locator("[data-field=progress]").inner_text() == "1 / 2"
    assert row.locator("[data-field=state]").inner_text() == "実行中"
    with f() as s:  # the second month, committed by another worker while the page is open
        batch.commit_unit(s, "export:live", "2026-11", "export", items=7, worker="w1@host")
    expect(row.locator("[data-field=progress]")).to_have_text("2 / 2", timeout=15000)
    batch.close_run(f, "export:live", "done")
    expect(row.locator("[data-field=state]")).to_have_text("完了", timeout=15000)
    assert page.locator("[data-testid=batch-runs][data-live]").count() == 0  # reloaded once: nothing runs any more
