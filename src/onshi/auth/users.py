"""Users of the web screens: creation, sign-in, administration (disable, role and scope, password reset, sign-out
everywhere) and their scope (the institution or insurer they work for, and who acts for an insurer).  The caller
owns the transaction.

Passwords are hashed with argon2id (argon2-cffi) and must pass :mod:`onshi.auth.passwords`.  User names are
unique as :func:`~onshi.auth.passwords.fold` writes them (NFKC, case-folded), so ``Suzuki`` and ``ｓｕｚｕｋｉ``
cannot be two users.  Wrong passwords delay the next attempt (:mod:`onshi.auth.throttle`) instead of locking the
account.  Every administrative action is written to the audit log (``privacy.audit``, subject ``web_user``).

>>> ROLES["clinic"]
'医療機関 受付'
"""

from __future__ import annotations

import secrets
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from onshi.auth import passwords, throttle
from onshi.auth.models import WebUser
from onshi.auth.sessions import end_sessions
from onshi.privacy import audit
from onshi.store.db import utcnow

ROLES = {
    "clinic": "医療機関 受付",
    "clinician": "医療機関 有資格者（医師・歯科医師・薬剤師）",
    "clerk": "保険者 事務担当",
    "supervisor": "保険者 監督者",
    "analyst": "分析担当",
    "admin": "システム管理者",
    "member": "加入者（本人）",
}
INSURER_ROLES = ("clerk", "supervisor")
#: roles bound to one institution: its reception (受付) and its 有資格者 — doctors, dentists and pharmacists, who alone
#: see a consenting patient's drug and 特定健診 information (onshi.claims.clinical)
INSTITUTION_ROLES = ("clinic", "clinician")
MIN_PASSWORD = passwords.MIN_LENGTH

def production_hasher() -> PasswordHasher:
    """argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile: 3 passes over 64 MiB, 4 lanes) — above
    OWASP's minimum (19 MiB, 2 passes).  The test suite swaps in a cheap hasher of the same kind (tests/conftest.py:
    at these costs the suite spent minutes hashing the passwords of its fixtures); a test checks these costs."""
    return PasswordHasher()


_hasher = production_hasher()
_DUMMY_HASH = _hasher.hash("onshi-dummy-password-for-timing")


class UserError(ValueError):
    """A user cannot be created or changed as asked; the message says why."""


