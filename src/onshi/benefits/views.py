"""Routes of the cash benefits (現金給付): the REST API ``/api/v1/benefits/…`` and the back-office pages
``/office/benefits…``.

For the insurer's staff (:mod:`onshi.auth.staff` on the API, ``require("clerk", "supervisor")`` on the pages): no
session → 401 (the pages: the sign-in page), another role → 403, another insurer's application → 404.  The
supervisor alone approves decisions above the approval amount and makes the transfer file.  Every answer that
shows a person goes through a read service that writes its audit row (:func:`~onshi.benefits.service.queue`,
:func:`~onshi.benefits.service.application_view`, :func:`~onshi.benefits.service.decision_letter`,
:func:`~onshi.benefits.service.pay`); the board holds counts only.

``POST /api/v1/benefits/applications`` is the entry of employers' software and of the clerk's own tools: the
``source_key`` makes it idempotent (the same key again answers the application already received).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from onshi.auth import employers, users
from onshi.auth.deps import DB
from onshi.auth.models import WebUser
from onshi.auth.sessions import require
from onshi.auth.staff import StaffUser, staff_dependency
from onshi.benefits import service
from onshi.claims.service import high_cost_months
from onshi.registry import service as registry
from onshi.rules.benefits import CHANNELS, KINDS
from onshi.store.clock import japan_today
from onshi.web.limits import DbId
from onshi.web.pages.common import render

api = APIRouter(prefix="/api/v1/benefits", tags=["benefits"])
pages = APIRouter(prefix="/office/benefits", include_in_schema=False)

_staff = staff_dependency("cash benefits are for an insurer's clerk or supervisor", " (GET /api/v1/documents/session)")
Staff = Annotated[StaffUser, Depends(_staff)]
PageStaff = Annotated[WebUser, Depends(require("clerk", "supervisor"))]


def _staff_or_employer(request: Request, session: DB) -> StaffUser | employers.EmployerCaller:
    """An employer's bearer token (401 when it is not an active one), else the staff session (401/403 as staff)."""
    if employers.request_token(request):
        return employers.employer_caller(request, session)
    return _staff(request, session)


Caller = Annotated[StaffUser | employers.EmployerCaller, Depends(_staff_or_employer)]
PageSupervisor = Annotated[WebUser, Depends(require("supervisor"))]


# ---------------------------------------------------------------------------- REST

class BankIn(BaseModel):
    bank_code: str = Field(description="金融機関コード (4 digits)")
    branch_code: str = Field(description="支店番号 (3 digits)")
    account_type: int = Field(description="預金種目: 1 普通, 2 当座, 4 貯蓄, 9 その他")
    account_number: str = Field(description="口座番号 (7 digits) — stored sealed, never answered")
    holder: str = Field(description="口座名義 (カナ)")


class ApplicationIn(BaseModel):
    source_key: str = Field(min_length=1, max_length=120,
                            description="the sender's own key of this application: the same key again is the same "
                                        "application (nothing is received twice)")
    kind: str = Field(description=" | ".join(f"{k} ({v})" for k, v in KINDS.items()))
    channel: str = Field("electronic", description=" | ".join(f"{k} ({v})" for k, v in CHANNELS.items()))
    received_on: date | None = Field(None, description="the day the insurer received it (default: today, Japan)")
    symbol: str
    number: str
    branch: str = "00"
    details: dict = Field(default_factory=dict, description="the kind's facts (docs/benefits.md)")
    employer_cert: dict | None = Field(None, description="事業主の証明: certified_on, wages {day: yen}, worked_days")
    doctor_cert: dict | None = Field(None, description="医師・助産師の証明: certified_on, …")
    attachments: list[str] = Field(default_factory=list)
    bank: BankIn | None = None


