"""照会番号一括登録 (OQSmuimm01 → OQSmuimm02) in the shape a resuming client reads, answered from the database.

The rules restated (checked against YUKI-ENT/MynaReception, docs/oqs-clients.md):

* the upload's answer echoes the institution and ``ArbitraryFileIdentifier``, has no ``ErrorCode``, and its
  body holds ``ProcessingResultStatus`` 1 and the ``ReceptionNumber`` to fetch with;
* the fetch carries only the institution and the ``ReceptionNumber``; its answer echoes both, *and the
  upload's* ``ArbitraryFileIdentifier``, has no ``ErrorCode``, and holds one ``BulkRegistrationUnit`` per item
  with ``ReferenceNumberRegistrationInfo`` — the five fields exactly as sent (a client compares them, the
  insurer number after trimming) — and that item's ``ProcessingResultStatus``/``ProcessingResultCode``;
* a restarted terminal answers the same fetch the same way; an unknown or expired number is E0401;
* 一括照会's fetch (``OQSmuquc02``) echoes its upload's ``ArbitraryFileIdentifier`` the same way.
"""

from __future__ import annotations

import dataclasses
from copy import deepcopy

from datetime import timedelta

import pytest
from lxml import etree
from sqlalchemy import select

from onshi.interop.oqs.terminal_service import make_terminal
from onshi.store.clock import japan_today, utcnow
from onshi.store.db import unit_of_work
from onshi.verify import bulk, service
from onshi.verify.models import BulkRequest, ReferenceNumber
from onshi.verify.result import ReferenceRegistration, VerificationError

from tests.verify.test_api import CLINIC

FIELDS = ["ReferenceNumber", "InsurerNumber", "InsuredCardSymbol", "InsuredIdentificationNumber",
          "InsuredBranchNumber"]


@pytest.fixture
def oqs(engine, tmp_path):
    with unit_of_work() as s:
        service.add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
    return tmp_path / "OQS"


def upload(afi: str, *items: tuple[str, str, str, str, str]) -> bytes:
    infos = "".join("<ReferenceNumberRegistrationInfo>" + "".join(f"<{f}>{v}</{f}>" for f, v in zip(FIELDS, item))
                    + "</ReferenceNumberRegistrationInfo>" for item in items)
    return (f'<?xml version="1.0" encoding="Shift_JIS" standalone="no"?>\n<XmlMsg><MessageHeader>'
            f"<MedicalInstitutionCode>{CLINIC}</MedicalInstitutionCode><ArbitraryFileIdentifier>{afi}"
            f"</ArbitraryFileIdentifier></MessageHeader><MessageBody>{infos}</MessageBody></XmlMsg>").encode("cp932")


def fetch(reception: str) -> bytes:
    return (f'<?xml version="1.0" encoding="Shift_JIS" standalone="no"?>\n<XmlMsg><MessageHeader>'
            f"<MedicalInstitutionCode>{CLINIC}</MedicalInstitutionCode></MessageHeader><MessageBody>"
            f"<ReceptionNumber>{reception}</ReceptionNumber></MessageBody></XmlMsg>").encode("cp932")


def exchange(root, name: str, data: bytes, engine) -> etree._Element:
    """A fresh terminal each time: nothing survives between calls but the database."""
    (root / "req").mkdir(parents=True, exist_ok=True)
    (root / "req" / name).write_bytes(data)
    make_terminal(root, CLINIC, engine).run_once()
    raw = (root / "res" / name.replace("req_", "res_", 1)).read_bytes()
    return etree.fromstring(raw.decode("cp932").replace('encoding="Shift_JIS"', "", 1).encode())


def one(parent: etree._Element, name: str) -> str:
    """A direct child that occurs at most once (a strict reader refuses duplicates); "" when absent."""
    found = parent.findall(name)
    assert len(found) <= 1, name
    return (found[0].text or "") if found else ""


