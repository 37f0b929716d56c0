"""The application's life on both databases: checks per field, the state machine, the calculation from the
registry's history, nothing paid twice, approvals, the transfer file, the board, the KPI actuals and the audit."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from onshi.benefits import service, zengin
from onshi.benefits.models import BankAccount, BenefitApplication, BenefitEvent, BenefitPayment
from onshi.privacy import audit
from onshi.store.db import unit_of_work
from tests.benefits.conftest import BANK, app_input

SICK = {"incapacity_from": "2026-04-03", "period_from": "2026-04-03", "period_to": "2026-04-30"}


def receive(insurer_id, inp):
    with unit_of_work() as s:
        app = service.receive(s, inp, insurer_id=insurer_id, actor="clerk")
        return app.id, app.status, list(app.missing), app.complete_on


def reasons(missing):
    return " ".join(m["reason"] for m in missing)


def test_a_complete_sickness_application_is_decided_from_the_registry_history_and_paid_once(members):
    _, status, missing, complete_on = receive(members, app_input("sickness", details=dict(SICK), employer_cert={
        "certified_on": "2026-04-28", "wages": {"2026-04-10": 3000}}))
    assert (status, missing, complete_on) == ("complete", [], date(2026, 4, 30))
    with unit_of_work() as s:
        [app] = s.scalars(select(BenefitApplication)).all()
        service.decide(s, app.id, on=date(2026, 5, 1), actor="clerk")
        # 12 months May 2025 – Apr 2026: 4 × 410,000 + 8 × 440,000 = 5,160,000 ÷ 12 = 430,000 → 14,330 → 9,553
        # 待期 3–5 Apr (Fri–Sun); 6–30 Apr = 25 days; 10 Apr less 3,000 of wages
        assert app.status == "decided" and app.amount == 25 * 9553 - 3000 and app.paid_days == 25
        assert any("待期: 2026-04-03 〜 2026-04-05" in line for line in app.explanation)
        assert any("9,553円" in line for line in app.explanation)
    with unit_of_work() as s:
        run = service.pay(s, insurer_id=members, on=date(2026, 5, 1), actor="clerk")
        assert run.paid == [app.id] and run.batch.total == app.amount
        records = zengin.parse_records(run.file)
        assert [rec[:1] for rec in records] == [b"1", b"2", b"8", b"9"]
        assert records[1][1:5] == b"0005" and records[1][20:23] == b"123" and records[1][42:43] == b"1"
        assert records[1][43:50] == b"7654321" and records[1][80:90] == f"{app.amount:010d}".encode()
        assert records[2][1:7] == b"000001" and records[2][7:19] == f"{app.amount:012d}".encode()
    with unit_of_work() as s:
        again = service.pay(s, insurer_id=members, on=date(2026, 5, 2), actor="clerk")
        assert again.paid == [] and again.file == b""
        assert s.scalar(select(BenefitApplication.status)) == "paid"
        assert s.scalar(select(BenefitApplication.paid_on)) == date(2026, 5, 7)  # next business day after GW
        assert len(s.scalars(select(BenefitPayment)).all()) == 1
        with pytest.raises(service.StateError):
            service.decide(s, app.id, on=date(2026, 5, 2), actor="clerk")
        events = [e.to_status for e in s.scalars(select(BenefitEvent).order_by(BenefitEvent.id))]
        assert events == ["received", "complete", "decided", "paid"]


def test_the_same_input_twice_makes_one_application(members):
    first = receive(members, app_input("burial", source_key="employer-api:1", attachments=["埋葬許可証"],
                                       details={"death_date": "2026-04-01"}))
    second = receive(members, app_input("burial", source_key="employer-api:1", attachments=["埋葬許可証"],
                                        details={"death_date": "2026-04-01"}))
    assert first[0] == second[0]
    with unit_of_work() as s:
        assert len(s.scalars(select(BenefitApplication)).all()) == 1
        assert len(s.scalars(select(BankAccount)).all()) == 1


def test_missing_certifications_keep_it_incomplete_and_the_clock_starts_when_supplemented(members):
    app_id, status, missing, complete_on = receive(members, app_input(
        "sickness", details=dict(SICK), doctor_cert=None, employer_cert=None))
    assert status == "incomplete" and complete_on is None
    assert {m["field"] for m in missing} == {"doctor_cert", "employer_cert"}
    assert "医師" in reasons(missing) and "事業主" in reasons(missing)
    with unit_of_work() as s:
        with pytest.raises(service.StateError):
            service.decide(s, app_id, on=date(2026, 5, 1), actor="clerk")
        app = service.supplement(s, app_id, on=date(2026, 5, 8), actor="clerk",
                                 doctor_cert={"certified_on": "2026-05-07"})
        assert app.status == "incomplete" and [m["field"] for m in app.missing] == ["employer_cert"]
        app = service.supplement(s, app_id, on=date(2026, 5, 11), actor="clerk",
                                 employer_cert={"certified_on": "2026-05-10"})
        assert app.status == "complete" and app.complete_on == date(2026, 5, 11)


def test_days_before_the_qualification_and_after_its_loss(members):
    # 桜 joined on 2025-06-01
    _, status, missing, _ = receive(members, app_input("sickness", number="201", details={
        "incapacity_from": "2025-05-20", "period_from": "2025-05-20", "period_to": "2025-06-10"}))
    assert status == "incomplete" and "資格取得日 2025-06-01 より前" in reasons(missing)
    # 健 lost on 2026-03-01 after 2 years: an incapacity that began after the loss is not covered …
    _, status, missing, _ = receive(members, app_input("sickness", number="301", details={
        "incapacity_from": "2026-03-05", "period_from": "2026-03-05", "period_to": "2026-03-20"}))
    assert status == "incomplete" and "継続給付" in reasons(missing)
    # … one that began before it continues (継続給付)
    _, status, missing, _ = receive(members, app_input("sickness", number="301", details={
        "incapacity_from": "2026-02-20", "period_from": "2026-02-20", "period_to": "2026-03-04"}))
    assert status == "complete", missing


def test_overlapping_periods_and_a_dependant_claiming_sickness(members):
    receive(members, app_input("sickness", details=dict(SICK)))
    _, status, missing, _ = receive(members, app_input("sickness", channel="counter", details={
        "incapacity_from": "2026-04-03", "period_from": "2026-04-20", "period_to": "2026-05-10"}))
    assert status == "incomplete" and "重なっています" in reasons(missing)
    _, status, missing, _ = receive(members, app_input("sickness", branch="01", details=dict(SICK)))
    assert status == "incomplete" and "被扶養者" in reasons(missing)


def test_an_unknown_member_or_kind_is_refused_and_nothing_kept(members):
    with pytest.raises(service.BenefitError) as exc:
        receive(members, app_input("sickness", number="999", details=dict(SICK)))
    assert "number" in exc.value.invalid
    with pytest.raises(service.BenefitError) as exc:
        receive(members, app_input("pension", channel="fax"))
    assert set(exc.value.invalid) == {"kind", "channel", } or {"kind", "channel"} <= set(exc.value.invalid)
    with unit_of_work() as s:
        assert s.scalars(select(BenefitApplication)).all() == []


def test_a_bank_account_that_fails_its_check_keeps_the_application_incomplete(members):
    bad = dict(BANK, branch_code="12", account_number="12345678")
    app_id, status, missing, _ = receive(members, app_input("burial", bank=bad, attachments=["埋葬許可証"],
                                                            details={"death_date": "2026-04-01"}))
    assert status == "incomplete" and "支店番号「12」" in reasons(missing) and "口座番号「12345678」" in reasons(missing)
    with unit_of_work() as s:
        app = service.supplement(s, app_id, on=date(2026, 5, 1), actor="clerk", bank=BANK)
        assert app.status == "complete"
        acct = s.get(BankAccount, app.bank_account_id)
        assert b"7654321" not in acct.number_enc and service.masked_account(acct).endswith("****321")


def test_maternity_period_outside_the_birth_window_and_multiples(members):
    det = {"birth_date": "2026-05-20", "due_date": "2026-05-20", "period_from": "2026-03-01",
           "period_to": "2026-07-15"}
    _, status, missing, _ = receive(members, app_input("maternity", number="201", details=det))
    assert status == "incomplete" and "出産手当金の支給期間 2026-04-09〜2026-07-15" in reasons(missing)
    with unit_of_work() as s:
        [app] = s.scalars(select(BenefitApplication)).all()
        # twins after all: 98 days before the birth, from 2026-02-12
        app = service.supplement(s, app.id, on=date(2026, 7, 20), actor="clerk", details={"multiple": True})
        assert app.status == "complete", app.missing
        app = service.decide(s, app.id, on=date(2026, 7, 21), actor="clerk")
        # 桜: 10 continuous months Jun 2025 – Mar 2026 at 300,000 ≤ the insurer's 320,000 → 10,000 → 6,667 a day
        assert app.amount == 6667 * ((date(2026, 7, 15) - date(2026, 3, 1)).days + 1)
        assert any("12か月未満" in line for line in app.explanation)


def test_the_one_year_six_months_total_across_applications(members):
    with unit_of_work() as s:
        first = service.receive(s, app_input("sickness", details=dict(SICK)), insurer_id=members, actor="clerk")
        service.decide(s, first.id, on=date(2026, 5, 1), actor="clerk")
        first.paid_days = service.rules.duration_days(date(2026, 4, 6)) - 3  # as if paid for all but 3 days
    with unit_of_work() as s:
        later = service.receive(s, app_input("sickness", received_on=date(2026, 5, 20), details={
            "incapacity_from": "2026-04-03", "period_from": "2026-05-01", "period_to": "2026-05-15"}),
            insurer_id=members, actor="clerk")
        assert later.status == "complete", later.missing
        service.decide(s, later.id, on=date(2026, 5, 21), actor="clerk")
        assert later.paid_days == 3 and later.amount == 3 * 9553
        assert any("同じ傷病で申請番号" in line for line in later.explanation)
        assert any("通算1年6か月の残り 3日" in line for line in later.explanation)


def test_waiting_not_completed_is_refused_with_its_reason(members):
    with unit_of_work() as s:
        app = service.receive(s, app_input("sickness", details={
            "incapacity_from": "2026-04-03", "period_from": "2026-04-03", "period_to": "2026-04-08"},
            employer_cert={"certified_on": "2026-04-28", "worked_days": ["2026-04-05", "2026-04-07"]}),
            insurer_id=members, actor="clerk")
        service.decide(s, app.id, on=date(2026, 5, 1), actor="clerk")
        assert app.status == "refused" and "待期" in app.refused_reason


def test_large_decisions_wait_for_a_supervisors_approval(members):
    with unit_of_work() as s:
        app = service.receive(s, app_input("childbirth", branch="01", details={
            "birth_date": "2026-04-10", "children": 3, "covered": True}), insurer_id=members, actor="clerk")
        service.decide(s, app.id, on=date(2026, 5, 1), actor="clerk")
        assert app.amount == 1_500_000 and app.needs_approval
        assert service.pay(s, insurer_id=members, on=date(2026, 5, 1), actor="clerk").skipped == {app.id: "承認待ち"}
        with pytest.raises(service.StateError, match="決定した本人"):
            service.approve(s, app.id, on=date(2026, 5, 1), actor="clerk")
        service.approve(s, app.id, on=date(2026, 5, 1), actor="supervisor")
        run = service.pay(s, insurer_id=members, on=date(2026, 5, 1), actor="clerk")
        assert run.paid == [app.id]
        # the dependant's lump sum is paid to the member's account
        assert b"\xba\xb3\xdb\xb3 \xc0\xdb\xb3" in zengin.parse_records(run.file)[1]  # ｺｳﾛｳ ﾀﾛｳ


def test_high_cost_refund_uses_the_registry_category(members):
    with unit_of_work() as s:
        app = service.receive(s, app_input("high_cost", doctor_cert=None, employer_cert=None, details={
            "month": "2026-03", "items": [{"person": "本人", "institution": "A病院", "paid": 150_000,
                                           "total_cost": 500_000},
                                          {"person": "花子", "institution": "B医院", "paid": 15_000,
                                           "total_cost": 50_000}]}), insurer_id=members, actor="clerk")
        assert app.status == "complete", app.missing
        service.decide(s, app.id, on=date(2026, 5, 1), actor="clerk")
        # 440,000 → ウ: 80,100 + (500,000 − 267,000) × 1% = 82,430; 花子's 15,000 is under 21,000
        assert app.amount == 150_000 - 82_430


def test_refusal_needs_a_reason_and_ends_the_application(members):
    app_id, *_ = receive(members, app_input("burial", attachments=["埋葬許可証"], details={"death_date": "2026-04-01"}))
    with unit_of_work() as s:
        with pytest.raises(service.BenefitError):
            service.refuse(s, app_id, on=date(2026, 5, 1), actor="clerk", reason=" ")
        app = service.refuse(s, app_id, on=date(2026, 5, 1), actor="clerk", reason="埋葬を行った方からの申請ではありません")
        assert app.status == "refused"
        with pytest.raises(service.StateError):
            service.refuse(s, app_id, on=date(2026, 5, 1), actor="clerk", reason="again")


def test_board_and_kpi_actuals_count_business_days_from_completeness(members):
    with unit_of_work() as s:
        on_time = service.receive(s, app_input("burial", received_on=date(2026, 12, 25), attachments=["x"],
                                               details={"death_date": "2026-04-01"}), insurer_id=members, actor="c")
        late = service.receive(s, app_input("burial", channel="counter", received_on=date(2026, 12, 24),
                                            attachments=["x"], details={"death_date": "2026-04-02"}),
                               insurer_id=members, actor="c")
        waiting = service.receive(s, app_input("burial", channel="electronic", received_on=date(2027, 1, 5),
                                               attachments=["x"], details={"death_date": "2026-04-03"}),
                                  insurer_id=members, actor="c")
        service.receive(s, app_input("burial", received_on=date(2027, 1, 5), details={"death_date": "2026-04-04"}),
                        insurer_id=members, actor="c")  # no attachment: incomplete
        for a in (on_time, late, waiting):
            service.decide(s, a.id, on=a.received_on, actor="c")
        service.pay(s, insurer_id=members, on=date(2027, 1, 14), transfer_date=date(2027, 1, 15), ids=[on_time.id],
                    actor="c")
        # complete on 24 Dec: due 14 Jan; paid 15 Jan: late
        service.pay(s, insurer_id=members, on=date(2027, 1, 14), transfer_date=date(2027, 1, 15), ids=[late.id],
                    actor="c")
    with unit_of_work() as s:
        b = service.board(s, insurer_id=members, today=date(2027, 1, 21))
        assert b.totals["received"] == 4 and b.totals["incomplete"] == 1
        assert (b.totals["paid_on_time"], b.totals["paid_late"]) == (1, 1)
        # complete on 5 Jan: due 20 Jan (11 Jan 成人の日 not counted): overdue on the 21st, due soon on the 18th
        assert b.totals["waiting"] == 1 and b.totals["overdue"] == 1 and b.by_due == {"2027-01-20": 1}
        soon = service.board(s, insurer_id=members, today=date(2027, 1, 18)).totals
        assert (soon["due_soon"], soon["overdue"]) == (1, 0)
        assert service.board(s, insurer_id=members, today=date(2027, 1, 14)).totals["due_soon"] == 0
        assert service.service_standard_rate(s, 2026) == 50.0
        assert service.mail_rate(s, 2026) == 75.0  # 3 of 4 not at the counter (郵送 2, 電子申請 1)
        assert service.service_standard_rate(s, 2025) is None


def test_the_reads_that_show_a_person_are_audited(members):
    app_id, *_ = receive(members, app_input("sickness", details=dict(SICK)))
    with unit_of_work() as s:
        before = audit.last_id(s)
        rows = service.queue(s, insurer_id=members, today=date(2026, 5, 1), actor_kind="user", actor_id="clerk")
        assert rows[0].name == "厚労　太郎" and rows[0].due == date(2026, 5, 19)  # 4–6 May closed
        view = service.application_view(s, app_id, insurer_id=members, actor_kind="user", actor_id="clerk")
        assert view.account.endswith("****321") and "7654321" not in view.account
        written = audit.subjects_written_since(s, before)
        assert ("person", str(rows[0].person_id)) in written
        with pytest.raises(LookupError):
            service.application_view(s, app_id, insurer_id=members + 999, actor_kind="user", actor_id="x")
        with pytest.raises(LookupError):
            service.application_view(s, app_id, insurer_id=None, person_id=rows[0].person_id + 1,
                                     actor_kind="member", actor_id="x")


def test_the_batch_decides_as_one_at_a_time_does(members):
    with unit_of_work() as s:
        sick = service.receive(s, app_input("sickness", details=dict(SICK), employer_cert={
            "certified_on": "2026-04-28", "wages": {"2026-04-10": 3000}}), insurer_id=members, actor="clerk")
        later = service.receive(s, app_input("sickness", received_on=date(2026, 5, 20), details={
            "incapacity_from": "2026-04-03", "period_from": "2026-05-01", "period_to": "2026-05-10"}),
            insurer_id=members, actor="clerk")
        waiting = service.receive(s, app_input("sickness", number="201", details={
            "incapacity_from": "2026-04-03", "period_from": "2026-04-03", "period_to": "2026-04-04"}),
            insurer_id=members, actor="clerk")
        assert service.decide_all(s, insurer_id=members, on=date(2026, 5, 21), actor="batch") == 3
        assert sick.amount == 25 * 9553 - 3000 and sick.status == "decided"
        # the later one of the same incapacity: no second 待期, the first payable day of the first one
        assert later.status == "decided" and later.amount == 10 * 9553
        assert any("同じ傷病で申請番号" in line for line in later.explanation)
        assert waiting.status == "refused" and "待期" in waiting.refused_reason
        assert service.decide_all(s, insurer_id=members, on=date(2026, 5, 21), actor="batch") == 0


def test_a_date_no_rule_covers_keeps_it_incomplete_with_the_reason(members):
    # a 出産育児一時金 for a birth in 2021 (the table starts in 2022) and a 傷病手当金 whose months have no amount
    _, status, missing, _ = receive(members, app_input("maternity", number="201", details={
        "birth_date": "1997-10-23", "due_date": "1997-10-23", "period_from": "1997-09-20",
        "period_to": "1997-12-01"}))
    assert status == "incomplete" and "適用できる規定がありません" in reasons(missing)
    with unit_of_work() as s:
        app = service.receive(s, app_input("childbirth", branch="01", details={
            "birth_date": "2024-05-01", "children": 1, "covered": True}), insurer_id=members, actor="clerk")
        assert app.status == "complete"
        app.details = {**app.details, "birth_date": "2021-05-01"}  # as if typed so and not caught on entry
        service.decide(s, app.id, on=date(2026, 5, 1), actor="clerk")
        assert app.status in ("incomplete",) and "2021" in reasons(app.missing)