class ApplicationOut(BaseModel):
    id: int
    kind: str
    channel: str
    status: str = Field(description="received | incomplete | complete | decided | paid | refused")
    received_on: date
    complete_on: date | None = Field(description="the day it became complete: the service standard starts")
    due: date | None = Field(description="the last day of payment within the service standard")
    missing: list[dict] = Field(description="what keeps it incomplete: field and reason (Japanese)")
    amount: int | None
    explanation: list[str]
    refused_reason: str | None


class ApplicationDetailOut(ApplicationOut):
    person_id: int
    name: str
    numbers: str
    account: str = Field(description="the account, masked (****123)")


class BoardOut(BaseModel):
    today: date
    totals: dict[str, int]
    by_status: dict[str, int]
    by_due: dict[str, int]
    by_kind: dict[str, dict[str, int]]


def _out(app, due=None) -> dict:
    return {"id": app.id, "kind": app.kind, "channel": app.channel, "status": app.status,
            "received_on": app.received_on, "complete_on": app.complete_on,
            "due": due or (service.due_on(app.complete_on) if app.complete_on else None),
            "missing": list(app.missing or []), "amount": app.amount, "explanation": list(app.explanation or []),
            "refused_reason": app.refused_reason}


@api.get("/board", response_model=BoardOut)
def api_board(who: Staff, session: DB):
    """The service-standard board of the caller's insurer: counts only."""
    b = service.board(session, insurer_id=who.insurer.id, today=japan_today())
    return BoardOut(today=b.today, totals=b.totals, by_status=b.by_status, by_due=b.by_due, by_kind=b.by_kind)


@api.get("/applications", response_model=list[ApplicationDetailOut])
def api_queue(who: Staff, session: DB):
    """The open applications, oldest completeness first; each person listed is audited."""
    rows = service.queue(session, insurer_id=who.insurer.id, today=japan_today(), insurer_number=who.insurer.number,
                         **who.reader)
    return [ApplicationDetailOut(id=r.id, kind=r.kind, channel=r.channel, status=r.status, received_on=r.received_on,
                                 complete_on=r.complete_on, due=r.due, missing=r.missing, amount=r.amount,
                                 explanation=[], refused_reason=None, person_id=r.person_id, name=r.name,
                                 numbers="", account="") for r in rows]


@api.post("/applications", response_model=ApplicationOut, status_code=201)
def api_receive(body: ApplicationIn, who: Caller, session: DB):
    """Receive an application (the employer's software with its own token, the clerk's tools): checked at once —
    complete, or incomplete with what is missing.  The same ``source_key`` again answers the first one.  An
    employer's: for a member of its 事業所 only (403 otherwise), received today as 電子申請."""
    is_employer = isinstance(who, employers.EmployerCaller)
    key = (f"employer:{who.employer.id}:{body.source_key}" if is_employer
           else f"api:{who.insurer.id}:{body.source_key}")
    inp = service.ApplicationInput(
        kind=body.kind, channel="electronic" if is_employer else body.channel,
        received_on=japan_today() if is_employer else body.received_on or japan_today(), symbol=body.symbol,
        number=body.number, branch=body.branch, details=body.details, employer_cert=body.employer_cert,
        doctor_cert=body.doctor_cert, attachments=body.attachments,
        bank=body.bank.model_dump() if body.bank else None, source_key=key)
    try:
        app = service.receive(session, inp, insurer_id=who.insurer.id, actor=who.actor,
                              employer_id=who.employer.id if is_employer else None)
    except service.NotEmployee:
        raise employers.not_an_employee() from None
    except service.BenefitError as exc:
        raise HTTPException(422, [{"field": k, "reason": v} for k, v in exc.invalid.items()]) from None
    return ApplicationOut(**_out(app))


