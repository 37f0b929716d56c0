"""Records of issued documents, applications for 資格確認書 and document runs."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from onshi.store.db import Base, utcnow

PK = BigInteger().with_variant(Integer, "sqlite")


class IssuedDocument(Base):
    """One issued 資格確認書 or 資格情報のお知らせ; ``data`` keeps what was printed so it reprints identically."""

    __tablename__ = "issued_documents"
    __table_args__ = (UniqueConstraint("issue_key"), Index("ix_issued_person", "person_id"))
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # certificate | notice
    issue_key: Mapped[str] = mapped_column(String(120))  # what makes it "the same issue" (never issued twice)
    person_id: Mapped[int] = mapped_column(BigInteger)
    qualification_id: Mapped[int] = mapped_column(BigInteger)
    insurer_id: Mapped[int] = mapped_column(BigInteger)
    employer_id: Mapped[int | None] = mapped_column(BigInteger)
    issue_date: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(40))
    layout: Mapped[str] = mapped_column(String(100))
    data: Mapped[dict] = mapped_column(JSON)
    sha256: Mapped[str | None] = mapped_column(String(64))  # of its own PDF; None when printed only in a bundle
    layout_fingerprint: Mapped[str | None] = mapped_column(String(64))  # render.layout_fingerprint at issue
    file: Mapped[str | None] = mapped_column(String(400))
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    warnings: Mapped[list] = mapped_column(JSON, default=list)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    due_back_since: Mapped[date | None] = mapped_column(Date)  # 返納: the certificate must come back
    returned_at: Mapped[date | None] = mapped_column(Date)


class CertificateApplication(Base):
    """Application for a 資格確認書 (紛失・更新中・要配慮者 …), through the employer or directly (任意継続)."""

    __tablename__ = "certificate_applications"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    qualification_id: Mapped[int] = mapped_column(BigInteger)
    applied_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(40))  # card_lost | card_renewal | needs_support | other
    applicant: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(20), default="employer")  # employer | direct
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class DocumentRun(Base):
    """A daily certificate run or a notice mailing run: who, when, how many, which files."""

    __tablename__ = "document_runs"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # daily | mailing
    insurer_id: Mapped[int | None] = mapped_column(BigInteger)
    run_key: Mapped[str] = mapped_column(String(120), unique=True)
    started_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    documents: Mapped[int] = mapped_column(Integer, default=0)
    files: Mapped[list] = mapped_column(JSON, default=list)
    report: Mapped[str | None] = mapped_column(Text)
