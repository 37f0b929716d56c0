"""The member page as the clerk's workbench (issue 23): family, 標準報酬月額 and 限度額 history, the person's recent
verifications, and the document actions (発行 / 再交付 / 返納 / お知らせ再発行) through the daily run's rules —
each read and action audited; the search by kana, part of a name, 記号 alone, employer and birth date alone."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from onshi.store.db import unit_of_work
from tests.registry.helpers import SYMBOL
from tests.web.test_auth import csrf, login


def _pid(name: str) -> int:
    from onshi.registry.models import PersonVersion

    with unit_of_work() as s:
        return s.scalar(select(PersonVersion.person_id).where(PersonVersion.name == name))


def _actions(pid: int) -> list[str]:
    from onshi.privacy import audit

    with unit_of_work() as s:
        return [e.action for e in audit.entries_for(s, "person", pid) if e.actor_kind == "user"]


def test_member_page_shows_family_history_and_recent_verifications(client: TestClient):
    login(client, "reception")
    body = {"insurer_number": "01130012", "symbol": SYMBOL, "number": "101", "branch": "00",
            "birth_date": "1970-01-01", "csrf_token": csrf(client, "/reception")}
    assert "有効" in client.post("/reception/numbers", data=body).text
    client.post("/logout", data={"csrf_token": csrf(client, "/reception")})
    login(client, "clerk")
    taro, hanako = _pid("厚労　太郎"), _pid("厚労　花子")
    page = client.get(f"/office/members/{taro}")
    assert page.status_code == 200
    family = re.search(r'data-testid="family".*?</section>', page.text, re.S).group(0)
    assert "厚労　花子" in family and "家族（被扶養者）" in family and f"/office/members/{hanako}" in family
    assert "410,000円" in re.search(r'data-testid="remuneration".*?</section>', page.text, re.S).group(0)
    assert "ウ" in re.search(r'data-testid="limits".*?</section>', page.text, re.S).group(0)
    seen = re.search(r'data-testid="verifications".*?</section>', page.text, re.S).group(0)
    assert "テスト内科" in seen and "記号・番号" in seen and "有効" in seen
    actions = _actions(taro)
    assert {"member.view", "verify.history"} <= set(actions)
    assert "member.family" in _actions(hanako)  # her name on his page is her read
    # the dependent's page names the member and shows his 標準報酬月額 (dependents follow the member)
    page = client.get(f"/office/members/{hanako}").text
    assert "厚労　太郎" in re.search(r'data-testid="family".*?</section>', page, re.S).group(0)
    assert "被保険者の額" in page


def test_issue_reissue_return_and_notice_from_the_member_page(client: TestClient):
    from onshi.documents.models import IssuedDocument

    login(client, "clerk")
    taro, hanako = _pid("厚労　太郎"), _pid("厚労　花子")
    token = csrf(client, f"/office/members/{hanako}")
    # 花子 has no card: her 資格確認書 is due — 発行 issues it, a second click says why nothing more is due
    r = client.post(f"/office/members/{hanako}/certificates", data={"csrf_token": token}, follow_redirects=True)
    assert "資格確認書を発行しました（1件）" in r.text, r.text
    pdf_link = re.search(r'data-testid="issued".*?href="(/office/documents/\d+\.pdf)"', r.text, re.S).group(1)
    assert client.get(pdf_link).content[:5] == b"%PDF-"
    r = client.post(f"/office/members/{hanako}/certificates", data={"csrf_token": token}, follow_redirects=True)
    assert "発行できません: 資格確認書を交付済みです" in r.text
    # 太郎 has a working card: nothing is due ex officio, in words
    r = client.post(f"/office/members/{taro}/certificates", data={"csrf_token": token}, follow_redirects=True)
    assert "マイナ保険証が使えるため" in r.text
    # … but he lost it: 再交付 with the reason, once (a second click the same day issues nothing new)
    r = client.post(f"/office/members/{taro}/certificates", data={"csrf_token": token, "reason": "card_lost"},
                    follow_redirects=True)
    assert "資格確認書を再交付しました（1件）" in r.text
    r = client.post(f"/office/members/{taro}/certificates", data={"csrf_token": token, "reason": "card_lost"},
                    follow_redirects=True)
    assert "本日発行済み" in r.text
    r = client.post(f"/office/members/{taro}/certificates", data={"csrf_token": token, "reason": "bogus"},
                    follow_redirects=True)
    assert "再交付の理由「bogus」は選べません" in r.text
    # the お知らせ, reissued (once a day)
    r = client.post(f"/office/members/{taro}/notices", data={"csrf_token": token}, follow_redirects=True)
    assert "資格情報のお知らせを再発行しました" in r.text
    client.post(f"/office/members/{taro}/notices", data={"csrf_token": token})
    with unit_of_work() as s:
        docs = list(s.scalars(select(IssuedDocument).where(IssuedDocument.person_id == taro)))
        assert sorted(d.reason for d in docs) == ["application:card_lost", "reissue:request"]
        cert = next(d for d in docs if d.kind == "certificate")
        hanako_doc = s.scalar(select(IssuedDocument).where(IssuedDocument.person_id == hanako))
    # the daily run issues none of them again
    from onshi.documents import service
    from onshi.store.clock import japan_today

    with unit_of_work() as s:
        assert not [k for k, qv, _ in service.due_certificates(s, japan_today()) if qv.person_id in (taro, hanako)]
    # 返納: recorded with the day; a future day is refused in Japanese
    r = client.post(f"/office/documents/{cert.id}/return", data={"csrf_token": token, "returned_on": "2999-01-01"},
                    follow_redirects=True)
    assert "返納を記録できません" in r.text and "未来の日付" in r.text
    r = client.post(f"/office/documents/{cert.id}/return", data={"csrf_token": token}, follow_redirects=True)
    assert "返納を記録しました" in r.text and "返納済" in r.text
    for pid in (taro, hanako):
        assert "document.issue" in _actions(pid) or "document.reissue" in _actions(pid)
    assert "document.return" in _actions(taro)
    # another insurer's clerk reaches none of it
    client.post("/logout", data={"csrf_token": token})
    login(client, "otherclerk")
    other = csrf(client, "/office")
    assert client.post(f"/office/members/{taro}/certificates", data={"csrf_token": other}).status_code == 404
    assert client.post(f"/office/documents/{hanako_doc.id}/return", data={"csrf_token": other}).status_code == 404


def _hits(client, **params) -> list[str]:
    page = client.get("/office/members", params=params)
    assert page.status_code == 200, page.text
    table = re.search(r'data-testid="hits".*?</table>', page.text, re.S)
    return re.findall(r'<a href="/office/members/\d+">([^<]+)</a>', table.group(0)) if table else []


def test_member_search_by_kana_part_symbol_employer_birth_and_pages(client: TestClient):
    login(client, "clerk")
    assert set(_hits(client, name="こうろう")) == {"厚労　太郎", "厚労　花子"}  # hiragana → フリガナ
    assert _hits(client, name="ﾊﾅｺ") == ["厚労　花子"]  # half-width kana
    assert set(_hits(client, name="厚労")) == {"厚労　太郎", "厚労　花子"}  # part of the name
    assert _hits(client, name="労太") == ["厚労　太郎"]  # the space does not count
    assert len(_hits(client, symbol=SYMBOL)) >= 3  # 記号 alone: everyone of those numbers
    assert set(_hits(client, employer="テスト")) >= {"厚労　太郎", "転職　一郎"}  # by part of the employer's name
    assert _hits(client, birth_date="S45.1.1") == ["厚労　太郎"]  # birth date alone
    assert _hits(client, name="コウロウ", birth_date="1972-05-05") == ["厚労　花子"]  # terms combine
    page = client.get("/office/members", params={"employer": "存在しない商事"})
    assert page.status_code == 422 and "事業所「存在しない商事」" in page.text
    # paging: one a page, the second page holds the second person, links to the others
    first = client.get("/office/members", params={"symbol": SYMBOL, "per_page": 1}).text
    assert re.search(r"結果 \d+件", first) and "次へ" in first
    second = _hits(client, symbol=SYMBOL, per_page=1, page=2)
    assert len(second) == 1 and second != _hits(client, symbol=SYMBOL, per_page=1, page=1)
    # the REST search takes the same terms
    api = client.get("/api/v1/registry/members", params={"name": "はなこ"})
    assert api.status_code == 200 and [h["name"] for h in api.json()] == ["厚労　花子"]
    assert api.headers["x-total-count"] == "1"


def test_rest_issue_without_qualification_id_and_a_japanese_409(client: TestClient, tmp_path):
    from onshi.registry.models import NotificationType as T
    from onshi.store.clock import utcnow
    from tests.registry.helpers import acquisition, load, write

    # a new member filed today, no card yet: due from the next business day — the 409 says so, in Japanese
    load(write(tmp_path, "new.csv", T.acquisition, [acquisition(
        number="150", my_number="", name="新規　三郎", name_kana="シンキ　サブロウ", birth_date="1995-05-05")]),
        T.acquisition, received_at=utcnow())
    login(client, "clerk")
    token = client.get("/api/v1/documents/session").json()["csrf_token"]
    headers = {"X-CSRF-Token": token}
    r = client.post(f"/api/v1/documents/persons/{_pid('新規　三郎')}/certificates", json={}, headers=headers)
    assert r.status_code == 409 and "翌業務日" in r.json()["detail"], r.text
    # 花子 (no card, filed twelve days ago): issued without naming her qualification; then 409, already issued
    hanako = _pid("厚労　花子")
    r = client.post(f"/api/v1/documents/persons/{hanako}/certificates", json={}, headers=headers)
    assert r.status_code == 201 and r.content[:5] == b"%PDF-"
    r = client.post(f"/api/v1/documents/persons/{hanako}/certificates", json={}, headers=headers)
    assert r.status_code == 409 and "交付済み" in r.json()["detail"]
    # 太郎 has a working card
    r = client.post(f"/api/v1/documents/persons/{_pid('厚労　太郎')}/certificates", json={}, headers=headers)
    assert r.status_code == 409 and "マイナ保険証が使える" in r.json()["detail"]


def test_insurer_contact_page_supervisor_changes_clerk_reads(client: TestClient):
    login(client, "clerk")
    token = csrf(client, "/office/insurer")
    assert "未登録" in client.get("/office/insurer").text
    assert client.post("/office/insurer", data={"csrf_token": token, "phone": "03-1"}).status_code == 403
    client.post("/logout", data={"csrf_token": token})
    login(client, "supervisor")
    token = csrf(client, "/office/insurer")
    bad = client.post("/office/insurer", data={"csrf_token": token, "phone": "でんわ", "url": "example"})
    assert bad.status_code == 422 and "電話番号「でんわ」" in bad.text and "https://" in bad.text
    ok = client.post("/office/insurer", data={"csrf_token": token, "phone": "03-6680-8871",
                                              "contact_hours": "平日 8:30〜17:15"}, follow_redirects=True)
    assert "お問い合わせ先を更新しました" in ok.text and "電話 03-6680-8871　受付 平日 8:30〜17:15" in ok.text


def test_mailing_run_with_a_japanese_name_downloads_and_one_history(client: TestClient):
    from onshi.documents import runs
    from onshi.documents.models import DocumentRun

    login(client, "supervisor")
    token = csrf(client, "/office/documents")
    page = client.get("/office/documents").text
    assert re.search(r'data-testid="mailing-total".*?対象 <strong>[1-9][\d,]*件</strong>', page, re.S)
    assert 'pattern="' not in re.search(r'name="run_name"[^>]*>', page).group(0)  # no ASCII-only pattern
    refused = client.post("/office/documents/mailing", data={"csrf_token": token, "run_name": "12/月"},
                          follow_redirects=True)
    assert "「/」は使えません" in refused.text
    r = client.post("/office/documents/mailing", data={"csrf_token": token, "run_name": "令和8年12月分"},
                    follow_redirects=True)
    assert "送付回「令和8年12月分」を開始しました" in r.text
    assert runs.wait_idle(120)
    page = client.get("/office/documents").text
    row = re.search(r'<tr data-run="令和8年12月分">.*?</tr>', page, re.S).group(0)
    assert "完了" in row and "件作成" in row and "実行中" not in row
    assert "監督 次郎" in row and "web:supervisor" not in row  # 実行者 by name
    links = re.findall(r'href="(/office/documents/runs/\d+/files/\d+)" download data-kind="(\w+)"', page)
    kinds = {k for _, k in links}
    assert {"bundle", "manifest"} <= kinds
    bundle = client.get(next(h for h, k in links if k == "bundle"))
    assert bundle.status_code == 200 and bundle.content[:5] == b"%PDF-"
    assert "attachment" in bundle.headers["content-disposition"]
    manifest = client.get(next(h for h, k in links if k == "manifest"))
    assert manifest.status_code == 200 and manifest.text.startswith("employer_symbol")
    assert "document.download" in _actions(_pid("厚労　太郎"))
    # the REST API takes the Japanese name too
    api_token = client.get("/api/v1/documents/session").json()["csrf_token"]
    status = client.get("/api/v1/documents/mailing-runs/令和8年12月分")
    assert status.status_code == 200 and status.json()["documents"] >= 1
    bad = client.post("/api/v1/documents/mailing-runs", json={"run_name": "a:b"}, headers={"X-CSRF-Token": api_token})
    assert bad.status_code == 422
    # another insurer's clerk cannot download it
    with unit_of_work() as s:
        run_id = s.scalar(select(DocumentRun.id).where(DocumentRun.run_key.like("mailing:%")))
    client.post("/logout", data={"csrf_token": token})
    login(client, "otherclerk")
    assert client.get(f"/office/documents/runs/{run_id}/files/0").status_code == 404


def test_gaiji_name_flagged_at_intake_shown_decided_and_printed_with_its_substitute(client: TestClient, tmp_path):
    import io

    from pypdf import PdfReader

    from onshi.registry.models import NotificationType as T
    from tests.registry.helpers import acquisition, write

    path = write(tmp_path, "gaiji.csv", T.acquisition, [
        acquisition(number="160", my_number="", name="髙橋　𠮷子", name_kana="タカハシ　ヨシコ", birth_date="1988-08-08"),
        acquisition(number="161", my_number="", name="普通　一郎", name_kana="フツウ　イチロウ", birth_date="1987-07-07")])
    login(client, "clerk")
    token = csrf(client, "/office/intake")
    page = client.post("/office/intake", data={"csrf_token": token, "ntype": "acquisition"},
                       files={"file": ("gaiji.csv", path.read_bytes(), "text/csv")})
    assert page.status_code == 200 and "反映 2" in page.text  # a warning, not a rejection
    warning = re.search(r'data-testid="gaiji".*?</div>', page.text, re.S).group(0)
    assert "外字を含む氏名 1件" in warning and "髙橋　𠮷子" in warning and "高橋　吉子" in warning
    assert "普通" not in warning and "U+9AD9" in warning
    person = _pid("髙橋　𠮷子")
    assert "gaiji.list" in _actions(person)
    member = client.get(f"/office/members/{person}").text
    note = re.search(r'data-testid="gaiji".*?</div>', member, re.S).group(0)
    assert "「<strong>高橋　吉子</strong>」と印刷されます" in note and 'class="gaiji"' in note
    assert 'data-testid="gaiji-decision"' not in note
    r = client.post(f"/office/members/{person}/gaiji", data={"csrf_token": token, "decision": "substitute",
                                                             "note": "本人に電話で確認"}, follow_redirects=True)
    assert "外字の判断を記録しました" in r.text
    decided = re.search(r'data-testid="gaiji-decision".*?</p>', r.text, re.S).group(0)
    assert "代替字で印刷してよい" in decided and "本人に電話で確認" in decided
    assert "gaiji.decision" in _actions(person)
    refused = client.post(f"/office/members/{_pid('普通　一郎')}/gaiji",
                          data={"csrf_token": token, "decision": "substitute"}, follow_redirects=True)
    assert "この方の氏名には外字がありません" in refused.text
    # the printed お知らせ carries the substitute
    r = client.post(f"/office/members/{person}/notices", data={"csrf_token": token}, follow_redirects=True)
    href = re.search(r'data-testid="issued".*?href="(/office/documents/\d+\.pdf)"', r.text, re.S).group(1)
    text = PdfReader(io.BytesIO(client.get(href).content)).pages[0].extract_text()
    assert "高橋" in text and "髙" not in text


def test_falling_due_counts_the_next_business_days(client: TestClient, tmp_path):
    from datetime import datetime, time

    from onshi.documents import mailing_view
    from onshi.registry import service
    from onshi.registry.models import NotificationType as T
    from onshi.rules.calendar import next_business_day
    from onshi.store.clock import from_japan_time, japan_today
    from tests.registry.helpers import INSURER, acquisition, load, write

    today = japan_today()
    load(write(tmp_path, "soon.csv", T.acquisition, [acquisition(number="170", my_number="", name="近日　一",
                                                                 name_kana="キンジツ　ハジメ")]),
         T.acquisition, received_at=from_japan_time(datetime.combine(today, time(9, 0))))
    with unit_of_work() as s:
        ins = service.get_insurer(s, number=INSURER)
        due = dict(mailing_view.falling_due(s, ins.id, today))
    assert due[next_business_day(today)] == 1 and sum(due.values()) == 1  # filed today: due the next business day
    login(client, "clerk")
    page = client.get("/office/documents").text
    assert "今後の発行予定" in page and "<strong>1件</strong>" in page
