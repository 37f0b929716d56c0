"""A small registry for the benefit tests: 協会けんぽ東京 with 厚労 太郎 (member since 2024-04, 410,000), his dependant
花子, 出産 桜 (member since 2025-06, 300,000 → 11 months before 2026-04) and 退職 健 (member 2024-01 – 2026-03-01)."""

from __future__ import annotations

from datetime import date

import pytest

from onshi.registry.models import NotificationType as T
from tests.registry.helpers import INSURER, SYMBOL, acquisition, dependent, load, numbers, setup_insurers, write

BANK = {"bank_code": "0005", "branch_code": "123", "account_type": 1, "account_number": "7654321",
        "holder": "コウロウ　タロウ"}


@pytest.fixture
def members(engine, tmp_path):
    from onshi.registry import service as registry
    from onshi.store.db import unit_of_work

    setup_insurers(tmp_path)
    rep = load(write(tmp_path, "acq.csv", T.acquisition, [
        acquisition(),
        acquisition(number="201", my_number="", name="出産　桜", name_kana="シュッサン　サクラ", sex="2",
                    birth_date="1994-02-02", acquisition_date="2025-06-01", monthly_remuneration="300000"),
        acquisition(number="301", my_number="", name="退職　健", name_kana="タイショク　ケン",
                    birth_date="1980-03-03", acquisition_date="2024-01-01", monthly_remuneration="260000"),
    ]), T.acquisition)
    assert rep.applied == 3, rep.errors
    assert load(write(tmp_path, "dep.csv", T.dependent, [dependent()]), T.dependent).applied == 1
    assert load(write(tmp_path, "loss.csv", T.loss, [numbers(number="301", loss_date="2026-03-01",
                                                              loss_reason="1")]), T.loss).applied == 1
    # 太郎's 標準報酬月額 goes up in September 2025 (定時決定)
    assert load(write(tmp_path, "rem.csv", T.remuneration, [numbers(monthly_remuneration="440000",
                                                                    effective_month="2025-09", reason="定時決定")]),
                T.remuneration).applied == 1
    with unit_of_work() as s:
        return registry.get_insurer(s, number=INSURER).id


def app_input(kind: str, number: str = "101", branch: str = "00", channel: str = "mail",
              received_on: date = date(2026, 4, 30), **over):
    from onshi.benefits.service import ApplicationInput

    fields = {"kind": kind, "channel": channel, "received_on": received_on, "symbol": SYMBOL, "number": number,
              "branch": branch, "bank": dict(BANK), "details": {}, "employer_cert": {"certified_on": "2026-04-28"},
              "doctor_cert": {"certified_on": "2026-04-27"}}
    fields.update(over)
    return ApplicationInput(**fields)
