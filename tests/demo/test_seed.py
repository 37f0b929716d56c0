"""The synthetic population (`onshi demo seed`): deterministic, written as intake files in both encodings, imported
without a rejected row, and showing every rule the registry knows — on both databases.  The seeded registry also
checks that a mailing run's bundle-wide notice data equals the one-notice-at-a-time path."""

from __future__ import annotations

import csv
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from onshi.demo.seed import ORDER, add_years, generate, write_files
from onshi.registry import service as registry
from onshi.registry.intake import LAYOUTS
from onshi.registry.models import NotificationType as T
from onshi.registry.models import Insurer, QualificationVersion, RegistryChange, Role
from onshi.rules.co_pay import NotCovered
from onshi.store.db import unit_of_work

TODAY = date(2026, 11, 23)
MEMBERS = 300


def test_the_same_seed_gives_the_same_population_and_another_seed_another():
    one, again, other = generate(120, 7, TODAY), generate(120, 7, TODAY), generate(120, 8, TODAY)
    assert one.files == again.files
    assert one.files[T.acquisition] != other.files[T.acquisition]
    assert len(one.files[T.acquisition]) >= 120 + 3  # the members, the showcase people and job changes


@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
def test_the_population_is_written_as_intake_files_in_import_order(tmp_path, encoding):
    pop = generate(80, 3, TODAY)
    written = write_files(pop, tmp_path, encoding=encoding)
    assert [t for t, _ in written] == [t for t in ORDER if pop.files[t]]
    for ntype, path in written:
        with path.open(encoding=encoding, newline="") as fh:
            reader = csv.DictReader(fh)
            assert reader.fieldnames == list(LAYOUTS[ntype])
            assert list(reader) == pop.files[ntype]


@pytest.fixture
def seeded(engine, tmp_path):
    from onshi.demo.cli import seed_database

    reports = seed_database(MEMBERS, 11, TODAY, files_dir=tmp_path / "files")
    return reports


def test_the_seeded_files_import_without_a_rejected_row(seeded):
    assert set(seeded) == {t.value for t in ORDER}
    for kind, report in seeded.items():
        assert report.rows_total > 0 and report.rejected == 0, (kind, [str(e) for e in report.errors[:3]])
        assert report.applied + report.duplicate == report.rows_total


def test_the_seeded_registry_shows_every_rule(seeded, session):
    current = registry.qualification_versions(session, about_day=TODAY)
    ratios, preschool, elderly_ratios, turning_75 = set(), 0, set(), 0
    for qv in current:
        try:
            cp = registry.co_pay_on(session, qv, TODAY)
        except NotCovered:
            continue
        ratios.add(cp.ratio_tenths)
        preschool += cp.preschool
        if cp.elderly:
            elderly_ratios.add(cp.ratio_tenths)
        pv = registry.person_on(session, qv.person_id)
        birthday_75 = add_years(pv.birth_date, 75)
        turning_75 += qv.role == Role.insured and TODAY < birthday_75 <= TODAY + timedelta(days=90)
    assert ratios == {2, 3}
    assert preschool > 0  # 未就学: 2割
    assert elderly_ratios == {2, 3}  # 70–74: 2割, or 3割 with 標準報酬月額 ≥ 28万
    assert turning_75 > 0  # loses the qualification at 75 (後期高齢者医療)
    assert any(qv.role == Role.dependent for qv in current)
    # a loss recorded weeks after the fact (retroactive), and people who moved to another insurer
    losses = session.execute(select(RegistryChange.received_at, QualificationVersion.loss_date).join(
        QualificationVersion, QualificationVersion.qualification_id == RegistryChange.qualification_id).where(
        RegistryChange.kind == T.loss, QualificationVersion.superseded_at.is_(None))).all()
    assert any(loss < received.date() - timedelta(days=14) for received, loss in losses)
    insurers_of = session.execute(select(QualificationVersion.person_id,
                                         func.count(func.distinct(QualificationVersion.insurer_id)))
                                  .where(QualificationVersion.superseded_at.is_(None))
                                  .group_by(QualificationVersion.person_id)).all()
    assert any(n > 1 for _, n in insurers_of)


