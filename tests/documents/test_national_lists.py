"""The national lists (docs/national-lists.md): the 職権交付対象者リスト feeds the 資格確認書 decision, idempotent,
with a report of who was added and why and of the rows that match nobody — both databases."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from onshi.documents import facts, national_lists, service
from onshi.documents.models import IssuedDocument, NationalListEntry, NationalListFile
from onshi.exchange import cards
from onshi.privacy.models import AuditEntry
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work

from tests.registry.helpers import INSURER, MN_HANAKO, MN_TARO, OTHER_INSURER, acquisition, load, setup_insurers, write

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "ex_officio_list.csv"
HEADER = "insurer_number,symbol,number,branch,name_kana,birth_date,reason\n"


@pytest.fixture
def members(engine, tmp_path):
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [
        acquisition(),
        acquisition(number="102", my_number=MN_HANAKO, name="見本　花子", name_kana="ミホン　ハナコ",
                    birth_date="1985-04-12", sex="2"),
    ]), T.acquisition, received_at=datetime(2026, 11, 20, 10, 0))
    with unit_of_work() as s:  # both use a マイナ保険証: only the national list makes them due a 資格確認書
        cards.register_card(s, my_number=MN_TARO, certificate_serial="C1", certificate_expires_on=date(2030, 1, 1))
        cards.register_card(s, my_number=MN_HANAKO, certificate_serial="C2", certificate_expires_on=date(2030, 1, 1))
    with unit_of_work() as s:  # the enrolment run: nobody is due (their cards work)
        assert service.daily_run(s, date(2026, 11, 24), tmp_path / "out", actor="t").issued == 0
    return tmp_path


def test_the_example_list_is_added_reported_and_issued_once(members, session, tmp_path):
    data = EXAMPLE.read_bytes()
    with unit_of_work() as s:
        report = national_lists.import_list(s, data, kind="ex_officio", month="2026-12", filename=EXAMPLE.name)
    assert [(a.row, a.numbers, a.reason) for a in report.added] == [
        (2, "10000001-101-00", "マイナ保険証の利用登録の解除"),
        (3, "10000001-102-00", "電子証明書の有効期限切れ（経過措置の後）")]
    assert [(p.row, p.kind) for p in report.problems] == [(4, "unmatched")]
    assert "該当者なし" in report.problems[0].reason and "999" in report.problems[0].value
    assert "追加 2件" in report.lines()[0] and "該当者なし 1件" in report.lines()[0]
    # the fact, one at a time, and the decision: a certificate from the list's month, not before
    qid = session.scalar(select(NationalListEntry.qualification_id).where(NationalListEntry.row == 2))
    assert facts.on_national_list(session, qid, date(2026, 12, 15)) == "01"
    assert facts.on_national_list(session, qid, date(2026, 11, 15)) is None
    with unit_of_work() as s:
        assert service.daily_run(s, date(2026, 11, 30), tmp_path / "out", actor="t").issued == 0
    with unit_of_work() as s:
        first = service.daily_run(s, date(2026, 12, 1), tmp_path / "out", actor="t")
    assert first.issued == 2
    reasons = sorted(session.scalars(select(IssuedDocument.reason)))
    assert reasons == ["national_list:01", "national_list:02"]
    with unit_of_work() as s:  # the same list again: nothing changes, nothing issued twice
        again = national_lists.import_list(s, data, kind="ex_officio", month="2026-12", filename="again.csv")
        assert service.daily_run(s, date(2026, 12, 2), tmp_path / "out", actor="t").issued == 0
    assert again.already_imported and not again.added
    assert session.scalar(select(func.count()).select_from(NationalListFile)) == 1
    assert session.scalar(select(func.count()).select_from(NationalListEntry)) == 2
    # the import's report is a read of who was added: audited
    actions = set(session.scalars(select(AuditEntry.subject_kind).where(AuditEntry.action == "national_list.import")))
    assert actions == {"person", "national_list_file"}


def test_the_same_people_in_another_file_and_encoding_are_already_listed(members, session):
    cp932 = ("保険者番号,記号,番号,枝番,カナ氏名,生年月日,交付事由\n"
             "01130012,10000001,101,00,コウロウ　タロウ,昭和45年1月1日,1\n").encode("cp932")
    utf8 = (HEADER + "01130012,10000001,101,,コウロウ タロウ,1970-01-01,01\n").encode()
    with unit_of_work() as s:
        first = national_lists.import_list(s, cp932, kind="ex_officio", month="R8.12")
        second = national_lists.import_list(s, utf8, kind="ex_officio", month="2026-12")
    assert first.encoding == "cp932" and len(first.added) == 1
    assert not second.already_imported and second.already == 1 and not second.added
    assert session.scalar(select(func.count()).select_from(NationalListEntry)) == 1


@pytest.mark.parametrize("data, words", [
    (b"insurer_number;symbol;number\n01130012;1;1\n", "列名"),
    ("保険者番号,記号,番号,枝番\n01130012,10000001,101,00\n".encode(), "必要な列がありません"),
    (b"\x81\xff\xfe\x00garbage" * 3, "バイナリ"),
    ("保険者番号".encode("cp932") + b"\x85\x40\n", "文字コード"),
    (HEADER.encode(), "データ行がありません"),
])
def test_a_list_in_the_wrong_layout_or_encoding_applies_nothing(members, session, data, words):
    with pytest.raises(national_lists.NationalListError, match=words), unit_of_work() as s:
        national_lists.import_list(s, data, kind="ex_officio", month="2026-12")
    assert session.scalar(select(func.count()).select_from(NationalListFile)) == 0


def test_each_bad_row_is_named_with_its_field_value_and_reason(members, session):
    data = (HEADER + "01130012,10000001,101,00,コウロウ　タロウ,H31.5.1,01\n"       # 平成 ended on 30 Apr 2019
            "0113001,10000001,101,00,コウロウ　タロウ,1970-01-01,01\n"              # bad check digit length
            "01130012,10000001,101,00,コウロウ　タロウ,1970-01-02,01\n"             # not his birth date
            "01130012,10000001,101,00,コウロウ　タロウ,1970-01-01,09\n"             # no such 交付事由
            f"{OTHER_INSURER},9001,1,00,タニン,1970-01-01,01\n"                   # another insurer's row
            "01130012,10000001,101,00\n").encode()                                  # too few values
    with unit_of_work() as s:
        report = national_lists.import_list(s, data, kind="ex_officio", month="2026-12", insurer_number=INSURER)
    got = {(p.row, p.field, p.kind) for p in report.problems}
    assert got == {(2, "生年月日", "rejected"), (3, "保険者番号", "rejected"), (4, "生年月日", "unmatched"),
                   (5, "交付事由", "rejected"), (6, "保険者番号", "other_insurer"), (7, "行", "rejected")}
    h31 = next(p for p in report.problems if p.row == 2)
    assert h31.value == "H31.5.1" and "平成は31年4月30日まで" in h31.reason
    assert not report.added
    stored = session.scalar(select(NationalListFile))
    assert stored.rejected == 5 and stored.unmatched == 1 and len(stored.problems) == 6


def test_the_cannot_use_list_goes_through_the_same_import(members, session):
    data = "insurer_number,symbol,number,branch\n01130012,10000001,101,00\n01130012,10000001,555,00\n".encode()
    with unit_of_work() as s:
        added, problems = service.import_national_list(s, data, listed_on=date(2026, 12, 3))
    assert added == 1 and len(problems) == 1 and "555" in problems[0]
    entry = session.scalar(select(NationalListEntry))
    assert entry.kind == "cannot_use" and entry.month == date(2026, 12, 1)


def test_the_cli_imports_and_exits_1_on_rows_not_applied(members, session, tmp_path):
    from onshi.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["lists", "import", str(EXAMPLE), "--month", "2026-12"])
    assert res.exit_code == 1, res.output
    assert "追加 2件" in res.output and "該当者なし" in res.output
    again = runner.invoke(app, ["lists", "import", str(EXAMPLE), "--month", "2026-12"])
    assert again.exit_code == 0 and "取込済み" in again.output
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\n1,2\n")
    res = runner.invoke(app, ["lists", "import", str(bad), "--month", "2026-12"])
    assert res.exit_code == 2 and "何も取り込んでいません" in res.output
