"""The 文書 page's warning of certificates falling due (``documents.mailing_view.falling_due``, columns only) counts
what the reference counts (``falling_due_by_facts``, the daily run's bulk facts), on both databases: people with no
My Number, with a working card, a cancelled card and an expired one, a qualification lost before its due day,
another insurer's member, a certificate already issued, applications — on each day around the filings."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from onshi.documents import mailing_view
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from tests.registry.helpers import (INSURER, OTHER_INSURER, acquisition, dependent, load, numbers, setup_insurers,
                                   write)

THURSDAY = datetime(2026, 12, 3, 1, 0)   # 10:00 JST Thursday 3 December: due Friday 4 December
FRIDAY = datetime(2026, 12, 4, 14, 59)   # 23:59 JST Friday 4 December: due Monday 7 December
SATURDAY = datetime(2026, 12, 4, 15, 0)  # 00:00 JST Saturday 5 December: due Monday 7 December too
KANA = ["イチ", "ニ", "サン", "シ", "ゴ", "ロク", "シチ", "ハチ", "ク"]


def _mn(body: str) -> str:
    from stdnum.jp import in_

    return body + in_.calc_check_digit(body)


def _person(i: int, my_number: str = "", **over) -> dict:
    return acquisition(number=str(300 + i), my_number=my_number, name=f"予定　{KANA[i]}",
                       name_kana=f"ヨテイ　{KANA[i]}", acquisition_date="2026-11-01", **over)


def test_falling_due_equals_the_reference(engine, tmp_path):
    from onshi.documents.service import apply_for_certificate, daily_run
    from onshi.exchange import cards
    from onshi.registry import service as registry

    setup_insurers(tmp_path)
    assert load(write(tmp_path, "thu.csv", T.acquisition, [_person(0), _person(1)]), T.acquisition,
                received_at=THURSDAY).ok
    assert load(write(tmp_path, "fri.csv", T.acquisition, [
        _person(2),                                                          # no My Number: due
        _person(3, _mn("30000000003")),                                      # working card: not due
        _person(4, _mn("40000000004")),                                      # cancelled card: due
        _person(5, _mn("50000000005")),                                      # expired card: due
        _person(6, _mn("60000000006")),                                      # My Number, no card: due
        _person(7, insurer_number=OTHER_INSURER, employer_symbol="9001"),    # the other insurer's
    ]), T.acquisition, received_at=FRIDAY).ok
    assert load(write(tmp_path, "sat.csv", T.acquisition, [_person(8)]), T.acquisition, received_at=SATURDAY).ok
    assert load(write(tmp_path, "dep.csv", T.dependent, [
        dependent(number="302", branch="01", my_number="", effective_date="2026-11-01")]), T.dependent,
        received_at=SATURDAY).ok
    assert load(write(tmp_path, "loss.csv", T.loss, [numbers(number="308", loss_date="2026-12-05", loss_reason="99")]),
                T.loss, received_at=SATURDAY).ok
    with unit_of_work() as s:
        cards.register_card(s, my_number=_mn("30000000003"), certificate_serial="FD-3",
                            certificate_expires_on=date(2030, 1, 1))
        cards.register_card(s, my_number=_mn("40000000004"), certificate_serial="FD-4",
                            certificate_expires_on=date(2030, 1, 1))
        cards.cancel_card(s, "FD-4", reason="lost", now=datetime(2026, 11, 20))
        cards.register_card(s, my_number=_mn("50000000005"), certificate_serial="FD-5",
                            certificate_expires_on=date(2025, 1, 1))
        daily_run(s, date(2026, 12, 4), tmp_path / "out", actor="test")  # Thursday's two: issued, no longer due
        ins = registry.get_insurer(s, number=INSURER)
        other = registry.get_insurer(s, number=OTHER_INSURER)
        q301 = registry.current_by_numbers(s, insurer_id=ins.id, symbol="10000001", number="301", branch="00")
        apply_for_certificate(s, qualification_id=q301.qualification_id, applied_on=date(2026, 12, 4),
                              reason="card_lost", applicant="test")
        q307 = registry.current_by_numbers(s, insurer_id=other.id, symbol="9001", number="307", branch="00")
        apply_for_certificate(s, qualification_id=q307.qualification_id, applied_on=date(2026, 12, 4),
                              reason="card_lost", applicant="test")
    with unit_of_work() as s:
        seen = {}
        for day in [date(2026, 12, 1) + timedelta(days=n) for n in range(20)]:
            for insurer in (ins.id, other.id):
                expected = mailing_view.falling_due_by_facts(s, insurer, day)
                assert mailing_view.falling_due(s, insurer, day) == expected, (day, insurer)
                seen[(day, insurer)] = dict(expected)
    # what the reference says on Friday 4 December: Monday 7 December has no-My-Number 302, cancelled 304, expired
    # 305, no-card 306, the dependent filed on Saturday (308 lost its qualification first) and 301's application
    assert seen[(date(2026, 12, 4), ins.id)][date(2026, 12, 7)] == 6
    assert seen[(date(2026, 12, 4), other.id)][date(2026, 12, 7)] == 2  # 307 and its application
