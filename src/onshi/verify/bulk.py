"""一括照会 (bulk verification): a clinic hands in many requests at once (next week's appointments), gets a
ReceptionNumber, and fetches the answers when :func:`process_bulk` has run them through
:func:`onshi.verify.service.verify` — one savepoint per request, so one refused request does not undo the others.

照会番号一括登録 (OQSmuimm01/02) lives in the same table (``kind`` ``reference``): :func:`submit_registrations`
registers every item at once, each in its own savepoint, and keeps what the clinic sent with each outcome, so
:func:`fetch_registrations` answers the same after any restart.  A ReceptionNumber is answered for
:data:`RESULT_RETENTION` after it was received; later, or for a number never given, it is E0401.

Requests and answers of 一括照会 are stored pickled (base64) in ``bulk_requests``: server-side data only, never
read from a client, so pickle is safe here.
"""

from __future__ import annotations

import base64
import pickle
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.store.clock import to_japan_time
from onshi.store.db import utcnow
from onshi.verify.models import BulkRequest, Institution
from onshi.verify.result import ReferenceRegistration, VerificationError, VerificationRequest
from onshi.verify.service import register_reference_number, verify

#: how long the results of a bulk reception can be fetched (**choice**: the national retention is not public)
RESULT_RETENTION = timedelta(days=30)

VERIFY, REFERENCE = "verify", "reference"


@dataclass(frozen=True)
class Pending:
    """:func:`fetch_bulk`'s answer while the reception is still being processed: what the "still processing"
    answer echoes (the upload's ``ArbitraryFileIdentifier``, as the finished answer does)."""

    arbitrary_file_identifier: str | None


def _reception_number(now: datetime) -> str:
    return f"{to_japan_time(now):%Y%m%d%H%M%S}{secrets.randbelow(10**6):06d}"  # the clinic reads it: JST


def _find(session: Session, institution: Institution, reception_number: str, kind: str,
          now: datetime | None) -> BulkRequest:
    """The reception, or E0401 when this institution never received it (of this kind) or it has expired."""
    bulk = session.scalar(select(BulkRequest).where(BulkRequest.reception_number == reception_number,
                                                    BulkRequest.institution_code == institution.code,
                                                    BulkRequest.kind == kind))
    if bulk is None:
        raise VerificationError("E0401", "受付番号が見つかりません (unknown ReceptionNumber)", "ReceptionNumber")
    if bulk.received_at + RESULT_RETENTION < _naive(now or utcnow()):
        raise VerificationError("E0401", f"受付番号の保存期間（{RESULT_RETENTION.days}日）を過ぎました。再度登録・照会して"
                                "ください (ReceptionNumber expired)", "ReceptionNumber")
    return bulk


def _naive(moment: datetime) -> datetime:
    """Stored instants are naive UTC."""
    return moment if moment.tzinfo is None else moment.astimezone(timezone.utc).replace(tzinfo=None)


def submit_bulk(session: Session, institution: Institution, requests: list[VerificationRequest],
                now: datetime | None = None, *, arbitrary_file_identifier: str | None = None) -> str:
    """Accept a bulk verification; answered with a ReceptionNumber, processed by :func:`process_bulk`."""
    now = now or utcnow()
    reception = _reception_number(now)
    session.add(BulkRequest(reception_number=reception, institution_code=institution.code, received_at=now,
                            status="received", kind=VERIFY, arbitrary_file_identifier=arbitrary_file_identifier,
                            requests=[base64.b64encode(pickle.dumps(r)).decode() for r in requests]))
    session.flush()
    return reception


def process_bulk(session: Session, *, now: datetime | None = None) -> int:
    """Answer every received bulk request (server-side data only: pickle is safe here)."""
    done = 0
    for bulk in session.scalars(select(BulkRequest).where(BulkRequest.status == "received",
                                                          BulkRequest.kind == VERIFY)):
        inst = session.scalar(select(Institution).where(Institution.code == bulk.institution_code))
        results = []
        for blob in bulk.requests:
            req = pickle.loads(base64.b64decode(blob))
            try:
                with session.begin_nested():
                    outcome = verify(session, req, inst, now=now)
            except VerificationError as exc:
                outcome = exc
            results.append(base64.b64encode(pickle.dumps((req, outcome))).decode())
        bulk.results, bulk.status, bulk.processed_at = results, "done", now or utcnow()
        done += 1
    return done


def fetch_bulk(session: Session, institution: Institution, reception_number: str, *, now: datetime | None = None):
    """:class:`Pending` while processing, else ``[(request, outcome or VerificationError), …]``; either carries the
    upload's ``ArbitraryFileIdentifier`` as stored with the reception (each request has it), for the answer's
    header to echo."""
    bulk = _find(session, institution, reception_number, VERIFY, now)
    if bulk.status != "done":
        return Pending(bulk.arbitrary_file_identifier)
    items = [pickle.loads(base64.b64decode(b)) for b in bulk.results]
    afi = bulk.arbitrary_file_identifier
    return [(replace(req, arbitrary_file_identifier=afi) if afi else req, outcome) for req, outcome in items]


def submit_registrations(session: Session, institution: Institution,
                         items: list[tuple[ReferenceRegistration, list[str]]], *,
                         arbitrary_file_identifier: str | None = None, now: datetime | None = None) -> str:
    """照会番号一括登録: register each ``(registration, as_sent)`` now; returns the ReceptionNumber.

    ``as_sent`` is the item's fields as the clinic wrote them; the fetch echoes them.  One refused item (its
    savepoint rolled back) does not undo the others; its error is kept for the fetch.
    """
    now = now or utcnow()
    results = []
    for reg, as_sent in items:
        error = None
        try:
            with session.begin_nested():
                register_reference_number(session, institution, reference_number=reg.reference_number,
                                          insurer_number=reg.insurer_number, symbol=reg.symbol or "",
                                          number=reg.number, branch=reg.branch)
        except VerificationError as exc:
            error = {"code": exc.code, "message": exc.message, "field": exc.field}
        results.append({"sent": list(as_sent), "error": error})
    reception = _reception_number(now)
    session.add(BulkRequest(reception_number=reception, institution_code=institution.code, received_at=now,
                            status="done", kind=REFERENCE, arbitrary_file_identifier=arbitrary_file_identifier,
                            requests=[r["sent"] for r in results], results=results, processed_at=now))
    session.flush()
    return reception


def fetch_registrations(session: Session, institution: Institution, reception_number: str, *,
                        now: datetime | None = None) -> tuple[str | None, list[tuple[list[str], VerificationError | None]]]:
    """``(the upload's ArbitraryFileIdentifier, [(as_sent, None or why it was refused), …])``; E0401 when unknown
    or expired.  The same answer however often, and after any restart."""
    bulk = _find(session, institution, reception_number, REFERENCE, now)
    out = []
    for r in bulk.results or []:
        e = r.get("error")
        out.append((list(r["sent"]), VerificationError(e["code"], e["message"], e.get("field")) if e else None))
    return bulk.arbitrary_file_identifier, out
