"""The REST verification endpoints' fast path: cached credentials, the one-statement lookup, the group-committed
usage log — on both databases (SQLite takes the plain transaction, PostgreSQL the fast path)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from onshi.exchange.publish import publish_all
from onshi.privacy.models import AuditEntry
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from onshi.verify import hotpath, service, views
from onshi.verify.models import ConsentRecord, Institution, VerificationLogEntry
from onshi.web.app import create_app

from tests.registry.helpers import acquisition, load, numbers, setup_insurers, write
from tests.verify.test_api import auth, body  # the same request as the REST tests

CLINIC = "1310000011"


@pytest.fixture
def api(engine, tmp_path):
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition(acquisition_date="2024-04-01")]), T.acquisition)
    load(write(tmp_path, "l.csv", T.limit_application, [numbers(application_date="2024-10-15", tax_exempt="0",
                                                                low_income_1="0", income_exemption="0")]),
         T.limit_application)
    publish_all()
    with unit_of_work() as s:
        _inst, token = service.add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
    service.institution_cache.clear()
    client = TestClient(create_app(engine, publisher_interval=0))
    client.token = token
    yield client
    service.institution_cache.clear()


def test_every_answer_is_logged_and_audited_before_it_is_sent(api, session):
    for b in (body(), body(number="999"), body(branch=None)):
        assert api.post("/api/v1/verifications/numbers", json=b, headers=auth(api.token)).status_code == 200
    logs = list(session.scalars(select(VerificationLogEntry).order_by(VerificationLogEntry.id)))
    assert [(e.method, e.validity, e.institution_code, e.insurer_number) for e in logs] == [
        ("numbers", 1, CLINIC, "01130012"), ("numbers", 4, CLINIC, "01130012"), ("numbers", 1, CLINIC, "01130012")]
    assert logs[0].patient_key and logs[0].patient_key == logs[2].patient_key and logs[1].patient_key is None
    audits = list(session.scalars(select(AuditEntry).where(AuditEntry.actor_kind == "institution")))
    assert len(audits) == 2 and {a.actor_id for a in audits} == {CLINIC}
    assert {a.detail for a in audits} == {"method=numbers"}


def test_a_revocation_stops_a_cached_credential_at_once(api, engine):
    assert api.post("/api/v1/verifications/numbers", json=body(), headers=auth(api.token)).status_code == 200
    assert service.institution_cache.get(service.token_digest(api.token)) is not None
    # revoked elsewhere (another worker, the CLI): this process's cache does not know
    with engine.begin() as c:
        c.execute(update(Institution).where(Institution.code == CLINIC).values(revoked_at=datetime(2026, 1, 1)))
    assert service.institution_cache.get(service.token_digest(api.token)) is not None
    r = api.post("/api/v1/verifications/numbers", json=body(), headers=auth(api.token))
    assert r.status_code == 401 and "厚労" not in r.text
    with engine.connect() as c:  # the refused request wrote nothing
        assert c.execute(text("SELECT count(*) FROM verification_log")).scalar() == 1


def test_revoking_in_this_process_forgets_the_token(api):
    assert api.post("/api/v1/verifications/numbers", json=body(), headers=auth(api.token)).status_code == 200
    with unit_of_work() as s:
        service.revoke_institution(s, CLINIC)
    assert service.institution_cache.get(service.token_digest(api.token)) is None
    assert api.post("/api/v1/verifications/numbers", json=body(), headers=auth(api.token)).status_code == 401


def test_unknown_tokens_are_not_cached(api):
    assert api.post("/api/v1/verifications/numbers", json=body(), headers=auth("nope")).status_code == 401
    assert service.institution_cache.get(service.token_digest("nope")) is None


def test_limit_consent_is_recorded_with_the_answer(api, session):
    day = "2024-11-20"  # while the 限度額 certificate is valid
    r = api.post("/api/v1/verifications/numbers", json=body(limit_consent=True, care_date=day),
                 headers=auth(api.token))
    assert r.status_code == 200
    res = r.json()["results"][0]
    assert res["limit_consent"]["status"] == 1 and res["limit"]["category_code"] == "A03"
    assert [c.kind for c in session.scalars(select(ConsentRecord))] == ["limit"]
    assert session.scalar(select(VerificationLogEntry.validity)) == 1
    # a numbers request carries its own flag: the next one without it gets nothing of the 限度額, although the
    # consent stays on record (docs/rules.md, "限度額 in the answer")
    again = api.post("/api/v1/verifications/numbers", json=body(care_date=day),
                     headers=auth(api.token)).json()["results"][0]
    assert again["limit_consent"] is None and again["limit"] is None
    assert [c.kind for c in session.scalars(select(ConsentRecord))] == ["limit"]


def test_reference_number_comes_from_the_lookup(api):
    api.post("/api/v1/reference-numbers", json={"reference_number": "P-7", "insurer_number": "01130012",
                                                "symbol": "10000001", "number": "101", "branch": None},
             headers=auth(api.token))
    r = api.post("/api/v1/verifications/numbers", json=body(), headers=auth(api.token))
    assert r.json()["results"][0]["reference_number"] == "P-7"


def test_the_same_answer_as_the_service(api, engine):
    """The fast path (driver-level lookup, JSON rendering) answers exactly what service.verify answers."""
    r = api.post("/api/v1/verifications/numbers", json=body(), headers=auth(api.token))
    req = views.NumbersQuery.model_validate(body()).to_request(CLINIC)
    with unit_of_work() as s:
        inst = s.scalar(select(Institution).where(Institution.code == CLINIC))
        expected = views.outcome_json(service.verify(s, req, inst))
    got = r.json()
    # each answer has its own receipt (its id and time differ); the rest is the same
    assert got.pop("receipt_id") != expected.pop("receipt_id")
    assert got.pop("receipt").count(".") == expected.pop("receipt").count(".") == 2
    assert got == expected


@pytest.mark.postgres  # the group commit is PostgreSQL's fast path; SQLite answers in one transaction
def test_no_answer_when_the_log_cannot_be_written(api, engine, monkeypatch):

    async def broken(self, logs, audits):
        raise RuntimeError("disk full")

    monkeypatch.setattr(hotpath.GroupCommit, "_write", broken)
    client = TestClient(api.app, raise_server_exceptions=False)
    r = client.post("/api/v1/verifications/numbers", json=body(), headers=auth(api.token))
    assert r.status_code == 500 and "厚労" not in r.text


def test_write_log_batch(engine):
    now = datetime(2026, 11, 20, 9, 0)
    logs = [{"occurred_at": now, "care_date": date(2026, 11, 20), "institution_code": CLINIC, "prefecture_code": "13",
             "facility_type": "clinic", "method": "numbers", "validity": v, "setting": "outpatient",
             "insurer_number": "01130012", "patient_key": None} for v in (1, 4)]
    audits = [{"at": now, "actor_kind": "institution", "actor_id": CLINIC, "action": "verify",
               "subject_kind": "person", "subject_id": "7", "detail": "method=numbers"}]
    with engine.connect() as c:
        service.write_log_batch(c, logs, audits)
        c.commit()
    with engine.connect() as c:
        assert c.execute(select(VerificationLogEntry.validity, VerificationLogEntry.occurred_at)
                         .order_by(VerificationLogEntry.id)).all() == [(1, now), (4, now)]
        assert c.execute(select(AuditEntry.subject_id, AuditEntry.at)).all() == [("7", now)]


def test_well_formed_requests_are_answered_directly_and_the_rest_by_fastapi(api, monkeypatch):
    seen = []
    direct = views._verify_numbers_directly

    async def spy(request):
        response = await direct(request)
        seen.append(response is not None)
        return response

    monkeypatch.setattr(views, "_verify_numbers_directly", spy)
    assert api.post("/api/v1/verifications/numbers", json=body(), headers=auth(api.token)).status_code == 200
    assert api.post("/api/v1/verifications/numbers", json=body(care_date="2099-01-01"),
                    headers=auth(api.token)).status_code == 422  # a VerificationError, raised on the direct path
    bad = [api.post("/api/v1/verifications/numbers", json=body(insurer_number="0113001"), headers=auth(api.token)),
           api.post("/api/v1/verifications/numbers", content=b"{", headers={**auth(api.token),
                                                                             "Content-Type": "application/json"}),
           api.post("/api/v1/verifications/numbers", json=body(), headers=auth("nope")),
           api.post("/api/v1/verifications/numbers", json=body())]
    assert [r.status_code for r in bad] == [422, 422, 401, 401]
    assert bad[0].json()["detail"][0]["loc"] == ["body", "insurer_number"]
    # answered directly: the good request (the 422 of the far date is raised there, so not counted); the
    # malformed body and the bad field went to FastAPI; the unknown and the missing credential never reached the
    # route (refused before their body was read: onshi.web.limits.GuardMiddleware)
    assert seen == [True, False, False]


@pytest.mark.postgres  # the group commit is PostgreSQL's fast path; SQLite answers in one transaction
def test_answers_committed_together_share_one_signature_and_each_receipt_verifies(api, engine, session):
    """Requests whose rows go out in one group commit get batch receipts (one signature, a Merkle path each);
    every receipt verifies to its own answer, and the usage log has each receipt's id."""
    import asyncio

    from onshi.verify import receipts

    req = views.NumbersQuery.model_validate(body()).to_request(CLINIC)
    inst = service.authenticate_cached(engine, api.token)
    nobody = views.NumbersQuery.model_validate(body(number="999")).to_request(CLINIC)

    async def many():
        return await asyncio.gather(*(hotpath.answer(engine, req if i % 3 else nobody, inst) for i in range(12)))

    def run(coro):  # on a thread of its own: the suite's browser tests may leave a loop running on this one
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, coro).result()

    from onshi.ops.metrics import GROUP_COMMIT

    counters = [GROUP_COMMIT.labels(what) for what in ("writes", "rows", "signatures", "receipts")]
    before = [c._value.get() for c in counters]
    outcomes = run(many())
    tokens = [o.receipt for o in outcomes]
    assert all("~" in t for t in tokens) and len({t.split("~")[0] for t in tokens}) == 1
    # /metrics tells it: one write of 12 rows, one signature for 12 receipts
    assert [c._value.get() - b for c, b in zip(counters, before)] == [1, 12, 1, 12]
    ring = receipts.key_ring()
    for o in outcomes:
        claims = receipts.verify_receipt(o.receipt, ring)
        assert claims["rid"] == o.receipt_id and claims["val"] == int(o.validity) and claims["et"] == o.etag
    logged = set(session.scalars(select(VerificationLogEntry.receipt_id)))
    assert {o.receipt_id for o in outcomes} <= logged
    # one request alone: the ordinary compact JWS
    single = run(hotpath.answer(engine, req, inst))
    assert "~" not in single.receipt and receipts.verify_receipt(single.receipt, ring)["rid"] == single.receipt_id


