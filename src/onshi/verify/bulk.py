"""一括照会 (bulk verification): a clinic hands in many requests at once (next week's appointments), gets a
ReceptionNumber, and fetches the answers when :func:`process_bulk` has run them through
:func:`onshi.verify.service.verify` — one savepoint per request, so one refused request does not undo the others.

Requests and answers are stored pickled (base64) in ``bulk_requests``: server-side data only, never read from a
client, so pickle is safe here.
"""

from __future__ import annotations

import base64
import pickle
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.store.clock import to_japan_time
from onshi.store.db import utcnow
from onshi.verify.models import BulkRequest, Institution
from onshi.verify.result import VerificationError, VerificationRequest
from onshi.verify.service import verify


def submit_bulk(session: Session, institution: Institution, requests: list[VerificationRequest],
                now: datetime | None = None) -> str:
    """Accept a bulk verification; answered with a ReceptionNumber, processed by :func:`process_bulk`."""
    now = now or utcnow()
    reception = f"{to_japan_time(now):%Y%m%d%H%M%S}{secrets.randbelow(10**6):06d}"  # the clinic reads it: JST
    session.add(BulkRequest(reception_number=reception, institution_code=institution.code, received_at=now,
                            status="received",
                            requests=[base64.b64encode(pickle.dumps(r)).decode() for r in requests]))
    session.flush()
    return reception


def process_bulk(session: Session, *, now: datetime | None = None) -> int:
    """Answer every received bulk request (server-side data only: pickle is safe here)."""
    done = 0
    for bulk in session.scalars(select(BulkRequest).where(BulkRequest.status == "received")):
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


def fetch_bulk(session: Session, institution: Institution, reception_number: str):
    """``None`` while processing, else ``[(request, outcome or VerificationError), …]``."""
    bulk = session.scalar(select(BulkRequest).where(BulkRequest.reception_number == reception_number,
                                                    BulkRequest.institution_code == institution.code))
    if bulk is None:
        raise VerificationError("E0401", "受付番号が見つかりません (unknown ReceptionNumber)", "ReceptionNumber")
    if bulk.status != "done":
        return None
    return [pickle.loads(base64.b64decode(b)) for b in bulk.results]
