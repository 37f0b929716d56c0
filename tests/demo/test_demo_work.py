"""The demo shows the work (issue 23): on a fresh demo database there are filings received over the last weeks —
registered on time and late, overdue and due soon, from several employers —, linkage suspects, quarantined rows a
clerk can fix, 資格確認書 due today and tomorrow, certificates due back and not returned, and traffic from October
2023 (the incentives' base month) to the last complete month, so that the incentives and the KPIs have figures."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from onshi.rules.calendar import month_key, next_business_day, previous_month


@pytest.fixture(scope="module")
def demo_session(fresh_demo):
    from onshi.config import get_settings
    from onshi.store.db import make_engine, session_factory

    folder, env = fresh_demo
    mp = pytest.MonkeyPatch()
    for k in ("ONSHI_DATABASE_URL", "ONSHI_VAR_DIR"):
        mp.setenv(k, env[k])
    get_settings.cache_clear()
    engine = make_engine(env["ONSHI_DATABASE_URL"])
    s = session_factory(engine)()
    yield s, engine
    s.close()
    engine.dispose()
    mp.undo()
    get_settings.cache_clear()


def test_filings_spread_over_weeks_with_every_sla_state(demo_session):
    from onshi.exchange.sla import sla_records
    from onshi.store.clock import japan_date, japan_today

    s, _ = demo_session
    records = sla_records(s)
    statuses = {r.status for r in records}
    assert {"on_time", "late", "overdue", "due_soon"} <= statuses
    days = {japan_date(r.received_at) for r in records if japan_date(r.received_at) > date(2017, 1, 1)}
    assert len(days) >= 10 and (japan_today() - min(days)).days >= 35  # over the last five weeks and more
    late_employers = {r.employer_id for r in records if r.status in ("late", "overdue", "due_soon")}
    assert len(late_employers) >= 3


def test_linkage_suspects_and_fixable_quarantine(demo_session):
    from onshi.exchange.linkage import suspects
    from onshi.registry.models import QuarantinedRow

    s, _ = demo_session
    assert len(suspects(s)) >= 3
    rows = list(s.scalars(select(QuarantinedRow)))
    assert len(rows) >= 2
    first = min(rows, key=lambda r: r.id)
    # row 1, the README's `onshi quarantine fix 1 --set birth_date=1970-02-28`: an impossible birth date
    assert first.id == 1 and first.status == "open" and [e["column"] for e in first.errors] == ["birth_date"]


def test_certificates_due_today_and_tomorrow_and_returns_outstanding(demo_session):
    from onshi.documents.service import due_certificates, outstanding_returns
    from onshi.store.clock import japan_today

    s, _ = demo_session
    today = japan_today()
    due_today = due_certificates(s, today)
    due_tomorrow = due_certificates(s, next_business_day(today))
    assert due_today and len(due_tomorrow) > len(due_today)
    assert outstanding_returns(s)


def test_traffic_from_october_2023_so_incentives_and_kpis_have_figures(demo_session):
    from onshi.analytics.dashboard import institution_incentives
    from onshi.analytics.usage import UsageAnalytics, usage_rate_kpi
    from onshi.demo.traffic import traffic_institutions
    from onshi.store.clock import japan_today

    s, engine = demo_session
    ua = UsageAnalytics(engine)
    try:
        months = ua.months()
        assert months[0] == "2023-10" and previous_month(month_key(japan_today())) in months
        lines = dict(institution_incentives(ua, traffic_institutions()[0][0]))
    finally:
        ua.close()
    assert "算定できません" not in lines["支援金 2024年1〜5月"] and "円" in lines["支援金 2024年1〜5月"]
    assert usage_rate_kpi(engine, 2024) is not None and usage_rate_kpi(engine, 2025) is not None


def test_the_due_soon_receipt_is_due_soon_on_every_day_of_two_years():
    """The receipt the demo leaves 期限間近 is due today or tomorrow whatever the weekday (a fixed "four business days
    ago" was due soon only from Friday to Sunday, so the demo lost its 期限間近 on Monday) — across holidays and
    the year end; a business day when one fits."""
    from datetime import datetime, time, timedelta

    from onshi.demo.work import due_soon_receipt
    from onshi.exchange.sla import classify
    from onshi.rules.calendar import is_business_day
    from onshi.store.clock import JST

    day, business, days = date(2025, 1, 1), 0, 0
    while day < date(2027, 1, 1):
        received = due_soon_receipt(day)
        assert received < day
        assert classify(datetime.combine(received, time(9, 30), tzinfo=JST), None, day)[1] == "due_soon", day
        business += is_business_day(received)
        days += 1
        day += timedelta(days=1)
    assert business >= 0.75 * days  # most days find a business day (Thursdays and holidays' ends do not: 81 %)
