"""Tables of the cash benefits (現金給付): applications, their history, bank accounts, payments and transfer files.

An application moves ``received → incomplete ⇄ (supplemented) → complete → decided → paid``, or to ``refused`` with
a reason; each move is a :class:`BenefitEvent`.  ``complete_on`` starts the service standard's clock (10 business
days to payment); while incomplete the clock stands.  A payment is unique per application, so nothing is paid
twice; an application is unique per ``source_key`` (the employer API's and the member form's idempotency key), so
the same input sent twice makes one application.  Bank account numbers are stored sealed (AES-GCM, the vault's
key) and found by a keyed hash, like the My Number (onshi.privacy.crypto).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from onshi.store.db import Base, HexDigest, utcnow

PK = BigInteger().with_variant(Integer, "sqlite")

STATUSES = ("received", "incomplete", "complete", "decided", "paid", "refused")


class BankAccount(Base):
    """A member's account for payments (振込先).  The number is sealed; ``number_hash`` finds equal accounts."""

    __tablename__ = "benefit_bank_accounts"
    __table_args__ = (Index("ix_benefit_bank_accounts_person", "person_id"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    person_id: Mapped[int] = mapped_column(BigInteger)
    bank_code: Mapped[str] = mapped_column(String(4))
    branch_code: Mapped[str] = mapped_column(String(3))
    account_type: Mapped[int] = mapped_column(Integer)  # 1 普通, 2 当座, 4 貯蓄
    number_enc: Mapped[bytes] = mapped_column(LargeBinary)
    number_hash: Mapped[str] = mapped_column(HexDigest)
    holder_kana: Mapped[str] = mapped_column(String(30))  # 受取人名 (半角カナ, as the transfer file carries it)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class BenefitApplication(Base):
    """One application (申請書) for a cash benefit."""

    __tablename__ = "benefit_applications"
    __table_args__ = (
        Index("ix_benefit_applications_board", "insurer_id", "status", "complete_on"),
        Index("ix_benefit_applications_person", "person_id"),
    )
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    source_key: Mapped[str] = mapped_column(String(120), unique=True)  # idempotency: one application per key
    insurer_id: Mapped[int] = mapped_column(ForeignKey("insurers.id"))
    person_id: Mapped[int] = mapped_column(BigInteger)
    qualification_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(12))  # rules.benefits.KINDS
    channel: Mapped[str] = mapped_column(String(12))  # counter | mail | electronic
    received_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="received")
    missing: Mapped[list] = mapped_column(JSON, default=list)  # [{"field", "reason"}] while incomplete
    complete_on: Mapped[date | None] = mapped_column(Date)
    decided_on: Mapped[date | None] = mapped_column(Date)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    needs_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    approved_by: Mapped[str | None] = mapped_column(String(100))
    paid_on: Mapped[date | None] = mapped_column(Date)
    refused_reason: Mapped[str | None] = mapped_column(Text)
    amount: Mapped[int | None] = mapped_column(BigInteger)
    explanation: Mapped[list] = mapped_column(JSON, default=list)  # the lines of the calculation
    paid_days: Mapped[int] = mapped_column(Integer, default=0)  # 傷病手当金: days paid (the 1y6m total)
    details: Mapped[dict] = mapped_column(JSON, default=dict)  # the kind's facts (periods, birth, items …)
    employer_cert: Mapped[dict | None] = mapped_column(JSON)  # 事業主の証明: certified_on, wages {day: yen}
    doctor_cert: Mapped[dict | None] = mapped_column(JSON)  # 医師・助産師の意見: certified_on, from, to, …
    attachments: Mapped[list] = mapped_column(JSON, default=list)  # names of attached documents
    bank_account_id: Mapped[int | None] = mapped_column(ForeignKey("benefit_bank_accounts.id"))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class BenefitEvent(Base):
    """One move of an application's state, who made it and why."""

    __tablename__ = "benefit_events"
    __table_args__ = (Index("ix_benefit_events_application", "application_id"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("benefit_applications.id"))
    on: Mapped[date] = mapped_column(Date)
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class TransferBatch(Base):
    """One 全銀協 総合振込 file: the payments it carries and its digest (the file itself is not kept)."""

    __tablename__ = "benefit_transfer_batches"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    insurer_id: Mapped[int] = mapped_column(ForeignKey("insurers.id"))
    transfer_date: Mapped[date] = mapped_column(Date)
    count: Mapped[int] = mapped_column(Integer)
    total: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class BenefitPayment(Base):
    """A payment of one application — at most one (``application_id`` is unique): nothing is paid twice."""

    __tablename__ = "benefit_payments"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("benefit_applications.id"), unique=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("benefit_transfer_batches.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    transfer_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
