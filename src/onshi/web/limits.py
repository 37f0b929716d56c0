"""Input bounds and failure answers for every route (docs/hardening.md).

* :data:`DbId`, :data:`QueryId`, :data:`BodyId` — an id as the database can hold it (``1 … 2**63-1``, a
  PostgreSQL ``bigint``); every route declares its ids with one of them, so a number outside the column's range is
  a 422 (or a Japanese error page) instead of "bigint out of range" (tests/web/test_hardening.py walks the route
  table to check it).
* :class:`GuardMiddleware` — pure ASGI, outermost but for the request log/metrics (which read no body): refuses a body above the route's limit *before* reading it
  (``Content-Length``) and while it streams (counted bytes), 413; refuses a POST to a token-protected route that
  carries no known credential, 401, before its body is read; and adds ``Cache-Control: no-store`` to every answer
  except static files.
* :func:`install` — the middleware, the 503 answers for a database outage (JSON, HTML, OQS ``E0901``, each with
  ``Retry-After``), the Japanese page for an invalid input on a screen, and the OpenAPI security schemes.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import Field
from sqlalchemy import exc as sa_exc
from starlette.requests import ClientDisconnect

from onshi.config import get_settings
from onshi.rules.dated import NotInForce

log = logging.getLogger(__name__)

__all__ = ["MAX_ID", "DbId", "QueryId", "BodyId", "ZonedTime", "GuardMiddleware", "install", "body_limit_for",
           "TOKEN_ROUTES", "is_db_outage"]

#: The largest id a column holds (PostgreSQL ``bigint``; SQLite's INTEGER is the same 64 bits).
MAX_ID = 2**63 - 1

DbId = Annotated[int, Path(ge=1, le=MAX_ID, description="an id (1 … 2^63-1)")]
QueryId = Annotated[int, Query(ge=1, le=MAX_ID, description="an id (1 … 2^63-1)")]
BodyId = Annotated[int, Field(ge=1, le=MAX_ID, description="an id (1 … 2^63-1)")]

#: Routes a clinic's system calls with an institution token (POST bodies are refused unread without one).
TOKEN_ROUTES = ("/api/v1/verifications/", "/api/v1/reference-numbers", "/api/v1/eligibility-claims",
                "/api/v1/claim-rerouting", "/oqs/", "/fhir/", "/myclinic/")
# Not /oqs-api-pro/: the national path signs in with a password in the body and then sends an idToken, neither an
# institution token; its routes refuse for themselves, in the national answer shape (the body limit still holds).
#: Where an answer may be cached: the server's own static files and font, and the analytics dashboard's charts
#: (drawn from the usage aggregate: rates per month, prefecture and facility type, no person; the route says
#: ``private, max-age=60``, so a reload of the dashboard within the minute does not draw them again).  No personal
#: data under these prefixes; everything else is ``no-store``.
CACHEABLE = ("/static/", "/assets/", "/analytics/chart/")
#: Upload screens, whose bodies are whole files (資格取得届 CSV, a bulk reception list).
UPLOAD_ROUTES = ("/office/intake", "/reception/bulk")


def body_limit_for(path: str) -> int:
    """The most bytes a request body to *path* may have (settings ``max_body_bytes`` / ``max_upload_bytes``)."""
    settings = get_settings()
    if path.startswith(UPLOAD_ROUTES):
        return settings.max_upload_bytes
    return settings.max_body_bytes


def _token(headers: dict[bytes, bytes]) -> str | None:
    auth = headers.get(b"authorization", b"").decode("latin-1").strip()
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None
    for name in (b"x-onshi-token", b"x-onshi-view-secret"):
        if headers.get(name):
            return headers[name].decode("latin-1").strip() or None
    return auth or None  # the national form (/oqs-api-pro/) sends the bare token; the route decides


class BodyTooLarge(Exception):
    pass


def _json(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"detail": detail}, status_code=status, headers={"Cache-Control": "no-store", **(headers or {})})


def _unauthorized(path: str) -> Response:
    """The early 401, in the shape the route itself would have answered: an OperationOutcome on /fhir."""
    headers = {"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"}
    if path.startswith("/fhir/"):
        from onshi.interop.fhir.errors import fhir_response, operation_outcome

        return fhir_response(operation_outcome([("login", "認証が必要です: Authorization: Bearer <医療機関のトークン> "
                                                          "(authentication required)", None)]), 401, headers)
    return _json(401, "authentication required", headers)


class GuardMiddleware:
    """Body limits, the early 401 and ``Cache-Control: no-store`` (see the module docstring)."""

    def __init__(self, app, engine=None):
        self.app, self.engine = app, engine

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path: str = scope["path"]
        headers = dict(scope.get("headers") or ())
        limit = body_limit_for(path)
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                return await _json(400, "invalid Content-Length")(scope, receive, send)
            if too_big:
                return await self._too_large(scope, receive, send, limit)
        if scope["method"] == "POST" and path.startswith(TOKEN_ROUTES) and not await self._known(scope, headers):
            return await _unauthorized(path)(scope, receive, send)

        received = 0
        started = False

        async def counted_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        async def guarded_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if not path.startswith(CACHEABLE):
                    raw = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                    raw.append((b"cache-control", b"no-store"))
                    message = {**message, "headers": raw}
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            if started:
                raise
            await self._too_large(scope, receive, send, limit)

    async def _too_large(self, scope, receive, send, limit: int):
        response = _json(413, f"request body larger than {limit} bytes", {"Connection": "close"})
        await response(scope, receive, send)

    async def _known(self, scope, headers) -> bool:
        """A credential is present and names a known institution (cache first; a miss reads it once)."""
        from starlette.concurrency import run_in_threadpool

        from onshi.verify.institutions import AuthError, authenticate_cached, institution_cache, token_digest

        token = _token(headers)
        if not token:
            return False
        if institution_cache.get(token_digest(token)) is not None:
            return True
        engine = self.engine or scope["app"].state.engine
        try:
            await run_in_threadpool(authenticate_cached, engine, token)
        except AuthError:
            return False
        except Exception as exc:  # the database is down: let the route answer it (503 / E0901)
            if is_db_outage(exc):
                return True
            raise
        return True


# ---------------------------------------------------------------- database outage → 503

def is_db_outage(exc: BaseException) -> bool:
    """A lost or refused database connection (or an exhausted pool), as opposed to a bug in a statement."""
    if isinstance(exc, sa_exc.DBAPIError):
        return bool(exc.connection_invalidated) or isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError))
    return isinstance(exc, (sa_exc.TimeoutError, sa_exc.DisconnectionError))


def _wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/oqs", "/fhir", "/myclinic")) or path.endswith(".json"):
        return False
    return "text/html" in request.headers.get("accept", "") or not path.startswith("/api")


def _outage_answer(request: Request) -> Response:
    retry = str(get_settings().retry_after_seconds)
    headers = {"Retry-After": retry, "Cache-Control": "no-store"}
    path = request.url.path
    if path.startswith("/oqs/"):
        from onshi.interop.oqs import xmlmsg
        from onshi.interop.oqs.wire import ErrorCode, error
        from onshi.store.db import utcnow

        err = error(ErrorCode.INTERNAL, "ただいま処理できません。しばらくしてから再度照会してください "
                                        "(the service is temporarily unavailable; retry later)")
        if path == "/oqs/json":
            return Response(xmlmsg.render_error_json(err, None, processed_at=utcnow()), status_code=503,
                            media_type="application/json", headers=headers)
        return Response(xmlmsg.render_error(err, None, processed_at=utcnow()), status_code=503,
                        media_type="application/xml; charset=UTF-8", headers=headers)
    if _wants_html(request):
        return HTMLResponse(
            "<!doctype html><html lang='ja'><meta charset='utf-8'><title>一時的に利用できません</title>"
            "<h1>503 — 一時的に利用できません</h1><p>データベースに接続できません。"
            f"{retry}秒ほど待ってから、もう一度お試しください。入力した内容は保存されていません。</p></html>",
            status_code=503, headers=headers)
    return JSONResponse({"detail": "the database is unavailable; retry later"}, status_code=503, headers=headers)


# ---------------------------------------------------------------- screens: invalid input → Japanese page

def _invalid_page(request: Request, exc: RequestValidationError) -> HTMLResponse:
    from html import escape

    where = "、".join(escape(".".join(str(p) for p in e.get("loc", ())[1:]) or "入力") for e in exc.errors()[:5])
    return HTMLResponse(
        "<!doctype html><html lang='ja'><meta charset='utf-8'><title>入力が正しくありません</title>"
        f"<h1>入力が正しくありません</h1><p>次の項目の値が範囲外か形式が違います: {where}。"
        "URL や入力内容を確かめてください。</p><p><a href='/'>トップページへ戻る</a></p></html>",
        status_code=422, headers={"Cache-Control": "no-store"})


_API_PREFIXES = ("/api/", "/oqs", "/fhir", "/myclinic", "/oqs-api-pro")


def _holds_nul(exc: Exception) -> bool:
    """PostgreSQL refused a text holding NUL (0x00), which no field of onshi may hold and SQLite would have taken:
    the statement failed before anything was written (its transaction is rolled back) — the input's fault."""
    return isinstance(exc, sa_exc.DataError) and "NUL (0x00)" in str(getattr(exc, "orig", exc))


