"""Tables of the member registry (加入者台帳), the insurer's source of truth.

History is never overwritten.  Every versioned table carries *recorded time*
(``recorded_at`` … ``superseded_at``: when onshi knew a row) and, where a fact
holds over a period of the world, *valid time* (``valid_from`` … ``valid_to``,
half-open).  A qualification's valid time is its own interval
``[acquisition_date, loss_date)``.  "What did we know on day R about day D" is
answered by keeping rows with ``recorded_at <= R < superseded_at`` and then the
rows whose valid time contains D.  See docs/data-model.md.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from onshi.store.db import Base, HexDigest, utcnow
from onshi.store.history import CURRENT_SQL, ValidTime, Versioned, current_index_where

PK = BigInteger().with_variant(Integer, "sqlite")
CURRENT = current_index_where()
CURRENT_DEPENDENT = text(f"{CURRENT_SQL} AND member_qualification_id IS NOT NULL")


class Role(str, enum.Enum):
    """本人・家族 (OQSCD009): the insured member (被保険者) or a dependent (被扶養者)."""

    insured = "insured"
    dependent = "dependent"


class NotificationType(str, enum.Enum):
    """Kinds of filing that reach the registry (届出の種類)."""

    employer = "employer"  # 新規適用届 (事業所の登録)
    acquisition = "acquisition"  # 資格取得届
    loss = "loss"  # 資格喪失届
    dependent = "dependent"  # 被扶養者(異動)届
    name_change = "name_change"  # 氏名変更届
    address_change = "address_change"  # 住所変更届
    remuneration = "remuneration"  # 標準報酬月額の決定・改定
    limit_application = "limit_application"  # 限度額適用認定申請


class Insurer(Base):
    """保険者: a 協会けんぽ branch (支部), a 健康保険組合, … — many per deployment."""

    __tablename__ = "insurers"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    number: Mapped[str] = mapped_column(String(8), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20), default="kumiai")  # kyokai | kumiai | other
    prefecture_code: Mapped[str] = mapped_column(String(2))
    postal_code: Mapped[str | None] = mapped_column(String(8))
    address: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    #: お問い合わせ先, printed where a layout asks (the 資格確認書's 「下記までお問い合わせください」): hours and web page
    contact_hours: Mapped[str | None] = mapped_column(String(100))
    url: Mapped[str | None] = mapped_column(String(200))
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Employer(Base):
    """事業所: identified inside its insurer by the 記号 printed on members' cards."""

    __tablename__ = "employers"
    __table_args__ = (UniqueConstraint("insurer_id", "symbol"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    insurer_id: Mapped[int] = mapped_column(ForeignKey("insurers.id"))
    symbol: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(8))
    address: Mapped[str | None] = mapped_column(String(200))
    prefecture_code: Mapped[str] = mapped_column(String(2))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Person(Base):
    """A natural person.  The My Number is only stored encrypted and as a keyed hash."""

    __tablename__ = "persons"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    my_number_hash: Mapped[str | None] = mapped_column(HexDigest, unique=True)
    my_number_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class PersonVersion(ValidTime, Versioned, Base):
    """Name, reading, birth date, sex and address of a person over valid and recorded time."""

    __tablename__ = "person_versions"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    name_kana: Mapped[str] = mapped_column(String(200))
    birth_date: Mapped[date] = mapped_column(Date)
    sex: Mapped[int] = mapped_column(Integer)  # OQSCD007: 1 男, 2 女, 3 未設定
    postal_code: Mapped[str | None] = mapped_column(String(8))
    address: Mapped[str | None] = mapped_column(String(200))
    change_id: Mapped[int | None] = mapped_column(BigInteger)


class Qualification(Base):
    """Identity of one qualification (資格): a person insured by an insurer, as member or dependent."""

    __tablename__ = "qualifications"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    insurer_id: Mapped[int] = mapped_column(ForeignKey("insurers.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class QualificationVersion(Versioned, Base):
    """What the registry knew, from ``recorded_at`` to ``superseded_at``, about one qualification.

    Its valid time is ``[acquisition_date, loss_date)``; ``loss_date`` is the 資格喪失日
    (the first day without coverage).
    """

    __tablename__ = "qualification_versions"
    __table_args__ = (
        Index(
            "ix_qv_numbers_current", "insurer_id", "symbol", "number", "branch",
            sqlite_where=CURRENT, postgresql_where=CURRENT,
        ),
        Index("ix_qv_qualification_current", "qualification_id", sqlite_where=CURRENT, postgresql_where=CURRENT),
        Index("ix_qv_person", "person_id"),
        # the current members of a 事業所: a mailing run reads one employer's bundle at a time
        Index("ix_qv_employer_current", "employer_id", sqlite_where=CURRENT, postgresql_where=CURRENT),
        # dependents only: a member's (被保険者) own versions have no member to look up
        Index("ix_qv_member_current", "member_qualification_id", sqlite_where=CURRENT_DEPENDENT,
              postgresql_where=CURRENT_DEPENDENT),
    )
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    qualification_id: Mapped[int] = mapped_column(ForeignKey("qualifications.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"))
    insurer_id: Mapped[int] = mapped_column(ForeignKey("insurers.id"))
    employer_id: Mapped[int | None] = mapped_column(ForeignKey("employers.id"))
    role: Mapped[Role] = mapped_column(Enum(Role, native_enum=False, length=12))
    member_qualification_id: Mapped[int | None] = mapped_column(BigInteger)
    symbol: Mapped[str] = mapped_column(String(20))
    number: Mapped[str] = mapped_column(String(20))
    branch: Mapped[str] = mapped_column(String(2))
    card_classification: Mapped[str] = mapped_column(String(2), default="01")  # OQSCD010
    acquisition_date: Mapped[date] = mapped_column(Date)
    loss_date: Mapped[date | None] = mapped_column(Date)
    loss_reason: Mapped[str | None] = mapped_column(String(2))  # OQSCD008
    voluntary_continuation: Mapped[bool] = mapped_column(Boolean, default=False)  # 任意継続
    change_id: Mapped[int | None] = mapped_column(BigInteger)


class RemunerationVersion(ValidTime, Versioned, Base):
    """標準報酬月額 (standard monthly remuneration) of an insured member over time."""

    __tablename__ = "remuneration_versions"
    __table_args__ = (Index("ix_rv_current", "qualification_id", sqlite_where=CURRENT, postgresql_where=CURRENT),)
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    qualification_id: Mapped[int] = mapped_column(ForeignKey("qualifications.id"))
    monthly_amount: Mapped[int] = mapped_column(Integer)
    change_id: Mapped[int | None] = mapped_column(BigInteger)


class LimitCertificateVersion(ValidTime, Versioned, Base):
    """限度額適用認定 on application: category (OQSCD012) and validity, and 基準収入額適用."""

    __tablename__ = "limit_certificate_versions"
    __table_args__ = (Index("ix_lcv_current", "qualification_id", sqlite_where=CURRENT, postgresql_where=CURRENT),)
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    qualification_id: Mapped[int] = mapped_column(ForeignKey("qualifications.id"))
    classification: Mapped[str] = mapped_column(String(2), default="01")  # OQSCD011
    category_code: Mapped[str] = mapped_column(String(3))  # OQSCD012
    certificate_date: Mapped[date] = mapped_column(Date)
    tax_exempt: Mapped[bool] = mapped_column(Boolean, default=False)
    income_exemption: Mapped[bool] = mapped_column(Boolean, default=False)  # 基準収入額適用
    change_id: Mapped[int | None] = mapped_column(BigInteger)


class IntakeFile(Base):
    """A notification file as received.  ``received_at`` starts the 5-day registration clock."""

    __tablename__ = "intake_files"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    insurer_id: Mapped[int | None] = mapped_column(ForeignKey("insurers.id"))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(300))
    notification_type: Mapped[NotificationType] = mapped_column(Enum(NotificationType, native_enum=False, length=24))
    encoding: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(DateTime)
    imported_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    imported_by: Mapped[str | None] = mapped_column(String(100))
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_applied: Mapped[int] = mapped_column(Integer, default=0)
    rows_duplicate: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)


class QuarantinedRow(Base):
    """A rejected row (エラー行): where, what and why; the raw row kept sealed for correction."""

    __tablename__ = "quarantined_rows"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("intake_files.id"), index=True)
    row_number: Mapped[int] = mapped_column(Integer)
    notification_type: Mapped[NotificationType] = mapped_column(Enum(NotificationType, native_enum=False, length=24))
    errors: Mapped[list] = mapped_column(JSON)  # [{"column", "value" (masked), "reason"}]
    raw_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | resolved | withdrawn
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(100))
    resolved_change_id: Mapped[int | None] = mapped_column(BigInteger)


