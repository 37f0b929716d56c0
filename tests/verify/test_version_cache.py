"""The version cache (onshi.verify.version_cache, migration 0027_version_notify) on a real PostgreSQL: a hit answers the
service's 304 and reads nothing; every change an answer is made of, committed by another connection, ends the cached
entry once its notification is processed; a revocation is answered 401 at once; a fill racing a change is not
stored; a lost listener empties and stops the cache until it listens again.  SQLite has no cache (and the other
verification tests keep their answers)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import date

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from onshi.exchange.models import AnswerVersion, IndexedQualification
from onshi.exchange.publish import publish_all
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work
from onshi.verify import etag_fast, hotpath, service, version_cache
from onshi.web.app import create_app

from tests.registry.helpers import MN_CHILD, acquisition, load, write
from tests.verify.test_api import auth, body
from tests.verify.test_etag_fast import (URL, _blocked, _consent, _loss, _reference_number,  # noqa: F401 - fixture
                                         _same_numbers_another_person, institution, reference, request,
                                         without_instance, world)


class Untouchable:
    """A connection that fails the test if anything uses it."""

    def run(self, fn):
        raise AssertionError("the cache hit touched a connection")

    def __getattr__(self, name):
        raise AssertionError(f"the cache hit touched a connection ({name})")


def wait_for(condition, what: str, limit: float = 30.0) -> None:
    """Wait (generously: not a timed assertion) until *condition* holds."""
    end = time.monotonic() + limit
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.005)


def synced(engine, cache) -> None:
    """Return once the listener has processed every notification committed so far (a marker sent after them;
    notifications arrive in commit order)."""
    marker = f"#{uuid.uuid4().hex}"
    with engine.connect() as c:
        c.execute(text("SELECT pg_notify('onshi_answers', :m)"), {"m": marker})
        c.commit()
    wait_for(lambda: cache.marker == marker, "the marker notification processed")


@pytest.fixture
def listening(engine):
    """The version cache of *engine* with its listener running on an event loop of its own (as a server's)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the version cache is PostgreSQL's (LISTEN/NOTIFY)")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start():
        return version_cache.start(engine)

    listener = asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    assert listener is not None
    wait_for(lambda: listener.cache.enabled, "the listener listening")
    yield listener
    asyncio.run_coroutine_threadsafe(listener.stop(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)
    loop.close()


def cached(conn, req, tag, cache, inst=None):
    rows = []
    out = etag_fast.not_modified(conn, req, inst or institution(), tag, record=lambda *r: rows.append(r),
                                 versions=cache)
    return out, rows


def fill(engine, req, tag, cache, inst=None):
    with engine.connect() as c:
        out = cached(c, req, tag, cache, inst)[0]
    assert version_cache.key_of(req) in cache.entries
    return out


@pytest.mark.parametrize("over", [{}, {"branch": None}, {"number": "999"}, {"arbitrary_identifier": "P-1"}])
def test_a_hit_answers_the_services_304_and_reads_nothing(world, engine, listening, over):
    cache, req, inst = listening.cache, request(**over), institution()
    full, _ = reference(engine, req)
    assert fill(engine, req, full.etag, cache, inst) is not None
    hits = cache.hits
    got, got_rows = cached(Untouchable(), req, full.etag, cache, inst)
    want, want_rows = reference(engine, req, full.etag)
    assert cache.hits == hits + 1 and got is not None and got.not_modified and want.not_modified
    assert (got.validity, got.etag, got.answers, got.warning) == (want.validity, want.etag, (), None)
    assert [without_instance(*r) for r in got_rows] == [without_instance(*r) for r in want_rows]
    assert got.receipt and got.receipt_id != want.receipt_id
    assert cached(Untouchable(), req, '"1.AAAAAAAAAAAAAAAAAAAAAAAA"', cache, inst)[0] is None  # a stale tag: None


def _card(world):
    with unit_of_work() as s:
        person = s.scalar(select(AnswerVersion.person_id))
    with unit_of_work() as s:
        s.execute(text("INSERT INTO insurance_cards (certificate_serial, person_id, kind, registered_at, "
                       "certificate_expires_on) VALUES ('SERIAL-1', :p, 'card', now(), '2035-01-01')"), {"p": person})


def _deleted(world):
    with unit_of_work() as s:
        s.execute(text("DELETE FROM index_qualifications"))


@pytest.mark.parametrize("change", [_loss, _blocked, _consent, _card, _reference_number, _same_numbers_another_person,
                                    _deleted])
def test_each_change_committed_elsewhere_ends_the_cached_entry(world, engine, listening, change):
    cache, req = listening.cache, request(branch=None)
    before = reference(engine, req)[0]
    assert fill(engine, req, before.etag, cache) is not None
    change(world)
    synced(engine, cache)
    assert version_cache.key_of(req) not in cache.entries
    with engine.connect() as c:  # what the cache path answers now is what the service answers
        for tag in (before.etag, reference(engine, req)[0].etag):
            got = cached(c, req, tag, cache)[0]
            want = reference(engine, req, tag)[0]
            assert got is None or (got.not_modified and want.not_modified and got.etag == want.etag)
            if got is None:
                assert tag == before.etag or not want.not_modified or want.warning \
                    or any(a.other_consents for a in reference(engine, req)[0].answers)


def test_a_new_person_with_numbers_that_matched_nobody_ends_the_entry(world, engine, listening):
    cache, req = listening.cache, request(number="102")
    nobody = reference(engine, req)[0]
    assert fill(engine, req, nobody.etag, cache) is not None and cache.entries[version_cache.key_of(req)] == ()
    load(write(world.dir, "b.csv", T.acquisition, [acquisition(number="102", my_number=MN_CHILD)]), T.acquisition)
    publish_all()
    synced(engine, cache)
    assert version_cache.key_of(req) not in cache.entries
    assert reference(engine, req)[0].validity != nobody.validity
    with engine.connect() as c:
        assert cached(c, req, nobody.etag, cache)[0] is None


def test_a_change_about_somebody_else_keeps_the_entry(world, engine, listening):
    cache, req = listening.cache, request()
    tag = reference(engine, req)[0].etag
    fill(engine, req, tag, cache)
    load(write(world.dir, "b.csv", T.acquisition, [acquisition(number="102", my_number=MN_CHILD, name="別人　次郎",
                                                           birth_date="1985-02-02", employer_symbol="20000002")]),
         T.acquisition)
    publish_all()
    synced(engine, cache)
    assert version_cache.key_of(req) in cache.entries
    assert cached(Untouchable(), req, tag, cache)[0] is not None


class ChangeDuringRead:
    """A connection whose read is followed, before it returns, by a change committed elsewhere whose notification
    the listener processes: the fill race."""

    def __init__(self, engine, cache, change, world):
        self.engine, self.cache, self.change, self.world = engine, cache, change, world

    def run(self, fn):
        with self.engine.connect() as c:
            rows = fn(c)
        self.change(self.world)
        synced(self.engine, self.cache)
        return rows


def test_a_fill_that_raced_a_change_is_not_stored(world, engine, listening):
    cache, req = listening.cache, request(branch=None)
    before = reference(engine, req)[0]
    got = cached(ChangeDuringRead(engine, cache, _loss, world), req, before.etag, cache)[0]
    assert got is not None  # answered from what it read (the change was concurrent with it) ...
    assert version_cache.key_of(req) not in cache.entries  # ... but not kept
    with engine.connect() as c:
        assert cached(c, req, before.etag, cache)[0] is None and not reference(engine, req, before.etag)[0].not_modified


def test_a_lost_listener_empties_and_stops_the_cache_until_it_listens_again(world, engine, listening):
    cache, req = listening.cache, request()
    held = service.authenticate_cached(engine, world.token)  # a credential cached before the loss
    tag = reference(engine, req)[0].etag
    fill(engine, req, tag, cache, held)
    assert cached(Untouchable(), req, tag, cache, held)[0] is not None
    connects, pid = listening.connects, listening.pid
    with engine.connect() as c:
        assert c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    wait_for(lambda: listening.connects > connects, "the listener reconnected")
    assert listening.pid != pid and cache.enabled and not cache.entries  # emptied (lost and found again)
    fill(engine, req, tag, cache)  # works again ...
    assert cached(Untouchable(), req, tag, cache)[0] is not None
    assert cache.get(version_cache.key_of(req), held) is None  # ... but not for what was cached before: a
    with engine.connect() as c:                                 # revocation meanwhile was missed
        assert cached(c, req, tag, cache, held)[0] is not None  # (its requests read revoked_at)
    cache.disable()  # as on a loss: nothing served, nothing stored
    assert not cache.entries and cache.get(version_cache.key_of(req), institution()) is None
    assert cache.put(version_cache.key_of(req), (), cache.begin()) is False


def _payloads_of_linkage_checks(engine, cache, first: int, last: int) -> list[str]:
    """Insert linkage checks for people *first*..*last* in one statement; the payloads ``onshi_answers`` carried
    for it (a listener of our own, up to the marker synced() sends after the change)."""
    import psycopg

    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as spy:
        spy.execute("LISTEN onshi_answers")
        with unit_of_work() as s:
            s.execute(text("INSERT INTO linkage_checks (person_id, my_number_hash, extract_file, row_number, "
                           "checked_at, status, mismatches) SELECT g, 'x', 'e.csv', g, now(), 'match', '[]' "
                           f"FROM generate_series({first}, {last}) g"))
        synced(engine, cache)
        payloads = []
        for n in spy.notifies(timeout=30):
            if n.payload.startswith("#"):
                break
            payloads.append(n.payload)
    return payloads


def test_a_batch_over_one_payload_notifies_every_person(world, engine, listening):
    """700 people bumped by one statement: several pg_notify payloads, each under PostgreSQL's 8000 bytes."""
    cache = listening.cache
    people = range(10_001, 10_701)
    token = cache.begin()
    for p in people:
        assert cache.put(("01130012", "S", str(p), None, date(1970, 1, 1)), ((p, 0),), token)
    chunks = _payloads_of_linkage_checks(engine, cache, 10_001, 10_700)
    assert len(chunks) >= 3 and all(len(p.encode()) < 8000 for p in chunks)
    assert sorted(int(i) for p in chunks for i in p.split(",")) == list(people)
    assert not cache.entries and not cache.by_person and not cache.by_digest


def test_a_mass_statement_notifies_forget_everything_once(world, engine, listening):
    """Past MASS items one statement sends a single '*' (a bulk load changes most answers anyway) instead of
    thousands of payloads; the cache forgets everything."""
    import importlib

    mass = importlib.import_module("onshi.store.migrations.versions.0027_version_notify").MASS
    cache = listening.cache
    token = cache.begin()
    assert cache.put(("01130012", "S", "1", None, date(1970, 1, 1)), ((1, 0),), token)  # nobody the statement names
    assert _payloads_of_linkage_checks(engine, cache, 100_001, 100_001 + mass) == ["*"]
    assert not cache.entries and not cache.by_person and not cache.by_digest


def test_a_revocation_committed_elsewhere_is_answered_401_at_once(world, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("the version cache is PostgreSQL's")
    with TestClient(create_app(engine, publisher_interval=0)) as client:
        cache = version_cache.for_engine(engine)
        wait_for(lambda: cache.enabled, "the server's listener listening")
        headers = {**auth(world.token), "If-None-Match": client.post(URL, json=body(), headers=auth(world.token))
                   .headers["ETag"]}
        assert client.post(URL, json=body(), headers=headers).status_code == 304  # fills
        conn = hotpath.for_engine(engine)[0]
        conn.run, hits = Untouchable().run, cache.hits  # a hit must not touch the endpoints' connection
        try:
            again = client.post(URL, json=body(), headers=headers)
        finally:
            del conn.run
        assert again.status_code == 304 and again.headers["Onshi-Receipt"] and cache.hits == hits + 1
        with engine.begin() as c:  # another connection, not revoke_institution (which drops this process's entry)
            c.execute(text("UPDATE institutions SET revoked_at = now() WHERE code = :c"), {"c": "1310000011"})
        synced(engine, cache)
        assert client.post(URL, json=body(), headers=headers).status_code == 401


def test_a_snapshot_held_across_a_revocation_is_not_served(world, engine, listening):
    cache, req = listening.cache, request()
    inst = service.authenticate_cached(engine, world.token)  # in the institution cache, as a request holds it
    tag = reference(engine, req)[0].etag
    fill(engine, req, tag, cache, inst)
    assert cached(Untouchable(), req, tag, cache, inst)[0] is not None
    with engine.begin() as c:
        c.execute(text("UPDATE institutions SET revoked_at = now() WHERE id = :i"), {"i": inst.id})
    synced(engine, cache)
    with engine.connect() as c:
        assert cached(c, req, tag, cache, inst)[0] is None  # read again: revoked, the reference path says 401
    with pytest.raises(service.AuthError):
        service.authenticate_cached(engine, world.token)


def test_sqlite_has_no_cache(world, engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's half")
    with TestClient(create_app(engine, publisher_interval=0)) as client:
        first = client.post(URL, json=body(), headers=auth(world.token))
        again = client.post(URL, json=body(), headers={**auth(world.token), "If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304
    assert version_cache.for_engine(engine) is None
    assert IndexedQualification  # the index is read as before (tests/verify/test_etag_fast.py)


def test_a_credential_read_across_an_institution_notification_is_not_cached():
    """The credential cache's own fill race (the early 401 guard reads in a thread): a snapshot read before a
    notification about any institution was processed is not stored — it may predate a revocation."""
    from onshi.verify.institutions import AuthenticatedInstitution, InstitutionCache

    cache = InstitutionCache(60)
    inst = AuthenticatedInstitution(id=1, code="1310000011", name="x", prefecture_code="13", facility_type="clinic")
    since = cache.generation
    cache.discard_institution(1)  # processed while the snapshot was being read
    cache.put("d", inst, since)
    assert cache.get("d") is None
    cache.put("d", inst, cache.generation)
    assert cache.get("d") is inst
