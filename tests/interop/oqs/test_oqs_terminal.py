"""The terminal's folder exchange with real files."""

from __future__ import annotations

import os
import re
import threading
import time
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from lxml import etree

from onshi.interop.oqs import terminal as terminal_mod
from onshi.interop.oqs.terminal import Terminal, TerminalHandlers, answer_name
from onshi.verify.result import (
    ReferenceClass,
    ReferenceRegistration,
    Validity,
    VerificationError,
    VerificationOutcome,
    VerificationRequest,
)

NOW = datetime(2026, 11, 22, 0, 30, 15, tzinfo=timezone.utc)


def xml_of(path: Path) -> etree._Element:
    data = path.read_bytes()
    if b'encoding="Shift_JIS"' in data[:100]:
        data = data.decode("cp932").replace('encoding="Shift_JIS"', 'encoding="UTF-8"', 1).encode()
    return etree.fromstring(data)


def t(el, path):
    found = el.find(path)
    return None if found is None else (found.text or "")


class FakeService:
    """What the verification service would do, in memory."""

    def __init__(self, outcome: VerificationOutcome):
        self.outcome = outcome
        self.verified: list[VerificationRequest] = []
        self.registered: list[tuple[str, ReferenceRegistration]] = []
        self.bulks: dict[str, list[VerificationRequest]] = {}
        self.ready: set[str] = set()
        self.fail_with: Exception | None = None

    def verify(self, req):
        if self.fail_with:
            raise self.fail_with
        self.verified.append(req)
        return self.outcome

    def register(self, institution_code, reg):
        if reg.reference_number.startswith("BAD"):
            raise VerificationError("E0301", "照会番号が登録できません", "ReferenceNumber")
        self.registered.append((institution_code, reg))

    def submit(self, institution_code, reqs):
        number = f"RCPT{len(self.bulks) + 1:04d}"
        self.bulks[number] = reqs
        return number

    def fetch(self, institution_code, number):
        if number not in self.bulks:
            raise VerificationError("E0401", "受付番号が不明です", "ReceptionNumber")
        if number not in self.ready:
            return None
        return [(r, self.outcome if i % 2 == 0 else VerificationOutcome(Validity.NOT_FOUND))
                for i, r in enumerate(self.bulks[number])]

    def handlers(self) -> TerminalHandlers:
        return TerminalHandlers(verify=self.verify, register_reference_number=self.register,
                                submit_bulk=self.submit, fetch_bulk=self.fetch)


@pytest.fixture
def service(valid_outcome):
    return FakeService(valid_outcome())


@pytest.fixture
def term(tmp_path, service):
    return Terminal(tmp_path / "OQS", service.handlers(), clock=lambda: NOW, partial_grace=0.2)


def put(term: Terminal, name: str, data: bytes) -> Path:
    path = term.req / name
    path.write_bytes(data)
    return path


def test_folders_are_created(term):
    assert all((term.root / d).is_dir() for d in ("req", "res", "face", ".onshi-tmp"))


def test_single_request_answered_in_res_with_the_same_name(term, service, request_xml):
    put(term, "OQSsiquc01req_202611220001.xml", request_xml())
    assert term.run_once() == ["OQSsiquc01req_202611220001.xml"]
    answer = term.res / "OQSsiquc01res_202611220001.xml"
    root = xml_of(answer)
    assert t(root, "MessageHeader/SegmentOfResult") == "1"
    assert t(root, "MessageHeader/ArbitraryFileIdentifier") == "clinic-0001"
    assert t(root, "MessageHeader/CharacterCodeIdentifier") == "0"
    assert t(root, "MessageBody/QualificationValidity") == "1"
    assert not (term.req / "OQSsiquc01req_202611220001.xml").exists()
    assert service.verified[0].insurer_number == "06139992"
    assert sorted(p.name for p in term.res.iterdir()) == ["OQSsiquc01res_202611220001.xml"]  # no temp left
    assert term.run_once() == []


