"""The FastAPI application: verification API, OQS endpoints, back office and reception pages."""

from __future__ import annotations

import gc
import inspect
import logging
import os
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from onshi import __version__
from onshi.config import get_settings
from onshi.store.db import default_engine, make_engine, session_factory

log = logging.getLogger(__name__)

DESCRIPTION = """\
onshi answers online eligibility verification (オンライン資格確認) from what insurers registered.

* **REST/JSON** (`/api/v1/…`) for new integrators — authenticate with `Authorization: Bearer <institution token>`.
* **OQS XmlMsg** over HTTP (`/oqs/xml`, `/oqs/json`) in the form clinic software already speaks.
* **FHIR** JP Core `Coverage` bundles (`/fhir/verify`).

Unknown or revoked credentials get 401 and nothing about anyone.  The My Number is never part of any answer.
"""


_frozen = False


def _freeze_startup_objects() -> None:
    """Once per process, at the first startup: what is loaded by then lives as long as the process, so keep it
    out of the cyclic collector — its full collections over it paused a worker for ~100 ms
    (docs/performance.md)."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()


def create_app(engine=None, *, publisher_interval: float | None = None, bench: bool | None = None) -> FastAPI:
    """Build the app.  ``publisher_interval`` > 0 runs the outbox publisher inside the server; ``bench`` (default:
    the ``bench_endpoint`` setting) serves ``/bench/fixed``."""
    from onshi.config import get_settings
    from onshi.web import limits

    engine = engine or default_engine()
    if bench is None:
        bench = get_settings().bench_endpoint
    if publisher_interval is None:
        publisher_interval = float(os.environ.get("ONSHI_PUBLISH_INTERVAL", "0"))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        publisher = None
        if publisher_interval > 0:
            from onshi.exchange.publish import BackgroundPublisher

            publisher = BackgroundPublisher(interval=publisher_interval, engine=engine)
            publisher.start()
        # the version cache's listener (PostgreSQL): repeat checks answered 304 without a read (docs/receipts.md)
        from onshi.verify import version_cache

        listener = version_cache.start(engine)
        _freeze_startup_objects()
        yield
        if listener is not None:
            await listener.stop()
        if publisher:
            publisher.stop()

    # FastAPI's native OpenTelemetry is off: onshi reports through /metrics and its JSON request log
    # (docs/deploy.md); left on, it asks the global OTel providers whether to trace on every request
    off = {"telemetry": {"tracing": False, "metrics": False, "logs": False}} \
        if "telemetry" in inspect.signature(FastAPI).parameters else {}  # older FastAPI has none
    from onshi.web.verification_lane import LaneFirstApp

    app = LaneFirstApp(title="onshi", version=__version__, description=DESCRIPTION, lifespan=lifespan, **off)
    app.state.engine = engine
    read_url = get_settings().read_database_url
    app.state.read_engine = make_engine(read_url) if read_url else None  # verification reads (docs/deploy.md)
    app.state.session_factory = session_factory(engine)
    app.state.run_sync = run_in_threadpool

    if bench:
        @app.get("/bench/fixed", tags=["ops"], include_in_schema=False)
        async def fixed() -> dict:
            """A bare endpoint of the same stack, the benchmark's baseline: async like the verification endpoints,
            and matched as early as they are (routes are tried in order; ~60 page routes cost ~70 µs)."""
            return {"status": "ok", "validity": 1}

    # Every router, named: a route module that fails to import fails here, at start-up (docs/architecture.md).
    # The verification routes first — routes are tried in order, and they are the hot ones.
    from onshi.analytics import views as analytics_views
    from onshi.claims import views as claims_views
    from onshi.benefits import views as benefits_views
    from onshi.documents import views as documents_views
    from onshi.exchange import views as exchange_views
    from onshi.interop.fhir import http as fhir_http
    from onshi.interop.myclinic import http as myclinic_http
    from onshi.interop.oqs import http as oqs_http
    from onshi.outage import views as outage_views
    from onshi.registry import views as registry_views
    from onshi.verify import views as verify_views
    from onshi.web import pages

    for router in (verify_views.router, oqs_http.router, fhir_http.router, registry_views.router,
                   exchange_views.router, documents_views.lists, documents_views.list_pages,
                   documents_views.router, myclinic_http.router):
        app.include_router(router)
    claims_views.install(app)  # claims (レセプト) and the consented clinical information: docs/claims.md
    analytics_views.install(app)
    outage_views.install(app)
    benefits_views.install(app)
    pages.install(app)

    if not any(getattr(r, "path", None) == "/" for r in app.routes):
        from fastapi.responses import HTMLResponse

        @app.get("/", include_in_schema=False, response_class=HTMLResponse)
        def home() -> str:
            return ("<!doctype html><html lang='ja'><meta charset='utf-8'><title>onshi</title>"
                    "<h1>onshi — オンライン資格確認</h1><ul><li><a href='/docs'>API (OpenAPI)</a></li>"
                    "<li><a href='/redoc'>API reference</a></li></ul></html>")

    @app.get("/healthz", tags=["ops"], include_in_schema=False)
    def healthz() -> dict:
        return {"status": "ok", "version": __version__}

    limits.install(app, engine)  # body limits, early 401 and the 503 of an outage, before anything reads a body
    # the verification routes' rate limits, outside the guard: an early 401 counts as a refused credential, and a
    # 429 costs no credential lookup (onshi.auth.throttle; the limits themselves are app.state.rate_limits)
    from onshi.auth.throttle import VerificationRateLimit

    app.add_middleware(VerificationRateLimit)

    # /readyz, /metrics and the request log; the outermost middleware, so it sees every request (docs/deploy.md),
    # the 413/401/503 answered by the limits included — it reads no body itself
    from onshi.web import ops

    ops.install(app)
    # in front of all: the verification-by-numbers route answered in one pure-ASGI pass that does what the chain
    # above does for it (request log and metrics, rate limits, body limit, no-store; anything unusual goes down
    # the chain untouched) — the chain was most of a 304's CPU (onshi.web.verification_lane, docs/performance.md)
    app.install_lane()

    return app
