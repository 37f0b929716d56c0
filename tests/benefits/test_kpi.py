"""サービススタンダード達成状況 and 郵送化率 are computed from the benefit records and reach the KPI sheet (no import)."""

from __future__ import annotations

from datetime import date

from onshi.benefits import service
from onshi.store.db import unit_of_work
from tests.benefits.conftest import app_input


def test_the_kpi_sheet_takes_the_service_standard_and_mail_rate_from_the_records(members):
    from onshi.analytics.evaluation import sheet_from_database
    from onshi.analytics.usage import system_actuals

    with unit_of_work() as s:
        ids = []
        for i, channel in enumerate(("mail", "mail", "counter", "electronic")):
            app = service.receive(s, app_input("burial", channel=channel, received_on=date(2026, 6, 1 + i),
                                               attachments=["埋葬許可証"], details={"death_date": f"2026-05-0{i + 1}"}),
                                  insurer_id=members, actor="clerk")
            service.decide(s, app.id, on=app.received_on, actor="clerk")
            ids.append(app.id)
        # three paid the next business day, one (complete 4 Jun) only on 19 Jun: 11 business days
        service.pay(s, insurer_id=members, on=date(2026, 6, 4), ids=ids[:3], actor="clerk")
        service.pay(s, insurer_id=members, on=date(2026, 6, 18), ids=ids[3:], actor="clerk")
    with unit_of_work() as s:
        actuals = system_actuals(s, 2026, "13")
        assert actuals["service_standard"] == 75.0 and actuals["mail_application"] == 75.0
        assert "service_standard" not in system_actuals(s, 2026, "27")  # another 支部: no figure, not zero
        sheet = sheet_from_database(s, 2026, "東京", system_actuals=system_actuals, generated_on=date(2027, 4, 30))
        rows = {r.kpi.code: r for r in sheet.results}
        assert rows["p6_service_standard"].actual == 75.0 and rows["p6_service_standard"].actual_source == "system"
        assert rows["p6_mail_application"].actual == 75.0 and rows["p6_mail_application"].actual_source == "system"
