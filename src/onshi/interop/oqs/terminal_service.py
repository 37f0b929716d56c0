"""The verification terminal (資格確認端末) served from the database: what ``onshi terminal`` runs.

Wires :class:`onshi.interop.oqs.terminal.Terminal` (pure file protocol) to the
verification service (:mod:`onshi.verify.service`).  Each request runs in its own transaction.  A folder
``OQS/reader`` stands in for the face-recognition card reader: a JSON file
``{"certificate_serial": "…", "method": "face", "consents": {"limit": true}}``
dropped there is verified as a card use and the result is pushed to
``OQS/face`` carrying the registered 照会番号.  Outage lists (CSV) dropped in ``OQS/outage`` are recorded and
checked (:func:`serve_outage`, docs/outage.md).  A card use that fails (``VerificationError``: an unknown
certificate serial, …) is pushed to ``OQS/face`` too, as ``SegmentOfResult`` 9 (:meth:`Terminal.write_face_error`),
besides ``OQS/reader/<name>.err``; a reader file that cannot be read gets only the ``.err``.

Exactly once (``terminal_requests``, :mod:`onshi.interop.oqs.models`): each request file is claimed in a committed
row before it is verified — every request of one scan of ``req/`` in one commit (:meth:`AnswerOnce.claim_all`);
the service's handlers then run in *one* transaction per request that also writes the rendered answer into that row, so the usage-log and audit rows and the recorded answer commit together or not at all.  A restarted
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

from onshi.claims import clinical as claims_clinical
from onshi.exchange.models import IndexedQualification
from onshi.interop.oqs import clinical as oqs_clinical
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


class AnswerOnce:
    """``TerminalHandlers.answer_once`` (call it) and ``claim_all`` on the ``terminal_requests`` journal.

    :meth:`claim_all` claims every request of one scan of ``req/`` in *one* committed transaction (a burst of
    1,000 files costs one commit, not 1,000); :meth:`__call__` then finds its claim there.  A request not claimed
    that way (a test calling it directly, a claim that failed) is claimed on its own, committed, before it is
    verified — either way the claim is durable before anything is verified.
    """

    CHUNK = 500  #: names per ``IN (…)``: well under every database's limit of bound parameters

    def __init__(self, institution_code: str, engine=None) -> None:
        self.institution_code = institution_code
        self.engine = engine
        self._claimed: dict[tuple[str, str], tuple[int, bytes | None]] = {}  # (name, sha256) → (id, answer)

    def _rows(self, c, names: list[str]):
        table = TerminalRequest.__table__
        for i in range(0, len(names), self.CHUNK):
            yield from c.execute(select(table.c.id, table.c.file_name, table.c.sha256, table.c.answer).where(
                table.c.institution_code == self.institution_code, table.c.file_name.in_(names[i:i + self.CHUNK])))

    def claim_all(self, requests: list[tuple[str, bytes]]) -> None:
        """Claim ``[(name, bytes), …]`` together: one transaction, committed before this returns."""
        self._claimed.clear()  # a scan's claims are used in that scan; what was left (a file gone) is in the table
        wanted = {(name, hashlib.sha256(data).hexdigest()) for name, data in requests}
        if not wanted:
            return
        table = TerminalRequest.__table__
        names = sorted({name for name, _ in wanted})
        with (self.engine or default_engine()).begin() as c:
            found = {(r.file_name, r.sha256): (r.id, r.answer) for r in self._rows(c, names)}
            missing = sorted(wanted - found.keys())
            if missing:
                now = utcnow()
                c.execute(insert(table), [{"institution_code": self.institution_code, "file_name": n, "sha256": d,
                                           "status": "claimed", "claimed_at": now} for n, d in missing])
                found.update({(r.file_name, r.sha256): (r.id, r.answer) for r in self._rows(c, [n for n, _ in missing])
                              if (r.file_name, r.sha256) in wanted})
        self._claimed.update({k: v for k, v in found.items() if k in wanted})

    def _claim_one(self, name: str, digest: str) -> tuple[int, bytes | None]:
        table = TerminalRequest.__table__
        with (self.engine or default_engine()).begin() as c:  # the claim, committed before anything is verified
            row = c.execute(select(table.c.id, table.c.answer).where(
                table.c.institution_code == self.institution_code, table.c.file_name == name,
                table.c.sha256 == digest)).first()
            if row is not None:
                return row.id, row.answer
            return c.execute(insert(table).values(
                institution_code=self.institution_code, file_name=name, sha256=digest, status="claimed",
                claimed_at=utcnow()).returning(table.c.id)).scalar_one(), None

    def __call__(self, name: str, data: bytes, produce: Callable[[], bytes]) -> bytes:
        digest = hashlib.sha256(data).hexdigest()
        claim, recorded = self._claimed.pop((name, digest), None) or self._claim_one(name, digest)
        if recorded is not None:
            log.info("request %s answered before a restart: delivering the recorded answer", name)
            return bytes(recorded)
        this = update(TerminalRequest.__table__).where(TerminalRequest.__table__.c.id == claim)
        with unit_of_work(self.engine) as s:  # the verification and its recorded answer, together
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


def answer_once(institution_code: str, engine=None) -> AnswerOnce:
    """``TerminalHandlers.answer_once`` (and ``claim_all``) on the ``terminal_requests`` journal."""
    return AnswerOnce(institution_code, engine)


def make_handlers(institution_code: str, engine=None, *, clinical: bool = True) -> TerminalHandlers:
    """The handlers on the database.  *clinical* False: the 薬剤・健診 requests (``YZK``/``TKK``) are not served
    (left in ``req/`` for a real terminal sharing the folder)."""
    once = answer_once(institution_code, engine)

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

    def serve_clinical(req: oqs_clinical.ClinicalRequest):
        with _tx(engine) as s:
            return clinical_view(s, institution_code, req)

    return TerminalHandlers(verify=verify, register_reference_number=register, submit_bulk=submit,
                            fetch_bulk=fetch, submit_registrations=submit_registrations,
                            fetch_registrations=fetch_registrations, answer_once=once, claim_all=once.claim_all,
                            clinical=serve_clinical if clinical else None)


def clinical_view(s: Session, institution_code: str, req: oqs_clinical.ClinicalRequest):
    """A 薬剤・健診 request of the terminal → the consented view of :mod:`onshi.claims.clinical` (which checks the
    institution, the person, the consent at this institution and its 24 hours, reads and audits — actor
    ``terminal:<code>``) as :class:`~onshi.interop.oqs.clinical.ClinicalData`, or its refusal."""
    if req.institution_code != institution_code:
        raise VerificationError("E0002", "医療機関コードが端末と一致しません (MedicalInstitutionCode is not this "
                                         "terminal's)", "MedicalInstitutionCode")
    got = claims_clinical.view(s, req.what, institution_code=institution_code, actor_id=f"terminal:{institution_code}",
                               actor_kind="terminal", insurer_number=req.insurer_number, symbol=req.symbol or "",
                               number=req.number, branch=req.branch, birth_date=None)
    if isinstance(got, claims_clinical.Refusal):
        return oqs_clinical.ClinicalRefusal(got.code, got.reason)
    row = s.scalars(select(IndexedQualification).where(IndexedQualification.person_id == got.patient.person_id)
                    .order_by(IndexedQualification.acquisition_date.desc())).first()
    patient = oqs_clinical.ClinicalPatient(got.patient.name, row.name_kana if row else "", got.patient.birth_date,
                                           row.sex if row else Sex.UNSET)
    return oqs_clinical.ClinicalData(patient, drugs=got.drugs, checkups=got.checkups)


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


def make_terminal(root: Path, institution_code: str, engine=None, *, face_encoding: str = "utf-8",
                  clinical: bool = True) -> Terminal:
    (Path(root) / "outage").mkdir(parents=True, exist_ok=True)  # where the clinic drops its outage lists
    return Terminal(Path(root), make_handlers(institution_code, engine, clinical=clinical), face_encoding=face_encoding)


def serve_outage(terminal: Terminal, institution_code: str, engine=None, today: date | None = None) -> int:
    """Record and check the outage lists (CSV) dropped in ``OQS/outage`` (docs/outage.md): each file whole or not
    at all, moved to ``done/`` with ``<name>.result.csv`` or to ``err/`` with ``<name>.err``
    (:mod:`onshi.outage.folder`).  A file that cannot be read as a list while it is still changing is retried until
    it has not changed for the terminal's ``partial_grace``; temporary names (``.tmp``, ``.partial``, a leading dot)
    are never read.  Exactly once across restarts: records are keyed by their content and only records without an
    answer are checked.  Returns how many files were settled."""
    from onshi.outage import folder as outage_folder

    n = 0
    for path in outage_folder.pending_files(terminal.root / "outage"):
        key = "outage/" + path.name
        try:
            st = path.stat()
            with unit_of_work(engine) as s:
                got = outage_folder.record_file(s, path, institution_code, today=today or japan_today())
                if got.errors and terminal._still_writing(key, st):
                    s.rollback()  # nothing was written for a refused list; perhaps it is not complete yet
                    continue
            outage_folder.settle(path, got.errors, got.result)
        except FileNotFoundError:
            continue
        except Exception:  # never let one file stop the terminal; it is retried on the next poll
            log.exception("outage list %s could not be processed", path.name)
            continue
        terminal._seen.pop(key, None)
        n += 1
    return n


def serve_once(terminal: Terminal, institution_code: str, engine=None) -> None:
    terminal.run_once()
    serve_reader(terminal, institution_code, engine)
    serve_outage(terminal, institution_code, engine)


def run_terminal(root: Path, institution_code: str, *, once: bool = False, engine=None,
                 stop_event: threading.Event | None = None, poll_interval: float = 0.05,
                 face_encoding: str = "utf-8", clinical: bool = True) -> None:
    terminal = make_terminal(root, institution_code, engine, face_encoding=face_encoding, clinical=clinical)
    stop_event = stop_event or threading.Event()
    while not stop_event.is_set():
        serve_once(terminal, institution_code, engine)
        if once:
            return
        time.sleep(poll_interval)
