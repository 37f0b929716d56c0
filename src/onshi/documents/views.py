"""REST endpoints of the documents domain (資格確認書, 資格情報のお知らせ): ``/api/v1/documents/…``.

For the insurer's staff only: the caller is a signed-in web user (the session cookie of ``/login``) with the role
``clerk`` or ``supervisor``, bound to one insurer, and sees and acts on that insurer's members and documents
only.  No session → 401; any other role (a clinic's reception user, the analyst, the administrator) → 403; an
institution's Bearer token is not a staff credential → 401.  Never a redirect, never data.  The runs (daily,
mailing) are the supervisor's, as on the back-office screen.

The session is a cookie, so every POST carries the session's CSRF token in the ``X-CSRF-Token`` header (from
``GET /api/v1/documents/session`` or any page's form); without it → 403.

Every answer that shows a person's data (a list, a document, a PDF, a return, an application) writes one audit
row per person (:func:`onshi.privacy.audit.record_read`): the reads through the audited read services of
:mod:`onshi.documents.runs` (docs/audit.md), the writes (application, return, run) here.  Routes are thin: the rules
are :mod:`onshi.documents.service`'s.
"""

from __future__ import annotations

import datetime as _dt
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from onshi.documents import runs, service
from onshi.documents.models import CertificateApplication, IssuedDocument
from onshi.privacy import audit
from onshi.registry import service as registry
from onshi.store.clock import japan_today, utcnow
from onshi.auth.staff import StaffUser, staff_dependency
from onshi.auth.deps import DB
from onshi.auth.sessions import require
from onshi.web.limits import BodyId, DbId, ZonedTime

router = APIRouter(prefix="/api/v1/documents", tags=["documents"])
#: A recorded time (stored naive UTC) as the API answers it: ISO 8601 in Japan time with its offset.
RecordedTime = ZonedTime
PDF = {201: {"content": {"application/pdf": {}}, "description": "the PDF"},
       200: {"content": {"application/pdf": {}}, "description": "the PDF"}}


# ---------------------------------------------------------------- who may call


_staff = staff_dependency("documents are for an insurer's clerk or supervisor", " (GET /api/v1/documents/session)")


def _supervisor(staff: StaffUser = Depends(_staff)) -> StaffUser:  # noqa: B008
    if staff.user.role != "supervisor":
        raise HTTPException(403, "runs are started by a supervisor")
    return staff


Staff = Annotated[StaffUser, Depends(_staff)]
Supervisor = Annotated[StaffUser, Depends(_supervisor)]


def _out_dir() -> Path:
    from onshi.config import get_settings

    return get_settings().var_dir / "documents"


def _person_in_scope(session: Session, staff: StaffUser, person_id: int) -> None:
    """404 — the same for an unknown person and another insurer's — unless the person has a qualification here."""
    if not registry.qualification_versions(session, person_id=person_id, insurer_id=staff.insurer.id):
        raise HTTPException(404, "no such member of this insurer")


def _qualification_in_scope(session: Session, staff: StaffUser, qualification_id: int,
                            person_id: int | None = None):
    versions = registry.qualification_versions(session, qualification_id=qualification_id)
    qv = versions[-1] if versions else None
    if qv is None or qv.insurer_id != staff.insurer.id or (person_id is not None and qv.person_id != person_id):
        raise HTTPException(404, "no such qualification of this insurer" + (" and member" if person_id else ""))
    return qv


def _document_in_scope(session: Session, staff: StaffUser, document_id: int) -> IssuedDocument:
    doc = service.get_document(session, document_id)
    if doc is None or doc.insurer_id != staff.insurer.id:
        raise HTTPException(404, "no such document of this insurer")
    return doc


# ---------------------------------------------------------------- models


class SessionInfo(BaseModel):
    username: str
    role: str
    insurer_number: str
    insurer_name: str
    csrf_token: str = Field(description="send as the X-CSRF-Token header with every POST")


