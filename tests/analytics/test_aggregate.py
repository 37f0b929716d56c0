"""The usage aggregate the pages read (analytics/aggregate.py) equals the reference — the whole log grouped at read
time (engine.DatabaseLog.aggregate) — after every kind of change to the log, on both databases; and the rates, the
dashboard and the KPI figure drawn from it equal those drawn from the reference.  The dashboard opens on the last
complete month and marks the current one 集計中."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import delete, insert, select

from onshi.analytics import aggregate
from onshi.analytics.engine import DatabaseLog
from onshi.analytics.usage import BASES, UsageAnalytics, usage_rate_kpi
from onshi.store import clock
from tests.analytics.test_usage import KUMIAI, KYOKAI_TOKYO, claims, institutions, put, row

A, B, C = "1310000011", "1310000029", "2710000015"


def rows_of(table) -> list[tuple]:
    return sorted(zip(*(table[c].to_pylist() for c in table.column_names)))


def assert_equal_to_reference(engine) -> aggregate.Refresh:
    state = aggregate.refresh(engine)
    assert rows_of(aggregate.read(engine)) == rows_of(DatabaseLog(engine).aggregate())
    return state


def log(engine):
    from onshi.verify.models import VerificationLogEntry

    return VerificationLogEntry


def test_the_aggregate_follows_every_change_to_the_log(engine):
    L = log(engine)
    assert assert_equal_to_reference(engine).recounted == ()  # an empty log: an empty aggregate
    put(engine, [row(A, date(2025, 3, 3), "card", "p1"), row(A, date(2025, 3, 20), "card", "p1"),
                 row(A, date(2025, 3, 4), "smartphone", "p2"), row(A, date(2025, 3, 5), "numbers", "p3"),
                 row(B, date(2025, 3, 6), "card", "p4", ftype="hospital", setting="inpatient"),
                 row(A, date(2025, 4, 1), "card", "p1", insurer=None, validity=4),
                 row(C, date(2025, 4, 30), "requery", None, pref="27", insurer=KUMIAI)])
    first = assert_equal_to_reference(engine)
    assert first.recounted == ("2025-03", "2025-04")
    # nothing new: nothing recounted, the same generation (what the caches are keyed by)
    again = aggregate.refresh(engine)
    assert again.recounted == () and again.generation == first.generation
    # a new row in a closed month and one in a new month: those two months only
    put(engine, [row(B, date(2025, 3, 31), "card", "p4", ftype="hospital"), row(A, date(2025, 5, 2), "card", "p9")])
    state = assert_equal_to_reference(engine)
    assert state.recounted == ("2025-03", "2025-05") and state.generation != first.generation
    # rows removed (no row above the watermark): the month whose count changed is found and recounted
    with engine.begin() as c:
        gone = c.execute(select(L.id).where(L.patient_key == "p3")).scalar_one()
        saved = c.execute(select(L.__table__).where(L.id == gone)).mappings().one()
        c.execute(delete(L).where(L.id == gone))
    assert assert_equal_to_reference(engine).recounted == ("2025-03",)
    # a row committed late under the watermark (its id was taken before the last refresh)
    with engine.begin() as c:
        c.execute(insert(L.__table__), [dict(saved)])
    assert assert_equal_to_reference(engine).recounted == ("2025-03",)
    # the log emptied: the aggregate too
    with engine.begin() as c:
        c.execute(delete(L))
    assert_equal_to_reference(engine)
    assert aggregate.read(engine).num_rows == 0


def test_the_aggregate_of_the_simulated_traffic_equals_the_reference_and_so_do_the_rates(engine, session):
    from onshi.demo.traffic import simulate_traffic

    simulate_traffic(session, months=4, until="2026-10", scale=0.05)
    session.commit()
    assert assert_equal_to_reference(engine).recounted == ("2026-07", "2026-08", "2026-09", "2026-10")
    fast, reference = UsageAnalytics(engine), UsageAnalytics(engine, DatabaseLog(engine))
    try:
        assert fast.months() == reference.months() == ["2026-07", "2026-08", "2026-09", "2026-10"]
        for basis in BASES:
            for by in (("month",), ("month", "prefecture"), ("institution",), ("facility_type", "setting")):
                assert fast.rates(basis=basis, by=by) == reference.rates(basis=basis, by=by), (basis, by)
        assert fast.rates(by=("insurer", "branch")) == reference.rates(by=("insurer", "branch"))
        assert fast.credential_breakdown(by=("month",)) == reference.credential_breakdown(by=("month",))
        assert fast.prefecture_ranking("2026-10") == reference.prefecture_ranking("2026-10")
    finally:
        fast.close()
        reference.close()
    with clock.frozen_at("2026-11-10T10:00:00+09:00"):
        kpi = usage_rate_kpi(engine, 2026)
    ref = UsageAnalytics(engine, DatabaseLog(engine))
    try:
        last = [r for r in ref.rates(basis="kyokai", by=("month",), months=["2026-10"])][0]
    finally:
        ref.close()
    assert kpi == round(100 * last.rate, 2)


def test_the_dashboard_opens_on_the_last_complete_month_and_marks_the_current_one(engine):
    from onshi.analytics.dashboard import chart_bytes, overview

    institutions(engine, (A, "13", "clinic"))
    put(engine, [row(A, date(2026, 10, 5), "card", "p1"), row(A, date(2026, 10, 6), "numbers", "p2"),
                 row(A, date(2026, 11, 2), "numbers", "p3")])
    claims(engine, [(A, "2026-10", "outpatient", "", 2), (A, "2026-10", "outpatient", KYOKAI_TOKYO, 2)])
    ua = UsageAnalytics(engine)
    try:
        ov = overview(ua, today=date(2026, 11, 3))
        assert ov.months == ["2026-10", "2026-11"] and ov.month == "2026-10" and ov.counting == "2026-11"
        assert not ov.partial and ov.national.numerator == 1 and ov.national.denominator == 2
        now = overview(ua, month="2026-11", today=date(2026, 11, 3))
        assert now.partial and now.change_pt is None  # half a month against a whole one: no fall announced
        # once November is over it is a complete month like any other
        later = overview(ua, today=date(2026, 12, 1))
        assert later.month == "2026-11" and not later.partial and later.change_pt == -50.0
        # a chart drawn twice from the same data is drawn once (the same bytes); new log rows draw it again
        one = chart_bytes(ua, "ranking", today=date(2026, 11, 3))
        assert chart_bytes(ua, "ranking", today=date(2026, 11, 3)) is one
    finally:
        ua.close()
    put(engine, [row(A, date(2026, 10, 7), "card", "p4")])
    ua = UsageAnalytics(engine)
    try:
        assert overview(ua, today=date(2026, 11, 3)).national.numerator == 2
        assert chart_bytes(ua, "ranking", today=date(2026, 11, 3)) is not one
    finally:
        ua.close()


def test_the_dashboard_page_says_which_month_is_being_counted(engine, session):
    from fastapi.testclient import TestClient

    from onshi.auth import users
    from onshi.web.app import create_app
    from tests.web.conftest import PASSWORD
    from tests.web.test_auth import login

    institutions(engine, (A, "13", "clinic"))
    put(engine, [row(A, date(2026, 10, 5), "card", "p1"), row(A, date(2026, 11, 2), "numbers", "p3")])
    users.add_user(session, username="analyst", password=PASSWORD, role="analyst", display_name="分析 桜")
    session.commit()
    with clock.frozen_at("2026-11-03T10:00:00+09:00"), TestClient(create_app(engine, publisher_interval=0)) as client:
        assert login(client, "analyst").status_code == 303
        html = client.get("/analytics").text
        assert 'value="2026-10" selected' in html and "2026-11（集計中）" in html
        assert "2026-11 は集計中です" in client.get("/analytics?month=2026-11").text


def test_a_refresh_overtaken_by_another_leaves_the_aggregate_to_it(engine, monkeypatch):
    """Two refreshes at once: the one that finds the watermark moved under it (another committed first) rolls
    back and looks again; the aggregate is counted once and equals the reference."""
    put(engine, [row(A, date(2025, 3, 3), "card", "p1")])
    aggregate.refresh(engine)
    put(engine, [row(A, date(2025, 4, 3), "card", "p2")])
    real_state = aggregate._state
    overtaken, running = [], []

    def read_then_overtaken(conn):
        seen = real_state(conn)
        if not running:  # between this refresh's read of the watermark and its move, another one runs
            running.append(True)
            overtaken.append(aggregate.refresh(engine))
        return seen

    monkeypatch.setattr(aggregate, "_state", read_then_overtaken)
    state = assert_equal_to_reference(engine)
    assert overtaken[0].recounted == ("2025-04",)  # the other one did the work
    assert state.recounted == () and state.generation == overtaken[0].generation  # this one found it done
