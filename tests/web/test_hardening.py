"""Issue 18, points 1 and 6: ids bounded to their column, body limits before reading, the early 401, no-store,
/bench/fixed only when benchmarking, an OpenAPI with its security and true types."""

from __future__ import annotations

import asyncio
import re
import threading
import typing

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel

from onshi.web.limits import MAX_ID
from tests.web.test_auth import csrf, login

ID_NAME = re.compile(r"(^|_)(id|qid)$")
ID_IN_LIST = re.compile(r"(^|_)ids$")
OUT_OF_RANGE = [2**63, 2**64, 10**30, 0, -1]


def _bounds(field_info) -> tuple[int | None, int | None]:
    lo = hi = None
    for m in getattr(field_info, "metadata", ()):
        lo = getattr(m, "ge", None) if getattr(m, "ge", None) is not None else lo
        lo = getattr(m, "gt", None) + 1 if getattr(m, "gt", None) is not None else lo
        hi = getattr(m, "le", None) if getattr(m, "le", None) is not None else hi
        hi = getattr(m, "lt", None) - 1 if getattr(m, "lt", None) is not None else hi
    return lo, hi


class _Element:
    """The bounds of a list's element (``list[BodyId]``), in the shape :func:`_bounds` reads."""

    def __init__(self, annotation):
        self.metadata = [m for a in typing.get_args(annotation)[1:] for m in getattr(a, "metadata", [a])]


def _id_list(annotation):
    """The element type of ``list[int]`` / ``list[int] | None`` (annotated or not), else None."""
    for a in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(a) is list:
            (element,) = typing.get_args(a)
            base = typing.get_args(element)[0] if typing.get_origin(element) is typing.Annotated else element
            if base is int:
                return element
    return None


def _model_ids(model: type[BaseModel], where: str):
    for name, info in model.model_fields.items():
        if ID_NAME.search(name) and info.annotation in (int, int | None):
            yield f"{where}.{name}", info
        if ID_IN_LIST.search(name) and (element := _id_list(info.annotation)) is not None:
            yield f"{where}.{name}[]", _Element(element)
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            yield from _model_ids(info.annotation, f"{where}.{name}")


def _params(dependant, kind: str):
    yield from getattr(dependant, kind)
    for sub in dependant.dependencies:
        yield from _params(sub, kind)