class DocumentOut(BaseModel):
    """An issued document as recorded: what, to whom, when, why, and the checksum of the PDF."""

    id: int
    kind: Literal["certificate", "notice", "cost_notice"] = Field(
        description="certificate = 資格確認書, notice = 資格情報のお知らせ, cost_notice = 医療費のお知らせ (医療費通知, "
                    "`onshi claims notices mail`)")
    person_id: int
    qualification_id: int
    name: str | None = Field(description="氏名 as printed")
    symbol: str | None = Field(description="記号 as printed")
    number: str | None = Field(description="番号 as printed")
    branch: str | None = Field(description="枝番 as printed")
    issue_date: date = Field(description="交付年月日")
    valid_until: date | None = Field(description="有効期限 (certificates)")
    reason: str = Field(description="no_my_number, no_card, card_expired, card_cancelled, application:<reason>, "
                                    "reissue:name_change|numbers_change|ratio_change, mailing")
    layout: str
    sha256: str | None = Field(description="of the document's own PDF, which a reprint matches byte for byte; null for "
                                           "a notice printed only inside an employer's bundle (the bundle's "
                                           "SHA-256 is in the run's manifest.csv)")
    layout_fingerprint: str | None = Field(description="of the layout, font and renderer at issue (a reprint is "
                                                       "refused when it has changed)")
    run_id: int | None
    due_back_since: date | None = Field(description="返納: the certificate must come back since this day")
    returned_at: date | None = Field(description="返納: the day it came back")
    recorded_at: RecordedTime = Field(description="when it was recorded, Japan time with offset (+09:00)")
    warnings: list[str]
    pdf: str = Field(description="path of the PDF (reprint)")

    @classmethod
    def of(cls, doc: IssuedDocument) -> DocumentOut:
        d = doc.data or {}
        return cls(id=doc.id, kind=doc.kind, person_id=doc.person_id, qualification_id=doc.qualification_id,
                   name=d.get("name"), symbol=d.get("symbol"), number=d.get("number"), branch=d.get("branch"),
                   issue_date=doc.issue_date, valid_until=doc.valid_until, reason=doc.reason, layout=doc.layout,
                   sha256=doc.sha256, layout_fingerprint=doc.layout_fingerprint, run_id=doc.run_id,
                   due_back_since=doc.due_back_since,
                   returned_at=doc.returned_at, recorded_at=doc.recorded_at, warnings=list(doc.warnings or []),
                   pdf=f"/api/v1/documents/{doc.id}/pdf")


class IssueIn(BaseModel):
    qualification_id: BodyId | None = Field(None, description="the member's qualification (資格) to issue a 資格確認書 "
                                                              "for; may be left out when the member has one current "
                                                              "qualification at this insurer")
    issue_date: date | None = Field(None, description="交付年月日; default today (Japan)")


class DailyRunIn(BaseModel):
    date: _dt.date = Field(description="the day to issue for (everything due on or before it, nothing twice)")
    insurer_number: str | None = Field(None, description="保険者番号; default (and only allowed) the user's insurer")


class RunOut(BaseModel):
    run_id: int | None
    issued: int
    skipped: int
    files: int
    lines: list[str] = Field(description="what a clerk must look at (records not issued, 外字 substitutes …)")


class MailingIn(BaseModel):
    run_name: str = Field(min_length=1, max_length=40, pattern=r"^[^/\\:*?\"<>|'\x00-\x1f\x7f]+$",
                          description="the same name resumes the run; Japanese is welcome (令和8年12月分), "
                                      "not / \\ : * ? \" < > | ' nor a name of dots",
                          examples=["2026-12"])
    issue_date: date | None = Field(None, description="発行日 printed on the notices; default today (Japan)")
    since: date | None = Field(None, description="only members whose records changed since this day")


class MailingOut(BaseModel):
    run_name: str
    state: Literal["running", "done", "failed", "recorded"] = Field(
        description="recorded: a run of an earlier process (or the CLI), known from its record only")
    total: int | None = Field(description="members to mail, when started here")
    done: int | None
    documents: int = Field(description="notices produced so far (recorded)")
    finished_at: RecordedTime | None = Field(description="Japan time with offset (+09:00)")
    files: int
    message: str = ""
    status: str = Field(description="where to poll")


