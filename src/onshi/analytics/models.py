"""Tables of the analytics domain: claim counts imported per institution and month (レセプト件数),
and KPI actuals imported from outside the system (健診実施率 and the like).

The verification log itself (``verification_log``) belongs to the verification domain; analytics only reads it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from onshi.store.db import Base, utcnow

PK = BigInteger().with_variant(Integer, "sqlite")


class ClaimCount(Base):
    """レセプト件数: claims of one institution in one month of care, inpatient or outpatient.

    ``insurer_number`` is ``""`` for "all insurers" (the national file gives institution totals); a row with an
    insurer number is that insurer's share, used for the 協会けんぽ variant of the usage rate.
    """

    __tablename__ = "claim_counts"
    __table_args__ = (UniqueConstraint("institution_code", "month", "setting", "insurer_number",
                                       name="uq_claim_counts"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    institution_code: Mapped[str] = mapped_column(String(10))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM, the month of care
    setting: Mapped[str] = mapped_column(String(10))  # inpatient | outpatient
    insurer_number: Mapped[str] = mapped_column(String(8), default="")
    claims: Mapped[int] = mapped_column(Integer)
    source_file: Mapped[str] = mapped_column(String(200), default="")
    imported_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class KpiActual(Base):
    """An actual value of an action-plan KPI for a fiscal year and branch, imported from CSV.

    ``branch`` is the two-digit prefecture code of the 協会けんぽ 支部, or ``"00"`` for nationwide.
    """

    __tablename__ = "kpi_actuals"
    __table_args__ = (UniqueConstraint("kpi_code", "fiscal_year", "branch", name="uq_kpi_actuals"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    kpi_code: Mapped[str] = mapped_column(String(40))
    fiscal_year: Mapped[int] = mapped_column(Integer)
    branch: Mapped[str] = mapped_column(String(2))
    value: Mapped[float] = mapped_column(Float)
    source_file: Mapped[str] = mapped_column(String(200), default="")
    imported_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