@api.get("/applications/{application_id}", response_model=ApplicationDetailOut | ApplicationOut)
def api_application(application_id: DbId, who: Caller, session: DB):
    """One application: for the staff with its member (audited); for an employer, of its own employees only (403
    otherwise), without the member's name or account (audited as ``benefit.employer_view``)."""
    if isinstance(who, employers.EmployerCaller):
        try:
            app = service.application_for_employer(session, application_id, insurer_id=who.insurer.id,
                                                   employer_id=who.employer.id, insurer_number=who.insurer.number,
                                                   **who.reader)
        except LookupError:
            raise HTTPException(404, "no such application") from None
        except service.NotEmployee:
            raise employers.not_an_employee() from None
        return ApplicationOut(**_out(app))
    try:
        v = service.application_view(session, application_id, insurer_id=who.insurer.id,
                                     insurer_number=who.insurer.number, **who.reader)
    except LookupError:
        raise HTTPException(404, "no such application") from None
    return ApplicationDetailOut(**_out(v.app, v.due), person_id=v.app.person_id, name=v.name, numbers=v.numbers,
                                account=v.account)


@api.post("/applications/{application_id}/decide", response_model=ApplicationOut)
def api_decide(application_id: DbId, who: Staff, session: DB):
    """Decide a complete application: the amount and its explanation, or refused with the reason."""
    try:
        app = service.decide(session, application_id, on=japan_today(), actor=who.actor, insurer_id=who.insurer.id,
                             claims=high_cost_months)
    except LookupError:
        raise HTTPException(404, "no such application") from None
    except service.StateError as exc:
        raise HTTPException(409, str(exc)) from None
    return ApplicationOut(**_out(app))


# ---------------------------------------------------------------------------- pages

STATUS_LABELS = service.STATUS_LABELS


def _insurer(session: Session, user: WebUser):
    return registry.get_insurer(session, id=user.insurer_id)


def _reader(user: WebUser) -> dict:
    return {"actor_kind": "user", "actor_id": user.username}


def _flash(request: Request, message: str) -> None:
    request.session["flash"] = message


@pages.get("")
def page_queue(request: Request, user: PageStaff, session: DB):
    """The clerk's queue: open applications, oldest completeness first (each person audited)."""
    ins = _insurer(session, user)
    today = japan_today()
    rows = service.queue(session, insurer_id=ins.id, today=today, insurer_number=ins.number, **_reader(user))
    board = service.board(session, insurer_id=ins.id, today=today)
    return render(request, "benefits/queue.html", {
        "rows": rows, "totals": board.totals, "kinds": KINDS, "channels": CHANNELS, "labels": STATUS_LABELS,
        "flash": request.session.pop("flash", None)}, session=session)


@pages.get("/board")
def page_board(request: Request, user: PageStaff, session: DB):
    """The service-standard board (counts only): received, incomplete, waiting by due day, due soon, overdue."""
    ins = _insurer(session, user)
    board = service.board(session, insurer_id=ins.id, today=japan_today())
    return render(request, "benefits/board.html", {"board": board, "kinds": KINDS, "labels": STATUS_LABELS,
                                                   "flash": request.session.pop("flash", None)}, session=session)


@pages.get("/{application_id}")
def page_application(request: Request, application_id: DbId, user: PageStaff, session: DB):
    """One application: the member, what is missing, the calculation line by line, the history; the decision."""
    ins = _insurer(session, user)
    try:
        v = service.application_view(session, application_id, insurer_id=ins.id, insurer_number=ins.number,
                                     **_reader(user))
    except LookupError:
        return render(request, "office/not_found.html", {"what": f"申請番号 {application_id}"}, status_code=404,
                      session=session)
    return render(request, "benefits/application.html", {
        "v": v, "app": v.app, "kinds": KINDS, "channels": CHANNELS, "labels": STATUS_LABELS,
        "flash": request.session.pop("flash", None)}, session=session)


def _act(request: Request, user: WebUser, session: Session, application_id: int, action, **kw) -> RedirectResponse:
    ins = _insurer(session, user)
    try:
        action(session, application_id, on=japan_today(), actor=users.actor(user), insurer_id=ins.id, **kw)
    except LookupError:
        _flash(request, f"申請番号 {application_id} はありません")
        return RedirectResponse("/office/benefits", status_code=303)
    except (service.StateError, service.BenefitError) as exc:
        _flash(request, str(exc).removeprefix("reason: "))
    return RedirectResponse(f"/office/benefits/{application_id}", status_code=303)