def test_one_patient_registered_and_fetched_after_a_restart(oqs, engine):
    sent = ("24434", "  138057", "あいう", "187", "00")  # 国保 number space-padded as one client writes it
    up = exchange(oqs, "OQSmuimm01req_202611220001.xml", upload("20261122093000123-abcd1234", sent), engine)
    h, b = up.find("MessageHeader"), up.find("MessageBody")
    assert (one(h, "MedicalInstitutionCode"), one(h, "ArbitraryFileIdentifier")) == (CLINIC, "20261122093000123-abcd1234")
    assert one(h, "ErrorCode") == "" and one(h, "SegmentOfResult") == "1"
    assert one(b, "ProcessingResultStatus") == "1"
    reception = one(b, "ReceptionNumber")
    assert reception and len(reception) <= 100

    answers = [exchange(oqs, f"OQSmuimm02req_20261122000{i}.xml", fetch(reception), engine) for i in (2, 3)]
    for final in answers:
        h, b = final.find("MessageHeader"), final.find("MessageBody")
        assert one(h, "MedicalInstitutionCode") == CLINIC
        assert one(h, "ArbitraryFileIdentifier") == "20261122093000123-abcd1234"  # the upload's
        assert one(h, "ReceptionNumber") == reception and one(h, "ErrorCode") == ""
        units = b.findall("BulkRegistrationUnit")
        assert len(units) == 1
        info = units[0].find("ReferenceNumberRegistrationInfo")
        echoed = [one(info, f) for f in FIELDS]
        assert [echoed[0], echoed[1].strip(), *echoed[2:]] == [sent[0], sent[1].strip(), *sent[2:]]
        assert (one(units[0], "ProcessingResultStatus"), one(units[0], "ProcessingResultCode")) == ("1", "")
    def strip(el):  # the answer without its own processing time (a string replace of that time would also hit an
        el = deepcopy(el)  # equal ReceptionDateTime when upload and first fetch share a second: flaky)
        el.find("MessageHeader/ProcessExecutionTime").text = ""
        return etree.tostring(el)

    assert strip(answers[0]) == strip(answers[1])  # the same answer, asked again after a restart
    with unit_of_work() as s:
        row = s.scalar(select(ReferenceNumber).where(ReferenceNumber.reference_number == "24434"))
        assert (row.insurer_number, row.number) == ("138057", "187")  # registered, padding dropped


def test_a_refused_item_is_told_in_its_unit_and_the_answer_is_still_normal(oqs, engine):
    good, bad = ("A-1", "06139992", "", "187", "05"), ("B-2", "06139992", "", "188", "05")
    with unit_of_work() as s:
        inst = service.active_institution(s, CLINIC)
        reception = bulk.submit_registrations(s, inst, [
            (ReferenceRegistration("A-1", "06139992", None, "187", "05"), list(good)),
            (ReferenceRegistration("x" * 51, "06139992", None, "188", "05"), list(bad))],  # refused: > 50 chars
            arbitrary_file_identifier="afi-2")
    final = exchange(oqs, "OQSmuimm02req_202611220005.xml", fetch(reception), engine)
    h = final.find("MessageHeader")
    assert one(h, "SegmentOfResult") == "1" and one(h, "ErrorCode") == ""
    assert (one(h, "NumberOfProcessingResult"), one(h, "NumberOfNormalProcessing"), one(h, "NumberOfError")) == \
        ("2", "1", "1")
    units = final.findall("MessageBody/BulkRegistrationUnit")
    assert [one(u, "ProcessingResultStatus") for u in units] == ["1", "2"]
    assert one(units[1], "ProcessingResultCode") == "E0301"
    assert one(units[1].find("ReferenceNumberRegistrationInfo"), "ReferenceNumber") == "B-2"  # as sent


def test_unknown_and_expired_reception_numbers(oqs, engine):
    unknown = exchange(oqs, "OQSmuimm02req_202611220006.xml", fetch("20261122000000999999"), engine)
    h = unknown.find("MessageHeader")
    assert (one(h, "SegmentOfResult"), one(h, "ErrorCode")) == ("9", "E0401")
    assert one(h, "ReceptionNumber") == "20261122000000999999"  # a client checks it before the error
    assert one(unknown.find("MessageBody"), "ProcessingResultStatus") == "2"
    with unit_of_work() as s:
        inst = service.active_institution(s, CLINIC)
        reception = bulk.submit_registrations(s, inst, [
            (ReferenceRegistration("A-1", "06139992", None, "187", None), ["A-1", "06139992", "", "187", ""])])
    with unit_of_work() as s:
        inst = service.active_institution(s, CLINIC)
        assert bulk.fetch_registrations(s, inst, reception)[1][0][1] is None
        later = utcnow() + bulk.RESULT_RETENTION + timedelta(days=1)
        with pytest.raises(VerificationError) as exc:
            bulk.fetch_registrations(s, inst, reception, now=later)
        assert exc.value.code == "E0401"
        with pytest.raises(VerificationError):  # a 照会番号 reception is not a 一括照会 one
            bulk.fetch_bulk(s, inst, reception)


