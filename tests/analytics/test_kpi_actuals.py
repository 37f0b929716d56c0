"""KPI actuals computed from the system: 資格確認書 by the next business day, registration within 5 days."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select, update

from onshi.analytics.kpi_actuals import certificate_next_business_day, registration_within_5_days
from onshi.analytics.usage import system_actuals
from onshi.registry.models import NotificationType as T
from onshi.registry.models import RegistryChange
from onshi.store.db import unit_of_work
from tests.registry.helpers import acquisition, load, setup_insurers, write

FRIDAY = datetime(2025, 5, 9, 1, 0)  # 10:00 JST; the next business day is Monday 12 May


def _my_number(body: str) -> str:
    from stdnum.jp import in_

    return body + in_.calc_check_digit(body)


def test_certificates_and_registration_actuals(engine, tmp_path):
    from onshi.documents.service import daily_run

    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [
        acquisition(acquisition_date="2025-05-01"),
        acquisition(number="102", my_number=_my_number("23456789012"), name="次郎　二郎", name_kana="ジロウ　ジロウ",
                    acquisition_date="2025-05-01")]), T.acquisition, received_at=FRIDAY)
    with unit_of_work() as s:
        report = daily_run(s, date(2025, 5, 12), tmp_path / "out", actor="test")
        assert report.issued == 2, report
    load(write(tmp_path, "b.csv", T.acquisition, [
        acquisition(number="103", my_number=_my_number("34567890123"), name="三郎　三郎", name_kana="サブロウ　サブロウ",
                    acquisition_date="2025-05-01")]), T.acquisition, received_at=FRIDAY)
    with unit_of_work() as s:
        assert daily_run(s, date(2025, 5, 14), tmp_path / "out", actor="test").issued == 1  # two days late
    with unit_of_work() as s:
        assert certificate_next_business_day(s, 2025) == 66.67
        assert certificate_next_business_day(s, 2024) is None
        assert certificate_next_business_day(s, 2025, branch="27") is None
        ids = list(s.scalars(select(RegistryChange.id).where(RegistryChange.qualification_id.is_not(None))
                             .order_by(RegistryChange.id)))
        assert len(ids) == 3
        s.execute(update(RegistryChange).where(RegistryChange.id == ids[0]).values(published_at=FRIDAY + timedelta(days=2)))
        s.execute(update(RegistryChange).where(RegistryChange.id == ids[1]).values(published_at=FRIDAY + timedelta(days=10)))
        s.execute(update(RegistryChange).where(RegistryChange.id == ids[2]).values(published_at=None))
    with unit_of_work() as s:
        # on time, late, overdue (never registered): one in three
        assert registration_within_5_days(s, 2025, today=date(2026, 11, 23)) == 33.33
        # on 12 May 2025 the third was still within its deadline: not counted yet
        assert registration_within_5_days(s, 2025, today=date(2025, 5, 12)) == 50.0
        actuals = system_actuals(s, 2025, "13")
        assert actuals["certificate_next_business_day"] == 66.67
        assert "usage_rate" not in actuals  # no claim counts: no figure, not zero
