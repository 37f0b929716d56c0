"""After an outage (docs/outage.md): records, the batch check by numbers and by the four items, bad input, the
unknown-insurer claims and their apportionment — both databases."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from onshi.exchange.publish import publish_all
from onshi.outage import service
from onshi.outage.matching import INVALID, UNSURE, VALID
from onshi.outage.models import OutageRecord, UnknownInsurerClaim
from onshi.privacy.models import AuditEntry
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from onshi.verify.service import add_institution

from tests.registry.helpers import (INSURER, MN_HANAKO, OTHER_INSURER, acquisition, load, numbers, setup_insurers,
                                    write)

CLINIC = "1310000011"
TODAY = date(2026, 12, 10)
CARE = date(2026, 12, 5)


@pytest.fixture
def registered(engine, tmp_path):
    """太郎 (101, current), 花子 (102, lost on 1 Dec 2026), 一郎 of the other insurer; registered in the index."""
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [
        acquisition(),
        acquisition(number="102", my_number=MN_HANAKO, name="見本　花子", name_kana="ミホン　ハナコ",
                    birth_date="1985-04-12", sex="2", address="大阪府大阪市北区梅田二丁目3番4号"),
    ]), T.acquisition, received_at=datetime(2026, 11, 2, 1, 0))
    load(write(tmp_path, "b.csv", T.acquisition, [acquisition(
        insurer_number=OTHER_INSURER, employer_symbol="9001", number="77", my_number="", name="別保　一郎",
        name_kana="ベツホ　イチロウ", birth_date="1990-03-03", address="東京都新宿区西新宿2-8-1")]),
        T.acquisition, received_at=datetime(2026, 11, 2, 1, 0))
    load(write(tmp_path, "l.csv", T.loss, [numbers(number="102", loss_date="2026-12-01", loss_reason="03")]), T.loss,
         received_at=datetime(2026, 11, 30, 1, 0))
    publish_all()
    with unit_of_work() as s:
        add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
    return tmp_path


def rec(**over) -> dict:
    r = {"care_date": CARE.isoformat(), "name": "厚労　太郎", "name_kana": "コウロウ　タロウ", "sex": "1",
         "birth_date": "1970-01-01", "address": "東京都港区虎ノ門1-1"}
    r.update(over)
    return r


def record_and_check(rows: list[dict]):
    with unit_of_work() as s:
        rep = service.record_patients(s, CLINIC, rows, source="api", actor="t", today=TODAY)
        chk = service.check(s, CLINIC, actor_kind="institution", actor_id=CLINIC,
                            record_ids=sorted(set(rep.keys.values())))
        return rep, sorted((r.id, d.answer()) for r, d in chk.results)  # in the order recorded


def test_each_kind_of_answer(registered, session):
    rows = [
        # the four items, typed as people type them: hiragana, half-width kana, 漢数字 in the address, S-era
        rec(name="厚労 太郎", name_kana="こうろう たろう", birth_date="S45.1.1", address="東京都港区虎ノ門一丁目1番"),
        rec(name="", name_kana="ｺｳﾛｳ ﾀﾛｳ", address="東京都港区虎ノ門1丁目1", record_key="k2") | {"name": "厚労太郎"},
        # numbers shown: found by them even with another address
        rec(insurer_number=INSURER, symbol="10000001", number="101", branch="00", address="北海道どこか1"),
        # lost on 1 Dec: 無効 on the 5th
        rec(name="見本　花子", name_kana="ミホン　ハナコ", sex="2", birth_date="1985-04-12",
            address="大阪府大阪市北区梅田2-3-4"),
        # 花子 again, on a day she was covered: 有効
        rec(name="見本　花子", name_kana="ミホン　ハナコ", sex="2", birth_date="1985-04-12",
            address="大阪府大阪市北区梅田2-3-4", care_date="2026-11-30"),
        # the other insurer's member
        rec(name="別保　一郎", name_kana="ベツホ　イチロウ", birth_date="1990-03-03", address="東京都新宿区西新宿2-8-1"),
        # name and birth date right, address wrong: 要確認
        rec(address="京都府京都市左京区1-1"),
        # nobody
        rec(name="不在　五郎", name_kana="フザイ　ゴロウ", birth_date="1966-06-06"),
        # numbers of someone else's card with this birth date and a different name: 要確認
        rec(name="別人　六郎", name_kana="ベツジン　ロクロウ", insurer_number=INSURER, symbol="10000001",
            number="101", branch="00"),
    ]
    rep, answers = record_and_check(rows)
    assert len(rep.added) == 9
    got = [a["status"] for _, a in answers]
    assert got == [VALID, VALID, VALID, INVALID, VALID, VALID, UNSURE, UNSURE, UNSURE], answers
    taro = answers[0][1]
    assert (taro["insurer_number"], taro["symbol"], taro["number"], taro["branch"]) == (INSURER, "10000001", "101",
                                                                                        "00")
    assert taro["matched_by"] == "four_items" and answers[2][1]["matched_by"] == "numbers"
    assert "2026-12-01 に喪失" in answers[3][1]["reason"]
    assert answers[5][1]["insurer_number"] == OTHER_INSURER
    assert "住所" in answers[6][1]["reason"]
    assert "該当する登録がありません" in answers[7][1]["reason"]
    # audited: every record read, and every registered person the answers show
    subjects = {k for k, in session.execute(select(AuditEntry.subject_kind).where(AuditEntry.action == "outage.check"))}
    assert subjects == {"outage_record", "person"}
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.subject_kind == "outage_record")) == 9


def test_the_same_records_twice_are_recorded_once(registered, session):
    rows = [rec(), rec(record_key="browser-1", name="見本　花子", name_kana="ミホン　ハナコ", sex="2",
                       birth_date="1985-04-12", address="大阪府")]
    with unit_of_work() as s:
        first = service.record_patients(s, CLINIC, rows, source="api", actor="t", today=TODAY)
    with unit_of_work() as s:
        again = service.record_patients(s, CLINIC, rows + [rec()], source="api", actor="t", today=TODAY)
    assert len(first.added) == 2 and not again.added and len(again.duplicate) == 3
    assert session.scalar(select(func.count()).select_from(OutageRecord)) == 2


def test_bad_rows_are_named_and_nothing_is_recorded(registered, session):
    rows = [rec(),
            rec(birth_date="H31.5.1"),            # 平成 ended on 30 Apr 2019: an error, never a date
            rec(birth_date="S64.1.8"),            # 昭和 ended on 7 Jan 1989
            rec(address=""),                      # no address
            rec(sex="x", care_date="2027-01-01"),  # bad sex, a day of care to come
            rec(insurer_number="0113001", number="1")]
    with pytest.raises(service.OutageInputError) as exc, unit_of_work() as s:
        service.record_patients(s, CLINIC, rows, source="api", actor="t", today=TODAY)
    errors = {(e.row, e.field): e for e in exc.value.errors}
    assert set(errors) == {(2, "生年月日"), (3, "生年月日"), (4, "住所"), (5, "性別"), (5, "診療日"), (6, "保険者番号")}
    assert errors[(2, "生年月日")].value == "H31.5.1" and "平成は31年4月30日まで" in errors[(2, "生年月日")].reason
    assert "昭和" in errors[(3, "生年月日")].reason
    assert "住所がありません" in errors[(4, "住所")].reason
    assert session.scalar(select(func.count()).select_from(OutageRecord)) == 0


def test_an_outage_list_file_in_japanese_headers_and_cp932(registered, session):
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["診療日", "氏名", "カナ氏名", "性別", "生年月日", "住所", "保険者番号", "記号", "番号", "枝番"])
    w.writerow(["R8.12.5", "厚労　太郎", "コウロウ　タロウ", "男", "昭和45年1月1日", "東京都港区虎ノ門1-1", "", "", "", ""])
    rows = service.read_list(buf.getvalue().encode("cp932"))
    assert rows[0]["__row__"] == 2
    rep, answers = record_and_check(rows)
    assert answers[0][1]["status"] == VALID
    with pytest.raises(service.OutageInputError, match="使えない列名"):
        service.read_list("氏名,誕生日\n厚労,1970\n".encode())
    with pytest.raises(service.OutageInputError, match="必要な列"):
        service.read_list("氏名,性別\n厚労,1\n".encode())


def test_unknown_insurer_claims_and_the_monthly_apportionment(registered, session):
    _, answers = record_and_check([rec(), rec(name="不在　五郎", name_kana="フザイ　ゴロウ", birth_date="1966-06-06"),
                                   rec(name="不在　七子", name_kana="フザイ　ナナコ", sex="2", birth_date="1977-07-07")])
    (valid_id, _), (unknown_id, _), (other_id, _) = answers
    with unit_of_work() as s:
        with pytest.raises(ValueError, match="保険者が分かった"):
            service.record_unknown_insurer(s, CLINIC, valid_id, amount_yen=1000, actor="t")
        service.record_unknown_insurer(s, CLINIC, unknown_id, amount_yen=10001, actor="t")
        service.record_unknown_insurer(s, CLINIC, unknown_id, amount_yen=10001, actor="t")  # once
        service.record_unknown_insurer(s, CLINIC, other_id, amount_yen=5000, actor="t")
        with pytest.raises(LookupError):
            service.record_unknown_insurer(s, "9999999999", other_id, amount_yen=5000, actor="t")
    assert session.scalar(select(func.count()).select_from(UnknownInsurerClaim)) == 2
    rep = service.apportionment(session, date(2026, 12, 1))
    assert rep.claims == 2 and rep.total_yen == 15001 and rep.basis_day == date(2026, 12, 31)
    # in force on 31 Dec: 太郎 at 協会けんぽ (花子 lost hers), 一郎 at the other insurer: half each, exact in sum
    assert {s.insurer_number: s.amount_yen for s in rep.shares} == {INSURER: 7501, OTHER_INSURER: 7500}
    assert service.apportionment(session, date(2026, 11, 1)).shares == [] or \
        service.apportionment(session, date(2026, 11, 1)).total_yen == 0


def test_names_typed_without_their_space_are_found_by_birth_date_and_sex(registered):
    """Neither name nor kana as stored (no space typed): the second lookup (birth date and sex) and the folding
    find him — the same on both databases (the PostgreSQL lookup is its own statement)."""
    _, answers = record_and_check([rec(name="厚労太郎", name_kana="コウロウタロウ"),
                                   rec(name="厚労太郎", name_kana="コウロウタロウ", sex="2")])
    assert [a["status"] for _, a in answers] == [VALID, UNSURE]
    assert answers[0][1]["number"] == "101"
