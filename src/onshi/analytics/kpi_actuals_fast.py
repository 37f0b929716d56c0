"""The KPI actuals of :mod:`onshi.analytics.kpi_actuals`, read with aggregate SQL — what the KPI page computes.

The reference functions in ``kpi_actuals`` load every registry change since the fiscal year began (as ORM objects,
through :func:`onshi.exchange.sla.sla_records`), every enrolment certificate with its JSON, and every qualification
version for the 特定健診 denominator, then count in Python; the sheet asks for two fiscal years (the year and, for
the trend, the year before).  Here the database groups and only the groups come back:

* ``registration_within_5_days``: the year's changes grouped by (day of receipt in Japan, day of registration in
  Japan or none) — at most a few hundred groups a year; each group is classified with the SLA's own rule
  (:func:`onshi.exchange.sla.classify`, the deadline table of ``rules.calendar``), so a holiday or a changed
  deadline rule is applied exactly as on the SLA board;
* ``certificate_next_business_day``: the enrolment certificates joined to their qualification's first enrolment
  filing (the lowest change id, as the reference reads them), grouped by (day of receipt, issue date);
* the 特定健診 denominator: one read of the columns the rule needs (acquisition, loss, role, person, birth date)
  instead of ORM objects, then the same rule functions (``registry.effective_loss_date``,
  ``rules.claims.enrolled_through`` / ``checkup_target``) and :func:`onshi.claims.checkups.checkup_rates`.

"Day in Japan" is computed in SQL as the stored UTC time + 9 hours (Japan has no daylight saving;
:func:`onshi.store.clock.japan_date` does the same in Python): ``date(t, '+9 hours')`` on SQLite,
``CAST(t + INTERVAL '9 hours' AS DATE)`` on PostgreSQL.  ``tests/analytics/test_kpi_actuals_fast.py`` compares
every figure with the reference on both databases, per fiscal year, including a change received at 14:59 and at
15:00 UTC on 31 March (31 March and 1 April in Japan).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from types import SimpleNamespace

from sqlalchemy import Date, cast, func, literal_column, select, text
from sqlalchemy.orm import Session

from onshi.analytics.kpi_actuals import insurer_ids_of_branch
from onshi.rules.calendar import fiscal_year_bounds, fiscal_year_of
from onshi.store.clock import japan_day_start


def _japan_day(session: Session, column):
    """SQL: the day in Japan of a stored (naive UTC) time."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(column + text("INTERVAL '9 hours'"), Date)
    return func.date(column, literal_column("'+9 hours'"))


def _as_date(value) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def registration_within_5_days(session: Session, fiscal_year: int, branch: str = "00",
                               today: date | None = None) -> float | None:
    """:func:`onshi.analytics.kpi_actuals.registration_within_5_days`, grouped in the database."""
    from onshi.exchange.sla import classify
    from onshi.registry.models import RegistryChange as RC
    from onshi.rules.dated import NotInForce
    from onshi.store.clock import japan_today

    today = today or japan_today()
    ids = insurer_ids_of_branch(session, branch)
    start, end = fiscal_year_bounds(fiscal_year)
    received, registered = _japan_day(session, RC.received_at), _japan_day(session, RC.published_at)
    q = (select(received, registered, func.count()).where(
        RC.qualification_id.is_not(None), RC.received_at >= japan_day_start(start),
        RC.received_at < japan_day_start(end + timedelta(days=1))).group_by(received, registered))
    if ids is not None:
        q = q.where(RC.insurer_id.in_(sorted(ids)))
    decided = on_time = 0
    for day, reg_day, n in session.execute(q):
        day, reg_day = _as_date(day), _as_date(reg_day)
        if fiscal_year_of(day) != fiscal_year:  # cannot happen with the bounds above; kept as the reference's test
            continue
        # classify() takes stored times; a day's noon in Japan (03:00 UTC) stands for every time of that day
        try:
            status = _status(classify, day, reg_day, today)
        except NotInForce:  # received before the deadline rule existed: no SLA record (exchange.sla)
            continue
        if status in ("pending", "due_soon"):
            continue
        decided += n
        on_time += n if status == "on_time" else 0
    return round(100 * on_time / decided, 2) if decided else None


def _status(classify, received_day: date, registered_day: date | None, today: date) -> str:
    from datetime import datetime, time

    noon_utc = lambda d: datetime.combine(d, time(3, 0))  # noqa: E731 - 12:00 JST of day d, as stored
    return classify(noon_utc(received_day), noon_utc(registered_day) if registered_day else None, today)[1]


def certificate_next_business_day(session: Session, fiscal_year: int, branch: str = "00") -> float | None:
    """:func:`onshi.analytics.kpi_actuals.certificate_next_business_day`, grouped in the database."""
    from onshi.documents.issue_rules import issue_date_for
    from onshi.documents.models import IssuedDocument as D
    from onshi.registry.models import NotificationType as T
    from onshi.registry.models import RegistryChange as RC

    ids = insurer_ids_of_branch(session, branch)
    start, end = fiscal_year_bounds(fiscal_year)
    first = (select(RC.qualification_id, func.min(RC.id).label("first_id"))
             .where(RC.kind.in_([T.acquisition, T.dependent]), RC.qualification_id.is_not(None))
             .group_by(RC.qualification_id).subquery())
    received = _japan_day(session, RC.received_at)
    # the due day is the next business day after receipt: a receipt up to a month before the year can fall due in it
    q = (select(received, D.issue_date, func.count()).select_from(D)
         .join(first, first.c.qualification_id == D.qualification_id).join(RC, RC.id == first.c.first_id)
         .where(D.kind == "certificate", D.issue_key.like("%:enrol"),
                RC.received_at >= japan_day_start(start - timedelta(days=31)),
                RC.received_at < japan_day_start(end + timedelta(days=1)))
         .group_by(received, D.issue_date))
    if ids is not None:
        q = q.where(D.insurer_id.in_(sorted(ids)))
    total = in_time = 0
    due_of: dict[date, date] = {}
    for day, issued, n in session.execute(q):
        day = _as_date(day)
        due = due_of.get(day) or due_of.setdefault(day, issue_date_for(day))
        if fiscal_year_of(due) != fiscal_year:
            continue
        total += n
        in_time += n if _as_date(issued) <= due else 0
    return round(100 * in_time / total, 2) if total else None


