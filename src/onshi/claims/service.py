"""Care after loss (資格喪失後受診) and its 返納金 cases, the 資格点検 of claims, and the audited reads of both.

**Matching** (:func:`match_care_after_loss`): each day of care of a claim is judged twice — *as known now* (the
registry, the insurer's truth: was the billed insurer's qualification valid that day?) and *as registered then*
(the verification index as it stood at the end of that day, :mod:`onshi.exchange.index`: what a clinic was told).
A day not covered now is care after loss.  One case per claim, with

* ``debtor = "ours"`` when on any such day the index still said 有効 — our registration was late, the clinic did
  what it could; the amount is what lateness cost (shown on the SLA figures, not recovered);
* ``debtor = "new_insurer"`` when another insurer covered every such day (保険者間調整, from 2015-01);
* ``debtor = "member"`` otherwise (the person; for a dependent, the member repays).

The amount is the insurer's share of the claim prorated by days of care (:func:`onshi.rules.claims.prorated`).
Running the match again changes nothing (one case per claim).

**Life cycle**: ``open`` → ``noticed`` (通知: notice date and due date) → ``instalments`` (分割納付) → ``paid``; or
``written_off`` (不納欠損, with a reason).  Payments are recorded one by one; the case is paid when they reach
its amount.  The recovery-rate KPI is :func:`refund_recovery_rate`.

**資格点検** (:func:`check_month`): ratio billed ≠ ratio registered that day, a dependent no longer a dependent,
and a wrong insurer — one finding per claim and reason, recomputed for the month on each run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from onshi.claims.models import Claim, ClaimLine, EligibilityFinding, RefundCase, RefundPayment
from onshi.exchange import index
from onshi.privacy import audit
from onshi.registry import service as registry
from onshi.registry.models import Role
from onshi.rules.calendar import fiscal_year_bounds
from onshi.rules.claims import INTER_INSURER_ADJUSTMENT, limitation_date, prorated
from onshi.rules.co_pay import NotCovered
from onshi.store.clock import japan_day_start, japan_today, utcnow

DEBTORS = {"member": "加入者本人", "new_insurer": "新保険者 (保険者間調整)", "ours": "当方の登録遅延"}
STATUSES = {"open": "未通知", "noticed": "通知済", "instalments": "分割納付中", "paid": "完納",
            "written_off": "不納欠損"}
REASONS = {"ratio": "負担割合の相違", "not_dependent": "被扶養者の資格なし", "wrong_insurer": "保険者の相違"}


class ClaimsError(ValueError):
    """A refused action on a case (Japanese, with the English beside); nothing changed."""


def _covers(row, day: date) -> bool:
    return row.acquisition_date <= day and (row.loss_date is None or row.loss_date > day)


# ---------------------------------------------------------------- the decision (pure)

@dataclass(frozen=True)
class DayJudgement:
    """One day of care: covered now (registry), 有効 as registered then (index), and another insurer covering it
    now (its number)."""

    day: date
    covered_now: bool
    valid_then: bool
    other_insurer: str | None


def decide_debtor(days: Iterable[DayJudgement]) -> tuple[str, str | None] | None:
    """``(debtor, new insurer number)`` for the days after loss, or None when every day was covered.

    >>> d = date(2025, 5, 10)
    >>> decide_debtor([DayJudgement(d, True, True, None)]) is None
    True
    >>> decide_debtor([DayJudgement(d, False, True, "06139992")])
    ('ours', None)
    >>> decide_debtor([DayJudgement(d, False, False, "06139992")])
    ('new_insurer', '06139992')
    >>> decide_debtor([DayJudgement(d, False, False, "06139992"), DayJudgement(d, False, False, None)])
    ('member', None)
    """
    after = [j for j in days if not j.covered_now]
    if not after:
        return None
    if any(j.valid_then for j in after):
        return "ours", None
    others = {j.other_insurer for j in after}
    if len(others) == 1 and None not in others and all(INTER_INSURER_ADJUSTMENT.at(j.day) for j in after):
        return "new_insurer", others.pop()
    return "member", None


# ---------------------------------------------------------------- matching

def _judge(session: Session, claim: Claim, versions: list, now_rows: list) -> list[DayJudgement]:
    out = []
    birth = claim.birth_date
    for iso in claim.care_dates:
        day = date.fromisoformat(iso)
        covered = any(v.acquisition_date <= day and ((loss := registry.effective_loss_date(v, birth)) is None
                                                     or loss > day) for v in versions)
        valid_then = False
        other = None
        if not covered:
            at = min(japan_day_start(day + timedelta(days=1)), utcnow())
            then = index.registered_qualifications_of_persons(session, at, [claim.person_id])
            valid_then = any(r.insurer_number == claim.insurer_number and _covers(r, day) for r in then)
            others = [r for r in now_rows if r.insurer_number != claim.insurer_number and _covers(r, day)]
            other = max(others, key=lambda r: r.acquisition_date).insurer_number if others else None
        out.append(DayJudgement(day, covered, valid_then, other))
    return out


def match_care_after_loss(session: Session, *, insurer_id: int, month: str, today: date | None = None) -> list[RefundCase]:
    """Open a 返納金 case for every claim of *month* billed to this insurer with care after loss (see the
    module's docstring); returns the cases opened by this run (a second run opens none)."""
    today = today or japan_today()
    done = set(session.scalars(select(RefundCase.claim_id).join(Claim, Claim.id == RefundCase.claim_id).where(
        Claim.insurer_id == insurer_id, Claim.month == month)))
    opened = []
    for claim in session.scalars(select(Claim).where(Claim.insurer_id == insurer_id, Claim.month == month,
                                                     Claim.person_id.is_not(None)).order_by(Claim.id)):
        if claim.id in done:
            continue
        versions = registry.qualification_versions(session, person_id=claim.person_id, insurer_id=insurer_id)
        now_rows = index.qualifications_of_persons(session, [claim.person_id])
        judged = _judge(session, claim, versions, now_rows)
        decision = decide_debtor(judged)
        if decision is None:
            continue
        debtor, new_insurer = decision
        after = [j for j in judged if not j.covered_now]
        first = after[0].day
        lost = [v for v in versions if v.acquisition_date <= first]
        billed = max(lost, key=lambda v: v.acquisition_date) if lost else None
        case = RefundCase(
            claim_id=claim.id, insurer_id=insurer_id, person_id=claim.person_id,
            qualification_id=billed.qualification_id if billed else None, month=month,
            loss_date=registry.effective_loss_date(billed, claim.birth_date) if billed else None,
            days_after_loss=[j.day.isoformat() for j in after],
            days_valid_then=[j.day.isoformat() for j in after if j.valid_then],
            amount_yen=prorated(claim.insurer_share_yen, len(after), claim.days), debtor=debtor,
            new_insurer_number=new_insurer, status="open", found_on=today)
        session.add(case)
        opened.append(case)
    session.flush()
    return opened


# ---------------------------------------------------------------- life cycle

def _case(session: Session, case_id: int, insurer_id: int) -> RefundCase:
    case = session.get(RefundCase, case_id)
    if case is None or case.insurer_id != insurer_id:
        raise LookupError(case_id)
    return case


def paid_total(session: Session, case_id: int) -> int:
    return session.scalar(select(func.coalesce(func.sum(RefundPayment.amount_yen), 0)).where(
        RefundPayment.case_id == case_id)) or 0


def notice(session: Session, case_id: int, *, insurer_id: int, noticed_on: date, due_on: date | None = None) -> RefundCase:
    """返納金の納入告知: the case is noticed (due in 30 days unless *due_on*).  A case that is ours is not
    claimed from anybody: refused."""
    case = _case(session, case_id, insurer_id)
    if case.debtor == "ours":
        raise ClaimsError("当方の登録遅延による案件は請求しません (the registration was ours to make: not claimed)")
    if case.status != "open":
        raise ClaimsError(f"通知できるのは未通知の案件だけです: 現在 {STATUSES[case.status]} (already {case.status})")
    case.noticed_on, case.due_on, case.status = noticed_on, due_on or noticed_on + timedelta(days=30), "noticed"
    session.flush()
    return case


def agree_instalments(session: Session, case_id: int, *, insurer_id: int, instalments: int) -> RefundCase:
    """分割納付: the debtor pays in *instalments* (2–60) monthly parts."""
    case = _case(session, case_id, insurer_id)
    if case.status not in ("noticed", "instalments"):
        raise ClaimsError(f"分割は通知済の案件だけです: 現在 {STATUSES[case.status]} (notice the case first)")
    if not 2 <= instalments <= 60:
        raise ClaimsError(f"分割回数は 2〜60 回です: {instalments} (instalments must be 2–60)")
    case.instalments, case.status = instalments, "instalments"
    session.flush()
    return case


def record_payment(session: Session, case_id: int, *, insurer_id: int, paid_on: date, amount_yen: int,
                   actor: str) -> RefundCase:
    """入金: a payment towards the case; the case is ``paid`` once the payments reach its amount.  More than the
    balance is refused (a refund of an overpayment is another procedure)."""
    case = _case(session, case_id, insurer_id)
    if case.status not in ("noticed", "instalments"):
        raise ClaimsError(f"入金できるのは通知済・分割中の案件だけです: 現在 {STATUSES[case.status]} "
                          f"(case is {case.status})")
    balance = case.amount_yen - paid_total(session, case.id)
    if not 0 < amount_yen <= balance:
        raise ClaimsError(f"入金額は 1〜{balance:,} 円です: {amount_yen:,} 円 (amount must be within the balance)")
    session.add(RefundPayment(case_id=case.id, paid_on=paid_on, amount_yen=amount_yen, recorded_by=actor))
    session.flush()
    if amount_yen == balance:
        case.status = "paid"
    session.flush()
    return case


def write_off(session: Session, case_id: int, *, insurer_id: int, on: date, reason: str) -> RefundCase:
    """不納欠損: the balance is written off, with a reason (時効, 所在不明, 破産 …).  A noticed case may be written
    off for 時効 only from its limitation date (:func:`onshi.rules.claims.limitation_date`)."""
    case = _case(session, case_id, insurer_id)
    if case.status in ("paid", "written_off"):
        raise ClaimsError(f"完納・欠損済みの案件です (case is {case.status})")
    if not reason.strip():
        raise ClaimsError("欠損の理由を書いてください (a reason is required)")
    if "時効" in reason and case.noticed_on and on < limitation_date(case.noticed_on):
        raise ClaimsError(f"時効は {limitation_date(case.noticed_on)} からです (not time-barred before then)")
    case.status, case.written_off_on, case.write_off_reason = "written_off", on, reason.strip()[:500]
    session.flush()
    return case


def refund_recovery_rate(session: Session, fiscal_year: int, insurer_ids: set[int] | None = None) -> float | None:
    """返納金債権の回収率 (%): over the cases noticed in the fiscal year (debtor member or new insurer), the
    payments received by today ÷ their amounts.  None when no case was noticed."""
    start, end = fiscal_year_bounds(fiscal_year)
    q = select(RefundCase).where(RefundCase.noticed_on >= start, RefundCase.noticed_on <= end,
                                 RefundCase.debtor != "ours")
    cases = [c for c in session.scalars(q) if insurer_ids is None or c.insurer_id in insurer_ids]
    owed = sum(c.amount_yen for c in cases)
    if not owed:
        return None
    paid = sum(paid_total(session, c.id) for c in cases)
    return round(100 * paid / owed, 2)


def lateness_cost(session: Session, *, insurer_id: int) -> dict:
    """What late registration cost: the cases that are ours (count and yen) — for the SLA figures."""
    n, yen = session.execute(select(func.count(), func.coalesce(func.sum(RefundCase.amount_yen), 0)).where(
        RefundCase.insurer_id == insurer_id, RefundCase.debtor == "ours")).one()
    return {"cases": int(n), "amount_yen": int(yen)}


def lateness_cost_by_month(session: Session, *, insurer_id: int) -> list[dict]:
    """What late registration cost per month of care (診療年月), newest first: the 返納金 cases that are ours — the
    index still said 有効 on a day of care after the loss, because the loss was registered late — as
    ``{"month", "cases", "amount_yen"}``.  Counts and yen only, no one's data (the SLA board, ``onshi exchange
    sla``); the cases themselves are the audited list (:func:`refund_cases` with ``debtor="ours"``)."""
    rows = session.execute(
        select(RefundCase.month, func.count(), func.coalesce(func.sum(RefundCase.amount_yen), 0))
        .where(RefundCase.insurer_id == insurer_id, RefundCase.debtor == "ours")
        .group_by(RefundCase.month).order_by(RefundCase.month.desc()))
    return [{"month": month, "cases": int(n), "amount_yen": int(yen)} for month, n, yen in rows]


# ---------------------------------------------------------------- 資格点検

def check_month(session: Session, *, insurer_id: int, month: str) -> list[EligibilityFinding]:
    """The 資格点検 of *month*'s claims billed to this insurer (replaces the month's earlier findings)."""
    session.execute(delete(EligibilityFinding).where(EligibilityFinding.insurer_id == insurer_id,
                                                     EligibilityFinding.month == month))
    out: list[EligibilityFinding] = []
    for claim in session.scalars(select(Claim).where(Claim.insurer_id == insurer_id, Claim.month == month,
                                                     Claim.person_id.is_not(None)).order_by(Claim.id)):
        versions = registry.qualification_versions(session, person_id=claim.person_id, insurer_id=insurer_id)
        billed = [v for v in versions if (v.symbol, v.number) == (claim.symbol, claim.number)
                  and (not claim.branch or v.branch == claim.branch)]
        found: dict[str, EligibilityFinding] = {}
        now_rows = None
        for iso in claim.care_dates:
            day = date.fromisoformat(iso)
            covering = [v for v in billed if v.acquisition_date <= day and (
                (loss := registry.effective_loss_date(v, claim.birth_date)) is None or loss > day)]

            def add(reason: str, detail: str, responsible: str | None = None):
                if reason not in found:
                    found[reason] = EligibilityFinding(
                        claim_id=claim.id, insurer_id=insurer_id, person_id=claim.person_id, month=month,
                        reason=reason, care_date=day, detail=detail, responsible_insurer_number=responsible)

            if covering:
                v = covering[-1]
                try:
                    ratio = registry.co_pay_on(session, v, day)
                except NotCovered:
                    continue
                if ratio.ratio_tenths != claim.copay_ratio:
                    add("ratio", f"請求 {claim.copay_ratio}割 / 登録 {ratio.ratio_tenths}割 ({ratio.basis}) "
                                 f"(billed {claim.copay_ratio}, registered {ratio.ratio_tenths})")
                continue
            dependent = [v for v in billed if v.role == Role.dependent]
            if dependent:
                member_q = dependent[-1].member_qualification_id
                member = registry.qualification_versions(session, qualification_id=member_q, about_day=day) \
                    if member_q else []
                if member:
                    add("not_dependent", f"{day} は被扶養者ではありません (被保険者の資格は継続) "
                                         "(no longer a dependent)")
                    continue
            if now_rows is None:
                now_rows = index.qualifications_of_persons(session, [claim.person_id])
            others = [r for r in now_rows if r.insurer_number != claim.insurer_number and _covers(r, day)]
            if others:
                r = max(others, key=lambda r: r.acquisition_date)
                add("wrong_insurer", f"{day} の保険者は {r.insurer_number} です: 振替 (another insurer covered "
                                     "the day)", r.insurer_number)
        for f in found.values():
            session.add(f)
            out.append(f)
    session.flush()
    return out


# ---------------------------------------------------------------- audited reads

@dataclass(frozen=True)
class CaseRow:
    case: RefundCase
    claim: Claim
    name: str | None
    paid_yen: int


def _row(session: Session, case: RefundCase) -> CaseRow:
    claim = session.get(Claim, case.claim_id)
    pv = registry.person_on(session, case.person_id)
    return CaseRow(case, claim, pv.name if pv else None, paid_total(session, case.id))


def refund_cases(session: Session, *, insurer_id: int, actor_kind: str, actor_id: str, status: str | None = None,
                 month: str | None = None, debtor: str | None = None, limit: int = 500) -> list[CaseRow]:
    """The insurer's 返納金 cases (newest first), of a state, a month of care, a debtor (``ours``: the cases the
    SLA board counts as what lateness cost); every person shown is audited (``refund.list``)."""
    q = select(RefundCase).where(RefundCase.insurer_id == insurer_id)
    if status:
        q = q.where(RefundCase.status == status)
    if debtor:
        q = q.where(RefundCase.debtor == debtor)
    if month:
        q = q.where(RefundCase.month == month)
    rows = [_row(session, c) for c in session.scalars(q.order_by(RefundCase.id.desc()).limit(limit))]
    number = registry.insurer_number_of(session, insurer_id)
    for r in rows:
        audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="refund.list",
                          subject_kind="person", subject_id=r.case.person_id, insurer_number=number,
                          detail=f"case {r.case.id}")
    return rows