class ReturnIn(BaseModel):
    returned_on: date = Field(description="the day the certificate came back (返納日)")


class ApplicationIn(BaseModel):
    qualification_id: BodyId
    reason: Literal["card_lost", "card_renewal", "needs_support", "other"] = Field(
        description="card_lost 紛失, card_renewal 更新中, needs_support 要配慮者, other")
    applicant: str = Field(min_length=1, max_length=100, description="申請者 (本人, 事業主 …)")
    applied_on: date = Field(description="申請日; the certificate is issued from the next business day")
    channel: Literal["employer", "direct"] = Field("employer", description="direct: 任意継続 only")


class ApplicationOut(BaseModel):
    id: int
    qualification_id: int
    person_id: int
    reason: str
    applicant: str
    applied_on: date
    channel: str
    recorded_at: RecordedTime


def _pdf(data: bytes, doc: IssuedDocument, status_code: int = 200, extra: dict | None = None) -> Response:
    return Response(bytes(data), status_code=status_code, media_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{doc.kind}_{doc.id}.pdf"', "Cache-Control": "no-store",
        "X-Document-Id": str(doc.id), **(extra or {})})


# ---------------------------------------------------------------- routes


@router.get("/session", response_model=SessionInfo, summary="Who is signed in, and the CSRF token for POSTs")
def session_info(request: Request, staff: Staff) -> SessionInfo:
    from onshi.auth.sessions import csrf_token

    return SessionInfo(username=staff.user.username, role=staff.user.role, insurer_number=staff.insurer.number,
                       insurer_name=staff.insurer.name, csrf_token=csrf_token(request))


@router.get("/persons/{person_id}", response_model=list[DocumentOut],
            summary="A member's issued documents, newest first")
def person_documents(person_id: DbId, staff: Staff, session: DB) -> list[DocumentOut]:
    _person_in_scope(session, staff, person_id)
    return [DocumentOut.of(d) for d in runs.documents_list(session, person_id, insurer_id=staff.insurer.id,
                                                           **staff.reader)]


@router.post("/persons/{person_id}/certificates", status_code=201, response_class=Response, responses={
    **PDF, 409: {"description": "nothing is due for this qualification on that day; "
                                 "``detail`` says why, in Japanese"},
    422: {"description": "due, but the record cannot be printed (the reasons are listed)"}},
    summary="Issue the 資格確認書 due now for one qualification; the PDF")
def issue_certificate(person_id: DbId, body: IssueIn, staff: Staff, session: DB) -> Response:
    """Issues what the daily run would issue on ``issue_date`` for this qualification (the same rules and the same
    issue keys, so the daily run will not issue it again): 201 and the PDF, with its id in ``X-Document-Id``
    (``X-Document-Ids`` lists every document issued when more than one was due).  ``qualification_id`` may be left
    out when the member has one current qualification here.  Nothing due → 409 whose ``detail`` says why in
    Japanese (already issued, a working マイナ保険証, the issue day not reached …; issue the same document again
    with ``GET /api/v1/documents/{id}/pdf``)."""
    from onshi.documents import counter

    _person_in_scope(session, staff, person_id)
    try:
        qv = counter.member_qualification(session, person_id, staff.insurer.id, body.qualification_id)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(409 if "喪失" in str(exc) else 422, str(exc)) from None
    day = body.issue_date or japan_today()
    docs, report, pdf = runs.issue_due_for(session, qv.qualification_id, day, _out_dir(),
                                           insurer_id=staff.insurer.id, **staff.reader)
    if not docs:
        if report.skipped:
            raise HTTPException(422, report.lines)
        raise HTTPException(409, service.why_nothing_due(session, qv, day))
    first = docs[0]
    return _pdf(pdf, first, 201,
                {"X-Document-Ids": ",".join(str(d.id) for d in docs), "Location": f"/api/v1/documents/{first.id}"})


