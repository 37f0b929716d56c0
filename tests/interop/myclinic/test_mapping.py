"""myclinic-ts's bodies in onshi's terms, restated from what its code reads (docs/sandbox.md): the kakunin query
becomes the XmlMsg JSON request; a face file a list entry whose createdAt its DateWrapper reads; a Shift_JIS face
file UTF-8, since the browser's fetch().text() decodes nothing else."""

from __future__ import annotations

from datetime import datetime

import pytest

from onshi.interop.myclinic.mapping import FACE_FILE, face_as_utf8, face_entry, face_name, kakunin_to_xmlmsg, login_answer
from onshi.interop.oqs.xmlmsg import parse_request_json

FACE = """<?xml version="1.0" encoding="{enc}" standalone="no"?>
<XmlMsg><MessageHeader><CharacterCodeIdentifier>{cci}</CharacterCodeIdentifier></MessageHeader>
<MessageBody>{results}</MessageBody></XmlMsg>"""


def test_a_kakunin_query_is_read_as_the_xmlmsg_request():
    import json

    body = kakunin_to_xmlmsg({"hokensha": "1130012", "hihokensha": "１", "kigou": "7010", "edaban": "00",
                              "birthdate": "19810401", "confirmationDate": "20261206", "limitAppConsFlag": "1",
                              "idToken": "ignored"}, "1310009012")
    req = parse_request_json(json.dumps(body).encode())
    assert (req.insurer_number, req.symbol, req.number, req.branch) == ("01130012", "7010", "1", "00")
    assert req.institution_code == "1310009012" and req.limit_consent and str(req.birth_date) == "1981-04-01"


def test_kakunin_without_kigou_and_edaban_sends_neither():
    info = kakunin_to_xmlmsg({"hokensha": "06139992", "hihokensha": "3", "kigou": None, "birthdate": "19881103",
                              "confirmationDate": "20261206", "limitAppConsFlag": "0"},
                             "1310009012")["XmlMsg"]["MessageBody"]["QualificationConfirmSearchInfo"]
    assert "InsuredCardSymbol" not in info and "InsuredBranchNumber" not in info
    assert info["LimitApplicationCertificateRelatedConsFlg"] == "0"


def test_a_query_that_is_not_an_object_is_refused():
    with pytest.raises(ValueError):
        kakunin_to_xmlmsg(["x"], "1310009012")  # type: ignore[arg-type]


def test_login_gives_the_token_as_id_token_and_every_value_a_string():
    answer = login_answer("tok")
    assert answer["result"]["idToken"] == "tok"
    assert all(isinstance(v, str) for v in answer["result"].values()) and isinstance(answer["status"], str)


def test_face_entries_carry_the_patients_name_or_nothing():
    one = FACE.format(enc="UTF-8", cci="0", results="<ResultList><ResultOfQualificationConfirmation>"
                      "<Name>有効　太郎</Name></ResultOfQualificationConfirmation></ResultList>").encode()
    none = FACE.format(enc="UTF-8", cci="0", results="<ResultList/>").encode()
    assert face_name(one) == "有効　太郎" and face_name(none) == "" and face_name(b"<not xml") == ""
    entry = face_entry("f.xml", one, datetime(2026, 12, 6, 9, 30, 5))
    assert entry == {"name": "有効　太郎", "fileName": "f.xml", "createdAt": "2026-12-06 09:30:05"}


def test_a_shift_jis_face_file_is_served_as_utf8_and_says_so():
    sjis = FACE.format(enc="Shift_JIS", cci="1", results="<ResultList><ResultOfQualificationConfirmation>"
                       "<Name>髙橋　太郎</Name></ResultOfQualificationConfirmation></ResultList>").encode("cp932")
    out = face_as_utf8(sjis).decode("utf-8")
    assert 'encoding="UTF-8"' in out and "<CharacterCodeIdentifier>0<" in out and "髙橋" in out
    utf8 = FACE.format(enc="UTF-8", cci="0", results="").encode()
    assert face_as_utf8(utf8) is utf8


@pytest.mark.parametrize("name,ok", [("OQSsiquc01res_face_202612060001_20261206113338.xml", True),
                                     ("../keys.json", False), (".hidden.xml", False), ("a/b.xml", False),
                                     ("x.txt", False)])
def test_only_plain_xml_names_in_the_folder_are_served(name, ok):
    assert bool(FACE_FILE.match(name)) is ok
