"""Tables of the national side (中間サーバー / 資格確認等システム as onshi imitates it).

The verification index is a *copy* of what insurers registered, one row per
qualification, denormalised for sub-millisecond lookups.  A clinic only ever
sees this copy; the gap between the registry and the index is the
registration delay the seeds are about.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from onshi.store.db import Base, utcnow

PK = BigInteger().with_variant(Integer, "sqlite")


class IndexedQualification(Base):
    """A qualification as registered in the verification index (資格履歴の登録内容)."""

    __tablename__ = "index_qualifications"
    __table_args__ = (
        Index("ix_index_numbers", "insurer_number", "symbol", "number", "branch"),
        Index("ix_index_person", "person_id"),
    )
    qualification_id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=False)
    person_id: Mapped[int] = mapped_column(BigInteger)
    insurer_id: Mapped[int] = mapped_column(BigInteger)
    insurer_number: Mapped[str] = mapped_column(String(8))
    insurer_name: Mapped[str] = mapped_column(String(100))
    symbol: Mapped[str] = mapped_column(String(20))
    number: Mapped[str] = mapped_column(String(20))
    branch: Mapped[str] = mapped_column(String(2))
    role: Mapped[str] = mapped_column(String(12))  # insured | dependent
    card_classification: Mapped[str] = mapped_column(String(2))
    name: Mapped[str] = mapped_column(String(100))
    name_kana: Mapped[str] = mapped_column(String(200))
    insured_name: Mapped[str] = mapped_column(String(100))  # the member's name (被保険者氏名)
    birth_date: Mapped[date] = mapped_column(Date)
    member_birth_date: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[int] = mapped_column(Integer)
    postal_code: Mapped[str | None] = mapped_column(String(8))
    address: Mapped[str | None] = mapped_column(String(200))
    acquisition_date: Mapped[date] = mapped_column(Date)
    loss_date: Mapped[date | None] = mapped_column(Date)  # effective: includes the 75th birthday
    loss_reason: Mapped[str | None] = mapped_column(String(2))
    voluntary_continuation: Mapped[bool] = mapped_column(Boolean, default=False)
    remuneration: Mapped[list] = mapped_column(JSON, default=list)  # member's [[from, to|None, yen], …]
    limit_certificates: Mapped[list] = mapped_column(JSON, default=list)  # [{from, to, category, class, date, income_exemption}]
    received_at: Mapped[datetime] = mapped_column(DateTime)  # the filing behind the latest change
    registered_at: Mapped[datetime] = mapped_column(DateTime)
    change_id: Mapped[int] = mapped_column(BigInteger)


class IndexedQualificationHistory(Base):
    """An index row as it was registered before it was replaced or withdrawn (transaction time of the index).

    The publisher copies the row it replaces here, in the same transaction, with ``superseded_at`` = the instant
    of the replacement; the row's own ``registered_at`` is when it had been registered.  What the index said at
    an instant T is then the current rows registered by T plus the rows here with registered_at <= T <
    superseded_at (:func:`onshi.exchange.index.registered_rows`) — docs/replay.md.  Rows are only appended.
    """

    __tablename__ = "index_qualification_history"
    __table_args__ = (
        Index("ix_index_history_numbers", "insurer_number", "symbol", "number", "branch"),
        Index("ix_index_history_person", "person_id"),
    )
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    qualification_id: Mapped[int] = mapped_column(BigInteger)
    person_id: Mapped[int] = mapped_column(BigInteger)
    insurer_id: Mapped[int] = mapped_column(BigInteger)
    insurer_number: Mapped[str] = mapped_column(String(8))
    insurer_name: Mapped[str] = mapped_column(String(100))
    symbol: Mapped[str] = mapped_column(String(20))
    number: Mapped[str] = mapped_column(String(20))
    branch: Mapped[str] = mapped_column(String(2))
    role: Mapped[str] = mapped_column(String(12))
    card_classification: Mapped[str] = mapped_column(String(2))
    name: Mapped[str] = mapped_column(String(100))
    name_kana: Mapped[str] = mapped_column(String(200))
    insured_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date] = mapped_column(Date)
    member_birth_date: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[int] = mapped_column(Integer)
    postal_code: Mapped[str | None] = mapped_column(String(8))
    address: Mapped[str | None] = mapped_column(String(200))
    acquisition_date: Mapped[date] = mapped_column(Date)
    loss_date: Mapped[date | None] = mapped_column(Date)
    loss_reason: Mapped[str | None] = mapped_column(String(2))
    voluntary_continuation: Mapped[bool] = mapped_column(Boolean, default=False)
    remuneration: Mapped[list] = mapped_column(JSON, default=list)
    limit_certificates: Mapped[list] = mapped_column(JSON, default=list)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    registered_at: Mapped[datetime] = mapped_column(DateTime)
    change_id: Mapped[int] = mapped_column(BigInteger)
    superseded_at: Mapped[datetime] = mapped_column(DateTime)


class IndexEpoch(Base):
    """When this deployment's index first registered anything (one row, id 1): a replay before it has no answer.

    Written by the publisher in the same transaction as the rows (only when it is earlier than the one recorded),
    read by :func:`onshi.exchange.index.registered_by` — one primary-key read instead of a scan of the index."""

    __tablename__ = "index_epoch"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    first_registered_at: Mapped[datetime] = mapped_column(DateTime)


#: the columns an index row and its history row share (the history adds ``id`` and ``superseded_at``)
INDEX_ROW_COLUMNS = tuple(c.name for c in IndexedQualification.__table__.columns)


class LinkageCheck(Base):
    """紐付け check of one person against the resident registry (住民基本台帳), five items."""

    __tablename__ = "linkage_checks"
    __table_args__ = (Index("ix_linkage_person", "person_id"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    my_number_hash: Mapped[str] = mapped_column(String(64))
    extract_file: Mapped[str] = mapped_column(String(300))
    row_number: Mapped[int] = mapped_column(Integer)
    checked_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(20))  # match | mismatch | not_registered
    mismatches: Mapped[list] = mapped_column(JSON, default=list)  # field names, never values
    decision: Mapped[str | None] = mapped_column(String(30))  # cleared (理由付き疑いなし) | corrected
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)


class InsuranceCard(Base):
    """A マイナンバーカード registered for use as insurance card (利用登録), or its certificate on a smartphone
    (スマホ搭載マイナ保険証, ``kind`` smartphone) — each with its own serial, expiry and cancellation.

    Identified by the serial of its electronic certificate (利用者証明用電子証明書のシリアル番号),
    never by the My Number.
    """

    __tablename__ = "insurance_cards"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    certificate_serial: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(BigInteger, index=True)
    #: card (利用者証明用電子証明書 on the card) | smartphone (スマホ用電子証明書): two credentials of one person
    kind: Mapped[str] = mapped_column(String(12), default="card", server_default="card")
    registered_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    certificate_expires_on: Mapped[date] = mapped_column(Date)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime)
    cancel_reason: Mapped[str | None] = mapped_column(String(200))


class ResidentExtract(Base):
    """An imported resident-registry extract file (idempotence of the linkage import)."""

    __tablename__ = "resident_extracts"
    __table_args__ = (UniqueConstraint("sha256"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(300))
    imported_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    mismatches: Mapped[int] = mapped_column(Integer, default=0)


class AnswerVersion(Base):
    """A per-person change counter of what a verification answers about the person (free repeat checks, 304).

    Bumped in the same transaction as the change, by database triggers (migration ``0018_etag_version``), whenever
    anything a verification's answer is made of changes: the person's index rows (publication, withdrawal), 紐付け
    checks, consents, マイナ保険証 cards, and a 照会番号 registered for numbers the person has.  The triggers catch
    every writer (both publishers, the CLI, tests); a row is never deleted, so a version never comes back.
    Read by :mod:`onshi.verify.etag` (docs/receipts.md): an answer's ETag is keyed to the versions of the people
    it was made from, so a repeat check compares one indexed read instead of rebuilding the answer.
    """

    __tablename__ = "answer_versions"
    person_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)
