"""Users of the web screens (受付・保険者事務・管理): who they are, their role and what they may see."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from onshi.store.db import Base, utcnow

PK = BigInteger().with_variant(Integer, "sqlite")


class WebUser(Base):
    """A person who signs in.  ``role`` decides the screens:

    * ``clinic``     — 医療機関の受付職員, bound to one institution (``institution_code``)
    * ``clerk``      — 保険者の事務担当, bound to one insurer (``insurer_id``)
    * ``supervisor`` — 保険者の監督者 (same insurer scope; decides 「理由付き疑いなし」, starts runs)
    * ``admin``      — システム管理者 (users only; no personal data)
    * ``member``     — 加入者本人, bound to one person (``person_id``) of one insurer: their own electronic
      applications for cash benefits and their state (docs/benefits.md)

    The password is stored only as an argon2id hash.  ``username_key`` is the name as sign-in compares it (NFKC,
    case-folded: ``Suzuki``, ``suzuki`` and ``ｓｕｚｕｋｉ`` are one name) and is what is unique.
    """

    __tablename__ = "web_users"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    username_key: Mapped[str] = mapped_column(String(60), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(12))
    institution_code: Mapped[str | None] = mapped_column(String(10))
    insurer_id: Mapped[int | None] = mapped_column(BigInteger)
    person_id: Mapped[int | None] = mapped_column(BigInteger)  # a member (加入者) signs in for this person only
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    session_version: Mapped[int] = mapped_column(Integer, default=1)  # bump to end every session of the user
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: set by an administrator's password reset: the next sign-in must choose a new password before anything else
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class WebSession(Base):
    """One signed-in session (サインイン中のセッション), kept on the server: the cookie carries only a random id,
    stored here as its SHA-256 (a copy of the table signs nobody in).  Ending the row ends the session at once —
    sign-out, a password change, a disabled user, an administrator's 「全端末からサインアウト」."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(PK, ForeignKey("web_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    ended_reason: Mapped[str | None] = mapped_column(String(20))  # sign-out | password | disabled | signout-all | …
    address: Mapped[str | None] = mapped_column(String(45))


class SignInFailure(Base):
    """Wrong passwords in a row for one user name (whether or not the name exists, so the answer tells nothing),
    and until when the next attempt waits: the exponential delay of :mod:`onshi.auth.throttle`."""

    __tablename__ = "sign_in_failures"
    username_key: Mapped[str] = mapped_column(String(60), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    wait_until: Mapped[datetime | None] = mapped_column(DateTime)


class EmployerToken(Base):
    """An employer's (事業主) API credential for its own employees' cash-benefit applications (docs/auth.md
    "Employers"): bound to one 事業所 (``employer_id``) of one insurer; stored only as a SHA-256 digest; revoked, it
    authenticates nobody.  An employer may hold several (one per software or office), each revoked on its own."""

    __tablename__ = "employer_tokens"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    employer_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                             ForeignKey("employers.id"), index=True)
    insurer_id: Mapped[int] = mapped_column(BigInteger)
    label: Mapped[str] = mapped_column(String(100))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
