"""The member's own 医療費通知 (医療費のお知らせ) on the web (issue 21 point 5): ``/member/medical-costs`` for a
signed-in 加入者 (role ``member``, bound to one person of one insurer) — the care of the member and the member's
dependents per month of care (institution, days, total cost, the part paid), exactly as the notice covers them
(:func:`onshi.claims.notices.cost_notice`), and the notice itself as a PDF (``/member/medical-costs/notice.pdf``,
the documents' renderer :func:`~onshi.claims.notices.render_cost_notice`, no layout of its own).

* **Period**: one calendar year (``?year=YYYY``), by default the last one — 医療費控除 counts the care paid in a
  calendar year, and the notice is meant as its 明細書.  The years offered are this year and the five before (a
  還付申告 can be made for five years); any other value is refused on the page (422) saying which years can be chosen.
* **Whose**: always the signed-in member's own person (``WebUser.person_id``); the routes take no person id, so
  there is no other person to ask for.  The staff routes (``/api/v1/claims/persons/{id}/…``) answer a member 403.
  Not signed in → the sign-in page, another role → 403 (:func:`onshi.auth.sessions.require`).
* **Audit**: the read service writes one ``claims.cost_notice`` row per person on the notice, actor the member's
  user name (as the member's benefit pages are audited).

The member's benefit pages have no JSON route (pages only), so neither has this one (docs/claims.md).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from onshi.auth.deps import DB
from onshi.auth.models import WebUser
from onshi.auth.sessions import require
from onshi.claims import notices
from onshi.store.clock import japan_today
from onshi.web.pages.common import render

router = APIRouter(prefix="/member/medical-costs", include_in_schema=False)
PageMember = Annotated[WebUser, Depends(require("member"))]
YEARS_BACK = 5  # 還付申告 (医療費控除) can be filed for five years


def offered_years() -> list[int]:
    """This year and the five before, newest first (this year's notice is the months so far)."""
    this = japan_today().year
    return list(range(this, this - YEARS_BACK - 1, -1))


def read_year(text: str | None) -> int:
    """The chosen calendar year: none → the last calendar year; otherwise one of :func:`offered_years`, else a
    ValueError saying in Japanese which years can be chosen."""
    years = offered_years()
    if text is None or text == "":
        return years[1]
    value = text.strip()
    if value.isascii() and value.isdigit() and int(value) in years:
        return int(value)
    raise ValueError(f"年「{value[:20]}」は選べません。{years[-1]}年から{years[0]}年までの年を選んでください")


def own_notice(session: Session, user: WebUser, year: int) -> notices.CostNotice | None:
    """The member's own notice of *year* (audited by the read service); None when the member's person is not
    (or no longer) known at the member's insurer."""
    if user.person_id is None or user.insurer_id is None:
        return None
    try:
        return notices.cost_notice(session, user.person_id, insurer_id=user.insurer_id, first_month=f"{year}-01",
                                   last_month=f"{year}-12", issue_date=japan_today(), actor_kind="user",
                                   actor_id=user.username)
    except LookupError:
        return None


def _months(notice: notices.CostNotice) -> list[tuple[str, list[notices.CostLine], int, int]]:
    """The lines grouped by month of care, each with the month's total cost and part paid."""
    out: list[tuple[str, list[notices.CostLine], int, int]] = []
    for line in notice.lines:
        if not out or out[-1][0] != line.month:
            out.append((line.month, [], 0, 0))
        month, lines, total, paid = out[-1]
        lines.append(line)
        out[-1] = (month, lines, total + line.total_yen, paid + line.patient_share_yen)
    return out


@router.get("")
def member_costs(request: Request, user: PageMember, session: DB, year: str | None = None):
    """The member's 医療費のお知らせ of one calendar year, month by month."""
    try:
        chosen = read_year(year)
    except ValueError as exc:
        return render(request, "claims/member_costs.html", {
            "error": str(exc), "years": offered_years(), "year": None, "notice": None, "months": []},
            status_code=422, session=session)
    notice = own_notice(session, user, chosen)
    return render(request, "claims/member_costs.html", {
        "error": None, "years": offered_years(), "year": chosen, "notice": notice,
        "months": _months(notice) if notice else []}, status_code=200 if notice else 404, session=session)


@router.get("/notice.pdf")
def member_cost_notice_pdf(request: Request, user: PageMember, session: DB, year: str | None = None):
    """The member's own 医療費のお知らせ of the year as the notice's PDF."""
    try:
        chosen = read_year(year)
    except ValueError as exc:
        return render(request, "claims/member_costs.html", {
            "error": str(exc), "years": offered_years(), "year": None, "notice": None, "months": []},
            status_code=422, session=session)
    notice = own_notice(session, user, chosen)
    if notice is None:
        return render(request, "claims/member_costs.html", {
            "error": None, "years": offered_years(), "year": chosen, "notice": None, "months": []},
            status_code=404, session=session)
    return Response(notices.render_cost_notice(notice), media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="iryohi-{chosen}.pdf"', "Cache-Control": "no-store"})