@router.get("/returns", response_model=list[DocumentOut],
            summary="Certificates due back (返納) and not returned yet, oldest first")
def returns(staff: Staff, session: DB) -> list[DocumentOut]:
    return [DocumentOut.of(d) for d in runs.returns_list(session, insurer_id=staff.insurer.id, **staff.reader)]


@router.post("/applications", status_code=201, response_model=ApplicationOut,
             summary="Record an application for a 資格確認書 (紛失・更新中・要配慮者 …)")
def application(body: ApplicationIn, staff: Staff, session: DB) -> ApplicationOut:
    """Idempotent per qualification, reason and day (the same application twice is one).  The certificate is due
    from the next business day after ``applied_on`` (daily run, or ``POST …/persons/{id}/certificates``)."""
    qv = _qualification_in_scope(session, staff, body.qualification_id)
    try:
        app = service.apply_for_certificate(session, qualification_id=qv.qualification_id, applied_on=body.applied_on,
                                            reason=body.reason, applicant=body.applicant, channel=body.channel)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    staff.audit(session, "certificate.application", qv.person_id, f"application={app.id}")
    return _application_out(app, qv.person_id)


def _application_out(app: CertificateApplication, person_id: int) -> ApplicationOut:
    return ApplicationOut(id=app.id, qualification_id=app.qualification_id, person_id=person_id, reason=app.reason,
                          applicant=app.applicant, applied_on=app.applied_on, channel=app.channel,
                          recorded_at=app.recorded_at or utcnow())


@router.post("/daily-runs", response_model=RunOut, summary="Run the daily 資格確認書 run for a day (supervisor)")
def daily_run(body: DailyRunIn, staff: Supervisor, session: DB) -> RunOut:
    """``onshi documents run --date D --insurer N`` for the supervisor's insurer: everything due on or before the
    day, nothing twice (running it again issues nothing new)."""
    if body.insurer_number is not None and body.insurer_number != staff.insurer.number:
        raise HTTPException(403, "a supervisor runs the documents of their own insurer only")
    report = service.daily_run(session, body.date, _out_dir(), actor=staff.actor, insurer=staff.insurer.number)
    audit.record_read(session, actor_kind="user", actor_id=staff.user.username, action="documents.daily_run",
                      subject_kind="document_run", subject_id=report.run_id,
                      detail=f"date={body.date} issued={report.issued}", insurer_number=staff.insurer.number)
    return RunOut(run_id=report.run_id, issued=report.issued, skipped=report.skipped, files=len(report.files),
                  lines=report.lines)


# -- mailing runs: in the background, one per insurer and name at a time (documents/runs.py, shared with the page)

@router.post("/mailing-runs", status_code=202, response_model=MailingOut,
             summary="Start (or resume) a mailing run of 資格情報のお知らせ (supervisor)")
def start_mailing(body: MailingIn, request: Request, staff: Supervisor, session: DB) -> MailingOut:
    """``onshi documents mail`` for the supervisor's insurer, in the background: one bundle per employer, a
    manifest, resumable — starting a run of the same name again produces only what is missing.  202 and where to
    poll; 409 while a run of that name is going (started here or from the back-office page)."""
    from onshi.documents.mailing_view import clean_run_name

    if clean_run_name(body.run_name)[1] or body.run_name.strip(".") == "":
        raise HTTPException(422, clean_run_name(body.run_name)[1] or f"送付回の名前「{body.run_name}」は使えません")
    try:
        progress = runs.start_mailing(session, request.app.state.session_factory, insurer_id=staff.insurer.id,
                                      insurer_number=staff.insurer.number, run_name=body.run_name,
                                      issue=body.issue_date or japan_today(), since=body.since, out_dir=_out_dir(),
                                      actor=staff.actor)
    except runs.RunAlreadyRunning:
        raise HTTPException(409, f"mailing run {body.run_name} is running") from None
    return MailingOut(run_name=body.run_name, state="running", total=progress.total, done=0, documents=0,
                      finished_at=None, files=0, status=f"/api/v1/documents/mailing-runs/{body.run_name}")


