"""Intake files read dates through the one input layer: a 和暦 birth date imports, one outside its era is quarantined
with a Japanese reason naming row, column and value; a wrong column name gets a suggestion."""

from __future__ import annotations

from datetime import date

import pytest

from onshi.numbers.messages import japanese
from onshi.registry import intake, service
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work

from .helpers import MN_HANAKO, acquisition, csv_bytes, load, setup_insurers, write


@pytest.fixture
def registry(engine, tmp_path):
    setup_insurers(tmp_path)
    return tmp_path


def test_wareki_birth_date_imports(registry):
    rep = load(write(registry, "wareki.csv", T.acquisition, [
        acquisition(birth_date="昭和45年1月1日", acquisition_date="R6.4.1"),
        acquisition(number="102", my_number=MN_HANAKO, name="厚労　花子", birth_date="Ｈ１．１．８",
                    acquisition_date="２０２４－０４－０１")]), T.acquisition)
    assert (rep.applied, rep.rejected) == (2, 0)
    with unit_of_work() as s:
        births = sorted(p.birth_date for p in (service.person_on(s, q.person_id) for q in
                        service.find_by_numbers(s, insurer_number="01130012", symbol="10000001", number="101")
                        + service.find_by_numbers(s, insurer_number="01130012", symbol="10000001", number="102")))
    assert births == [date(1970, 1, 1), date(1989, 1, 8)]


@pytest.mark.parametrize(("value", "reason"), [
    ("H31.5.1", "平成は31年4月30日までです"), ("S64.1.8", "昭和は64年1月7日までです"),
    ("R7.2.29", "存在しない日付です（令和7年2月は28日まで）"), ("令和0年1月1日", "令和0年はありません"),
])
def test_date_outside_its_era_is_quarantined_in_japanese(registry, session, value, reason):
    rep = load(write(registry, "bad.csv", T.acquisition, [acquisition(birth_date=value)]), T.acquisition)
    assert (rep.applied, rep.rejected) == (0, 1)
    [err] = rep.errors
    assert (err.row, err.column, err.value) == (2, "birth_date", value)
    assert err.reason.startswith(reason) and err.reason == japanese(err.reason)  # no English in what a clerk reads
    [q] = intake.open_quarantine(session)
    assert q.row_number == 2 and q.errors[0] == {"column": "birth_date", "value": value, "reason": err.reason}


@pytest.mark.parametrize(("header", "suggestion"), [
    ("生年月日x", "「生年月日」ですか？"), ("保険者番", "「保険者番号」ですか？"), ("brith_date", "「birth_date」ですか？"),
    ("資格取得日", "「資格取得年月日」ですか？"),
])
def test_wrong_column_name_gets_a_suggestion(registry, header, suggestion):
    names = list(intake.LAYOUTS[T.acquisition].values())
    at = names.index("生年月日")
    names[at] = header
    path = registry / "cols.csv"
    path.write_bytes(csv_bytes(T.acquisition, [acquisition()], header=names))
    with pytest.raises(intake.IntakeFileError) as info:
        load(path, T.acquisition)
    message = japanese(str(info.value))
    assert message.startswith(f"{at + 1}列目の列名「{header}」は使えません。")
    assert message.endswith(suggestion) or suggestion in message
    assert "unexpected column" in str(info.value)  # the English stays for logs


def test_column_name_without_a_near_one_lists_the_names(registry):
    names = list(intake.LAYOUTS[T.acquisition].values())
    names[0] = "zzz"
    path = registry / "cols.csv"
    path.write_bytes(csv_bytes(T.acquisition, [acquisition()], header=names))
    with pytest.raises(intake.IntakeFileError) as info:
        load(path, T.acquisition)
    assert "1列目の列名「zzz」は使えません。使える列名: 保険者番号、記号、番号" in japanese(str(info.value))
