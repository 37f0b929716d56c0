"""傷病手当金 with fewer than 12 months at this insurer, through the service on both databases: the lesser of the
member's own average and the insurer's average (健康保険法 §99 ②), at the 11 vs 12 months boundary.

短期 加入 (501) joined on 2025-06-15 with 410,000: the month of acquisition counts (a 標準報酬月額 is set for it), so a
first payable day in April 2026 has 11 months (June 2025 – April 2026) and one in May 2026 has 12."""

from __future__ import annotations

from datetime import date

import pytest

from onshi.benefits import service
from onshi.registry import service as registry
from onshi.registry.models import NotificationType as T
from onshi.rules import benefits as rules
from onshi.store.db import unit_of_work
from tests.benefits.conftest import app_input
from tests.registry.helpers import INSURER, acquisition, load, write


@pytest.fixture
def short(members, tmp_path):
    row = acquisition(number="501", my_number="", name="短期　加入", name_kana="タンキ　カニュウ",
                      birth_date="1990-01-01", acquisition_date="2025-06-15", monthly_remuneration="410000")
    assert load(write(tmp_path, "short.csv", T.acquisition, [row]), T.acquisition).applied == 1
    return members


def _sick(insurer_id, incapacity: str, period_to: str, key: str):
    with unit_of_work() as s:
        a = service.receive(s, app_input("sickness", number="501", received_on=date(2026, 6, 1), source_key=key,
                                         details={"incapacity_from": incapacity, "period_from": incapacity,
                                                  "period_to": period_to}), insurer_id=insurer_id, actor="clerk")
        assert a.status == "complete", a.missing
        service.decide(s, a.id, on=date(2026, 6, 2), actor="clerk")
        s.expunge(a)
        return a


def _daily(monthly: int) -> int:
    return rules.daily_amount([(date(2026, 4, 1), monthly)], first_day=date(2026, 4, 6), insurer_average=10**9).amount


def test_eleven_months_take_the_insurers_average_twelve_the_members_own(short):
    # 3–5 April (Fri–Sun) 待期; first payable Mon 6 April: 11 months → the lower, the insurer's average
    eleven = _sick(short, "2026-04-03", "2026-04-10", "a")
    average = rules.KYOKAI_AVERAGE_REMUNERATION.at(date(2026, 4, 6))
    assert average < 410_000
    assert eleven.amount == 5 * _daily(average)  # 6–10 April
    assert any("12か月未満" in x and f"{average:,}円" in x for x in eleven.explanation)
    assert any("2025年06月〜2026年04月の11か月" in x for x in eleven.explanation)
    # 1–3 May (Fri–Sun) 待期; first payable Mon 4 May: 12 months → the member's own 410,000 → 13,670 → 9,113
    twelve = _sick(short, "2026-05-01", "2026-05-08", "b")
    assert twelve.amount == 5 * 9_113
    assert not any("12か月未満" in x for x in twelve.explanation)


def test_a_kumiai_sets_its_own_average_and_the_lower_one_wins(short):
    with unit_of_work() as s:
        ins = registry.get_insurer(s, number=INSURER)
        ins.settings = {**(ins.settings or {}), "average_remuneration": 500_000}
    eleven = _sick(short, "2026-04-03", "2026-04-10", "c")
    assert eleven.amount == 5 * _daily(410_000)  # the member's own is lower than 500,000
    assert any("以下なので本人の平均を用います" in x for x in eleven.explanation)
