"""Care after loss and 返納金 (issue 21 point 2) and the 資格点検 (point 3), built from registry events, on both
databases.

* 太郎 (101): insured from 2024-04-01; his loss on 1 Nov is filed late and registered on 10 Dec — care in November
  was told 有効 at the clinic: a case marked as ours (our registration was late).
* 次郎 (102): loss on 15 Nov registered the next day; care on 5 and 20 Nov → a member's case for one day of two.
* 三郎 (103): loss on 1 Nov and a new qualification at 06139992 from 1 Nov, both registered on 16 Nov → care on
  20 Nov is the new insurer's (保険者間調整).
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select

from onshi.claims import service
from onshi.claims.models import EligibilityFinding, RefundCase
from onshi.exchange.publish import publish_batch
from onshi.registry import service as registry
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from tests.claims.helpers import import_claims, line, load_master, write_claims
from tests.registry.helpers import (INSURER, MN_CHILD, MN_HANAKO, MN_TARO, OTHER_INSURER, acquisition, dependent, load,
                                    numbers, setup_insurers, write)

FIRST = datetime(2024, 10, 1, 3, 0)
NOV16 = datetime(2024, 11, 16, 3, 0)
DEC10 = datetime(2024, 12, 10, 3, 0)
JIRO = dict(number="102", my_number=MN_HANAKO, name="厚労　次郎", name_kana="コウロウ　ジロウ", birth_date="1980-02-02")
SABURO = dict(number="103", my_number=MN_CHILD, name="厚労　三郎", name_kana="コウロウ　サブロウ", birth_date="1985-03-03")


@pytest.fixture
def world(engine, tmp_path):
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition(), acquisition(**JIRO), acquisition(**SABURO)]),
         T.acquisition, received_at=datetime(2024, 9, 30))
    load(write(tmp_path, "d.csv", T.dependent, [dependent(my_number="", birth_date="1972-05-05")]), T.dependent,
         received_at=datetime(2024, 9, 30))
    with unit_of_work() as s:
        assert publish_batch(s, now=FIRST)
    load(write(tmp_path, "l1.csv", T.loss, [numbers(number="102", loss_date="2024-11-15", loss_reason="99"),
                                            numbers(number="103", loss_date="2024-11-01", loss_reason="99")]),
         T.loss, received_at=datetime(2024, 11, 15))
    load(write(tmp_path, "b.csv", T.acquisition, [acquisition(insurer_number=OTHER_INSURER, employer_symbol="9001",
                                                              acquisition_date="2024-11-01", **{**SABURO, "number": "7"})]),
         T.acquisition, received_at=datetime(2024, 11, 15))
    # 花子 stops being a dependent from 1 Oct (太郎 is still insured then)
    load(write(tmp_path, "dr.csv", T.dependent, [dependent(change="remove", effective_date="2024-10-01",
                                                           loss_reason="01", my_number="", birth_date="1972-05-05")]),
         T.dependent, received_at=datetime(2024, 11, 15))
    with unit_of_work() as s:
        assert publish_batch(s, now=NOV16)
    load(write(tmp_path, "l2.csv", T.loss, [numbers(loss_date="2024-11-01", loss_reason="99")]), T.loss,
         received_at=datetime(2024, 12, 9))
    with unit_of_work() as s:
        assert publish_batch(s, now=DEC10)
    load_master()
    rep = import_claims(write_claims(tmp_path, "nov.csv", [
        line(claim_number="1", care_days="5;20", patient_share="2130", points="710"),                   # 太郎 7,100円
        line(claim_number="2", care_days="5;20", patient_share="2130", points="710", **{k: JIRO[k] for k in ("number", "birth_date")}),
        line(claim_number="3", care_days="20", patient_share="2130", points="710", **{k: SABURO[k] for k in ("number", "birth_date")}),
    ]))
    assert rep.ok and rep.claims_applied == 3, rep.errors
    with unit_of_work() as s:
        return registry.get_insurer(s, number=INSURER).id


def cases(insurer_id: int) -> dict[str, RefundCase]:
    with unit_of_work() as s:
        out = {}
        for c in s.scalars(select(RefundCase).where(RefundCase.insurer_id == insurer_id)):
            s.expunge(c)
            out[registry.person_on(s, c.person_id).name] = c
        return out


def test_care_after_loss_opens_one_case_per_claim_with_its_debtor(world):
    with unit_of_work() as s:
        opened = service.match_care_after_loss(s, insurer_id=world, month="2024-11", today=date(2025, 1, 10))
    assert len(opened) == 3
    got = cases(world)
    taro, jiro, saburo = got["厚労　太郎"], got["厚労　次郎"], got["厚労　三郎"]
    # late registration: the index said 有効 on both days → ours, the whole insurer's share (7,100 − 2,130)
    assert (taro.debtor, taro.amount_yen, taro.days_valid_then) == ("ours", 4970, ["2024-11-05", "2024-11-20"])
    assert taro.loss_date == date(2024, 11, 1)
    # one day of two after the loss (15 Nov): half the insurer's share, the member repays
    assert (jiro.debtor, jiro.amount_yen, jiro.days_after_loss, jiro.days_valid_then) == \
        ("member", 2485, ["2024-11-20"], [])
    # the new insurer covered the day: 保険者間調整
    assert (saburo.debtor, saburo.new_insurer_number, saburo.amount_yen) == ("new_insurer", OTHER_INSURER, 4970)
    with unit_of_work() as s:  # again: nothing new
        assert service.match_care_after_loss(s, insurer_id=world, month="2024-11") == []
        assert service.lateness_cost(s, insurer_id=world) == {"cases": 1, "amount_yen": 4970}


def test_the_life_cycle_notice_instalments_payments_and_the_recovery_rate(world):
    with unit_of_work() as s:
        service.match_care_after_loss(s, insurer_id=world, month="2024-11", today=date(2025, 1, 10))
    got = cases(world)
    jiro, taro, saburo = got["厚労　次郎"].id, got["厚労　太郎"].id, got["厚労　三郎"].id
    with unit_of_work() as s:
        with pytest.raises(service.ClaimsError, match="not claimed"):
            service.notice(s, taro, insurer_id=world, noticed_on=date(2025, 1, 15))
        with pytest.raises(service.ClaimsError, match="notice the case first"):
            service.agree_instalments(s, jiro, insurer_id=world, instalments=3)
        service.notice(s, jiro, insurer_id=world, noticed_on=date(2025, 1, 15))
        service.notice(s, saburo, insurer_id=world, noticed_on=date(2025, 1, 15))
        assert s.get(RefundCase, jiro).due_on == date(2025, 2, 14)
        service.agree_instalments(s, jiro, insurer_id=world, instalments=2)
        service.record_payment(s, jiro, insurer_id=world, paid_on=date(2025, 2, 10), amount_yen=1242, actor="t")
        with pytest.raises(service.ClaimsError, match="within the balance"):
            service.record_payment(s, jiro, insurer_id=world, paid_on=date(2025, 3, 10), amount_yen=9999, actor="t")
        assert s.get(RefundCase, jiro).status == "instalments"
        # 2,485 + 4,970 owed, 1,242 paid
        assert service.refund_recovery_rate(s, 2024) == round(100 * 1242 / 7455, 2)
        service.record_payment(s, jiro, insurer_id=world, paid_on=date(2025, 3, 10), amount_yen=1243, actor="t")
        assert s.get(RefundCase, jiro).status == "paid"
        with pytest.raises(service.ClaimsError, match="not time-barred"):
            service.write_off(s, saburo, insurer_id=world, on=date(2026, 1, 1), reason="時効")
        service.write_off(s, saburo, insurer_id=world, on=date(2030, 1, 15), reason="時効")
        assert service.refund_recovery_rate(s, 2024) == round(100 * 2485 / 7455, 2)
        assert service.refund_recovery_rate(s, 2023) is None
        with pytest.raises(LookupError):  # another insurer's staff never reach it
            service.notice(s, jiro, insurer_id=world + 99, noticed_on=date(2025, 1, 15))


def test_eligibility_checks_list_ratio_dependent_and_insurer(world, tmp_path):
    rep = import_claims(write_claims(tmp_path, "oct.csv", [
        line(claim_number="1", month="2024-10", care_days="7", copay_ratio="2"),        # 太郎 is 3割
        line(claim_number="2", month="2024-10", care_days="15", branch="01", birth_date="1972-05-05"),  # 花子
    ]))
    assert rep.ok, rep.errors
    rep = import_claims(write_claims(tmp_path, "dec.csv", [
        line(claim_number="9", month="2024-12", care_days="3", **{k: SABURO[k] for k in ("number", "birth_date")}),
    ]))
    assert rep.ok, rep.errors
    with unit_of_work() as s:
        oct_ = service.check_month(s, insurer_id=world, month="2024-10")
        dec = service.check_month(s, insurer_id=world, month="2024-12")
        nov = service.check_month(s, insurer_id=world, month="2024-11")
    assert sorted(f.reason for f in oct_) == ["not_dependent", "ratio"]
    assert [(f.reason, f.responsible_insurer_number) for f in dec] == [("wrong_insurer", OTHER_INSURER)]
    assert [f.reason for f in nov] == ["wrong_insurer"]  # 三郎 in November; 太郎/次郎 are 返納金 without another insurer
    with unit_of_work() as s:  # a second run replaces, never duplicates
        service.check_month(s, insurer_id=world, month="2024-10")
        assert len(s.scalars(select(EligibilityFinding).where(EligibilityFinding.month == "2024-10")).all()) == 2
        listed = service.findings(s, insurer_id=world, month="2024-10", actor_kind="user", actor_id="clerk")
    assert {name for _f, _c, name in listed} == {"厚労　太郎", "厚労　花子"}
