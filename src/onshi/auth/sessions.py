"""Sign-in sessions, roles and CSRF protection for the HTML screens.

* The session is a signed cookie (Starlette ``SessionMiddleware``, itsdangerous) holding only the user id, the
  user's session version (bumped on a password change, ending every open session), the login time and the
  CSRF token.  It expires after :data:`SESSION_MAX_AGE` seconds and after :data:`IDLE_TIMEOUT` without use.
* Every POST from a page carries the session's CSRF token (form field ``csrf_token`` or header
  ``X-CSRF-Token``); a missing or wrong token is refused with 403.
* :func:`require` is the route dependency that checks the role: not signed in → redirect to ``/login``,
  wrong role → 403 page.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from onshi.store.clock import epoch_seconds
from onshi.auth.deps import get_session
from onshi.auth.models import WebUser

SESSION_COOKIE = "onshi_session"
SESSION_MAX_AGE = 12 * 3600
IDLE_TIMEOUT = 2 * 3600


class LoginRequired(Exception):
    """The page needs a signed-in user."""


class Forbidden(Exception):
    """Signed in, but this page is not for this role (or the CSRF token is wrong)."""

    def __init__(self, message: str = "このページを表示する権限がありません") -> None:
        super().__init__(message)
        self.message = message


def session_secret() -> str:
    from onshi.config import get_settings

    return get_settings().key_bytes("session_secret").hex()


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


def sign_in(request: Request, user: WebUser) -> None:
    """Start a fresh session (nothing of the anonymous session is kept: no fixation)."""
    request.session.clear()
    now = epoch_seconds()
    request.session.update({"uid": user.id, "sv": user.session_version, "at": now, "seen": now,
                            "csrf": secrets.token_urlsafe(32)})


def sign_out(request: Request) -> None:
    request.session.clear()


def current_user_or_none(request: Request, session: Session) -> WebUser | None:
    from onshi.auth.users import get_user

    uid = request.session.get("uid")
    if not uid:
        return None
    now = epoch_seconds()
    if now - int(request.session.get("seen", 0)) > IDLE_TIMEOUT or now - int(request.session.get("at", 0)) > SESSION_MAX_AGE:
        request.session.clear()
        return None
    user = get_user(session, int(uid))
    if user is None or user.disabled_at is not None or user.session_version != request.session.get("sv"):
        request.session.clear()
        return None
    if now - int(request.session.get("seen", 0)) > 60:
        request.session["seen"] = now
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
