"""Fast path of :func:`onshi.claims.service.match_care_after_loss`; equivalence: tests/claims/test_match_fast.py.

The reference judges one claim at a time (per claim: the person's versions, the index now, and per day of care
after the loss the index as registered then — four to five statements a claim).  Here one statement judges every
day of care of the month's claims at once, set-based:

* the claims of the insurer and month with a matched person and no case yet, each day of care unnested from the
  JSON list (``json_each`` on SQLite, ``json_array_elements_text`` on PostgreSQL) and joined to a small table of
  the month's days, which carries each day's *as registered then* instant (the end of that day in Japan, or now);
* ``covered``: a current registry version of the person at this insurer with acquisition ≤ day < loss (the 75th
  birthday, which :func:`onshi.registry.service.effective_loss_date` adds, is applied in Python — it depends on the
  billed birth date only);
* only days not covered leave the database (and, to apply that birthday, those of people who may reach 75 in the
  month), with ``valid_then`` (an index row of the billed insurer covering the day, as registered at that day's
  instant: the current rows registered by then and the history rows in force then), ``other`` (the current index
  row of another insurer covering the day, latest acquisition first) and the billed version (the latest whose
  acquisition ≤ day: its id and recorded loss).

The days are grouped per claim in Python and decided by the same pure :func:`onshi.claims.service.decide_debtor`;
the cases are written with one multi-row INSERT.  The result is the same set of cases, field for field.
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import groupby

from sqlalchemy import Date, DateTime, String, and_, exists, func, insert, literal, or_, select, text, true, union_all
from sqlalchemy.orm import Session

from onshi.claims.models import Claim, RefundCase
from onshi.claims.service import DayJudgement, decide_debtor
from onshi.exchange.models import IndexedQualification, IndexedQualificationHistory
from onshi.registry.models import QualificationVersion
from onshi.rules.calendar import month_bounds
from onshi.rules.claims import prorated
from onshi.rules.co_pay import late_elderly_transition
from onshi.store.clock import japan_day_start, japan_today, utcnow
from onshi.store.history import current


def _care_days(dialect: str):
    """The table-valued unnest of ``claims.care_dates`` (one ISO day a row, column ``value``)."""
    fn = func.json_array_elements_text if dialect == "postgresql" else func.json_each
    return fn(Claim.__table__.c.care_dates).table_valued("value")


def judged_days(session: Session, *, insurer_id: int, month: str):
    """Rows ``(claim_id, person_id, birth_date, insurer_share_yen, days, day, covered, valid_then, other,
    billed_qualification_id, billed_loss_date)`` of every day of care of the month's open claims that is not
    covered by a registry version ignoring the 75th birthday — plus every day of those who may reach 75 in the
    month — ordered by claim and day."""
    first, after = month_bounds(month)
    now = utcnow()
    # the month's days as a derived table (UNION ALL of literals: SQLite has no column list on a VALUES alias)
    days = union_all(*(select(literal(d.isoformat(), String).label("iso"), literal(d, Date).label("day"),
                              literal(min(japan_day_start(d + timedelta(1)), now), DateTime).label("at"))
                       for d in (first + timedelta(n) for n in range((after - first).days)))).subquery("care_day")
    c, qv = Claim.__table__, QualificationVersion.__table__
    iq, h = IndexedQualification.__table__, IndexedQualificationHistory.__table__
    case = RefundCase.__table__
    tv = _care_days(session.get_bind().dialect.name)
    # every day of care of the month's open claims (the claim's columns beside it)
    cd = (select(c.c.id.label("claim_id"), c.c.person_id, c.c.birth_date, c.c.insurer_number, c.c.insurer_share_yen,
                 c.c.days, days.c.day, days.c.at)
          .select_from(c).join(tv, true()).join(days, days.c.iso == tv.c.value)
          .where(c.c.insurer_id == insurer_id, c.c.month == month, c.c.person_id.is_not(None),
                 ~exists().where(case.c.claim_id == c.c.id))
          .cte("claim_day"))
    day, at = cd.c.day, cd.c.at

    def covers(t):
        return and_(t.c.acquisition_date <= day, or_(t.c.loss_date.is_(None), t.c.loss_date > day))

    covered = exists().where(qv.c.person_id == cd.c.person_id, qv.c.insurer_id == insurer_id, current(qv.c),
                             covers(qv))
    valid_then = or_(
        exists().where(iq.c.person_id == cd.c.person_id, iq.c.insurer_number == cd.c.insurer_number,
                       iq.c.registered_at <= at, covers(iq)),
        exists().where(h.c.person_id == cd.c.person_id, h.c.insurer_number == cd.c.insurer_number,
                       h.c.registered_at <= at, h.c.superseded_at > at, covers(h)))
    other = (select(iq.c.insurer_number).where(iq.c.person_id == cd.c.person_id,
                                               iq.c.insurer_number != cd.c.insurer_number, covers(iq))
             .order_by(iq.c.acquisition_date.desc(), iq.c.insurer_number).limit(1).scalar_subquery())
    billed = (select(qv.c.qualification_id, qv.c.loss_date)
              .where(qv.c.person_id == cd.c.person_id, qv.c.insurer_id == insurer_id, current(qv.c),
                     qv.c.acquisition_date <= day)
              .order_by(qv.c.acquisition_date.desc(), qv.c.id).limit(1))
    billed_q = billed.with_only_columns(qv.c.qualification_id).scalar_subquery()
    billed_loss = billed.with_only_columns(qv.c.loss_date).scalar_subquery()
    # someone born on or before this day may reach 75 during the month (generous: the exact day is Python's)
    may_turn_75 = date(after.year - 75, 12, 31)

    def part(is_covered: bool):
        cols = (cd.c.claim_id, cd.c.person_id, cd.c.birth_date, cd.c.insurer_share_yen, cd.c.days, day.label("day"),
                literal(is_covered).label("covered"), valid_then.label("valid_then"), other.label("other"),
                billed_q.label("billed_q"), billed_loss.label("billed_loss"))
        # NOT EXISTS alone (an anti-join: one pass over the versions), EXISTS for the few who may turn 75
        return select(*cols).where(covered, cd.c.birth_date <= may_turn_75) if is_covered else \
            select(*cols).where(~covered)

    both = union_all(part(False), part(True)).subquery("judged")
    stmt = select(both).order_by(both.c.claim_id, both.c.day)
    if session.get_bind().dialect.name != "postgresql":
        return session.execute(stmt).all()
    # many small index probes: PostgreSQL's JIT compiles them for seconds and gains nothing (measured: 2.5 s of
    # JIT for a 60 ms execution) — off for this statement only, then as it was
    jit = session.execute(text("SELECT current_setting('jit')")).scalar_one()
    session.execute(text("SET LOCAL jit = off"))
    try:
        return session.execute(stmt).all()
    finally:
        session.execute(text("SELECT set_config('jit', :v, true)"), {"v": jit})


def match_care_after_loss(session: Session, *, insurer_id: int, month: str, today: date | None = None) -> list[dict]:
    """:func:`onshi.claims.service.match_care_after_loss`, set-based; returns the cases opened (as the rows
    written: dicts of :class:`~onshi.claims.models.RefundCase` columns)."""
    today = today or japan_today()
    session.flush()
    rows_out: list[dict] = []
    for claim_id, rows in groupby(judged_days(session, insurer_id=insurer_id, month=month), key=lambda r: r.claim_id):
        rows = list(rows)
        r0 = rows[0]
        t75 = late_elderly_transition(r0.birth_date)
        after, billed = [], {}
        for r in rows:
            d = r.day if isinstance(r.day, date) else date.fromisoformat(r.day)
            if bool(r.covered) and d < t75:
                continue
            after.append(DayJudgement(d, False, bool(r.valid_then), r.other))
            billed.setdefault("q", (r.billed_q, r.billed_loss))
        decision = decide_debtor(after)
        if decision is None:
            continue
        debtor, new_insurer = decision
        billed_q, billed_loss = billed["q"]
        if isinstance(billed_loss, str):
            billed_loss = date.fromisoformat(billed_loss)
        loss = None
        if billed_q is not None:
            loss = min(d for d in (billed_loss, t75) if d is not None)
        rows_out.append(dict(
            claim_id=claim_id, insurer_id=insurer_id, person_id=r0.person_id, qualification_id=billed_q,
            month=month, loss_date=loss, days_after_loss=[j.day.isoformat() for j in after],
            days_valid_then=[j.day.isoformat() for j in after if j.valid_then],
            amount_yen=prorated(r0.insurer_share_yen, len(after), r0.days), debtor=debtor,
            new_insurer_number=new_insurer, status="open", found_on=today, created_at=utcnow()))
    if rows_out:
        session.execute(insert(RefundCase), rows_out)
    return rows_out