@pages.post("/{application_id}/decide")
def page_decide(request: Request, application_id: DbId, user: PageStaff, session: DB):
    return _act(request, user, session, application_id, service.decide, claims=high_cost_months)


@pages.post("/{application_id}/refuse")
def page_refuse(request: Request, application_id: DbId, user: PageStaff, session: DB,
                reason: Annotated[str, Form()] = ""):
    return _act(request, user, session, application_id, service.refuse, reason=reason)


@pages.post("/{application_id}/approve")
def page_approve(request: Request, application_id: DbId, user: PageSupervisor, session: DB):
    return _act(request, user, session, application_id, service.approve)


@pages.get("/{application_id}/letter.pdf")
def page_letter(request: Request, application_id: DbId, user: PageStaff, session: DB):
    ins = _insurer(session, user)
    try:
        pdf = service.decision_letter(session, application_id, insurer_id=ins.id, insurer_number=ins.number,
                                      **_reader(user))
    except LookupError:
        return render(request, "office/not_found.html", {"what": f"申請番号 {application_id}"}, status_code=404,
                      session=session)
    except service.StateError as exc:
        _flash(request, str(exc))
        return RedirectResponse(f"/office/benefits/{application_id}", status_code=303)
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="benefit-{application_id}.pdf"', "Cache-Control": "no-store"})


@pages.post("/pay")
def page_pay(request: Request, user: PageSupervisor, session: DB):
    """The supervisor makes the 全銀協 transfer file of every decided (and, above the amount, approved)
    application; each payee is audited; a second run pays nothing twice."""
    ins = _insurer(session, user)
    run = service.pay(session, insurer_id=ins.id, on=japan_today(), actor=users.actor(user))
    if run.batch is None:
        _flash(request, "支払う決定済みの申請はありません" + (f"（保留 {len(run.skipped)}件）" if run.skipped else ""))
        return RedirectResponse("/office/benefits/board", status_code=303)
    return Response(run.file, media_type="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="zengin-{run.batch.transfer_date:%Y%m%d}-{run.batch.id}.txt"',
        "Cache-Control": "no-store"})


# ---------------------------------------------------------------------------- the member's own pages

member = APIRouter(prefix="/member/benefits", include_in_schema=False)
PageMember = Annotated[WebUser, Depends(require("member"))]
MEMBER_KINDS = ("sickness", "maternity", "childbirth", "burial")
DATE_FIELDS = {"incapacity_from": "労務不能となった日", "period_from": "申請期間（開始）", "period_to": "申請期間（終了）",
               "birth_date": "出産日", "due_date": "出産予定日", "death_date": "死亡日",
               "doctor_certified_on": "医師・助産師の証明日", "employer_certified_on": "事業主の証明日"}


def _own_qualification(session: Session, user: WebUser):
    rows = [qv for qv in registry.qualification_versions(session, person_id=user.person_id,
                                                         insurer_id=user.insurer_id) if qv.branch == "00"]
    return rows[-1] if rows else None


@member.get("")
def member_home(request: Request, user: PageMember, session: DB):
    """The member's own applications and their state (audited: ``benefit.own``)."""
    ins = _insurer(session, user)
    apps = service.applications_of_person(session, user.person_id, actor_kind="user", actor_id=user.username,
                                          insurer_number=ins.number if ins else None)
    return render(request, "benefits/member.html", {"apps": apps, "kinds": KINDS, "labels": STATUS_LABELS,
                                                    "flash": request.session.pop("flash", None)}, session=session)


def _form(request: Request, session: Session, values: dict, invalid: dict | None = None, status: int = 200):
    import secrets

    values = {"nonce": secrets.token_urlsafe(16), **values}
    return render(request, "benefits/member_form.html", {
        "v": values, "invalid": invalid or {}, "kinds": {k: KINDS[k] for k in MEMBER_KINDS},
        "dates": DATE_FIELDS}, status_code=status, session=session)


