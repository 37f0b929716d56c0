"""Routes of the outage domain (docs/outage.md): the reception page, its sync, and the REST API.

* **Page** ``/reception/outage`` (role ``clinic``): record a patient while verification is impossible — the page
  keeps the record in the browser (localStorage, ``/static/outage.js``) and sends it to ``/reception/outage/sync``
  when the server answers, so records typed while the network is down are not lost; check the records (or an
  uploaded outage list) in one go; mark a claim whose insurer stays unknown.
* **Offline start**: ``/reception/outage/sw.js`` is the page's service worker (scope ``/reception/outage``, a
  cache named by its version) and ``/reception/outage/offline`` the form it keeps for when the server cannot be
  reached — the recording form and the browser's queue, no patient's data (docs/outage.md).
* **REST** for an institution (its Bearer token, as the verification API): ``POST /api/v1/outage/records``,
  ``POST /api/v1/outage/checks``, ``POST /api/v1/outage/checks/file``,
  ``POST /api/v1/outage/records/{record_id}/unknown-insurer``; for the insurer's staff
  ``GET /api/v1/outage/apportionment`` (figures only, no person).

Routes are thin; reads of personal data are audited by :mod:`onshi.outage.service` itself.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from onshi.auth.deps import DB, current_institution
from onshi.auth.models import WebUser
from onshi.auth.sessions import require
from onshi.auth.staff import StaffUser, staff_dependency
from onshi.outage import service
from onshi.outage.matching import STATUSES
from onshi.store.clock import japan_today
from onshi.verify.models import Institution
from onshi.verify.service import institution_by_code
from onshi.web.limits import BodyId, DbId
from onshi.web.pages.common import FormError, read_date, render

router = APIRouter(tags=["outage"])
pages = APIRouter(include_in_schema=False)
Clinic = Annotated[WebUser, Depends(require("clinic"))]
Inst = Annotated[Institution, Depends(current_institution)]
Staff = Annotated[StaffUser, Depends(staff_dependency("the apportionment report is for an insurer's staff"))]
STATUS_CSS = {"有効": "ok", "無効": "ng", "要確認": "warn"}
MAX_UPLOAD = 20 * 1024 * 1024


def _errors(exc: service.OutageInputError) -> list[dict]:
    return [{"row": e.row, "field": e.field, "value": e.value, "reason": e.reason} for e in exc.errors]


def _result(rec, d) -> dict:
    return {"record_id": rec.id, "record_key": rec.record_key, "care_date": rec.care_date.isoformat(), **d.answer()}


# ---------------------------------------------------------------- REST (an institution's token)

class RecordsIn(BaseModel):
    records: list[dict] = Field(min_length=1, max_length=20000)


@router.post("/api/v1/outage/records", status_code=201, summary="Record patients seen during an outage")
def post_records(body: RecordsIn, inst: Inst, session: DB) -> dict:
    """The list is recorded whole or refused whole (422, every bad row named); a record sent again is not
    recorded twice (``record_key``, or its content)."""
    try:
        rep = service.record_patients(session, inst.code, body.records, source="api", actor=f"institution:{inst.code}",
                                      today=japan_today())
    except service.OutageInputError as exc:
        raise HTTPException(422, _errors(exc)) from None
    return {"added": len(rep.added), "duplicate": len(rep.duplicate), "records": rep.keys}


class CheckIn(BaseModel):
    record_ids: list[BodyId] | None = Field(None, max_length=20000)
    care_from: date | None = None
    care_to: date | None = None
    unchecked_only: bool = False


@router.post("/api/v1/outage/checks", summary="Check outage records against the verification index")
def post_check(body: CheckIn, inst: Inst, session: DB) -> dict:
    rep = service.check(session, inst.code, actor_kind="institution", actor_id=inst.code, **body.model_dump())
    return {"check_id": rep.check_id, "counts": rep.counts(), "results": [_result(r, d) for r, d in rep.results]}


@router.post("/api/v1/outage/checks/file", summary="Record and check an outage list (CSV)")
async def post_check_file(inst: Inst, session: DB, file: UploadFile = File(...)) -> dict:  # noqa: B008
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise HTTPException(413, "the outage list is larger than 20 MB")
    try:
        rows = service.read_list(data)
        rep = service.record_patients(session, inst.code, rows, source="upload", actor=f"institution:{inst.code}",
                                      today=japan_today())
    except service.OutageInputError as exc:
        raise HTTPException(422, _errors(exc)) from None
    chk = service.check(session, inst.code, actor_kind="institution", actor_id=inst.code,
                        record_ids=sorted(set(rep.keys.values())))
    return {"check_id": chk.check_id, "added": len(rep.added), "duplicate": len(rep.duplicate),
            "counts": chk.counts(), "results": [_result(r, d) for r, d in chk.results]}


class UnknownIn(BaseModel):
    amount_yen: int = Field(gt=0, le=100_000_000)


@router.post("/api/v1/outage/records/{record_id}/unknown-insurer", status_code=201,
             summary="Record a claim billed with the insurer unknown (for apportionment)")
def post_unknown(record_id: DbId, body: UnknownIn, inst: Inst, session: DB) -> dict:
    try:
        claim = service.record_unknown_insurer(session, inst.code, record_id, amount_yen=body.amount_yen,
                                               actor=f"institution:{inst.code}")
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"id": claim.id, "month": f"{claim.month:%Y-%m}", "amount_yen": claim.amount_yen}


@router.get("/api/v1/outage/apportionment", summary="Monthly apportionment of claims with the insurer unknown")
def get_apportionment(staff: Staff, session: DB, month: str) -> dict:
    from onshi.registry.fields import FieldError, parse_month

    try:
        first = parse_month(month)
    except FieldError as exc:
        raise HTTPException(422, f"month「{month}」: {exc.reason}") from None
    rep = service.apportionment(session, first)
    # as the analytics' breakdown by insurer (docs/auth.md): a staff member sees the totals and their own share
    return {"month": f"{rep.month:%Y-%m}", "claims": rep.claims, "total_yen": rep.total_yen,
            "basis_day": rep.basis_day.isoformat(), "insurers": len(rep.shares),
            "shares": [s.__dict__ for s in rep.shares if s.insurer_number == staff.insurer.number]}


# ---------------------------------------------------------------- the reception page

def _institution(session: Session, user: WebUser) -> Institution:
    inst = institution_by_code(session, user.institution_code)
    if inst is None:
        raise HTTPException(403, "this user works at no institution")
    return inst


def _page(request: Request, session: Session, user: WebUser, **ctx):
    inst = _institution(session, user)
    records = service.records_of(session, inst.code, actor_kind="user", actor_id=user.username, limit=200)
    base = {"records": records, "css": STATUS_CSS, "statuses": STATUSES, "today": japan_today().isoformat(),
            "columns": service.COLUMNS}
    base.update(ctx)
    status = base.pop("status_code", 200)
    return render(request, "outage.html", base, session=session, status_code=status)


@pages.get("/reception/outage")
def outage_page(request: Request, user: Clinic, session: DB):
    return _page(request, session, user)


@pages.get("/reception/outage/offline")
def outage_offline(request: Request, user: Clinic, session: DB):
    """The recording form alone (no records read, nothing audited): what the service worker shows offline."""
    _institution(session, user)
    return render(request, "outage.html", {"shell": True, "records": [], "css": STATUS_CSS, "statuses": STATUSES,
                                           "today": japan_today().isoformat(), "columns": service.COLUMNS},
                  session=session)


#: what the service worker keeps for offline start: the assets of the page (the offline form is added by it)
SW_ASSETS = ("/static/onshi.css", "/static/onshi.js", "/static/outage.js", "/static/favicon.svg")
SW_SCOPE = "/reception/outage"


@lru_cache(maxsize=1)
def service_worker() -> tuple[str, str]:
    """``(script, version)``: the version is a digest of the script and of the assets it caches, so that a change
    of either installs a new worker with a new cache (the old one deleted)."""
    import hashlib
    import json

    here = Path(__file__).resolve().parent.parent / "web"
    source = (here / "templates" / "outage-sw.js").read_text(encoding="utf-8")
    digest = hashlib.sha256(source.encode())
    for asset in SW_ASSETS:
        digest.update((here / "static" / asset.rsplit("/", 1)[1]).read_bytes())
    version = digest.hexdigest()[:12]
    return source.replace("__VERSION__", version).replace("__ASSETS__", json.dumps(list(SW_ASSETS))), version


@pages.get("/reception/outage/sw.js")
def outage_service_worker() -> Response:
    """The page's service worker: JavaScript, allowed the scope ``/reception/outage`` (one level above its own
    folder), never kept in the HTTP cache (a new version is found at once).  Public: it is code,
    no data; the browser fetches it again for updates."""
    script, _version = service_worker()
    return Response(script, media_type="text/javascript; charset=utf-8", headers={
        "Service-Worker-Allowed": SW_SCOPE, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@pages.post("/reception/outage/sync")
async def outage_sync(request: Request, user: Clinic, session: DB):
    """The page's queue, sent when the server answers: each record its own unit — recorded (or found recorded:
    ``record_key``), or refused with its errors (the page keeps it to be corrected)."""
    inst = _institution(session, user)
    try:
        body = await request.json()
        records = list(body.get("records", []))[:2000]
    except (ValueError, AttributeError):
        return JSONResponse({"error": "JSON の records がありません"}, status_code=422)
    for i, r in enumerate(records, start=1):
        if not isinstance(r, dict):
            return JSONResponse({"error": f"{i}件目が記録ではありません"}, status_code=422)
        r["__row__"] = i
    rep = service.record_patients(session, inst.code, records, source="reception", actor=f"web:{user.username}",
                                  today=japan_today(), atomic=False)
    bad: dict[int, list[str]] = {}
    for e in rep.errors:
        bad.setdefault(e.row, []).append(e.line().split(" ", 1)[1])
    out = []
    for i, r in enumerate(records, start=1):
        key = str(r.get("record_key") or "")
        out.append({"record_key": key, "errors": bad[i]} if i in bad else
                   {"record_key": key, "record_id": rep.keys.get(key)})
    return JSONResponse({"results": out, "added": len(rep.added), "duplicate": len(rep.duplicate)})


@pages.post("/reception/outage/check")
async def outage_check(request: Request, user: Clinic, session: DB):
    form = await request.form()
    inst = _institution(session, user)
    invalid = {}
    bounds = {}
    for name, label in (("care_from", "診療日（から）"), ("care_to", "診療日（まで）")):
        if form.get(name):
            try:
                bounds[name] = read_date(str(form.get(name)), name, label)
            except FormError as exc:
                invalid[exc.field] = exc.message
    if invalid:
        return _page(request, session, user, invalid=invalid, errors=list(invalid.values()), status_code=422)
    chk = service.check(session, inst.code, actor_kind="user", actor_id=user.username, **bounds)
    return _page(request, session, user, check=chk, counts=chk.counts())


@pages.post("/reception/outage/upload")
async def outage_upload(request: Request, user: Clinic, session: DB, file: UploadFile = File(...)):  # noqa: B008
    inst = _institution(session, user)
    data = await file.read(MAX_UPLOAD + 1)
    try:
        if len(data) > MAX_UPLOAD:
            raise service.OutageInputError([service.RowError(0, "ファイル", "", "20 MB を超えています")])
        rows = service.read_list(data)
        rep = service.record_patients(session, inst.code, rows, source="upload", actor=f"web:{user.username}",
                                      today=japan_today())
    except service.OutageInputError as exc:
        return _page(request, session, user, row_errors=[e.line() for e in exc.errors], filename=file.filename,
                     status_code=422)
    chk = service.check(session, inst.code, actor_kind="user", actor_id=user.username,
                        record_ids=sorted(set(rep.keys.values())))
    return _page(request, session, user, check=chk, counts=chk.counts(), filename=file.filename,
                 uploaded={"added": len(rep.added), "duplicate": len(rep.duplicate)})


@pages.post("/reception/outage/{record_id}/unknown")
async def outage_unknown(request: Request, record_id: DbId, user: Clinic, session: DB,
                         amount_yen: str = Form("")):
    inst = _institution(session, user)
    try:
        amount = int(amount_yen.replace(",", "").strip())
    except ValueError:
        return _page(request, session, user, errors=[f"請求額（保険者負担分）「{amount_yen}」: 円単位の整数で入力してください"],
                     status_code=422)
    try:
        claim = service.record_unknown_insurer(session, inst.code, record_id, amount_yen=amount,
                                               actor=f"web:{user.username}")
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        return _page(request, session, user, errors=[str(exc)], status_code=422)
    return _page(request, session, user, notice=f"記録 {record_id} を保険者不詳の請求（{claim.month:%Y年%m月}分、"
                                                f"{claim.amount_yen:,}円）として記録しました")


def install(app) -> None:
    app.include_router(router)
    app.include_router(pages)
