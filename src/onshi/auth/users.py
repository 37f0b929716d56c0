"""Users of the web screens: creation, sign-in with lock-out, their scope (the institution or insurer they work
for, and who acts for an insurer).  The caller owns the transaction.

Passwords are hashed with argon2id (argon2-cffi).  After :data:`MAX_FAILURES` wrong passwords in a row the
account is locked for :data:`LOCK_MINUTES` minutes; an administrator can unlock it earlier.

>>> ROLES["clinic"]
'医療機関 受付'
"""

from __future__ import annotations

from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.store.db import utcnow
from onshi.auth.models import WebUser

ROLES = {
    "clinic": "医療機関 受付",
    "clerk": "保険者 事務担当",
    "supervisor": "保険者 監督者",
    "analyst": "分析担当",
    "admin": "システム管理者",
}
INSURER_ROLES = ("clerk", "supervisor")
MAX_FAILURES = 5
LOCK_MINUTES = 15
MIN_PASSWORD = 10

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("onshi-dummy-password-for-timing")


class UserError(ValueError):
    """A user cannot be created or changed as asked; the message says why."""


class LoginError(Exception):
    """Sign-in refused.  ``locked_until`` is set when the account is locked."""

    def __init__(self, message: str, locked_until: datetime | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.locked_until = locked_until


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def add_user(session: Session, *, username: str, password: str, role: str, display_name: str | None = None,
             institution_code: str | None = None, insurer_number: str | None = None) -> WebUser:
    """Create a user.  A clinic user needs a registered institution, an insurer user a registered insurer."""
    username = (username or "").strip()
    if not username or len(username) > 60 or any(c.isspace() for c in username):
        raise UserError("ユーザー名は空白を含まない1〜60文字です (username: 1–60 characters, no spaces)")
    if role not in ROLES:
        raise UserError(f"役割は {', '.join(ROLES)} のいずれかです (unknown role {role!r})")
    if len(password or "") < MIN_PASSWORD:
        raise UserError(f"パスワードは{MIN_PASSWORD}文字以上にしてください (password too short)")
    if session.scalar(select(WebUser).where(WebUser.username == username)) is not None:
        raise UserError(f"ユーザー名 {username} は使われています (username taken)")
    insurer_id = None
    if role == "clinic":
        from onshi.verify.models import Institution

        if not institution_code or session.scalar(
                select(Institution).where(Institution.code == institution_code)) is None:
            raise UserError("受付ユーザーには登録済みの医療機関コードが必要です (clinic users need a registered "
                            "institution code)")
    elif role in INSURER_ROLES:
        from onshi.registry import service as registry

        insurer = registry.get_insurer(session, number=insurer_number) if insurer_number else None
        if insurer is None:
            raise UserError("保険者ユーザーには登録済みの保険者番号が必要です (insurer users need a registered "
                            "insurer number)")
        insurer_id, institution_code = insurer.id, None
    else:
        institution_code = None
    user = WebUser(username=username, display_name=(display_name or username).strip(), role=role,
                   password_hash=hash_password(password), institution_code=institution_code if role == "clinic"
                   else None, insurer_id=insurer_id, failed_attempts=0, session_version=1)
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, user_id: int) -> WebUser | None:
    return session.get(WebUser, user_id)


def get_by_username(session: Session, username: str) -> WebUser | None:
    return session.scalar(select(WebUser).where(WebUser.username == username))


def list_users(session: Session) -> list[WebUser]:
    return list(session.scalars(select(WebUser).order_by(WebUser.role, WebUser.username)))


def actor(user: WebUser) -> str:
    """How a user's actions are recorded (``imported_by``, ``resolved_by``, ``decided_by`` …): ``web:<username>``."""
    return f"web:{user.username}"


def actors_of_insurer(session: Session, insurer_id: int) -> set[str]:
    """The :func:`actor` names of every user bound to *insurer_id* (whose imports count as the insurer's)."""
    return {actor(u) for u in session.scalars(select(WebUser).where(WebUser.insurer_id == insurer_id))}






def authenticate(session: Session, username: str, password: str, *, now: datetime | None = None) -> WebUser:
    """Check a password; count failures and lock the account after :data:`MAX_FAILURES` in a row.

    The message never says whether the user name exists; a locked account is reported as locked only to
    someone who knows its password or keeps trying it.
    """
    now = now or utcnow()
    user = get_by_username(session, (username or "").strip())
    if user is None or user.disabled_at is not None:
        try:  # same work as for a real user, so timing does not tell which names exist
            _hasher.verify(_DUMMY_HASH, password or "")
        except VerificationError:
            pass
        raise LoginError("ユーザー名またはパスワードが違います")
    if user.locked_until is not None and user.locked_until > now:
        raise LoginError("ログインが続けて失敗したためロックされています。時間をおくか管理者に連絡してください",
                         user.locked_until)
    try:
        _hasher.verify(user.password_hash, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        user.failed_attempts = (user.failed_attempts or 0) + 1
        if user.failed_attempts >= MAX_FAILURES:
            user.locked_until = now + timedelta(minutes=LOCK_MINUTES)
            user.failed_attempts = 0
            raise LoginError(f"{MAX_FAILURES}回続けて失敗したため{LOCK_MINUTES}分間ロックしました", user.locked_until)
        raise LoginError("ユーザー名またはパスワードが違います") from None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.failed_attempts, user.locked_until, user.last_login_at = 0, None, now
    return user


def unlock(session: Session, username: str) -> WebUser:
    user = get_by_username(session, username)
    if user is None:
        raise UserError(f"ユーザー {username} はいません (no such user)")
    user.failed_attempts, user.locked_until = 0, None
    return user


def set_password(session: Session, username: str, password: str) -> WebUser:
    user = get_by_username(session, username)
    if user is None:
        raise UserError(f"ユーザー {username} はいません (no such user)")
    if len(password or "") < MIN_PASSWORD:
        raise UserError(f"パスワードは{MIN_PASSWORD}文字以上にしてください (password too short)")
    user.password_hash = hash_password(password)
    user.session_version = (user.session_version or 1) + 1  # every open session ends
    user.failed_attempts, user.locked_until = 0, None
    return user


# ---------------------------------------------------------------- what a clinic user's screens list
# Reads of verify's and exchange's tables for the reception screen, here until verify.service and exchange.cards
# offer them (their owners' files): the page itself never queries a table.