def test_a_bundle_s_notice_data_equals_one_notice_at_a_time(seeded, session):
    """documents.service.notices_data reads a whole bundle in a few statements; it must print exactly what
    notice_data prints for each member — ratios, dependents, My Number's last 4 digits, a link in doubt."""
    from onshi.documents import service as documents
    from onshi.exchange.models import LinkageCheck
    from onshi.registry.models import Person

    doubtful = session.scalars(select(Person.id).where(Person.my_number_enc.is_not(None))
                               .order_by(Person.id).limit(3)).all()
    with unit_of_work() as s:
        for pid in doubtful:  # an open mismatch: the last 4 digits print blank
            s.add(LinkageCheck(person_id=pid, my_number_hash="0" * 64, extract_file="x.csv", row_number=1,
                               checked_at=datetime(2026, 11, 1), status="mismatch"))
    compared = 0
    for insurer in session.scalars(select(Insurer)):
        for emp in registry.list_employers(session, insurer_id=insurer.id):
            for day in (TODAY, date(2027, 1, 4)):
                qvs = registry.qualification_versions(session, insurer_id=insurer.id, about_day=day,
                                                      employer_id=emp.id)
                one_by_one = [documents.notice_data(session, qv, day, emp) for qv in qvs]
                assert documents.notices_data(session, qvs, day, emp) == one_by_one
                compared += len(qvs)
    assert compared > 2 * MEMBERS
    printed = [documents.notice_data(session, qv, TODAY, None)
               for qv in registry.qualification_versions(session, about_day=TODAY)
               if qv.person_id in doubtful]
    assert printed and all(n.my_number_last4 is None for n in printed)


def outcome(fn, *args):
    try:
        return fn(*args)
    except ValueError as exc:  # e.g. a certificate that would end before it starts: the same refusal either way
        return repr(exc)


def test_the_daily_run_s_bulk_reads_answer_as_the_one_at_a_time_checks(seeded, session):
    """documents.facts.Facts (what a daily run reads for all holders and enrolments at once) gives the same
    certificate need, co-pay ratio and printed certificate as certificate_need, co_pay_on and certificate_data — with cards valid, in their grace period,
    expired and cancelled, before and after the year end (29 Dec – 3 Jan, a card expiring on 31 Dec)."""
    from onshi.documents import service as documents
    from onshi.exchange import cards as card_service
    from onshi.privacy.crypto import vault
    from onshi.registry.models import Person

    people = session.scalars(select(Person).where(Person.my_number_enc.is_not(None)).order_by(Person.id)
                             .limit(40)).all()
    expiries = [date(2026, 12, 31), date(2026, 9, 30), date(2025, 1, 31), date(2030, 5, 5)]
    with unit_of_work() as s:
        for i, person in enumerate(people):
            card_service.register_card(s, my_number=vault().reveal(person.my_number_enc),
                                       certificate_serial=f"SERIAL{i:04d}", certificate_expires_on=expiries[i % 4],
                                       now=datetime(2024, 1, 1))
            if i % 5 == 0:
                card_service.cancel_card(s, f"SERIAL{i:04d}", reason="lost", now=datetime(2026, 11, 1))
    with_card = {p.id for p in people}
    qvs = [qv for i, qv in enumerate(registry.qualification_versions(session))  # a third, and every card holder
           if i % 3 == 0 or qv.person_id in with_card]
    for day in (TODAY, date(2027, 1, 4)):
        facts = documents.Facts(session, qvs, day, cards=True)
        needs, expected = [], []
        for qv in qvs:
            needs.append(facts.need(qv))
            expected.append(documents.certificate_need(session, qv, day))
            try:
                ratio = registry.co_pay_on(session, qv, day).ratio_tenths
            except ValueError:
                ratio = None
            assert facts.ratio(qv) == ratio, (qv.qualification_id, day)
            assert outcome(documents.certificate_data, session, qv, day, facts) == \
                outcome(documents.certificate_data, session, qv, day)
        assert needs == expected
        assert {None, "no_card", "no_my_number", "card_cancelled"} <= set(needs)
    assert "card_expired" in {documents.Facts(session, qvs, date(2027, 6, 1), cards=True).need(qv) for qv in qvs}
