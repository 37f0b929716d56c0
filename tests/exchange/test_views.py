"""The exchange REST endpoints (``/api/v1/exchange/…``: the 5-day SLA board, the linkage suspects) through the real
app — staff only, scoped to the user's insurer, suspects audited; on both databases."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from onshi.registry import service as registry
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from tests.registry.helpers import (
    INSURER,
    MN_HANAKO,
    MN_TARO,
    OTHER_INSURER,
    acquisition,
    load,
    setup_insurers,
    write,
)
from tests.registry.test_views import CLINIC, PASSWORD, audit_rows, client_of

API = "/api/v1/exchange"
RECEIVED = datetime(2026, 11, 20, 1, 0)  # Friday 20 Nov, 10:00 JST: due Wednesday 25 Nov (23 Nov is a holiday)
MN_OTHER = "111111111118"


@pytest.fixture
def world(engine, tmp_path):
    """At 01130012: 厚労 太郎 (registered in the index), 見本 花子 (filed, not registered: overdue after 25 Nov; her
    resident record's address differs: a linkage suspect).  At 06139992: 別社 太郎, also a suspect.  A user of
    every role and a clinic token."""
    from onshi.auth import users
    from onshi.exchange import linkage
    from onshi.exchange.publish import publish_batch
    from onshi.verify.service import add_institution

    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [
        acquisition(),
        acquisition(insurer_number=OTHER_INSURER, employer_symbol="9001", number="7", my_number=MN_OTHER,
                    name="別社　太郎", name_kana="ベッシャ　タロウ"),
    ]), T.acquisition, received_at=RECEIVED)
    with unit_of_work() as s:
        publish_batch(s, now=datetime(2026, 11, 20, 3, 0))  # 12:00 JST the same day: on time
    load(write(tmp_path, "b.csv", T.acquisition, [
        acquisition(number="102", my_number=MN_HANAKO, name="見本　花子", name_kana="ミホン　ハナコ",
                    birth_date="1985-04-12", sex="2")]), T.acquisition, received_at=RECEIVED)
    with unit_of_work() as s:
        extract = ("my_number,name,name_kana,birth_date,sex,address\n"
                   f"{MN_HANAKO},見本　花子,ミホン　ハナコ,1985-04-12,2,大阪府大阪市北区梅田1-1\n"
                   f"{MN_TARO},厚労　太郎,コウロウ　タロウ,1970-01-01,1,東京都港区虎ノ門1-1\n"
                   f"{MN_OTHER},別社　次郎,ベッシャ　タロウ,1970-01-01,1,東京都港区虎ノ門1-1\n").encode()
        report = linkage.import_extract(s, extract, "juki_202611.csv")
        assert (report.matched, report.mismatched) == (1, 2), report
        _inst, token = add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
        for name, role, extra in (("clerk", "clerk", {"insurer_number": INSURER}),
                                  ("otherclerk", "clerk", {"insurer_number": OTHER_INSURER}),
                                  ("reception", "clinic", {"institution_code": CLINIC}),
                                  ("analyst", "analyst", {}), ("admin", "admin", {})):
            users.add_user(s, username=name, password=PASSWORD, role=role, **extra)
        people = {name: registry.find_persons_by_name_birth(s, name, birth)[0] for name, birth in (
            ("厚労　太郎", date(1970, 1, 1)), ("見本　花子", date(1985, 4, 12)), ("別社　太郎", date(1970, 1, 1)))}
    return {"token": token, "people": people}


@pytest.fixture
def app(engine, world, tmp_path, monkeypatch):
    from onshi.config import get_settings
    from onshi.web.app import create_app

    monkeypatch.setattr(get_settings(), "var_dir", tmp_path / "var")
    return create_app(engine, publisher_interval=0)


def test_no_session_a_clinic_token_or_another_role_gets_401_or_403_and_no_data(app, world):
    anonymous = client_of(app)
    clinic_token = client_of(app)
    clinic_token.headers["Authorization"] = f"Bearer {world['token']}"
    for who, c, status in [("nobody", anonymous, 401), ("clinic token", clinic_token, 401),
                           ("reception", client_of(app, "reception"), 403),
                           ("analyst", client_of(app, "analyst"), 403), ("admin", client_of(app, "admin"), 403)]:
        for path in (f"{API}/sla", f"{API}/linkage/suspects"):
            r = c.get(path, follow_redirects=False)
            assert r.status_code == status, (who, path, r.status_code, r.text)
            assert r.headers["content-type"].startswith("application/json")
            assert "花子" not in r.text and "株式会社" not in r.text and "received" not in r.text
    assert audit_rows() == []


def test_sla_board_in_japan_time_of_the_callers_insurer(app, world, monkeypatch):
    import onshi.exchange.views as views

    monkeypatch.setattr(views, "japan_today", lambda: date(2026, 11, 26))  # the day after 花子's deadline
    r = client_of(app, "clerk").get(f"{API}/sla")
    assert r.status_code == 200, r.text
    board = r.json()
    assert board["today"] == "2026-11-26"
    assert board["by_status"] == {"on_time": 1, "overdue": 1} and board["pending"] == 1
    assert board["totals"] == {"received": 2, "registered": 1, "overdue": 1, "waiting": 0}
    assert board["by_day"] == {"2026-11-20": {"on_time": 1, "overdue": 1}}
    assert board["by_employer"] == {"株式会社テスト": {"on_time": 1, "overdue": 1}}
    [late] = board["late"]
    assert (late["status"], late["kind"], late["employer_name"], late["deadline"], late["registered_at"]) == (
        "overdue", "acquisition", "株式会社テスト", "2026-11-25", None)
    assert late["received_at"] == "2026-11-20T10:00:00+09:00"  # Japan time, with its offset
    assert "花子" not in r.text and audit_rows() == []  # the board shows no one
    other = client_of(app, "otherclerk").get(f"{API}/sla").json()
    assert other["by_status"] == {"on_time": 1} and other["late"] == []
    assert other["by_employer"] == {"オンシ商事": {"on_time": 1}}


def test_linkage_suspects_are_the_insurers_and_audited(app, world):
    hanako, other = world["people"]["見本　花子"], world["people"]["別社　太郎"]
    r = client_of(app, "clerk").get(f"{API}/linkage/suspects")
    assert r.status_code == 200, r.text
    [suspect] = r.json()
    assert (suspect["person_id"], suspect["name"], suspect["birth_date"], suspect["mismatches"],
            suspect["extract_file"], suspect["row_number"]) == (
        hanako, "見本　花子", "1985-04-12", ["address"], "juki_202611.csv", 2)
    assert suspect["checked_at"].endswith("+09:00")
    assert MN_HANAKO not in r.text and "大阪" not in r.text  # never the number, never the resident record's values
    assert "別社" not in r.text
    assert audit_rows() == [("clerk", "linkage.list", "person", str(hanako))]
    theirs = client_of(app, "otherclerk").get(f"{API}/linkage/suspects").json()
    assert [(s["person_id"], s["mismatches"]) for s in theirs] == [(other, ["name"])]
    assert audit_rows()[-1] == ("otherclerk", "linkage.list", "person", str(other))
