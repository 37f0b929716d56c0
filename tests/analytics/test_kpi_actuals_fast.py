"""The KPI page's fast path (``analytics/kpi_actuals_fast.py``, aggregate SQL) gives the same figures as the
reference (``analytics/kpi_actuals.py``, ``claims.checkups``, ``usage.system_actuals``), on both databases, per
fiscal year and 支部, at the year's boundary: filings received at 14:59 UTC on 31 March (23:59 on 31 March in
Japan, FY2024) and at 15:00 UTC (00:00 on 1 April in Japan, FY2025); registrations at the last minute of their
deadline day and the first of the next; certificates due on 31 March and on 1 April."""

from __future__ import annotations

from datetime import date, datetime
from functools import partial

import pytest
from sqlalchemy import select, update

from onshi.analytics import kpi_actuals as ref
from onshi.analytics import kpi_actuals_fast as fast
from onshi.registry.models import NotificationType as T
from onshi.registry.models import QualificationVersion, RegistryChange
from onshi.store.db import unit_of_work
from tests.claims.helpers import drug, import_claims, line, load_master, write_claims
from tests.registry.helpers import INSURER, OTHER_INSURER, acquisition, dependent, load, numbers, setup_insurers, write

FRIDAY_0328 = datetime(2025, 3, 28, 1, 0)      # 10:00 JST Friday 28 March: due Monday 31 March (FY2024)
LAST_MINUTE = datetime(2025, 3, 31, 14, 59)    # 23:59 JST Monday 31 March: received in FY2024, due 1 April
FIRST_MINUTE = datetime(2025, 3, 31, 15, 0)    # 00:00 JST Tuesday 1 April: received in FY2025, due 2 April

KANA = {"101": "イチ", "102": "ニ", "103": "サン", "104": "シ", "105": "ゴ", "106": "ロク", "107": "シチ"}


def _person(number: str, birth: str, acquired: str = "2020-01-01", **over) -> dict:
    return acquisition(number=number, my_number="", name=f"境界　{KANA[number]}", name_kana=f"キョウカイ　{KANA[number]}",
                       birth_date=birth, acquisition_date=acquired, **over)


def _publish(s, number: str, branch: str, at: datetime | None) -> None:
    qids = select(QualificationVersion.qualification_id).where(
        QualificationVersion.number == number, QualificationVersion.branch == branch)
    s.execute(update(RegistryChange).where(RegistryChange.qualification_id.in_(qids),
                                           RegistryChange.kind.in_([T.acquisition, T.dependent]))
              .values(published_at=at))


@pytest.fixture
def boundary(engine, tmp_path):
    """Filings on each side of the fiscal year's first minute, certificates issued on time and late, registrations
    on time, late and never, people on each side of the 特定健診 ages."""
    from onshi.documents.service import daily_run

    setup_insurers(tmp_path)
    assert load(write(tmp_path, "f1.csv", T.acquisition, [
        _person("101", "1985-04-01"), _person("102", "1985-04-02")]), T.acquisition, received_at=FRIDAY_0328).ok
    with unit_of_work() as s:
        assert daily_run(s, date(2025, 3, 31), tmp_path / "out", actor="test").issued == 2  # on their due day
    assert load(write(tmp_path, "f2.csv", T.acquisition, [
        _person("103", "1950-04-02"), _person("104", "1950-04-01")]), T.acquisition, received_at=LAST_MINUTE).ok
    assert load(write(tmp_path, "f3.csv", T.acquisition, [
        _person("105", "1970-01-01", "2024-04-01"), _person("106", "1970-01-01", "2024-04-02"),
        _person("107", "1960-01-01", insurer_number=OTHER_INSURER, employer_symbol="9001")]),
        T.acquisition, received_at=FIRST_MINUTE).ok
    assert load(write(tmp_path, "f4.csv", T.dependent, [
        dependent(number="101", branch="01", my_number="", birth_date="1980-06-06")]),
        T.dependent, received_at=FIRST_MINUTE).ok
    with unit_of_work() as s:
        daily_run(s, date(2025, 4, 1), tmp_path / "out", actor="test")   # 103 on time (due 1 April)
        daily_run(s, date(2025, 4, 4), tmp_path / "out", actor="test")   # 105–107 and the dependent: late
    assert load(write(tmp_path, "loss.csv", T.loss, [
        numbers(number="104", loss_date="2026-04-01", loss_reason="99"),
        numbers(number="105", loss_date="2026-03-31", loss_reason="99")]), T.loss,
        received_at=datetime(2025, 6, 2, 1, 0)).ok
    load_master()  # drug lines on each side of the year's start: the generic share of FY2024 and of FY2025
    who = {"birth_date": "1985-04-01"}
    assert import_claims(write_claims(tmp_path, "c.csv", [
        line(claim_number="1", month="2025-03", **who),
        drug(claim_number="1", month="2025-03", quantity="28", **who),
        drug(claim_number="1", month="2025-03", line_number="3", code="990000201", quantity="12", **who),
        line(claim_number="2", month="2025-04", **who),
        drug(claim_number="2", month="2025-04", quantity="10.5", **who),
        drug(claim_number="2", month="2025-04", line_number="3", code="990000201", quantity="7.25", **who),
    ]), today=date(2025, 6, 30)).ok
    with unit_of_work() as s:
        _publish(s, "101", "00", datetime(2025, 4, 2, 14, 59))   # deadline 2 April: its last minute in Japan
        _publish(s, "102", "00", datetime(2025, 4, 2, 15, 0))    # 00:00 on 3 April in Japan: late
        _publish(s, "103", "00", datetime(2025, 4, 5, 14, 59))   # deadline 5 April: on time
        _publish(s, "104", "00", None)                           # never: overdue after 5 April
        _publish(s, "105", "00", datetime(2025, 4, 6, 14, 59))   # deadline 6 April: on time
        _publish(s, "106", "00", datetime(2025, 4, 6, 15, 0))    # late
        _publish(s, "107", "00", datetime(2025, 4, 2, 0, 0))
        # the dependent stays unregistered: due soon, then overdue
    return tmp_path


