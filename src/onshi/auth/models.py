"""Users of the web screens (受付・保険者事務・管理): who they are, their role and what they may see."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from onshi.store.db import Base, utcnow

PK = BigInteger().with_variant(Integer, "sqlite")


class WebUser(Base):
    """A person who signs in.  ``role`` decides the screens:

    * ``clinic``     — 医療機関の受付職員, bound to one institution (``institution_code``)
    * ``clerk``      — 保険者の事務担当, bound to one insurer (``insurer_id``)
    * ``supervisor`` — 保険者の監督者 (same insurer scope; decides 「理由付き疑いなし」, starts runs)
    * ``admin``      — システム管理者 (users only; no personal data)

    The password is stored only as an argon2id hash.
    """

    __tablename__ = "web_users"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(12))
    institution_code: Mapped[str | None] = mapped_column(String(10))
    insurer_id: Mapped[int | None] = mapped_column(BigInteger)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    session_version: Mapped[int] = mapped_column(Integer, default=1)  # bump to end every session of the user
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime)