def _api_routes(routes):
    """Every APIRoute, through included routers (FastAPI keeps them as branches, not copied routes)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif getattr(route, "original_router", None) is not None:
            yield from _api_routes(route.original_router.routes)


def _route_ids(app):
    for route in _api_routes(app.routes):
        for param in [*_params(route.dependant, "path_params"), *_params(route.dependant, "query_params")]:
            if ID_NAME.search(param.name) and param.field_info.annotation is int:
                yield f"{sorted(route.methods)} {route.path} {param.name}", param.field_info
        for param in _params(route.dependant, "body_params"):
            annotation = param.field_info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                yield from _model_ids(annotation, f"{sorted(route.methods)} {route.path} body")


def test_every_id_a_route_takes_is_bounded_to_its_column():
    """Structural: walks the route table (API and HTML pages alike), path, query and body ids."""
    from sqlalchemy import create_engine

    from onshi.web.app import create_app

    app = create_app(create_engine("sqlite://"), publisher_interval=0)
    found = dict(_route_ids(app))
    assert len(found) >= 12, sorted(found)  # the walk sees the routes (documents, registry, office pages …)
    assert any("/office/" in k for k in found) and any("body.qualification_id" in k for k in found)
    loose = {k: _bounds(v) for k, v in found.items() if _bounds(v) != (1, MAX_ID)}
    assert not loose, f"ids without the 1 … 2^63-1 bound (use onshi.web.limits.DbId/BodyId): {loose}"


@pytest.fixture
def clerk(client):
    assert login(client, "clerk").status_code in (200, 303)
    client.headers["X-CSRF-Token"] = client.get("/api/v1/documents/session").json()["csrf_token"]
    return client


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_ids_out_of_range_are_422_never_500(clerk, value):
    for path in (f"/api/v1/documents/persons/{value}", f"/api/v1/documents/{value}",
                 f"/api/v1/documents/{value}/pdf", f"/api/v1/registry/members/{value}",
                 f"/api/v1/registry/quarantine/{value}"):
        res = clerk.get(path)
        assert res.status_code == 422, (path, res.status_code, res.text[:200])
    res = clerk.post(f"/api/v1/documents/{value}/return", json={"returned_on": "2026-12-01"})
    assert res.status_code == 422, res.text[:200]
    res = clerk.post("/api/v1/documents/applications", json={
        "qualification_id": value, "reason": "other", "applicant": "本人", "applied_on": "2026-12-01"})
    assert res.status_code == 422, res.text[:200]
    for path in (f"/office/members/{value}", f"/office/documents/{value}.pdf", f"/office/quarantine/{value}"):
        res = clerk.get(path)
        assert res.status_code == 422 and res.headers["content-type"].startswith("text/html"), (path, res.text[:200])
        assert "入力が正しくありません" in res.text and "<html lang='ja'>" in res.text


def test_the_largest_id_is_a_plain_404(clerk):
    for path in (f"/api/v1/documents/persons/{MAX_ID}", f"/api/v1/documents/{MAX_ID}",
                 f"/api/v1/registry/members/{MAX_ID}"):
        assert clerk.get(path).status_code == 404, path
    assert clerk.get(f"/office/members/{MAX_ID}").status_code == 404


# ---------------------------------------------------------------- bodies: limits and the early 401

def _asgi(app, method: str, path: str, headers: dict[str, str], chunks: list[bytes]) -> tuple[int, dict, int]:
    """Call the app directly; returns (status, headers, how many body chunks the app pulled)."""
    pulled = 0
    sent: list[dict] = []

    async def receive():
        nonlocal pulled
        if pulled < len(chunks):
            pulled += 1
            return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "path": path,
             "raw_path": path.encode(), "root_path": "", "scheme": "http", "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 1), "server": ("testserver", 80), "app": app}
    # a thread of its own: the browser tests' Playwright keeps an event loop running in this thread for the session
    failure: list[BaseException] = []

    def call() -> None:
        try:
            asyncio.run(app(scope, receive, send))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            failure.append(exc)

    worker = threading.Thread(target=call)
    worker.start()
    worker.join()
    if failure:
        raise failure[0]
    start = next(m for m in sent if m["type"] == "http.response.start")
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, pulled


@pytest.fixture
def token(engine):
    from onshi.store.db import unit_of_work
    from onshi.verify.service import add_institution

    with unit_of_work() as s:
        _inst, tok = add_institution(s, code="1311234569", name="境界医院", facility_type="clinic")
    return tok


@pytest.fixture
def app(engine):
    from onshi.web.app import create_app

    return create_app(engine, publisher_interval=0)


def test_a_declared_oversize_body_is_refused_unread(app, token):
    big = 200 * 1024 * 1024
    for path in ("/oqs/xml", "/api/v1/verifications/numbers", "/fhir/verify", "/login", "/api/v1/documents/applications"):
        status, headers, pulled = _asgi(app, "POST", path, {"content-length": str(big),
                                                            "authorization": f"Bearer {token}"}, [b"x" * 65536])
        assert (status, pulled) == (413, 0), path


def test_a_streamed_body_is_cut_at_the_limit(app, token):
    from onshi.config import get_settings

    limit = get_settings().max_body_bytes
    chunks = [b"<" * 65536] * (3 * limit // 65536)  # no Content-Length: chunked
    status, _, pulled = _asgi(app, "POST", "/oqs/xml", {"authorization": f"Bearer {token}"}, chunks)
    assert status == 413 and pulled <= limit // 65536 + 1, pulled


def test_a_post_without_a_known_credential_is_refused_before_its_body_is_read(app, token):
    body = [b"{}"]
    for path in ("/oqs/xml", "/oqs/json", "/api/v1/verifications/numbers", "/api/v1/verifications/card",
                 "/fhir/verify", "/api/v1/reference-numbers", "/myclinic/onshi/kakunin"):
        for headers in ({}, {"authorization": "Bearer not-a-token"}, {"x-onshi-token": "nope"}):
            status, answer, pulled = _asgi(app, "POST", path, {"content-length": "2", **headers}, body)
            assert (status, pulled) == (401, 0), (path, headers)
            assert answer["www-authenticate"] == "Bearer"
    status, _, pulled = _asgi(app, "POST", "/oqs/json", {"content-length": "2", "authorization": f"Bearer {token}"},
                              body)
    assert pulled == 1 and status == 200


def test_upload_screens_have_their_own_larger_limit():
    from onshi.config import get_settings
    from onshi.web.limits import body_limit_for

    s = get_settings()
    assert body_limit_for("/office/intake") == s.max_upload_bytes > s.max_body_bytes == body_limit_for("/oqs/xml")


# ---------------------------------------------------------------- no-store, /bench/fixed, OpenAPI

def test_answers_with_personal_data_are_not_stored(clerk, token):
    for path in ("/api/v1/documents/session", "/api/v1/registry/members?name=厚労", "/office/members", "/office"):
        assert clerk.get(path).headers.get("cache-control") == "no-store", path
    res = clerk.post("/api/v1/verifications/numbers", headers={"Authorization": f"Bearer {token}"}, json={})
    assert res.headers.get("cache-control") == "no-store"
    assert clerk.get("/static/app.css").headers.get("cache-control") != "no-store"


def test_bench_fixed_exists_only_when_benchmarking(engine, monkeypatch):
    from fastapi.testclient import TestClient

    from onshi.config import get_settings
    from onshi.web.app import create_app

    assert TestClient(create_app(engine, publisher_interval=0)).get("/bench/fixed").status_code == 404
    assert TestClient(create_app(engine, publisher_interval=0, bench=True)).get("/bench/fixed").json()["validity"] == 1
    monkeypatch.setenv("ONSHI_BENCH_ENDPOINT", "1")
    get_settings.cache_clear()
    try:
        assert TestClient(create_app(engine, publisher_interval=0)).get("/bench/fixed").status_code == 200
    finally:
        monkeypatch.delenv("ONSHI_BENCH_ENDPOINT")
        get_settings.cache_clear()


def test_openapi_declares_its_security_and_answers():
    from sqlalchemy import create_engine

    from onshi.web.app import create_app

    schema = create_app(create_engine("sqlite://"), publisher_interval=0).openapi()
    schemes = schema["components"]["securitySchemes"]
    assert schemes["institutionToken"] == {**schemes["institutionToken"], "type": "http", "scheme": "bearer"}
    assert schemes["staffSession"]["in"] == "cookie" and schemes["staffSession"]["name"] == "onshi_session"
    for path, item in schema["paths"].items():
        for method, op in item.items():
            assert op.get("security"), (method, path)
            assert "401" in op["responses"], (method, path)
            if path.startswith(("/api/v1/documents", "/api/v1/registry", "/api/v1/exchange")):
                assert op["security"] == [{"staffSession": []}] and "403" in op["responses"], (method, path)
    assert schema["paths"]["/oqs/xml"]["post"]["security"] == [{"institutionToken": []}]


def test_openapi_types_are_true():
    from sqlalchemy import create_engine

    from onshi.web.app import create_app

    comps = create_app(create_engine("sqlite://"), publisher_interval=0).openapi()["components"]["schemas"]
    for model, field in (("DocumentOut", "recorded_at"), ("SlaRecordOut", "received_at"), ("SuspectOut", "checked_at")):
        assert comps[model]["properties"][field]["format"] == "date-time", (model, field)
    flagged = [(m, p) for m, s in comps.items() for p, v in s.get("properties", {}).items()
               if p.endswith(("_at", "_time")) and v.get("type") == "string" and v.get("format") != "date-time"]
    assert not flagged, flagged


def test_a_nul_character_in_a_text_field_is_422_not_500(clerk, engine):
    """PostgreSQL refuses text holding NUL (0x00); the schemathesis run found it as a 500 on a benefit application's
    branch. It is the input's fault: 422, and nothing of the application kept."""
    from onshi.benefits.models import BenefitApplication
    from onshi.store.db import unit_of_work
    from sqlalchemy import func, select

    with unit_of_work() as s:
        before = s.scalar(select(func.count()).select_from(BenefitApplication))
    res = clerk.post("/api/v1/benefits/applications", json={
        "kind": "sickness", "source_key": "nul-1", "symbol": "1", "number": "1", "branch": "\u0000"})
    assert 400 <= res.status_code < 500, (res.status_code, res.text[:300])  # SQLite takes NUL: no such member
    if engine.dialect.name == "postgresql":
        assert res.status_code == 422 and "nul_character" in res.text and "NUL (0x00)" in res.text, res.text[:300]
    with unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(BenefitApplication)) == before


