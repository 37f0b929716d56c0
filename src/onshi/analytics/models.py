"""Tables of the analytics domain: claim counts imported per institution and month (レセプト件数),
KPI actuals imported from outside the system (健診実施率 and the like), and the usage aggregate the dashboards read
(:mod:`onshi.analytics.aggregate`: one row per month, institution, insurer and setting, and its watermark).

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


class UsageMonth(Base):
    """One cell of the institution-month usage aggregate (利用件数の月次集計), kept by
    :func:`onshi.analytics.aggregate.refresh` from ``verification_log``: for a month of care, institution, insurer
    and setting, the online verifications, the マイナ保険証 verifications (card or smartphone), the distinct card
    users (counted per institution and month, the unit of a レセプト) and the smartphone verifications.  Its
    columns are :data:`onshi.analytics.engine.AGG_COLUMNS`; ``insurer_number`` is ``""`` where the log has none."""

    __tablename__ = "usage_months"
    __table_args__ = (UniqueConstraint("month", "institution_code", "prefecture_code", "facility_type",
                                       "insurer_number", "setting", name="uq_usage_months"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM, the month of care
    institution_code: Mapped[str] = mapped_column(String(10))
    prefecture_code: Mapped[str] = mapped_column(String(2))
    facility_type: Mapped[str] = mapped_column(String(10))
    insurer_number: Mapped[str] = mapped_column(String(8), default="")
    setting: Mapped[str] = mapped_column(String(10))
    online: Mapped[int] = mapped_column(BigInteger)
    card: Mapped[int] = mapped_column(BigInteger)
    card_users: Mapped[int] = mapped_column(BigInteger)
    smartphone: Mapped[int] = mapped_column(BigInteger)


class UsageAggregateState(Base):
    """The aggregate's watermark (one row, ``id`` 1): the highest log id and the number of log rows it has seen,
    a random number drawn anew at every change (what in-process caches of the aggregate are keyed by: ids start again
    in an emptied table), and when it was last brought up to date.  A log row above the watermark marks its month for recounting; a row
    count that does not add up (rows removed, or committed late below the watermark) makes the refresh compare
    every month's count."""

    __tablename__ = "usage_aggregate_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_log_id: Mapped[int] = mapped_column(BigInteger, default=0)
    log_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)  #: a new random number at every change
    refreshed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
