"""The terminal folder as the clinic software that watches it meets it: real inotify watchers, files of other
kinds left alone, SmartKarte's error files, locked files, the face files' encoding.

What the clients rely on, restated (docs/oqs.md names the commits read):
* SmartKarte listens for *Created* on the response folder (and its subfolders) and reads the file at once;
  for an error it expects the request file to appear in the response folder with a same-name ``.err`` beside it,
  and it matches both on the request's ``<ArbitraryFileIdentifier>…</ArbitraryFileIdentifier>`` text.
* myclinic-ts's face server forwards a file name to its browser only on a ``change`` event of ``fs.watch``.
* OQSDrug2 writes its own kinds of request (薬剤・健診 ``YZK``/``TKK``, bulk ``OQSmutic``/``OQSmuhvq``/``OQSmuonq``)
  into the same ``req`` folder for the real terminal to answer.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from lxml import etree
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers.inotify import InotifyObserver

from onshi.interop.oqs.terminal import Terminal, TerminalHandlers, answer_name, face_encoding
from onshi.verify.result import ReferenceClass, VerificationRequest

NOW = datetime(2026, 11, 22, 0, 30, 15, tzinfo=timezone.utc)


class Recorder(FileSystemEventHandler):
    """Every event in a folder, in order, with the bytes of the named file as they were when it arrived."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, bytes | None]] = []
        self.lock = threading.Lock()

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("opened", "closed_no_write"):
            return
        path = Path(os.fsdecode(getattr(event, "dest_path", "") or event.src_path))
        try:
            data = path.read_bytes()
        except OSError:
            data = None
        with self.lock:
            self.events.append((event.event_type, path.name, data))

    def names(self) -> list[str]:
        with self.lock:
            return [name for _, name, _ in self.events]

    def first(self, name: str) -> tuple[str, bytes | None]:
        with self.lock:
            return next((kind, data) for kind, n, data in self.events if n == name)


@pytest.fixture
def watched(tmp_path):
    """A terminal on a fresh OQS folder with res/ and face/ watched by inotify before anything is written."""
    from tests.interop.oqs.test_oqs_terminal import FakeService  # same folder

    from onshi.verify.result import Validity, VerificationOutcome

    service = FakeService(VerificationOutcome(Validity.NOT_FOUND))
    term = Terminal(tmp_path / "OQS", service.handlers(), clock=lambda: NOW, partial_grace=0)
    observer = InotifyObserver()
    res, face = Recorder(), Recorder()
    observer.schedule(res, str(term.res), recursive=True)
    observer.schedule(face, str(term.face), recursive=True)
    observer.start()
    yield term, service, res, face
    observer.stop()
    observer.join(timeout=5)


def settle(rec: Recorder, expected: set[str], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not expected <= set(rec.names()) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)  # and whatever else would follow


def complete_xml(data: bytes | None) -> bool:
    return data is not None and data.rstrip().endswith(b"</XmlMsg>") and etree.fromstring(data) is not None


def test_answers_appear_once_under_their_final_name_and_complete(watched, request_xml):
    term, _, res, _ = watched
    names = [f"OQSsiquc01req_2026112200{i:02d}.xml" for i in range(20)]
    for name in names:
        (term.req / name).write_bytes(request_xml(afi=name))
    term.run_once()
    answers = {answer_name(n) for n in names}
    settle(res, answers)
    assert set(res.names()) == answers  # never a temporary name in res/
    for answer in answers:
        kind, data = res.first(answer)
        assert kind in ("created", "moved")  # inotify IN_MOVED_TO: .NET "Created", node "rename"
        assert complete_xml(data), f"{answer} was incomplete when its first event arrived"
    # then its time is set: the IN_ATTRIB that node's fs.watch reports as "change" with the final name
    assert {n for kind, n, _ in res.events if kind in ("attrib", "modified")} == answers
    assert not list(term.tmp.iterdir())


def test_face_files_appear_once_under_their_final_name_and_complete(watched, valid_outcome):
    term, _, _, face = watched
    card = VerificationRequest(reference_class=ReferenceClass.CARD, care_date=date(2026, 11, 22),
                               institution_code=None, arbitrary_file_identifier=None, insurer_number=None,
                               symbol=None, number=None, branch=None, birth_date=None, limit_consent=True,
                               arbitrary_identifier=None, card_serial="X1")
    paths = [term.write_face_result("1311234569", valid_outcome(), card, NOW) for _ in range(5)]
    settle(face, {p.name for p in paths})
    assert set(face.names()) == {p.name for p in paths}
    for p in paths:
        kind, data = face.first(p.name)
        assert kind in ("created", "moved") and complete_xml(data)


OTHER_KINDS = ["YZKsiquc01req_0120261122093015000123.xml", "TKKsiquc01req_0220261122093015000123.xml",
               "OQSmutic01req_20261122093015.xml", "OQSmutic02req_20261122093015.xml",
               "OQSmuhvq01req_20261122093015.xml", "OQSmuonq02req_20261122093015.xml",
               "notes.txt", "OQSsiquc01req_20261122.tmp"]


def test_requests_of_other_kinds_are_left_exactly_where_they_are(watched, request_xml):
    term, service, res, _ = watched
    for i, name in enumerate(OTHER_KINDS):
        (term.req / name).write_bytes(b"<XmlMsg>for the real terminal</XmlMsg>" if i % 2 else b"\x00 garbage")
        os.utime(term.req / name, (1_000_000 + i, 1_000_000 + i))
    before = {n: ((term.req / n).read_bytes(), (term.req / n).stat().st_mtime) for n in OTHER_KINDS}
    (term.req / "OQSsiquc01req_202611220001.xml").write_bytes(request_xml())
    for _ in range(3):
        term.run_once()
    assert {n: ((term.req / n).read_bytes(), (term.req / n).stat().st_mtime) for n in OTHER_KINDS} == before
    assert sorted(p.name for p in term.req.iterdir()) == sorted(OTHER_KINDS)
    settle(res, {"OQSsiquc01res_202611220001.xml"})
    assert set(res.names()) == {"OQSsiquc01res_202611220001.xml"}  # nothing written for the other kinds
    assert len(service.verified) == 1