YEARS = (2023, 2024, 2025, 2026)
BRANCHES = ("00", "13", "27")
TODAYS = (date(2025, 4, 1), date(2025, 4, 4), date(2025, 4, 5), date(2025, 4, 6), date(2025, 4, 7),
          date(2026, 11, 23))


def test_registration_within_5_days_equals_the_reference(boundary):
    with unit_of_work() as s:
        for today in TODAYS:
            for fy in YEARS:
                for branch in BRANCHES:
                    expected = ref.registration_within_5_days(s, fy, branch, today=today)
                    assert fast.registration_within_5_days(s, fy, branch, today=today) == expected, (today, fy, branch)
        # the boundary is in the data: FY2024 holds 101 (on time), 102 (late), 103 (on time), 104 (overdue);
        # FY2025 holds 105 (on time), 106 (late), 107 (on time), the dependent (overdue) and the two losses
        assert ref.registration_within_5_days(s, 2024, today=date(2026, 11, 23)) == 50.0
        assert ref.registration_within_5_days(s, 2024, today=date(2025, 4, 5)) == round(100 * 2 / 3, 2)  # 104 waits
        assert ref.registration_within_5_days(s, 2025, today=date(2026, 11, 23)) == round(100 * 2 / 6, 2)


def test_certificate_next_business_day_equals_the_reference(boundary):
    with unit_of_work() as s:
        for fy in YEARS:
            for branch in BRANCHES:
                assert fast.certificate_next_business_day(s, fy, branch) == \
                    ref.certificate_next_business_day(s, fy, branch), (fy, branch)
        assert ref.certificate_next_business_day(s, 2024) == 100.0        # due 31 March, issued that day
        # due 1–2 April: 103 on time, 105–107 and the dependent late (104 reached 75 first: no certificate)
        assert ref.certificate_next_business_day(s, 2025) == 20.0


def test_checkup_denominator_and_claims_figures_equal_the_reference(boundary):
    from onshi.claims import checkups
    from onshi.registry import service as registry

    with unit_of_work() as s:
        mine = registry.get_insurer(s, number=INSURER).id
        other = registry.get_insurer(s, number=OTHER_INSURER).id
        for fy in YEARS:
            for ids in ([mine], [other], [mine, other], []):
                assert fast.checkup_denominator(s, ids, fy) == checkups.checkup_denominator(s, ids, fy), (fy, ids)
            for branch in BRANCHES:
                assert fast.claims_actuals(s, fy, branch) == ref.claims_actuals(s, fy, branch), (fy, branch)
        assert len(checkups.checkup_denominator(s, [mine, other], 2025)["insured"]) >= 3  # not an empty check


def test_the_page_figures_equal_usage_system_actuals(boundary, engine):
    """What the KPI page computes (one DuckDB connection for both years) is ``usage.system_actuals``."""
    from onshi.analytics.evaluation import sheet_from_database
    from onshi.analytics.usage import UsageAnalytics, system_actuals

    ua = UsageAnalytics(engine)
    try:
        with unit_of_work() as s:
            for fy in YEARS:
                for branch in BRANCHES:
                    assert fast.system_actuals(s, fy, branch, ua=ua) == system_actuals(s, fy, branch), (fy, branch)
            assert fast.system_actuals(s, 2024, "13", ua=ua)["generic_share"] == 70.0  # 28 ÷ (28 + 12)
            assert fast.system_actuals(s, 2025, "00", ua=ua)["generic_share"] == round(100 * 10.5 / 17.75, 2)
            assert "generic_share" not in fast.system_actuals(s, 2023, "00", ua=ua)  # no claim that year
            page = sheet_from_database(s, 2025, "13", system_actuals=partial(fast.system_actuals, ua=ua),
                                       generated_on=date(2026, 5, 1))
            reference = sheet_from_database(s, 2025, "13", system_actuals=system_actuals,
                                            generated_on=date(2026, 5, 1))
    finally:
        ua.close()
    assert page == reference
    assert any(r.actual_source == "system" for r in page.results)
