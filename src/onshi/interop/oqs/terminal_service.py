"""The verification terminal (資格確認端末) served from the database: what ``onshi terminal`` runs.

Wires :class:`onshi.interop.oqs.terminal.Terminal` (pure file protocol) to the
verification service (:mod:`onshi.verify.service`).  Each request runs in its own transaction.  A folder
``OQS/reader`` stands in for the face-recognition card reader: a JSON file
``{"certificate_serial": "…", "method": "face", "consents": {"limit": true}}``
dropped there is verified as a card use and the result is pushed to
``OQS/face`` carrying the registered 照会番号.  A card use that fails (``VerificationError``: an unknown
certificate serial, …) is pushed to ``OQS/face`` too, as ``SegmentOfResult`` 9 (:meth:`Terminal.write_face_error`),
besides ``OQS/reader/<name>.err``; a reader file that cannot be read gets only the ``.err``.

Exactly once (``terminal_requests``, :mod:`onshi.interop.oqs.models`): each request file is claimed in a committed
row before it is verified; the service's handlers then run in *one* transaction that also writes the rendered answer
into that row, so the usage-log and audit rows and the recorded answer commit together or not at all.  A restarted
terminal delivers a recorded answer again and verifies only what has none.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from pathlib import Path
from typing import Callable, Iterator

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from onshi.interop.oqs import xmlmsg
from onshi.interop.oqs.models import TerminalRequest
from onshi.interop.oqs.terminal import Terminal, TerminalHandlers, answer_name
from onshi.store.clock import japan_today
from onshi.store.db import default_engine, is_postgres, unit_of_work, utcnow
from onshi.verify import bulk, service
from onshi.verify.result import ReferenceClass, Sex, VerificationError, VerificationRequest

log = logging.getLogger(__name__)

#: The transaction of the request being answered (set by ``answer_once``); the handlers write into it.
_request_tx: ContextVar[Session | None] = ContextVar("terminal_request_tx", default=None)


@contextmanager
def _tx(engine) -> Iterator[Session]:
    """The request's transaction when there is one (a savepoint in it, so that a refused item leaves nothing
    behind), else a transaction of its own."""
    s = _request_tx.get()
    if s is None:
        with unit_of_work(engine) as s:
            yield s
        return
    with s.begin_nested():
        yield s


def answer_once(institution_code: str, engine=None) -> Callable[[str, bytes, Callable[[], bytes]], bytes]:
    """``TerminalHandlers.answer_once`` on the ``terminal_requests`` journal."""

    table = TerminalRequest.__table__

    def once(name: str, data: bytes, produce: Callable[[], bytes]) -> bytes:
        digest = hashlib.sha256(data).hexdigest()
        with (engine or default_engine()).begin() as c:  # the claim, committed before anything is verified
            row = c.execute(select(table.c.id, table.c.answer).where(
                table.c.institution_code == institution_code, table.c.file_name == name,
                table.c.sha256 == digest)).first()
            if row is not None and row.answer is not None:
                log.info("request %s answered before a restart: delivering the recorded answer", name)
                return bytes(row.answer)
            claim = row.id if row is not None else c.execute(insert(table).values(
                institution_code=institution_code, file_name=name, sha256=digest, status="claimed",
                claimed_at=utcnow()).returning(table.c.id)).scalar_one()
        this = update(table).where(table.c.id == claim)
        with unit_of_work(engine) as s:  # the verification and its recorded answer, together
            if not is_postgres(s):
                # a write first, so that the transaction is open before the handlers' savepoints: pysqlite begins
                # one only before a write, and a SAVEPOINT outside it would start one that its RELEASE commits
                s.execute(this.values(status="claimed"))
            token = _request_tx.set(s)
            try:
                answer = produce()
            finally:
                _request_tx.reset(token)
            s.execute(this.values(status="answered", answer=answer, answer_name=answer_name(name),
                                  answered_at=utcnow()))
        return answer

    return once


def make_handlers(institution_code: str, engine=None) -> TerminalHandlers:
    def verify(req: VerificationRequest):
        with _tx(engine) as s:
            inst = service.active_institution(s, institution_code)
            return service.verify(s, req, inst)

    def register(code: str, reg) -> None:
        with _tx(engine) as s:
            inst = service.active_institution(s, institution_code)
            if code and code != inst.code:
                raise VerificationError("E0002", "医療機関コードが端末と一致しません", "MedicalInstitutionCode")
            service.register_reference_number(s, inst, reference_number=reg.reference_number,
                                              insurer_number=reg.insurer_number, symbol=reg.symbol or "",
                                              number=reg.number, branch=reg.branch)

    def submit(code: str, requests):
        requests = list(requests)  # each carries the upload's header, its ArbitraryFileIdentifier too
        with _tx(engine) as s:
            return bulk.submit_bulk(s, service.active_institution(s, institution_code), requests,
                                    arbitrary_file_identifier=requests[0].arbitrary_file_identifier if requests
                                    else None)

    def fetch(code: str, reception: str):
        with _tx(engine) as s:  # the queue's pending work, committed with this fetch's answer
            bulk.process_bulk(s)
        with _tx(engine) as s:
            return bulk.fetch_bulk(s, service.active_institution(s, institution_code), reception)

    def submit_registrations(reg) -> str:
        with _tx(engine) as s:
            inst = service.active_institution(s, institution_code)
            if reg.institution_code and reg.institution_code != inst.code:
                raise VerificationError("E0002", "医療機関コードが端末と一致しません", "MedicalInstitutionCode")
            return bulk.submit_registrations(s, inst, list(zip(reg.registrations, reg.as_sent)),
                                             arbitrary_file_identifier=reg.arbitrary_file_identifier)

    def fetch_registrations(code: str, reception: str):
        with _tx(engine) as s:
            return bulk.fetch_registrations(s, service.active_institution(s, institution_code), reception)

    return TerminalHandlers(verify=verify, register_reference_number=register, submit_bulk=submit,
                            fetch_bulk=fetch, submit_registrations=submit_registrations,
                            fetch_registrations=fetch_registrations, answer_once=answer_once(institution_code, engine))


def serve_reader(terminal: Terminal, institution_code: str, engine=None, today: date | None = None) -> int:
    """Process card-reader stand-in files in ``OQS/reader``; returns how many were answered."""
    reader = terminal.root / "reader"
    reader.mkdir(exist_ok=True)
    n = 0
    for entry in sorted(os.scandir(reader), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        path = Path(entry.path)
        req = holder = None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            holder = _holder(data.get("holder"))
            req = VerificationRequest(
                reference_class=ReferenceClass.CARD, care_date=today or japan_today(),
                institution_code=institution_code, arbitrary_file_identifier=None, insurer_number=None, symbol=None,
                number=None, branch=None, birth_date=None, limit_consent=bool(data.get("consents", {}).get("limit")),
                arbitrary_identifier=None, card_serial=str(data["certificate_serial"]),
                reader_outcome={"method": data.get("method", "face"), "consents": data.get("consents", {})})
            outcome = terminal.handlers.verify(req)
            terminal.write_face_result(institution_code, outcome, req, utcnow(), holder=holder)
        except (VerificationError, KeyError, ValueError) as exc:
            (reader / (entry.name + ".err")).write_text(str(exc), encoding="utf-8")
            if isinstance(exc, VerificationError) and req is not None:  # a card use that failed: the clinic sees it
                terminal.write_face_error(institution_code, exc, req, utcnow(), holder=holder)
        path.unlink(missing_ok=True)
        n += 1
    return n


def _holder(card: dict | None):
    """The card's 券面事項 as the reader read them (``{"name", "name_kana", "birth_date": "yyyy-mm-dd", "sex"}``)."""
    if not card:
        return None
    return xmlmsg.CardHolder(name=str(card.get("name", "")), name_kana=card.get("name_kana"),
                             birth_date=date.fromisoformat(card["birth_date"]) if card.get("birth_date") else None,
                             sex=Sex(int(card.get("sex", 3))))


def make_terminal(root: Path, institution_code: str, engine=None, *, face_encoding: str = "utf-8") -> Terminal:
    return Terminal(Path(root), make_handlers(institution_code, engine), face_encoding=face_encoding)


def serve_once(terminal: Terminal, institution_code: str, engine=None) -> None:
    terminal.run_once()
    serve_reader(terminal, institution_code, engine)


def run_terminal(root: Path, institution_code: str, *, once: bool = False, engine=None,
                 stop_event: threading.Event | None = None, poll_interval: float = 0.05,
                 face_encoding: str = "utf-8") -> None:
    terminal = make_terminal(root, institution_code, engine, face_encoding=face_encoding)
    stop_event = stop_event or threading.Event()
    while not stop_event.is_set():
        serve_once(terminal, institution_code, engine)
        if once:
            return
        time.sleep(poll_interval)
