"""Sign-in, sign-out, the user's own password change and the home page (each role lands on its own screen).

Sign-in is limited per source address (``ONSHI_RATE_LIMIT_LOGIN_PER_ADDRESS``) and, per user name, delayed after
repeated wrong passwords (:mod:`onshi.auth.throttle`): both answer 429 with ``Retry-After``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from onshi.auth import users
from onshi.auth.deps import DB
from onshi.auth.models import WebUser
from onshi.auth.sessions import (
    PASSWORD_PAGE,
    Forbidden,
    LoginRequired,
    check_csrf,
    current_user_or_none,
    sign_in,
    sign_out,
)
from onshi.auth.throttle import client_address
from onshi.web.pages.common import render

router = APIRouter(include_in_schema=False)

HOME = {"clinic": "/reception", "clinician": "/clinical", "clerk": "/office", "supervisor": "/office", "analyst": "/analytics",
        "admin": "/admin/users", "member": "/member/benefits"}


def _safe_next(value: str | None) -> str | None:
    """Only paths on this site (no //host, no scheme)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


@router.get("/")
def home(request: Request, session: DB):
    user = current_user_or_none(request, session)
    return RedirectResponse(HOME[user.role] if user else "/login", status_code=303)


@router.get("/login")
def login_form(request: Request, session: DB, next: str | None = None):
    user = current_user_or_none(request, session)
    if user is not None:
        return RedirectResponse(_safe_next(next) or HOME[user.role], status_code=303)
    return render(request, "login.html", {"next": _safe_next(next) or ""})


@router.post("/login")
async def login(request: Request, session: DB, username: Annotated[str, Form(max_length=200)] = "",
                password: Annotated[str, Form(max_length=1024)] = "", next: Annotated[str, Form()] = ""):
    context = {"username": username, "next": next}
    try:
        await check_csrf(request)
    except Forbidden as exc:
        return render(request, "login.html", {"error": exc.message, **context}, status_code=403)
    refusal = request.app.state.rate_limits.sign_in(client_address(request.scope))
    if refusal is not None:
        response = render(request, "login.html", {
            "error": f"この端末からのログインが多すぎます。{refusal.retry_after}秒後にもう一度お試しください",
            **context}, status_code=429)
        response.headers["Retry-After"] = str(refusal.retry_after)
        return response
    try:
        user = users.authenticate(session, username, password)
    except users.LoginError as exc:
        session.commit()  # the failure count must stick even though the answer is an error
        response = render(request, "login.html", {"error": exc.message, **context},
                          status_code=429 if exc.retry_after else 401)
        if exc.retry_after:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    sign_in(request, session, user)
    if user.must_change_password:
        return RedirectResponse(PASSWORD_PAGE, status_code=303)
    return RedirectResponse(_safe_next(next) or HOME[user.role], status_code=303)


@router.post("/logout")
async def logout(request: Request, session: DB):
    await check_csrf(request)
    sign_out(request, session)
    return RedirectResponse("/login", status_code=303)


def _account(request: Request, session) -> WebUser:
    user = current_user_or_none(request, session, password_change=True)
    if user is None:
        raise LoginRequired()
    request.state.user = user
    return user


@router.get(PASSWORD_PAGE)
def password_form(request: Request, session: DB):
    user = _account(request, session)
    return render(request, "account/password.html", {"forced": user.must_change_password}, session=session)


@router.post(PASSWORD_PAGE)
async def password_change(request: Request, session: DB, current: Annotated[str, Form(max_length=1024)] = "",
                          new: Annotated[str, Form(max_length=1024)] = "",
                          confirm: Annotated[str, Form(max_length=1024)] = ""):
    await check_csrf(request)
    user = _account(request, session)
    try:
        if new != confirm:
            raise users.UserError("確認用のパスワードが一致しません (confirmation differs)")
        with session.begin_nested():
            users.change_own_password(session, user, current, new)
    except users.UserError as exc:
        return render(request, "account/password.html", {"forced": user.must_change_password,
                                                          "error": str(exc).split(" (")[0]},
                      session=session, status_code=422)
    # every session of the user ended with the change; this browser continues in a fresh one
    sign_in(request, session, user)
    request.session["flash"] = "パスワードを変更しました（ほかの端末のログインは終了しました）"
    return RedirectResponse(HOME[user.role], status_code=303)
