"""Tables of the outage domain (docs/outage.md): the patients a clinic saw while verification was impossible, the
batch checks of them afterwards, and the claims whose insurer stayed unknown (for apportionment)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Date, DateTime, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from onshi.store.db import Base, utcnow

PK = BigInteger().with_variant(Integer, "sqlite")


class OutageRecord(Base):
    """A patient seen during an outage, as the reception typed them: 氏名, カナ, 性別, 生年月日, 住所, 診療日 and the
    numbers if a card or certificate was shown.  ``record_key`` (the browser's own id of the record, or a digest of
    its content) makes a record sent twice — a sync retried, a file uploaded again — one record.  The latest check's
    answer is kept on the record (``status`` 有効 / 無効 / 要確認 and ``result``)."""

    __tablename__ = "outage_records"
    __table_args__ = (UniqueConstraint("institution_code", "record_key"),
                      Index("ix_outage_records_care", "institution_code", "care_date"))
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    institution_code: Mapped[str] = mapped_column(String(10))
    record_key: Mapped[str] = mapped_column(String(64))
    care_date: Mapped[date] = mapped_column(Date)
    name: Mapped[str] = mapped_column(String(100))
    name_kana: Mapped[str] = mapped_column(String(200))
    sex: Mapped[int] = mapped_column(SmallInteger)  # OQSCD007: 1 男, 2 女, 3 未設定
    birth_date: Mapped[date] = mapped_column(Date)
    address: Mapped[str] = mapped_column(String(200))
    insurer_number: Mapped[str | None] = mapped_column(String(8))
    symbol: Mapped[str | None] = mapped_column(String(20))
    number: Mapped[str | None] = mapped_column(String(20))
    branch: Mapped[str | None] = mapped_column(String(2))
    source: Mapped[str] = mapped_column(String(12))  # reception | upload | api | cli | terminal
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    status: Mapped[str | None] = mapped_column(String(4))  # 有効 | 無効 | 要確認; None until checked
    checked_at: Mapped[datetime | None] = mapped_column(DateTime)
    check_id: Mapped[int | None] = mapped_column(BigInteger)
    person_id: Mapped[int | None] = mapped_column(BigInteger)  # the registered person the latest check found
    result: Mapped[dict | None] = mapped_column(JSON)  # responsible insurer and numbers, reasons


class OutageCheck(Base):
    """One batch check of an institution's outage records (who, when, how many of each answer)."""

    __tablename__ = "outage_checks"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    institution_code: Mapped[str] = mapped_column(String(10))
    checked_by: Mapped[str] = mapped_column(String(100))
    checked_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    records: Mapped[int] = mapped_column(Integer, default=0)
    valid: Mapped[int] = mapped_column(Integer, default=0)
    invalid: Mapped[int] = mapped_column(Integer, default=0)
    unsure: Mapped[int] = mapped_column(Integer, default=0)


class UnknownInsurerClaim(Base):
    """A claim (レセプト) billed with the insurer unknown (不詳) after an outage: recorded for apportionment among
    insurers (docs/outage.md, "Apportionment").  One per outage record."""

    __tablename__ = "outage_unknown_claims"
    __table_args__ = (UniqueConstraint("outage_record_id"), Index("ix_outage_unknown_month", "month"))
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    outage_record_id: Mapped[int] = mapped_column(BigInteger)
    institution_code: Mapped[str] = mapped_column(String(10))
    care_date: Mapped[date] = mapped_column(Date)
    month: Mapped[date] = mapped_column(Date)  # the month of care (first day)
    amount_yen: Mapped[int] = mapped_column(Integer)  # the insurers' part of the claim (保険者負担分)
    recorded_by: Mapped[str] = mapped_column(String(100))
    recorded_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
