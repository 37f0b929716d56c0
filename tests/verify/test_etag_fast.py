"""Free repeat checks on both databases: the 304 of onshi.verify.etag_fast is the 304 of onshi.verify.service, and
any change that alters the answer — of the index, 紐付け, consents, 照会番号, the people the numbers match — ends it,
while a change about somebody else does not (the per-person counter of migration 0018_etag_version)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from onshi.exchange.models import AnswerVersion, LinkageCheck
from onshi.exchange.publish import publish_all
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work, utcnow
from onshi.verify import etag_fast, service, views
from onshi.verify.models import Institution
from onshi.web.app import create_app

from tests.registry.helpers import MN_CHILD, MN_HANAKO, acquisition, dependent, load, numbers, setup_insurers, write
from tests.verify.test_api import TODAY, auth, body

CLINIC, OTHER = "1310000011", "1310000037"
URL = "/api/v1/verifications/numbers"


@pytest.fixture
def world(engine, tmp_path):
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition(acquisition_date="2024-04-01")]), T.acquisition)
    publish_all()
    with unit_of_work() as s:
        _i, token = service.add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
        service.add_institution(s, code=OTHER, name="別の医院", facility_type="clinic")
    service.institution_cache.clear()
    yield SimpleNamespace(dir=tmp_path, token=token)
    service.institution_cache.clear()


def institution(code: str = CLINIC) -> Institution:
    with unit_of_work() as s:
        inst = s.scalar(select(Institution).where(Institution.code == code))
        s.expunge(inst)
        return inst


def request(code: str = CLINIC, **over):
    return views.NumbersQuery.model_validate(body(**over)).to_request(code)


def reference(engine, req, tag=None, inst=None):
    """service.verify's outcome and the rows it would log (nothing written)."""
    rows = []
    with engine.connect() as c:
        out = service.verify(c, req, inst or institution(), if_none_match=tag, record=lambda *r: rows.append(r))
    return out, rows


def fast(engine, req, tag, inst=None):
    rows = []
    with engine.connect() as c:
        out = etag_fast.not_modified(c, req, inst or institution(), tag, record=lambda *r: rows.append(r))
    return out, rows


def without_instance(log: dict, audit: dict | None) -> tuple:
    """A log/audit row pair without what differs between two checks (time, receipt id)."""
    drop = {"occurred_at", "at", "receipt_id"}
    return ({k: v for k, v in log.items() if k not in drop},
            {k: v for k, v in audit.items() if k not in drop} if audit else None)


@pytest.mark.parametrize("over", [{}, {"branch": None}, {"number": "999"}, {"birth_date": "1971-01-01"},
                                  {"care_date": (TODAY - timedelta(days=900)).isoformat()},
                                  {"arbitrary_identifier": "P-1"}])
def test_the_same_304_as_the_service(world, engine, over):
    """What the fast path answers (validity, tag, no answers) and logs (usage log, audit) is what service.verify
    answers and logs for the same 304; a tag it cannot confirm gets None from it and a full answer from the service."""
    req = request(**over)
    full, _ = reference(engine, req)
    assert not full.not_modified and full.etag
    got, got_rows = fast(engine, req, full.etag)
    want, want_rows = reference(engine, req, full.etag)
    assert want.not_modified and got is not None and got.not_modified
    assert (got.validity, got.etag, got.answers, got.warning) == (want.validity, want.etag, (), None)
    assert [without_instance(*r) for r in got_rows] == [without_instance(*r) for r in want_rows]
    assert got.receipt and got.receipt_id and got.receipt_id != want.receipt_id
    for stale in ('"1.AAAAAAAAAAAAAAAAAAAAAAAA"', full.etag.replace('"', '"W') , "*", None):
        assert fast(engine, req, stale)[0] is None and not reference(engine, req, stale)[0].not_modified


def test_other_institution_or_day_never_confirms_the_tag(world, engine):
    req = request()
    tag = reference(engine, req)[0].etag
    elsewhere = request(OTHER)
    assert fast(engine, elsewhere, tag, institution(OTHER))[0] is None
    assert not reference(engine, elsewhere, tag, institution(OTHER))[0].not_modified
    other_day = request(care_date=(TODAY - timedelta(days=1)).isoformat())
    assert fast(engine, other_day, tag)[0] is None and not reference(engine, other_day, tag)[0].not_modified


@pytest.mark.parametrize("variant", [
    {"code": OTHER}, {"care_date": (TODAY - timedelta(days=1)).isoformat()}, {"arbitrary_identifier": "P-2"},
    {"branch": None}, {"birth_date": "1971-01-01"}, {"number": "999"}])
