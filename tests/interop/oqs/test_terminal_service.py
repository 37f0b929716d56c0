"""``onshi terminal`` against the real database: request files in, answer files out."""

from __future__ import annotations

import json
from datetime import date

import pytest

from onshi.exchange import cards
from onshi.exchange.publish import publish_all
from onshi.registry.models import NotificationType as T
from onshi.store.clock import japan_today
from onshi.store.db import unit_of_work
from onshi.verify import service
from onshi.interop.oqs.terminal_service import make_terminal, run_terminal, serve_once

from tests.registry.helpers import MN_TARO, acquisition, load, setup_insurers, write
from tests.verify.test_api import CLINIC, xml_request

TODAY = japan_today()


@pytest.fixture
def oqs(engine, tmp_path):
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    publish_all()
    with unit_of_work() as s:
        service.add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
        cards.register_card(s, my_number=MN_TARO, certificate_serial="CARD-1", certificate_expires_on=date(2031, 1, 1))
    root = tmp_path / "OQS"
    (root / "req").mkdir(parents=True)
    return root


def test_single_request_file_is_answered(oqs, engine):
    (oqs / "req" / "OQSsiquc01req_202611220001.xml").write_bytes(xml_request("Shift_JIS"))
    run_terminal(oqs, CLINIC, once=True, engine=engine)
    answer = (oqs / "res" / "OQSsiquc01res_202611220001.xml").read_bytes()
    assert answer.startswith(b'<?xml version="1.0" encoding="Shift_JIS"')
    text = answer.decode("cp932")
    assert "<QualificationValidity>1</QualificationValidity>" in text and "厚労　太郎" in text
    assert "<ArbitraryFileIdentifier>受付-0001</ArbitraryFileIdentifier>" in text
    assert not (oqs / "req" / "OQSsiquc01req_202611220001.xml").exists()


def test_garbage_then_good_request(oqs, engine):
    (oqs / "req" / "OQSsiquc01req_202611220001.xml").write_bytes(b"\x00\x01 not xml")
    (oqs / "req" / "OQSsiquc01req_202611220002.xml").write_bytes(xml_request())
    terminal = make_terminal(oqs, CLINIC, engine)
    serve_once(terminal, CLINIC, engine)
    import time

    time.sleep(1.1)  # the partial-file grace period
    serve_once(terminal, CLINIC, engine)
    assert (oqs / "res" / "OQSsiquc01res_202611220002.xml").exists()
    assert (oqs / "res" / "OQSsiquc01req_202611220001.err").exists()  # SmartKarte: beside the moved request
    assert (oqs / "res" / "OQSsiquc01req_202611220001.xml").exists()


def test_reference_number_then_card_result_in_face_folder(oqs, engine):
    reg = (f'<?xml version="1.0" encoding="UTF-8"?><XmlMsg><MessageHeader>'
           f"<MedicalInstitutionCode>{CLINIC}</MedicalInstitutionCode></MessageHeader><MessageBody>"
           f"<ReferenceNumberRegistrationInfo><ReferenceNumber>患者-42</ReferenceNumber>"
           f"<InsurerNumber>01130012</InsurerNumber><InsuredCardSymbol>10000001</InsuredCardSymbol>"
           f"<InsuredIdentificationNumber>101</InsuredIdentificationNumber>"
           f"<InsuredBranchNumber>00</InsuredBranchNumber></ReferenceNumberRegistrationInfo>"
           f"</MessageBody></XmlMsg>").encode()
    (oqs / "req" / "OQSsiimm01req_202611220001.xml").write_bytes(reg)
    run_terminal(oqs, CLINIC, once=True, engine=engine)
    assert "<SegmentOfResult>1</SegmentOfResult>" in (oqs / "res" / "OQSsiimm01res_202611220001.xml").read_text()
    (oqs / "reader").mkdir(exist_ok=True)
    (oqs / "reader" / "use1.json").write_text(json.dumps({"certificate_serial": "CARD-1", "method": "face",
                                                          "consents": {"limit": True}}))
    run_terminal(oqs, CLINIC, once=True, engine=engine)
    [face] = list((oqs / "face").iterdir())
    text = face.read_text()
    assert face.name.startswith("OQSsiquc01res_face_")
    assert "<ReferenceClassification>1</ReferenceClassification>" in text
    assert "<ReferenceNumber>患者-42</ReferenceNumber>" in text


def test_bulk_upload_then_fetch(oqs, engine):
    day = TODAY.strftime("%Y%m%d")
    item = ("<QualificationConfirmSearchInfo><InsurerNumber>01130012</InsurerNumber><InsuredCardSymbol>10000001"
            "</InsuredCardSymbol><InsuredIdentificationNumber>{n}</InsuredIdentificationNumber>"
            "<InsuredBranchNumber>00</InsuredBranchNumber><Birthdate>19700101</Birthdate>"
            "<LimitApplicationCertificateRelatedConsFlg>0</LimitApplicationCertificateRelatedConsFlg>"
            "</QualificationConfirmSearchInfo>")
    upload = (f'<?xml version="1.0" encoding="UTF-8"?><XmlMsg><MessageHeader><QualificationConfirmationDate>{day}'
              f"</QualificationConfirmationDate><MedicalInstitutionCode>{CLINIC}</MedicalInstitutionCode>"
              f"</MessageHeader><MessageBody>{item.format(n=101)}{item.format(n=999)}</MessageBody></XmlMsg>")
    (oqs / "req" / "OQSmuquc01req_202611220001.xml").write_text(upload)
    run_terminal(oqs, CLINIC, once=True, engine=engine)
    accepted = (oqs / "res" / "OQSmuquc01res_202611220001.xml").read_text()
    import re

    reception = re.search(r"<ReceptionNumber>(\w+)</ReceptionNumber>", accepted).group(1)
    fetch = (f'<?xml version="1.0" encoding="UTF-8"?><XmlMsg><MessageHeader>'
             f"<MedicalInstitutionCode>{CLINIC}</MedicalInstitutionCode></MessageHeader><MessageBody>"
             f"<ReceptionNumber>{reception}</ReceptionNumber></MessageBody></XmlMsg>")
    (oqs / "req" / "OQSmuquc02req_202611220002.xml").write_text(fetch)
    run_terminal(oqs, CLINIC, once=True, engine=engine)
    result = (oqs / "res" / "OQSmuquc02res_202611220002.xml").read_text()
    assert "<SegmentOfResult>1</SegmentOfResult>" in result
    assert result.count("<BulkConfirmUnit>") == 2
    assert "<NumberOfProcessingResult>2</NumberOfProcessingResult>" in result
