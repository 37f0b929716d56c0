"""Writing to and reading the audit log (アクセス記録).

The rule (docs/audit.md): every read of a person's data writes its row here **from the read service** — the
function that fetches the data — never from a route, so a new page or endpoint that calls the service cannot forget
it.  ``tests/web/test_route_audit.py`` walks every route of the app and fails when an answer shows a seeded person's
data without a row written in the same request.

The viewer (:func:`list_entries`) is itself a read of personal data (who looked at whom): it writes an
``audit.view`` row each time it is called.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from onshi.privacy.models import AuditEntry
from onshi.store.clock import japan_day_start

#: rows per page of the viewer
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def record_read(
    session: Session, *, actor_kind: str, actor_id: str, action: str, subject_kind: str, subject_id: object,
    detail: str | None = None, insurer_number: str | None = None,
) -> None:
    """Log that *actor* read personal data of *subject* (of *insurer_number*'s records, when known).  The detail
    must never hold a My Number."""
    session.add(AuditEntry(actor_kind=actor_kind, actor_id=str(actor_id)[:100], action=action,
                           subject_kind=subject_kind, subject_id=str(subject_id)[:60],
                           detail=None if detail is None else detail[:400], insurer_number=insurer_number))


def entries_for(session: Session, subject_kind: str, subject_id: object) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(
        AuditEntry.subject_kind == subject_kind, AuditEntry.subject_id == str(subject_id)).order_by(AuditEntry.id)))


def last_id(session: Session) -> int:
    """The newest row's id (0 for an empty log): "what was written since" is ``id > last_id``."""
    return session.scalar(select(func.max(AuditEntry.id))) or 0


@dataclass(frozen=True)
class AuditFilter:
    """What the viewer asks for.  ``person``: a person id (subject ``person``); ``user``: a user name (actor
    ``user``); ``institution``: a 医療機関コード (actor ``institution``, or one of *institution_users*, the
    institution's own users); ``day``: a day in Japan time.  ``insurer_number`` scopes to one insurer's rows
    (a supervisor); None is every row (an administrator)."""

    person: int | None = None
    user: str | None = None
    institution: str | None = None
    day: date | None = None
    insurer_number: str | None = None
    institution_users: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in (("person", self.person), ("user", self.user),
                                         ("institution", self.institution), ("day", self.day),
                                         ("insurer", self.insurer_number)) if v not in (None, "")]
        return " ".join(parts) or "all"


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _where(f: AuditFilter) -> list:
    cond = []
    if f.insurer_number is not None:
        cond.append(AuditEntry.insurer_number == f.insurer_number)
    if f.person is not None:
        cond.append(and_(AuditEntry.subject_kind == "person", AuditEntry.subject_id == str(f.person)))
    if f.user:
        cond.append(and_(AuditEntry.actor_kind == "user", AuditEntry.actor_id == f.user))
    if f.institution:
        by = and_(AuditEntry.actor_kind == "institution", AuditEntry.actor_id == f.institution)
        if f.institution_users:
            by = or_(by, and_(AuditEntry.actor_kind == "user", AuditEntry.actor_id.in_(f.institution_users)))
        cond.append(by)
    if f.day is not None:
        start = japan_day_start(f.day)
        cond.append(and_(AuditEntry.at >= start, AuditEntry.at < start + timedelta(days=1)))
    return cond


def list_entries(session: Session, f: AuditFilter, *, actor_kind: str, actor_id: str, page: int = 1,
                 per_page: int = PAGE_SIZE) -> AuditPage:
    """One page of the log matching *f*, newest first.  The look itself is written to the log
    (``audit.view``, subject ``audit_log``, the filter in the detail, scoped like the rows it shows) — after the
    query, so a page never lists its own row."""
    per_page = max(1, min(int(per_page), MAX_PAGE_SIZE))
    page = max(1, int(page))
    cond = _where(f)
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*cond)) or 0
    entries = list(session.scalars(select(AuditEntry).where(*cond).order_by(AuditEntry.id.desc())
                                   .offset((page - 1) * per_page).limit(per_page)))
    record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="audit.view", subject_kind="audit_log",
                subject_id=f.person if f.person is not None else "-",
                detail=f"{f.describe()} page={page} rows={len(entries)}", insurer_number=f.insurer_number)
    session.flush()
    return AuditPage(entries, total, page, per_page)


def subjects_written_since(session: Session, after_id: int) -> set[tuple[str, str]]:
    """``{(subject_kind, subject_id)}`` of the rows written after *after_id* (tests and checks)."""
    return {(k, i) for k, i in session.execute(select(AuditEntry.subject_kind, AuditEntry.subject_id)
                                                .where(AuditEntry.id > after_id))}


__all__ = ["AuditEntry", "AuditFilter", "AuditPage", "entries_for", "last_id", "list_entries",
           "record_read", "subjects_written_since"]
