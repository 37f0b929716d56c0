"""Tables of the claims domain (レセプト): claim files, claims and their lines, the drug master, quarantined claim
rows, 返納金 cases with their payments, 資格点検 findings and 特定健診 results.

A claim is one institution's monthly bill for one patient and one setting (入院/外来/調剤/歯科), as billed: the
insurer and the 記号・番号・枝番 printed on the claim, matched to a person of the registry where one matches.
Its lines are what was done and dispensed (診療行為・医薬品).  docs/claims.md has the layouts and the rules.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (JSON, BigInteger, Boolean, Date, DateTime, ForeignKey, Index, Integer, LargeBinary, Numeric,
                        String, Text, UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column

from onshi.store.db import Base, utcnow

PK = BigInteger().with_variant(Integer, "sqlite")


class ClaimFile(Base):
    """A claim file as received (レセプトデータ): checksum (the same file twice changes nothing), counts."""

    __tablename__ = "claim_files"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    filename: Mapped[str] = mapped_column(String(300))
    encoding: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(DateTime)
    imported_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    imported_by: Mapped[str | None] = mapped_column(String(100))
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    claims_applied: Mapped[int] = mapped_column(Integer, default=0)
    lines_applied: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)


class Claim(Base):
    """One レセプト: institution, month of care, patient as billed (and as matched), setting, points and amounts."""

    __tablename__ = "claims"
    __table_args__ = (
        UniqueConstraint("institution_code", "month", "claim_number"),
        Index("ix_claims_insurer_month", "insurer_id", "month"),
        Index("ix_claims_person", "person_id"),
    )
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("claim_files.id"), index=True)
    institution_code: Mapped[str] = mapped_column(String(10))
    month: Mapped[str] = mapped_column(String(7))  # 診療年月 YYYY-MM
    claim_number: Mapped[str] = mapped_column(String(20))  # レセプト番号 (the institution's, unique in its month)
    setting: Mapped[str] = mapped_column(String(12))  # inpatient | outpatient | pharmacy | dental
    insurer_id: Mapped[int] = mapped_column(BigInteger)
    insurer_number: Mapped[str] = mapped_column(String(8))
    symbol: Mapped[str] = mapped_column(String(20))  # as billed
    number: Mapped[str] = mapped_column(String(20))
    branch: Mapped[str] = mapped_column(String(2))
    birth_date: Mapped[date] = mapped_column(Date)
    person_id: Mapped[int | None] = mapped_column(BigInteger)  # the registry's person, where one matched
    care_dates: Mapped[list] = mapped_column(JSON)  # ISO days of care in the month
    days: Mapped[int] = mapped_column(Integer)  # 実日数
    points: Mapped[int] = mapped_column(Integer)  # 合計点数
    total_yen: Mapped[int] = mapped_column(Integer)  # 医療費 (points × 10)
    copay_ratio: Mapped[int] = mapped_column(Integer)  # 負担割合 billed, tenths
    patient_share_yen: Mapped[int] = mapped_column(Integer)  # 一部負担金
    insurer_share_yen: Mapped[int] = mapped_column(Integer)  # 保険者負担 (total − patient share)
    content_hash: Mapped[str] = mapped_column(String(64))


class ClaimLine(Base):
    """A line of a claim: a procedure (診療行為) or a drug (医薬品) with its quantity and, for a drug, whether it is
    a generic and whether a generic exists (from the drug master)."""

    __tablename__ = "claim_lines"
    __table_args__ = (Index("ix_claim_lines_claim", "claim_id"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    claim_id: Mapped[int] = mapped_column(BigInteger)
    line_number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(10))  # drug | procedure
    code: Mapped[str] = mapped_column(String(12))
    name: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[float] = mapped_column(Numeric(14, 3))
    points: Mapped[int] = mapped_column(Integer)
    generic: Mapped[bool] = mapped_column(Boolean, default=False)
    generic_exists: Mapped[bool] = mapped_column(Boolean, default=False)


class DrugMasterEntry(Base):
    """医薬品マスター (a small one): the code, the name, whether it is a generic (後発医薬品) and whether a
    generic of it exists (後発医薬品のある先発医薬品)."""

    __tablename__ = "drug_master"
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    generic: Mapped[bool] = mapped_column(Boolean, default=False)
    generic_exists: Mapped[bool] = mapped_column(Boolean, default=False)
    unit: Mapped[str | None] = mapped_column(String(20))


class QuarantinedClaimRow(Base):
    """A rejected row of a claim file: where and why; the raw row sealed (it holds a patient's numbers)."""

    __tablename__ = "claim_quarantine"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("claim_files.id"), index=True)
    row_number: Mapped[int] = mapped_column(Integer)
    claim_ref: Mapped[str | None] = mapped_column(String(60))  # institution/month/claim number, when readable
    errors: Mapped[list] = mapped_column(JSON)  # [{"column", "value", "reason"}]
    raw_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(12), default="open")


