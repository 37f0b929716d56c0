"""The audit-log viewer: web (/audit) and CLI (onshi audit list) — scope, filters, pages, and the look itself
audited.  Every database."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select
from typer.testing import CliRunner

from onshi.privacy import audit
from onshi.privacy.models import AuditEntry
from onshi.store.clock import japan_today, utcnow
from onshi.store.db import unit_of_work
from tests.registry.helpers import INSURER, OTHER_INSURER
from tests.web.conftest import client, world  # noqa: F401 - the web fixtures (a signed-in world)
from tests.web.test_auth import login


def _rows(n_own: int = 3) -> None:
    with unit_of_work() as s:
        for i in range(n_own):
            audit.record_read(s, actor_kind="user", actor_id="clerk", action="member.view", subject_kind="person",
                              subject_id=1, insurer_number=INSURER)
        audit.record_read(s, actor_kind="user", actor_id="otherclerk", action="member.view",
                          subject_kind="person", subject_id=99, insurer_number=OTHER_INSURER)
        audit.record_read(s, actor_kind="institution", actor_id="1310000011", action="verify",
                          subject_kind="person", subject_id=1, insurer_number=INSURER)
        s.add(AuditEntry(at=utcnow() - timedelta(days=3), actor_kind="user", actor_id="clerk", action="member.view",
                         subject_kind="person", subject_id="2", insurer_number=INSURER))


def _views(username: str) -> list[AuditEntry]:
    with unit_of_work() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == "audit.view",
                                                       AuditEntry.actor_id == username)))


def test_a_supervisor_sees_only_their_insurers_rows_and_the_look_is_audited(client):
    _rows()
    login(client, "supervisor")
    page = client.get("/audit")
    assert page.status_code == 200 and "アクセス記録" in page.text
    assert "5件" in page.text and "otherclerk" not in page.text and "99" not in re.sub(r"\d{3,}", "", page.text)
    assert "加入者の表示" in page.text and "資格確認" in page.text
    seen = _views("supervisor")
    assert len(seen) == 1 and seen[0].insurer_number == INSURER and "insurer=01130012" in seen[0].detail
    # its own row is not on the page it wrote (the query ran first), but it is on the next look
    assert "5件" in page.text and "6件" in client.get("/audit").text


def test_an_administrator_sees_every_insurer_and_filters(client):
    _rows()
    login(client, "admin")
    assert "otherclerk" in client.get("/audit").text
    by_person = client.get("/audit", params={"person": "1"}).text
    assert "4件" in by_person  # three reads by the clerk and one verification of person 1
    assert "1件" in client.get("/audit", params={"username": "otherclerk"}).text
    inst = client.get("/audit", params={"institution": "1310000011"}).text
    assert "1件" in inst and "1310000011" in inst
    three_days_ago = (japan_today() - timedelta(days=3)).isoformat()
    assert "1件" in client.get("/audit", params={"day": three_days_ago, "username": "clerk"}).text
    # the institution filter takes the institution's receptionists' reads too
    with unit_of_work() as s:
        audit.record_read(s, actor_kind="user", actor_id="reception", action="verify", subject_kind="person",
                          subject_id=1, insurer_number=INSURER)
    assert "2件" in client.get("/audit", params={"institution": "1310000011"}).text
    assert all(v.insurer_number is None for v in _views("admin"))


def test_pages_of_fifty_newest_first(client):
    _rows(n_own=120)
    login(client, "admin")
    first = client.get("/audit", params={"username": "clerk"}).text
    assert "121件" in first and "1 / 3 ページ" in first and "次のページ" in first and "前のページ" not in first
    last = client.get("/audit", params={"username": "clerk", "page": 3}).text
    assert "3 / 3 ページ" in last and "前のページ" in last and "次のページ" not in last
    assert last.count("<tr><td>") == 21
    with unit_of_work() as s:
        result = audit.list_entries(s, audit.AuditFilter(user="clerk"), actor_kind="user", actor_id="t")
        ids = [e.id for e in result.entries]
        assert ids == sorted(ids, reverse=True) and len(ids) == 50


def test_clerks_and_receptionists_cannot_read_the_log(client):
    _rows()
    for who in ("clerk", "reception"):
        c = client.__class__(client.app)
        login(c, who)
        assert c.get("/audit").status_code == 403
    assert client.get("/audit", follow_redirects=False).status_code == 303  # not signed in: to the sign-in page
    assert not _views("clerk") and not _views("reception")


def test_bad_filters_are_named_in_japanese_and_show_nothing(client):
    login(client, "admin")
    page = client.get("/audit", params={"person": "abc", "day": "R8.2.30"})
    assert page.status_code == 422
    assert "個人ID「abc」: 数字で入力してください" in page.text and "日付「R8.2.30」" in page.text
    assert not _views("admin")


def test_cli_lists_filters_and_is_audited(engine):
    from onshi.cli import app

    _rows()
    run = CliRunner().invoke(app, ["audit", "list", "--person", "1", "--insurer", INSURER, "--actor", "ops"],
                             env={"COLUMNS": "250"})
    assert run.exit_code == 0, run.output
    assert "アクセス記録 4件" in run.output and "verify" in run.output and "institution:1310000011" in run.output
    assert "otherclerk" not in run.output
    run = CliRunner().invoke(app, ["audit", "list", "--user", "clerk", "--day",
                                   (japan_today() - timedelta(days=3)).isoformat(), "--actor", "ops"],
                             env={"COLUMNS": "250"})
    assert run.exit_code == 0 and "アクセス記録 1件" in run.output
    assert len(_views("ops")) == 2
    run = CliRunner().invoke(app, ["audit", "list", "--institution", "1310000011", "--per-page", "1",
                                   "--page", "1", "--actor", "ops"], env={"COLUMNS": "250"})
    assert run.exit_code == 0 and "1/1 ページ" in run.output
