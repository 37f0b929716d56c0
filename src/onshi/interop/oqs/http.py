"""HTTP routes of the OQS ``XmlMsg`` form (オンライン資格確認の XmlMsg): ``POST /oqs/xml`` and ``POST /oqs/json``.

Parse with :mod:`onshi.interop.oqs.xmlmsg`, authenticate and verify with :mod:`onshi.verify.service`, render
the answer in the request's encoding.  Every failure a clinic can cause is answered ``SegmentOfResult`` 9,
never a 500; only a missing or unknown credential is a 401.  onshi's extension: ``registered_at`` (a query
parameter, or the header ``X-Onshi-Registered-At``) replays the answer as the index was registered at that past
instant (docs/replay.md) — the XmlMsg itself is unchanged.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from onshi.auth.deps import bearer_token
from onshi.interop.oqs import xmlmsg
from onshi.store.clock import from_japan_time, japan_date
from onshi.store.db import utcnow
from onshi.verify import service
from onshi.verify.result import VerificationError

__all__ = ["router", "oqs_answer"]

router = APIRouter()


@router.post("/oqs/xml", tags=["oqs"], summary="OQS XmlMsg request in XML (UTF-8 or Shift_JIS)",
             response_class=Response)
async def oqs_xml(request: Request) -> Response:
    data = await request.body()
    body, media = await request.app.state.run_sync(oqs_answer, request, data, "xml")
    return Response(content=body, media_type=media)


@router.post("/oqs/json", tags=["oqs"], summary="OQS XmlMsg request as JSON", response_class=Response)
async def oqs_json(request: Request) -> Response:
    data = await request.body()
    body, media = await request.app.state.run_sync(oqs_answer, request, data, "json")
    return Response(content=body, media_type=media)


def oqs_answer(request: Request, data: bytes, form: str) -> tuple[bytes, str]:
    """Parse, authenticate, verify, render — every failure becomes SegmentOfResult 9, never a 500."""
    now = utcnow()
    encoding = xmlmsg.detect_encoding(data) if form == "xml" else "utf-8"
    render_err = (lambda e, r: xmlmsg.render_error(e, r, encoding=encoding, processed_at=now)) if form == "xml" \
        else (lambda e, r: xmlmsg.render_error_json(e, r, processed_at=now))
    media = f"application/xml; charset={'Shift_JIS' if encoding != 'utf-8' else 'UTF-8'}" if form == "xml" \
        else "application/json"
    token = bearer_token(request.headers.get("authorization"), request.headers.get("x-onshi-token"))
    session = request.app.state.session_factory()
    try:
        try:
            inst = service.authenticate(session, token)
        except service.AuthError:
            raise HTTPException(status_code=401, detail="authentication required",
                                headers={"WWW-Authenticate": "Bearer"}) from None
        req = None
        try:
            req = xmlmsg.parse_request(data, today=japan_date(now)) if form == "xml" \
                else xmlmsg.parse_request_json(data, today=japan_date(now))
            outcome = service.verify(session, req, inst, now=now, registered_at=replay_instant(request))
            session.commit()
        except VerificationError as exc:
            session.rollback()
            return render_err(exc, req), media
        if form == "xml":
            return xmlmsg.render_result(outcome, req, encoding=encoding, processed_at=now), media
        return xmlmsg.render_result_json(outcome, req, processed_at=now), media
    finally:
        session.close()


def replay_instant(request: Request):
    """onshi's replay extension: ``registered_at`` (query) or ``X-Onshi-Registered-At`` (header), ISO 8601, without
    an offset Japan time; None when absent.  Unreadable: a :class:`VerificationError` naming the field."""
    from datetime import datetime

    text = request.query_params.get("registered_at") or request.headers.get("x-onshi-registered-at")
    if not text:
        return None
    try:
        return from_japan_time(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))
    except ValueError:
        raise VerificationError("E0107", f"登録時点が読めません (registered_at is not an ISO 8601 instant: {text[:40]!r})",
                                "registered_at") from None