def _message(progress: runs.RunProgress | None) -> str:
    if progress is None or progress.state == "running":
        return ""
    return progress.error if progress.state == "failed" else \
        f"{progress.issued} issued, {progress.skipped} already issued"


@router.get("/mailing-runs/{run_name}", response_model=MailingOut, summary="A mailing run's progress and record")
def mailing_status(run_name: str, staff: Staff, session: DB) -> MailingOut:
    progress = runs.progress_of(staff.insurer.id, run_name)
    # a snapshot taken after the progress: on SQLite the request's read began with the sign-in lookup, and a run
    # that finished in between read "done" with the record it had at its start (0 documents)
    session.commit()
    run = runs.run_record(session, staff.insurer.number, run_name)
    if progress is None and run is None:
        raise HTTPException(404, f"no mailing run {run_name} of this insurer")
    return MailingOut(run_name=run_name, state=progress.state if progress else "recorded",
                      total=progress.total if progress else None,
                      done=progress.done if progress else runs.members_done(session, run),
                      documents=run.documents if run else 0, finished_at=run.finished_at if run else None,
                      files=len(run.files or []) if run else 0, message=_message(progress),
                      status=f"/api/v1/documents/mailing-runs/{run_name}")


# -- one document (after the fixed paths, so that /returns and /session are not read as ids)

@router.get("/{document_id}", response_model=DocumentOut, summary="One issued document's record")
def document(document_id: DbId, staff: Staff, session: DB) -> DocumentOut:
    doc = runs.document_for(session, document_id, insurer_id=staff.insurer.id, **staff.reader)
    if doc is None:
        raise HTTPException(404, "no such document of this insurer")
    return DocumentOut.of(doc)


@router.get("/{document_id}/pdf", response_class=Response, responses={
    **PDF, 409: {"description": "the layout changed since: the reprint would differ"}},
    summary="Reprint: the same PDF, byte for byte")
def reprint(document_id: DbId, staff: Staff, session: DB) -> Response:
    try:
        printed = runs.reprint_for(session, document_id, insurer_id=staff.insurer.id, **staff.reader)
    except RuntimeError as exc:
        raise HTTPException(409, str(exc)) from None
    if printed is None:
        raise HTTPException(404, "no such document of this insurer")
    return _pdf(printed[1], printed[0])


@router.post("/{document_id}/return", response_model=DocumentOut, summary="Record a returned certificate (返納)")
def record_return(document_id: DbId, body: ReturnIn, staff: Staff, session: DB) -> DocumentOut:
    doc = _document_in_scope(session, staff, document_id)
    try:
        service.record_return(session, doc.id, body.returned_on)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    staff.audit(session, "document.return", doc.person_id, f"document={doc.id}")
    return DocumentOut.of(doc)


# ---------------------------------------------------------------- the national lists (docs/national-lists.md)
# their own routers, included before ``router``: its ``/{document_id}`` would otherwise take ``/national-lists``

lists = APIRouter(prefix="/api/v1/documents/national-lists", tags=["documents"])
list_pages = APIRouter(include_in_schema=False)
_office = require("clerk", "supervisor")


def _list_report_json(report) -> dict:
    return {"file_id": report.file_id, "kind": report.kind, "month": f"{report.month:%Y-%m}",
            "encoding": report.encoding, "already_imported": report.already_imported, "rows": report.rows_total,
            "added": [a.__dict__ for a in report.added], "already": report.already,
            "unmatched": [p.__dict__ for p in report.unmatched], "rejected": [p.__dict__ for p in report.rejected]}