def refund_case(session: Session, case_id: int, *, insurer_id: int, actor_kind: str, actor_id: str) -> CaseRow:
    """One case with its claim and payments; audited (``refund.view``).  Another insurer's case → LookupError."""
    case = _case(session, case_id, insurer_id)
    row = _row(session, case)
    audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="refund.view", subject_kind="person",
                      subject_id=case.person_id, insurer_number=registry.insurer_number_of(session, insurer_id),
                      detail=f"case {case.id}")
    return row


def payments_of(session: Session, case_id: int) -> list[RefundPayment]:
    return list(session.scalars(select(RefundPayment).where(RefundPayment.case_id == case_id)
                                .order_by(RefundPayment.paid_on, RefundPayment.id)))


def findings(session: Session, *, insurer_id: int, month: str, actor_kind: str, actor_id: str) -> list[tuple]:
    """The month's 資格点検 list ``(finding, claim, name)``; every person shown is audited (``claims.findings``)."""
    out = []
    number = registry.insurer_number_of(session, insurer_id)
    for f in session.scalars(select(EligibilityFinding).where(EligibilityFinding.insurer_id == insurer_id,
                                                              EligibilityFinding.month == month)
                             .order_by(EligibilityFinding.claim_id, EligibilityFinding.reason)):
        claim = session.get(Claim, f.claim_id)
        pv = registry.person_on(session, f.person_id) if f.person_id else None
        out.append((f, claim, pv.name if pv else None))
        if f.person_id:
            audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="claims.findings",
                              subject_kind="person", subject_id=f.person_id, insurer_number=number,
                              detail=f"claim {f.claim_id}")
    return out


