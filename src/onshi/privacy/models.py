"""The audit log (アクセス記録): every read of a person's data by a user or an institution."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from onshi.store.db import Base, utcnow


class AuditEntry(Base):
    """One read: who (``actor_kind``/``actor_id``), what (``subject_kind``/``subject_id``, e.g. ``person``/``42``),
    why (``action``: ``member.view``, ``verify`` …, with ``detail``), when (``at``, UTC; shown in Japan time) and
    whose record (``insurer_number``: the insurer the subject belongs to, when the reader knows it — a
    supervisor's view of the log is scoped by it)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_subject", "subject_kind", "subject_id"),
                      Index("ix_audit_actor", "actor_kind", "actor_id"))
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    actor_kind: Mapped[str] = mapped_column(String(20))  # user | institution | system | cli
    actor_id: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60))
    subject_kind: Mapped[str] = mapped_column(String(30))
    subject_id: Mapped[str] = mapped_column(String(60))
    detail: Mapped[str | None] = mapped_column(String(400))
    insurer_number: Mapped[str | None] = mapped_column(String(8), index=True)
