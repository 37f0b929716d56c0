"""Sign-in, sign-out and the home page (each role lands on its own screen)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from onshi.auth import users
from onshi.auth.sessions import (
    Forbidden,
    check_csrf,
    current_user_or_none,
    sign_in,
    sign_out,
)
from onshi.auth.deps import DB
from onshi.web.pages.common import jst, render

router = APIRouter(include_in_schema=False)

HOME = {"clinic": "/reception", "clerk": "/office", "supervisor": "/office", "analyst": "/analytics",
        "admin": "/admin/users"}


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
async def login(request: Request, session: DB, username: Annotated[str, Form()] = "",
                password: Annotated[str, Form()] = "", next: Annotated[str, Form()] = ""):
    try:
        await check_csrf(request)
    except Forbidden as exc:
        return render(request, "login.html", {"error": exc.message, "username": username, "next": next},
                      status_code=403)
    try:
        user = users.authenticate(session, username, password)
    except users.LoginError as exc:
        session.commit()  # the failure count must stick even though the answer is an error
        message = exc.message + (f"（解除予定 {jst(exc.locked_until)}）" if exc.locked_until else "")
        return render(request, "login.html", {"error": message, "username": username, "next": next},
                      status_code=401)
    sign_in(request, user)
    return RedirectResponse(_safe_next(next) or HOME[user.role], status_code=303)


@router.post("/logout")
async def logout(request: Request):
    await check_csrf(request)
    sign_out(request)
    return RedirectResponse("/login", status_code=303)
