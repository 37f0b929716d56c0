"""Routes of the claims domain: the REST endpoints ``/api/v1/claims/…`` — 返納金 cases and their life cycle, the
care-after-loss match, the 資格点検 list, and the generic share — and the consented clinical information of a
patient for an institution's 有資格者 (``/api/v1/clinical/…`` and the page ``/clinical``, at the end of this module).

For the insurer's staff only (:func:`onshi.auth.staff.staff_dependency`): no session → 401, another role → 403, a
case of another insurer → 404 (the same as an unknown one).  A POST carries the session's CSRF token in
``X-CSRF-Token``.  Every answer that shows a person goes through an audited read of :mod:`onshi.claims.service`
(``refund.list``, ``refund.view``, ``claims.findings``); the actions answer the case's state only (no name).
Errors a clerk can fix are 422 with the reason in Japanese (and English beside).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from onshi.auth.deps import DB
from onshi.auth.models import WebUser
from onshi.auth.sessions import require
from onshi.auth.staff import StaffUser, staff_dependency
from onshi.claims import clinical, service
from onshi.store.clock import japan_today
from onshi.web.limits import DbId
from onshi.web.pages.common import render

router = APIRouter(prefix="/api/v1/claims", tags=["claims"])
_staff = staff_dependency("claims are for an insurer's clerk or supervisor")
Staff = Annotated[StaffUser, Depends(_staff)]
#: 診療年月 YYYY-MM, years 1900–2999 (year 0000 passed a plain \d{4} and reached date() as a 500 — schemathesis)
MONTH_PATTERN = r"^(19\d{2}|2\d{3})-(0[1-9]|1[0-2])$"
Month = Annotated[str, Query(pattern=MONTH_PATTERN, description="診療年月 YYYY-MM")]


class CaseOut(BaseModel):
    case_id: int
    person_id: int
    name: str | None = Field(description="氏名 as the registry has it")
    month: str
    institution_code: str
    symbol: str = Field(description="記号 as billed")
    number: str
    branch: str
    loss_date: date | None
    days_after_loss: list[date]
    days_valid_then: list[date] = Field(description="of those, days the index said 有効 (as registered then)")
    amount_yen: int = Field(description="the insurer's share for the days after loss")
    paid_yen: int
    debtor: str = Field(description="member | new_insurer | ours (our registration was late)")
    new_insurer_number: str | None
    status: str = Field(description="open | noticed | instalments | paid | written_off")
    noticed_on: date | None
    due_on: date | None
    instalments: int | None


class PaymentOut(BaseModel):
    paid_on: date
    amount_yen: int


class CaseDetailOut(CaseOut):
    payments: list[PaymentOut]


class CaseStateOut(BaseModel):
    case_id: int
    status: str
    amount_yen: int
    paid_yen: int


class MonthIn(BaseModel):
    month: str = Field(pattern=MONTH_PATTERN, description="診療年月 YYYY-MM")


class MatchOut(BaseModel):
    month: str
    opened: int
    by_debtor: dict[str, int]


class NoticeIn(BaseModel):
    noticed_on: date
    due_on: date | None = None


class InstalmentsIn(BaseModel):
    instalments: int = Field(ge=2, le=60)


class PaymentIn(BaseModel):
    paid_on: date
    amount_yen: int = Field(ge=1, le=10**10)


class WriteOffIn(BaseModel):
    on: date
    reason: str = Field(min_length=1, max_length=500)


class FindingOut(BaseModel):
    claim_id: int
    person_id: int | None
    name: str | None
    institution_code: str
    care_date: date
    reason: str = Field(description="ratio | not_dependent | wrong_insurer")
    reason_ja: str
    detail: str
    responsible_insurer_number: str | None


class ShareOut(BaseModel):
    key: str
    generic_qty: float
    brand_qty: float
    share: float | None


def _case_out(row: service.CaseRow) -> dict:
    c, cl = row.case, row.claim
    return dict(case_id=c.id, person_id=c.person_id, name=row.name, month=c.month,
                institution_code=cl.institution_code, symbol=cl.symbol, number=cl.number, branch=cl.branch,
                loss_date=c.loss_date, days_after_loss=c.days_after_loss, days_valid_then=c.days_valid_then,
                amount_yen=c.amount_yen, paid_yen=row.paid_yen, debtor=c.debtor,
                new_insurer_number=c.new_insurer_number, status=c.status, noticed_on=c.noticed_on, due_on=c.due_on,
                instalments=c.instalments)


@router.get("/refunds", response_model=list[CaseOut], summary="返納金 cases of the caller's insurer")
def refunds(who: Staff, session: DB, status: Literal["open", "noticed", "instalments", "paid", "written_off"] |
            None = None, month: Month | None = None):
    return [CaseOut(**_case_out(r)) for r in service.refund_cases(session, insurer_id=who.insurer.id, status=status,
                                                                  month=month, **who.reader)]


@router.get("/refunds/summary", summary="Recovery rate and what late registration cost")
def refunds_summary(who: Staff, session: DB, fiscal_year: int | None = Query(None, ge=2008, le=2100)) -> dict:
    from onshi.rules.calendar import fiscal_year_of

    fy = fiscal_year or fiscal_year_of(japan_today())
    return {"fiscal_year": fy,
            "recovery_rate": service.refund_recovery_rate(session, fy, {who.insurer.id}),
            "lateness_cost": service.lateness_cost(session, insurer_id=who.insurer.id)}


@router.get("/refunds/{case_id}", response_model=CaseDetailOut, summary="One 返納金 case with its payments")
def refund(case_id: DbId, who: Staff, session: DB):
    try:
        row = service.refund_case(session, case_id, insurer_id=who.insurer.id, **who.reader)
    except LookupError:
        raise HTTPException(404, "no such case") from None
    return CaseDetailOut(**_case_out(row), payments=[PaymentOut(paid_on=p.paid_on, amount_yen=p.amount_yen)
                                                     for p in service.payments_of(session, case_id)])


@router.post("/refunds/match", response_model=MatchOut, summary="Match a month's claims: care after loss → cases")
def match(body: MonthIn, who: Staff, session: DB):
    from onshi.claims import match_fast  # set-based; tested equal to service.match_care_after_loss

    opened = match_fast.match_care_after_loss(session, insurer_id=who.insurer.id, month=body.month)
    by: dict[str, int] = {}
    for c in opened:
        by[c["debtor"]] = by.get(c["debtor"], 0) + 1
    return MatchOut(month=body.month, opened=len(opened), by_debtor=by)


def _act(session, who: StaffUser, case_id: int, action, **kw) -> CaseStateOut:
    try:
        case = action(session, case_id, insurer_id=who.insurer.id, **kw)
    except LookupError:
        raise HTTPException(404, "no such case") from None
    except service.ClaimsError as exc:
        raise HTTPException(422, str(exc)) from None
    return CaseStateOut(case_id=case.id, status=case.status, amount_yen=case.amount_yen,
                        paid_yen=service.paid_total(session, case.id))


@router.post("/refunds/{case_id}/notice", response_model=CaseStateOut, summary="納入告知 (notice)")
def notice(case_id: DbId, body: NoticeIn, who: Staff, session: DB):
    return _act(session, who, case_id, service.notice, noticed_on=body.noticed_on, due_on=body.due_on)


@router.post("/refunds/{case_id}/instalments", response_model=CaseStateOut, summary="分割納付 (instalments)")
def instalments(case_id: DbId, body: InstalmentsIn, who: Staff, session: DB):
    return _act(session, who, case_id, service.agree_instalments, instalments=body.instalments)


@router.post("/refunds/{case_id}/payments", response_model=CaseStateOut, summary="入金 (a payment)")
def payment(case_id: DbId, body: PaymentIn, who: Staff, session: DB):
    return _act(session, who, case_id, service.record_payment, paid_on=body.paid_on, amount_yen=body.amount_yen,
                actor=who.actor)


@router.post("/refunds/{case_id}/write-off", response_model=CaseStateOut, summary="不納欠損 (write-off)")
def write_off(case_id: DbId, body: WriteOffIn, who: Staff, session: DB):
    return _act(session, who, case_id, service.write_off, on=body.on, reason=body.reason)


@router.post("/checks", summary="Run the 資格点検 of a month (replaces its earlier list)")
def run_checks(body: MonthIn, who: Staff, session: DB) -> dict:
    found = service.check_month(session, insurer_id=who.insurer.id, month=body.month)
    by: dict[str, int] = {}
    for f in found:
        by[f.reason] = by.get(f.reason, 0) + 1
    return {"month": body.month, "findings": len(found), "by_reason": by}


@router.get("/checks", response_model=list[FindingOut], summary="The 資格点検 list of a month, with the reason")
def checks(month: Month, who: Staff, session: DB):
    return [FindingOut(claim_id=f.claim_id, person_id=f.person_id, name=name, institution_code=c.institution_code,
                       care_date=f.care_date, reason=f.reason, reason_ja=service.REASONS[f.reason], detail=f.detail,
                       responsible_insurer_number=f.responsible_insurer_number)
            for f, c, name in service.findings(session, insurer_id=who.insurer.id, month=month, **who.reader)]


@router.get("/generic-share", response_model=list[ShareOut], summary="ジェネリック医薬品の数量シェア")
def generic_share(who: Staff, session: DB, by: Literal["branch", "institution", "month"] = "month",
                  fiscal_year: int | None = Query(None, ge=2008, le=2100)):
    """Over every insurer's claims (the 支部 comparison needs them all); no person is shown."""
    import duckdb

    from onshi.claims import generic
    from onshi.rules.calendar import fiscal_year_months, fiscal_year_of

    months = fiscal_year_months(fiscal_year or fiscal_year_of(japan_today()))
    con = duckdb.connect(":memory:")
    generic.register_database(con, session.get_bind(), months)
    return [ShareOut(**r) for r in generic.generic_shares(con, by, months=months)]


