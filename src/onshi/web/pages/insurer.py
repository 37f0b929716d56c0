"""保険者情報: the insurer's name and contact details (お問い合わせ先) as the documents print them — seen by its staff,
changed by its supervisor (as ``onshi insurer update`` does).  No personal data is shown here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from onshi.auth.deps import DB
from onshi.auth.models import WebUser
from onshi.auth.sessions import require
from onshi.registry import service as registry
from onshi.web.pages.common import render

router = APIRouter(include_in_schema=False, prefix="/office")
Staff = Annotated[WebUser, Depends(require("clerk", "supervisor"))]
Supervisor = Annotated[WebUser, Depends(require("supervisor"))]
FIELDS = ["postal_code", "address", "phone", "contact_hours", "url"]


def _page(request: Request, session, user: WebUser, *, errors: list[str] | None = None, values: dict | None = None,
          status_code: int = 200):
    ins = registry.get_insurer(session, id=user.insurer_id)
    shown = values or {f: getattr(ins, f) or "" for f in FIELDS}
    return render(request, "office/insurer.html", {
        "ins": ins, "values": shown, "labels": {k: v[0] for k, v in registry.CONTACT_FIELDS.items()},
        "contact": registry.contact_line(ins), "errors": errors or [], "flash": request.session.pop("flash", None)},
        session=session, status_code=status_code)


@router.get("/insurer")
def insurer_page(request: Request, user: Staff, session: DB):
    return _page(request, session, user)


@router.post("/insurer")
def insurer_update(request: Request, user: Supervisor, session: DB,
                   postal_code: Annotated[str, Form()] = "", address: Annotated[str, Form()] = "",
                   phone: Annotated[str, Form()] = "", contact_hours: Annotated[str, Form()] = "",
                   url: Annotated[str, Form()] = ""):
    values = {"postal_code": postal_code, "address": address, "phone": phone, "contact_hours": contact_hours,
              "url": url}
    ins = registry.get_insurer(session, id=user.insurer_id)
    try:
        with session.begin_nested():  # a refused value changes nothing
            registry.update_insurer(session, ins.number, **values)
    except registry.RegistryError as exc:
        return _page(request, session, user, errors=str(exc).split("; "), values=values, status_code=422)
    request.session["flash"] = "お問い合わせ先を更新しました。これから発行する文書に印刷されます"
    return RedirectResponse("/office/insurer", status_code=303)
