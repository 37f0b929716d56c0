"""The OQS ``XmlMsg`` interface: parse what clinic software sends, render what it expects.

Pure functions, no database: a request becomes a
:class:`~onshi.verify.result.VerificationRequest`, a
:class:`~onshi.verify.result.VerificationOutcome` becomes bytes.  Everything a
clinic can get wrong raises :class:`~onshi.verify.result.VerificationError`
with an OQS-style code (table in ``docs/oqs.md``) and a message naming the
field; :func:`render_error` turns it into ``SegmentOfResult`` 9.

Formats (one conversion point each):

* dates ``yyyyMMdd``, times ``yyyyMMddHHmmss`` in Japan time.  An aware
  datetime is converted to JST; a naive one is taken as UTC — the project's
  convention for recorded times (:func:`onshi.store.db.utcnow`).
* ratios in tenths become 3-digit percent (3 → ``"030"``).
* kana (full-width in the domain) becomes half-width (``ｺｳﾛｳ ﾀﾛｳ``).
* Shift_JIS means Windows code page 932 (what clinic PCs write).  A character
  it cannot encode becomes ``〓`` (げた, U+3013) instead of failing; so does any
  character XML 1.0 cannot carry.  Tab, CR and LF in a value become a space.

>>> req = parse_request(SAMPLE_REQUEST, today=date(2026, 11, 22))
>>> req.insurer_number, req.number, req.birth_date, req.limit_consent
('06139992', '187', datetime.date(1980, 4, 1), True)
"""

from __future__ import annotations

import codecs
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any, Iterable, Literal, Sequence, Union

import defusedxml
import defusedxml.ElementTree as DET
import jaconv

from onshi.interop.oqs.codes import (
    CharacterCode,
    LimitCategory,
    LimitCertificateClassification,
    LimitConsent,
    Preschool,
    ProcessingResultStatus,
    SegmentOfResult,
    label,
    wire,
)
from onshi.store import clock
from onshi.verify.result import (
    Consent,
    ConsentKind,
    ConsentStatus,
    QualificationAnswer,
    ReferenceClass,
    ReferenceRegistration,
    Validity,
    VerificationError,
    VerificationOutcome,
    VerificationRequest,
)

__all__ = [
    "ErrorCode", "RequestHeader", "ReferenceRegistrationRequest", "BulkRequest", "BulkFetchRequest",
    "BulkItemResult", "MAX_DAYS_AHEAD", "SUBSTITUTE",
    "detect_encoding", "read_header", "to_half_width_kana",
    "parse_request", "parse_request_json", "parse_reference_registration", "parse_bulk_request",
    "parse_bulk_fetch",
    "render_result", "render_result_json", "render_error", "render_error_json",
    "render_reference_registration_result", "render_bulk_accepted", "render_bulk_result",
]

Encoding = Literal["utf-8", "shift_jis"]

MAX_DAYS_AHEAD = 31  #: the furthest a clinic looks ahead (a bulk check of next month's appointments)
SUBSTITUTE = "\u3013"  #: 〓, written for a character the output encoding (or XML) cannot carry
JST = clock.JST


class ErrorCode(str, Enum):
    """Error codes this layer raises (``ErrorCode`` of ``SegmentOfResult`` 9).

    The verification service uses the same scheme (E0002 institution mismatch,
    E0103 date of care out of range, E0201/E0202 card, E0301 照会番号).
    """

    MALFORMED = "E0001"           #: not well-formed XML/JSON, truncated, empty
    ENCODING = "E0003"            #: unsupported encoding, or bytes not valid in the declared encoding
    DTD_FORBIDDEN = "E0004"       #: DOCTYPE / entity declarations (XML bombs, external entities)
    STRUCTURE = "E0005"           #: not an XmlMsg, MessageHeader/MessageBody or the body element missing
    MISSING = "E0101"             #: a required field is missing or empty
    FORMAT = "E0102"              #: wrong format: digits, length, a code outside its table
    DATE_OUT_OF_RANGE = "E0103"   #: date of care too far ahead (or birth date after today)
    BAD_DATE = "E0104"            #: not a yyyyMMdd calendar date (e.g. 20250230)
    REFERENCE_NUMBER = "E0301"    #: 照会番号 empty or longer than 50
    UNKNOWN_RECEPTION = "E0401"   #: bulk fetch of a ReceptionNumber this institution never received
    BULK_SIZE = "E0402"           #: bulk upload empty or above MAX_BULK_ITEMS
    INTERNAL = "E0901"            #: the service failed unexpectedly; retry later


MAX_BULK_ITEMS = 10_000


def _err(code: ErrorCode, message: str, field: str | None = None) -> VerificationError:
    return VerificationError(code.value, message, field)


# ---------------------------------------------------------------- encodings and text

_GETA = "onshi-geta"


def _geta(exc: UnicodeError) -> tuple[str, int]:
    if isinstance(exc, UnicodeEncodeError):
        return SUBSTITUTE * (exc.end - exc.start), exc.end
    raise exc


codecs.register_error(_GETA, _geta)

# Unicode characters that other Shift_JIS tables (JIS X 0208 mappings on Unix/macOS)
# produce for bytes that CP932 maps elsewhere: fold them to the CP932 ones so they survive.
_CP932_FOLD = str.maketrans({
    "\u301c": "\uff5e",  # 〜 WAVE DASH → ～
    "\u2016": "\u2225",  # ‖ → ∥
    "\u2212": "\uff0d",  # − MINUS → －
    "\u00a2": "\uffe0", "\u00a3": "\uffe1", "\u00ac": "\uffe2",
    "\u2014": "\u2015",  # — EM DASH → ―
})

_SJIS_NAMES = {"shift_jis", "shift-jis", "sjis", "x-sjis", "cp932", "ms932", "windows-31j", "ms_kanji",
               "csshiftjis", "shiftjis"}
