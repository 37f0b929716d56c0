"""Every 資格有効性 outcome, reached from registry events, on both databases."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import select

from onshi.exchange.publish import publish_all
from onshi.privacy.models import AuditEntry
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from onshi.verify import service
from onshi.verify.models import VerificationLogEntry
from onshi.verify.result import ReferenceClass, Validity, VerificationError, VerificationRequest

from tests.registry.helpers import (
    INSURER,
    OTHER_INSURER,
    SYMBOL,
    acquisition,
    dependent,
    load,
    numbers,
    setup_insurers,
    write,
)

CLINIC = "1310000011"


@pytest.fixture
def world(engine, tmp_path):
    setup_insurers(tmp_path)
    with unit_of_work() as s:
        inst, token = service.add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
    return tmp_path


def ask(day: date, *, insurer=INSURER, symbol=SYMBOL, number="101", branch="00", birth=date(1970, 1, 1),
        consent=False):
    req = VerificationRequest(reference_class=ReferenceClass.NUMBERS, care_date=day, institution_code=CLINIC,
                              arbitrary_file_identifier=None, insurer_number=insurer, symbol=symbol, number=number,
                              branch=branch, birth_date=birth, limit_consent=consent, arbitrary_identifier="p1")
    with unit_of_work() as s:
        inst = s.scalar(select(service.Institution).where(service.Institution.code == CLINIC))
        return service.verify(s, req, inst, now=datetime(2024, 11, 20, 10, 0))


def test_lifecycle_reaches_every_validity(world):
    day = date(2024, 11, 20)
    load(write(world, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    # enrolled, not registered yet: the clinic sees nothing
    assert ask(day).validity == Validity.NOT_FOUND
    publish_all()
    out = ask(day)
    assert out.validity == Validity.VALID and len(out.answers) == 1
    a = out.answers[0]
    assert (a.name, a.insurer_number, a.branch, a.co_pay_ratio_tenths) == ("厚労　太郎", INSURER, "00", 3)
    assert a.arbitrary_identifier == "p1"
    # lost: 無効
    load(write(world, "l.csv", T.loss, [numbers(loss_date="2024-11-01", loss_reason="99")]), T.loss)
    publish_all()
    out = ask(day)
    assert out.validity == Validity.INVALID and out.answers[0].disqualification_date == date(2024, 11, 1)
    assert ask(date(2024, 10, 31)).validity == Validity.VALID  # the last insured day
    # enrolled elsewhere: the old numbers answer 無効（新しい資格あり）
    load(write(world, "b.csv", T.acquisition, [acquisition(insurer_number=OTHER_INSURER, employer_symbol="9001",
                                                           number="7", acquisition_date="2024-11-01")]),
         T.acquisition)
    publish_all()
    assert ask(day).validity == Validity.INVALID_NEWER_EXISTS
    assert ask(day, insurer=OTHER_INSURER, symbol="9001", number="7").validity == Validity.VALID


def test_job_change_before_the_old_loss_is_registered(world):
    load(write(world, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    load(write(world, "b.csv", T.acquisition, [acquisition(insurer_number=OTHER_INSURER, employer_symbol="9001",
                                                           number="7", acquisition_date="2024-11-01")]),
         T.acquisition)
    publish_all()
    assert ask(date(2024, 11, 20)).validity == Validity.INVALID_NEWER_EXISTS
    assert ask(date(2024, 10, 31)).validity == Validity.VALID


def test_numbers_without_branch_matching_two_people_is_multiple(world):
    load(write(world, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    twins = [dependent(branch="01", my_number="111111111118", name="厚労　一郎", name_kana="コウロウ　イチロウ",
                       birth_date="2015-06-01", sex="1"),
             dependent(branch="02", my_number="123456789018", name="厚労　二郎", name_kana="コウロウ　ジロウ",
                       birth_date="2015-06-01", sex="1")]
    load(write(world, "d.csv", T.dependent, twins), T.dependent)
    publish_all()
    day = date(2024, 11, 20)
    assert ask(day, branch=None, birth=date(2015, 6, 1)).validity == Validity.MULTIPLE
    out = ask(day, branch="02", birth=date(2015, 6, 1))
    assert out.validity == Validity.VALID and out.answers[0].name == "厚労　二郎"
    assert out.answers[0].insured_name == "厚労　太郎" and int(out.answers[0].personal_family) == 2
    assert ask(day, branch=None).validity == Validity.VALID  # the member alone has this birth date


def test_wrong_birth_date_or_care_before_acquisition_is_not_found(world):
    load(write(world, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    publish_all()
    assert ask(date(2024, 11, 20), birth=date(1970, 1, 2)).validity == Validity.NOT_FOUND
    assert ask(date(2024, 3, 31)).validity == Validity.NOT_FOUND


def test_far_future_care_date_is_an_error(world):
    with pytest.raises(VerificationError) as exc:
        ask(date(2025, 12, 31))
    assert exc.value.field == "QualificationConfirmationDate"


def test_every_verification_is_logged_without_personal_data_and_reads_are_audited(world, session):
    load(write(world, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    publish_all()
    ask(date(2024, 11, 20))
    ask(date(2024, 11, 20), number="999")
    logs = list(session.scalars(select(VerificationLogEntry).order_by(VerificationLogEntry.id)))
    assert [(e.method, e.validity, e.facility_type, e.prefecture_code) for e in logs] == [
        ("numbers", 1, "clinic", "13"), ("numbers", 4, "clinic", "13")]
    cols = set(VerificationLogEntry.__table__.columns.keys())
    assert not cols & {"name", "name_kana", "number", "symbol", "my_number", "person_id"}
    audits = list(session.scalars(select(AuditEntry).where(AuditEntry.actor_kind == "institution")))
    assert len(audits) == 1 and audits[0].actor_id == CLINIC


def test_seventy_to_seventy_four_and_preschool_ratios(world):
    rows = [acquisition(birth_date="1953-11-02", number="201", my_number="", monthly_remuneration="300000",
                        acquisition_date="2020-04-01"),
            acquisition(birth_date="1953-11-02", number="202", my_number="", name="高齢　次郎",
                        monthly_remuneration="260000", acquisition_date="2020-04-01")]
    load(write(world, "a.csv", T.acquisition, rows), T.acquisition)
    load(write(world, "d.csv", T.dependent, [dependent(number="202", branch="01", my_number="", birth_date="2019-05-05", effective_date="2020-04-01",
                                                       name="高齢　ゆい", name_kana="コウレイ　ユイ")]), T.dependent)
    publish_all()
    # turns 70 on 2023-11-01 (the day before the 70th birthday) → 高齢受給者 from 2023-12-01
    rich = ask(date(2024, 11, 20), number="201", birth=date(1953, 11, 2))
    assert rich.answers[0].co_pay_ratio_tenths == 3 and rich.answers[0].elderly is not None
    assert rich.answers[0].elderly.valid_from == date(2023, 12, 1)
    general = ask(date(2024, 11, 20), number="202", birth=date(1953, 11, 2))
    assert general.answers[0].co_pay_ratio_tenths == 2
    child = ask(date(2024, 11, 20), number="202", branch="01", birth=date(2019, 5, 5))
    assert child.answers[0].co_pay_ratio_tenths == 2 and child.answers[0].preschool


def test_limit_data_only_with_consent(world):
    load(write(world, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    load(write(world, "l.csv", T.limit_application, [numbers(application_date="2024-10-15", tax_exempt="0",
                                                             low_income_1="0", income_exemption="0")]),
         T.limit_application)
    publish_all()
    assert ask(date(2024, 11, 20)).answers[0].limit is None
    with_consent = ask(date(2024, 11, 20), consent=True).answers[0]
    assert with_consent.limit is not None and with_consent.limit.category_code == "A03"
    assert with_consent.limit_consent is not None


def test_how_far_ahead_counts_from_the_clinics_day_not_the_utc_one(world):
    """08:30 in Japan on 23 Nov is 23:30 UTC on 22 Nov: care dates are checked against 23 Nov (+31 days)."""
    req = lambda day: VerificationRequest(  # noqa: E731
        reference_class=ReferenceClass.NUMBERS, care_date=day, institution_code=CLINIC, arbitrary_file_identifier=None,
        insurer_number=INSURER, symbol=SYMBOL, number="101", branch="00", birth_date=date(1970, 1, 1),
        limit_consent=False, arbitrary_identifier="p1")
    early_morning = datetime(2026, 11, 22, 23, 30)
    with unit_of_work() as s:
        inst = s.scalar(select(service.Institution).where(service.Institution.code == CLINIC))
        assert service.verify(s, req(date(2026, 12, 24)), inst, now=early_morning).validity == Validity.NOT_FOUND
        with pytest.raises(VerificationError):
            service.verify(s, req(date(2026, 12, 25)), inst, now=early_morning)