def claim_lines(session: Session, claim_id: int) -> list[ClaimLine]:
    return list(session.scalars(select(ClaimLine).where(ClaimLine.claim_id == claim_id).order_by(ClaimLine.line_number)))


def months_of(session: Session, insurer_id: int) -> list[str]:
    """The months of care with claims billed to this insurer, newest first."""
    return list(session.scalars(select(Claim.month).where(Claim.insurer_id == insurer_id).distinct()
                                .order_by(Claim.month.desc())))


def high_cost_months(session: Session, *, insurer_id: int, persons: dict[int, date | None], first: date,
                     before: date, category) -> list[date] | None:
    """The months from *first* up to *before* (excluded) in which the household *persons* (person id → birth date)
    had a 高額療養費 by its claims, for 多数回該当 (:meth:`onshi.benefits.service.Facts.refund_months`); None when
    the claims billed to this insurer hold nothing of the household in those months (the caller then keeps the
    declared count).

    Each month's refund is computed from its レセプト with :func:`onshi.rules.benefits.high_cost_refund`: one item
    per claim (a person's 一部負担金 at one institution and setting — 入院/外来/調剤/歯科; a 調剤 claim is its own
    item rather than added to its prescribing clinic's, which may under-count a month), the person's age group in
    the month, the household's 区分 from ``category(month) → (under-70, 70–74)``.  Months are walked from 12 before
    *first* so that a month's own 多数回該当 is known from the ones before it.  No personal data leaves: months only.
    """
    from onshi.rules.calendar import add_months

    rows = _household_rows(session, insurer_id=insurer_id, persons=persons, first=add_months(first, -12), before=before)
    if not any(f"{first:%Y-%m}" <= r.month for r in rows):
        return None
    return [m for m, _, e in _walk_months(rows, persons, category)
            if e.counts_for_many_times and first <= m < before]