def checkup_denominator(session: Session, insurer_ids: Iterable[int], fiscal_year: int) -> dict[str, set[int]]:
    """:func:`onshi.claims.checkups.checkup_denominator` from one read of the columns its rule needs."""
    from onshi.registry.models import PersonVersion as PV
    from onshi.registry.models import QualificationVersion as QV
    from onshi.registry.models import Role
    from onshi.registry.service import effective_loss_date
    from onshi.rules.claims import CHECKUP_AGES, checkup_target, enrolled_through
    from onshi.store.history import current

    insurer_ids = list(insurer_ids)
    out: dict[str, set[int]] = {"insured": set(), "dependent": set()}
    if not insurer_ids:
        return out
    start, end = fiscal_year_bounds(fiscal_year)
    lo, hi = CHECKUP_AGES.at(start)
    # narrowed in SQL only where the rule below cannot hold: a recorded loss within the year (the effective loss
    # is never later than it) and births far outside the ages (a year's margin each side)
    rows = session.execute(
        select(QV.person_id, QV.role, QV.acquisition_date, QV.loss_date, PV.birth_date)
        .join(PV, (PV.person_id == QV.person_id) & current(PV))
        .where(current(QV), QV.insurer_id.in_(insurer_ids), QV.acquisition_date <= start,
               (QV.loss_date.is_(None)) | (QV.loss_date > end),
               PV.birth_date >= date(end.year - hi - 2, 1, 1), PV.birth_date <= date(end.year - lo + 1, 12, 31)))
    for person_id, role, acquisition, loss, birth in rows:
        if birth is None:
            continue
        loss = effective_loss_date(SimpleNamespace(loss_date=loss), birth)
        if enrolled_through(acquisition, loss, fiscal_year) and checkup_target(birth, fiscal_year):
            out["dependent" if role == Role.dependent else "insured"].add(person_id)
    return out


def generic_share_kpi(engine, fiscal_year: int, branch: str = "00", *, con=None) -> float | None:
    """:func:`onshi.claims.generic.generic_share_kpi` — the same reads and sums — in an open DuckDB connection
    *con* (the usage analytics' one: opening DuckDB is most of the figure's time on a small database); a year
    without any claim is answered None (as the reference does) from one indexed look, without the aggregate."""
    from onshi.claims import generic
    from onshi.rules.calendar import fiscal_year_months
    from onshi.rules.claims import generic_share

    from onshi.claims.models import Claim

    months = fiscal_year_months(fiscal_year)
    with engine.connect() as c:  # no claim of the year: no drug line, no figure (the reference's None), read nothing
        if c.execute(select(Claim.id).where(Claim.month.in_(months)).limit(1)).first() is None:
            return None
    if con is None:
        return generic.generic_share_kpi(engine, fiscal_year, branch)
    generic.register_database(con, engine, months)
    rows = generic.generic_shares(con, "month", months=months, branch=None if branch == "00" else branch)
    return generic_share(sum(r["generic_qty"] for r in rows), sum(r["brand_qty"] for r in rows))


def claims_actuals(session: Session, fiscal_year: int, branch: str = "00", *, con=None) -> dict[str, float | None]:
    """:func:`onshi.analytics.kpi_actuals.claims_actuals` with the denominator of :func:`checkup_denominator`
    (and the generic share in *con*, :func:`generic_share_kpi`)."""
    from onshi.claims import checkups, service as claims

    ids = insurer_ids_of_branch(session, branch)
    insurer_ids = sorted(ids) if ids is not None else None
    if insurer_ids is None:
        from onshi.registry.service import list_insurers

        insurer_ids = [i.id for i in list_insurers(session)]
    rates = checkups.checkup_rates(session, insurer_ids, fiscal_year,
                                   denominator=checkup_denominator(session, insurer_ids, fiscal_year))
    return {
        "generic_share": generic_share_kpi(session.get_bind(), fiscal_year, branch, con=con),
        "checkup_rate": rates[None],
        "checkup_rate_dependents": rates["dependent"],
        "refund_recovery_rate": claims.refund_recovery_rate(session, fiscal_year, ids),
    }


def system_actuals(session: Session, fiscal_year: int, branch: str = "00", *, ua=None) -> dict[str, float]:
    """:func:`onshi.analytics.usage.system_actuals` with the figures above (the same keys and values); *ua*: an
    open :class:`~onshi.analytics.usage.UsageAnalytics` for the usage rate (one for both years of a sheet)."""
    from onshi.analytics.kpi_actuals import mail_application, service_standard
    from onshi.analytics.usage import usage_rate_kpi

    values = {
        "usage_rate": usage_rate_kpi(session.get_bind(), fiscal_year, branch, ua=ua),
        "registration_within_5_days": registration_within_5_days(session, fiscal_year, branch),
        "certificate_next_business_day": certificate_next_business_day(session, fiscal_year, branch),
        **claims_actuals(session, fiscal_year, branch, con=ua.con if ua is not None else None),
        "service_standard": service_standard(session, fiscal_year, branch),
        "mail_application": mail_application(session, fiscal_year, branch),
    }
    return {k: v for k, v in values.items() if v is not None}