def test_answer_in_the_request_encoding(term, request_xml):
    put(term, "OQSsiquc01req_202611220002.xml", request_xml(encoding="Shift_JIS"))
    term.run_once()
    data = (term.res / "OQSsiquc01res_202611220002.xml").read_bytes()
    assert data.startswith(b'<?xml version="1.0" encoding="Shift_JIS" standalone="no"?>')
    assert t(xml_of(term.res / "OQSsiquc01res_202611220002.xml"), "MessageHeader/CharacterCodeIdentifier") == "1"
    data.decode("cp932")


def test_reference_number_single_and_bulk(term, service):
    single = """<?xml version="1.0" encoding="UTF-8"?><XmlMsg><MessageHeader>
<MedicalInstitutionCode>1311234569</MedicalInstitutionCode></MessageHeader><MessageBody>
<ReferenceNumberRegistrationInfo><ReferenceNumber>{ref}</ReferenceNumber><InsurerNumber>06139992</InsurerNumber>
<InsuredCardSymbol>あいう</InsuredCardSymbol><InsuredIdentificationNumber>187</InsuredIdentificationNumber>
<InsuredBranchNumber>05</InsuredBranchNumber></ReferenceNumberRegistrationInfo></MessageBody></XmlMsg>"""
    put(term, "OQSsiimm01req_202611220001.xml", single.format(ref="患者-1").encode())
    items = "".join(single.format(ref=r).split("<MessageBody>")[1].split("</MessageBody>")[0]
                    for r in ("A-1", "BAD-2", "A-3"))
    bulk = single.split("<MessageBody>")[0] + "<MessageBody>" + items + "</MessageBody></XmlMsg>"
    put(term, "OQSmuimm01req_202611220001.xml", bulk.encode())
    term.run_once()
    assert [r.reference_number for _, r in service.registered] == ["患者-1", "A-1", "A-3"]
    assert service.registered[0] == ("1311234569", ReferenceRegistration("患者-1", "06139992", "あいう", "187", "05"))
    one = xml_of(term.res / "OQSsiimm01res_202611220001.xml")
    assert t(one, "MessageHeader/SegmentOfResult") == "1"
    many = xml_of(term.res / "OQSmuimm01res_202611220001.xml")
    assert (t(many, "MessageHeader/NumberOfProcessingResult"), t(many, "MessageHeader/NumberOfError")) == ("3", "1")
    assert [t(u, "ProcessingResultStatus") for u in many.iter("ReferenceNumberRegistrationResult")] == ["1", "2", "1"]
    reception = t(many, "MessageHeader/ReceptionNumber")
    # muimm02 fetches that bulk registration's result again
    fetch = f"""<?xml version="1.0" encoding="UTF-8"?><XmlMsg><MessageHeader>
<MedicalInstitutionCode>1311234569</MedicalInstitutionCode></MessageHeader><MessageBody>
<ReceptionNumber>{reception}</ReceptionNumber></MessageBody></XmlMsg>"""
    put(term, "OQSmuimm02req_202611220001.xml", fetch.encode())
    put(term, "OQSmuimm02req_202611220002.xml", fetch.replace(reception, "nope").encode())
    term.run_once()
    again = xml_of(term.res / "OQSmuimm02res_202611220001.xml")
    assert t(again, "MessageHeader/NumberOfError") == "1"
    unknown = xml_of(term.res / "OQSmuimm02res_202611220002.xml")
    assert (t(unknown, "MessageHeader/SegmentOfResult"), t(unknown, "MessageHeader/ErrorCode")) == ("9", "E0401")


