"""KPI actuals the system computes from the registry and the documents it issued (the rest are imported from CSV).

* ``registration_within_5_days`` — share of registry changes received in the fiscal year that reached the
  verification index by their deadline (5 days after receipt, :mod:`onshi.exchange.sla`), in %; changes still
  waiting and not yet overdue are not counted either way;
* ``certificate_next_business_day`` — share of 資格確認書 issued on enrolment whose issue date is no later than
  the next business day after the enrolment data were received (seed 000), in %, by the due date's fiscal year;
* ``service_standard`` — share of cash-benefit applications paid in the fiscal year within 10 business days of
  becoming complete (サービススタンダード, :func:`onshi.benefits.service.service_standard_rate`), in %;
* ``mail_application`` — share of cash-benefit applications received in the fiscal year not at the counter
  (郵送化率, :func:`onshi.benefits.service.mail_rate`), in %.

From the claims (:mod:`onshi.claims`, docs/claims.md): ``generic_share`` (数量ベース, DuckDB over the claim
lines), ``checkup_rate`` and ``checkup_rate_dependents`` (特定健診, the registry's denominator and the imported
results), ``refund_recovery_rate`` (返納金, the cases noticed in the year).

The usage-rate KPI (``usage_rate``) is :func:`onshi.analytics.usage.usage_rate_kpi`, and
:func:`onshi.analytics.usage.system_actuals` gathers all three: this module imports nothing of the usage rates, so
the two never import each other.  A figure the system has no data for is absent from the answer (never 0).
``branch`` ``"00"`` is nationwide; otherwise the two-digit prefecture of the insurer number (協会けんぽ 支部).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.rules.calendar import fiscal_year_bounds, fiscal_year_of
from onshi.store.clock import japan_date


def insurer_ids_of_branch(session: Session, branch: str) -> set[int] | None:
    """The ids of the insurers of a 支部 (the prefecture digits of the 保険者番号); None for ``"00"`` (every one)."""
    from onshi.registry.models import Insurer

    if branch == "00":
        return None
    return {i.id for i in session.scalars(select(Insurer)) if i.number[2:4] == branch}


def registration_within_5_days(session: Session, fiscal_year: int, branch: str = "00",
                               today: date | None = None) -> float | None:
    from onshi.exchange.sla import sla_records

    ids = insurer_ids_of_branch(session, branch)
    decided = on_time = 0
    for r in sla_records(session, since=fiscal_year_bounds(fiscal_year)[0], today=today):
        if ids is not None and r.insurer_id not in ids:
            continue
        if fiscal_year_of(japan_date(r.received_at)) != fiscal_year or r.status in ("pending", "due_soon"):
            continue
        decided += 1
        on_time += r.status == "on_time"
    return round(100 * on_time / decided, 2) if decided else None


def certificate_next_business_day(session: Session, fiscal_year: int, branch: str = "00") -> float | None:
    from onshi.documents.issue_rules import issue_date_for
    from onshi.documents.models import IssuedDocument
    from onshi.registry.models import NotificationType as T
    from onshi.registry.models import RegistryChange

    ids = insurer_ids_of_branch(session, branch)
    received: dict[int, date] = {}
    for qid, at in session.execute(select(RegistryChange.qualification_id, RegistryChange.received_at).where(
            RegistryChange.kind.in_([T.acquisition, T.dependent]), RegistryChange.qualification_id.is_not(None))
            .order_by(RegistryChange.id)):  # the first filing of the qualification (not the database's row order)
        received.setdefault(qid, japan_date(at))
    total = in_time = 0
    for doc in session.scalars(select(IssuedDocument).where(IssuedDocument.kind == "certificate",
                                                            IssuedDocument.issue_key.like("%:enrol"))):
        if (ids is not None and doc.insurer_id not in ids) or doc.qualification_id not in received:
            continue
        due = issue_date_for(received[doc.qualification_id])
        if fiscal_year_of(due) != fiscal_year:
            continue
        total += 1
        in_time += doc.issue_date <= due
    return round(100 * in_time / total, 2) if total else None


def claims_actuals(session: Session, fiscal_year: int, branch: str = "00") -> dict[str, float | None]:
    """The KPI actuals computed from the claims domain (generic share, 特定健診, 返納金 recovery)."""
    from onshi.claims import checkups, generic, service as claims

    ids = insurer_ids_of_branch(session, branch)
    insurer_ids = sorted(ids) if ids is not None else None
    if insurer_ids is None:
        from onshi.registry.service import list_insurers

        insurer_ids = [i.id for i in list_insurers(session)]
    rates = checkups.checkup_rates(session, insurer_ids, fiscal_year)  # one denominator for both figures
    return {
        "generic_share": generic.generic_share_kpi(session.get_bind(), fiscal_year, branch),
        "checkup_rate": rates[None],
        "checkup_rate_dependents": rates["dependent"],
        "refund_recovery_rate": claims.refund_recovery_rate(session, fiscal_year, ids),
    }


def service_standard(session: Session, fiscal_year: int, branch: str = "00") -> float | None:
    from onshi.benefits.service import service_standard_rate

    return service_standard_rate(session, fiscal_year, insurer_ids_of_branch(session, branch))


def mail_application(session: Session, fiscal_year: int, branch: str = "00") -> float | None:
    from onshi.benefits.service import mail_rate

    return mail_rate(session, fiscal_year, insurer_ids_of_branch(session, branch))