def test_a_remembered_tag_confirms_only_its_own_question(world, engine, variant):
    """The fast path remembers the tags it computed (etag_fast._tags); once it has confirmed a tag, the same tag
    offered for a question that differs in any one part — institution, day of care, 任意識別子, 枝番, birth
    date, numbers — is still not confirmed, as the service does not confirm it."""
    req = request(arbitrary_identifier="P-1")
    tag = reference(engine, req)[0].etag
    assert fast(engine, req, tag)[0] is not None and fast(engine, req, tag)[0] is not None  # remembered now
    over = dict(variant)
    code = over.pop("code", CLINIC)
    other = request(code, **({"arbitrary_identifier": "P-1"} | over))
    assert fast(engine, other, tag, institution(code))[0] is None
    assert not reference(engine, other, tag, institution(code))[0].not_modified


def _loss(world):
    load(write(world.dir, "l.csv", T.loss, [numbers(loss_date=(TODAY - timedelta(days=1)).isoformat(),
                                                loss_reason="99")]), T.loss)
    publish_all()


def _blocked(world):
    with unit_of_work() as s:
        person = s.scalar(select(AnswerVersion.person_id))
        s.add(LinkageCheck(person_id=person, my_number_hash="x" * 64, extract_file="e.csv", row_number=1,
                           checked_at=utcnow(), status="mismatch", mismatches=["name"]))


def _consent(world):
    with unit_of_work() as s:
        person = s.scalar(select(AnswerVersion.person_id))
        service.record_consents(s, person_id=person, institution_code=CLINIC, kinds={"pharmacist": True},
                                now=utcnow(), method="card")


def _reference_number(world):
    with unit_of_work() as s:
        inst = s.scalar(select(Institution).where(Institution.code == CLINIC))
        service.register_reference_number(s, inst, reference_number="P-7", insurer_number="01130012",
                                          symbol="10000001", number="101", branch="00")


def _same_numbers_another_person(world):
    # a dependent with the member's birth date: numbers without 枝番 now match two people (複数該当)
    load(write(world.dir, "d.csv", T.dependent, [dependent(birth_date="1970-01-01")]), T.dependent)
    publish_all()


@pytest.mark.parametrize("change", [_loss, _blocked, _consent, _reference_number, _same_numbers_another_person])
def test_any_change_that_alters_the_answer_ends_the_304(world, engine, change):
    req = request(branch=None)
    before = reference(engine, req)[0]
    assert fast(engine, req, before.etag)[0] is not None  # nothing changed yet
    change(world)
    after = reference(engine, req)[0]
    assert service_answer(after) != service_answer(before)  # the change is one a clinic would see
    assert fast(engine, req, before.etag)[0] is None
    assert not reference(engine, req, before.etag)[0].not_modified
    assert after.etag != before.etag
    shows_time_or_warning = after.warning or (after.answers and after.answers[0].other_consents)
    assert (fast(engine, req, after.etag)[0] is None) == bool(shows_time_or_warning)  # those are read again
    assert reference(engine, req, after.etag)[0].not_modified  # and the new answer has its own 304


def service_answer(outcome):
    return views.outcome_json(outcome) | {"receipt": None, "receipt_id": None}


def test_a_change_about_somebody_else_keeps_the_304(world, engine):
    req = request()
    tag = reference(engine, req)[0].etag
    load(write(world.dir, "b.csv", T.acquisition, [acquisition(number="102", my_number=MN_CHILD, name="別人　次郎",
                                                           birth_date="1985-02-02")]), T.acquisition)
    publish_all()
    with unit_of_work() as s:
        assert len(s.scalars(select(AnswerVersion)).all()) == 2  # the other person's counter moved, not ours
    assert fast(engine, req, tag)[0] is not None and reference(engine, req, tag)[0].not_modified


def test_the_counter_moves_with_every_publication_of_the_person(world, engine):
    with unit_of_work() as s:
        (person, version), = s.execute(select(AnswerVersion.person_id, AnswerVersion.version)).all()
    load(write(world.dir, "d.csv", T.dependent, [dependent(my_number=MN_HANAKO)]), T.dependent)  # the member's family
    _loss(world)
    with unit_of_work() as s:
        assert s.scalar(select(AnswerVersion.version).where(AnswerVersion.person_id == person)) > version


def test_over_http_a_revoked_credential_gets_401_not_304(world, engine):
    client = TestClient(create_app(engine, publisher_interval=0))
    first = client.post(URL, json=body(), headers=auth(world.token))
    again = client.post(URL, json=body(), headers={**auth(world.token), "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.headers["Onshi-Receipt"]
    with unit_of_work() as s:
        service.revoke_institution(s, CLINIC)
    r = client.post(URL, json=body(), headers={**auth(world.token), "If-None-Match": first.headers["ETag"]})
    assert r.status_code == 401
