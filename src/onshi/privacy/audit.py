"""Writing to and reading the audit log."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.privacy.models import AuditEntry


def record_read(
    session: Session, *, actor_kind: str, actor_id: str, action: str, subject_kind: str, subject_id: object,
    detail: str | None = None,
) -> None:
    """Log that *actor* read personal data of *subject*.  The detail must never hold a My Number."""
    session.add(AuditEntry(actor_kind=actor_kind, actor_id=str(actor_id), action=action,
                           subject_kind=subject_kind, subject_id=str(subject_id), detail=detail))


def entries_for(session: Session, subject_kind: str, subject_id: object) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(
        AuditEntry.subject_kind == subject_kind, AuditEntry.subject_id == str(subject_id)).order_by(AuditEntry.id)))
