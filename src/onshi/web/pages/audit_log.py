"""The audit-log viewer (アクセス記録の閲覧): who read whose data, when and why.

A supervisor sees the rows of their insurer's records (``audit_log.insurer_number``); an administrator sees every
row.  Filters: person (個人ID), user (ユーザー名), institution (医療機関コード: its token's reads and its
receptionists'), day (Japan time); 50 rows a page, newest first.  Looking at the log is itself written to the log
(:func:`onshi.privacy.audit.list_entries` writes ``audit.view``) — the page never queries a table.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from onshi.auth import users
from onshi.auth.deps import DB
from onshi.auth.models import WebUser
from onshi.auth.sessions import require
from onshi.privacy import audit
from onshi.web.pages.common import FormError, read_date, render

router = APIRouter(include_in_schema=False)
Reader = Annotated[WebUser, Depends(require("supervisor", "admin"))]

#: what each action means, as the page words it
ACTIONS = {"member.view": "加入者の表示", "member.search": "加入者の検索", "verify": "資格確認",
           "quarantine.list": "エラー行の一覧", "quarantine.view": "エラー行の表示", "intake.report": "取込結果の表示",
           "linkage.list": "紐付け確認の一覧", "documents.queue": "資格確認書の発行待ち一覧",
           "document.print": "文書の印刷", "document.read": "文書の表示", "document.issue": "文書の発行",
           "document.return": "返納の記録", "documents.list": "文書の一覧", "documents.returns": "返納待ちの一覧",
           "documents.daily_run": "資格確認書の発行", "certificate.application": "交付申請の記録",
           "audit.view": "アクセス記録の閲覧", "face.read": "顔認証結果の表示"}
ACTORS = {"user": "職員", "institution": "医療機関", "cli": "コマンド", "system": "システム"}


def scope_of(session: Session, user: WebUser) -> str | None:
    """The insurer number a supervisor is limited to; None for an administrator (every row)."""
    if user.role == "admin":
        return None
    from onshi.registry import service as registry

    ins = registry.get_insurer(session, id=user.insurer_id)
    return ins.number if ins else "-"  # an insurer-less supervisor sees nothing


@router.get("/audit")
def audit_page(request: Request, user: Reader, session: DB, person: str = "", username: str = "",
               institution: str = "", day: str = "", page: int = 1):
    invalid: dict[str, str] = {}
    person_id = None
    if person.strip():
        if person.strip().isdigit() and 0 < int(person.strip()) < 2**63:
            person_id = int(person.strip())
        else:
            invalid["person"] = f"個人ID「{person}」: 数字で入力してください"
    on = None
    if day.strip():
        try:
            on = read_date(day, "day", "日付")
        except FormError as exc:
            invalid[exc.field] = exc.message
    q = {"person": person, "username": username, "institution": institution, "day": day}
    if invalid:
        return render(request, "audit.html", {"q": q, "invalid": invalid, "result": None}, session=session,
                      status_code=422)
    inst = institution.strip() or None
    f = audit.AuditFilter(person=person_id, user=username.strip() or None, institution=inst, day=on,
                          insurer_number=scope_of(session, user),
                          institution_users=tuple(u.username for u in users.list_users(session)
                                                  if inst and u.institution_code == inst))
    result = audit.list_entries(session, f, actor_kind="user", actor_id=user.username, page=max(1, min(page, 10**6)))
    query = "&".join(f"{k}={v}" for k, v in q.items() if v)
    return render(request, "audit.html", {"q": q, "invalid": {}, "result": result, "actions": ACTIONS,
                                          "actors": ACTORS, "query": query,
                                          "all_insurers": user.role == "admin"}, session=session)