def test_single_registration_with_two_items_is_an_error(term):
    body = "".join(f"""<ReferenceNumberRegistrationInfo><ReferenceNumber>{r}</ReferenceNumber>
<InsurerNumber>06139992</InsurerNumber><InsuredIdentificationNumber>1</InsuredIdentificationNumber>
</ReferenceNumberRegistrationInfo>""" for r in "AB")
    put(term, "OQSsiimm01req_202611220009.xml", f"""<XmlMsg><MessageHeader><MedicalInstitutionCode>1311234569
</MedicalInstitutionCode></MessageHeader><MessageBody>{body}</MessageBody></XmlMsg>""".encode())
    term.run_once()
    assert t(xml_of(term.res / "OQSsiimm01res_202611220009.xml"), "MessageHeader/SegmentOfResult") == "9"


def _bulk_upload(n: int) -> bytes:
    infos = "".join(f"""<QualificationConfirmSearchInfo><InsurerNumber>06139992</InsurerNumber>
<InsuredIdentificationNumber>{100 + i}</InsuredIdentificationNumber><Birthdate>19800401</Birthdate>
<LimitApplicationCertificateRelatedConsFlg>0</LimitApplicationCertificateRelatedConsFlg>
</QualificationConfirmSearchInfo>""" for i in range(n))
    return f"""<?xml version="1.0" encoding="Shift_JIS" standalone="no"?><XmlMsg><MessageHeader>
<QualificationConfirmationDate>20261123</QualificationConfirmationDate>
<MedicalInstitutionCode>1311234569</MedicalInstitutionCode><ArbitraryFileIdentifier>明日の予約</ArbitraryFileIdentifier>
</MessageHeader><MessageBody>{infos}</MessageBody></XmlMsg>""".encode("cp932")


def test_bulk_upload_then_processing_then_results(term, service):
    put(term, "OQSmuquc01req_202611220001.xml", _bulk_upload(3))
    term.run_once()
    accepted = xml_of(term.res / "OQSmuquc01res_202611220001.xml")
    number = t(accepted, "MessageHeader/ReceptionNumber")
    assert number == "RCPT0001"
    assert t(accepted, "MessageHeader/ReceptionDateTime") == "20261122093015"
    assert t(accepted, "MessageHeader/ArbitraryFileIdentifier") == "明日の予約"
    assert [r.care_date for r in service.bulks[number]] == [date(2026, 11, 23)] * 3

    fetch = f"""<?xml version="1.0" encoding="UTF-8"?><XmlMsg><MessageHeader>
<MedicalInstitutionCode>1311234569</MedicalInstitutionCode></MessageHeader><MessageBody>
<ReceptionNumber>{number}</ReceptionNumber></MessageBody></XmlMsg>""".encode()
    put(term, "OQSmuquc02req_202611220001.xml", fetch)
    term.run_once()
    pending = xml_of(term.res / "OQSmuquc02res_202611220001.xml")
    assert t(pending, "MessageHeader/SegmentOfResult") == "2"

    service.ready.add(number)
    put(term, "OQSmuquc02req_202611220002.xml", fetch)
    term.run_once()
    done = xml_of(term.res / "OQSmuquc02res_202611220002.xml")
    h = done.find("MessageHeader")
    assert (t(h, "SegmentOfResult"), t(h, "NumberOfProcessingResult"), t(h, "NumberOfNormalProcessing"),
            t(h, "NumberOfError")) == ("1", "3", "3", "0")
    units = done.findall("MessageBody/BulkConfirmUnit")
    assert [t(u, "QualificationValidity") for u in units] == ["1", "4", "1"]
    assert t(units[0], "ReferenceNumber") == "R-0001"

    put(term, "OQSmuquc02req_202611220003.xml", fetch.replace(number.encode(), b"RCPT9999"))
    term.run_once()
    unknown = xml_of(term.res / "OQSmuquc02res_202611220003.xml")
    assert (t(unknown, "MessageHeader/SegmentOfResult"), t(unknown, "MessageHeader/ErrorCode")) == ("9", "E0401")