def _household_rows(session: Session, *, insurer_id: int, persons: dict, first: date, before: date) -> list:
    return session.execute(select(Claim.person_id, Claim.month, Claim.institution_code, Claim.setting,
                                  Claim.patient_share_yen, Claim.total_yen).where(
        Claim.insurer_id == insurer_id, Claim.person_id.in_(list(persons)),
        Claim.month >= f"{first:%Y-%m}", Claim.month < f"{before:%Y-%m}")).all()


def _walk_months(rows, persons: dict[int, date | None], category) -> list[tuple[date, list, object]]:
    """Each month of *rows* in order with its items and its 高額療養費 (:func:`onshi.rules.benefits.high_cost_refund`),
    the 多数回該当 of each month known from the months before it."""
    from onshi.rules import benefits as rules

    by_month: dict[str, list] = {}
    for r in rows:
        by_month.setdefault(r.month, []).append(r)
    refunds: list[date] = []
    out = []
    for key in sorted(by_month):
        month = date.fromisoformat(key + "-01")
        items = []
        for r in by_month[key]:
            birth = persons.get(r.person_id)
            try:
                group = rules.age_group(birth, month) if birth else "under_70"
            except rules.NotThisInsurer:
                continue
            items.append(rules.CareItem(str(r.person_id), f"{r.institution_code} {r.setting}", r.patient_share_yen,
                                        r.total_yen, group, r.setting == "inpatient"))
        if not items:
            continue
        under_70, age_70 = category(month)
        try:
            e = rules.high_cost_refund(month=month, category=under_70, category_70=age_70, items=items,
                                       refund_months=refunds)
        except (ValueError, LookupError):  # no ceiling in force that month
            continue
        if e.counts_for_many_times:  # not a refund of the 70–74 外来 individual limit alone
            refunds.append(month)
        out.append((month, items, e))
    return out