class CostLineOut(BaseModel):
    month: str
    patient: str
    institution_code: str
    institution_name: str
    setting: str
    days: int
    total_yen: int
    patient_share_yen: int


def _notice(session, who: StaffUser, person_id: int, first_month: str | None, last_month: str | None):
    from onshi.claims import notices
    from onshi.rules.calendar import month_key, previous_month

    today = japan_today()
    last = last_month or previous_month(month_key(today))
    first = first_month or f"{int(last[:4]) - 1}{last[4:]}"
    if first > last:
        raise HTTPException(422, "first_month は last_month 以前です (first_month after last_month)")
    try:
        return notices.cost_notice(session, person_id, insurer_id=who.insurer.id, first_month=first, last_month=last,
                                   issue_date=today, **who.reader)
    except LookupError:
        raise HTTPException(404, "no such member") from None


@router.get("/persons/{person_id}/costs", response_model=list[CostLineOut],
            summary="医療費通知 as data: the member's and dependents' care by month")
def costs(person_id: DbId, who: Staff, session: DB, first_month: Month | None = None, last_month: Month | None = None):
    """Default period: the twelve months up to last month.  Audited (``claims.cost_notice``)."""
    return [CostLineOut(**vars(c)) for c in _notice(session, who, person_id, first_month, last_month).lines]


