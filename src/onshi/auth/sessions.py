"""Sign-in sessions, roles and CSRF protection for the HTML screens.

* The session lives on the server (:class:`~onshi.auth.models.WebSession`).  The cookie (Starlette
  ``SessionMiddleware``, signed with itsdangerous) carries only a random session id — no user id, no role — and
  the CSRF token.  Ending the row ends the session at once, whoever holds a copy of the cookie: sign-out, a
  password change, a disabled user, a role change, an administrator's 「全端末からサインアウト」.
* A session ends after :data:`SESSION_MAX_AGE` seconds (absolute) and after :data:`IDLE_TIMEOUT` without use, on
  the one clock (``onshi.store.clock``).
* Served over HTTPS (``ONSHI_COOKIE_SECURE``, on unless turned off), the cookie is ``Secure`` and named
  ``__Host-onshi_session`` (the browser then refuses it from plain http, from another path or a subdomain).
* Every POST from a page carries the session's CSRF token (form field ``csrf_token`` or header
  ``X-CSRF-Token``); a missing or wrong token is refused with 403.
* :func:`require` is the route dependency that checks the role: not signed in → redirect to ``/login``,
  wrong role → 403 page, a password reset by an administrator → the password change page first.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta

from fastapi import Depends, Request
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from onshi.auth.deps import get_session
from onshi.auth.models import WebSession, WebUser
from onshi.store.clock import utcnow

SESSION_COOKIE = "onshi_session"
SECURE_SESSION_COOKIE = "__Host-onshi_session"
SESSION_MAX_AGE = 12 * 3600
IDLE_TIMEOUT = 2 * 3600
#: how often ``last_seen_at`` is written (a page view within this of the last one writes nothing)
TOUCH_EVERY = 60
#: ended sessions are kept this long (who was signed in when), then removed at a sign-in
KEEP_ENDED = timedelta(days=30)
PASSWORD_PAGE = "/account/password"


class LoginRequired(Exception):
    """The page needs a signed-in user."""


class PasswordChangeRequired(Exception):
    """Signed in with a password an administrator reset: the user must choose a new one first."""


class Forbidden(Exception):
    """Signed in, but this page is not for this role (or the CSRF token is wrong)."""

    def __init__(self, message: str = "このページを表示する権限がありません") -> None:
        super().__init__(message)
        self.message = message


def session_secret() -> str:
    from onshi.config import get_settings

    return get_settings().key_bytes("session_secret").hex()


def cookie_settings() -> tuple[str, bool]:
    """(cookie name, Secure) from ``ONSHI_COOKIE_SECURE``."""
    from onshi.config import get_settings

    secure = get_settings().cookie_secure
    return (SECURE_SESSION_COOKIE if secure else SESSION_COOKIE), secure


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def check_csrf(request: Request) -> None:
    """Refuse a state-changing request whose token does not match the session's."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.headers.get("x-csrf-token")
    if not sent:
        form = await request.form()
        sent = form.get("csrf_token")
    expected = request.session.get("csrf")
    if not expected or not isinstance(sent, str) or not hmac.compare_digest(sent, expected):
        raise Forbidden("フォームの有効期限が切れました。ページを読み込み直してから、もう一度送信してください (CSRF)")


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def sign_in(request: Request, session: Session, user: WebUser) -> None:
    """Start a fresh server-side session (nothing of the anonymous session is kept: no fixation)."""
    request.session.clear()
    now = utcnow()
    session.execute(delete(WebSession).where(WebSession.ended_at.is_not(None),
                                             WebSession.ended_at < now - KEEP_ENDED))
    session_id = secrets.token_urlsafe(32)
    client = request.client.host[:45] if request.client else None
    session.add(WebSession(id_hash=_hash(session_id), user_id=user.id, created_at=now, last_seen_at=now,
                           address=client))
    session.flush()
    request.session.update({"sid": session_id, "csrf": secrets.token_urlsafe(32)})


def _row(request: Request, session: Session) -> WebSession | None:
    session_id = request.session.get("sid")
    if not isinstance(session_id, str) or not session_id:
        return None
    return session.get(WebSession, _hash(session_id))


def sign_out(request: Request, session: Session) -> None:
    """End this session on the server (a copy of the cookie signs nobody in any more) and clear the cookie."""
    row = _row(request, session)
    if row is not None and row.ended_at is None:
        row.ended_at, row.ended_reason = utcnow(), "sign-out"
    request.session.clear()


def end_sessions(session: Session, user_id: int, reason: str) -> int:
    """End every open session of a user now; returns how many there were."""
    result = session.execute(update(WebSession).where(WebSession.user_id == user_id, WebSession.ended_at.is_(None))
                             .values(ended_at=utcnow(), ended_reason=reason[:20]))
    return result.rowcount or 0


def current_user_or_none(request: Request, session: Session, *, password_change: bool = False) -> WebUser | None:
    """The signed-in user of this request, or None (no session, ended, idle or too old, user disabled).

    Raises :class:`PasswordChangeRequired` when the user must choose a new password first, unless
    *password_change* (the page that does it)."""
    row = _row(request, session)
    if row is None or row.ended_at is not None:
        request.session.pop("sid", None)
        return None
    now = utcnow()
    idle, age = now - row.last_seen_at, now - row.created_at
    if idle > timedelta(seconds=IDLE_TIMEOUT) or age > timedelta(seconds=SESSION_MAX_AGE):
        row.ended_at, row.ended_reason = now, "idle" if idle > timedelta(seconds=IDLE_TIMEOUT) else "expired"
        request.session.pop("sid", None)
        return None
    user = session.get(WebUser, row.user_id)
    if user is None or user.disabled_at is not None:
        row.ended_at, row.ended_reason = now, "disabled"
        request.session.pop("sid", None)
        return None
    if idle > timedelta(seconds=TOUCH_EVERY):
        row.last_seen_at = now
    if user.must_change_password and not password_change:
        raise PasswordChangeRequired()
    return user


def require(*roles: str) -> Callable:
    """Route dependency: the signed-in user, who must have one of *roles*; CSRF checked on POST."""

    async def _csrf(request: Request) -> None:
        await check_csrf(request)

    # defaults, not Annotated: with postponed annotations FastAPI cannot resolve the local ``_csrf``
    def dependency(request: Request, _c: None = Depends(_csrf),
                   session: Session = Depends(get_session, scope="function")) -> WebUser:  # noqa: B008
        user = current_user_or_none(request, session)
        if user is None:
            raise LoginRequired()
        if roles and user.role not in roles:
            raise Forbidden()
        request.state.user = user
        return user

    return dependency