class RegistryChange(Base):
    """One applied change (異動) — the transactional outbox towards the verification index.

    ``row_hash`` makes re-imports idempotent; ``received_at`` is when the filing
    reached the insurer; ``published_at`` is set by the exchange publisher.
    """

    __tablename__ = "registry_changes"
    __table_args__ = (
        Index("ix_registry_changes_pending", "id", sqlite_where=text("published_at IS NULL"),
              postgresql_where=text("published_at IS NULL")),
    )
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    insurer_id: Mapped[int] = mapped_column(ForeignKey("insurers.id"), index=True)
    kind: Mapped[NotificationType] = mapped_column(Enum(NotificationType, native_enum=False, length=24))
    row_hash: Mapped[str] = mapped_column(HexDigest, unique=True)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("intake_files.id"))
    row_number: Mapped[int | None] = mapped_column(Integer)
    employer_id: Mapped[int | None] = mapped_column(BigInteger)
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    qualification_id: Mapped[int | None] = mapped_column(BigInteger)
    effective_date: Mapped[date | None] = mapped_column(Date)
    received_at: Mapped[datetime] = mapped_column(DateTime)
    recorded_at: Mapped[datetime] = mapped_column(DateTime)
    published_at: Mapped[datetime | None] = mapped_column(DateTime)
    note: Mapped[str | None] = mapped_column(Text)