class LoginError(Exception):
    """Sign-in refused.  ``retry_after`` (seconds) is set when the attempt came too soon after failures."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def username_key(username: str) -> str:
    """The name as it is compared and unique (NFKC, case-folded, trimmed)."""
    return passwords.fold((username or "").strip())


def check_password(password: str, *, username: str, display_name: str = "") -> None:
    """Refuse a new password that breaks the policy (:mod:`onshi.auth.passwords`), saying every reason."""
    found = passwords.problems(password, username=username, display_name=display_name)
    if found:
        raise UserError("、".join(found) + " (password refused by the policy)")


def _scope(session: Session, role: str, institution_code: str | None,
           insurer_number: str | None) -> tuple[str | None, int | None]:
    """(institution_code, insurer_id) for *role*: a clinic user needs a registered institution, an insurer user a
    registered insurer, every other role neither."""
    if role not in ROLES:
        raise UserError(f"役割は {', '.join(ROLES)} のいずれかです (unknown role {role!r})")
    if role == "member":
        raise UserError("加入者ユーザーは保険者番号と記号・番号から作成します (onshi user add-member; members are "
                        "created from their card numbers)")
    if role in INSTITUTION_ROLES:
        from onshi.verify.models import Institution

        if not institution_code or session.scalar(
                select(Institution).where(Institution.code == institution_code)) is None:
            raise UserError(f"{ROLES[role]}のユーザーには登録済みの医療機関コードが必要です ({role} users need a "
                            "registered institution code)")
        return institution_code, None
    if role in INSURER_ROLES:
        from onshi.registry import service as registry

        insurer = registry.get_insurer(session, number=insurer_number) if insurer_number else None
        if insurer is None:
            raise UserError("保険者ユーザーには登録済みの保険者番号が必要です (insurer users need a registered "
                            "insurer number)")
        return None, insurer.id
    return None, None


def add_user(session: Session, *, username: str, password: str, role: str, display_name: str | None = None,
             institution_code: str | None = None, insurer_number: str | None = None,
             password_policy: bool = True, by: tuple[str, str] | None = None,
             member_of: tuple[int, int] | None = None) -> WebUser:
    """Create a user.  A clinic user needs a registered institution, an insurer user a registered insurer.

    ``password_policy=False`` is for the demo's users only (their password is published on purpose); *by*
    (actor kind, actor id) writes the creation to the audit log."""
    username = (username or "").strip()
    if not username or len(username) > 60 or any(c.isspace() for c in username):
        raise UserError("ユーザー名は空白を含まない1〜60文字です (username: 1–60 characters, no spaces)")
    key = username_key(username)
    if len(key) > 60:
        raise UserError("ユーザー名は空白を含まない1〜60文字です (username: 1–60 characters, no spaces)")
    code, insurer_id = (None, member_of[0]) if role == "member" and member_of else \
        _scope(session, role, institution_code, insurer_number)
    if password_policy:
        check_password(password, username=username, display_name=display_name or "")
    elif len(password or "") < MIN_PASSWORD:
        raise UserError(f"パスワードは{MIN_PASSWORD}文字以上にしてください (password too short)")
    taken = session.scalar(select(WebUser).where(WebUser.username_key == key))
    if taken is not None:
        raise UserError(f"ユーザー名 {username} は使われています（{taken.username} と同じ名前とみなします） "
                        "(username taken)")
    user = WebUser(username=username, username_key=key, display_name=(display_name or username).strip(), role=role,
                   password_hash=hash_password(password), institution_code=code, insurer_id=insurer_id,
                   person_id=member_of[1] if role == "member" and member_of else None,
                   failed_attempts=0, session_version=1, must_change_password=False)
    session.add(user)
    session.flush()
    if by is not None:
        _record(session, by, "user.add", user, role)
    return user


def add_member(session: Session, *, username: str, password: str, insurer_number: str, symbol: str, number: str,
               display_name: str | None = None, password_policy: bool = True,
               by: tuple[str, str] | None = None) -> WebUser:
    """Create a member's user (加入者本人) from the numbers of their card: the insured person of 記号・番号 (枝番 00)
    at the insurer, who then sees and makes only their own applications."""
    from onshi.registry import service as registry

    insurer = registry.get_insurer(session, number=insurer_number)
    qv = registry.current_by_numbers(session, insurer_id=insurer.id, symbol=symbol, number=number, branch="00") \
        if insurer else None
    if qv is None:
        raise UserError(f"保険者番号 {insurer_number} 記号 {symbol} 番号 {number} の被保険者は見つかりません "
                        "(no such member)")
    return add_user(session, username=username, password=password, role="member", display_name=display_name,
                    password_policy=password_policy, by=by, member_of=(insurer.id, qv.person_id))


def get_user(session: Session, user_id: int) -> WebUser | None:
    return session.get(WebUser, user_id)


def get_by_username(session: Session, username: str) -> WebUser | None:
    """The user of *username*, however it is written (``Suzuki``, ``suzuki``, ``ｓｕｚｕｋｉ``)."""
    return session.scalar(select(WebUser).where(WebUser.username_key == username_key(username)))


def list_users(session: Session) -> list[WebUser]:
    return list(session.scalars(select(WebUser).order_by(WebUser.role, WebUser.username)))


def actor(user: WebUser) -> str:
    """How a user's actions are recorded (``imported_by``, ``resolved_by``, ``decided_by`` …): ``web:<username>``."""
    return f"web:{user.username}"


def actors_of_insurer(session: Session, insurer_id: int) -> set[str]:
    """The :func:`actor` names of every user bound to *insurer_id* (whose imports count as the insurer's)."""
    return {actor(u) for u in session.scalars(select(WebUser).where(WebUser.insurer_id == insurer_id))}


