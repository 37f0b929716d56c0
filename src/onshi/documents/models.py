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
    __table_args__ = (UniqueConstraint("issue_key"), Index("ix_issued_person", "person_id"),
                      Index("ix_issued_qualification", "qualification_id"))  # a daily run's slices read by range
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


class GaijiDecision(Base):
    """A clerk's decision on a name with 外字 (characters outside JIS X 0208): print the substitute, or handle the
    printing otherwise (手書き・外字フォント) — one current decision per person and name, the latest recorded."""

    __tablename__ = "gaiji_decisions"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    person_id: Mapped[int] = mapped_column(BigInteger, index=True)
    name: Mapped[str] = mapped_column(String(100))  # the registered name the decision is about
    printed: Mapped[str] = mapped_column(String(100))  # what the documents print for it
    decision: Mapped[str] = mapped_column(String(20))  # substitute | handwrite
    note: Mapped[str | None] = mapped_column(String(400))
    decided_by: Mapped[str] = mapped_column(String(100))
    decided_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class MailingBundle(Base):
    """One employer's bundle of a mailing run, written in the same transaction as its notices: the run's
    progress gathered from every worker, and the per-member failures (who and why) — docs/batch.md."""

    __tablename__ = "mailing_bundles"
    __table_args__ = (UniqueConstraint("run_id", "employer_id"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    run_id: Mapped[int] = mapped_column(BigInteger)
    employer_id: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(10))  # done | failed (some members or the bundle) | retry (sent again)
    members: Mapped[int] = mapped_column(Integer, default=0)
    issued: Mapped[int] = mapped_column(Integer, default=0)
    files: Mapped[list] = mapped_column(JSON, default=list)  # [[path, notices], ...]
    notes: Mapped[list] = mapped_column(JSON, default=list)  # what a clerk must look at
    failures: Mapped[list] = mapped_column(JSON, default=list)  # [{qualification_id, symbol, number, error}]
    worker: Mapped[str] = mapped_column(String(200), default="")
    finished_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class NationalListFile(Base):
    """One imported national list (docs/national-lists.md): the 職権交付対象者リスト of a month, or the list of
    people who cannot use マイナ保険証.  ``sha256`` makes a second import of the same file change nothing;
    ``problems`` keeps each row that was not applied — row, field, value, reason (in Japanese) and whether it
    was unreadable (``rejected``) or named nobody (``unmatched``)."""

    __tablename__ = "national_list_files"
    __table_args__ = (UniqueConstraint("kind", "sha256"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # ex_officio | cannot_use
    month: Mapped[date] = mapped_column(Date)  # the list's month (its first day)
    insurer_id: Mapped[int | None] = mapped_column(BigInteger)  # the insurer it was imported for, when scoped
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(200))
    encoding: Mapped[str] = mapped_column(String(10))
    imported_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    imported_by: Mapped[str] = mapped_column(String(100))
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)
    already: Mapped[int] = mapped_column(Integer, default=0)
    unmatched: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[list] = mapped_column(JSON, default=list)  # [{row, field, value, reason, kind}]


class NationalListEntry(Base):
    """A member on a national list of a month: one row per (kind, month, qualification) whatever the number
    of files that name them, so importing the same people twice adds nothing."""

    __tablename__ = "national_list_entries"
    __table_args__ = (UniqueConstraint("kind", "month", "qualification_id"),
                      Index("ix_national_list_entries_person", "person_id"))
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    month: Mapped[date] = mapped_column(Date)
    file_id: Mapped[int] = mapped_column(BigInteger)
    row: Mapped[int] = mapped_column(Integer)
    qualification_id: Mapped[int] = mapped_column(BigInteger)
    person_id: Mapped[int] = mapped_column(BigInteger)
    insurer_id: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(2))  # NATIONAL_LIST_REASONS code ("" on the cannot-use list)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
