"""System administration: users (no personal data of insured people here).

Add a user; and for each user: disable / enable, change the role and scope, reset the password (a temporary
password shown once; the user must choose a new one at the next sign-in), sign out everywhere, clear the sign-in
delay.  Every action is a POST with the page's CSRF token and is written to the audit log by
:mod:`onshi.auth.users`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from onshi.auth import users
from onshi.auth.deps import DB
from onshi.auth.models import WebUser
from onshi.auth.sessions import require
from onshi.verify import service as verify_service
from onshi.web.pages.common import render

router = APIRouter(include_in_schema=False, prefix="/admin")
Admin = Annotated[WebUser, Depends(require("admin"))]


def _page(request: Request, session: Session, **ctx):
    from onshi.registry import service as registry

    insurers = {i.id: i for i in registry.list_insurers(session)}
    institutions = verify_service.list_institutions(session)
    status_code = ctx.pop("status_code", 200)
    return render(request, "admin/users.html", {
        "users": users.list_users(session), "insurers": insurers, "institutions": institutions,
        "flash": request.session.pop("flash", None), "form": {}, **ctx}, session=session, status_code=status_code)


async def _form(request: Request) -> dict[str, str]:
    return {k: str(v).strip()[:200] for k, v in (await request.form()).items() if k != "csrf_token"}


def _by(user: WebUser) -> tuple[str, str]:
    return ("user", user.username)


@router.get("/users")
def user_list(request: Request, user: Admin, session: DB):
    return _page(request, session)


@router.post("/users")
async def user_add(request: Request, user: Admin, session: DB):
    form = await _form(request)
    scope = form.get("scope", "")
    try:
        with session.begin_nested():
            new = users.add_user(session, username=form.get("username", ""), password=form.get("password", ""),
                                 role=form.get("role", ""), display_name=form.get("display_name") or None,
                                 institution_code=scope if form.get("role") in users.INSTITUTION_ROLES else None,
                                 insurer_number=scope if form.get("role") in users.INSURER_ROLES else None,
                                 by=_by(user))
    except users.UserError as exc:
        form.pop("password", None)
        return _page(request, session, errors=[str(exc).split(" (")[0]], form=form, status_code=422)
    request.session["flash"] = f"ユーザー {new.username} を追加しました"
    return RedirectResponse("/admin/users", status_code=303)


def _act(request: Request, session: Session, done: str, action) -> RedirectResponse:
    """Run one administrative *action*; its refusal becomes the flash message."""
    try:
        with session.begin_nested():
            result = action()
        request.session["flash"] = done.format(result=result)
    except users.UserError as exc:
        request.session["flash"] = str(exc).split(" (")[0]
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{username}/unlock")
def user_unlock(request: Request, user: Admin, session: DB, username: str):
    return _act(request, session, f"{username} のログイン待ち時間を解除しました",
                lambda: users.unlock(session, username, by=_by(user)))


@router.post("/users/{username}/disable")
def user_disable(request: Request, user: Admin, session: DB, username: str):
    return _act(request, session, f"{username} を無効にしました（ログイン中のセッションも終了しました）",
                lambda: users.disable(session, username, by=_by(user)))


@router.post("/users/{username}/enable")
def user_enable(request: Request, user: Admin, session: DB, username: str):
    return _act(request, session, f"{username} を有効にしました",
                lambda: users.enable(session, username, by=_by(user)))


@router.post("/users/{username}/signout-all")
def user_signout_all(request: Request, user: Admin, session: DB, username: str):
    return _act(request, session, f"{username} のセッションを {{result}} 件終了しました（全端末からサインアウト）",
                lambda: users.sign_out_everywhere(session, username, by=_by(user)))


@router.post("/users/{username}/reset-password")
def user_reset_password(request: Request, user: Admin, session: DB, username: str):
    """The temporary password is shown in this answer only (never put in the cookie or a redirect)."""
    try:
        with session.begin_nested():
            temporary = users.reset_password(session, username, by=_by(user))
    except users.UserError as exc:
        return _page(request, session, errors=[str(exc).split(" (")[0]], status_code=404)
    return _page(request, session, temporary={"username": username, "password": temporary})


@router.post("/users/{username}/role")
async def user_role(request: Request, user: Admin, session: DB, username: str):
    form = await _form(request)
    role, scope = form.get("role", ""), form.get("scope", "") or None
    return _act(request, session, f"{username} の役割を {users.ROLES.get(role, role)} にしました",
                lambda: users.change_role(session, username, role, by=_by(user),
                                          institution_code=scope if role in users.INSTITUTION_ROLES else None,
                                          insurer_number=scope if role in users.INSURER_ROLES else None))
