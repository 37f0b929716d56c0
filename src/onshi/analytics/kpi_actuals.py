"""KPI actuals the system computes from its own data (the rest are imported from CSV).

* ``usage_rate`` — 協会けんぽ's マイナ保険証 KPI (外来 card users ÷ 外来 claims), the fiscal year's last month
  with data, in % (:func:`onshi.analytics.usage.usage_rate_kpi`);
* ``registration_within_5_days`` — share of registry changes received in the fiscal year that reached the
  verification index by their deadline (5 days after receipt, :mod:`onshi.exchange.sla`), in %; changes still
  waiting and not yet overdue are not counted either way;
* ``certificate_next_business_day`` — share of 資格確認書 issued on enrolment whose issue date is no later than
  the next business day after the enrolment data were received (seed 000), in %, by the due date's fiscal year.

A figure the system has no data for is absent from the answer (never 0).  ``branch`` ``"00"`` is nationwide;
otherwise the two-digit prefecture of the insurer number (協会けんぽ 支部).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.store.clock import japan_date


def fiscal_year_of(day: date) -> int:
    """年度: April to March.

    >>> fiscal_year_of(date(2025, 3, 31)), fiscal_year_of(date(2025, 4, 1))
    (2024, 2025)
    """
    return day.year if day.month >= 4 else day.year - 1


def _insurer_ids(session: Session, branch: str) -> set[int] | None:
    from onshi.registry.models import Insurer

    if branch == "00":
        return None
    return {i.id for i in session.scalars(select(Insurer)) if i.number[2:4] == branch}


def registration_within_5_days(session: Session, fiscal_year: int, branch: str = "00",
                               today: date | None = None) -> float | None:
    from onshi.exchange.sla import sla_records

    ids = _insurer_ids(session, branch)
    decided = on_time = 0
    for r in sla_records(session, since=date(fiscal_year, 4, 1), today=today):
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

    ids = _insurer_ids(session, branch)
    received: dict[int, date] = {}
    for qid, at in session.execute(select(RegistryChange.qualification_id, RegistryChange.received_at).where(
            RegistryChange.kind.in_([T.acquisition, T.dependent]), RegistryChange.qualification_id.is_not(None))):
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


def system_actuals(session: Session, fiscal_year: int, branch: str = "00") -> dict[str, float]:
    """Every KPI actual the system can compute for the fiscal year and branch, keyed by ``computed_by``."""
    from onshi.analytics.usage import usage_rate_kpi

    values = {
        "usage_rate": usage_rate_kpi(session.get_bind(), fiscal_year, branch),
        "registration_within_5_days": registration_within_5_days(session, fiscal_year, branch),
        "certificate_next_business_day": certificate_next_business_day(session, fiscal_year, branch),
    }
    return {k: v for k, v in values.items() if v is not None}
