"""The verification lane: ``POST /api/v1/verifications/numbers`` answered in one pure-ASGI pass.

Every request passes the app's middleware chain — the request log and metrics (:mod:`onshi.web.ops`), the
verification rate limits (:mod:`onshi.auth.throttle`), the body guard (:mod:`onshi.web.limits`), the session
cookie, FastAPI's exception handling, routing and dependencies.  For a verification by numbers that chain was
most of a 304's server CPU (docs/performance.md).  :class:`VerificationLane`, in front of the whole app
(:class:`LaneFirstApp`: before even FastAPI's and Starlette's outermost layers), answers
a well-formed request of that route itself and does, in one place, what each layer would have done:

* request id (``X-Request-ID``, echoed) and the request's count, latency and log line — :func:`onshi.web.ops.observe`
  under the route's template;
* the body limit (``Content-Length`` checked before reading, bytes counted while reading: 413);
* the rate limits of :class:`onshi.auth.throttle.RateLimits` — counted once, before the answer (429), and a 401
  counted as a refused credential;
* authentication from the process's institution cache (a revoked credential is re-read in the lookup's own
  statement, as on the route: 401);
* the answer of :func:`onshi.verify.views.answer` (the same hot path, usage-log and audit rows committed before
  the answer is sent; a 304 through :mod:`onshi.verify.etag_fast`) rendered by
  :func:`onshi.verify.views.verification_response`'s rules, with ``Cache-Control: no-store``;
* an error raised by the answer handled by the app's own exception handlers (a 422/403, a database outage's
  503, …) as FastAPI's exception middleware would.

Anything else goes down the ordinary chain untouched, having consumed nothing and counted nothing: another
route or method, a body without ``Content-Length`` or over the limit, another content type, no credential or one
not in the cache (the route authenticates it and fills the cache), a session cookie (the session middleware
would refresh it), a body that does not parse or validate (its body is handed on as read: FastAPI answers the
422 as before).  tests/verify/test_lane.py holds the lane to the chain's answers.
"""

from __future__ import annotations

import json
import time

from fastapi import FastAPI

from onshi.auth.throttle import COUNTED, client_address, too_many
from onshi.auth.throttle import bearer_token
from onshi.verify import service

__all__ = ["PATH", "LaneFirstApp", "VerificationLane"]

PATH = "/api/v1/verifications/numbers"
_OPTIONAL = (b"authorization", b"x-onshi-token", b"content-type", b"content-length", b"cookie",
             b"if-none-match")


class LaneFirstApp(FastAPI):
    """The app, whose :class:`VerificationLane` (``lane``, installed by :meth:`install_lane`) sees each HTTP
    request before FastAPI's and Starlette's own outer layers — ``FastAPI.__call__``, ``Starlette.__call__``,
    ``ServerErrorMiddleware``, FastAPI's exception-telemetry and app body-limit middleware: six nested calls and
    two ``send`` wrappers that did nothing for a request the lane answers, about 25 µs of an answer (py-spy; a
    304 costs about 500 µs of CPU in all, docs/performance.md).  Anything the lane does not answer goes through
    all of them as before.  An error the lane cannot hand to the app's exception handlers reaches the server,
    which answers 500 as ``ServerErrorMiddleware`` would (no handler for ``Exception`` is registered)."""

    lane: "VerificationLane | None" = None

    async def __call__(self, scope, receive, send):
        lane = self.lane
        if lane is not None and scope["type"] == "http":
            scope["app"] = self  # what Starlette sets: the lane reads the app's state and exception handlers
            return await lane(scope, receive, send)
        return await super().__call__(scope, receive, send)

    def install_lane(self) -> "VerificationLane":
        """Put the lane in front; what it does not answer goes to the whole app as FastAPI serves it."""
        self.lane = VerificationLane(super().__call__)
        return self.lane


