"""The verification terminal's file exchange (資格確認端末の連携フォルダ).

Clinic software writes a request file into ``OQS/req``; the terminal answers
with the same file name, ``req_`` replaced by ``res_``, in ``OQS/res``.  Card
results are pushed into ``OQS/face``.  This module serves that folder and
calls the verification service through :class:`TerminalHandlers` — plain
callables, so it runs and is tested without a database.

Long: one folder protocol — which files are requests, when a file is complete, how an answer is written so that a
watcher sees it once, and what a bad file gets — read best in one place; the messages' parsing and rendering
(parse, render, clinical), the journal and the service calls (terminal_service) already live beside it.

The protocol, exactly (also in ``docs/oqs.md``):

* Only ``*.xml`` files in ``req`` whose name starts with one of :data:`PREFIXES` are requests — and, when the
  handlers serve them (``TerminalHandlers.clinical``), the 薬剤・健診 requests ``YZK…``/``TKK…``
  (:mod:`onshi.interop.oqs.clinical`).  Every other file — another kind of request (the
  ``OQSmutic``/``OQSmuhvq``/``OQSmuonq`` bulk families, …) that a real terminal sharing the folder
  serves, a hidden or temporary file, an ``.err`` — is left exactly where it is, untouched.
* A request is read when it appears (polling with :func:`os.scandir`).  When
  it cannot be read *as XML* (truncated, undecodable, empty) or cannot be opened
  at all (locked) it may still be being written: it is retried on every poll
  until it has not changed for ``partial_grace`` seconds, and only then given up.
* Every file the terminal writes into ``res`` or ``face`` is written in
  ``OQS/.onshi-tmp`` (outside the watched folders, same filesystem), flushed,
  fsync'ed, moved into place with :func:`os.replace` and then touched
  (:func:`os.utime`).  A watcher of ``res``/``face`` therefore sees the final name
  first, once, complete: inotify ``IN_MOVED_TO`` (then ``IN_ATTRIB``), .NET
  ``FileSystemWatcher`` *Created*, node ``fs.watch`` ``rename`` then ``change``.
  The answer is in the encoding of the request (UTF-8 unless it declares
  Shift_JIS) with a matching ``CharacterCodeIdentifier``.
* After the answer is in place the request file is deleted.
* A request whose header can be read but whose content is wrong is answered
  with ``SegmentOfResult`` 9 (``ErrorCode``/``ErrorMessage``) under the usual
  answer name.  A request whose header cannot be read (not XML, wrong
  encoding, locked past the grace period) gets no answer but an error file, as
  SmartKarte reads it: ``OQS/res/<name without .xml>.err`` is written first — a line
  ``<ErrorCode> <ErrorMessage>`` followed by the request's own
  ``<ArbitraryFileIdentifier>…</ArbitraryFileIdentifier>`` (and, for a fetch,
  ``<ReceptionNumber>…</ReceptionNumber>``) copied byte for byte when they can be
  found, in the request's declared encoding (UTF-8 when none can be found) — and
  then the request itself is moved from ``req`` to ``res`` beside it.
* A failure of the service (an exception other than ``VerificationError``) is
  answered with ``E0901``; the loop never stops on one bad file.
* With ``TerminalHandlers.answer_once`` the service claims each request (its
  name and the SHA-256 of its bytes) durably before it is verified — with ``claim_all``, every request
  parsed in one scan together, in one commit — and records
  the answer with the verification, so a terminal restarted after ``kill -9``
  delivers a recorded answer again instead of verifying twice.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from onshi.config import get_settings
from onshi.interop.oqs import clinical as oqs_clinical
from onshi.interop.oqs import xmlmsg
from onshi.interop.oqs import wire
from onshi.interop.oqs.wire import ErrorCode
from onshi.store import clock
from onshi.verify.result import (
    ReferenceClass,
    ReferenceRegistration,
    VerificationError,
    VerificationOutcome,
    VerificationRequest,
)

__all__ = ["Terminal", "TerminalHandlers", "PREFIXES", "answer_name", "face_encoding", "face_file_name", "served"]

log = logging.getLogger(__name__)

SINGLE = "OQSsiquc01req_"            #: single verification
BULK_UPLOAD = "OQSmuquc01req_"       #: bulk verification upload → ReceptionNumber
BULK_FETCH = "OQSmuquc02req_"        #: bulk verification fetch by ReceptionNumber
REGISTER = "OQSsiimm01req_"          #: register one 照会番号
REGISTER_BULK = "OQSmuimm01req_"     #: register many 照会番号
REGISTER_BULK_FETCH = "OQSmuimm02req_"  #: fetch the result of a bulk registration by ReceptionNumber
PREFIXES = (SINGLE, BULK_UPLOAD, BULK_FETCH, REGISTER, REGISTER_BULK, REGISTER_BULK_FETCH)
DRUG, CHECKUP = oqs_clinical.DRUG, oqs_clinical.CHECKUP  #: 薬剤情報 / 特定健診情報 (OQSDrug2), when served

#: Parse errors that a file still being written produces; only these are retried.
_ECHO_HEAD = 65_536  #: bytes of a rejected file read for the identifiers its .err echoes
_MAYBE_PARTIAL = {ErrorCode.MALFORMED.value, ErrorCode.ENCODING.value}


@dataclass(frozen=True)
class TerminalHandlers:
    """What the terminal needs from the verification service (injected; no database here).

    * ``verify(request) -> VerificationOutcome`` (may raise ``VerificationError``)
    * ``register_reference_number(institution_code, registration) -> None`` (may raise ``VerificationError``)
    * ``submit_bulk(institution_code, requests) -> reception_number``
    * ``fetch_bulk(institution_code, reception_number)`` → ``onshi.verify.bulk.Pending`` (or ``None``) while
      processing, else a list of
      ``(request, outcome)`` where an outcome may be a ``VerificationError`` for that item; raises
      ``VerificationError`` (E0401) for an unknown reception number.
    * ``submit_registrations(request) -> reception_number`` registers every item of a bulk 照会番号 registration
      and keeps each outcome with what was sent; ``fetch_registrations(institution_code, reception_number)`` →
      ``(the upload's ArbitraryFileIdentifier, [(as_sent, None or VerificationError), …])`` or E0401.  Without
      them (a test's fakes) the terminal keeps them in memory, through ``register_reference_number``.
    """

    verify: Callable[[VerificationRequest], VerificationOutcome]
    register_reference_number: Callable[[str, ReferenceRegistration], None]
    submit_bulk: Callable[[str, list[VerificationRequest]], str]
    fetch_bulk: Callable[[str, str], "list[xmlmsg.BulkItemResult] | object | None"]
    submit_registrations: "Callable[[xmlmsg.ReferenceRegistrationRequest], str] | None" = None
    fetch_registrations: "Callable[[str, str], tuple[str | None, list[xmlmsg.RegistrationItemResult]]] | None" = None
    #: ``answer_once(request_name, request_bytes, produce) -> answer``: claim the request durably, call
    #: ``produce()`` (which calls the handlers above and renders the answer) in the transaction that records
    #: the answer, or return the answer already recorded for the same name and bytes.  None: just ``produce()``.
    answer_once: Callable[[str, bytes, Callable[[], bytes]], bytes] | None = None
    #: ``claim_all([(request_name, request_bytes), …])``: claim every request of one scan durably, together (one
    #: commit), before any of them is verified; ``answer_once`` then uses those claims.  None: each on its own.
    claim_all: Callable[[list[tuple[str, bytes]]], None] | None = None
    #: ``clinical(request) -> ClinicalData | ClinicalRefusal`` for the 薬剤・健診 requests
    #: (:class:`onshi.interop.oqs.clinical.ClinicalRequest`; may raise ``VerificationError``).  None: those files
    #: are not requests here and are left where they are.
    clinical: ("Callable[[oqs_clinical.ClinicalRequest], oqs_clinical.ClinicalData | oqs_clinical.ClinicalRefusal]"
               " | None") = None


def answer_name(request_name: str) -> str:
    """The answer's file name: ``req_`` replaced by ``res_``.

    >>> answer_name("OQSsiquc01req_202611220001.xml")
    'OQSsiquc01res_202611220001.xml'
    """
    return request_name.replace("req_", "res_", 1)


def face_file_name(day_sequence: str, when: datetime) -> str:
    """``OQSsiquc01res_face_<yyyyMMdd + 4-digit sequence>_<yyyyMMddHHmmss>.xml`` (time in JST).

    >>> face_file_name("202611220001", datetime(2026, 11, 22, 0, 30, 15, tzinfo=timezone.utc))
    'OQSsiquc01res_face_202611220001_20261122093015.xml'
    """
    return f"OQSsiquc01res_face_{day_sequence}_{clock.to_japan_time(when):%Y%m%d%H%M%S}.xml"


def served(name: str, clinical: bool = False) -> bool:
    """Is this file in ``req`` a request this terminal answers?  Everything else is left where it is.  The
    薬剤・健診 requests are only when *clinical* (the terminal's handlers serve them).

    >>> served("OQSsiquc01req_202611220001.xml"), served("YZKsiquc01req_022612060930001.xml")
    (True, False)
    >>> served("YZKsiquc01req_022612060930001.xml", clinical=True)
    True
    """
    prefixes = PREFIXES + oqs_clinical.PREFIXES if clinical else PREFIXES
    return name.lower().endswith(".xml") and any(name.startswith(p) for p in prefixes)


#: What SmartKarte matches an ``.err`` on: the request's own elements, copied byte for byte.
_ECHOED = (re.compile(rb"<ArbitraryFileIdentifier>.*?</ArbitraryFileIdentifier>", re.S),
           re.compile(rb"<ReceptionNumber>.*?</ReceptionNumber>", re.S))


def _utcnow() -> datetime:
    return clock.utcnow().replace(tzinfo=timezone.utc)


@dataclass
class _Seen:
    first: float
    size: int
    mtime: float


@dataclass(frozen=True)
class _Ready:
    """A request read and parsed in this scan, waiting for the scan's claim to be answered."""

    name: str
    path: Path
    data: bytes
    produce: Callable[[], bytes]


class Terminal:
    """Serves ``root/req`` → ``root/res`` (``root`` is the shared ``OQS`` folder).

    ``clock`` gives the processing time (aware, or naive UTC); ``partial_grace``
    is how long an unreadable request may keep changing before it is given up;
    ``face_encoding`` is the encoding of pushed card results.
    """

    def __init__(self, root: Path, handlers: TerminalHandlers, *, clock: Callable[[], datetime] = _utcnow,
                 partial_grace: float = 1.0, face_encoding: str = "utf-8") -> None:
        self.root = Path(root)
        self.handlers = handlers
        self.clock = clock
        self.partial_grace = partial_grace
        self.face_encoding = face_encoding
        self.req, self.res, self.face = (self.root / d for d in ("req", "res", "face"))
        self.tmp = self.root / ".onshi-tmp"  # outside the watched folders, on the same filesystem
        for d in (self.req, self.res, self.face, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        self._seen: dict[str, _Seen] = {}
        self._given_up: set[str] = set()  # rejected but could not be moved (locked): never answered twice
        self._tmp_names = itertools.count()
        self._sweep_tmp()
        self._registrations: dict[tuple[str, str], tuple[str | None, list[xmlmsg.RegistrationItemResult]]] = {}
        self._face_lock = threading.Lock()

    # ------------------------------------------------------------ loop

    def pending(self) -> list[str]:
        """Names in ``req`` that are candidates for processing, oldest first."""
        try:
            entries = [e for e in os.scandir(self.req) if e.is_file(follow_symlinks=False)]
        except OSError:
            log.exception("cannot list %s", self.req)
            return []
        names = []
        for e in entries:
            n = e.name
            if not served(n, self.handlers.clinical is not None) or n in self._given_up:
                continue
            try:
                names.append((e.stat().st_mtime, n))
            except OSError:
                continue
        return [n for _, n in sorted(names)]

    def run_once(self) -> list[str]:
        """Process every pending request once; returns the names that were answered or set aside.

        Two passes: every file is read and parsed (what cannot be is answered or set aside at once), then the
        parsed ones are claimed together (``claim_all``, one commit) and answered one by one."""
        done: list[str] = []
        ready: list[_Ready] = []
        for name in self.pending():
            self._guard(name, done, lambda: self._process(name, ready))
        if ready and self.handlers.claim_all is not None:
            try:
                self.handlers.claim_all([(r.name, r.data) for r in ready])
            except Exception:  # answer_once claims each on its own then
                log.exception("claiming %d requests together failed", len(ready))
        for r in ready:
            self._guard(r.name, done, lambda: self._answer(r))
        return done

    def _guard(self, name: str, done: list[str], step: Callable[[], bool]) -> None:
        try:
            if step():
                done.append(name)
        except Exception:  # never let one file stop the terminal, nor retry it forever
            log.exception("unexpected failure on %s", name)
            try:
                self._reject(name, b"", wire.error(ErrorCode.INTERNAL, "処理できませんでした (internal "
                                                                        "error on this file)", None))
                done.append(name)
            except Exception:
                log.exception("cannot set %s aside", name)

    def serve_forever(self, poll_interval: float = 0.05, stop_event: threading.Event | None = None) -> None:
        """Poll ``req`` until ``stop_event`` is set."""
        stop_event = stop_event or threading.Event()
        while not stop_event.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("terminal poll failed")
            stop_event.wait(poll_interval)

    # ------------------------------------------------------------ one file

    def _process(self, name: str, ready: "list[_Ready] | None" = None) -> bool:
        """Read and parse one request; answer it now, or (``ready`` given, parsed fine) queue it for
        :meth:`_answer` after the scan's claim.  False: not done (gone, or perhaps still being written)."""
        path = self.req / name
        try:
            st = path.stat()
        except FileNotFoundError:
            self._seen.pop(name, None)
            return False
        limit = get_settings().max_xml_bytes
        if st.st_size > limit:  # refused unread: a huge file never enters memory
            if self._still_writing(name, st):
                return False
            self._reject(name, b"", wire.error(ErrorCode.STRUCTURE, f"要求ファイルが大きすぎます ({limit} バイトまで) "
                                                                     f"(request file of {st.st_size} bytes; at most "
                                                                     f"{limit})", None))
            return True
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            self._seen.pop(name, None)
            return False
        except OSError:  # locked (Windows sharing violation) or unreadable: it may be being written
            if self._still_writing(name, st):
                return False
            self._reject(name, b"", wire.error(ErrorCode.MALFORMED, "要求ファイルを読めません (request file cannot "
                                                                     "be read: locked or unreadable)", None))
            return True
        prefix = next(p for p in PREFIXES + oqs_clinical.PREFIXES if name.startswith(p))
        encoding = xmlmsg.detect_encoding(data)
        try:
            produce = self._prepare(prefix, data, encoding)
        except VerificationError as exc:
            if exc.code in _MAYBE_PARTIAL and self._still_writing(name, st):
                return False
            header = getattr(exc, "request_header", None) or xmlmsg.read_header(data)
            if header is None:
                self._reject(name, data, exc)
                return True
            render_error = oqs_clinical.render_error if prefix in oqs_clinical.PREFIXES else xmlmsg.render_error
            answer = render_error(exc, header, encoding=encoding, processed_at=self.clock())
        else:
            if ready is not None:
                ready.append(_Ready(name, path, data, produce))
                return False
            return self._answer(_Ready(name, path, data, produce))
        return self._deliver(name, path, answer)

    def _answer(self, r: "_Ready") -> bool:
        once = self.handlers.answer_once
        return self._deliver(r.name, r.path, once(r.name, r.data, r.produce) if once is not None else r.produce())

    def _deliver(self, name: str, path: Path, answer: bytes) -> bool:
        self._write_atomic(self.res / answer_name(name), answer)
        self._remove(path)
        self._seen.pop(name, None)
        return True

    def _still_writing(self, name: str, st: os.stat_result) -> bool:
        now = time.monotonic()
        seen = self._seen.get(name)
        if seen is None or seen.size != st.st_size or seen.mtime != st.st_mtime:
            self._seen[name] = _Seen(now, st.st_size, st.st_mtime)
            return self.partial_grace > 0
        return now - seen.first < self.partial_grace

    def _prepare(self, prefix: str, data: bytes, encoding: str) -> Callable[[], bytes]:
        """Parse; return what calls the service and renders.  ``VerificationError`` from parsing propagates
        (see _process) before anything is claimed or verified."""
        now = self.clock()
        today = clock.to_japan_time(now).date()
        if prefix in oqs_clinical.PREFIXES:
            creq = oqs_clinical.parse(data, oqs_clinical.what_of(prefix))
            return lambda: self._clinical(creq, encoding, now)
        if prefix == SINGLE:
            req = xmlmsg.parse_request(data, today=today)
            return lambda: self._guarded(req, encoding, lambda: xmlmsg.render_result(
                self.handlers.verify(req), req, encoding=encoding, processed_at=now))
        if prefix == BULK_UPLOAD:
            bulk = xmlmsg.parse_bulk_request(data, today=today)
            return lambda: self._guarded(bulk, encoding, lambda: xmlmsg.render_bulk_accepted(
                bulk, self.handlers.submit_bulk(bulk.institution_code, list(bulk.items)), received_at=now,
                encoding=encoding, processed_at=now))
        if prefix == BULK_FETCH:
            fetch = xmlmsg.parse_bulk_fetch(data)
            return lambda: self._guarded(fetch, encoding, lambda: xmlmsg.render_bulk_result(
                fetch, self.handlers.fetch_bulk(fetch.institution_code, fetch.reception_number),
                encoding=encoding, processed_at=now))
        if prefix in (REGISTER, REGISTER_BULK):
            reg = xmlmsg.parse_reference_registration(data)
            if prefix == REGISTER and len(reg.registrations) != 1:
                raise wire.error(ErrorCode.STRUCTURE, "単件登録は1件です (one ReferenceNumberRegistrationInfo per "
                                                       f"{REGISTER} file; use {REGISTER_BULK} for more)",
                                  "ReferenceNumberRegistrationInfo")
            if prefix == REGISTER_BULK:
                return lambda: self._guarded(reg, encoding, lambda: self._registration_accepted(reg, encoding, now))
            return lambda: self._guarded(reg, encoding, lambda: self._register(reg, encoding=encoding, now=now))
        fetch = xmlmsg.parse_bulk_fetch(data)  # REGISTER_BULK_FETCH
        return lambda: self._guarded(fetch, encoding, lambda: self._registration_result(fetch, encoding, now))

    def _register(self, reg: xmlmsg.ReferenceRegistrationRequest, *, encoding: str, now: datetime) -> bytes:
        errors: dict[int, VerificationError] = {}
        for i, item in enumerate(reg.registrations):
            try:
                self.handlers.register_reference_number(reg.institution_code, item)
            except VerificationError as exc:
                errors[i] = exc
        return xmlmsg.render_reference_registration_result(reg, errors, encoding=encoding, processed_at=now)

    def _submit_registrations(self, reg: xmlmsg.ReferenceRegistrationRequest, now: datetime) -> str:
        if self.handlers.submit_registrations is not None:
            return self.handlers.submit_registrations(reg)
        items: list[xmlmsg.RegistrationItemResult] = []
        for item, sent in zip(reg.registrations, reg.as_sent):
            try:
                self.handlers.register_reference_number(reg.institution_code, item)
                items.append((sent, None))
            except VerificationError as exc:
                items.append((sent, exc))
        number = f"{clock.to_japan_time(now):%Y%m%d%H%M%S}{secrets.randbelow(10**6):06d}"
        self._registrations[(reg.institution_code, number)] = (reg.arbitrary_file_identifier, items)
        return number

    def _stored_registrations(self, institution_code: str, reception_number: str):
        if self.handlers.fetch_registrations is not None:
            return self.handlers.fetch_registrations(institution_code, reception_number)
        if (stored := self._registrations.get((institution_code, reception_number))) is not None:
            return stored
        raise wire.error(ErrorCode.UNKNOWN_RECEPTION, "この受付番号の登録結果はありません (unknown ReceptionNumber "
                         "for 照会番号 registration)", "ReceptionNumber")

    def _registration_accepted(self, reg: xmlmsg.ReferenceRegistrationRequest, encoding: str, now: datetime) -> bytes:
        number = self._submit_registrations(reg, now)
        _, items = self._stored_registrations(reg.institution_code, number)
        return xmlmsg.render_registration_accepted(reg, number, items, received_at=now, encoding=encoding,
                                                   processed_at=now)

    def _registration_result(self, fetch: xmlmsg.BulkFetchRequest, encoding: str, now: datetime) -> bytes:
        afi, items = self._stored_registrations(fetch.institution_code, fetch.reception_number)
        return xmlmsg.render_registration_result(fetch, items, arbitrary_file_identifier=afi, encoding=encoding,
                                                 processed_at=now)

    def _clinical(self, req: "oqs_clinical.ClinicalRequest", encoding: str, now: datetime) -> bytes:
        """A 薬剤・健診 request: PDF is not made (refused, said why); else the service's view or its refusal.  Every
        error is answered in the shape the client reads (``ResultCode`` ≠ 1 + ``MessageContents``)."""
        if req.pdf:
            return oqs_clinical.render_refusal(oqs_clinical.ClinicalRefusal(
                "pdf", "onshi はPDFでの提供に対応していません。XML (FileCategory 2"
                + (" または 4" if req.what == "drugs" else "") + ") で要求してください (PDF is not produced; ask for "
                "XML)"), req, encoding=encoding, processed_at=now)
        try:
            got = self.handlers.clinical(req)
        except VerificationError as exc:
            return oqs_clinical.render_error(exc, req, encoding=encoding, processed_at=now)
        except Exception:
            log.exception("service failure")
            exc = wire.error(ErrorCode.INTERNAL, "処理でエラーが発生しました。しばらくしてから再度要求してください "
                                                  "(internal error; retry later)", None)
            return oqs_clinical.render_error(exc, req, encoding=encoding, processed_at=now)
        if isinstance(got, oqs_clinical.ClinicalRefusal):
            return oqs_clinical.render_refusal(got, req, encoding=encoding, processed_at=now)
        return oqs_clinical.render(got, req, encoding=encoding, processed_at=now)

    def _guarded(self, source: object, encoding: str, produce: Callable[[], bytes]) -> bytes:
        """Call the service and render; its errors become SegmentOfResult 9 echoing ``source``."""
        try:
            return produce()
        except VerificationError as exc:
            return xmlmsg.render_error(exc, source, encoding=encoding, processed_at=self.clock())
        except Exception:
            log.exception("service failure")
            exc = wire.error(ErrorCode.INTERNAL, "資格確認処理でエラーが発生しました。しばらくしてから再度照会してください "
                                                  "(internal error; retry later)", None)
            return xmlmsg.render_error(exc, source, encoding=encoding, processed_at=self.clock())

    # ------------------------------------------------------------ files

    def _reject(self, name: str, data: bytes, exc: VerificationError) -> None:
        """No readable header: ``res/<stem>.err`` (SmartKarte's convention), then the request moved beside it."""
        stem = name[:-4] if name.lower().endswith(".xml") else name
        if not data:  # best effort, for the identifiers the .err echoes (they stand in the header: the head is enough)
            try:
                with open(self.req / name, "rb") as fh:
                    data = fh.read(_ECHO_HEAD)
            except OSError:
                pass
        enc = xmlmsg.detect_encoding(data)
        line = f"{exc.code} {exc.message}\n"
        payload = line.encode("cp932", "onshi-geta") if enc == "shift_jis" else line.encode("utf-8")
        for pattern in _ECHOED:
            if m := pattern.search(data):
                payload += m.group(0) + b"\n"
        self._write_atomic(self.res / f"{stem}.err", payload)
        try:
            os.replace(self.req / name, self.res / name)
        except FileNotFoundError:
            pass
        except OSError:  # locked: leave it, and never answer it again in this run
            log.warning("cannot move %s out of req/", name)
            self._given_up.add(name)
        self._seen.pop(name, None)
        log.warning("request %s rejected: %s", name, exc.code)

    def _sweep_tmp(self) -> None:
        """Remove what a terminal killed mid-write left in ``.onshi-tmp`` (``<name>.<pid>.<n>`` of a dead pid)."""
        for entry in os.scandir(self.tmp):
            pid = entry.name.rsplit(".", 2)[-2] if entry.name.count(".") >= 2 else ""
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                Path(entry.path).unlink(missing_ok=True)
            except OSError:
                pass

    def _write_atomic(self, path: Path, data: bytes) -> None:
        """Write in ``.onshi-tmp``, move into place, touch: watchers of ``path``'s folder see its name once."""
        tmp = self.tmp / f"{path.name}.{os.getpid()}.{next(self._tmp_names)}"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.utime(path)  # IN_ATTRIB: node's fs.watch reports a "change" carrying the final name

    @staticmethod
    def _remove(path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass

    # ------------------------------------------------------------ card results (pushed)

    def write_face_result(self, institution_code: str, outcome: VerificationOutcome, request: VerificationRequest,
                          when: datetime, *, encoding: str | None = None,
                          holder: "xmlmsg.CardHolder | None" = None) -> Path:
        """Push a card (マイナ保険証) result into ``face`` with ``ReferenceClassification`` 1.

        The registered 照会番号 travels in each answer's ``reference_number``.
        The name's middle part is ``yyyyMMdd`` + a 4-digit daily sequence, like
        request names; it never overwrites an existing file.
        """
        req = replace(request, reference_class=ReferenceClass.CARD, institution_code=institution_code)
        enc = encoding or self.face_encoding
        data = xmlmsg.render_result(outcome, req, encoding=enc, processed_at=when,
                                    holder=holder or xmlmsg.CardHolder())  # one result even without a qualification
        return self._push_face(data, when)

    def write_face_error(self, institution_code: str, error: VerificationError, request: VerificationRequest,
                         when: datetime, *, encoding: str | None = None,
                         holder: "xmlmsg.CardHolder | None" = None) -> Path:
        """Push a card use that failed (unknown certificate serial, institution not active, …) into ``face``.

        ``SegmentOfResult`` 9 with ``ErrorCode``/``ErrorMessage`` in the header, ``ProcessingResultStatus`` 2 with
        the code and message in the body, and the one ``ResultOfQualificationConfirmation`` (the holder as the
        reader read the card, empty when unknown) that face-file readers require before they show anything:
        myclinic-ts then shows 異常終了 and the message, MynaReception flags the file for a person
        (docs/oqs-clients.md).  Named, numbered and written like :meth:`write_face_result`.
        """
        req = replace(request, reference_class=ReferenceClass.CARD, institution_code=institution_code)
        data = xmlmsg.render_error(error, req, encoding=encoding or self.face_encoding, processed_at=when,
                                   holder=holder or xmlmsg.CardHolder())
        return self._push_face(data, when)

    def _push_face(self, data: bytes, when: datetime) -> Path:
        """Write a face file under the next free daily sequence number; never overwrites one."""
        day = f"{clock.to_japan_time(when):%Y%m%d}"
        with self._face_lock:
            pattern = re.compile(rf"^OQSsiquc01res_face_{day}(\d{{4}})_")
            used = [int(m.group(1)) for e in os.scandir(self.face) if (m := pattern.match(e.name))]
            seq = max(used, default=0) + 1
            path = self.face / face_file_name(f"{day}{seq:04d}", when)
            self._write_atomic(path, data)
        return path


def face_encoding(value: str) -> str:
    """The encoding of face files from what a user types: ``utf-8`` or ``shift_jis`` (Shift_JIS, CP932, SJIS).

    >>> face_encoding("UTF-8"), face_encoding("CP932"), face_encoding("Shift_JIS")
    ('utf-8', 'shift_jis', 'shift_jis')
    """
    v = value.strip().lower().replace("-", "_")
    if v in ("utf_8", "utf8"):
        return "utf-8"
    if v in ("shift_jis", "sjis", "cp932", "windows_31j", "ms932"):
        return "shift_jis"
    raise ValueError(f"face encoding must be UTF-8 or Shift_JIS (CP932), not {value!r}")
