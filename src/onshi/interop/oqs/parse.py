"""Parsing OQS ``XmlMsg`` requests (照会電文の読み取り): bytes in XML or JSON → the domain's request objects.

Pure functions, no database: a request becomes a :class:`~onshi.verify.result.VerificationRequest` (or a
照会番号 registration, a bulk upload, a bulk fetch).  Everything a clinic can get wrong raises
:class:`~onshi.verify.result.VerificationError` with an OQS-style code (:class:`~onshi.interop.oqs.wire.ErrorCode`,
table in ``docs/oqs.md``) and a message naming the field.  XML is read safely (defusedxml: no DTD, no entities);
the encodings, dates and half-width conversions are :mod:`onshi.interop.oqs.wire`'s, the 保険者番号, 医療機関コード
and card numbers :mod:`onshi.numbers`'.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import defusedxml
import defusedxml.ElementTree as DET
from stdnum.exceptions import ValidationError

from onshi.config import get_settings
from onshi.interop.oqs import wire
from onshi.interop.oqs.codes import LimitConsent
from onshi.interop.oqs.codes import wire as wire_value
from onshi.interop.oqs.wire import ErrorCode
from onshi.numbers import institution_code, insured_card, insurer_number
from onshi.store import clock
from onshi.verify.result import ReferenceClass, ReferenceRegistration, VerificationError, VerificationRequest

__all__ = [
    "MAX_DAYS_AHEAD", "RequestHeader", "ReferenceRegistrationRequest", "REGISTRATION_FIELDS", "BulkRequest",
    "BulkFetchRequest",
    "read_header", "parse_request", "parse_request_json", "parse_reference_registration", "parse_bulk_request",
    "parse_bulk_fetch",
]

MAX_DAYS_AHEAD = 31  #: the furthest a clinic looks ahead (a bulk check of next month's appointments)
#: the most elements an XML message may have: a full bulk upload (MAX_BULK_ITEMS items of ~10 fields) and room
MAX_XML_ELEMENTS = 20 * wire.MAX_BULK_ITEMS + 1_000

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


class _BoundedBuilder(ET.TreeBuilder):
    """A tree builder that stops the parse at the first element past the depth or count limit — while expat
    reads, before any tree of that shape exists (so nothing later can recurse on it)."""

    def __init__(self, max_depth: int, max_elements: int):
        super().__init__()
        self.max_depth, self.max_elements, self.depth, self.count = max_depth, max_elements, 0, 0

    def start(self, tag, attrs):
        self.depth += 1
        self.count += 1
        if self.depth > self.max_depth:
            raise wire.error(ErrorCode.STRUCTURE, f"要素の入れ子が深すぎます ({self.max_depth} 段まで) (elements nested "
                                                  f"deeper than {self.max_depth}: not an XmlMsg)", None)
        if self.count > self.max_elements:
            raise wire.error(ErrorCode.STRUCTURE, f"要素が多すぎます ({self.max_elements} 個まで) (more than "
                                                  f"{self.max_elements} elements: not an XmlMsg)", None)
        return super().start(tag, attrs)

    def end(self, tag):
        self.depth -= 1
        return super().end(tag)


def _check_size(data: bytes) -> None:
    """E0005 for a message larger than the ``max_xml_bytes`` setting, before anything decodes or parses it."""
    limit = get_settings().max_xml_bytes
    if len(data) > limit:
        raise wire.error(ErrorCode.STRUCTURE, f"電文が大きすぎます ({limit} バイトまで) (message of {len(data)} bytes; "
                                              f"at most {limit})", None)


def _xml_tree(data: bytes) -> Tree:
    """Decode and parse safely; returns ``{"XmlMsg": {...}}`` as nested dicts/lists/strings.

    Bounded before and while parsing: size (``max_xml_bytes``), nesting depth (``max_xml_depth``) and element
    count (:data:`MAX_XML_ELEMENTS`) — each an E0005, never a recursion or a tree out of proportion."""
    if not data or not data.strip():
        raise wire.error(ErrorCode.MALFORMED, "ファイルが空です (empty message)", None)
    _check_size(data)
    if data.count(b"<") > 2 * MAX_XML_ELEMENTS + 16:  # a fast bound first: an element has at most two tags
        raise wire.error(ErrorCode.STRUCTURE, f"要素が多すぎます ({MAX_XML_ELEMENTS} 個まで) (more than "
                                              f"{MAX_XML_ELEMENTS} elements: not an XmlMsg)", None)
    codec, declared = wire.reading_codec(data)
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise wire.error(ErrorCode.ENCODING, f"宣言された文字コード {declared} として読めないバイトがあります "
                                       f"(byte {exc.start} is not valid {declared}; check the encoding declaration)",
                   "encoding") from None
    text = wire.XML_DECLARATION.sub("", text, count=1)
    try:
        parser = DET.DefusedXMLParser(target=_BoundedBuilder(get_settings().max_xml_depth, MAX_XML_ELEMENTS),
                                      forbid_dtd=True, forbid_entities=True, forbid_external=True)
        parser.feed(text)
        root = parser.close()
    except (defusedxml.DTDForbidden, defusedxml.EntitiesForbidden, defusedxml.ExternalReferenceForbidden):
        raise wire.error(ErrorCode.DTD_FORBIDDEN, "DOCTYPE・実体宣言は受け付けません (DOCTYPE and entity declarations are "
                                            "not accepted)", None) from None
    except ET.ParseError as exc:
        raise wire.error(ErrorCode.MALFORMED, f"XMLとして読めません。ファイルが途中で切れていませんか (not well-formed XML: "
                                        f"{exc}; is the file complete?)", None) from None
    return {_local(root.tag): _to_tree(root)}


def _json_tree(data: bytes) -> Tree:
    if not data or not data.strip():
        raise wire.error(ErrorCode.MALFORMED, "メッセージが空です (empty message)", None)
    _check_size(data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise wire.error(ErrorCode.ENCODING, f"JSONはUTF-8で送ってください (byte {exc.start} is not valid UTF-8)",
                   "encoding") from None
    try:
        tree = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise wire.error(ErrorCode.MALFORMED, f"JSONとして読めません (not valid JSON: {exc})", None) from None
    if not isinstance(tree, dict):
        raise wire.error(ErrorCode.STRUCTURE, "XmlMsg オブジェクトがありません (expected {\"XmlMsg\": {...}})", "XmlMsg")
    return tree


def _parts(tree: Tree, body_required: bool = True) -> tuple[dict, dict]:
    msg = tree.get("XmlMsg")
    if not isinstance(msg, dict):
        raise wire.error(ErrorCode.STRUCTURE, "XmlMsg 要素がありません (root element must be XmlMsg)", "XmlMsg")
    header = msg.get("MessageHeader")
    if not isinstance(header, dict):
        raise wire.error(ErrorCode.STRUCTURE, "MessageHeader がありません (MessageHeader missing)", "MessageHeader")
    body = msg.get("MessageBody")
    if not isinstance(body, dict):
        if body_required:
            raise wire.error(ErrorCode.STRUCTURE, "MessageBody がありません (MessageBody missing)", "MessageBody")
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
        raise wire.error(ErrorCode.FORMAT, f"{name} は値でなければなりません (expected a single value)", f"{path}{name}")
    value = value.strip()
    return value or None


def _required(node: dict, name: str, path: str, label_ja: str) -> str:
    value = _scalar(node, name, path)
    if value is None:
        raise wire.error(ErrorCode.MISSING, f"{label_ja}({name})がありません ({name} is required)", f"{path}{name}")
    return value


def _length(value: str | None, limit: int, field: str, label_ja: str) -> str | None:
    if value is not None and len(value) > limit:
        raise wire.error(ErrorCode.FORMAT, f"{label_ja}は{limit}文字以内です ({field} longer than {limit} characters)", field)
    return value


# ---------------------------------------------------------------- numbers (onshi.numbers)

def _stdnum_message(exc: ValidationError) -> str:
    return getattr(exc, "message", None) or str(exc)


def _insurer_number(value: str, field: str) -> str:
    """8-digit 保険者番号; 6-digit 国保 numbers, bare or padded on the left with spaces or zeros, accepted
    (:func:`onshi.numbers.insurer_number.from_oqs`)."""
    try:
        return insurer_number.validate(insurer_number.from_oqs(value))
    except ValidationError as exc:
        raise wire.error(ErrorCode.FORMAT, f"保険者番号が正しくありません ({field}: {_stdnum_message(exc)}; "
                                           f"8 digits, or 6 for 国保)", field) from None


def _institution_code(value: str, field: str) -> str:
    try:
        return institution_code.validate(value)
    except ValidationError as exc:
        raise wire.error(ErrorCode.FORMAT, f"医療機関コードが正しくありません ({field}: {_stdnum_message(exc)})",
                         field) from None


_CARD_PARTS = {"symbol": ("記号", insured_card.compact_symbol), "number": ("番号", insured_card.compact_number),
               "branch": ("枝番", insured_card.compact_branch)}


def _card_part(kind: str, value: str, field: str) -> str:
    label_ja, compact = _CARD_PARTS[kind]
    try:
        return compact(value)
    except ValidationError as exc:
        raise wire.error(ErrorCode.FORMAT, f"{label_ja}が正しくありません ({field}: {_stdnum_message(exc)})",
                         field) from None


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

    if b"<!" in data or len(data) > get_settings().max_xml_bytes:
        return None
    try:
        codec, _ = wire.reading_codec(data)
    except VerificationError:
        return None
    text = wire.XML_DECLARATION.sub("", data.decode(codec, errors="replace"), count=1)
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
            raise wire.error(ErrorCode.MISSING, "資格確認日(QualificationConfirmationDate)がありません "
                                          "(QualificationConfirmationDate is required)", "QualificationConfirmationDate")
        care = today or clock.japan_today()
    else:
        care = wire.parse_date(raw, "QualificationConfirmationDate", "資格確認日")
    if today is not None and care > today + timedelta(days=MAX_DAYS_AHEAD):
        raise wire.error(ErrorCode.DATE_OUT_OF_RANGE, f"資格確認日 {care:%Y%m%d} が未来すぎます ({MAX_DAYS_AHEAD}日以内) "
                                                f"(date of care more than {MAX_DAYS_AHEAD} days ahead)",
                   "QualificationConfirmationDate")
    code = _institution_code(_required(header, "MedicalInstitutionCode", p, "医療機関コード"), "MedicalInstitutionCode")
    afi = header.get("ArbitraryFileIdentifier")
    afi = afi if isinstance(afi, str) and afi != "" else None
    _length(afi, 50, "ArbitraryFileIdentifier", "任意のファイル識別子")
    rc = _scalar(header, "ReferenceClassification", p)
    if rc is not None and wire.half_width(rc) != "2":
        raise wire.error(ErrorCode.FORMAT, "照会区分は 2(被保険者証情報) のみ送れます。マイナンバーカードの照会はカードリーダーから"
                                     "始まります (ReferenceClassification must be 2; card verification starts at "
                                     "the reader)", "ReferenceClassification")
    return _Header(care, code, afi)


def _search_info(info: Any, header: _Header, today: date | None, path: str) -> VerificationRequest:
    if not isinstance(info, dict):
        raise wire.error(ErrorCode.STRUCTURE, f"{path} がありません ({path} missing)", path)
    p = path + "."
    insurer = _insurer_number(_required(info, "InsurerNumber", p, "保険者番号"), p + "InsurerNumber")
    symbol_raw = _scalar(info, "InsuredCardSymbol", p)
    symbol = _card_part("symbol", symbol_raw, p + "InsuredCardSymbol") if symbol_raw else None
    number = _card_part("number", _required(info, "InsuredIdentificationNumber", p, "被保険者番号"),
                        p + "InsuredIdentificationNumber")
    branch_raw = _scalar(info, "InsuredBranchNumber", p)
    branch = _card_part("branch", branch_raw, p + "InsuredBranchNumber") if branch_raw else None
    birth = wire.parse_date(_required(info, "Birthdate", p, "生年月日"), p + "Birthdate", "生年月日")
    if today is not None and birth > today:
        raise wire.error(ErrorCode.DATE_OUT_OF_RANGE, f"生年月日 {birth:%Y%m%d} が未来です (Birthdate after today)",
                   p + "Birthdate")
    flag = wire.half_width(_required(info, "LimitApplicationCertificateRelatedConsFlg", p, "限度額適用認定証提供同意フラグ"))
    if flag not in {wire_value(c) for c in LimitConsent}:
        raise wire.error(ErrorCode.FORMAT, "限度額適用認定証提供同意フラグは 0 か 1 です "
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
            raise wire.error(ErrorCode.STRUCTURE, "単件照会の QualificationConfirmSearchInfo は1件です (one "
                                            "QualificationConfirmSearchInfo per single request; use bulk for more)",
                       "QualificationConfirmSearchInfo")
        if info is None:
            raise wire.error(ErrorCode.MISSING, "QualificationConfirmSearchInfo がありません (QualificationConfirmSearchInfo "
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
    #: each item's five fields as the clinic wrote them (stripped, not normalised), in the order of
    #: :data:`REGISTRATION_FIELDS`: the bulk answer echoes these and clients compare them with what they sent
    as_sent: tuple[tuple[str, str, str, str, str], ...] = ()


#: the fields of a ``ReferenceNumberRegistrationInfo``, in the interface's order
REGISTRATION_FIELDS = ("ReferenceNumber", "InsurerNumber", "InsuredCardSymbol", "InsuredIdentificationNumber",
                       "InsuredBranchNumber")


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
            raise wire.error(ErrorCode.MISSING, "ReferenceNumberRegistrationInfo がありません "
                                          "(ReferenceNumberRegistrationInfo missing)", "ReferenceNumberRegistrationInfo")
        items = items if isinstance(items, list) else [items]
        if len(items) > wire.MAX_BULK_ITEMS:
            raise wire.error(ErrorCode.BULK_SIZE, f"一度に登録できるのは{wire.MAX_BULK_ITEMS}件までです (at most {wire.MAX_BULK_ITEMS})",
                       "ReferenceNumberRegistrationInfo")
        regs, sent = [], []
        for i, item in enumerate(items):
            path = f"ReferenceNumberRegistrationInfo[{i}]" if len(items) > 1 else "ReferenceNumberRegistrationInfo"
            if not isinstance(item, dict):
                raise wire.error(ErrorCode.STRUCTURE, f"{path} が空です ({path} is empty)", path)
            p = path + "."
            ref = item.get("ReferenceNumber")
            ref = ref.strip() if isinstance(ref, str) else (str(ref) if isinstance(ref, int) else "")
            if not ref or len(ref) > 50:
                raise wire.error(ErrorCode.REFERENCE_NUMBER, "照会番号は1〜50文字です (ReferenceNumber must be 1–50 "
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
            sent.append((ref, _scalar(item, "InsurerNumber", p) or "", sym or "",
                         _scalar(item, "InsuredIdentificationNumber", p) or "", br or ""))
        return ReferenceRegistrationRequest(h.institution_code, h.arbitrary_file_identifier, tuple(regs), tuple(sent))
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
            raise wire.error(ErrorCode.BULK_SIZE, "照会対象がありません (no QualificationConfirmSearchInfo in the upload)",
                       "QualificationConfirmSearchInfo")
        items = items if isinstance(items, list) else [items]
        if len(items) > wire.MAX_BULK_ITEMS:
            raise wire.error(ErrorCode.BULK_SIZE, f"一括照会は{wire.MAX_BULK_ITEMS}件までです (at most {wire.MAX_BULK_ITEMS} per "
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
            raise wire.error(ErrorCode.MISSING, "受付番号(ReceptionNumber)がありません (ReceptionNumber is required)",
                       "ReceptionNumber")
        _length(number, 50, "ReceptionNumber", "受付番号")
        return BulkFetchRequest(h.institution_code, h.arbitrary_file_identifier, number)
    except VerificationError as exc:
        raise _with_header(tree, exc) from None


# The readers of a request's parts, shared with the terminal's drug and check-up requests
# (onshi.interop.oqs.clinical), whose messages carry the same header elements under the same checks.
load_message, message_parts, required_text, optional_text = _load, _parts, _required, _scalar
card_part, insurer_number_of, institution_code_of, with_header = _card_part, _insurer_number, _institution_code, _with_header
