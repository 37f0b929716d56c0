"""高額療養費: 多数回該当 from the claims domain when it holds the household's claims, else the declared months; and a
70–74 household decided from the registry, on both databases.

厚労 太郎 (101, born 1970-01-01, 標準報酬月額 440,000 from 2025-09 → ウ) applies for March 2026: 本人 入院 150,000円 on a
total cost of 500,000円 — above ウ's ceiling of 82,430円 (80,100 + 2,330), so 67,570円, or 105,600円 (150,000 − 44,400)
when it is the 4th month with a refund in 12.
"""

from __future__ import annotations

from datetime import date

from onshi.benefits import service
from onshi.claims.service import high_cost_months
from onshi.store.db import unit_of_work
from tests.benefits.conftest import app_input
from tests.claims.helpers import import_claims, line, load_master, write_claims

MARCH = [{"person": "本人", "institution": "A病院 入院", "paid": 150_000, "total_cost": 500_000, "inpatient": True}]


def _claims(tmp_path, months: list[str], paid: int = 150_000) -> None:
    """One 入院 claim of 太郎 per month: 50,000 points (500,000円), his share *paid*."""
    load_master()
    rows = [line(month=m, claim_number=str(i), setting="入院", care_days="5;6;7", patient_share=str(paid),
                 points="50000") for i, m in enumerate(months, 1)]
    report = import_claims(write_claims(tmp_path, "claims.csv", rows), today=date(2026, 4, 30))
    assert report.claims_applied == len(months), report


def _decide(members, claims, key: str | None = None, **details) -> service.BenefitApplication:
    with unit_of_work() as s:
        a = service.receive(s, app_input("high_cost", details={"month": "2026-03", "items": MARCH, **details},
                                         source_key=key), insurer_id=members, actor="clerk")
        assert a.status == "complete", a.missing
        service.decide(s, a.id, on=date(2026, 5, 1), actor="clerk", claims=claims)
        s.expunge(a)
        return a


def test_without_claims_the_declared_months_count(members):
    assert _decide(members, high_cost_months).amount == 150_000 - 82_430  # nothing declared, no claims: not 多数回
    a = _decide(members, high_cost_months, refund_months=["2025-05", "2025-08", "2025-11"])
    assert a.amount == 150_000 - 44_400
    assert any("多数回該当の判定: 申請の申告 3か月" in line for line in a.explanation)
    # a declared month outside the 12 (April 2025 is 11 months before March 2026 … March 2025 is not)
    b = _decide(members, high_cost_months, refund_months=["2025-03", "2025-08", "2025-11"])
    assert b.amount == 150_000 - 82_430


def test_the_claims_decide_the_count_when_they_hold_the_household(members, tmp_path):
    _claims(tmp_path, ["2025-05", "2025-08", "2025-11"])
    a = _decide(members, high_cost_months)
    assert a.amount == 150_000 - 44_400
    assert any("レセプトから算定（3か月: 2025-05、2025-08、2025-11）" in line for line in a.explanation)
    # without the claims' function (a caller that does not pass it) the declared count stands
    assert _decide(members, None, key="y").amount == 150_000 - 82_430


def test_claims_override_a_declared_count(members, tmp_path):
    # two months with a refund, one below the ceiling (50,000 < 82,430): the claims say 2, the member declares 3
    _claims(tmp_path, ["2025-05", "2025-08"])
    _claims_low = [line(month="2025-11", claim_number="9", setting="入院", care_days="5", patient_share="50000",
                        points="50000")]
    assert import_claims(write_claims(tmp_path, "low.csv", _claims_low), today=date(2026, 4, 30)).claims_applied == 1
    a = _decide(members, high_cost_months, refund_months=["2025-05", "2025-08", "2025-11"])
    assert a.amount == 150_000 - 82_430
    assert any("レセプトから算定（2か月" in line for line in a.explanation)


def test_a_70_74_member_is_decided_with_the_elderly_limits(members):
    # the item names a person of 71 (a 70–74 household member): 一般 (the member is under 70), 外来 18,000 first
    items = [{"person": "父", "institution": "B医院 外来", "paid": 30_000, "total_cost": 150_000,
              "birth_date": "1954-06-15"}]
    with unit_of_work() as s:
        a = service.receive(s, app_input("high_cost", details={"month": "2026-03", "items": items}),
                            insurer_id=members, actor="clerk")
        service.decide(s, a.id, on=date(2026, 5, 1), actor="clerk")
        assert a.status == "decided" and a.amount == 12_000
        assert any("外来（個人単位）: 30,000円、限度額 18,000円" in line for line in a.explanation)
        # someone of 75 (後期高齢者) for the whole month: refused with the reason, nothing paid
        old = [{**items[0], "birth_date": "1951-03-01"}]
        b = service.receive(s, app_input("high_cost", details={"month": "2026-03", "items": old}, source_key="o"),
                            insurer_id=members, actor="clerk")
        service.decide(s, b.id, on=date(2026, 5, 1), actor="clerk")
        assert b.status == "refused" and "後期高齢者医療" in b.refused_reason


def test_bad_high_cost_details_keep_it_incomplete_naming_the_field(members):
    items = [{**MARCH[0], "birth_date": "1954-13-40"}]
    with unit_of_work() as s:
        a = service.receive(s, app_input("high_cost", details={
            "month": "2026-03", "items": items, "category": "Z9", "category_70": "A03",
            "refund_months": ["2025-5", "2025-08"]}), insurer_id=members, actor="clerk")
        assert a.status == "incomplete"
        reasons = {m["field"]: m["reason"] for m in a.missing}
        assert "1行目: 生年月日「1954-13-40」" in reasons["items"]
        assert "限度額区分「Z9」" in reasons["category"] and "「A03」" in reasons["category_70"]
        assert "「2025-5」" in reasons["refund_months"]


def test_a_batch_with_the_claims_decides_as_one_at_a_time_does(members, tmp_path):
    from sqlalchemy import select

    from onshi.benefits.models import BenefitApplication

    _claims(tmp_path, ["2025-05", "2025-08", "2025-11"])  # 太郎's household has claims; 桜's has none
    sakura = [{"person": "本人", "institution": "C病院 入院", "paid": 100_000, "total_cost": 400_000, "inpatient": True}]
    with unit_of_work() as s:
        for key, number, items, declared in (("t", "101", MARCH, []), ("s", "201", sakura, ["2025-06", "2025-09",
                                                                                          "2026-01"])):
            service.receive(s, app_input("high_cost", number=number, source_key=key, details={
                "month": "2026-03", "items": items, "refund_months": declared}), insurer_id=members, actor="clerk")
    with unit_of_work() as s:
        assert service.decide_batch(s, insurer_id=members, on=date(2026, 5, 1), actor="batch",
                                    claims=high_cost_months) == 2
    with unit_of_work() as s:
        got = {a.source_key: (a.status, a.amount) for a in s.scalars(select(BenefitApplication))}
    # 太郎: the claims' 3 months → 多数回 (44,400); 桜 (300,000 → ウ): no claims, her 3 declared months → 多数回
    assert got == {"t": ("decided", 150_000 - 44_400), "s": ("decided", 100_000 - 44_400)}
