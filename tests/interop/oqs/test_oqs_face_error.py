"""A card use that fails at the reader still reaches the clinic through ``OQS/face``.

A card use fails (``VerificationError``) when its certificate has expired or its registration was cancelled;
an unknown certificate serial is not a failure but 該当資格なし (a normal face file).

The rules restated (checked against hangilc/myclinic-ts and YUKI-ENT/MynaReception, docs/oqs-clients.md):

* the file is named like every face file, ``OQSsiquc01res_face_<yyyyMMdd + 4 digits>_<yyyyMMddHHmmss>.xml`` with
  today's (Japan) date, and appears complete under its final name;
* its header says ``SegmentOfResult`` 9 with ``ErrorCode`` and ``ErrorMessage``, ``ReferenceClassification`` 1 and
  the institution's 10-digit code — a reader shows "異常終了" followed by the message;
* its body says ``ProcessingResultStatus`` 2 (a code the readers know) and holds exactly one
  ``ResultList/ResultOfQualificationConfirmation`` with ``InsuredCardClassification``, ``Name``, ``Sex1``,
  ``Birthdate``, ``InsurerName`` present (empty when the reader did not read them): a face reader that finds no
  such result refuses the file and the receptionist sees nothing;
* the stand-in's own ``reader/<name>.err`` is still written; a reader file that cannot be read at all (no
  certificate serial) gets only that ``.err``, no face file.
"""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from lxml import etree

from onshi.exchange import cards
from onshi.exchange.publish import publish_all
from onshi.interop.oqs.terminal_service import make_terminal, serve_reader
from onshi.store.clock import japan_today
from onshi.store.db import unit_of_work
from onshi.registry.models import NotificationType as T
from onshi.verify import service

from tests.registry.helpers import MN_TARO, acquisition, load, setup_insurers, write
from tests.verify.test_api import CLINIC

FACE_NAME = re.compile(r"\AOQSsiquc01res_face_(\d{8})\d{4}_(\d{14})\.xml\Z")
REQUIRED = ("InsuredCardClassification", "Name", "Sex1", "Birthdate", "InsurerName")


@pytest.fixture
def oqs(engine, tmp_path):
    """A clinic, and cards whose certificates expired long ago: using one is refused (E0201)."""
    setup_insurers(tmp_path)
    load(write(tmp_path, "a.csv", T.acquisition, [acquisition()]), T.acquisition)
    publish_all()
    with unit_of_work() as s:
        service.add_institution(s, code=CLINIC, name="テスト内科", facility_type="clinic")
        for serial in ("EXPIRED-1", "EXPIRED-2"):
            cards.register_card(s, my_number=MN_TARO, certificate_serial=serial,
                                certificate_expires_on=date(2020, 1, 1))
    return tmp_path / "OQS"


def card_use(root, name: str, payload: dict | str) -> None:
    (root / "reader").mkdir(parents=True, exist_ok=True)
    text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    (root / "reader" / name).write_text(text, encoding="utf-8")


def parse(raw: bytes, encoding: str) -> etree._Element:
    text = raw.decode(encoding)
    assert text.startswith(f'<?xml version="1.0" encoding="{"Shift_JIS" if encoding == "cp932" else "UTF-8"}"')
    return etree.fromstring(text.split("?>", 1)[1].encode())


def one(parent: etree._Element, name: str) -> etree._Element:
    found = parent.findall(name)
    assert len(found) == 1, name  # a strict reader refuses a duplicate or a missing element
    return found[0]


@pytest.mark.parametrize("face_encoding, codec", [("utf-8", "utf-8"), ("shift_jis", "cp932")])
def test_a_refused_card_use_is_pushed_as_an_error_face_file(oqs, engine, face_encoding, codec):
    card_use(oqs, "use1.json", {"certificate_serial": "EXPIRED-1", "method": "face",
                                "holder": {"name": "厚労 花子", "name_kana": "コウロウ ハナコ",
                                           "birth_date": "1985-03-04", "sex": 2}})
    terminal = make_terminal(oqs, CLINIC, engine, face_encoding=face_encoding)
    assert serve_reader(terminal, CLINIC, engine) == 1

    assert (oqs / "reader" / "use1.json.err").read_text(encoding="utf-8")  # the stand-in's own record stays
    assert not (oqs / "reader" / "use1.json").exists()
    [face] = list((oqs / "face").iterdir())
    m = FACE_NAME.match(face.name)
    assert m and m.group(1) == f"{japan_today():%Y%m%d}" and m.group(2).startswith(m.group(1))
    assert not list((oqs / ".onshi-tmp").iterdir())

    root = parse(face.read_bytes(), codec)
    h, b = one(root, "MessageHeader"), one(root, "MessageBody")
    assert one(h, "SegmentOfResult").text == "9"
    assert one(h, "ErrorCode").text == "E0201" and one(h, "ErrorMessage").text
    assert one(h, "ReferenceClassification").text == "1"
    assert one(h, "MedicalInstitutionCode").text == CLINIC and len(CLINIC) == 10
    assert one(h, "CharacterCodeIdentifier").text == ("1" if codec == "cp932" else "0")
    assert one(b, "ProcessingResultStatus").text == "2"
    assert one(b, "ProcessingResultCode").text == one(h, "ErrorCode").text
    assert b.find("QualificationValidity") is None
    result = one(one(b, "ResultList"), "ResultOfQualificationConfirmation")
    assert all(len(result.findall(tag)) == 1 for tag in REQUIRED)
    assert (result.findtext("Name"), result.findtext("Birthdate"), result.findtext("Sex1")) == \
        ("厚労 花子", "19850304", "2")
    assert result.findtext("NameKana")  # the holder as read: a kiosk can still find the patient


def test_without_the_holder_the_one_result_is_present_and_empty(oqs, engine):
    card_use(oqs, "use2.json", {"certificate_serial": "EXPIRED-1"})
    serve_reader(make_terminal(oqs, CLINIC, engine), CLINIC, engine)
    [face] = list((oqs / "face").iterdir())
    b = one(parse(face.read_bytes(), "utf-8"), "MessageBody")
    result = one(one(b, "ResultList"), "ResultOfQualificationConfirmation")
    assert all(len(result.findall(tag)) == 1 for tag in REQUIRED)
    assert result.findtext("Name") == "" and result.findtext("Birthdate") == ""


def test_error_face_files_take_the_next_sequence_number(oqs, engine):
    card_use(oqs, "a.json", {"certificate_serial": "EXPIRED-1"})
    card_use(oqs, "b.json", {"certificate_serial": "EXPIRED-2"})
    assert serve_reader(make_terminal(oqs, CLINIC, engine), CLINIC, engine) == 2
    names = sorted(p.name for p in (oqs / "face").iterdir())
    assert [n.split("_")[2][-4:] for n in names] == ["0001", "0002"]


def test_an_unreadable_reader_file_gets_only_its_err(oqs, engine):
    card_use(oqs, "bad.json", {"method": "face"})  # no certificate serial: no card use to report
    card_use(oqs, "worse.json", "{not json")
    assert serve_reader(make_terminal(oqs, CLINIC, engine), CLINIC, engine) == 2
    assert (oqs / "reader" / "bad.json.err").exists() and (oqs / "reader" / "worse.json.err").exists()
    assert not list((oqs / "face").iterdir())
