"""myclinic-ts's "onshi-server" API in onshi's terms (pure: no database, no files, no clock).

myclinic-ts (hangilc/myclinic-ts, checked at 9c27569715ab1745d589d399d6adb553ec65195a; docs/sandbox.md) talks to a
small server of its own that holds the clinic's credentials for the national service.  Its browser code sends:

* ``GET /login`` and reads ``result.idToken`` of ``{status, msg, result: {accessToken, refreshToken, idToken,
  linkSysCharCd}}`` (the national login answer, passed through);
* ``POST /onshi/kakunin`` with ``{hokensha, hihokensha, birthdate, confirmationDate, kigou?, edaban?,
  limitAppConsFlag, idToken?}`` (dates ``yyyyMMdd``; ``hokensha`` padded to 8 with zeros) and casts the answer —
  the national ``XmlMsg`` JSON, every value a string — with its ``OnshiResult.cast``;
* ``GET /face`` → ``[{name, fileName, createdAt}]``, ``GET /face/{file}`` → the face XML as text,
  ``GET /face/move-to-archive/{file}`` → JSON ``true``;
* a WebSocket ``/ws?secret=…`` whose every text message is the name of a new face file.

This module turns those bodies into onshi's: a kakunin query into the ``XmlMsg`` JSON that
:func:`onshi.interop.oqs.xmlmsg.parse_request_json` reads, a face file into a list entry.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime

import defusedxml.ElementTree as DET

__all__ = ["FACE_FILE", "kakunin_to_xmlmsg", "login_answer", "login_refused", "face_entry", "face_name", "face_as_utf8"]

#: a face file name the routes serve: a plain name in the folder, never a path
FACE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}\.xml$")


def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def kakunin_to_xmlmsg(query: dict, institution_code: str) -> dict:
    """The ``XmlMsg`` JSON request of a myclinic ``/onshi/kakunin`` query, for *institution_code*.

    >>> body = kakunin_to_xmlmsg({"hokensha": "1130012", "hihokensha": "1", "kigou": "7010",
    ...                           "birthdate": "19810401", "confirmationDate": "20261206",
    ...                           "limitAppConsFlag": "1"}, "1310009012")
    >>> body["XmlMsg"]["MessageBody"]["QualificationConfirmSearchInfo"]["InsurerNumber"]
    '01130012'
    >>> "InsuredBranchNumber" in body["XmlMsg"]["MessageBody"]["QualificationConfirmSearchInfo"]
    False
    """
    if not isinstance(query, dict):
        raise ValueError("the query must be a JSON object")
    insurer = _text(query.get("hokensha")) or ""
    if insurer.isdigit() and len(insurer) < 8:
        insurer = insurer.zfill(8)  # myclinic pads with zeros itself; an older caller may not
    info = {"InsurerNumber": insurer, "InsuredCardSymbol": _text(query.get("kigou")),
            "InsuredIdentificationNumber": _text(query.get("hihokensha")),
            "InsuredBranchNumber": _text(query.get("edaban")), "Birthdate": _text(query.get("birthdate")),
            "LimitApplicationCertificateRelatedConsFlg": _text(query.get("limitAppConsFlag")) or "0"}
    header = {"QualificationConfirmationDate": _text(query.get("confirmationDate")),
              "MedicalInstitutionCode": institution_code}
    return {"XmlMsg": {"MessageHeader": {k: v for k, v in header.items() if v is not None},
                       "MessageBody": {"QualificationConfirmSearchInfo":
                                       {k: v for k, v in info.items() if v is not None}}}}


def login_answer(token: str) -> dict:
    """The answer to ``GET /login``.  onshi has no session tokens of the national kind: the idToken (and the
    access token) is the institution's own credential, which ``/oqs-api-pro/…/search`` accepts in
    ``Authorization``; ``linkSysCharCd`` 0 says the answers are UTF-8 (as OQSCD005)."""
    return {"status": "0", "msg": "", "result": {"accessToken": token, "refreshToken": "", "idToken": token,
                                                  "linkSysCharCd": "0"}}


def login_refused(message: str) -> dict:
    """A login that failed, in the answer's own shape (``status`` not "0", no ``result``): a client reading
    ``result.idToken`` stops there, the message says why."""
    return {"status": "1", "msg": message, "result": None}


def face_as_utf8(data: bytes) -> bytes:
    """A face file as UTF-8 (``fetch().text()`` in the browser always decodes UTF-8): a Shift_JIS file is
    re-encoded, its declaration and ``CharacterCodeIdentifier`` (OQSCD005: 0 UTF-8) changed to match."""
    head = data[:100].lower()
    if b"shift_jis" not in head and b"cp932" not in head and b"windows-31j" not in head:
        return data
    text = data.decode("cp932")
    text = re.sub(r'encoding="[^"]+"', 'encoding="UTF-8"', text, count=1)
    text = text.replace("<CharacterCodeIdentifier>1</CharacterCodeIdentifier>",
                        "<CharacterCodeIdentifier>0</CharacterCodeIdentifier>")
    return text.encode("utf-8")


def face_name(data: bytes) -> str:
    """The patient's name in a face file (the first ``Name`` of its ``ResultList``), or "" when it has none."""
    try:
        root = DET.fromstring(face_as_utf8(data))  # expat reads no Shift_JIS: a Shift_JIS file had no name
    except (ET.ParseError, ValueError, UnicodeDecodeError):
        return ""
    el = root.find(".//ResultList//Name")
    return (el.text or "").strip() if el is not None else ""


def face_entry(file_name: str, data: bytes, created_at_japan: datetime) -> dict:
    """One item of ``GET /face``: ``createdAt`` as ``yyyy-MM-dd HH:mm:ss`` in Japan time (myclinic's
    ``DateWrapper.from`` reads that form)."""
    return {"name": face_name(data), "fileName": file_name, "createdAt": f"{created_at_japan:%Y-%m-%d %H:%M:%S}"}
