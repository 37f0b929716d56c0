"""The set-based care-after-loss match (:mod:`onshi.claims.match_fast`) opens exactly the cases of the reference
(:func:`onshi.claims.service.match_care_after_loss`), field for field, on both databases.

On top of the registry events of tests/claims/test_refunds.py (a late registration → ours; a loss mid-month → the
member; a new insurer → 保険者間調整) the month also holds: a dependent who stopped being one, a member who turns 75
in the middle of the month (後期高齢者医療: the 75th birthday is the loss), a claim whose days are all covered, and a claim that already has its case (a second run opens nothing).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import delete, select

from onshi.claims import match_fast, service
from onshi.claims.models import RefundCase
from onshi.exchange.publish import publish_batch
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from tests.claims.helpers import import_claims, line, write_claims
from tests.claims.test_refunds import world  # noqa: F401 - the registry events and claims of November 2024
from tests.registry.helpers import acquisition, load, write

COLUMNS = ("claim_id", "insurer_id", "person_id", "qualification_id", "month", "loss_date", "days_after_loss",
           "days_valid_then", "amount_yen", "debtor", "new_insurer_number", "status", "found_on")
ELDER = dict(number="104", my_number="345678901234", name="長寿　四郎", name_kana="チョウジュ　シロウ",
             birth_date="1949-11-10")  # 75 on 2024-11-10


def cases() -> list[tuple]:
    with unit_of_work() as s:
        return sorted(tuple(getattr(c, k) for k in COLUMNS) for c in s.scalars(select(RefundCase)))


def more_claims(tmp_path) -> None:
    rep = load(write(tmp_path, "elder.csv", T.acquisition, [acquisition(acquisition_date="2020-04-01", **ELDER)]),
               T.acquisition, received_at=datetime(2024, 9, 30))
    assert rep.applied == 1, rep
    with unit_of_work() as s:
        publish_batch(s, now=datetime(2024, 10, 2, 3, 0))
    other = {"institution_code": "1310000029"}  # the first clinic's November is imported already
    rep = import_claims(write_claims(tmp_path, "more.csv", [
        line(claim_number="4", care_days="5;20", branch="01", birth_date="1972-05-05", **other),  # 花子: no longer a dependent
        line(claim_number="5", care_days="5;9;10;20", points="1000", patient_share="3000", **other,
             **{k: ELDER[k] for k in ("number", "birth_date")}),                                # turns 75 on the 10th
        line(claim_number="6", care_days="3;4", number="104", birth_date="1949-11-10", month="2024-10", **other),
    ]))
    assert rep.claims_applied >= 3, rep.errors


def test_the_set_based_match_opens_the_reference_cases(world, tmp_path):  # noqa: F811
    more_claims(tmp_path)
    for month in ("2024-10", "2024-11"):
        with unit_of_work() as s:
            fast = match_fast.match_care_after_loss(s, insurer_id=world, month=month, today=date(2025, 1, 10))
        got = cases()
        with unit_of_work() as s:
            s.execute(delete(RefundCase))
        with unit_of_work() as s:
            ref = service.match_care_after_loss(s, insurer_id=world, month=month, today=date(2025, 1, 10))
        assert cases() == got and len(fast) == len(ref)
        with unit_of_work() as s:
            s.execute(delete(RefundCase))
    with unit_of_work() as s:
        match_fast.match_care_after_loss(s, insurer_id=world, month="2024-11", today=date(2025, 1, 10))
    # (debtor, days after loss, of those 有効 as registered then, loss date, amount)
    assert sorted((c[9], tuple(c[6]), tuple(c[7]), c[5], c[8]) for c in cases()) == [
        ("member", ("2024-11-10", "2024-11-20"), (), date(2024, 11, 10), 7000 * 2 // 4),  # 四郎: 75 on the 10th
        ("member", ("2024-11-20",), (), date(2024, 11, 15), 2485),                         # 次郎
        ("new_insurer", ("2024-11-20",), (), date(2024, 11, 1), 4970),                     # 三郎
        ("ours", ("2024-11-05", "2024-11-20"), ("2024-11-05",), date(2024, 10, 1), 1410),  # 花子: registered 16 Nov
        ("ours", ("2024-11-05", "2024-11-20"), ("2024-11-05", "2024-11-20"), date(2024, 11, 1), 4970),  # 太郎
    ]
    with unit_of_work() as s:  # again: nothing new, on either path
        assert match_fast.match_care_after_loss(s, insurer_id=world, month="2024-11") == []
        assert service.match_care_after_loss(s, insurer_id=world, month="2024-11") == []