def outpatient_months(session: Session, *, insurer_id: int, persons: dict[int, date | None], person_id: int,
                      first: date, before: date, category) -> list[tuple[date, int, int]] | None:
    """For the 外来年間合算 of *person_id* (a member of the household *persons*): each month from *first* up to
    *before* (excluded) with the person's 外来 claims — ``(month, 外来 一部負担金, what of it the month's 高額療養費
    left borne)``, each month computed from the household's claims as :func:`high_cost_months` does (多数回該当
    from the 12 months before *first*).  None when the claims hold nothing of the person in those months."""
    from onshi.rules.calendar import add_months

    rows = _household_rows(session, insurer_id=insurer_id, persons=persons, first=add_months(first, -12), before=before)
    if not any(r.person_id == person_id and f"{first:%Y-%m}" <= r.month for r in rows):
        return None
    out = []
    for month, items, e in _walk_months(rows, persons, category):
        mine = [i for i in items if i.person == str(person_id) and not i.inpatient]
        if first <= month < before and mine:
            paid = sum(i.paid for i in mine)
            borne = e.borne_of(str(person_id)) if any(i.age_group != "under_70" for i in mine) else paid
            out.append((month, paid, borne))
    return out


def persons_with_claims(session: Session, *, insurer_id: int, person_ids: set[int], first: date,
                        before: date) -> set[int]:
    """Of *person_ids*, those with any claim billed to this insurer in the months from *first* up to *before*
    (excluded): a batch of decisions asks once, then :func:`high_cost_months` only for households that have some."""
    if not person_ids:
        return set()
    return set(session.scalars(select(Claim.person_id).where(
        Claim.insurer_id == insurer_id, Claim.person_id.in_(person_ids), Claim.month >= f"{first:%Y-%m}",
        Claim.month < f"{before:%Y-%m}").distinct()))


#: what a batch of decisions calls once before :func:`high_cost_months` (``benefits.service.Facts.preload``)
high_cost_months.prefetch = persons_with_claims
#: the 外来年間合算's months from the claims (``benefits.service``: the entrypoints pass :func:`high_cost_months`)
high_cost_months.outpatient_months = outpatient_months