class VerificationLane:
    """Pure ASGI middleware in front of the app (:class:`LaneFirstApp`): the verification-by-numbers route in one
    pass (module docstring)."""

    def __init__(self, app):
        self.app = app
        self.answered = 0  # requests this lane answered itself (tests/verify/test_lane.py)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        taken = self._take(scope)
        if taken is None:
            return await self.app(scope, receive, send)
        inst, length, limit, if_none_match = taken
        return await self._answer(scope, receive, send, inst, length, limit, if_none_match)

    @staticmethod
    def _take(scope):
        """``(institution, content length, limit, If-None-Match)`` when the lane answers this request, else None."""
        from onshi.verify.institutions import institution_cache, token_digest
        from onshi.web.limits import body_limit_for

        h = {}
        for name, value in scope["headers"]:
            if name in _OPTIONAL:
                if name in h:
                    return None  # a repeated header: the chain decides what it means
                h[name] = value
        if b"cookie" in h or not h.get(b"content-type", b"").startswith(b"application/json"):
            return None
        try:
            length = int(h[b"content-length"])
        except (KeyError, ValueError):
            return None
        limit = body_limit_for(PATH)
        if length > limit or length < 0:
            return None
        auth = h.get(b"authorization")
        if auth is not None and auth[:7].lower() == b"bearer ":
            token = auth[7:].decode("latin-1").strip()
        else:
            token = h[b"x-onshi-token"].decode("latin-1") if b"x-onshi-token" in h else None
        if not token:
            return None
        inst = institution_cache.get(token_digest(token))
        if inst is None:
            return None
        inm = h.get(b"if-none-match")
        return inst, length, limit, inm.decode("latin-1") if inm is not None else None

    async def _answer(self, scope, receive, send, inst, length: int, limit: int, if_none_match: str | None):
        from onshi.web import ops

        start = time.perf_counter()
        rid = ops.request_id(scope["headers"])
        status = 500
        try:
            # the rate limits first, as in the chain (a 429 reads no body); counted once: should the request go
            # down the chain after all, VerificationRateLimit is told it was counted (COUNTED)
            limits = getattr(scope["app"].state, "rate_limits", None)
            if limits is not None and limits.enabled:
                refusal = limits.verification(client_address(scope), bearer_token(scope))
                if refusal is not None:
                    status = 429
                    return await _too_many(send, refusal, rid)
            body, more = bytearray(), True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away: nothing answered or written; counted as 500, as the chain does
                body += message.get("body", b"")
                more = message.get("more_body", False)
                if len(body) > limit:
                    status = 413
                    return await _send_json(send, 413, f"request body larger than {limit} bytes", rid,
                                            [(b"connection", b"close")])
            body = bytes(body)
            query = _parse(body)
            if query is None:  # FastAPI answers it (its 422) with the body as read
                status = None
                scope[COUNTED] = True
                return await self.app(scope, _replay(body, receive), send)
            status = await self._verify(scope, send, inst, query, if_none_match, rid)
        finally:
            if status is not None:
                self.answered += 1
                ops.observe(PATH, "POST", status, time.perf_counter() - start, rid)

    async def _verify(self, scope, send, inst, query, if_none_match, rid) -> int:
        from onshi.verify import views

        app = scope["app"]
        limits = getattr(app.state, "rate_limits", None)
        address = client_address(scope)
        try:
            try:
                outcome = await views.answer(app, query.to_request(inst.code), inst, query.registered_at,
                                             if_none_match=if_none_match)
            except service.VerificationError as exc:
                raise views.unprocessable(exc) from None
        except Exception as exc:  # noqa: BLE001 - the app's own handlers answer it, as FastAPI's would
            response = await _handled(scope, exc)
            if response is None:
                raise
            if response.status_code == 401 and limits is not None:
                limits.refused_credential(address)
            await _send_response(send, response, rid)
            return response.status_code
        headers = [(b"cache-control", b"no-store")]
        if outcome.etag:
            headers.append((b"etag", outcome.etag.encode("latin-1")))
        headers.append((b"x-request-id", rid.encode()))
        if outcome.not_modified:  # no body: the receipt in its header (a 200 has it in the JSON only)
            if outcome.receipt:
                headers.append((b"onshi-receipt", outcome.receipt.encode("latin-1")))
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return 304
        content = views.json_bytes(views.outcome_json(outcome))
        headers += [(b"content-length", str(len(content)).encode()), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": content})
        return 200


def _parse(body: bytes):
    """The request body as the route's model, or None when it does not parse or validate."""
    from onshi.verify.views import NumbersQuery

    try:
        return NumbersQuery.model_validate(json.loads(body))  # as FastAPI: json.loads, python mode
    except Exception:  # noqa: BLE001 - not JSON, not valid, too deeply nested (RecursionError): FastAPI answers it
        return None


def _replay(body: bytes, receive):
    """A ``receive`` that gives the body already read, then whatever the connection says next."""
    sent = False

    async def replay():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _handled(scope, exc: Exception):
    """The response of the app's exception handler for *exc*, chosen as Starlette's ExceptionMiddleware chooses
    (an HTTPException's status code first, then the class's MRO), or None if it has none."""
    import inspect

    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
    from starlette.requests import Request

    handlers = scope["app"].exception_handlers
    handler = handlers.get(exc.status_code) if isinstance(exc, HTTPException) else None
    for cls in type(exc).__mro__:
        if handler is not None or cls in (Exception, BaseException):  # those two are ServerErrorMiddleware's
            break
        handler = handlers.get(cls)
    if handler is None:
        return None
    if inspect.iscoroutinefunction(handler):
        return await handler(Request(scope), exc)
    return await run_in_threadpool(handler, Request(scope), exc)


async def _send_response(send, response, rid: str) -> None:
    headers = [(k, v) for k, v in response.raw_headers if k != b"cache-control"]
    headers += [(b"cache-control", b"no-store"), (b"x-request-id", rid.encode())]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def _too_many(send, refusal, rid: str) -> None:
    """The 429 of :class:`onshi.auth.throttle.VerificationRateLimit` (with the request id and ``no-store``)."""
    body = f'{{"detail":"too many requests ({refusal.what}); retry after {refusal.retry_after} s"}}'.encode()
    start, content = too_many(refusal, body)
    start["headers"] += [(b"cache-control", b"no-store"), (b"x-request-id", rid.encode())]
    await send(start)
    await send(content)


async def _send_json(send, status: int, detail: str, rid: str, extra: list) -> None:
    content = json.dumps({"detail": detail}, ensure_ascii=False, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-length", str(len(content)).encode()), (b"content-type", b"application/json"),
        (b"cache-control", b"no-store"), *extra, (b"x-request-id", rid.encode())]})
    await send({"type": "http.response.body", "body": content})
