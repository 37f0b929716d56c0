"""The one-statement publisher on PostgreSQL (publish_pg) builds exactly the index rows the Python publisher
(publish, the reference) builds; its SQL copy of the 75th-birthday rule equals the rule on every boundary day.

Each stage of registry events is published twice from the same state: by :func:`publish_batch_python` (rolled
back after the rows are read) and by :func:`publish_batch` (PostgreSQL's statement, kept), and the index rows
compared — dependents, a member's 75th birthday, 29 February, losses, a job change, 限度額 and 標準報酬月額.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select, text

from onshi.exchange.models import IndexedQualification, IndexedQualificationHistory
from onshi.exchange.publish import publish_batch, publish_batch_python
from onshi.exchange.publish_pg import birthday_sql, late_elderly_transition_sql
from onshi.registry.models import NotificationType as T
from onshi.rules.age import birthday
from onshi.rules.co_pay import late_elderly_transition
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


def _history(session) -> list[dict]:
    """The index history (what each publication replaced), without its surrogate key."""
    h = IndexedQualificationHistory.__table__
    return [{k: v for k, v in r._mapping.items() if k != "id"} for r in session.execute(
        select(h).order_by(h.c.qualification_id, h.c.registered_at, h.c.change_id, h.c.id))]


def _publish_both_ways(engine, batch: int) -> list[dict]:
    with session_factory(engine)() as s:
        while publish_batch_python(s, batch=batch, now=NOW):
            pass
        expected, expected_history = _rows(s), _history(s)
        s.rollback()
    with session_factory(engine)() as s:
        while publish_batch(s, batch=batch, now=NOW):
            pass
        got, got_history = _rows(s), _history(s)
        s.commit()
    assert got == expected
    assert got_history == expected_history  # both keep what they replace, the same way
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


# ------------------------------------------------------------------ the 75th birthday (後期高齢者医療) in SQL

def _boundary_births() -> list[date]:
    """Every day of two leap years (one a century: 2000) and of the common years around one: each 1st of a month,
    each month end, 28/29 February and 1 March."""
    days = []
    for year in (1947, 1948, 1949, 1950, 1951, 1952, 2000):
        d = date(year, 1, 1)
        while d.year == year:
            days.append(d)
            d += timedelta(days=1)
    return days


@pytest.mark.postgres  # the SQL copy of the rule runs on PostgreSQL only
def test_the_sql_75th_birthday_is_the_rule_on_every_boundary_day(engine):
    births = _boundary_births()
    with engine.connect() as c:
        got = dict(c.exec_driver_sql(
            f"SELECT b, {late_elderly_transition_sql('b')} FROM unnest(%(b)s::date[]) AS t(b)", {"b": births}).all())
    assert len(got) == len(births)
    wrong = {b: (got[b], late_elderly_transition(b)) for b in births if got[b] != late_elderly_transition(b)}
    assert not wrong, list(wrong.items())[:5]
    assert got[date(1952, 2, 29)] == date(2027, 3, 1) and got[date(2000, 2, 29)] == date(2075, 3, 1)
    assert got[date(1951, 3, 1)] == date(2026, 3, 1) and got[date(1951, 2, 28)] == date(2026, 2, 28)


@pytest.mark.postgres
def test_the_sql_birthday_of_any_age_keeps_29_february_in_a_leap_year(engine):
    with engine.connect() as c:
        row = c.exec_driver_sql(f"SELECT {birthday_sql('%(b)s::date', 4)}, {birthday_sql('%(b)s::date', 1)}",
                                {"b": date(2000, 2, 29)}).one()
    assert tuple(row) == (birthday(date(2000, 2, 29), 4), birthday(date(2000, 2, 29), 1)) == \
        (date(2004, 2, 29), date(2001, 3, 1))


def test_the_index_loses_people_on_their_75th_birthday_on_both_databases(engine, tmp_path):
    """Published on PostgreSQL by the statement, on SQLite in Python: the index's 資格喪失日 is the rule's — for
    births on a 1st, a month end and 29 February, a member's dependents with him, and a recorded loss the day
    before, of and after the 75th birthday (the earlier of the two wins; the recorded reason only when it does)."""
    setup_insurers(tmp_path)
    received = datetime(2026, 11, 20, 0, 30)
    births = {"201": "1952-02-29", "202": "1951-03-01", "203": "1951-02-28", "204": "1951-01-01", "205": "1950-12-31",
              "206": "1951-05-31", "207": "1951-06-01", "208": "1951-04-30", "209": "1951-12-01", "210": "1951-11-30"}
    load(write(tmp_path, "a.csv", T.acquisition, [
        acquisition(number=n, my_number="", name="境界　日生", name_kana="キョウカイ　ヒオ", birth_date=b,
                    acquisition_date="2020-04-01") for n, b in births.items()]), T.acquisition, received_at=received)
    load(write(tmp_path, "d.csv", T.dependent, [
        dependent(number="201", branch="01", my_number="", name="境界　配偶", name_kana="キョウカイ　ハイグウ",
                  birth_date="1960-01-01", effective_date="2020-04-01"),
        dependent(number="204", branch="01", my_number="", name="境界　年上", name_kana="キョウカイ　トシウエ",
                  birth_date="1950-06-15", effective_date="2020-04-01"),  # reaches 75 before the member
    ]), T.dependent, received_at=received)
    recorded = {"206": "2026-05-30", "207": "2026-06-01", "208": "2026-05-01"}  # before, of, after the birthday
    load(write(tmp_path, "x.csv", T.loss, [numbers(number=n, loss_date=d, loss_reason="99")
                                           for n, d in recorded.items()]), T.loss, received_at=received)
    with session_factory(engine)() as s:
        while publish_batch(s, now=NOW):
            pass
        rows = _rows(s)
        s.commit()
    assert len(rows) == len(births) + 2
    for r in rows:
        rule = [late_elderly_transition(r["birth_date"])]
        if r["member_birth_date"] is not None:
            rule.append(late_elderly_transition(r["member_birth_date"]))
        own = date.fromisoformat(recorded[r["number"]]) if r["branch"] == "00" and r["number"] in recorded else None
        expected = min(rule + ([own] if own else []))
        assert (r["number"], r["branch"], r["loss_date"]) == (r["number"], r["branch"], expected)
        assert r["loss_reason"] == ("99" if own == expected else "03")
    by = {(r["number"], r["branch"]): r for r in rows}
    assert by["201", "00"]["loss_date"] == by["201", "01"]["loss_date"] == date(2027, 3, 1)
    assert by["204", "01"]["loss_date"] == date(2025, 6, 15) and by["204", "00"]["loss_date"] == date(2026, 1, 1)
    assert by["206", "00"]["loss_reason"] == "99" and by["207", "00"]["loss_reason"] == "99"
    assert by["208", "00"]["loss_reason"] == "03" and by["208", "00"]["loss_date"] == date(2026, 4, 30)