def test_limit_consent_is_a_strict_boolean(client, token):
    body = {"insurer_number": "06139992", "symbol": "1", "number": "1", "birth_date": "1980-04-01",
            "care_date": "2026-11-22"}
    for wrong in (0, 1, "true", "yes", None):
        res = client.post("/api/v1/verifications/numbers", headers={"Authorization": f"Bearer {token}"},
                          json={**body, "limit_consent": wrong})
        assert res.status_code == 422 and "limit_consent" in res.text, (wrong, res.status_code)
    for right in (True, False):
        res = client.post("/api/v1/verifications/numbers", headers={"Authorization": f"Bearer {token}"},
                          json={**body, "limit_consent": right})
        assert res.status_code in (200, 422) and "limit_consent" not in res.text, (right, res.text[:200])



def test_a_day_before_the_law_tables_is_422_not_500():
    """Found by the long schemathesis run: a supervisor's daily run dated 2000-01-01 (with a qualification due)
    raised NotInForce from the 一部負担金 table — a 500. Any route that meets it now answers 422."""
    from fastapi.testclient import TestClient
    from sqlalchemy import create_engine

    from onshi.rules.dated import NotInForce
    from onshi.web.app import create_app

    app = create_app(create_engine("sqlite://"), publisher_interval=0)

    def before_the_law():
        raise NotInForce("一部負担金の割合: nothing in force on 2000-01-01")

    app.add_api_route("/api/v1/test-before-the-law", before_the_law)
    app.add_api_route("/office/test-before-the-law", before_the_law)
    client = TestClient(app, raise_server_exceptions=False)
    res = client.get("/api/v1/test-before-the-law")
    assert res.status_code == 422 and "no rule in force" in res.json()["detail"]
    res = client.get("/office/test-before-the-law")
    assert res.status_code == 422 and "日付が範囲外です" in res.text