def test_a_bulk_verification_fetch_echoes_the_uploads_arbitrary_file_identifier(oqs, engine):
    """一括照会 (OQSmuquc01 → OQSmuquc02) follows the same rule: the fetch carries no ArbitraryFileIdentifier, its
    answer's header names the upload's, read back from the database by a terminal that never saw the upload."""
    item = ("<QualificationConfirmSearchInfo><InsurerNumber>06139992</InsurerNumber><InsuredIdentificationNumber>"
            "{n}</InsuredIdentificationNumber><Birthdate>19800401</Birthdate>"
            "<LimitApplicationCertificateRelatedConsFlg>0</LimitApplicationCertificateRelatedConsFlg>"
            "</QualificationConfirmSearchInfo>")
    up = (f'<?xml version="1.0" encoding="Shift_JIS" standalone="no"?>\n<XmlMsg><MessageHeader>'
          f"<QualificationConfirmationDate>{japan_today():%Y%m%d}</QualificationConfirmationDate>"
          f"<MedicalInstitutionCode>{CLINIC}</MedicalInstitutionCode><ArbitraryFileIdentifier>一括-0007"
          f"</ArbitraryFileIdentifier></MessageHeader><MessageBody>{item.format(n=187)}{item.format(n=188)}"
          f"</MessageBody></XmlMsg>").encode("cp932")
    accepted = exchange(oqs, "OQSmuquc01req_202611220001.xml", up, engine)
    assert one(accepted.find("MessageHeader"), "ArbitraryFileIdentifier") == "一括-0007"
    reception = one(accepted.find("MessageBody"), "ReceptionNumber")
    with unit_of_work() as s:
        row = s.scalar(select(BulkRequest).where(BulkRequest.reception_number == reception))
        assert (row.kind, row.arbitrary_file_identifier) == (bulk.VERIFY, "一括-0007")
    answers = [exchange(oqs, f"OQSmuquc02req_20261122000{i}.xml", fetch(reception), engine) for i in (2, 3)]
    for answer in answers:
        h = answer.find("MessageHeader")
        assert (one(h, "SegmentOfResult"), one(h, "ErrorCode")) == ("1", "")
        assert one(h, "ReceptionNumber") == reception and one(h, "ArbitraryFileIdentifier") == "一括-0007"
        assert len(answer.findall("MessageBody/BulkConfirmUnit")) == 2
    with unit_of_work() as s:
        items = bulk.fetch_bulk(s, service.active_institution(s, CLINIC), reception)
        assert {req.arbitrary_file_identifier for req, _ in items} == {"一括-0007"}


def test_a_still_processing_bulk_fetch_echoes_the_uploads_arbitrary_file_identifier(oqs, engine):
    """While the reception is still queued (no worker has run it yet), the fetch answers SegmentOfResult 2 — and
    its header names the upload's ArbitraryFileIdentifier and the ReceptionNumber, as the finished answer does.
    Real files in a terminal folder; the terminal's fetch handler here only reads (the stock one runs the queue
    first, which is why a terminal alone never answers 2)."""
    item = ("<QualificationConfirmSearchInfo><InsurerNumber>06139992</InsurerNumber><InsuredIdentificationNumber>"
            "187</InsuredIdentificationNumber><Birthdate>19800401</Birthdate>"
            "<LimitApplicationCertificateRelatedConsFlg>0</LimitApplicationCertificateRelatedConsFlg>"
            "</QualificationConfirmSearchInfo>")
    up = (f'<?xml version="1.0" encoding="Shift_JIS" standalone="no"?>\n<XmlMsg><MessageHeader>'
          f"<QualificationConfirmationDate>{japan_today():%Y%m%d}</QualificationConfirmationDate>"
          f"<MedicalInstitutionCode>{CLINIC}</MedicalInstitutionCode><ArbitraryFileIdentifier>一括-0008"
          f"</ArbitraryFileIdentifier></MessageHeader><MessageBody>{item}</MessageBody></XmlMsg>").encode("cp932")
    reception = one(exchange(oqs, "OQSmuquc01req_202611220011.xml", up, engine).find("MessageBody"),
                    "ReceptionNumber")

    def read_only(code: str, number: str):
        with unit_of_work() as s:
            return bulk.fetch_bulk(s, service.active_institution(s, CLINIC), number)

    terminal = make_terminal(oqs, CLINIC, engine)
    terminal.handlers = dataclasses.replace(terminal.handlers, fetch_bulk=read_only)
    (oqs / "req" / "OQSmuquc02req_202611220012.xml").write_bytes(fetch(reception))
    terminal.run_once()
    raw = (oqs / "res" / "OQSmuquc02res_202611220012.xml").read_bytes()
    h = etree.fromstring(raw.decode("cp932").replace('encoding="Shift_JIS"', "", 1).encode()).find("MessageHeader")
    assert one(h, "SegmentOfResult") == "2"
    assert (one(h, "ReceptionNumber"), one(h, "ArbitraryFileIdentifier")) == (reception, "一括-0008")
    assert one(h, "MedicalInstitutionCode") == CLINIC
    # and once processed, the same fetch answers 1 with the same echo
    done = exchange(oqs, "OQSmuquc02req_202611220013.xml", fetch(reception), engine).find("MessageHeader")
    assert (one(done, "SegmentOfResult"), one(done, "ArbitraryFileIdentifier")) == ("1", "一括-0008")