_UTF8_NAMES = {"utf-8", "utf8"}
_DECL_RE = re.compile(rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*["']([^"']*)["']""", re.S)
_DECL_TEXT_RE = re.compile(r"^\ufeff?\s*<\?xml[^>]*\?>", re.S)
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _declared(data: bytes) -> str | None:
    m = _DECL_RE.match(data[:400])
    return m.group(1).decode("ascii", "replace").strip() if m else None


def detect_encoding(data: bytes) -> Encoding:
    """The encoding to answer in: ``"shift_jis"`` when the XML declaration says so, else ``"utf-8"``.

    Never raises (an unsupported declaration is reported by :func:`parse_request`).

    >>> detect_encoding(b'<?xml version="1.0" encoding="Shift_JIS" standalone="no"?><XmlMsg/>')
    'shift_jis'
    >>> detect_encoding(b'<XmlMsg/>')
    'utf-8'
    """
    name = (_declared(data) or "").lower()
    return "shift_jis" if name in _SJIS_NAMES else "utf-8"


def _codec(data: bytes) -> tuple[str, str]:
    """(python codec, declared name) for reading ``data``; raises E0003 for anything else."""
    name = _declared(data)
    if name is None or name.lower() in _UTF8_NAMES:
        return "utf-8-sig", name or "UTF-8"
    if name.lower() in _SJIS_NAMES:
        return "cp932", name
    raise _err(ErrorCode.ENCODING, f"文字コード {name} には対応していません。UTF-8 か Shift_JIS で送ってください "
                                   f"(unsupported encoding {name!r}: use UTF-8 or Shift_JIS)", "encoding")


def _clean(text: str) -> str:
    """A value fit for XML 1.0 on one line: tab/CR/LF → space, other control characters → 〓."""
    text = text.replace("\t", " ").replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    return _XML_BAD.sub(SUBSTITUTE, text)


def to_half_width_kana(text: str) -> str:
    """Full-width katakana (or hiragana) as the half-width kana OQS uses.

    >>> to_half_width_kana("コウロウ　タロウ")
    'ｺｳﾛｳ ﾀﾛｳ'
    >>> to_half_width_kana("がっこう")
    'ｶﾞｯｺｳ'
    """
    return jaconv.z2h(jaconv.hira2kata(text), kana=True, ascii=True, digit=True)


def _encode(text: str, encoding: Encoding) -> bytes:
    if encoding == "shift_jis":
        return text.translate(_CP932_FOLD).encode("cp932", _GETA)
    return text.encode("utf-8", _GETA)


def _norm(encoding: str) -> Encoding:
    e = encoding.lower()
    if e in _UTF8_NAMES:
        return "utf-8"
    if e in _SJIS_NAMES:
        return "shift_jis"
    raise ValueError(f"encoding must be 'utf-8' or 'shift_jis', not {encoding!r}")


def _jst(moment: datetime) -> datetime:
    return clock.to_japan_time(moment)


def _ymd(day: date | None) -> str | None:
    return None if day is None else f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _ymdhms(moment: datetime | None) -> str | None:
    return None if moment is None else _jst(moment).strftime("%Y%m%d%H%M%S")


# ---------------------------------------------------------------- reading: bytes → tree

Tree = dict[str, Any]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _to_tree(el: ET.Element) -> Any:
    """An element as a string (leaf) or a dict; a repeated child becomes a list."""
    children = list(el)
    if not children:
        return el.text or ""
    grouped: dict[str, list[Any]] = {}
    for child in children:
        grouped.setdefault(_local(child.tag), []).append(_to_tree(child))
    return {name: values[0] if len(values) == 1 else values for name, values in grouped.items()}


def _xml_tree(data: bytes) -> Tree:
    """Decode and parse safely; returns ``{"XmlMsg": {...}}`` as nested dicts/lists/strings."""
    if not data or not data.strip():
        raise _err(ErrorCode.MALFORMED, "ファイルが空です (empty message)", None)
    codec, declared = _codec(data)
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise _err(ErrorCode.ENCODING, f"宣言された文字コード {declared} として読めないバイトがあります "
                                       f"(byte {exc.start} is not valid {declared}; check the encoding declaration)",
                   "encoding") from None
    text = _DECL_TEXT_RE.sub("", text, count=1)
    try:
        root = DET.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (defusedxml.DTDForbidden, defusedxml.EntitiesForbidden, defusedxml.ExternalReferenceForbidden):
        raise _err(ErrorCode.DTD_FORBIDDEN, "DOCTYPE・実体宣言は受け付けません (DOCTYPE and entity declarations are "
                                            "not accepted)", None) from None
    except ET.ParseError as exc:
        raise _err(ErrorCode.MALFORMED, f"XMLとして読めません。ファイルが途中で切れていませんか (not well-formed XML: "
                                        f"{exc}; is the file complete?)", None) from None
    return {_local(root.tag): _to_tree(root)}


def _json_tree(data: bytes) -> Tree:
    if not data or not data.strip():
        raise _err(ErrorCode.MALFORMED, "メッセージが空です (empty message)", None)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _err(ErrorCode.ENCODING, f"JSONはUTF-8で送ってください (byte {exc.start} is not valid UTF-8)",
                   "encoding") from None
    try:
        tree = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _err(ErrorCode.MALFORMED, f"JSONとして読めません (not valid JSON: {exc})", None) from None
    if not isinstance(tree, dict):
        raise _err(ErrorCode.STRUCTURE, "XmlMsg オブジェクトがありません (expected {\"XmlMsg\": {...}})", "XmlMsg")
    return tree


def _parts(tree: Tree, body_required: bool = True) -> tuple[dict, dict]:
    msg = tree.get("XmlMsg")
    if not isinstance(msg, dict):
        raise _err(ErrorCode.STRUCTURE, "XmlMsg 要素がありません (root element must be XmlMsg)", "XmlMsg")
    header = msg.get("MessageHeader")
    if not isinstance(header, dict):
        raise _err(ErrorCode.STRUCTURE, "MessageHeader がありません (MessageHeader missing)", "MessageHeader")
    body = msg.get("MessageBody")
    if not isinstance(body, dict):
        if body_required:
            raise _err(ErrorCode.STRUCTURE, "MessageBody がありません (MessageBody missing)", "MessageBody")
        body = {}
    return header, body


def _scalar(node: dict, name: str, path: str) -> str | None:
    """A leaf value as a stripped string (None when absent or empty); numbers in JSON are accepted."""
    value = node.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        value = "1" if value else "0"
    if isinstance(value, (int, float)):
        value = str(value)
    if not isinstance(value, str):
        raise _err(ErrorCode.FORMAT, f"{name} は値でなければなりません (expected a single value)", f"{path}{name}")
    value = value.strip()
    return value or None


def _required(node: dict, name: str, path: str, label_ja: str) -> str:
    value = _scalar(node, name, path)
    if value is None:
        raise _err(ErrorCode.MISSING, f"{label_ja}({name})がありません ({name} is required)", f"{path}{name}")
    return value


def _half(value: str) -> str:
    return jaconv.z2h(value, kana=False, ascii=True, digit=True).strip()


def _date(value: str, field: str, label_ja: str) -> date:
    text = _half(value)
    if not re.fullmatch(r"\d{8}", text):
        raise _err(ErrorCode.BAD_DATE, f"{label_ja}は yyyyMMdd の8桁です ({field} must be yyyyMMdd, got {value!r})",
                   field)
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise _err(ErrorCode.BAD_DATE, f"{label_ja} {text} は存在しない日付です ({field}: no such date {text})",
                   field) from None


def _length(value: str | None, limit: int, field: str, label_ja: str) -> str | None:
    if value is not None and len(value) > limit:
        raise _err(ErrorCode.FORMAT, f"{label_ja}は{limit}文字以内です ({field} longer than {limit} characters)", field)
    return value


# ---------------------------------------------------------------- numbers (onshi.numbers when present)

def _numbers(module: str):
    try:
        return __import__(f"onshi.numbers.{module}", fromlist=["validate"])
    except ImportError:
        return None


def _stdnum_message(exc: Exception) -> str:
    return getattr(exc, "message", None) or str(exc)


def _insurer_number(value: str, field: str) -> str:
    """8-digit 保険者番号; 6-digit 国保 numbers, bare or padded on the left with spaces or zeros, accepted."""
    mod = _numbers("insurer_number")
    if mod is not None:
        from stdnum.exceptions import ValidationError

        try:
            conv = getattr(mod, "from_oqs", None)
            return mod.validate(conv(value) if conv else value)
        except ValidationError as exc:
            raise _err(ErrorCode.FORMAT, f"保険者番号が正しくありません ({field}: {_stdnum_message(exc)}; "
                                         f"8 digits, or 6 for 国保)", field) from None
    # Minimal check while onshi.numbers.insurer_number is absent: shape only, no check digit.
    text = _half(value)
    if re.fullmatch(r"\d{8}", text):
        return text
    if re.fullmatch(r"\d{6}", text):
        return "00" + text
    raise _err(ErrorCode.FORMAT, f"保険者番号は8桁(国保は6桁)です ({field} must have 8 digits, or 6 for 国保; "
                                 f"got {len(text)} characters)", field)


def _institution_code(value: str, field: str) -> str:
    mod = _numbers("institution_code")
    if mod is not None:
        from stdnum.exceptions import ValidationError

        try:
            return mod.validate(value)
        except ValidationError as exc:
            raise _err(ErrorCode.FORMAT, f"医療機関コードが正しくありません ({field}: {_stdnum_message(exc)})",
                       field) from None
    text = _half(value)
    if not re.fullmatch(r"\d{10}", text):
        raise _err(ErrorCode.FORMAT, f"医療機関コードは10桁です ({field} must have 10 digits)", field)
    return text


def _card_part(kind: str, value: str, field: str) -> str:
    mod = _numbers("insured_card")
    compact = getattr(mod, f"compact_{kind}", None) if mod is not None else None
    labels = {"symbol": "記号", "number": "番号", "branch": "枝番"}
    if compact is not None:
        from stdnum.exceptions import ValidationError

        try:
            return compact(value)
        except ValidationError as exc:
            raise _err(ErrorCode.FORMAT, f"{labels[kind]}が正しくありません ({field}: {_stdnum_message(exc)})",
                       field) from None
    text = _half(value)
    if kind == "branch":
        if not re.fullmatch(r"\d{1,2}", text):
            raise _err(ErrorCode.FORMAT, f"枝番は2桁の数字です ({field} must be 2 digits)", field)
        return text.zfill(2)
    if len(text) > 20:
        raise _err(ErrorCode.FORMAT, f"{labels[kind]}は20文字以内です ({field} longer than 20 characters)", field)
    return text


# ---------------------------------------------------------------- requests

@dataclass(frozen=True)
class RequestHeader:
    """The header of a request as sent (raw strings), for answering even a request that cannot be parsed."""

    confirmation_date: str | None
    institution_code: str | None
    arbitrary_file_identifier: str | None
    reception_number: str | None = None


def _header_of(tree: Tree) -> RequestHeader | None:
    msg = tree.get("XmlMsg")
    header = msg.get("MessageHeader") if isinstance(msg, dict) else None
    if not isinstance(header, dict):
        return None

    def s(name: str) -> str | None:
        v = header.get(name)
        return v.strip() if isinstance(v, str) else (str(v) if isinstance(v, int) else None)

    return RequestHeader(s("QualificationConfirmationDate"), s("MedicalInstitutionCode"),
                         header.get("ArbitraryFileIdentifier") if isinstance(header.get("ArbitraryFileIdentifier"), str)
                         else None, s("ReceptionNumber"))


def _lxml_tree(el: Any) -> Any:
    children = [c for c in el if isinstance(c.tag, str)]  # skip comments and processing instructions
    if not children:
        return el.text or ""
    grouped: dict[str, list[Any]] = {}
    for child in children:
        grouped.setdefault(_local(child.tag), []).append(_lxml_tree(child))
    return {name: values[0] if len(values) == 1 else values for name, values in grouped.items()}


def _recover_header(data: bytes) -> RequestHeader | None:
    """The header of a message that is not well-formed (truncated, a bad byte further on), if it is complete.

    Only for data without any ``<!`` markup (so no DTD can be involved); the
    recovering parser resolves no entities and loads nothing.
    """
    from lxml import etree

    if b"<!" in data:
        return None
    try:
        codec, _ = _codec(data)
    except VerificationError:
        return None
    text = _DECL_TEXT_RE.sub("", data.decode(codec, errors="replace"), count=1)
    if "</MessageHeader>" not in text:
        return None
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False)
    try:
        root = etree.fromstring(text.encode("utf-8"), parser)
    except etree.XMLSyntaxError:
        return None
    if root is None or _local(root.tag) != "XmlMsg":
        return None
    return _header_of({"XmlMsg": _lxml_tree(root)})


def read_header(data: bytes, *, json_form: bool = False) -> RequestHeader | None:
    """The header of a message, or None when not even that can be read (bad encoding, not XML, no header).

    A truncated XML message whose ``MessageHeader`` is complete still has a readable header.
    """
    try:
        tree = _json_tree(data) if json_form else _xml_tree(data)
    except VerificationError as exc:
        if json_form or exc.code not in (ErrorCode.MALFORMED.value, ErrorCode.ENCODING.value):
            return None
        return _recover_header(data)
    return _header_of(tree)


def _load(data: bytes, json_form: bool) -> Tree:
    """Bytes → tree; a parse error carries whatever header could be recovered (``request_header``)."""
    try:
        return _json_tree(data) if json_form else _xml_tree(data)
    except VerificationError as exc:
        if not json_form and exc.code in (ErrorCode.MALFORMED.value, ErrorCode.ENCODING.value):
            exc.request_header = _recover_header(data)  # type: ignore[attr-defined]
        raise


def _with_header(tree: Tree | None, exc: VerificationError) -> VerificationError:
    if tree is not None and getattr(exc, "request_header", None) is None:
        exc.request_header = _header_of(tree)  # type: ignore[attr-defined]
    return exc


@dataclass(frozen=True)
class _Header:
    care_date: date
    institution_code: str
    arbitrary_file_identifier: str | None


def _parse_header(header: dict, today: date | None, *, care_date_required: bool = True) -> _Header:
    p = "MessageHeader."
    raw = _scalar(header, "QualificationConfirmationDate", p)
    if raw is None:
        if care_date_required:
            raise _err(ErrorCode.MISSING, "資格確認日(QualificationConfirmationDate)がありません "
                                          "(QualificationConfirmationDate is required)", "QualificationConfirmationDate")
        care = today or clock.japan_today()
    else:
        care = _date(raw, "QualificationConfirmationDate", "資格確認日")
    if today is not None and care > today + timedelta(days=MAX_DAYS_AHEAD):
        raise _err(ErrorCode.DATE_OUT_OF_RANGE, f"資格確認日 {care:%Y%m%d} が未来すぎます ({MAX_DAYS_AHEAD}日以内) "
                                                f"(date of care more than {MAX_DAYS_AHEAD} days ahead)",
                   "QualificationConfirmationDate")
    code = _institution_code(_required(header, "MedicalInstitutionCode", p, "医療機関コード"), "MedicalInstitutionCode")
    afi = header.get("ArbitraryFileIdentifier")
    afi = afi if isinstance(afi, str) and afi != "" else None
    _length(afi, 50, "ArbitraryFileIdentifier", "任意のファイル識別子")
    rc = _scalar(header, "ReferenceClassification", p)
    if rc is not None and _half(rc) != "2":
        raise _err(ErrorCode.FORMAT, "照会区分は 2(被保険者証情報) のみ送れます。マイナンバーカードの照会はカードリーダーから"
                                     "始まります (ReferenceClassification must be 2; card verification starts at "
                                     "the reader)", "ReferenceClassification")
    return _Header(care, code, afi)


def _search_info(info: Any, header: _Header, today: date | None, path: str) -> VerificationRequest:
    if not isinstance(info, dict):
        raise _err(ErrorCode.STRUCTURE, f"{path} がありません ({path} missing)", path)
    p = path + "."
    insurer = _insurer_number(_required(info, "InsurerNumber", p, "保険者番号"), p + "InsurerNumber")
    symbol_raw = _scalar(info, "InsuredCardSymbol", p)
    symbol = _card_part("symbol", symbol_raw, p + "InsuredCardSymbol") if symbol_raw else None
    number = _card_part("number", _required(info, "InsuredIdentificationNumber", p, "被保険者番号"),
                        p + "InsuredIdentificationNumber")
    branch_raw = _scalar(info, "InsuredBranchNumber", p)
    branch = _card_part("branch", branch_raw, p + "InsuredBranchNumber") if branch_raw else None
    birth = _date(_required(info, "Birthdate", p, "生年月日"), p + "Birthdate", "生年月日")
    if today is not None and birth > today:
        raise _err(ErrorCode.DATE_OUT_OF_RANGE, f"生年月日 {birth:%Y%m%d} が未来です (Birthdate after today)",
                   p + "Birthdate")
    flag = _half(_required(info, "LimitApplicationCertificateRelatedConsFlg", p, "限度額適用認定証提供同意フラグ"))
    if flag not in {wire(c) for c in LimitConsent}:
        raise _err(ErrorCode.FORMAT, "限度額適用認定証提供同意フラグは 0 か 1 です "
                                     "(LimitApplicationCertificateRelatedConsFlg must be 0 or 1)",
                   p + "LimitApplicationCertificateRelatedConsFlg")
    arb = info.get("ArbitraryIdentifier")
    arb = arb if isinstance(arb, str) and arb != "" else None
    _length(arb, 100, p + "ArbitraryIdentifier", "任意の識別子")
    return VerificationRequest(
        reference_class=ReferenceClass.NUMBERS, care_date=header.care_date, institution_code=header.institution_code,
        arbitrary_file_identifier=header.arbitrary_file_identifier, insurer_number=insurer, symbol=symbol,
        number=number, branch=branch, birth_date=birth, limit_consent=flag == "1", arbitrary_identifier=arb)


def _request(tree: Tree, today: date | None) -> VerificationRequest:
    try:
        header, body = _parts(tree)
        h = _parse_header(header, today)
        info = body.get("QualificationConfirmSearchInfo")
        if isinstance(info, list):
            raise _err(ErrorCode.STRUCTURE, "単件照会の QualificationConfirmSearchInfo は1件です (one "
                                            "QualificationConfirmSearchInfo per single request; use bulk for more)",
                       "QualificationConfirmSearchInfo")
        if info is None:
            raise _err(ErrorCode.MISSING, "QualificationConfirmSearchInfo がありません (QualificationConfirmSearchInfo "
                                          "missing)", "QualificationConfirmSearchInfo")
        return _search_info(info, h, today, "QualificationConfirmSearchInfo")
    except VerificationError as exc:
        raise _with_header(tree, exc) from None


def parse_request(data: bytes, *, today: date | None = None) -> VerificationRequest:
    """A single verification request (照会区分 2) in XML, UTF-8 or Shift_JIS.

    ``today`` (the server's date in Japan) enables the range checks: the date
    of care at most :data:`MAX_DAYS_AHEAD` days ahead, the birth date not after
    today.  Raises :class:`VerificationError`; when the header could be read
    the error carries it as ``request_header`` so :func:`render_error` can
    echo it.
    """
    return _request(_load(data, False), today)


def parse_request_json(data: bytes, *, today: date | None = None) -> VerificationRequest:
    """The same request as JSON (``{"XmlMsg": {...}}``, UTF-8)."""
    return _request(_load(data, True), today)


@dataclass(frozen=True)
class ReferenceRegistrationRequest:
    """照会番号 registration (one, or many in bulk)."""

    institution_code: str
    arbitrary_file_identifier: str | None
    registrations: tuple[ReferenceRegistration, ...]


def parse_reference_registration(data: bytes, *, json_form: bool = False) -> ReferenceRegistrationRequest:
    """``OQSsiimm01req`` / ``OQSmuimm01req``: one or more ``ReferenceNumberRegistrationInfo``.

    The header needs only ``MedicalInstitutionCode`` (``QualificationConfirmationDate`` is optional here).
    """
    tree = _load(data, json_form)
    try:
        header, body = _parts(tree)
        h = _parse_header(header, None, care_date_required=False)
        items = body.get("ReferenceNumberRegistrationInfo")
        if items is None:
            raise _err(ErrorCode.MISSING, "ReferenceNumberRegistrationInfo がありません "
                                          "(ReferenceNumberRegistrationInfo missing)", "ReferenceNumberRegistrationInfo")
        items = items if isinstance(items, list) else [items]
        if len(items) > MAX_BULK_ITEMS:
            raise _err(ErrorCode.BULK_SIZE, f"一度に登録できるのは{MAX_BULK_ITEMS}件までです (at most {MAX_BULK_ITEMS})",
                       "ReferenceNumberRegistrationInfo")
        regs = []
        for i, item in enumerate(items):
            path = f"ReferenceNumberRegistrationInfo[{i}]" if len(items) > 1 else "ReferenceNumberRegistrationInfo"
            if not isinstance(item, dict):
                raise _err(ErrorCode.STRUCTURE, f"{path} が空です ({path} is empty)", path)
            p = path + "."
            ref = item.get("ReferenceNumber")
            ref = ref.strip() if isinstance(ref, str) else (str(ref) if isinstance(ref, int) else "")
            if not ref or len(ref) > 50:
                raise _err(ErrorCode.REFERENCE_NUMBER, "照会番号は1〜50文字です (ReferenceNumber must be 1–50 "
                                                       "characters)", p + "ReferenceNumber")
            insurer = _insurer_number(_required(item, "InsurerNumber", p, "保険者番号"), p + "InsurerNumber")
            sym = _scalar(item, "InsuredCardSymbol", p)
            number = _card_part("number", _required(item, "InsuredIdentificationNumber", p, "被保険者番号"),
                                p + "InsuredIdentificationNumber")
            br = _scalar(item, "InsuredBranchNumber", p)
            regs.append(ReferenceRegistration(
                reference_number=ref, insurer_number=insurer,
                symbol=_card_part("symbol", sym, p + "InsuredCardSymbol") if sym else None, number=number,
                branch=_card_part("branch", br, p + "InsuredBranchNumber") if br else None))
        return ReferenceRegistrationRequest(h.institution_code, h.arbitrary_file_identifier, tuple(regs))
    except VerificationError as exc:
        raise _with_header(tree, exc) from None


@dataclass(frozen=True)
class BulkRequest:
    """``OQSmuquc01req``: many numbers to verify for one date of care (e.g. tomorrow's appointments)."""

    institution_code: str
    arbitrary_file_identifier: str | None
    care_date: date
    items: tuple[VerificationRequest, ...]


def parse_bulk_request(data: bytes, *, today: date | None = None, json_form: bool = False) -> BulkRequest:
    """A bulk upload: the header as for a single request, the body a repeated ``QualificationConfirmSearchInfo``.

    One bad item rejects the whole upload (the error names it, e.g.
    ``QualificationConfirmSearchInfo[3].InsurerNumber``) so the clinic fixes
    and resends one file instead of reconciling a partial reception.
    """
    tree = _load(data, json_form)
    try:
        header, body = _parts(tree)
        h = _parse_header(header, today)
        items = body.get("QualificationConfirmSearchInfo")
        if items is None:
            raise _err(ErrorCode.BULK_SIZE, "照会対象がありません (no QualificationConfirmSearchInfo in the upload)",
                       "QualificationConfirmSearchInfo")
        items = items if isinstance(items, list) else [items]
        if len(items) > MAX_BULK_ITEMS:
            raise _err(ErrorCode.BULK_SIZE, f"一括照会は{MAX_BULK_ITEMS}件までです (at most {MAX_BULK_ITEMS} per "
                                            f"upload)", "QualificationConfirmSearchInfo")
        reqs = tuple(_search_info(item, h, today, f"QualificationConfirmSearchInfo[{i}]")
                     for i, item in enumerate(items))
        return BulkRequest(h.institution_code, h.arbitrary_file_identifier, h.care_date, reqs)
    except VerificationError as exc:
        raise _with_header(tree, exc) from None


@dataclass(frozen=True)
class BulkFetchRequest:
    """``OQSmuquc02req``: fetch the results of an earlier upload by its ``ReceptionNumber``."""

    institution_code: str
    arbitrary_file_identifier: str | None
    reception_number: str


def parse_bulk_fetch(data: bytes, *, json_form: bool = False) -> BulkFetchRequest:
    """``ReceptionNumber`` is read from the body or, as some clients put it, from the header."""
    tree = _load(data, json_form)
    try:
        header, body = _parts(tree, body_required=False)
        h = _parse_header(header, None, care_date_required=False)
        number = _scalar(body, "ReceptionNumber", "MessageBody.") or _scalar(header, "ReceptionNumber",
                                                                              "MessageHeader.")
        if number is None:
            raise _err(ErrorCode.MISSING, "受付番号(ReceptionNumber)がありません (ReceptionNumber is required)",
                       "ReceptionNumber")
        _length(number, 50, "ReceptionNumber", "受付番号")
        return BulkFetchRequest(h.institution_code, h.arbitrary_file_identifier, number)
    except VerificationError as exc:
        raise _with_header(tree, exc) from None


# ---------------------------------------------------------------- writing: tree → bytes

Node = tuple[str, Union[str, list]]  # (tag, text) or (tag, [child nodes])


def _add(nodes: list, tag: str, value: Any) -> None:
    """Append a leaf when it has a value (None leaves an optional element out)."""
    if value is None:
        return
    if isinstance(value, Enum):
        value = wire(value)
    nodes.append((tag, _clean(str(value))))


def _ratio(tenths: int | None) -> str | None:
    if tenths is None:
        return None
    if not 0 <= tenths <= 10:
        raise ValueError(f"ratio in tenths out of range: {tenths}")
    return f"{tenths * 10:03d}"


def _postal(code: str | None) -> str | None:
    if not code:
        return None
    digits = re.sub(r"\D", "", _half(code))
    return f"{digits[:3]}-{digits[3:]}" if len(digits) == 7 else code


def _insurer_out(number: str) -> str:
    """Always 8 characters: a 6-digit 国保 number padded with zeros (clients compare it as an integer)."""
    return number.zfill(8) if number.isdigit() else number


_CONSENT_TAGS = {
    ConsentKind.SPECIFIC_HEALTH_CHECKUPS: "SpecificHealthCheckupsInfo",
    ConsentKind.PHARMACIST: "PharmacistsInfo",
    ConsentKind.DIAGNOSIS: "DiagnosisInfo",
    ConsentKind.OPERATION: "OperationInfo",
}


def _limit_flag(answer: QualificationAnswer, request: VerificationRequest | None) -> LimitConsent:
    c = answer.limit_consent
    if c is not None:
        return LimitConsent.GIVEN if c.status == ConsentStatus.GIVEN else LimitConsent.NOT_GIVEN
    return LimitConsent.GIVEN if request is not None and request.limit_consent else LimitConsent.NOT_GIVEN


def _answer_nodes(a: QualificationAnswer, request: VerificationRequest | None) -> list[Node]:
    n: list[Node] = []
    _add(n, "InsuredCardClassification", a.card_classification)
    _add(n, "InsurerNumber", _insurer_out(a.insurer_number))
    _add(n, "InsuredCardSymbol", a.symbol or None)
    _add(n, "InsuredIdentificationNumber", a.number)
    _add(n, "InsuredBranchNumber", a.branch or None)
    _add(n, "PersonalFamilyClassification", a.personal_family)
    _add(n, "InsuredName", a.insured_name)
    _add(n, "Name", a.name or "")
    _add(n, "NameOfOther", a.name_of_other)
    _add(n, "NameKana", to_half_width_kana(a.name_kana) if a.name_kana else None)
    _add(n, "NameOfOtherKana", to_half_width_kana(a.name_of_other_kana) if a.name_of_other_kana else None)
    _add(n, "Sex1", a.sex)
    _add(n, "Birthdate", _ymd(a.birth_date))
    _add(n, "Address", a.address)
    _add(n, "PostNumber", _postal(a.postal_code))
    _add(n, "InsurerName", a.insurer_name or "")
    _add(n, "QualificationDate", _ymd(a.qualification_date))
    _add(n, "DisqualificationDate", _ymd(a.disqualification_date))
    _add(n, "ReasonOfLoss", a.loss_reason)
    _add(n, "InsuredCertificateIssuanceDate", _ymd(a.certificate_issue_date))
    _add(n, "InsuredCardValidDate", _ymd(a.card_valid_from))
    _add(n, "InsuredCardExpirationDate", _ymd(a.card_valid_to))
    _add(n, "InsuredPartialContributionRatio", _ratio(a.co_pay_ratio_tenths))
    _add(n, "PreschoolClassification", Preschool.PRESCHOOL if a.preschool else None)
    if a.elderly is not None:
        e: list[Node] = []
        _add(e, "ElderlyRecipientCertificateDate", _ymd(a.elderly.certificate_date))
        _add(e, "ElderlyRecipientValidStartDate", _ymd(a.elderly.valid_from))
        _add(e, "ElderlyRecipientValidEndDate", _ymd(a.elderly.valid_to))
        _add(e, "ElderlyRecipientContributionRatio", _ratio(a.elderly.ratio_tenths))
        n.append(("ElderlyRecipientCertificateInfo", e))
    flag = _limit_flag(a, request)
    _add(n, "LimitApplicationCertificateRelatedConsFlg", flag)
    _add(n, "LimitApplicationCertificateRelatedConsTime",
         _ymdhms(a.limit_consent.consented_at) if a.limit_consent is not None else None)
    if flag == LimitConsent.GIVEN and a.limit is not None:
        li: list[Node] = []
        _add(li, "LimitApplicationCertificateClassification", LimitCertificateClassification(a.limit.classification_code))
        _add(li, "LimitApplicationCertificateClassificationFlag", LimitCategory(a.limit.category_code))
        # 交付年月日 only for an application's 認定: a 区分 derived from the registered 標準報酬月額 has no
        # certificate, and its absence is how the wire tells the two apart (docs/oqs.md, "限度額")
        _add(li, "LimitApplicationCertificateDate", _ymd(a.limit.certificate_date))
        _add(li, "LimitApplicationCertificateValidStartDate", _ymd(a.limit.valid_from))
        _add(li, "LimitApplicationCertificateValidEndDate", _ymd(a.limit.valid_to))
        _add(li, "LimitApplicationCertificateLongTermDate", _ymd(a.limit.long_term_date))
        n.append(("LimitApplicationCertificateRelatedInfo", li))
    by_kind: dict[ConsentKind, Consent] = {c.kind: c for c in a.other_consents}
    for kind, prefix in _CONSENT_TAGS.items():
        c = by_kind.get(kind)
        if c is None:
            continue
        _add(n, f"{prefix}ConsFlg", ConsentStatus(c.status))
        _add(n, f"{prefix}ConsTime", _ymdhms(c.consented_at))
        _add(n, f"{prefix}AvailableTime", _ymdhms(c.available_until))
    _add(n, "ReferenceNumber", a.reference_number)
    _add(n, "ArbitraryIdentifier", a.arbitrary_identifier)
    return n


def _search_nodes(r: VerificationRequest) -> list[Node]:
    s: list[Node] = []
    _add(s, "InsurerNumber", _insurer_out(r.insurer_number) if r.insurer_number else None)
    _add(s, "InsuredCardSymbol", r.symbol or None)
    _add(s, "InsuredIdentificationNumber", r.number)
    _add(s, "InsuredBranchNumber", r.branch or None)
    _add(s, "Birthdate", _ymd(r.birth_date))
    _add(s, "LimitApplicationCertificateRelatedConsFlg", LimitConsent.GIVEN if r.limit_consent else LimitConsent.NOT_GIVEN)
    _add(s, "ArbitraryIdentifier", r.arbitrary_identifier)
    return s


def _valid_ymd(raw: str | None) -> str | None:
    """An echoed date only when it is a real yyyyMMdd date (a client would choke on 20250230)."""
    try:
        return _ymd(_date(raw, "", "")) if raw else None
    except VerificationError:
        return None


def _header_nodes(source: Any, *, processed_at: datetime, encoding: Encoding | Literal["json"],
                  segment: SegmentOfResult, error: VerificationError | None = None,
                  reference_class: ReferenceClass = ReferenceClass.NUMBERS,
                  extra: Sequence[Node] = ()) -> list[Node]:
    """The MessageHeader; every required element is present whatever ``source`` is."""
    care = code = afi = None
    if isinstance(source, VerificationRequest):
        care, code, afi = _ymd(source.care_date), source.institution_code, source.arbitrary_file_identifier
        reference_class = source.reference_class
    elif isinstance(source, BulkRequest):
        care, code, afi = _ymd(source.care_date), source.institution_code, source.arbitrary_file_identifier
    elif isinstance(source, (BulkFetchRequest, ReferenceRegistrationRequest)):
        code, afi = source.institution_code, source.arbitrary_file_identifier
    elif isinstance(source, RequestHeader):
        care, code, afi = _valid_ymd(source.confirmation_date), source.institution_code, \
            source.arbitrary_file_identifier
    h: list[Node] = []
    _add(h, "ProcessExecutionTime", _ymdhms(processed_at))
    _add(h, "QualificationConfirmationDate", care or _ymd(_jst(processed_at).date()))
    _add(h, "MedicalInstitutionCode", code or "")
    _add(h, "ArbitraryFileIdentifier", afi)
    _add(h, "ReferenceClassification", reference_class)
    h.extend(extra)
    _add(h, "SegmentOfResult", segment)
    if segment != SegmentOfResult.NORMAL and error is not None:
        _add(h, "ErrorCode", error.code)
        _add(h, "ErrorMessage", error.message)
    if encoding != "json":
        _add(h, "CharacterCodeIdentifier", CharacterCode.SHIFT_JIS if encoding == "shift_jis" else CharacterCode.UTF8)
    else:
        _add(h, "CharacterCodeIdentifier", CharacterCode.UTF8)
    return h


def _validity_message(outcome: VerificationOutcome) -> tuple[str | None, str | None]:
    if outcome.validity == Validity.VALID:
        return ("W0001", outcome.warning) if outcome.warning else (None, None)
    text = label("OQSCD006", outcome.validity)
    return f"I{int(outcome.validity):04d}", f"{text}" + (f" — {outcome.warning}" if outcome.warning else "")


def _result_body(outcome: VerificationOutcome, request: VerificationRequest | None) -> list[Node]:
    if outcome.validity == Validity.VALID and len(outcome.answers) != 1:
        raise ValueError("a VALID outcome must carry exactly one answer")
    b: list[Node] = []
    _add(b, "ProcessingResultStatus", ProcessingResultStatus.NORMAL)
    code, message = _validity_message(outcome)
    _add(b, "ProcessingResultCode", code)
    _add(b, "ProcessingResultMessage", message)
    _add(b, "QualificationValidity", Validity(outcome.validity))
    if request is not None and request.reference_class == ReferenceClass.NUMBERS:
        b.append(("QualificationConfirmSearchInfo", _search_nodes(request)))
    b.append(("ResultList", [("ResultOfQualificationConfirmation", _answer_nodes(a, request))
                             for a in outcome.answers]))
    return b


def _error_body(error: VerificationError) -> list[Node]:
    b: list[Node] = []
    _add(b, "ProcessingResultStatus", ProcessingResultStatus.ERROR)
    _add(b, "ProcessingResultCode", error.code)
    _add(b, "ProcessingResultMessage", error.message)
    return b


_ALWAYS_ARRAY = {"BulkConfirmUnit", "ReferenceNumberRegistrationResult"}


def _to_json(nodes: list[Node]) -> dict:
    out: dict[str, Any] = {}
    for tag, value in nodes:
        if tag == "ResultList":
            out[tag] = [{t: _to_json(v) if isinstance(v, list) else v} for t, v in value]
            continue
        v = _to_json(value) if isinstance(value, list) else value
        if tag in _ALWAYS_ARRAY:
            out.setdefault(tag, []).append(v)
        elif tag in out:
            out[tag] = out[tag] if isinstance(out[tag], list) else [out[tag]]
            out[tag].append(v)
        else:
            out[tag] = v
    return out


def _to_element(tag: str, value: str | list) -> ET.Element:
    el = ET.Element(tag)
    if isinstance(value, list):
        for t, v in value:
            el.append(_to_element(t, v))
    else:
        el.text = value
    return el


def _serialize(header: list[Node], body: list[Node], encoding: str) -> bytes:
    if encoding == "json":
        msg = {"XmlMsg": {"MessageHeader": _to_json(header), "MessageBody": _to_json(body)}}
        return json.dumps(msg, ensure_ascii=False, indent=1).encode("utf-8", _GETA)
    enc = _norm(encoding)
    root = _to_element("XmlMsg", [("MessageHeader", header), ("MessageBody", body)])
    ET.indent(root, space="  ")
    text = ET.tostring(root, encoding="unicode", short_empty_elements=False)
    decl = "Shift_JIS" if enc == "shift_jis" else "UTF-8"
    return _encode(f'<?xml version="1.0" encoding="{decl}" standalone="no"?>\n{text}\n', enc)


def render_result(outcome: VerificationOutcome, request: VerificationRequest, *, encoding: str = "utf-8",
                  processed_at: datetime) -> bytes:
    """The answer to a verification (``SegmentOfResult`` 1) as XML in ``encoding`` ("utf-8" or "shift_jis")."""
    enc = _norm(encoding)
    return _serialize(_header_nodes(request, processed_at=processed_at, encoding=enc, segment=SegmentOfResult.NORMAL),
                      _result_body(outcome, request), enc)


def render_result_json(outcome: VerificationOutcome, request: VerificationRequest, *,
                       processed_at: datetime) -> bytes:
    """The same answer as JSON: every value a string, ``ResultList`` always an array."""
    return _serialize(_header_nodes(request, processed_at=processed_at, encoding="json",
                                    segment=SegmentOfResult.NORMAL), _result_body(outcome, request), "json")


def _error_source(error: VerificationError, request: Any) -> Any:
    return request if request is not None else getattr(error, "request_header", None)


def render_error(error: VerificationError, request: Any = None, *, encoding: str = "utf-8",
                 processed_at: datetime) -> bytes:
    """``SegmentOfResult`` 9 with ``ErrorCode``/``ErrorMessage``.

    ``request`` is the parsed request, a :class:`RequestHeader`, any of the
    bulk/registration requests, or None — then the header the parser read (if
    any) is echoed, else the processing date and an empty institution code.
    """
    enc = _norm(encoding)
    return _serialize(_header_nodes(_error_source(error, request), processed_at=processed_at, encoding=enc,
                                    segment=SegmentOfResult.ABNORMAL, error=error), _error_body(error), enc)


def render_error_json(error: VerificationError, request: Any = None, *, processed_at: datetime) -> bytes:
    return _serialize(_header_nodes(_error_source(error, request), processed_at=processed_at, encoding="json",
                                    segment=SegmentOfResult.ABNORMAL, error=error), _error_body(error), "json")


def render_reference_registration_result(request: ReferenceRegistrationRequest,
                                         errors: dict[int, VerificationError] | None = None, *,
                                         encoding: str = "utf-8", processed_at: datetime,
                                         reception_number: str | None = None) -> bytes:
    """The answer to 照会番号 registration: one ``ReferenceNumberRegistrationResult`` per item, with counts.

    ``errors`` maps an item's index to why it was not registered.  The header
    is ``SegmentOfResult`` 1 when at least one item was registered, else 9 with
    the first item's error.  ``reception_number`` (bulk registration) goes in the header.
    """
    errors = errors or {}
    body: list[Node] = []
    for i, reg in enumerate(request.registrations):
        item: list[Node] = []
        _add(item, "ReferenceNumber", reg.reference_number)
        err = errors.get(i)
        _add(item, "ProcessingResultStatus", ProcessingResultStatus.ERROR if err else ProcessingResultStatus.NORMAL)
        _add(item, "ProcessingResultCode", err.code if err else None)
        _add(item, "ProcessingResultMessage", err.message if err else None)
        body.append(("ReferenceNumberRegistrationResult", item))
    total, failed = len(request.registrations), len(errors)
    counts: list[Node] = []
    _add(counts, "ReceptionNumber", reception_number)
    _add(counts, "NumberOfProcessingResult", total)
    _add(counts, "NumberOfNormalProcessing", total - failed)
    _add(counts, "NumberOfError", failed)
    all_failed = total > 0 and failed == total
    first = errors[min(errors)] if all_failed else None
    enc = encoding if encoding == "json" else _norm(encoding)
    header = _header_nodes(request, processed_at=processed_at, encoding=enc,  # type: ignore[arg-type]
                           segment=SegmentOfResult.ABNORMAL if all_failed else SegmentOfResult.NORMAL,
                           error=first, extra=counts)
    return _serialize(header, body, enc)


def render_bulk_accepted(request: BulkRequest, reception_number: str, *, received_at: datetime,
                         encoding: str = "utf-8", processed_at: datetime) -> bytes:
    """The answer to a bulk upload: ``ReceptionNumber`` + ``ReceptionDateTime`` (and the count received)."""
    extra: list[Node] = []
    _add(extra, "ReceptionNumber", reception_number)
    _add(extra, "ReceptionDateTime", _ymdhms(received_at))
    _add(extra, "NumberOfProcessingResult", len(request.items))
    body: list[Node] = []
    _add(body, "ProcessingResultStatus", ProcessingResultStatus.NORMAL)
    _add(body, "ReceptionNumber", reception_number)
    _add(body, "ReceptionDateTime", _ymdhms(received_at))
    enc = encoding if encoding == "json" else _norm(encoding)
    return _serialize(_header_nodes(request, processed_at=processed_at, encoding=enc,  # type: ignore[arg-type]
                                    segment=SegmentOfResult.NORMAL, extra=extra), body, enc)


BulkItemResult = tuple[VerificationRequest, Union[VerificationOutcome, VerificationError]]


def render_bulk_result(request: BulkFetchRequest, results: Iterable[BulkItemResult] | None, *,
                       encoding: str = "utf-8", processed_at: datetime) -> bytes:
    """The answer to a bulk fetch.

    ``results`` None → ``SegmentOfResult`` 2 (still processing: poll again).
    Otherwise ``SegmentOfResult`` 1 with one ``BulkConfirmUnit`` per item and
    the counts in the header; an item whose outcome is a
    :class:`VerificationError` has ``ProcessingResultStatus`` 2 and counts in
    ``NumberOfError``.
    """
    enc = encoding if encoding == "json" else _norm(encoding)
    ref: list[Node] = []
    _add(ref, "ReceptionNumber", request.reception_number)
    if results is None:
        header = _header_nodes(request, processed_at=processed_at, encoding=enc,  # type: ignore[arg-type]
                               segment=SegmentOfResult.PROCESSING, extra=ref)
        body: list[Node] = []
        _add(body, "ProcessingResultStatus", ProcessingResultStatus.NORMAL)
        _add(body, "ProcessingResultMessage", "処理中です。しばらくしてから再度取得してください (still processing)")
        return _serialize(header, body, enc)
    body = []
    total = errors = 0
    care: date | None = None
    for req, outcome in results:
        total += 1
        care = care or req.care_date
        unit: list[Node] = [("QualificationConfirmSearchInfo", _search_nodes(req))]
        if isinstance(outcome, VerificationError):
            errors += 1
            unit.extend(_error_body(outcome))
        else:
            if outcome.validity == Validity.VALID and len(outcome.answers) != 1:
                raise ValueError("a VALID outcome must carry exactly one answer")
            _add(unit, "ProcessingResultStatus", ProcessingResultStatus.NORMAL)
            code, message = _validity_message(outcome)
            _add(unit, "ProcessingResultCode", code)
            _add(unit, "ProcessingResultMessage", message)
            _add(unit, "QualificationValidity", Validity(outcome.validity))
            if outcome.answers:
                unit.append(("ResultOfQualificationConfirmation", _answer_nodes(outcome.answers[0], req)))
                _add(unit, "ReferenceNumber", outcome.answers[0].reference_number)
        body.append(("BulkConfirmUnit", unit))
    extra = list(ref)
    _add(extra, "NumberOfProcessingResult", total)
    _add(extra, "NumberOfNormalProcessing", total - errors)
    _add(extra, "NumberOfError", errors)
    source: Any = request
    if care is not None:
        source = RequestHeader(_ymd(care), request.institution_code, request.arbitrary_file_identifier)
    header = _header_nodes(source, processed_at=processed_at, encoding=enc,  # type: ignore[arg-type]
                           segment=SegmentOfResult.NORMAL, extra=extra)
    return _serialize(header, body, enc)


SAMPLE_REQUEST = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<XmlMsg>
  <MessageHeader>
    <QualificationConfirmationDate>20261122</QualificationConfirmationDate>
    <MedicalInstitutionCode>1311234569</MedicalInstitutionCode>
    <ArbitraryFileIdentifier>clinic-0001</ArbitraryFileIdentifier>
  </MessageHeader>
  <MessageBody>
    <QualificationConfirmSearchInfo>
      <InsurerNumber>06139992</InsurerNumber>
      <InsuredCardSymbol>あいう</InsuredCardSymbol>
      <InsuredIdentificationNumber>187</InsuredIdentificationNumber>
      <InsuredBranchNumber>05</InsuredBranchNumber>
      <Birthdate>19800401</Birthdate>
      <LimitApplicationCertificateRelatedConsFlg>1</LimitApplicationCertificateRelatedConsFlg>
      <ArbitraryIdentifier>P-42</ArbitraryIdentifier>
    </QualificationConfirmSearchInfo>
  </MessageBody>
</XmlMsg>
""".encode("utf-8")