def _nul_answer(request: Request) -> Response:
    """422 for a request whose text held NUL (found by the schemathesis run: a 500 before)."""
    if request.url.path.startswith(_API_PREFIXES) or request.url.path.endswith(".json"):
        return JSONResponse({"detail": [{"loc": ["body"], "msg": "text must not contain NUL (0x00) characters",
                                         "type": "nul_character"}]}, status_code=422)
    return HTMLResponse("<!doctype html><html lang='ja'><meta charset='utf-8'><title>入力が正しくありません</title>"
                        "<h1>入力が正しくありません</h1><p>入力に使えない文字 (NUL, 0x00) が含まれています。"
                        "入力した内容は保存されていません。</p><p><a href='/'>トップページへ戻る</a></p></html>",
                        status_code=422, headers={"Cache-Control": "no-store"})


def install(app: FastAPI, engine=None) -> None:
    """Register the middleware (outermost), the outage and invalid-input handlers and the OpenAPI security."""

    async def outage(request: Request, exc: Exception) -> Response:
        if not is_db_outage(exc):
            if _holds_nul(exc):
                return _nul_answer(request)
            raise exc
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return _outage_answer(request)

    for cls in (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DBAPIError, sa_exc.TimeoutError,
                sa_exc.DisconnectionError):
        app.add_exception_handler(cls, outage)

    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith(_API_PREFIXES) or request.url.path.endswith(".json"):
            return await request_validation_exception_handler(request, exc)
        return _invalid_page(request, exc)

    app.add_exception_handler(RequestValidationError, invalid)

    async def not_in_force(request: Request, exc: Exception) -> Response:
        """A day before the first row of a law's dated table (e.g. a run dated 2000-01-01): the input is out of
        the range onshi has rules for — 422, not a 500 (found by the long schemathesis run)."""
        message = str(exc)
        if request.url.path.startswith(_API_PREFIXES) or request.url.path.endswith(".json"):
            return JSONResponse({"detail": f"no rule in force on the day given: {message}"}, status_code=422)
        from html import escape

        return HTMLResponse("<!doctype html><html lang='ja'><meta charset='utf-8'><title>日付が範囲外です</title>"
                            "<h1>日付が範囲外です</h1><p>指定した日付に適用される制度の定めがありません: "
                            f"{escape(message)}</p><p><a href='/'>トップページへ戻る</a></p></html>", status_code=422)

    app.add_exception_handler(NotInForce, not_in_force)

    async def went_away(request: Request, exc: Exception) -> Response:
        """The client went away while a route read its body itself (``await request.body()``): nobody is left to
        answer, and it is not the server's fault — the 400 FastAPI gives a body it could not read (sent to no one,
        counted as such), not a 500 with a traceback in the log."""
        return JSONResponse({"detail": "There was an error parsing the body"}, status_code=400)

    app.add_exception_handler(ClientDisconnect, went_away)
    app.add_middleware(GuardMiddleware, engine=engine)

    from onshi.web import openapi

    openapi.install(app, TOKEN_ROUTES)



def _zoned_time_type():
    from datetime import datetime

    from pydantic import PlainSerializer, WithJsonSchema

    from onshi.store.clock import japan_iso

    return Annotated[datetime, PlainSerializer(japan_iso, return_type=str),
                     WithJsonSchema({"type": "string", "format": "date-time",
                                     "description": "ISO 8601 in Japan time with its offset (+09:00)"})]


#: A recorded time (stored naive UTC) as the API answers it — and as its OpenAPI says: a date-time with a zone.
ZonedTime = _zoned_time_type()