@router.get("/persons/{person_id}/cost-notice.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}}, summary="医療費通知 as a PDF")
def cost_notice_pdf(person_id: DbId, who: Staff, session: DB, first_month: Month | None = None,
                    last_month: Month | None = None) -> Response:
    from onshi.claims import notices

    pdf = notices.render_cost_notice(_notice(session, who, person_id, first_month, last_month))
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="cost-notice-{person_id}.pdf"'})


# ---------------------------------------------------------------------------- consented clinical information

clinical_api = APIRouter(prefix="/api/v1/clinical", tags=["clinical"])
clinical_pages = APIRouter(include_in_schema=False)

_REFUSAL_STATUS = {"not_found": 404, "multiple": 422}  # every other refusal is 403: not allowed to see it


def _clinician(request: Request, session: DB) -> WebUser:
    """An institution's 有資格者 (role ``clinician``): no session → 401, another role (reception included) → 403; a
    POST needs the session's CSRF token in ``X-CSRF-Token``."""
    import hmac

    from onshi.auth.sessions import current_user_or_none

    user = current_user_or_none(request, session)
    if user is None:
        raise HTTPException(401, "sign in as a doctor, dentist or pharmacist of the institution (POST /login)")
    if user.role != "clinician" or not user.institution_code:
        raise HTTPException(403, "薬剤情報・特定健診情報は医療機関の有資格者（医師・歯科医師・薬剤師）だけが閲覧できます "
                                 "(for an institution's doctors, dentists and pharmacists only)")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        sent, expected = request.headers.get("x-csrf-token") or "", request.session.get("csrf") or ""
        if not expected or not hmac.compare_digest(sent, expected):
            raise HTTPException(403, "missing or wrong X-CSRF-Token header (the page /clinical carries it)")
    return user


Clinician = Annotated[WebUser, Depends(_clinician)]
PageClinician = Annotated[WebUser, Depends(require("clinician"))]


class PatientIn(BaseModel):
    """The patient's card numbers as the reception's check showed them, and the birth date."""

    insurer_number: str = Field(pattern=r"^\d{8}$", description="保険者番号 (8 digits)")
    symbol: str = Field(min_length=1, max_length=20, description="記号")
    number: str = Field(min_length=1, max_length=20, description="番号")
    branch: str | None = Field(None, pattern=r"^\d{2}$", description="枝番 (2 digits)")
    birth_date: date


class ConsentOut(BaseModel):
    consented_at: datetime
    available_until: datetime | None


class ClinicalOut(BaseModel):
    name: str
    birth_date: date
    since: date = Field(description="the first day shown (3 years back for drugs, 5 for 特定健診)")
    consent: ConsentOut


class DrugsOut(ClinicalOut):
    drugs: list[clinical.DrugLine]  # the service's rows as they are (pydantic reads the dataclass)


class CheckupsOut(ClinicalOut):
    checkups: list[clinical.CheckupRow]


def _clinical_view(session, user: WebUser, what: str, body: PatientIn):
    """The view, or the refusal as an answer (returned, not raised: the refusal's audit row commits with the
    request's transaction, which an exception would roll back)."""
    return clinical.view(session, what, institution_code=user.institution_code, actor_id=user.username,
                         insurer_number=body.insurer_number, symbol=body.symbol.strip(), number=body.number.strip(),
                         branch=body.branch, birth_date=body.birth_date)


def _refused(r) -> JSONResponse:
    return JSONResponse({"detail": r.reason, "code": r.code}, status_code=_REFUSAL_STATUS.get(r.code, 403))


def _clinical_out(v) -> dict:
    return dict(name=v.patient.name, birth_date=v.patient.birth_date, since=v.since,
                consent=ConsentOut(consented_at=v.consented_at, available_until=v.available_until))


@clinical_api.post("/drugs", response_model=DrugsOut, summary="薬剤情報 (3 years, from claims), with consent",
                   responses={403: {"description": "not a 有資格者, or no valid consent at this institution (reason "
                                                   "in Japanese)"}})
def clinical_drugs(body: PatientIn, user: Clinician, session: DB):
    """The drug history of a patient who consented at the card reader of the user's institution within the last
    24 hours; audited (``clinical.drugs``; a refusal ``clinical.refused``)."""
    v = _clinical_view(session, user, "drugs", body)
    if not hasattr(v, "drugs"):
        return _refused(v)
    return DrugsOut(**_clinical_out(v), drugs=v.drugs)


@clinical_api.post("/checkups", response_model=CheckupsOut, summary="特定健診情報 (5 years), with consent",
                   responses={403: {"description": "not a 有資格者, or no valid consent at this institution (reason "
                                                   "in Japanese)"}})
def clinical_checkups(body: PatientIn, user: Clinician, session: DB):
    """The 特定健診 results of a consenting patient; audited (``clinical.checkups``; a refusal ``clinical.refused``)."""
    v = _clinical_view(session, user, "checkups", body)
    if not hasattr(v, "checkups"):
        return _refused(v)
    return CheckupsOut(**_clinical_out(v), checkups=v.checkups)


CHECKUP_LABELS = {"bmi": "BMI", "waist": "腹囲 (cm)", "sbp": "収縮期血圧", "dbp": "拡張期血圧", "hba1c": "HbA1c (%)",
                  "fbs": "空腹時血糖", "tg": "中性脂肪", "hdl": "HDLコレステロール", "ldl": "LDLコレステロール"}


@clinical_pages.get("/clinical")
def clinical_page(request: Request, user: PageClinician, session: DB):
    """The 有資格者's screen: the patient's numbers (from the reception's check) → drug and 特定健診 information."""
    return render(request, "clinical/view.html", {"form": {}, "labels": CHECKUP_LABELS}, session=session)


@clinical_pages.post("/clinical")
def clinical_page_view(request: Request, user: PageClinician, session: DB,
                       insurer_number: Annotated[str, Form()] = "", symbol: Annotated[str, Form()] = "",
                       number: Annotated[str, Form()] = "", branch: Annotated[str, Form()] = "",
                       birth_date: Annotated[str, Form()] = ""):
    """Both views for the patient, each granted or refused with its reason (each audited by the service)."""
    import unicodedata

    from onshi.web.pages.common import FormError, read_date

    form = {k: unicodedata.normalize("NFKC", v).strip() for k, v in dict(
        insurer_number=insurer_number, symbol=symbol, number=number, branch=branch, birth_date=birth_date).items()}
    invalid: dict[str, str] = {}
    if not form["insurer_number"].isdigit() or len(form["insurer_number"]) != 8:
        invalid["insurer_number"] = f"保険者番号「{form['insurer_number']}」: 8桁の数字で入力してください"
    if not form["symbol"]:
        invalid["symbol"] = "記号: 入力してください"
    if not form["number"]:
        invalid["number"] = "番号: 入力してください"
    if form["branch"] and (not form["branch"].isdigit() or len(form["branch"]) != 2):
        invalid["branch"] = f"枝番「{form['branch']}」: 2桁の数字で入力してください"
    born = None
    try:
        born = read_date(form["birth_date"], "birth_date", "生年月日")
    except FormError as exc:
        invalid[exc.field] = exc.message
    if invalid:
        return render(request, "clinical/view.html", {"form": form, "invalid": invalid, "labels": CHECKUP_LABELS},
                      status_code=422, session=session)
    results: dict[str, object] = {}
    for what in ("drugs", "checkups"):
        results[what] = clinical.view(session, what, institution_code=user.institution_code, actor_id=user.username,
                                      insurer_number=form["insurer_number"], symbol=form["symbol"],
                                      number=form["number"], branch=form["branch"] or None, birth_date=born)
    patient = next((r.patient for r in results.values() if not isinstance(r, clinical.Refusal)), None)
    keys: list[str] = [k for k in CHECKUP_LABELS]
    if not isinstance(results["checkups"], clinical.Refusal):
        seen = {k for c in results["checkups"].checkups for k in c.values}
        keys = [k for k in CHECKUP_LABELS if k in seen] + sorted(seen - set(CHECKUP_LABELS))
    labels = {k: CHECKUP_LABELS.get(k, k) for k in keys}
    return render(request, "clinical/view.html", {"form": form, "results": results, "patient": patient,
                                                  "labels": labels}, session=session)


# ---------------------------------------------------------------------------- the clerk's pages

office_pages = APIRouter(prefix="/office/claims", include_in_schema=False)
PageStaff = Annotated[WebUser, Depends(require("clerk", "supervisor"))]
_MONTH = re.compile(MONTH_PATTERN)


def _page_scope(session, user: WebUser):
    from onshi.registry import service as registry

    return registry.get_insurer(session, id=user.insurer_id), {"actor_kind": "user", "actor_id": user.username}


def _page_month(value: str | None, field: str, errors: list[str]) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if not _MONTH.match(value):
        errors.append(f"{field}「{value}」: 診療年月は YYYY-MM で入力してください (例 2024-11)")
        return None
    return value


@office_pages.get("")
def page_refunds(request: Request, user: PageStaff, session: DB, status: str = "", month: str = "",
                 debtor: str = ""):
    """返納金: the insurer's cases with their state, the recovery rate and what late registration cost (each person
    shown audited by the read service: ``refund.list``).  ``?debtor=ours&month=`` is where the SLA board's
    lateness figures link."""
    from onshi.rules.calendar import fiscal_year_of

    ins, reader = _page_scope(session, user)
    errors: list[str] = []
    chosen = _page_month(month, "診療年月", errors)
    if status and status not in service.STATUSES:
        errors.append(f"状態「{status}」: {'・'.join(service.STATUSES.values())} から選んでください")
        status = ""
    if debtor and debtor not in service.DEBTORS:
        errors.append(f"債務者「{debtor}」: {'・'.join(service.DEBTORS.values())} から選んでください")
        debtor = ""
    rows = service.refund_cases(session, insurer_id=ins.id, status=status or None, month=chosen,
                                debtor=debtor or None, **reader)
    fy = fiscal_year_of(japan_today())
    return render(request, "claims/refunds.html", {
        "rows": rows, "statuses": service.STATUSES, "debtors": service.DEBTORS, "status": status, "debtor": debtor,
        "month": month, "errors": errors, "fiscal_year": fy,
        "recovery": service.refund_recovery_rate(session, fy, {ins.id}),
        "lateness": service.lateness_cost(session, insurer_id=ins.id),
        "months": service.months_of(session, ins.id)}, status_code=422 if errors else 200, session=session)


@office_pages.get("/checks")
def page_checks(request: Request, user: PageStaff, session: DB, month: str = ""):
    """資格点検: the findings of a month (default: the newest month with claims), with the reason (each person shown
    audited: ``claims.findings``).  Running the check is the REST route's (``POST /api/v1/claims/checks``)."""
    ins, reader = _page_scope(session, user)
    errors: list[str] = []
    months = service.months_of(session, ins.id)
    chosen = _page_month(month, "診療年月", errors) or (months[0] if months and not errors else None)
    found = service.findings(session, insurer_id=ins.id, month=chosen, **reader) if chosen else []
    return render(request, "claims/checks.html", {
        "found": found, "month": chosen or month, "months": months, "reasons": service.REASONS, "errors": errors},
        status_code=422 if errors else 200, session=session)


def install(app) -> None:
    """Every router of the claims domain, in one place (called by :func:`onshi.web.app.create_app`)."""
    app.include_router(router)
    app.include_router(clinical_api)
    app.include_router(clinical_pages)
    app.include_router(office_pages)