@lists.post("", status_code=201, summary="Import a national list (職権交付対象者リスト or the cannot-use list)")
async def import_national_list(staff: Staff, session: DB, request: Request) -> dict:
    """Multipart: ``file`` (CSV), ``kind`` (``ex_officio`` | ``cannot_use``), ``month`` (2026-12, R8.12 …).  The
    staff's insurer's rows only (another insurer's row is a problem of its own).  A file that cannot be read → 422
    and nothing imported; the same file again → ``already_imported`` and nothing changed."""
    from onshi.documents.national_lists import NationalListError, import_list

    form = await request.form()
    upload = form.get("file")
    if upload is None or not hasattr(upload, "read"):
        raise HTTPException(422, "file: CSV ファイルを添付してください")
    data = await upload.read(20 * 1024 * 1024 + 1)
    if len(data) > 20 * 1024 * 1024:
        raise HTTPException(413, "the list is larger than 20 MB")
    try:
        report = import_list(session, data, kind=str(form.get("kind") or "ex_officio"),
                             month=str(form.get("month") or ""), filename=getattr(upload, "filename", "") or "list.csv",
                             actor=staff.actor, insurer_number=staff.insurer.number)
    except NationalListError as exc:
        raise HTTPException(422, f"{exc} — 何も取り込んでいません") from None
    return _list_report_json(report)


@lists.get("", summary="The national lists imported (counts only)")
def national_lists_history(staff: Staff, session: DB) -> list[dict]:
    from onshi.documents.national_lists import imports

    return [{"file_id": f.id, "kind": f.kind, "month": f"{f.month:%Y-%m}", "filename": f.filename,
             "imported_at": f.imported_at.isoformat(), "rows": f.rows_total, "added": f.added, "already": f.already,
             "unmatched": f.unmatched, "rejected": f.rejected} for f in imports(session, insurer_id=staff.insurer.id)]


@lists.get("/{file_id}", summary="One import's report: who was added and why, rows that match nobody")
def national_list_report(file_id: DbId, staff: Staff, session: DB) -> dict:
    from onshi.documents.national_lists import REASONS, import_report

    got = import_report(session, file_id, insurer_id=staff.insurer.id, **staff.reader)
    if got is None:
        raise HTTPException(404, "no such list of this insurer")
    f, entries = got
    return {"file_id": f.id, "kind": f.kind, "month": f"{f.month:%Y-%m}", "rows": f.rows_total,
            "added": [{"row": e.row, "qualification_id": e.qualification_id, "reason": e.reason,
                       "reason_label": REASONS.get(e.reason, "")} for e in entries],
            "problems": f.problems}


@list_pages.get("/office/national-lists")
def national_lists_page(request: Request, session: DB, user=Depends(_office)):  # noqa: B008
    from onshi.documents.national_lists import KINDS, REASONS, imports
    from onshi.web.pages.common import render

    return render(request, "office/national_lists.html", {
        "history": imports(session, insurer_id=user.insurer_id), "kinds": KINDS, "reasons": REASONS,
        "month": f"{japan_today():%Y-%m}"}, session=session)


@list_pages.post("/office/national-lists")
async def national_lists_upload(request: Request, session: DB, user=Depends(_office)):  # noqa: B008
    from onshi.auth import users
    from onshi.documents.national_lists import KINDS, REASONS, NationalListError, import_list, imports
    from onshi.web.pages.common import render

    form = await request.form()
    upload, kind, month = form.get("file"), str(form.get("kind") or "ex_officio"), str(form.get("month") or "")
    report, error = None, None
    insurer = registry.get_insurer(session, id=user.insurer_id)
    if upload is None or not hasattr(upload, "read"):
        error = "CSV ファイルを選んでください"
    else:
        try:
            report = import_list(session, await upload.read(20 * 1024 * 1024), kind=kind, month=month,
                                 filename=upload.filename or "list.csv", actor=users.actor(user),
                                 insurer_number=insurer.number if insurer else None)
        except NationalListError as exc:
            error = f"{upload.filename}: {exc} — 何も取り込んでいません"
    return render(request, "office/national_lists.html", {
        "history": imports(session, insurer_id=user.insurer_id), "kinds": KINDS, "reasons": REASONS,
        "month": month, "kind": kind, "report": report, "errors": [error] if error else None},
        session=session, status_code=422 if error else 200)