@member.get("/new")
def member_new(request: Request, user: PageMember, session: DB):
    """The electronic application form (電子申請)."""
    return _form(request, session, {"kind": "sickness", "account_type": "1"})


@member.post("")
async def member_submit(request: Request, user: PageMember, session: DB):
    """Receive the member's electronic application for their own qualification; the form's one-time key makes a
    second press of the button the same application."""
    from onshi.web.pages.common import FormError, read_date

    form = {k: str(v).strip() for k, v in (await request.form()).items() if k != "csrf_token"}
    invalid: dict[str, str] = {}
    if form.get("kind") not in MEMBER_KINDS:
        invalid["kind"] = f"給付の種類「{form.get('kind', '')}」は選べません"
    dates: dict[str, str] = {}
    for name, label in DATE_FIELDS.items():
        if form.get(name):
            try:
                dates[name] = read_date(form[name], name, label).isoformat()
            except FormError as exc:
                invalid[name] = exc.message
    children = form.get("children") or "1"
    if not children.isdigit() or not 1 <= int(children) <= 9:
        invalid["children"] = f"出生児数「{children}」: 1〜9の数字で入力してください"
    qv = _own_qualification(session, user)
    if qv is None:
        invalid["kind"] = "ご本人の資格が見つかりません。保険者にお問い合わせください"
    if invalid:
        return _form(request, session, form, invalid, 422)
    kind = form["kind"]
    details = {k: dates[k] for k in ("incapacity_from", "period_from", "period_to", "birth_date", "due_date",
                                      "death_date") if k in dates}
    if kind == "maternity":
        details["multiple"] = form.get("multiple") == "1"
    if kind == "childbirth":
        details.update(children=int(children), covered=form.get("covered", "1") == "1")
    bank = {"bank_code": form.get("bank_code", ""), "branch_code": form.get("branch_code", ""),
            "account_type": form.get("account_type", "1"), "account_number": form.get("account_number", ""),
            "holder": form.get("holder", "")}
    inp = service.ApplicationInput(
        kind=kind, channel="electronic", received_on=japan_today(), symbol=qv.symbol, number=qv.number,
        branch=qv.branch, details=details,
        employer_cert={"certified_on": dates["employer_certified_on"]} if "employer_certified_on" in dates else None,
        doctor_cert={"certified_on": dates["doctor_certified_on"]} if "doctor_certified_on" in dates else None,
        attachments=[a.strip() for a in form.get("attachments", "").split("、") if a.strip()],
        bank=bank, source_key=f"member:{user.id}:{form.get('nonce', '')[:60]}")
    try:
        app = service.receive(session, inp, insurer_id=user.insurer_id, actor=users.actor(user))
    except service.BenefitError as exc:
        return _form(request, session, form, {k.split(".")[-1]: v for k, v in exc.invalid.items()}, 422)
    _flash(request, "申請を受け付けました" + ("（不備があります。内容をご確認ください）" if app.status == "incomplete" else ""))
    return RedirectResponse(f"/member/benefits/{app.id}", status_code=303)


@member.get("/{application_id}")
def member_application(request: Request, application_id: DbId, user: PageMember, session: DB):
    """One of the member's own applications (another person's is not found); audited."""
    ins = _insurer(session, user)
    try:
        v = service.application_view(session, application_id, insurer_id=user.insurer_id, person_id=user.person_id,
                                     actor_kind="user", actor_id=user.username,
                                     insurer_number=ins.number if ins else None)
    except LookupError:
        return render(request, "benefits/member_not_found.html", {"id": application_id}, status_code=404,
                      session=session)
    return render(request, "benefits/member_application.html", {
        "v": v, "app": v.app, "kinds": KINDS, "labels": STATUS_LABELS,
        "flash": request.session.pop("flash", None)}, session=session)


def install(app) -> None:
    app.include_router(api)
    app.include_router(pages)
    app.include_router(member)
