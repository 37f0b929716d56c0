"""Shortcut of onshi.verify.service.verify for a repeat check that is answered 304; held to it by tests/verify/test_etag_fast.py::test_the_same_304_as_the_service.

A repeat check by numbers (``If-None-Match``) whose tag can be confirmed without the answer — one without consents
and warning, about one person (or nobody) — reads one tiny statement: the credential's ``revoked_at`` and the
people with those numbers and birth date, each with its change counter (``answer_versions``, bumped by triggers
whenever anything the answer is made of changes; :mod:`onshi.verify.etag`).  When the tag recomputed from them
equals one of the header's, the answer is 304 without reading the index rows or building the answer; the
receipt is signed and the usage-log and audit rows are made exactly as :func:`onshi.verify.service.verify` makes
them for a 304.  Anything else returns ``None`` having read one statement and written nothing, and the caller
takes the reference path (which may still answer 304: e.g. an answer showing a consent).

On PostgreSQL the people come from :mod:`onshi.verify.version_cache` when cached there (kept current by
LISTEN/NOTIFY): such a 304 reads nothing at all; tests/verify/test_version_cache.py holds it to the service.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from sqlalchemy import and_, bindparam, select, true

from onshi.config import get_settings
from onshi.exchange import index
from onshi.exchange.models import IndexedQualification, AnswerVersion
from onshi.ops.metrics import count_verification
from onshi.privacy.crypto import vault
from onshi.store.clock import japan_date
from onshi.store.db import utcnow
from onshi.verify import etag, receipts, receipts_fast, service, version_cache
from onshi.verify.models import Institution
from onshi.verify.result import ReferenceClass, Validity, VerificationError, VerificationOutcome

__all__ = ["not_modified", "statement"]

#: the validities whose answer names a qualification (and so a person: the log's pseudonym, the audit row)
ANSWERED = frozenset({Validity.VALID, Validity.INVALID, Validity.INVALID_NEWER_EXISTS})
_VALIDITIES = {int(v): v for v in Validity}

#: tags computed here, by everything :func:`onshi.verify.etag.tag` is made of on this path — the hash key, the
#: institution, the day of care, the request's numbers and birth date, its 任意識別子, the validity and the people
#: with their versions (no 限度額 flag, consents or warning here; the code's version is the process's): a repeat
#: check of the same question recomputes no HMAC (about 15 µs of a 304).  Emptied when full: an entry holds its
#: own copy of the question, about 640 bytes, so at most about 13 MB per worker.
_tags: dict[tuple, str] = {}
TAGS_KEPT = 20_000


@lru_cache(maxsize=None)
def statement(branch: bool):
    """The institution's ``revoked_at`` and the matched people with their versions (one row even for nobody)."""
    inst, iq, pv = Institution.__table__, IndexedQualification.__table__, AnswerVersion.__table__
    conds = [iq.c.insurer_number == bindparam("insurer_number"), iq.c.symbol == bindparam("symbol"),
             iq.c.number == bindparam("number"), iq.c.birth_date == bindparam("birth_date")]
    if branch:
        conds.append(iq.c.branch == bindparam("branch"))
    people = select(iq.c.person_id).where(and_(*conds)).distinct().subquery("m")
    return (select(inst.c.revoked_at, people.c.person_id, pv.c.version)
            .select_from(inst.outerjoin(people, true()).outerjoin(pv, pv.c.person_id == people.c.person_id))
            .where(inst.c.id == bindparam("institution_id")))