def test_garbage_then_good(term, service, request_xml):
    term.partial_grace = 0
    put(term, "OQSsiquc01req_202611220001.xml", b"\x00\x01 this is not xml at all \xff")
    put(term, "OQSsiquc01req_202611220002.xml", request_xml())
    # make the garbage the older file so it is served first
    os.utime(term.req / "OQSsiquc01req_202611220001.xml", (1, 1))
    term.run_once()
    # SmartKarte's convention: the request moved into res/ with a same-name .err beside it
    assert (term.res / "OQSsiquc01req_202611220001.xml").exists()
    assert not (term.req / "OQSsiquc01req_202611220001.xml").exists()
    err = term.res / "OQSsiquc01req_202611220001.err"
    assert err.read_text(encoding="utf-8").startswith("E000")
    assert not (term.res / "OQSsiquc01res_202611220001.xml").exists()
    assert t(xml_of(term.res / "OQSsiquc01res_202611220002.xml"), "MessageHeader/SegmentOfResult") == "1"
    assert term.run_once() == []  # the .err file is never taken for a request


def test_readable_header_bad_body_is_answered_with_segment_9(term, request_xml):
    put(term, "OQSsiquc01req_202611220003.xml", request_xml(insurer="0613999", afi="f-3"))
    term.run_once()
    root = xml_of(term.res / "OQSsiquc01res_202611220003.xml")
    assert (t(root, "MessageHeader/SegmentOfResult"), t(root, "MessageHeader/ErrorCode")) == ("9", "E0102")
    assert t(root, "MessageHeader/ArbitraryFileIdentifier") == "f-3"
    assert "InsurerNumber" in t(root, "MessageHeader/ErrorMessage")


def test_xml_bomb_is_set_aside(term):
    from test_oqs_xmlmsg import BILLION_LAUGHS  # same folder

    term.partial_grace = 0
    put(term, "OQSsiquc01req_202611220004.xml", BILLION_LAUGHS)
    term.run_once()
    assert (term.res / "OQSsiquc01req_202611220004.xml").exists()
    assert (term.res / "OQSsiquc01req_202611220004.err").read_text().startswith("E0004")


def test_service_failure_is_answered_and_the_loop_goes_on(term, service, request_xml):
    service.fail_with = RuntimeError("database down")
    put(term, "OQSsiquc01req_202611220005.xml", request_xml())
    term.run_once()
    root = xml_of(term.res / "OQSsiquc01res_202611220005.xml")
    assert t(root, "MessageHeader/ErrorCode") == "E0901"
    assert "database" not in t(root, "MessageHeader/ErrorMessage")
    service.fail_with = VerificationError("E0201", "マイナ保険証の電子証明書が失効しています", "card")
    put(term, "OQSsiquc01req_202611220006.xml", request_xml())
    term.run_once()
    assert t(xml_of(term.res / "OQSsiquc01res_202611220006.xml"), "MessageHeader/ErrorCode") == "E0201"


def test_partial_file_is_retried_until_complete(term, request_xml):
    full = request_xml()
    path = put(term, "OQSsiquc01req_202611220007.xml", full[:100])
    assert term.run_once() == []
    assert path.exists() and not (term.res / answer_name(path.name)).exists()
    with open(path, "ab") as f:
        f.write(full[100:])
    assert term.run_once() == [path.name]
    assert t(xml_of(term.res / answer_name(path.name)), "MessageHeader/SegmentOfResult") == "1"


def test_partial_file_given_up_after_the_grace_period(term, request_xml):
    full = request_xml(afi="cut-1")
    after_header = put(term, "OQSsiquc01req_202611220008.xml", full[:full.index(b"<InsuredCardSymbol>")])
    in_header = put(term, "OQSsiquc01req_202611220009.xml", full[:150])
    assert term.run_once() == []
    time.sleep(0.25)
    assert sorted(term.run_once()) == [after_header.name, in_header.name]
    # the header was complete: an error answer echoing it
    root = xml_of(term.res / answer_name(after_header.name))
    assert (t(root, "MessageHeader/SegmentOfResult"), t(root, "MessageHeader/ErrorCode")) == ("9", "E0001")
    assert t(root, "MessageHeader/ArbitraryFileIdentifier") == "cut-1"
    # cut inside the header: moved into res/ with an .err beside it
    assert (term.res / in_header.name).exists()
    assert (term.res / "OQSsiquc01req_202611220009.err").read_text().startswith("E0001")


