"""Rendering OQS ``XmlMsg`` answers (回答電文の作成): the domain's outcomes → bytes in XML or JSON.

Pure functions, no database: a :class:`~onshi.verify.result.VerificationOutcome` (or a 照会番号 registration
result, a bulk reception, a bulk result, a :class:`~onshi.verify.result.VerificationError` as
``SegmentOfResult`` 9) becomes the answer clinic software expects — elements in the interface's order, every
required header element present, ratios in tenths as 3-digit percent (3 → ``"030"``), kana half-width, times in
Japan time.  The encodings and conversions are :mod:`onshi.interop.oqs.wire`'s.

Long: one renderer per answer kind of the interface (single, error, 照会番号 registration, bulk reception and
fetch, face files), sharing the node tree and its XML/JSON writers; splitting them would scatter the element
order each client checks.  Each answer ends with onshi's signed receipt in its own namespace (docs/receipts.md).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
import xml.etree.ElementTree as ET
from datetime import date, datetime
from enum import Enum
from typing import Any, Iterable, Literal, Sequence, Union

from onshi.interop.oqs import wire
from onshi.interop.oqs.codes import (
    CharacterCode,
    LimitCategory,
    LimitCertificateClassification,
    LimitConsent,
    Preschool,
    ProcessingResultStatus,
    SegmentOfResult,
    label,
)
from onshi.interop.oqs.codes import wire as wire_value
from onshi.interop.oqs.parse import (
    REGISTRATION_FIELDS,
    BulkFetchRequest,
    BulkRequest,
    ReferenceRegistrationRequest,
    RequestHeader,
)
from onshi.store import clock
from onshi.verify.bulk import Pending
from onshi.verify.result import (
    Consent,
    ConsentKind,
    PersonalFamily,
    Sex,
    ConsentStatus,
    QualificationAnswer,
    ReferenceClass,
    Validity,
    VerificationError,
    VerificationOutcome,
    VerificationRequest,
)

__all__ = [
    "BulkItemResult", "render_result", "render_result_json", "render_error", "render_error_json",
    "render_reference_registration_result", "render_bulk_accepted", "render_bulk_result",
    "RegistrationItemResult", "render_registration_accepted", "render_registration_result", "CardHolder",
]

# ---------------------------------------------------------------- writing: tree → bytes

Node = tuple[str, Union[str, list]]  # (tag, text) or (tag, [child nodes])

#: onshi's own namespace: the signed receipt rides at the end of ``MessageBody`` as ``onshi:Receipt`` (docs/receipts.md),
#: an element the national schema does not define, which the clients' readers skip (docs/oqs-clients.md)
RECEIPT_NS = "urn:onshi:receipt:1"
ET.register_namespace("onshi", RECEIPT_NS)


def _receipt_nodes(outcome: VerificationOutcome) -> list[Node]:
    if not outcome.receipt:
        return []
    return [(f"{{{RECEIPT_NS}}}Receipt", [(f"{{{RECEIPT_NS}}}ReceiptId", outcome.receipt_id or ""),
                                        (f"{{{RECEIPT_NS}}}Jws", outcome.receipt)])]


#: the provisional billing on an expired 健康保険証 (:class:`onshi.verify.result.ProvisionalBilling`) rides after the
#: receipt as ``onshi:ProvisionalBilling`` — like the receipt an element of onshi's own namespace, which the clients'
#: readers skip (docs/oqs-clients.md); a screen that knows it shows its ``Message``
TRANSITION_NS = "urn:onshi:transition:1"
ET.register_namespace("onshit", TRANSITION_NS)


def _transition_nodes(outcome: VerificationOutcome) -> list[Node]:
    pb = outcome.provisional_billing
    if pb is None or not outcome.answers:
        return []
    n: list[Node] = [(f"{{{TRANSITION_NS}}}Until", wire.ymd(pb.until)),
                     (f"{{{TRANSITION_NS}}}LapsedAfter", wire.ymd(pb.lapsed_after))]
    if pb.ratio_tenths is not None:
        n.append((f"{{{TRANSITION_NS}}}RatioTenths", str(pb.ratio_tenths)))
    n.append((f"{{{TRANSITION_NS}}}Message", wire.clean(pb.message)))
    return [(f"{{{TRANSITION_NS}}}ProvisionalBilling", n)]


def _add(nodes: list, tag: str, value: Any) -> None:
    """Append a leaf when it has a value (None leaves an optional element out)."""
    if value is None:
        return
    if isinstance(value, Enum):
        value = wire_value(value)
    nodes.append((tag, wire.clean(str(value))))


def _ratio(tenths: int | None) -> str | None:
    if tenths is None:
        return None
    if not 0 <= tenths <= 10:
        raise ValueError(f"ratio in tenths out of range: {tenths}")
    return f"{tenths * 10:03d}"


def _postal(code: str | None) -> str | None:
    if not code:
        return None
    digits = re.sub(r"\D", "", wire.half_width(code))
    return f"{digits[:3]}-{digits[3:]}" if len(digits) == 7 else code


def _late_elderly(insurer_number: str) -> bool:
    """後期高齢者医療 (法別番号 39): the only scheme whose members carry ``InsuredPartialContributionRatio``."""
    return _insurer_out(insurer_number).startswith("39")


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
    # 被保険者氏名 names the member a dependent is insured through; for the member it is left out (clients show
    # it as 世帯主/被保険者 beside the patient, docs/oqs-clients.md)
    _add(n, "InsuredName", a.insured_name if a.personal_family == PersonalFamily.FAMILY else None)
    _add(n, "Name", a.name or "")
    _add(n, "NameOfOther", a.name_of_other)
    _add(n, "NameKana", wire.to_half_width_kana(a.name_kana) if a.name_kana else None)
    _add(n, "NameOfOtherKana", wire.to_half_width_kana(a.name_of_other_kana) if a.name_of_other_kana else None)
    _add(n, "Sex1", a.sex)
    _add(n, "Birthdate", wire.ymd(a.birth_date))
    _add(n, "Address", a.address)
    _add(n, "PostNumber", _postal(a.postal_code))
    _add(n, "InsurerName", a.insurer_name or "")
    _add(n, "QualificationDate", wire.ymd(a.qualification_date))
    _add(n, "DisqualificationDate", wire.ymd(a.disqualification_date))
    _add(n, "ReasonOfLoss", a.loss_reason)
    _add(n, "InsuredCertificateIssuanceDate", wire.ymd(a.certificate_issue_date))
    _add(n, "InsuredCardValidDate", wire.ymd(a.card_valid_from))
    _add(n, "InsuredCardExpirationDate", wire.ymd(a.card_valid_to))
    # 一部負担金割合 of a 後期高齢者医療 member only: clients read it as "後期高齢 N割" (docs/oqs-clients.md); under 75
    # the ratio follows from age and ElderlyRecipientCertificateInfo
    _add(n, "InsuredPartialContributionRatio",
         _ratio(a.co_pay_ratio_tenths) if _late_elderly(a.insurer_number) else None)
    _add(n, "PreschoolClassification", Preschool.PRESCHOOL if a.preschool else None)
    if a.elderly is not None:
        e: list[Node] = []
        _add(e, "ElderlyRecipientCertificateDate", wire.ymd(a.elderly.certificate_date))
        _add(e, "ElderlyRecipientValidStartDate", wire.ymd(a.elderly.valid_from))
        _add(e, "ElderlyRecipientValidEndDate", wire.ymd(a.elderly.valid_to))
        _add(e, "ElderlyRecipientContributionRatio", _ratio(a.elderly.ratio_tenths))
        n.append(("ElderlyRecipientCertificateInfo", e))
    flag = _limit_flag(a, request)
    _add(n, "LimitApplicationCertificateRelatedConsFlg", flag)
    _add(n, "LimitApplicationCertificateRelatedConsTime",  # when the consent was given: only with flag 1
         wire.ymdhms(a.limit_consent.consented_at)
         if flag == LimitConsent.GIVEN and a.limit_consent is not None else None)
    if flag == LimitConsent.GIVEN and a.limit is not None:
        li: list[Node] = []
        _add(li, "LimitApplicationCertificateClassification", LimitCertificateClassification(a.limit.classification_code))
        _add(li, "LimitApplicationCertificateClassificationFlag", LimitCategory(a.limit.category_code))
        # 交付年月日 only for an application's 認定: a 区分 derived from the registered 標準報酬月額 has no
        # certificate, and its absence is how the wire tells the two apart (docs/oqs.md, "限度額")
        _add(li, "LimitApplicationCertificateDate", wire.ymd(a.limit.certificate_date))
        _add(li, "LimitApplicationCertificateValidStartDate", wire.ymd(a.limit.valid_from))
        _add(li, "LimitApplicationCertificateValidEndDate", wire.ymd(a.limit.valid_to))
        _add(li, "LimitApplicationCertificateLongTermDate", wire.ymd(a.limit.long_term_date))
        n.append(("LimitApplicationCertificateRelatedInfo", li))
    by_kind: dict[ConsentKind, Consent] = {c.kind: c for c in a.other_consents}
    for kind, prefix in _CONSENT_TAGS.items():
        c = by_kind.get(kind)
        if c is None:
            continue
        _add(n, f"{prefix}ConsFlg", ConsentStatus(c.status))
        given = c.status in (ConsentStatus.GIVEN, ConsentStatus.EXPIRED)  # a time only for a consent once given
        _add(n, f"{prefix}ConsTime", wire.ymdhms(c.consented_at) if given else None)
        _add(n, f"{prefix}AvailableTime", wire.ymdhms(c.available_until) if given else None)
    _add(n, "ReferenceNumber", a.reference_number)
    _add(n, "ArbitraryIdentifier", a.arbitrary_identifier)
    return n


def _search_nodes(r: VerificationRequest) -> list[Node]:
    s: list[Node] = []
    _add(s, "InsurerNumber", _insurer_out(r.insurer_number) if r.insurer_number else None)
    _add(s, "InsuredCardSymbol", r.symbol or None)
    _add(s, "InsuredIdentificationNumber", r.number)
    _add(s, "InsuredBranchNumber", r.branch or None)
    _add(s, "Birthdate", wire.ymd(r.birth_date))
    _add(s, "LimitApplicationCertificateRelatedConsFlg", LimitConsent.GIVEN if r.limit_consent else LimitConsent.NOT_GIVEN)
    _add(s, "ArbitraryIdentifier", r.arbitrary_identifier)
    return s


def _valid_ymd(raw: str | None) -> str | None:
    """An echoed date only when it is a real yyyyMMdd date (a client would choke on 20250230)."""
    try:
        return wire.ymd(wire.parse_date(raw, "", "")) if raw else None
    except VerificationError:
        return None


def _header_nodes(source: Any, *, processed_at: datetime, encoding: wire.Encoding | Literal["json"],
                  segment: SegmentOfResult, error: VerificationError | None = None,
                  reference_class: ReferenceClass = ReferenceClass.NUMBERS,
                  extra: Sequence[Node] = ()) -> list[Node]:
    """The MessageHeader; every required element is present whatever ``source`` is."""
    care = code = afi = None
    if isinstance(source, VerificationRequest):
        care, code, afi = wire.ymd(source.care_date), source.institution_code, source.arbitrary_file_identifier
        reference_class = source.reference_class
    elif isinstance(source, BulkRequest):
        care, code, afi = wire.ymd(source.care_date), source.institution_code, source.arbitrary_file_identifier
    elif isinstance(source, (BulkFetchRequest, ReferenceRegistrationRequest)):
        code, afi = source.institution_code, source.arbitrary_file_identifier
    elif isinstance(source, RequestHeader):
        care, code, afi = _valid_ymd(source.confirmation_date), source.institution_code, \
            source.arbitrary_file_identifier
    h: list[Node] = []
    _add(h, "ProcessExecutionTime", wire.ymdhms(processed_at))
    _add(h, "QualificationConfirmationDate", care or wire.ymd(clock.to_japan_time(processed_at).date()))
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


@dataclass(frozen=True)
class CardHolder:
    """Who the card reader read the card of (券面事項: 氏名, 読み, 生年月日, 性別), for a face file without a qualification."""

    name: str = ""
    name_kana: str | None = None
    birth_date: date | None = None
    sex: Sex = Sex.UNSET


def _holder_nodes(h: CardHolder) -> list[Node]:
    """The one ``ResultOfQualificationConfirmation`` of a face file that found no qualification: the holder, and
    the elements every reader requires present but empty where there is no insurance (docs/oqs-clients.md)."""
    n: list[Node] = [("InsuredCardClassification", "")]
    _add(n, "Name", h.name)
    _add(n, "NameKana", wire.to_half_width_kana(h.name_kana) if h.name_kana else None)
    _add(n, "Sex1", h.sex)
    _add(n, "Birthdate", wire.ymd(h.birth_date) if h.birth_date else "")
    n.append(("InsurerName", ""))
    return n


def _result_body(outcome: VerificationOutcome, request: VerificationRequest | None,
                 holder: CardHolder | None = None) -> list[Node]:
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
    items = [("ResultOfQualificationConfirmation", _answer_nodes(a, request)) for a in outcome.answers]
    b.append(("ResultList", items or ([("ResultOfQualificationConfirmation", _holder_nodes(holder))] if holder else [])))
    b.extend(_receipt_nodes(outcome))
    b.extend(_transition_nodes(outcome))
    return b


def _error_body(error: VerificationError) -> list[Node]:
    b: list[Node] = []
    _add(b, "ProcessingResultStatus", ProcessingResultStatus.ERROR)
    _add(b, "ProcessingResultCode", error.code)
    _add(b, "ProcessingResultMessage", error.message)
    return b


_ALWAYS_ARRAY = {"BulkConfirmUnit", "ReferenceNumberRegistrationResult", "BulkRegistrationUnit"}


def _to_json(nodes: list[Node]) -> dict:
    out: dict[str, Any] = {}
    for tag, value in nodes:
        if tag.startswith("{"):
            tag = "onshi:" + tag.rpartition("}")[2]  # the receipt's namespace as a prefix in JSON
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
        return json.dumps(msg, ensure_ascii=False, indent=1).encode("utf-8", wire.GETA)
    enc = wire.output_encoding(encoding)
    root = _to_element("XmlMsg", [("MessageHeader", header), ("MessageBody", body)])
    ET.indent(root, space="  ")
    text = ET.tostring(root, encoding="unicode", short_empty_elements=False)
    decl = "Shift_JIS" if enc == "shift_jis" else "UTF-8"
    return wire.encode(f'<?xml version="1.0" encoding="{decl}" standalone="no"?>\n{text}\n', enc)


def render_result(outcome: VerificationOutcome, request: VerificationRequest, *, encoding: str = "utf-8",
                  processed_at: datetime, holder: CardHolder | None = None) -> bytes:
    """The answer to a verification (``SegmentOfResult`` 1) as XML in ``encoding`` ("utf-8" or "shift_jis").

    ``holder`` is for face files: an outcome without a qualification (該当資格なし) then still holds exactly one
    ``ResultOfQualificationConfirmation`` — the card's holder — because the readers of face files accept no other.
    """
    enc = wire.output_encoding(encoding)
    return _serialize(_header_nodes(request, processed_at=processed_at, encoding=enc, segment=SegmentOfResult.NORMAL),
                      _result_body(outcome, request, holder), enc)


def render_result_json(outcome: VerificationOutcome, request: VerificationRequest, *,
                       processed_at: datetime) -> bytes:
    """The same answer as JSON: every value a string, ``ResultList`` always an array."""
    return _serialize(_header_nodes(request, processed_at=processed_at, encoding="json",
                                    segment=SegmentOfResult.NORMAL), _result_body(outcome, request), "json")


def _error_source(error: VerificationError, request: Any) -> Any:
    return request if request is not None else getattr(error, "request_header", None)


def _reception_echo(source: Any) -> list[Node]:
    """A fetch that fails still names its ReceptionNumber in the header (clients check it before the error)."""
    number = getattr(source, "reception_number", None)
    return [] if number is None else [("ReceptionNumber", wire.clean(str(number)))]


def render_error(error: VerificationError, request: Any = None, *, encoding: str = "utf-8",
                 processed_at: datetime, holder: CardHolder | None = None) -> bytes:
    """``SegmentOfResult`` 9 with ``ErrorCode``/``ErrorMessage``.

    ``request`` is the parsed request, a :class:`RequestHeader`, any of the bulk/registration requests, or None —
    then the header the parser read (if any) is echoed, else the processing date and an empty institution code.
    ``holder`` is for face files: the body then also holds the one ``ResultOfQualificationConfirmation`` (the
    card's holder) without which face-file readers refuse the file instead of showing the error.
    """
    enc, source, body = wire.output_encoding(encoding), _error_source(error, request), _error_body(error)
    if holder is not None:
        body.append(("ResultList", [("ResultOfQualificationConfirmation", _holder_nodes(holder))]))
    return _serialize(_header_nodes(source, processed_at=processed_at, encoding=enc, segment=SegmentOfResult.ABNORMAL,
                                    error=error, extra=_reception_echo(source)), body, enc)


def render_error_json(error: VerificationError, request: Any = None, *, processed_at: datetime) -> bytes:
    source = _error_source(error, request)
    return _serialize(_header_nodes(source, processed_at=processed_at, encoding="json",
                                    segment=SegmentOfResult.ABNORMAL, error=error, extra=_reception_echo(source)),
                      _error_body(error), "json")


def _registration_item(reference_number: str, err: VerificationError | None) -> Node:
    item: list[Node] = []
    _add(item, "ReferenceNumber", reference_number)
    _add(item, "ProcessingResultStatus", ProcessingResultStatus.ERROR if err else ProcessingResultStatus.NORMAL)
    _add(item, "ProcessingResultCode", err.code if err else None)
    _add(item, "ProcessingResultMessage", err.message if err else None)
    return ("ReferenceNumberRegistrationResult", item)


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
    body = [_registration_item(reg.reference_number, errors.get(i)) for i, reg in enumerate(request.registrations)]
    total, failed = len(request.registrations), len(errors)
    counts: list[Node] = []
    _add(counts, "ReceptionNumber", reception_number)
    _add(counts, "NumberOfProcessingResult", total)
    _add(counts, "NumberOfNormalProcessing", total - failed)
    _add(counts, "NumberOfError", failed)
    all_failed = total > 0 and failed == total
    first = errors[min(errors)] if all_failed else None
    enc = encoding if encoding == "json" else wire.output_encoding(encoding)
    header = _header_nodes(request, processed_at=processed_at, encoding=enc,  # type: ignore[arg-type]
                           segment=SegmentOfResult.ABNORMAL if all_failed else SegmentOfResult.NORMAL,
                           error=first, extra=counts)
    return _serialize(header, body, enc)


def render_bulk_accepted(request: BulkRequest, reception_number: str, *, received_at: datetime,
                         encoding: str = "utf-8", processed_at: datetime) -> bytes:
    """The answer to a bulk upload: ``ReceptionNumber`` + ``ReceptionDateTime`` (and the count received)."""
    extra: list[Node] = []
    _add(extra, "ReceptionNumber", reception_number)
    _add(extra, "ReceptionDateTime", wire.ymdhms(received_at))
    _add(extra, "NumberOfProcessingResult", len(request.items))
    body: list[Node] = []
    _add(body, "ProcessingResultStatus", ProcessingResultStatus.NORMAL)
    _add(body, "ReceptionNumber", reception_number)
    _add(body, "ReceptionDateTime", wire.ymdhms(received_at))
    enc = encoding if encoding == "json" else wire.output_encoding(encoding)
    return _serialize(_header_nodes(request, processed_at=processed_at, encoding=enc,  # type: ignore[arg-type]
                                    segment=SegmentOfResult.NORMAL, extra=extra), body, enc)


BulkItemResult = tuple[VerificationRequest, Union[VerificationOutcome, VerificationError]]


def render_bulk_result(request: BulkFetchRequest, results: Iterable[BulkItemResult] | Pending | None, *,
                       encoding: str = "utf-8", processed_at: datetime) -> bytes:
    """The answer to a bulk fetch.  ``results`` :class:`~onshi.verify.bulk.Pending` (or None) → ``SegmentOfResult`` 2
    (still processing: poll again), the header echoing the upload's ``ArbitraryFileIdentifier`` it carries.
    Otherwise ``SegmentOfResult`` 1 with one ``BulkConfirmUnit`` per item and the counts in the header, which
    echoes the upload's ``ArbitraryFileIdentifier`` (a fetch request has none, each stored item carries it); an
    item whose outcome is a :class:`VerificationError` has ``ProcessingResultStatus`` 2 and counts in ``NumberOfError``.
    """
    enc = encoding if encoding == "json" else wire.output_encoding(encoding)
    ref: list[Node] = []
    _add(ref, "ReceptionNumber", request.reception_number)
    if results is None or isinstance(results, Pending):
        source = RequestHeader(None, request.institution_code, request.arbitrary_file_identifier
                               or (results.arbitrary_file_identifier if results is not None else None))
        header = _header_nodes(source, processed_at=processed_at, encoding=enc,  # type: ignore[arg-type]
                               segment=SegmentOfResult.PROCESSING, extra=ref)
        body: list[Node] = []
        _add(body, "ProcessingResultStatus", ProcessingResultStatus.NORMAL)
        _add(body, "ProcessingResultMessage", "処理中です。しばらくしてから再度取得してください (still processing)")
        return _serialize(header, body, enc)
    body = []
    total = errors = 0
    care, afi = None, request.arbitrary_file_identifier  # the fetch's own, else the upload's (every item has it)
    for req, outcome in results:
        total += 1
        care, afi = care or req.care_date, afi or req.arbitrary_file_identifier
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
            unit.extend(_receipt_nodes(outcome))
        body.append(("BulkConfirmUnit", unit))
    extra = list(ref)
    _add(extra, "NumberOfProcessingResult", total)
    _add(extra, "NumberOfNormalProcessing", total - errors)
    _add(extra, "NumberOfError", errors)
    source = RequestHeader(wire.ymd(care) if care else None, request.institution_code, afi)
    header = _header_nodes(source, processed_at=processed_at, encoding=enc,  # type: ignore[arg-type]
                           segment=SegmentOfResult.NORMAL, extra=extra)
    return _serialize(header, body, enc)


#: one item of a bulk 照会番号 registration: its five fields as the clinic sent them, and why it was refused
RegistrationItemResult = tuple[Sequence[str], Union[VerificationError, None]]


def render_registration_accepted(request: ReferenceRegistrationRequest, reception_number: str,
                                 items: Sequence[RegistrationItemResult] = (), *, received_at: datetime,
                                 encoding: str = "utf-8", processed_at: datetime) -> bytes:
    """The answer to ``OQSmuimm01req`` (照会番号一括登録): the reception, ``SegmentOfResult`` 1 without ``ErrorCode``
    however many items were refused; the body's ``ProcessingResultStatus`` 1 and ``ReceptionNumber`` are what
    clients read, then one ``ReferenceNumberRegistrationResult`` per item (onshi registers at once).  Clients take
    each item's outcome from the fetch (:func:`render_registration_result`)."""
    errors = sum(err is not None for _, err in items)
    extra: list[Node] = []
    _add(extra, "ReceptionNumber", reception_number)
    _add(extra, "ReceptionDateTime", wire.ymdhms(received_at))
    _add(extra, "NumberOfProcessingResult", len(request.registrations))
    if items:
        _add(extra, "NumberOfNormalProcessing", len(items) - errors)
        _add(extra, "NumberOfError", errors)
    body: list[Node] = []
    _add(body, "ProcessingResultStatus", ProcessingResultStatus.NORMAL)
    _add(body, "ReceptionNumber", reception_number)
    _add(body, "ReceptionDateTime", wire.ymdhms(received_at))
    body.extend(_registration_item(sent[0], err) for sent, err in items)
    enc = encoding if encoding == "json" else wire.output_encoding(encoding)
    return _serialize(_header_nodes(request, processed_at=processed_at, encoding=enc,  # type: ignore[arg-type]
                                    segment=SegmentOfResult.NORMAL, extra=extra), body, enc)


def render_registration_result(request: BulkFetchRequest, items: Sequence[RegistrationItemResult], *,
                               arbitrary_file_identifier: str | None = None, encoding: str = "utf-8",
                               processed_at: datetime) -> bytes:
    """The answer to ``OQSmuimm02req``: one ``BulkRegistrationUnit`` per registered item.  Each holds ``ReferenceNumberRegistrationInfo`` (the five fields echoed exactly as sent — clients compare
    them with their request), ``ProcessingResultStatus`` (1 registered, 2 refused), ``ProcessingResultCode`` and
    ``ProcessingResultMessage`` (for a refused item).  The header echoes the upload's ``ArbitraryFileIdentifier``
    (the fetch request has none), the ``ReceptionNumber`` and the counts; it is ``SegmentOfResult`` 1 without an
    ``ErrorCode`` even when every item was refused: the processing ended, the items say how.
    """
    body: list[Node] = []
    errors = 0
    for sent, err in items:
        info: list[Node] = [(tag, wire.clean(str(value or ""))) for tag, value in zip(REGISTRATION_FIELDS, sent)]
        unit: list[Node] = [("ReferenceNumberRegistrationInfo", info)]
        _add(unit, "ProcessingResultStatus", ProcessingResultStatus.ERROR if err else ProcessingResultStatus.NORMAL)
        _add(unit, "ProcessingResultCode", err.code if err else None)
        _add(unit, "ProcessingResultMessage", err.message if err else None)
        errors += err is not None
        body.append(("BulkRegistrationUnit", unit))
    extra: list[Node] = []
    _add(extra, "ReceptionNumber", request.reception_number)
    _add(extra, "NumberOfProcessingResult", len(items))
    _add(extra, "NumberOfNormalProcessing", len(items) - errors)
    _add(extra, "NumberOfError", errors)
    source = RequestHeader(None, request.institution_code,
                           request.arbitrary_file_identifier or arbitrary_file_identifier)
    enc = encoding if encoding == "json" else wire.output_encoding(encoding)
    return _serialize(_header_nodes(source, processed_at=processed_at, encoding=enc,  # type: ignore[arg-type]
                                    segment=SegmentOfResult.NORMAL, extra=extra), body, enc)
