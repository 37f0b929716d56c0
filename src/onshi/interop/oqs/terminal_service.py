"""The verification terminal (資格確認端末) served from the database: what ``onshi terminal`` runs.

Wires :class:`onshi.interop.oqs.terminal.Terminal` (pure file protocol) to the
verification service (:mod:`onshi.verify.service`).  Each request runs in its own transaction.  A folder
``OQS/reader`` stands in for the face-recognition card reader: a JSON file
``{"certificate_serial": "…", "method": "face", "consents": {"limit": true}}``
dropped there is verified as a card use and the result is pushed to
``OQS/face`` carrying the registered 照会番号.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from datetime import date
from pathlib import Path

from onshi.interop.oqs import xmlmsg
from onshi.interop.oqs.terminal import Terminal, TerminalHandlers
from onshi.store.clock import japan_today
from onshi.store.db import unit_of_work, utcnow
from onshi.verify import bulk, service
from onshi.verify.result import ReferenceClass, Sex, VerificationError, VerificationRequest

log = logging.getLogger(__name__)


def make_handlers(institution_code: str, engine=None) -> TerminalHandlers:
    def verify(req: VerificationRequest):
        with unit_of_work(engine) as s:
            inst = service.active_institution(s, institution_code)
            return service.verify(s, req, inst)

    def register(code: str, reg) -> None:
        with unit_of_work(engine) as s:
            inst = service.active_institution(s, institution_code)
            if code and code != inst.code:
                raise VerificationError("E0002", "医療機関コードが端末と一致しません", "MedicalInstitutionCode")
            service.register_reference_number(s, inst, reference_number=reg.reference_number,
                                              insurer_number=reg.insurer_number, symbol=reg.symbol or "",
                                              number=reg.number, branch=reg.branch)

    def submit(code: str, requests):
        with unit_of_work(engine) as s:
            return bulk.submit_bulk(s, service.active_institution(s, institution_code), list(requests))

    def fetch(code: str, reception: str):
        with unit_of_work(engine) as s:
            bulk.process_bulk(s)
        with unit_of_work(engine) as s:
            return bulk.fetch_bulk(s, service.active_institution(s, institution_code), reception)

    def submit_registrations(reg) -> str:
        with unit_of_work(engine) as s:
            inst = service.active_institution(s, institution_code)
            if reg.institution_code and reg.institution_code != inst.code:
                raise VerificationError("E0002", "医療機関コードが端末と一致しません", "MedicalInstitutionCode")
            return bulk.submit_registrations(s, inst, list(zip(reg.registrations, reg.as_sent)),
                                             arbitrary_file_identifier=reg.arbitrary_file_identifier)

    def fetch_registrations(code: str, reception: str):
        with unit_of_work(engine) as s:
            return bulk.fetch_registrations(s, service.active_institution(s, institution_code), reception)

    return TerminalHandlers(verify=verify, register_reference_number=register, submit_bulk=submit,
                            fetch_bulk=fetch, submit_registrations=submit_registrations,
                            fetch_registrations=fetch_registrations)


def serve_reader(terminal: Terminal, institution_code: str, engine=None, today: date | None = None) -> int:
    """Process card-reader stand-in files in ``OQS/reader``; returns how many were answered."""
    reader = terminal.root / "reader"
    reader.mkdir(exist_ok=True)
    n = 0
    for entry in sorted(os.scandir(reader), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        path = Path(entry.path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            req = VerificationRequest(
                reference_class=ReferenceClass.CARD, care_date=today or japan_today(),
                institution_code=institution_code, arbitrary_file_identifier=None, insurer_number=None, symbol=None,
                number=None, branch=None, birth_date=None, limit_consent=bool(data.get("consents", {}).get("limit")),
                arbitrary_identifier=None, card_serial=str(data["certificate_serial"]),
                reader_outcome={"method": data.get("method", "face"), "consents": data.get("consents", {})})
            outcome = terminal.handlers.verify(req)
            terminal.write_face_result(institution_code, outcome, req, utcnow(), holder=_holder(data.get("holder")))
        except (VerificationError, KeyError, ValueError) as exc:
            (reader / (entry.name + ".err")).write_text(str(exc), encoding="utf-8")
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


def make_terminal(root: Path, institution_code: str, engine=None) -> Terminal:
    return Terminal(Path(root), make_handlers(institution_code, engine))


def serve_once(terminal: Terminal, institution_code: str, engine=None) -> None:
    terminal.run_once()
    serve_reader(terminal, institution_code, engine)


def run_terminal(root: Path, institution_code: str, *, once: bool = False, engine=None,
                 stop_event: threading.Event | None = None, poll_interval: float = 0.05) -> None:
    terminal = make_terminal(root, institution_code, engine)
    stop_event = stop_event or threading.Event()
    while not stop_event.is_set():
        serve_once(terminal, institution_code, engine)
        if once:
            return
        time.sleep(poll_interval)