def test_answers_are_written_atomically(term, request_xml, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        src, dst = Path(src), Path(dst)
        if dst.parent == term.res:
            assert src.parent == term.tmp  # written outside the watched folder, moved in whole
            assert src.read_bytes().startswith(b"<?xml") and src.read_bytes().rstrip().endswith(b"</XmlMsg>")
            assert not dst.exists()
            seen.append(dst.name)
        return real_replace(src, dst)

    monkeypatch.setattr(terminal_mod.os, "replace", spy)
    put(term, "OQSsiquc01req_202611220010.xml", request_xml())
    term.run_once()
    assert seen == ["OQSsiquc01res_202611220010.xml"]
    assert not [p for p in term.res.iterdir() if p.name.endswith(".tmp")]


def test_face_result_naming_and_reference_number(term, valid_outcome):
    card = VerificationRequest(reference_class=ReferenceClass.CARD, care_date=date(2026, 11, 22),
                               institution_code=None, arbitrary_file_identifier=None, insurer_number=None,
                               symbol=None, number=None, branch=None, birth_date=None, limit_consent=True,
                               arbitrary_identifier=None, card_serial="X1")
    first = term.write_face_result("1311234569", valid_outcome(), card, NOW)
    second = term.write_face_result("1311234569", valid_outcome(), card, NOW)
    assert first.name == "OQSsiquc01res_face_202611220001_20261122093015.xml"
    assert second.name == "OQSsiquc01res_face_202611220002_20261122093015.xml"
    assert re.fullmatch(r"OQSsiquc01res_face_\d{12}_\d{14}\.xml", first.name)
    root = xml_of(first)
    assert t(root, "MessageHeader/ReferenceClassification") == "1"
    assert t(root, "MessageHeader/MedicalInstitutionCode") == "1311234569"
    assert t(root, ".//ResultOfQualificationConfirmation/ReferenceNumber") == "R-0001"
    assert root.find("MessageBody/QualificationConfirmSearchInfo") is None
    sjis = term.write_face_result("1311234569", valid_outcome(), card, NOW, encoding="shift_jis")
    assert t(xml_of(sjis), "MessageHeader/CharacterCodeIdentifier") == "1"


def test_serve_forever_answers_every_file_that_appears(term, service, request_xml):
    """Behaviour only: each request dropped into req/ while the loop runs is answered in res/ and removed.
    How fast is measured by bench/bench_terminal.py (docs/performance.md), not asserted here."""
    stop = threading.Event()
    thread = threading.Thread(target=term.serve_forever, kwargs={"poll_interval": 0.05, "stop_event": stop},
                              daemon=True)
    thread.start()
    try:
        for i in range(5):
            name = f"OQSsiquc01req_2026112201{i:02d}.xml"
            tmp = term.req / f".{name}.tmp"
            tmp.write_bytes(request_xml(afi=f"clinic-{i:04d}"))
            os.replace(tmp, term.req / name)
            answer = term.res / answer_name(name)
            deadline = time.monotonic() + 30  # only so that a broken loop fails instead of hanging
            while not answer.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert answer.exists(), f"{name} was not answered"
            root = xml_of(answer)
            assert t(root, "MessageHeader/SegmentOfResult") == "1"
            assert t(root, "MessageHeader/ArbitraryFileIdentifier") == f"clinic-{i:04d}"
            assert not (term.req / name).exists()
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(service.verified) == 5
    assert sorted(p.name for p in term.res.iterdir()) == [answer_name(f"OQSsiquc01req_2026112201{i:02d}.xml")
                                                          for i in range(5)]  # no temporary file left
