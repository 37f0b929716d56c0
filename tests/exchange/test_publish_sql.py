"""The one-statement publisher on PostgreSQL builds exactly the index rows the Python publisher builds.

Each stage of registry events is published twice from the same state: by :func:`publish_batch_python` (rolled
back after the rows are read) and by :func:`publish_batch` (PostgreSQL's statement, kept), and the index rows
compared — dependents, a member's 75th birthday, 29 February, losses, a job change, 限度額 and 標準報酬月額.
"""

from __future__ import annotations

import hashlib

from datetime import datetime

import pytest
from sqlalchemy import select, text

from onshi.exchange.models import IndexedQualification
from onshi.exchange.publish import publish_batch, publish_batch_python
from onshi.registry.models import NotificationType as T
from onshi.store.db import session_factory

from tests.registry.helpers import (
    INSURER,
    MN_CHILD,
    MN_HANAKO,
    OTHER_INSURER,
    acquisition,
    dependent,
    load,
    numbers,
    setup_insurers,
    write,
)

NOW = datetime(2026, 11, 20, 9, 30)


def _rows(session) -> list[dict]:
    return [dict(r._mapping) for r in session.execute(
        select(IndexedQualification.__table__).order_by(IndexedQualification.qualification_id))]


def _publish_both_ways(engine, batch: int) -> list[dict]:
    with session_factory(engine)() as s:
        while publish_batch_python(s, batch=batch, now=NOW):
            pass
        expected = _rows(s)
        s.rollback()
    with session_factory(engine)() as s:
        while publish_batch(s, batch=batch, now=NOW):
            pass
        got = _rows(s)
        s.commit()
    assert got == expected
    return got


@pytest.mark.postgres  # the one-statement publisher is PostgreSQL's
@pytest.mark.parametrize("batch", [1, 3, 5000])
def test_the_statement_builds_the_rows_python_builds(engine, tmp_path, batch):
    setup_insurers(tmp_path)
    received = datetime(2024, 11, 1, 0, 30)
    load(write(tmp_path, "a.csv", T.acquisition, [
        acquisition(),
        acquisition(number="102", my_number="", name="閏日　生男", name_kana="ウルウビ　イクオ",
                    birth_date="1952-02-29"),
        acquisition(number="103", my_number="", name="後期　高齢", name_kana="コウキ　コウレイ",
                    birth_date="1950-01-01", acquisition_date="2020-04-01", monthly_remuneration="300000"),
        acquisition(insurer_number=OTHER_INSURER, employer_symbol="9001", number="7", my_number="",
                    name="別組　合子", name_kana="ベツクミ　アイコ", birth_date="1990-07-07", sex="2"),
    ]), T.acquisition, received_at=received)
    load(write(tmp_path, "d.csv", T.dependent, [
        dependent(),
        dependent(branch="02", my_number=MN_CHILD, name="厚労　一郎", name_kana="コウロウ　イチロウ",
                  birth_date="2019-05-05", sex="1"),
        dependent(number="103", branch="01", my_number="", name="後期　配偶", name_kana="コウキ　ハイグウ",
                  birth_date="1960-03-03", effective_date="2020-04-01"),
    ]), T.dependent, received_at=received)
    load(write(tmp_path, "l.csv", T.limit_application, [
        numbers(application_date="2024-10-15", tax_exempt="0", low_income_1="0", income_exemption="1")]),
        T.limit_application, received_at=received)
    first = _publish_both_ways(engine, batch)
    assert len(first) == 7
    old = next(r for r in first if r["number"] == "103" and r["branch"] == "00")
    spouse = next(r for r in first if r["number"] == "103" and r["branch"] == "01")
    leap = next(r for r in first if r["number"] == "102")
    assert str(old["loss_date"]) == "2025-01-01" and old["loss_reason"] == "03"
    assert spouse["loss_date"] == old["loss_date"] and spouse["member_birth_date"] is not None
    assert str(leap["loss_date"]) == "2027-03-01"

    # later: a remuneration change, an address change, a loss, a job change of the member with dependents
    later = datetime(2024, 11, 15, 8, 0)
    load(write(tmp_path, "r.csv", T.remuneration, [
        numbers(monthly_remuneration="280000", effective_month="2024-09", reason="算定")]), T.remuneration,
        received_at=later)
    load(write(tmp_path, "ad.csv", T.address_change, [
        numbers(postal_code="1000001", address="東京都千代田区千代田2-2", effective_date="2024-10-01")]),
        T.address_change, received_at=later)
    load(write(tmp_path, "x.csv", T.loss, [numbers(number="102", loss_date="2024-11-01", loss_reason="99")]),
         T.loss, received_at=later)
    load(write(tmp_path, "b.csv", T.acquisition, [
        acquisition(insurer_number=OTHER_INSURER, employer_symbol="9001", number="8",
                    acquisition_date="2024-11-01")]), T.acquisition, received_at=later)
    second = _publish_both_ways(engine, batch)
    assert len(second) == 8
    taro = next(r for r in second if r["number"] == "101" and r["branch"] == "00")
    assert taro["remuneration"][-1][2] == 280000 and taro["address"] == "東京都千代田区千代田2-2"
    assert taro["limit_certificates"][0]["income_exemption"] is True
    hanako = next(r for r in second if r["number"] == "101" and r["branch"] == "01")
    assert hanako["remuneration"] == taro["remuneration"]  # a dependent answers with the member's 標準報酬月額
    with engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM registry_changes WHERE published_at IS NULL")).scalar() == 0

    # a person left without a current version (repaired by hand, say): the index forgets the row
    spouse_pid = spouse["person_id"]
    with engine.begin() as c:
        c.execute(text("UPDATE person_versions SET valid_to = '2024-12-01' WHERE person_id = :p"), {"p": spouse_pid})
        c.execute(text("INSERT INTO registry_changes (insurer_id, kind, row_hash, person_id, received_at, recorded_at) "
                       "SELECT insurer_id, 'name_change', :h, person_id, :t, :t FROM qualification_versions "
                       "WHERE person_id = :p LIMIT 1"), {"p": spouse_pid, "t": later,
                                                          "h": hashlib.sha256(b"manual-fix").digest()})
    third = _publish_both_ways(engine, batch)
    assert len(third) == 7 and all(r["person_id"] != spouse_pid for r in third)
    assert MN_HANAKO and INSURER  # the helpers' fixtures, named for readers
