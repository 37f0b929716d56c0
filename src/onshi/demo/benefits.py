"""Demo cash-benefit applications (現金給付のデモ): every kind and every state on the first demo insurer's members —
incomplete (a missing certification, a bad account), complete within the standard and overdue, decided (one
waiting for the supervisor's approval), paid on time and late, refused — through the real service, so the queue,
the board, the letters and the KPI actuals have something to show.  ``received`` is a passing state (an application
is checked as it is received) and has no demo row.  Idempotent: each application has its own source key."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy.orm import Session

from onshi.benefits import service
from onshi.registry import service as registry
from onshi.registry.models import Role
from onshi.rules.calendar import add_business_days

BANK = {"bank_code": "0009", "branch_code": "101", "account_type": 1, "account_number": "1234567",
        "holder": "デモ　タロウ"}


def _inp(kind: str, qv, received: date, key: str, **kw) -> service.ApplicationInput:
    fields = {"kind": kind, "channel": "mail", "received_on": received, "symbol": qv.symbol, "number": qv.number,
              "branch": qv.branch, "bank": dict(BANK), "source_key": f"demo:{key}",
              "employer_cert": {"certified_on": received.isoformat()},
              "doctor_cert": {"certified_on": received.isoformat()}}
    fields.update(kw)
    return service.ApplicationInput(**fields)


def _sick(received: date, days: int = 20) -> dict:
    start = received - timedelta(days=days)
    return {"incapacity_from": start.isoformat(), "period_from": start.isoformat(),
            "period_to": (received - timedelta(days=1)).isoformat()}


def seed_benefits(session: Session, today: date, insurer_number: str | None = None) -> int:
    """Make the demo applications (about 14) of the first insurer; how many applications it holds afterwards."""
    insurers = registry.list_insurers(session)
    ins = next((i for i in insurers if i.number == insurer_number), None) if insurer_number else \
        (insurers[0] if insurers else None)
    if ins is None:
        return 0
    members = [qv for qv in registry.qualification_versions(session, insurer_id=ins.id, about_day=today)
               if qv.role == Role.insured and qv.acquisition_date <= today - timedelta(days=400)]
    if len(members) < 8:
        return 0
    women = [qv for qv in members if (pv := registry.person_on(session, qv.person_id)) and pv.sex == 2]
    m = iter(members)
    ago = lambda n: add_business_days(today, -n)  # noqa: E731 - n business days ago

    def receive(inp):
        return service.receive(session, inp, insurer_id=ins.id, actor="demo")

    # incomplete: no doctor's certification / a bank account that fails its check / no burial permit
    receive(_inp("sickness", next(m), ago(3), "incomplete-doctor", details=_sick(ago(3)), doctor_cert=None))
    receive(_inp("childbirth", next(m), ago(2), "incomplete-bank", channel="counter",
                 details={"birth_date": (today - timedelta(days=30)).isoformat(), "children": 1, "covered": True},
                 bank=dict(BANK, account_number="12")))
    receive(_inp("burial", next(m), ago(1), "incomplete-attachment", channel="electronic",
                 details={"death_date": (today - timedelta(days=20)).isoformat()}))
    # complete, not decided: one well within the standard, one overdue (complete 12 business days ago)
    receive(_inp("sickness", next(m), ago(1), "complete-fresh", channel="electronic", details=_sick(ago(1))))
    receive(_inp("burial", next(m), ago(12), "complete-overdue", attachments=["埋葬許可証"],
                 details={"death_date": (today - timedelta(days=40)).isoformat()}))
    # decided, waiting for payment; one above the approval amount (triplets) waiting for the supervisor
    a = receive(_inp("sickness", next(m), ago(4), "decided", details=_sick(ago(4), 30)))
    if a.status == "complete":
        service.decide(session, a.id, on=ago(2), actor="demo")
    qv = next(m)
    a = receive(_inp("childbirth", qv, ago(3), "decided-approval",
                     details={"birth_date": (today - timedelta(days=25)).isoformat(), "children": 3,
                              "covered": True}))
    if a.status == "complete":
        service.decide(session, a.id, on=ago(2), actor="demo")
    # paid on time, paid late; a 高額療養費 refund; refused (待期 not completed)
    qv = next(m)
    for key, received, pay_after in (("paid-on-time", ago(30), 5), ("paid-late", ago(45), 14)):
        a = receive(_inp("high_cost" if key == "paid-on-time" else "sickness", qv, received, key,
                         details={"month": f"{(received - timedelta(days=40)):%Y-%m}",
                                  "items": [{"person": "本人", "institution": "デモ病院 入院", "paid": 240_000,
                                             "total_cost": 800_000}]} if key == "paid-on-time"
                         else _sick(received, 25)))
        if a.status == "complete":
            service.decide(session, a.id, on=received, actor="demo")
            if a.status == "decided":
                service.pay(session, insurer_id=ins.id, on=add_business_days(received, pay_after - 1),
                            transfer_date=add_business_days(received, pay_after), ids=[a.id], actor="demo",
                            actor_kind="demo")
    a = receive(_inp("sickness", next(m), ago(6), "refused", details={
        "incapacity_from": ago(8).isoformat(), "period_from": ago(8).isoformat(), "period_to": ago(7).isoformat()}))
    if a.status == "complete":
        service.decide(session, a.id, on=ago(5), actor="demo")
    if women:
        birth = today - timedelta(days=60)
        a = receive(_inp("maternity", women[0], ago(2), "maternity", details={
            "birth_date": birth.isoformat(), "due_date": birth.isoformat(),
            "period_from": (birth - timedelta(days=41)).isoformat(), "period_to": (birth + timedelta(days=56)).isoformat()}))
    from sqlalchemy import func, select

    from onshi.benefits.models import BenefitApplication

    session.flush()
    return session.scalar(select(func.count()).select_from(BenefitApplication).where(
        BenefitApplication.insurer_id == ins.id)) or 0


def seed(today: date | None = None) -> int:
    """:func:`seed_benefits` in a transaction of its own (the one line the demo seed calls)."""
    from onshi.store.clock import japan_today
    from onshi.store.db import unit_of_work

    with unit_of_work() as s:
        return seed_benefits(s, today or japan_today())
