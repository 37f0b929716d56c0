"""The 5-day registration SLA (届出受付から5日以内の登録) per insurer.

Each registry change carries when the filing was received and when it was
registered in the index.  A change is *late* when registered after its
deadline, *overdue* when still pending past it, and *due soon* when pending
with the deadline within the warning window.

The deadline rule (``rules.calendar.REGISTRATION_DEADLINE``) starts with the national system (2021-10-20): a change
received before it — a registry's history migrated in — has no deadline and is no SLA record (left out of the
board, the overdue count and the 5-day KPI alike).

Both times are recorded in UTC; the day of receipt, the day of registration and
"today" are days in Japan (:mod:`onshi.store.clock`) — a filing received at
08:30 JST on the 26th (23:30 UTC on the 25th) was received on the 26th.

What lateness cost — the 返納金 cases caused by our late registration — is shown on the board beside these figures,
but read from the claims domain (``claims.service.lateness_cost_by_month``) by the page and ``onshi exchange sla``:
this layer sits below claims and does not import it (docs/claims.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from onshi.registry import service as registry
from onshi.rules.dated import NotInForce
from onshi.store.clock import japan_date, japan_today


@dataclass(frozen=True)
class SlaRecord:
    change_id: int
    insurer_id: int
    employer_id: int | None
    kind: str
    received_at: datetime
    deadline: date
    registered_at: datetime | None
    status: str  # on_time | late | overdue | due_soon | pending


def classify(received_at: datetime, registered_at: datetime | None, today: date, warn_days: int = 1) -> tuple[date, str]:
    """Deadline and status of a change received at *received_at* (recorded, UTC) on *today* (a day in Japan)."""
    from onshi.rules.calendar import deadline_after_receipt

    deadline = deadline_after_receipt(japan_date(received_at))
    if registered_at is not None:
        return deadline, "on_time" if japan_date(registered_at) <= deadline else "late"
    if today > deadline:
        return deadline, "overdue"
    if (deadline - today).days <= warn_days:
        return deadline, "due_soon"
    return deadline, "pending"


def sla_records(session: Session, *, insurer_id: int | None = None, today: date | None = None,
                since: date | None = None, statuses: set[str] | None = None) -> list[SlaRecord]:
    today = today or japan_today()
    out = []
    for ch in registry.member_changes(session, insurer_id=insurer_id, received_since=since):
        try:
            deadline, status = classify(ch.received_at, ch.published_at, today)
        except NotInForce:  # received before the deadline rule existed (a history migrated in): no SLA record
            continue
        if statuses and status not in statuses:
            continue
        out.append(SlaRecord(ch.id, ch.insurer_id, ch.employer_id, ch.kind.value, ch.received_at, deadline,
                             ch.published_at, status))
    return out


def sla_summary(session: Session, *, insurer_id: int, today: date | None = None) -> dict:
    """Counts by status, by day of receipt and by employer (for the SLA board)."""
    records = sla_records(session, insurer_id=insurer_id, today=today)
    by_status: dict[str, int] = {}
    by_day: dict[str, dict[str, int]] = {}
    by_employer: dict[int | None, dict[str, int]] = {}
    for r in records:
        by_status[r.status] = by_status.get(r.status, 0) + 1
        d = by_day.setdefault(japan_date(r.received_at).isoformat(), {})
        d[r.status] = d.get(r.status, 0) + 1
        e = by_employer.setdefault(r.employer_id, {})
        e[r.status] = e.get(r.status, 0) + 1
    names = {e.id: e.name for e in registry.list_employers(session, insurer_id=insurer_id)}
    return {"by_status": by_status, "by_day": dict(sorted(by_day.items())),
            "by_employer": {names.get(k, "(なし)"): v for k, v in by_employer.items()}}


@dataclass(frozen=True)
class SlaBoard:
    """The SLA board of one insurer (登録期限の状況): :func:`sla_summary`, its totals, the changes overdue or due
    soon (oldest receipt first, at most *late_limit*) and how many wait in the outbox.  No one's personal data."""

    today: date
    summary: dict
    totals: dict[str, int]
    late: list[SlaRecord]
    pending: int


def board(session: Session, *, insurer_id: int, today: date | None = None, late_limit: int = 200) -> SlaBoard:
    from onshi.exchange.publish import pending_count

    today = today or japan_today()
    summary = sla_summary(session, insurer_id=insurer_id, today=today)
    by = summary["by_status"]
    totals = {"received": sum(by.values()), "registered": by.get("on_time", 0) + by.get("late", 0),
              "overdue": by.get("overdue", 0), "waiting": by.get("pending", 0) + by.get("due_soon", 0)}
    late = sla_records(session, insurer_id=insurer_id, today=today, statuses={"overdue", "due_soon"})
    return SlaBoard(today, summary, totals, late[:late_limit], pending_count(session, insurer_id))


def overdue_pending(session: Session, *, today: date | None = None) -> int:
    """How many changes still wait in the outbox past their registration deadline, every insurer (``/metrics``).
    Reads only the pending changes (the outbox's partial index), grouped by hour of receipt — Japan's offset is
    whole hours, so the hour decides the day of receipt."""
    from sqlalchemy import func, select

    from onshi.registry.models import RegistryChange

    today = today or japan_today()
    rc = RegistryChange.received_at
    hour = func.date_trunc("hour", rc) if session.get_bind().dialect.name == "postgresql" \
        else func.strftime("%Y-%m-%d %H:00:00", rc)
    total = 0
    for received, n in session.execute(select(hour, func.count()).where(RegistryChange.published_at.is_(None))
                                       .group_by(hour)):
        if isinstance(received, str):
            received = datetime.fromisoformat(received)
        try:
            overdue = classify(received, None, today)[1] == "overdue"
        except NotInForce:  # received before the deadline rule existed: never overdue
            continue
        total += n if overdue else 0
    return total