@pytest.mark.postgres  # the group commit is PostgreSQL's fast path
def test_a_request_whose_lookup_runs_in_the_same_turn_of_the_loop_joins_the_batch(api, engine):
    """The group commit yields one turn of the loop before it takes its batch: a request that became ready while
    the first one was being queued (here: started by a callback scheduled just before it) is signed and written
    with it — one signature for both — instead of waiting for the next write."""
    import asyncio

    from onshi.verify import receipts

    req = views.NumbersQuery.model_validate(body()).to_request(CLINIC)
    inst = service.authenticate_cached(engine, api.token)

    async def two():
        loop = asyncio.get_running_loop()
        second: list[asyncio.Task] = []
        # queued before the first request's group-commit task exists: it starts a task that is ready only after
        loop.call_soon(lambda: second.append(loop.create_task(hotpath.answer(engine, req, inst))))
        first = await hotpath.answer(engine, req, inst)
        return first, await second[0]

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:  # a loop of its own (the suite's browser tests may leave one running here)
        first, second = pool.submit(asyncio.run, two()).result()
    assert "~" in first.receipt and first.receipt.split("~")[0] == second.receipt.split("~")[0]
    ring = receipts.key_ring()
    assert receipts.verify_receipt(first.receipt, ring)["rid"] == first.receipt_id
    assert receipts.verify_receipt(second.receipt, ring)["rid"] == second.receipt_id
