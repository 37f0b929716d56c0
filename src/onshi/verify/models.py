"""Tables of the verification service: institutions, the usage log, consents, 照会番号, bulk requests,
and 被保険者資格申立書."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, false, BigInteger, Date, DateTime, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from onshi.store.db import Base, utcnow

PK = BigInteger().with_variant(Integer, "sqlite")


class Institution(Base):
    """医療機関・薬局: authenticates with its own token; the token is stored only as a SHA-256 digest."""

    __tablename__ = "institutions"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    code: Mapped[str] = mapped_column(String(10), unique=True)  # 医療機関コード
    name: Mapped[str] = mapped_column(String(200))
    prefecture_code: Mapped[str] = mapped_column(String(2))
    facility_type: Mapped[str] = mapped_column(String(10))  # hospital | clinic | dental | pharmacy
    #: general | limited (資格確認限定型: 柔道整復・あはき) | home_visit (居宅同意取得型) — the token's scope
    kind: Mapped[str] = mapped_column(String(12), default="general", server_default="general")
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)


class VerificationLogEntry(Base):
    """One verification, for statistics — no name or number of the person (patient_key is a keyed pseudonym)."""

    __tablename__ = "verification_log"
    __table_args__ = (Index("ix_vlog_month", "care_date", "institution_code"),
                      # a person's recent verifications (the insurer's member page): by pseudonym, newest first
                      Index("ix_vlog_patient", "patient_key", "occurred_at"),
                      # a receipt's row (its id begins with occurred_at's millisecond) and time ranges: BRIN on
                      # PostgreSQL (next to no cost per row in this append-only table), ordinary on SQLite
                      Index("ix_vlog_occurred", "occurred_at", postgresql_using="brin"))
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    care_date: Mapped[date] = mapped_column(Date)
    institution_code: Mapped[str] = mapped_column(String(10))
    prefecture_code: Mapped[str] = mapped_column(String(2))
    facility_type: Mapped[str] = mapped_column(String(10))
    method: Mapped[str] = mapped_column(String(12))  # card | smartphone | numbers | requery
    validity: Mapped[int] = mapped_column(SmallInteger)  # OQSCD006
    insurer_number: Mapped[str | None] = mapped_column(String(8))
    setting: Mapped[str] = mapped_column(String(10), default="outpatient")
    patient_key: Mapped[str | None] = mapped_column(String(32))
    receipt_id: Mapped[str | None] = mapped_column(String(24))  #: the signed receipt's id (found by its time)
    not_modified: Mapped[bool] = mapped_column(default=False, server_default=false())  #: answered 304


class ConsentRecord(Base):
    """A patient's consent at an institution (限度額, 特定健診, 薬剤, 診療, 手術) with time and expiry."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consent_lookup", "person_id", "institution_code", "kind"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    person_id: Mapped[int] = mapped_column(BigInteger)
    institution_code: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(30))
    consented: Mapped[bool] = mapped_column(default=True)
    consented_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    method: Mapped[str] = mapped_column(String(10), default="card")


class ReferenceNumber(Base):
    """照会番号: the clinic's own patient id bound to card numbers, echoed in later card and bulk results."""

    __tablename__ = "reference_numbers"
    __table_args__ = (UniqueConstraint("institution_code", "reference_number"),
                      Index("ix_refno_numbers", "institution_code", "insurer_number", "symbol", "number"))
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    institution_code: Mapped[str] = mapped_column(String(10))
    reference_number: Mapped[str] = mapped_column(String(50))
    insurer_number: Mapped[str] = mapped_column(String(8))
    symbol: Mapped[str] = mapped_column(String(20))
    number: Mapped[str] = mapped_column(String(20))
    branch: Mapped[str | None] = mapped_column(String(2))
    registered_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class BulkRequest(Base):
    """一括照会 and 照会番号一括登録: received with a ReceptionNumber, fetched with 02req.

    ``kind`` is ``verify`` (一括照会, processed later) or ``reference`` (照会番号一括登録, done at once; ``results``
    hold each item as sent and its outcome).  ``arbitrary_file_identifier`` is the upload's, echoed by the fetch.
    """

    __tablename__ = "bulk_requests"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    reception_number: Mapped[str] = mapped_column(String(30), unique=True)
    institution_code: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(12), default="verify", server_default="verify")
    arbitrary_file_identifier: Mapped[str | None] = mapped_column(String(50))
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(12), default="received")  # received | done
    requests: Mapped[list] = mapped_column(JSON)
    results: Mapped[list | None] = mapped_column(JSON)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime)


class EligibilityClaim(Base):
    """被保険者資格申立書: filled in at the clinic when the answer is 無効 or 資格情報なし."""

    __tablename__ = "eligibility_claims"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    institution_code: Mapped[str] = mapped_column(String(10))
    care_date: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(100))
    name_kana: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date] = mapped_column(Date)
    address: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    insurer_hint: Mapped[str | None] = mapped_column(String(200))
    employer_hint: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