def test_unreadable_request_gets_smartkarte_error_file(watched):
    """SmartKarte: on *Created* of the request name in res/, it reads ``<stem>.err`` beside it — so the .err is
    there first; both carry the request's ArbitraryFileIdentifier element, which it matches on."""
    term, _, res, _ = watched
    name = "OQSmuquc01req_20261122093015.xml"
    element = "<ArbitraryFileIdentifier>SK-予約-17</ArbitraryFileIdentifier>".encode()
    (term.req / name).write_bytes(b'<?xml version="1.0" encoding="UTF-8"?><XmlMsg><MessageHeader>' + element
                                  + b"\x00\x00<<<")
    term.run_once()
    err = "OQSmuquc01req_20261122093015.err"
    settle(res, {err, name})
    order = [n for n in res.names() if n in (err, name)]
    assert order.index(err) < order.index(name)  # the .err exists when the request appears beside it
    kind, data = res.first(err)
    assert kind in ("created", "moved") and data is not None
    text = data.decode("utf-8")
    assert text.split(" ", 1)[0] in ("E0001", "E0003", "E0005")
    assert element.decode() in text
    assert element.decode() in (term.res / name).read_text(encoding="utf-8")  # the request itself, moved
    assert not (term.req / name).exists()
    assert not [n for n in res.names() if n.startswith(".") or n.endswith(".tmp")]
    assert term.run_once() == []  # answered once


def test_fetch_error_file_carries_the_reception_number(watched):
    term, _, _, _ = watched
    (term.req / "OQSmuquc02req_1.xml").write_bytes(b"<XmlMsg><MessageHeader><ReceptionNumber>R-42</ReceptionNumber>"
                                                   b"\x00\x00")  # cut inside the header
    term.run_once()
    assert "<ReceptionNumber>R-42</ReceptionNumber>" in (term.res / "OQSmuquc02req_1.err").read_text()


def test_locked_request_is_retried_then_given_an_error(watched, request_xml, monkeypatch):
    term, service, _, _ = watched
    term.partial_grace = 0.2
    name = "OQSsiquc01req_202611220077.xml"
    (term.req / name).write_bytes(request_xml())
    real = Path.read_bytes
    locked = {name}

    def read_bytes(self):
        if self.name in locked:
            raise PermissionError(13, "The process cannot access the file because it is being used")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    assert term.run_once() == []  # maybe a writer still holds it
    locked.clear()
    assert term.run_once() == [name]  # released within the grace period: answered normally
    assert (term.res / answer_name(name)).exists() and len(service.verified) == 1

    second = "OQSsiquc01req_202611220078.xml"
    (term.req / second).write_bytes(request_xml())
    locked.add(second)
    assert term.run_once() == []
    time.sleep(0.25)
    assert term.run_once() == [second]
    assert (term.res / "OQSsiquc01req_202611220078.err").read_text().startswith("E0001")
    assert len(service.verified) == 1


@pytest.mark.parametrize("typed, expected, declared", [("UTF-8", "utf-8", b'encoding="UTF-8"'),
                                                       ("CP932", "shift_jis", b'encoding="Shift_JIS"'),
                                                       ("shift_jis", "shift_jis", b'encoding="Shift_JIS"')])
def test_face_encoding(tmp_path, valid_outcome, typed, expected, declared):
    from tests.interop.oqs.test_oqs_terminal import FakeService

    assert face_encoding(typed) == expected
    term = Terminal(tmp_path / "OQS", FakeService(valid_outcome()).handlers(), face_encoding=face_encoding(typed))
    card = VerificationRequest(reference_class=ReferenceClass.CARD, care_date=date(2026, 11, 22),
                               institution_code=None, arbitrary_file_identifier=None, insurer_number=None,
                               symbol=None, number=None, branch=None, birth_date=None, limit_consent=False,
                               arbitrary_identifier=None, card_serial="X1")
    data = term.write_face_result("1311234569", valid_outcome(), card, NOW).read_bytes()
    assert declared in data[:80]
    data.decode("cp932" if expected == "shift_jis" else "utf-8")


def test_face_encoding_refuses_others():
    from typer.testing import CliRunner

    from onshi.cli import app

    with pytest.raises(ValueError):
        face_encoding("EUC-JP")
    result = CliRunner().invoke(app, ["terminal", "--dir", "/nonexistent", "--institution", "1311234569",
                                      "--face-encoding", "EUC-JP"])
    assert result.exit_code == 2 and "face-encoding" in result.output


def test_leftovers_of_a_killed_terminal_are_swept(tmp_path, valid_outcome):
    from tests.interop.oqs.test_oqs_terminal import FakeService

    scratch = tmp_path / "OQS" / ".onshi-tmp"
    scratch.mkdir(parents=True)
    dead = subprocess_pid_that_exited()
    (scratch / f"OQSsiquc01res_1.xml.{dead}.0").write_bytes(b"<XmlMsg")
    (scratch / f"OQSsiquc01res_2.xml.{os.getpid()}.0").write_bytes(b"<XmlMsg")
    Terminal(tmp_path / "OQS", FakeService(valid_outcome()).handlers())
    assert sorted(p.name for p in scratch.iterdir()) == [f"OQSsiquc01res_2.xml.{os.getpid()}.0"]


def subprocess_pid_that_exited() -> int:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)
