"""The member's own 医療費通知 on the web (issue 21 point 5, ``/member/medical-costs``), on both databases: the
member's and the dependent's care with the notice's figures, the period (the last calendar year by default, at
the 31 December / 1 January boundary), the PDF read back with pdftotext, the audit rows, and the refusals —
not signed in, another role, another member's data.

The families of tests/claims/test_notice_mailing.py: 太郎 (101) with his dependent 花子 (101-01) — care in
November 2024 (太郎), December 2024 (花子) and January 2025 (太郎); 次郎 (102) — no care; 三郎 (201) — November 2024.
"""

from __future__ import annotations

import re
import subprocess
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from onshi.privacy.models import AuditEntry
from onshi.store.clock import frozen_at
from onshi.store.db import unit_of_work
from tests.claims.test_notice_mailing import JIRO, SABURO, families  # noqa: F401 - the claims of 2024/2025
from tests.registry.helpers import INSURER, SYMBOL, MN_TARO
from tests.registry.test_views import PASSWORD

JST = timezone(timedelta(hours=9))
#: the last minute of 2025 and the first of 2026 in Japan: the default year turns from 2024 to 2025
NEW_YEARS_EVE = datetime(2025, 12, 31, 23, 59, tzinfo=JST)
NEW_YEAR = datetime(2026, 1, 1, 0, 0, tzinfo=JST)


@pytest.fixture
def app(engine, families, tmp_path, monkeypatch):  # noqa: F811
    from onshi.auth import users
    from onshi.config import get_settings
    from onshi.web.app import create_app

    monkeypatch.setattr(get_settings(), "var_dir", tmp_path / "var")
    with unit_of_work() as s:
        users.add_member(s, username="taro", password=PASSWORD, insurer_number=INSURER, symbol=SYMBOL, number="101",
                         display_name="厚労 太郎")
        users.add_member(s, username="jiro", password=PASSWORD, insurer_number=INSURER, symbol=SYMBOL,
                         number=JIRO["number"], display_name="厚労 次郎")
        users.add_member(s, username="saburo", password=PASSWORD, insurer_number=INSURER,
                         symbol=SABURO["employer_symbol"], number=SABURO["number"], display_name="厚労 三郎")
        users.add_user(s, username="clerk", password=PASSWORD, role="clerk", insurer_number=INSURER)
    app = create_app(engine, publisher_interval=0)
    app.state.rate_limits.enabled = False
    return app


def signed_in(app, username: str | None):
    from fastapi.testclient import TestClient

    c = TestClient(app)
    if username:
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        r = c.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token},
                   follow_redirects=False)
        assert r.status_code == 303, r.text[-800:]
    return c


def rows(html: str) -> list[str]:
    """The table's rows as text: cells joined by a blank."""
    body = html.split('data-testid="member-costs"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    out = []
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, re.S)]
        out.append(" ".join(cells))
    return out


def audited(actor: str) -> list[tuple[str, str]]:
    with unit_of_work() as s:
        return [(sid, detail) for sid, detail in s.execute(
            select(AuditEntry.subject_id, AuditEntry.detail).where(AuditEntry.actor_id == actor,
                                                                   AuditEntry.action == "claims.cost_notice"))]


def test_the_member_sees_the_family_care_of_the_last_calendar_year_with_the_notice_figures(app):
    with frozen_at(NEW_YEARS_EVE):
        taro = signed_in(app, "taro")
        page = taro.get("/member/medical-costs")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "医療費のお知らせ" in page.text and "2024年1月〜12月の診療分" in page.text
    # 太郎's November and his dependent 花子's December 2024 — not 太郎's January 2025
    assert rows(page.text) == ["2024-11 厚労　太郎 テスト内科 外来 2日 7,100円 2,130円",
                               "2024-12 厚労　花子 テスト内科 外来 1日 3,000円 900円"]
    assert 'data-testid="cost-total">10,100円' in page.text and 'data-testid="cost-paid">3,030円' in page.text
    assert "2025-01" not in page.text and "厚労　三郎" not in page.text
    # the read is audited by the read service: both people on the notice, the member's user as the reader
    with unit_of_work() as s:
        from onshi.registry import service as registry

        taro_id = registry.find_person_by_my_number(s, MN_TARO).id
    rows_ = audited("taro")
    assert len(rows_) == 2 and str(taro_id) in {sid for sid, _ in rows_}
    assert {d for _, d in rows_} == {"2024-01..2024-12"}