def authenticate(session: Session, username: str, password: str, *, now: datetime | None = None,
                 settings=None) -> WebUser:
    """Check a password.  After a few wrong passwords in a row for a name, each further attempt must wait
    (:func:`onshi.auth.throttle.delay_after`); an attempt that comes too soon is refused without checking the
    password (:class:`LoginError` with ``retry_after``).

    The message never says whether the user name exists: unknown names are delayed the same way and cost the
    same hashing time.
    """
    from onshi.config import get_settings

    settings = settings or get_settings()
    now = now or utcnow()
    key = username_key(username)[:60]
    wait = throttle.sign_in_wait(session, key, settings, now)
    if wait:
        raise LoginError(f"ログインの失敗が続いたため、{wait}秒後にもう一度お試しください", retry_after=wait)
    user = get_by_username(session, key)
    ok = False
    if user is None or user.disabled_at is not None:
        try:  # same work as for a real user, so timing does not tell which names exist
            _hasher.verify(_DUMMY_HASH, password or "")
        except VerificationError:
            pass
    else:
        try:
            ok = _hasher.verify(user.password_hash, password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
    if not ok:
        wait = throttle.record_failure(session, key, settings, now)
        message = "ユーザー名またはパスワードが違います"
        if wait:
            message += f"（失敗が続いたため、次は{wait}秒後から試せます）"
        raise LoginError(message)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    throttle.clear_failures(session, key)
    user.failed_attempts, user.locked_until, user.last_login_at = 0, None, now
    return user


# ---------------------------------------------------------------- administration (each action audited)

def _user(session: Session, username: str) -> WebUser:
    user = get_by_username(session, username)
    if user is None:
        raise UserError(f"ユーザー {username} はいません (no such user)")
    return user


def _record(session: Session, by: tuple[str, str], action: str, user: WebUser, detail: str | None = None) -> None:
    """The audit row of an administrative action on *user*; *by* is (actor kind, actor id)."""
    audit.record_read(session, actor_kind=by[0], actor_id=by[1], action=action, subject_kind="web_user",
                      subject_id=user.username, detail=detail)


def _other_admins(session: Session, user: WebUser) -> int:
    return session.scalar(select(func.count()).select_from(WebUser).where(
        WebUser.role == "admin", WebUser.disabled_at.is_(None), WebUser.id != user.id)) or 0


def unlock(session: Session, username: str, *, by: tuple[str, str] = ("cli", "onshi")) -> WebUser:
    """Clear the sign-in delay of a user (after failed attempts)."""
    user = _user(session, username)
    throttle.clear_failures(session, user.username_key)
    user.failed_attempts, user.locked_until = 0, None
    _record(session, by, "user.unlock", user)
    return user


def set_password(session: Session, username: str, password: str, *, by: tuple[str, str] = ("cli", "onshi"),
                 must_change: bool = False) -> WebUser:
    """Set a new password (policy checked); every open session of the user ends."""
    user = _user(session, username)
    check_password(password, username=user.username, display_name=user.display_name)
    user.password_hash = hash_password(password)
    user.session_version = (user.session_version or 1) + 1
    user.failed_attempts, user.locked_until, user.must_change_password = 0, None, must_change
    throttle.clear_failures(session, user.username_key)
    end_sessions(session, user.id, "password")
    _record(session, by, "user.password", user, "reset, must change" if must_change else None)
    return user


def change_own_password(session: Session, user: WebUser, current: str, new: str) -> None:
    """The user's own change (also the forced one after a reset): the current password, then the policy."""
    try:
        _hasher.verify(user.password_hash, current or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise UserError("現在のパスワードが違います (current password wrong)") from None
    if new == current:
        raise UserError("新しいパスワードは今のものと別にしてください (same as the current password)")
    set_password(session, user.username, new, by=("user", user.username))


def reset_password(session: Session, username: str, *, by: tuple[str, str]) -> str:
    """A temporary password, shown once to the administrator; the user must choose a new one at the next
    sign-in, and every open session ends now."""
    user = _user(session, username)
    temporary = secrets.token_urlsafe(12)
    while passwords.problems(temporary, username=user.username, display_name=user.display_name):
        temporary = secrets.token_urlsafe(12)
    set_password(session, username, temporary, by=by, must_change=True)
    return temporary


def disable(session: Session, username: str, *, by: tuple[str, str]) -> WebUser:
    """The user can no longer sign in, and every open session ends now."""
    user = _user(session, username)
    if user.role == "admin" and not _other_admins(session, user):
        raise UserError("最後の管理者は無効にできません (the last administrator cannot be disabled)")
    if user.disabled_at is None:
        user.disabled_at = utcnow()
    end_sessions(session, user.id, "disabled")
    _record(session, by, "user.disable", user)
    return user


def enable(session: Session, username: str, *, by: tuple[str, str]) -> WebUser:
    user = _user(session, username)
    user.disabled_at = None
    _record(session, by, "user.enable", user)
    return user


def change_role(session: Session, username: str, role: str, *, by: tuple[str, str],
                institution_code: str | None = None, insurer_number: str | None = None) -> WebUser:
    """A new role and scope (the institution or insurer the user works for); open sessions end, so the next page
    is seen with the new rights only."""
    user = _user(session, username)
    if user.role == "admin" and role != "admin" and not _other_admins(session, user):
        raise UserError("最後の管理者の役割は変えられません (the last administrator must stay admin)")
    code, insurer_id = (None, member_of[0]) if role == "member" and member_of else \
        _scope(session, role, institution_code, insurer_number)
    before = f"{user.role} {user.institution_code or user.insurer_id or '-'}"
    user.role, user.institution_code, user.insurer_id = role, code, insurer_id
    end_sessions(session, user.id, "role")
    _record(session, by, "user.role", user, f"{before} → {role} {code or insurer_id or '-'}")
    return user


def sign_out_everywhere(session: Session, username: str, *, by: tuple[str, str]) -> int:
    """End every open session of the user (every browser, every device); returns how many ended."""
    user = _user(session, username)
    ended = end_sessions(session, user.id, "signout-all")
    _record(session, by, "user.signout-all", user, f"{ended} session(s)")
    return ended


# ---------------------------------------------------------------- what a clinic user's screens list
# Reads of verify's and exchange's tables for the reception screen, here until verify.service and exchange.cards
# offer them (their owners' files): the page itself never queries a table.