class RefundCase(Base):
    """返納金 case: care after the loss of the qualification billed to this insurer.

    ``debtor`` is ``member`` (the person, or for a dependent the member, repays), ``new_insurer`` (保険者間調整:
    the insurer that covered the days pays), or ``ours`` (our registration was late: the index said 有効 on a
    day of care — the cost of lateness, not recovered from anybody).  Status: open → noticed → instalments →
    paid, or written_off."""

    __tablename__ = "refund_cases"
    __table_args__ = (UniqueConstraint("claim_id"), Index("ix_refund_insurer", "insurer_id", "status"))
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    claim_id: Mapped[int] = mapped_column(BigInteger)
    insurer_id: Mapped[int] = mapped_column(BigInteger)
    person_id: Mapped[int] = mapped_column(BigInteger)
    qualification_id: Mapped[int | None] = mapped_column(BigInteger)
    month: Mapped[str] = mapped_column(String(7))
    loss_date: Mapped[date | None] = mapped_column(Date)
    days_after_loss: Mapped[list] = mapped_column(JSON)  # ISO days of care after the loss
    days_valid_then: Mapped[list] = mapped_column(JSON)  # of those, the days the index said 有効 (as registered then)
    amount_yen: Mapped[int] = mapped_column(Integer)
    debtor: Mapped[str] = mapped_column(String(12))  # member | new_insurer | ours
    new_insurer_number: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12), default="open")
    found_on: Mapped[date] = mapped_column(Date)
    noticed_on: Mapped[date | None] = mapped_column(Date)
    due_on: Mapped[date | None] = mapped_column(Date)
    instalments: Mapped[int | None] = mapped_column(Integer)
    written_off_on: Mapped[date | None] = mapped_column(Date)
    write_off_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class RefundPayment(Base):
    """A payment towards a 返納金 case (入金)."""

    __tablename__ = "refund_payments"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("refund_cases.id"), index=True)
    paid_on: Mapped[date] = mapped_column(Date)
    amount_yen: Mapped[int] = mapped_column(Integer)
    recorded_by: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class EligibilityFinding(Base):
    """資格点検: a claim whose billing does not match the registry on a day of care, with the reason."""

    __tablename__ = "eligibility_findings"
    __table_args__ = (UniqueConstraint("claim_id", "reason"), Index("ix_findings_month", "insurer_id", "month"))
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    claim_id: Mapped[int] = mapped_column(BigInteger)
    insurer_id: Mapped[int] = mapped_column(BigInteger)
    person_id: Mapped[int | None] = mapped_column(BigInteger)
    month: Mapped[str] = mapped_column(String(7))
    reason: Mapped[str] = mapped_column(String(20))  # ratio | not_dependent | wrong_insurer
    care_date: Mapped[date] = mapped_column(Date)
    detail: Mapped[str] = mapped_column(Text)
    responsible_insurer_number: Mapped[str | None] = mapped_column(String(8))


class CheckupResult(Base):
    """特定健診の結果 received (one per person and fiscal year counts for the rate)."""

    __tablename__ = "checkup_results"
    __table_args__ = (UniqueConstraint("person_id", "checkup_date"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    person_id: Mapped[int] = mapped_column(BigInteger, index=True)
    insurer_id: Mapped[int] = mapped_column(BigInteger)
    checkup_date: Mapped[date] = mapped_column(Date)
    fiscal_year: Mapped[int] = mapped_column(Integer)
    values: Mapped[dict] = mapped_column(JSON, default=dict)  # {"bmi": …, "hba1c": …, …}
    source_file: Mapped[str | None] = mapped_column(String(300))