def not_modified(conn, req, institution, if_none_match: str | None, *, now: datetime | None = None,
                 record=None, unsigned: list | None = None, versions=None) -> VerificationOutcome | None:
    """The 304 outcome of a repeat check by numbers when its tag still holds, else ``None`` (nothing written).

    *conn* is a Connection (autocommit or in the caller's transaction) or an object whose ``run(fn)`` calls *fn*
    with one (:class:`onshi.verify.hotpath.AutocommitConnection`); *record* and *unsigned* as for
    :func:`onshi.verify.service.verify` (the log and audit rows, and what the receipt's claims are written
    from, handed to the caller).  A revoked credential, a request the service would refuse, a tag of another form: ``None`` — the
    reference path then answers (or refuses) as always.  *versions* (a
    :class:`onshi.verify.version_cache.VersionCache`): the people are taken from it when cached — then *conn* is
    not touched at all (with *record*) — and stored in it after a read; a revocation is then known from its
    institution notifications.
    """
    if req.reference_class != ReferenceClass.NUMBERS or req.number is None or req.limit_consent:
        return None
    offered = etag.candidates(if_none_match)
    if not offered or (req.institution_code and req.institution_code != institution.code):
        return None
    now = now or utcnow()
    try:
        service.check_request(req, japan_date(now))  # the same refusal as the reference path
    except VerificationError:
        return None
    cache_key = version_cache.key_of(req) if versions is not None else None
    people = versions.get(cache_key, institution) if versions is not None else None
    if people is None:
        params = {"institution_id": institution.id, "insurer_number": req.insurer_number,
                  "symbol": req.symbol or "", "number": req.number, "birth_date": req.birth_date}
        if req.branch:
            params["branch"] = req.branch
        token = versions.begin() if versions is not None else None
        stmt = statement(bool(req.branch))
        rows = conn.run(lambda c: index.fetch_all(c, stmt, params)) if hasattr(conn, "run") \
            else index.fetch_all(conn, stmt, params)
        if not rows or rows[0].revoked_at is not None:
            return None  # the reference path says 401
        people = tuple(sorted((r.person_id, r.version or 0) for r in rows if r.person_id is not None))
        if versions is not None:
            versions.put(cache_key, people, token)
    key = vault().hash_key
    question = (key, institution.code, req.care_date, cache_key or version_cache.key_of(req),
                req.arbitrary_identifier)
    for value, offered_tag in offered:
        validity = _VALIDITIES.get(value)
        if validity is None or (validity in ANSWERED and len(people) != 1):
            continue  # several people and an answer about one of them: only the full read knows which
        current = _tags.get((question, value, people))
        if current is None:
            current = etag.tag(key, institution_code=institution.code, req=req, validity=validity, people=people,
                               consents={}, warning=None)
            if len(_tags) >= TAGS_KEPT:
                _tags.clear()
            _tags[(question, value, people)] = current
        if current == offered_tag:
            break
    else:
        return None

    rid = receipt = None
    if get_settings().receipts:
        rid, later = receipts_fast.defer(now=now, institution_code=institution.code,
                                         req=req, validity=validity, answers=(), etag=current, not_modified=True)
        if unsigned is None:
            receipt = receipts.sign_json(receipts_fast.write(later), receipts.key_ring())
        else:  # as service.verify: the caller writes and signs it with the others of its group commit
            unsigned.append(later)
    outcome = VerificationOutcome(validity=validity, answers=(), warning=None, etag=current, not_modified=True,
                                  receipt=receipt, receipt_id=rid)
    person = people[0][0] if validity in ANSWERED else None
    log = {"occurred_at": now, "care_date": req.care_date, "institution_code": institution.code,
           "prefecture_code": institution.prefecture_code, "facility_type": institution.facility_type,
           "method": "numbers", "validity": int(validity), "setting": "outpatient",
           "insurer_number": req.insurer_number or None,
           "patient_key": service.pseudonym(person) if person is not None else None,
           "receipt_id": outcome.receipt_id, "not_modified": True}
    audit = {"at": now, "actor_kind": "institution", "actor_id": institution.code, "action": "verify",
             "subject_kind": "person", "subject_id": str(person), "detail": "method=numbers",
             "insurer_number": req.insurer_number} if person is not None else None
    if record is None:
        if hasattr(conn, "run"):
            conn.run(lambda c: service.write_log(c, log, audit))
        else:
            service.write_log(conn, log, audit)
    else:
        record(log, audit)
    count_verification("numbers", validity)
    return outcome