def test_the_default_year_turns_at_midnight_of_new_year_in_japan(app):
    with frozen_at(NEW_YEAR):
        taro = signed_in(app, "taro")
        page = taro.get("/member/medical-costs")
        assert "2025年1月〜12月の診療分" in page.text
        assert rows(page.text) == ["2025-01 厚労　太郎 テスト内科 外来 1日 2,000円 600円"]
        # an explicit year: 2024 holds 31 December's month and not 1 January's
        page = taro.get("/member/medical-costs", params={"year": "2024"})
        assert [r.split()[0] for r in rows(page.text)] == ["2024-11", "2024-12"]
        assert 'value="2024" selected' in page.text
        # years outside this year and the five before are refused on the page, saying which can be chosen
        for bad in ("2020", "2027", "abc", "２０２４", "2024-01"):
            r = taro.get("/member/medical-costs", params={"year": bad})
            assert r.status_code == 422 and "2021年から2026年までの年を選んでください" in r.text, bad
            assert 'data-testid="member-costs"' not in r.text
        assert taro.get("/member/medical-costs/notice.pdf", params={"year": "1999"}).status_code == 422
        # a year with no care: said so, no table, no PDF link
        page = taro.get("/member/medical-costs", params={"year": "2023"})
        assert page.status_code == 200 and "2023年の診療分の医療費はありません" in page.text
        assert 'data-testid="cost-pdf"' not in page.text


def test_the_pdf_is_the_members_own_notice(app, tmp_path):
    with frozen_at(NEW_YEARS_EVE):
        taro = signed_in(app, "taro")
        page = taro.get("/member/medical-costs")
        link = re.search(r'href="([^"]+)" data-testid="cost-pdf"', page.text).group(1)
        assert link == "/member/medical-costs/notice.pdf?year=2024"
        before = len(audited("taro"))
        r = taro.get(link)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.headers["cache-control"] == "no-store"
    (tmp_path / "n.pdf").write_bytes(r.content)
    out = subprocess.run(["pdftotext", "-layout", str(tmp_path / "n.pdf"), "-"], check=True,
                         capture_output=True).stdout.decode()
    text = " ".join(out.replace("\u3000", " ").split())
    for expected in ("医療費のお知らせ", "厚労 太郎 様 診療年月 2024-01 〜 2024-12",
                     "2024-11 厚労 太郎 テスト内科 外来 2 7,100 2,130", "2024-12 厚労 花子 テスト内科 外来 1 3,000 900",
                     "合計 10,100 3,030"):
        assert expected in text, (expected, text)
    assert "2025-01" not in text and "三郎" not in text
    assert len(audited("taro")) == before + 2  # the PDF is a read too: 太郎 and 花子


def test_another_member_never_sees_the_family_and_other_callers_are_refused(app):
    with frozen_at(NEW_YEARS_EVE):
        with unit_of_work() as s:
            from onshi.registry import service as registry

            taro_id = registry.find_person_by_my_number(s, MN_TARO).id
        # 次郎: no care — his own page is empty, and asking for 太郎 by any means shows nothing of 太郎's
        jiro = signed_in(app, "jiro")
        for url, params in (("/member/medical-costs", {}), ("/member/medical-costs", {"person_id": taro_id})):
            page = jiro.get(url, params=params)
            assert page.status_code == 200 and "2024年の診療分の医療費はありません" in page.text
            assert "太郎" not in page.text and "花子" not in page.text and "7,100" not in page.text
        pdf = jiro.get("/member/medical-costs/notice.pdf", params={"person_id": taro_id})
        assert pdf.status_code == 200 and b"%PDF" == pdf.content[:4]  # his own, empty notice
        for staff_route in (f"/api/v1/claims/persons/{taro_id}/costs", f"/api/v1/claims/persons/{taro_id}/cost-notice.pdf"):
            r = jiro.get(staff_route)
            assert r.status_code == 403 and "7,100" not in r.text and "花子" not in r.text
        assert {sid for sid, _ in audited("jiro")} == {str(s) for s in _jiro_id()}  # only his own person was read
        # 三郎 of the other employer sees his own November only
        page = signed_in(app, "saburo").get("/member/medical-costs")
        assert rows(page.text) == ["2024-11 厚労　三郎 テスト内科 外来 1日 4,000円 1,200円"]
        # not signed in: the sign-in page, nothing shown
        anon = signed_in(app, None)
        for url in ("/member/medical-costs", "/member/medical-costs/notice.pdf?year=2024"):
            r = anon.get(url, follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
        # the insurer's clerk is not a member: 403 (the staff use their own route)
        r = signed_in(app, "clerk").get("/member/medical-costs")
        assert r.status_code == 403 and "7,100" not in r.text
    assert audited("clerk") == []


def _jiro_id() -> list[int]:
    with unit_of_work() as s:
        from onshi.auth.models import WebUser

        return [s.scalar(select(WebUser.person_id).where(WebUser.username == "jiro"))]


def test_the_member_menu_links_the_page(app):
    with frozen_at(NEW_YEARS_EVE):
        home = signed_in(app, "taro").get("/member/benefits").text
    assert 'href="/member/medical-costs"' in home and "医療費のお知らせ" in home
