"""System administration: users (no personal data of insured people here)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from onshi.auth import users
from onshi.auth.sessions import require
from onshi.auth.deps import DB
from onshi.auth.models import WebUser
from onshi.verify import service as verify_service
from onshi.web.pages.common import render

router = APIRouter(include_in_schema=False, prefix="/admin")
Admin = Annotated[WebUser, Depends(require("admin"))]


def _page(request: Request, session: Session, **ctx):
    from onshi.registry import service as registry

    insurers = {i.id: i for i in registry.list_insurers(session)}
    institutions = verify_service.list_institutions(session)
    return render(request, "admin/users.html", {
        "users": users.list_users(session), "insurers": insurers, "institutions": institutions,
        "flash": request.session.pop("flash", None), "form": {}, **ctx}, session=session,
        status_code=ctx.pop("status_code", 200) if "status_code" in ctx else 200)


@router.get("/users")
def user_list(request: Request, user: Admin, session: DB):
    return _page(request, session)


@router.post("/users")
async def user_add(request: Request, user: Admin, session: DB):
    form = {k: str(v).strip() for k, v in (await request.form()).items() if k != "csrf_token"}
    scope = form.get("scope", "")
    try:
        with session.begin_nested():
            new = users.add_user(session, username=form.get("username", ""), password=form.get("password", ""),
                                 role=form.get("role", ""), display_name=form.get("display_name") or None,
                                 institution_code=scope if form.get("role") == "clinic" else None,
                                 insurer_number=scope if form.get("role") in users.INSURER_ROLES else None)
    except users.UserError as exc:
        form.pop("password", None)
        return _page(request, session, errors=[str(exc).split(" (")[0]], form=form, status_code=422)
    request.session["flash"] = f"ユーザー {new.username} を追加しました"
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/users/{username}/unlock")
def user_unlock(request: Request, user: Admin, session: DB, username: str):
    try:
        users.unlock(session, username)
        request.session["flash"] = f"{username} のロックを解除しました"
    except users.UserError as exc:
        request.session["flash"] = str(exc)
    return RedirectResponse("/admin/users", status_code=303)
