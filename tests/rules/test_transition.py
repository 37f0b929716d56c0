"""The transition to マイナ保険証 (rules.transition) on its boundary days, and the 後期高齢者 rule in the documents'
decision (documents.facts.need_for, pure)."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

from onshi.documents.facts import need_for
from onshi.documents.issue_rules import LATE_ELDERLY_ALL
from onshi.rules.transition import (
    HOME_VISIT_REQUERY_MONTHS,
    LATE_ELDERLY_CERTIFICATE_FOR_ALL,
    OLD_CARD_LATEST,
    PROVISIONAL_BILLING,
    insurer_kind,
    late_elderly_certificate_for_all,
    old_card_valid_until,
    provisional_billing,
    requery_last_day,
)

KYOKAI, KUMIAI, KYOSAI, KOKUHO, TAISHOKU, KOUKI = "01130012", "06139992", "33120015", "138057", "67130013", "39131015"


@pytest.mark.parametrize(("number", "kind"), [(KYOKAI, "employee"), (KUMIAI, "employee"), (KYOSAI, "employee"),
                                              (KOKUHO, "national"), (TAISHOKU, "national"), (KOUKI, "late_elderly")])
def test_the_insurer_kind_comes_from_the_number(number, kind):
    assert insurer_kind(number) == kind


@pytest.mark.parametrize(("number", "latest"), [(KYOKAI, date(2025, 12, 1)), (KUMIAI, date(2025, 12, 1)),
                                                (KOKUHO, date(2025, 7, 31)), (KOUKI, date(2025, 7, 31))])
def test_an_old_card_works_to_its_printed_expiry_at_the_latest_the_kind_s_date(number, latest):
    assert old_card_valid_until(number) == latest
    assert old_card_valid_until(number, printed_expiry=latest.replace(day=1)) == latest.replace(day=1)  # earlier
    assert old_card_valid_until(number, printed_expiry=date(2027, 3, 31)) == latest  # cut at the latest
    assert OLD_CARD_LATEST.effective_from(date(2030, 1, 1)) == date(2024, 12, 2)


@pytest.mark.parametrize(("number", "day", "applies"), [
    # employee insurance: the cards lapse after 2025-12-01; the measure runs 2025-12-02 .. 2026-03-31
    (KYOKAI, date(2025, 12, 1), False), (KYOKAI, date(2025, 12, 2), True), (KYOKAI, date(2026, 3, 31), True),
    (KYOKAI, date(2026, 4, 1), False), (KUMIAI, date(2025, 12, 2), True),
    # 国保 and 後期高齢者: lapsed after 2025-07-31, the measure from 2025-08-01 (事務連絡 2025-06-27)
    (KOKUHO, date(2025, 7, 31), False), (KOKUHO, date(2025, 8, 1), True), (KOUKI, date(2025, 8, 1), True),
    (KOKUHO, date(2026, 3, 31), True), (KOUKI, date(2026, 4, 1), False),
    # before any old card lapsed, and before the first row (no 資格確認書 era yet): nothing
    (KYOKAI, date(2025, 8, 1), False), (KYOKAI, date(2024, 12, 1), False),
])
def test_the_provisional_billing_on_its_boundary_days(number, day, applies):
    rule = provisional_billing(number, day)
    assert (rule is not None) is applies
    if applies:
        assert rule.until == date(2026, 3, 31) and rule.lapsed_after == old_card_valid_until(number)


def test_the_provisional_billing_table_is_dated_as_its_sources():
    assert [d for d, _ in PROVISIONAL_BILLING.rows] == [date(2024, 12, 2), date(2025, 8, 1), date(2025, 12, 2),
                                                       date(2026, 4, 1)]
    assert PROVISIONAL_BILLING.at(date(2026, 4, 1)) == (frozenset(), None)


@pytest.mark.parametrize(("number", "day", "for_all"), [
    (KOUKI, date(2024, 12, 1), False), (KOUKI, date(2024, 12, 2), True), (KOUKI, date(2026, 7, 31), True),
    (KOUKI, date(2026, 8, 1), False), (KYOKAI, date(2025, 8, 1), False), (KOKUHO, date(2025, 8, 1), False),
    (KOUKI, date(2000, 1, 1), False),  # before the table's first row (2008-04-01): no
])
def test_every_late_elderly_member_gets_a_certificate_until_2026_07_31(number, day, for_all):
    assert late_elderly_certificate_for_all(number, day) is for_all
    assert LATE_ELDERLY_CERTIFICATE_FOR_ALL.at(date(2026, 7, 31)) is True


@pytest.mark.parametrize(("check", "last"), [
    (date(2026, 6, 10), date(2026, 9, 30)), (date(2026, 1, 31), date(2026, 4, 30)),
    (date(2025, 11, 30), date(2026, 2, 28)), (date(2023, 12, 1), date(2024, 3, 31)),
])
def test_the_home_visit_requery_period(check, last):
    assert requery_last_day(check) == last


def test_the_requery_period_starts_with_the_requery():
    from onshi.rules.dated import NotInForce

    assert HOME_VISIT_REQUERY_MONTHS.at(date(2023, 12, 1)) == 3
    with pytest.raises(NotInForce):  # 再照会 exists from 2023-12-01 (療担規則 as amended)
        requery_last_day(date(2023, 11, 30))


# ---------------------------------------------------------------- the documents' decision (pure)

def _person(with_number=True):
    return SimpleNamespace(my_number_hash=b"x" if with_number else None)


def _card(expires=date(2030, 1, 1), cancelled_at=None):
    return SimpleNamespace(certificate_expires_on=expires, cancelled_at=cancelled_at, kind="card")


@pytest.mark.parametrize(("day", "reason"), [(date(2026, 7, 31), LATE_ELDERLY_ALL), (date(2026, 8, 1), None)])
def test_a_late_elderly_member_with_a_working_card_gets_a_certificate_until_the_end(day, reason):
    assert need_for(_person(), [_card()], day, insurer_number=KOUKI) == reason


def test_the_rule_changes_nothing_for_other_insurers_or_for_those_without_a_card():
    assert need_for(_person(), [_card()], date(2026, 1, 5), insurer_number=KYOKAI) is None
    assert need_for(_person(), [_card()], date(2026, 1, 5)) is None  # insurer unknown: the card decides
    assert need_for(_person(), [], date(2026, 1, 5), insurer_number=KOUKI) == "no_card"
    assert need_for(_person(False), [], date(2026, 8, 1), insurer_number=KOUKI) == "no_my_number"
