"""What an operator and a load balancer ask a server: ``/readyz``, ``/metrics`` and the request log.

``/healthz`` (alive) is in :mod:`onshi.web.app`.  ``/readyz`` answers 200 when this server can serve — the
database answers, its schema is at the migrations' head, and the broker (``ONSHI_BROKER_URL``) and the read
replica (``ONSHI_READ_DATABASE_URL``) answer when configured — else 503 with the check that failed.
``/metrics`` is Prometheus text: the counters of every worker of this server (:mod:`onshi.ops.metrics`) and the
figures of the shared database and of the task queue, read at scrape time (``onshi_task_queue_depth`` from the
broker, ``onshi_task_failures`` and ``onshi_batch_runs`` from the tasks' records — docs/batch.md).  The request log writes one line per request (JSON with
``ONSHI_LOG_FORMAT=json``): request id (``X-Request-ID`` or a new one, echoed in the answer), route template,
method, status, latency — never a path, a query or a body.  docs/deploy.md.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import text

from onshi.config import get_settings
from onshi.ops.logs import ACCESS_LOGGER, install_json_logging
from onshi.ops.metrics import HTTP_LATENCY, HTTP_REQUESTS, labelled, registry_for_scrape
from onshi.store.clock import utcnow
from onshi.store.db import unit_of_work
from onshi.verify.receipts import random_bytes

access_log = logging.getLogger(ACCESS_LOGGER)
log = logging.getLogger(__name__)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id(headers) -> str:
    """The request's id: the client's ``X-Request-ID`` when it is a plain token, else a new one."""
    for name, value in headers:
        if name == b"x-request-id":
            v = value.decode("latin-1")
            if _REQUEST_ID.match(v):  # a client's id is echoed only if it is a plain token
                return v
            break
    return random_bytes(16).hex()  # as uuid4().hex, 128 random bits, without a getrandom call per request


def observe(template: str, method: str, status: int, elapsed: float, rid: str) -> None:
    """Count and time one request by its route template, and write its line in the request log."""
    labelled(HTTP_REQUESTS, template, method, str(status)).inc()
    labelled(HTTP_LATENCY, template, method).observe(elapsed)
    if access_log.isEnabledFor(logging.INFO):
        access_log.info("request", extra={"fields": {
            "request_id": rid, "route": template, "method": method, "status": status,
            "latency_ms": round(elapsed * 1000, 3)}})


class RequestMetrics:
    """Pure ASGI middleware: counts and times each request by its route template, and logs it
    (:func:`observe`; the verification lane, :mod:`onshi.web.verification_lane`, does the same for the requests it answers)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        rid = request_id(scope.get("headers", ()))
        status = 500

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = list(message.get("headers", ())) + [(b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            observe(getattr(route, "path", None) or "(unmatched)", scope.get("method", ""), status,
                    time.perf_counter() - start, rid)


def _reason(exc: BaseException) -> str:
    """An error in one line, without the URL (which may hold a password)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"[:300]


def migration_head() -> str | None:
    from alembic.script import ScriptDirectory

    from onshi.store.migrate import alembic_config

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def amqp_reachable(url: str, timeout: float = 2.0) -> None:
    """Open a TCP connection to the broker and speak AMQP 0-9-1's greeting; a broker answers with a
    ``Connection.Start`` method frame (type 1, class 10, method 10).  Raises when it does not."""
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or (5671 if parts.scheme == "amqps" else 5672)
    if parts.scheme == "amqps":
        raise ValueError("amqps: the TLS handshake is not checked here; use amqp:// inside the deployment's network")
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(b"AMQP\x00\x00\x09\x01")
        head = b""
        while len(head) < 11:
            chunk = sock.recv(11 - len(head))
            if not chunk:
                raise ConnectionError(f"{host}:{port} closed the connection without an AMQP greeting")
            head += chunk
        if head[0] != 1 or head[7:11] != b"\x00\x0a\x00\x0a":
            raise ConnectionError(f"{host}:{port} did not answer as an AMQP 0-9-1 broker")


def replica_lag_seconds(engine) -> float:
    """How far the replica's replay is behind: 0 when it has replayed all it received, else the age of the last
    transaction it replayed — or, when it has replayed none since it started (PostgreSQL then has no such time), the
    time since it started: a replica whose replay stalled before its first transaction is at least that far behind,
    and read as 0 it had stayed "ready" with WAL waiting.  Raises if the database is not a standby."""
    with engine.connect() as c:
        standby, lag = c.execute(text(
            "SELECT pg_is_in_recovery(), CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
            "ELSE extract(epoch FROM now() - coalesce(pg_last_xact_replay_timestamp(), pg_postmaster_start_time())) "
            "END")).one()
    if not standby:
        raise ValueError("ONSHI_READ_DATABASE_URL is not a standby (pg_is_in_recovery() is false)")
    return float(lag or 0.0)


class DatabaseFigures:
    """A collector read at scrape time: the shared database's figures, the same whichever server is asked."""

    def __init__(self, app: FastAPI):
        self.app = app

    def collect(self):
        from onshi.exchange.publish import leader_present, outbox_state
        from onshi.exchange.sla import overdue_pending

        up = GaugeMetricFamily("onshi_database_up", "1 when the scrape could read the database")
        try:
            with unit_of_work(factory=self.app.state.session_factory) as s:
                backlog, oldest = outbox_state(s)
                overdue = overdue_pending(s)
                leader = leader_present(s)
        except Exception as exc:  # noqa: BLE001 - a scrape reports the database down, it does not fail
            log.warning("metrics: database unreadable (%s)", _reason(exc))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _task_figures(self.app)
        yield GaugeMetricFamily("onshi_outbox_backlog", "Registry changes waiting to be published", value=backlog)
        lag = (utcnow() - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily("onshi_outbox_lag_seconds",
                                "Age of the oldest change waiting to be published (0: none waits)", value=lag)
        yield GaugeMetricFamily("onshi_sla_overdue_records",
                                "Changes still unpublished past their 5-day registration deadline", value=overdue)
        if leader is not None:
            yield GaugeMetricFamily("onshi_publisher_leader_present",
                                    "1 when a publisher process holds the lead (PostgreSQL)", value=int(leader))
        read = getattr(self.app.state, "read_engine", None)
        if read is not None:
            g = GaugeMetricFamily("onshi_replica_lag_seconds", "Replay lag of the read replica")
            try:
                g.add_metric([], replica_lag_seconds(read))
                yield g
            except Exception as exc:  # noqa: BLE001 - shown in /readyz; here the figure is left out
                log.warning("metrics: replica unreadable (%s)", _reason(exc))


def _task_figures(app: FastAPI):
    """The batch tasks' failures (from the database: ``batch_units`` and ``mailing_bundles`` failed now) and runs by
    state; the queue's depth and consumers read from the broker (a passive declare) when one is configured."""
    from sqlalchemy import func, select

    from onshi.documents.models import MailingBundle
    from onshi.store import batch

    try:
        with unit_of_work(factory=app.state.session_factory) as s:
            failures = batch.failure_counts(s)
            failures["mailing"] = failures.get("mailing", 0) + int(s.scalar(
                select(func.count()).select_from(MailingBundle).where(MailingBundle.state == "failed")) or 0)
            states = batch.run_states(s)
    except Exception as exc:  # noqa: BLE001 - a database without the tables yet: the figures are left out
        log.warning("metrics: task records unreadable (%s)", _reason(exc))
        return
    f = GaugeMetricFamily("onshi_task_failures", "Batch task units failed now (their run reports who and why; "
                                                  "starting the run again retries them), by kind", labels=["kind"])
    for kind in ("mailing", "daily", "linkage", "export"):
        f.add_metric([kind], failures.get(kind, 0))
    for kind, n in sorted(failures.items()):
        if kind not in ("mailing", "daily", "linkage", "export"):
            f.add_metric([kind], n)
    yield f
    r = GaugeMetricFamily("onshi_batch_runs", "Batch runs by kind and state (failed: stopped, e.g. broker lost; "
                                              "resumable)", labels=["kind", "state"])
    for (kind, state), n in sorted(states.items()):
        r.add_metric([kind, state], n)
    yield r
    settings = get_settings()
    if not settings.broker_url:
        return
    from onshi.store.tasks import queue_depth

    broker = GaugeMetricFamily("onshi_broker_up", "1 when the scrape could read the task queue from the broker")
    try:
        messages, consumers = queue_depth(settings.broker_url, settings.task_queue, timeout=1.0)
    except Exception as exc:  # noqa: BLE001 - the broker down is a figure, not a failed scrape
        log.warning("metrics: broker unreadable (%s)", _reason(exc))
        broker.add_metric([], 0)
        yield broker
        return
    broker.add_metric([], 1)
    yield broker
    d = GaugeMetricFamily("onshi_task_queue_depth", "Batch tasks waiting on the queue (ready, not yet taken by a "
                                                    "worker)", labels=["queue"])
    d.add_metric([settings.task_queue], messages)
    yield d
    c = GaugeMetricFamily("onshi_task_queue_consumers", "Workers consuming the queue", labels=["queue"])
    c.add_metric([settings.task_queue], consumers)
    yield c


def install(app: FastAPI) -> None:
    """Add the request metrics and log (outermost middleware), ``/readyz`` and ``/metrics``."""
    settings = get_settings()
    if settings.log_format == "json":
        install_json_logging()
    head = migration_head()
    figures = DatabaseFigures(app)

    @app.get("/readyz", tags=["ops"], include_in_schema=False)
    def readyz():
        checks: dict[str, dict] = {}
        try:
            with app.state.engine.connect() as c:
                c.execute(text("SELECT 1"))
                checks["database"] = {"ok": True}
                try:
                    current = c.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
                except Exception:  # noqa: BLE001 - no table: never migrated
                    current = []
                ok = current == [head]
                checks["migrations"] = {"ok": ok, "current": current[0] if current else None, "head": head}
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            checks["database"] = {"ok": False, "error": _reason(exc)}
        if settings.broker_url:
            try:
                amqp_reachable(settings.broker_url)
                checks["broker"] = {"ok": True}
            except Exception as exc:  # noqa: BLE001
                checks["broker"] = {"ok": False, "error": _reason(exc)}
        read = getattr(app.state, "read_engine", None)
        if read is not None:
            try:
                lag = replica_lag_seconds(read)
                checks["replica"] = {"ok": lag <= settings.read_max_lag_seconds, "lag_seconds": round(lag, 3),
                                     "max_lag_seconds": settings.read_max_lag_seconds}
            except Exception as exc:  # noqa: BLE001
                checks["replica"] = {"ok": False, "error": _reason(exc)}
        ready = all(c["ok"] for c in checks.values()) and "migrations" in checks
        return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                            status_code=200 if ready else 503)

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    def metrics():
        registry = registry_for_scrape()
        body = generate_latest(registry)
        extra = CollectorRegistry(auto_describe=False)
        extra.register(figures)
        body += generate_latest(extra)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RequestMetrics)
