"""The terminal's 薬剤情報 and 特定健診情報 requests (``YZKsiquc01req_…`` / ``TKKsiquc01req_…``), as OQSDrug2 writes
them and reads their answers (YUKI-ENT/OQSDrug2 ``OQSDrug/Form1.cs`` at ``4673bb2c86999f851091e31732ba2ef2480e329f``:
``GenerateXML`` writes, ``ProcessResAsync``/``ProcessDrugInfoAsync2``/``ProcessTKKAsync`` read; docs/oqs-clients.md).

Pure functions, no database.  The request (Shift_JIS or UTF-8)::

    XmlMsg/MessageHeader: MedicalInstitutionCode, InsurerNumber, InsuranceCardSymbol,
                          InsuredPersonIdentificationNumber, BranchNumber, ArbitraryFileIdentifier
    XmlMsg/MessageBody:   StartDate, EndDate (yyyyMM, drugs only), FileCategory, PrDiInfClassification,
                          MedicalTreatmentFlag

``FileCategory`` 1 PDF, 2 XML (drugs also 3 PDF / 4 XML "with 診療情報").  The answer, under the request's name with
``req_`` → ``res_`` and the request's encoding, is what the client's reader looks for:

* ``//ResultCode`` = ``1`` — else the client records ``//MessageContents`` as the outcome (onshi writes ``2`` and a
  Japanese message, and its stable reason in its own namespace, :data:`CLINICAL_NS`);
* drugs: ``/XmlMsg/MessageHeader/QuaInf`` (``Name``, ``KanaName``, ``Birth``, ``AdmGendCode``) and
  ``/XmlMsg/MessageBody/MeTrMonthInf`` (``MeTrDiHCd``, ``MeTrDiHNm``, ``MeTrMonth``,
  ``DiDateInfs/DiDateInf`` (``DiDate``, ``DrugInfs/DrugInf``: ``DrugC``, ``DrugN``, ``Qua1``));
* check-ups: ``/XmlMsg/MessageHeader/QualificationsInfo`` (``Name``, ``KanasName``, ``Birthday``,
  ``AdministrativeGenderCode``) and ``//SpecificHealthCheckupInfo`` (``EffectiveTime``,
  ``HealthCheckupResultAndQuestionInfos/HealthCheckupResultAndQuestionInfo``: ``ItemCode``, ``ItemName``,
  ``DataType``, ``DataValue``, ``Unit``).

Elements onshi has no data for (the prescribing institution, 用法, 日数, 診療識別, …) are left out: the client
reads a missing element as empty (its ``GetNodeValue``) and its numbers as its defaults.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from onshi.interop.oqs import wire
from onshi.interop.oqs.codes import CharacterCode
from onshi.interop.oqs.codes import wire as wire_value
from onshi.interop.oqs.parse import RequestHeader
from onshi.interop.oqs.parse import card_part as _card_part
from onshi.interop.oqs.parse import institution_code_of as _institution_code
from onshi.interop.oqs.parse import insurer_number_of as _insurer_number
from onshi.interop.oqs.parse import load_message as _load
from onshi.interop.oqs.parse import message_parts as _parts
from onshi.interop.oqs.parse import optional_text as _scalar
from onshi.interop.oqs.parse import required_text as _required
from onshi.interop.oqs.parse import with_header as _with_header
from onshi.interop.oqs.wire import ErrorCode
from onshi.verify.result import VerificationError

__all__ = ["DRUG", "CHECKUP", "PREFIXES", "CLINICAL_NS", "ClinicalRequest", "ClinicalPatient", "ClinicalData",
           "ClinicalRefusal", "CHECKUP_ITEMS", "parse", "render", "render_refusal", "render_error", "what_of"]

DRUG = "YZKsiquc01req_"     #: 薬剤情報
CHECKUP = "TKKsiquc01req_"  #: 特定健診情報
PREFIXES = (DRUG, CHECKUP)

#: onshi's namespace for what the national answer has no element for (the stable reason of a refusal)
CLINICAL_NS = "urn:onshi:clinical:1"
ET.register_namespace("onshic", CLINICAL_NS)

RESULT_OK, RESULT_REFUSED = "1", "2"  #: ``ResultCode``: the client reads only "1"; onshi's other value is 2
FILE_CATEGORIES = {"drugs": {"1": "PDF", "2": "XML", "3": "PDF (薬剤・診療)", "4": "XML (薬剤・診療)"},
                   "checkups": {"1": "PDF", "2": "XML"}}
PDF_CATEGORIES = {"1", "3"}
TREATMENT_FLAGS = {"1": "通常", "2": "訪問診療", "3": "オンライン診療"}

#: onshi's 特定健診 value columns → (項目コード, 項目名, unit).  The codes are those OQSDrug2's own reference table
#: (``setInitialReferenceAsync``) keys its 基準値 by, so its highlighting works; BMI and 腹囲 are the standard
#: 特定健診 item codes (not in that table).  A column not listed is written with its own name as the code.
CHECKUP_ITEMS: dict[str, tuple[str, str, str]] = {
    "bmi": ("9N011000000000001", "BMI", "kg/m2"),
    "waist": ("9N016160100000001", "腹囲(実測)", "cm"),
    "sbp": ("9A755000000000001", "収縮期血圧(その他)", "mmHg"),
    "dbp": ("9A765000000000001", "拡張期血圧(その他)", "mmHg"),
    "hba1c": ("3D046000001920402", "HbA1c(NGSP値)", "%"),
    "fbs": ("3D010000001927201", "空腹時血糖", "mg/dl"),
    "tg": ("3F015000002327101", "中性脂肪(トリグリセリド)", "mg/dl"),
    "hdl": ("3F070000002327101", "HDLコレステロール", "mg/dl"),
    "ldl": ("3F077000002327101", "LDLコレステロール", "mg/dl"),
}


def what_of(name_or_prefix: str) -> str:
    """``drugs`` for a ``YZK…`` name, ``checkups`` for a ``TKK…`` one."""
    return "drugs" if name_or_prefix.startswith(DRUG[:3]) else "checkups"


@dataclass(frozen=True)
class ClinicalRequest:
    what: str  # drugs | checkups
    institution_code: str
    arbitrary_file_identifier: str | None
    insurer_number: str
    symbol: str | None
    number: str
    branch: str | None
    file_category: str
    start_month: str | None = None  # yyyyMM
    end_month: str | None = None
    treatment_flag: str = "1"

    @property
    def pdf(self) -> bool:
        return self.file_category in PDF_CATEGORIES


@dataclass(frozen=True)
class ClinicalPatient:
    name: str
    name_kana: str
    birth_date: date
    sex: int


@dataclass(frozen=True)
class ClinicalData:
    """A granted view as the terminal answers it: the patient and the drug lines or the check-up results (the
    rows of :mod:`onshi.claims.clinical`: ``DrugLine``/``CheckupRow`` or anything with their attributes)."""

    patient: ClinicalPatient
    drugs: list = field(default_factory=list)
    checkups: list = field(default_factory=list)


@dataclass(frozen=True)
class ClinicalRefusal:
    code: str  # institution | limited | not_found | multiple | no_consent | declined | expired | pdf | E0xxx
    message: str


# ---------------------------------------------------------------- parsing

def _month(value: str | None, field_name: str, label_ja: str) -> str | None:
    if value is None:
        return None
    text = wire.half_width(value)
    if not re.fullmatch(r"\d{6}", text) or not 1 <= int(text[4:]) <= 12:
        raise wire.error(ErrorCode.BAD_DATE, f"{label_ja}は yyyyMM の6桁です ({field_name} must be yyyyMM, got "
                                             f"{value!r})", field_name)
    return text


def parse(data: bytes, what: str) -> ClinicalRequest:
    """A ``YZK``/``TKK`` request → :class:`ClinicalRequest`; a wrong one raises ``VerificationError`` (carrying the
    header it could read, for the answer)."""
    tree = _load(data, False)
    try:
        header, body = _parts(tree)
        p, b = "MessageHeader.", "MessageBody."
        code = _institution_code(_required(header, "MedicalInstitutionCode", p, "医療機関コード"),
                                 "MedicalInstitutionCode")
        afi = header.get("ArbitraryFileIdentifier")  # kept as sent: SmartKarte's agent matches the answer on it
        afi = afi if isinstance(afi, str) and afi != "" else None
        if afi is not None and len(afi) > 50:
            raise wire.error(ErrorCode.FORMAT, "任意のファイル識別子は50文字以内です (ArbitraryFileIdentifier longer than "
                                               "50 characters)", "ArbitraryFileIdentifier")
        insurer = _insurer_number(_required(header, "InsurerNumber", p, "保険者番号"), p + "InsurerNumber")
        symbol_raw = _scalar(header, "InsuranceCardSymbol", p)
        symbol = _card_part("symbol", symbol_raw, p + "InsuranceCardSymbol") if symbol_raw else None
        number = _card_part("number", _required(header, "InsuredPersonIdentificationNumber", p, "被保険者番号"),
                            p + "InsuredPersonIdentificationNumber")
        branch_raw = _scalar(header, "BranchNumber", p)
        branch = _card_part("branch", branch_raw, p + "BranchNumber") if branch_raw else None
        category = wire.half_width(_required(body, "FileCategory", b, "ファイル区分"))
        if category not in FILE_CATEGORIES[what]:
            allowed = "・".join(FILE_CATEGORIES[what])
            raise wire.error(ErrorCode.FORMAT, f"ファイル区分は {allowed} のいずれかです (FileCategory must be one of "
                                               f"{', '.join(FILE_CATEGORIES[what])}, got {category!r})",
                             b + "FileCategory")
        flag = wire.half_width(_scalar(body, "MedicalTreatmentFlag", b) or "1")
        if flag not in TREATMENT_FLAGS:
            raise wire.error(ErrorCode.FORMAT, f"診療区分フラグは 1・2・3 のいずれかです (MedicalTreatmentFlag must be 1, 2 "
                                               f"or 3, got {flag!r})", b + "MedicalTreatmentFlag")
        start = end = None
        if what == "drugs":
            start = _month(_scalar(body, "StartDate", b), b + "StartDate", "開始年月")
            end = _month(_scalar(body, "EndDate", b), b + "EndDate", "終了年月")
            if start and end and start > end:
                raise wire.error(ErrorCode.FORMAT, f"開始年月 {start} が終了年月 {end} より後です (StartDate after "
                                                   "EndDate)", b + "StartDate")
        return ClinicalRequest(what, code, afi, insurer, symbol, number, branch, category, start, end, flag)
    except VerificationError as exc:
        raise _with_header(tree, exc) from None


# ---------------------------------------------------------------- rendering

Node = tuple[str, Any]


def _el(tag: str, value: Any) -> ET.Element:
    el = ET.Element(tag)
    if isinstance(value, list):
        for t, v in value:
            if v is not None:
                el.append(_el(t, v))
    else:
        el.text = wire.clean(str(value))
    return el


def _serialize(header: list[Node], body: list[Node], encoding: str) -> bytes:
    enc = wire.output_encoding(encoding)
    root = _el("XmlMsg", [("MessageHeader", header), ("MessageBody", body)])
    ET.indent(root, space="  ")
    text = ET.tostring(root, encoding="unicode", short_empty_elements=False)
    decl = "Shift_JIS" if enc == "shift_jis" else "UTF-8"
    return wire.encode(f'<?xml version="1.0" encoding="{decl}" standalone="no"?>\n{text}\n', enc)


def _source(source: ClinicalRequest | RequestHeader | None) -> tuple[str, str | None]:
    if isinstance(source, (ClinicalRequest, RequestHeader)):
        return source.institution_code or "", source.arbitrary_file_identifier
    return "", None


def _header(source: Any, *, processed_at: datetime, encoding: str, result: str,
            message: str | None = None, reason: str | None = None) -> list[Node]:
    code, afi = _source(source)
    h: list[Node] = [("ProcessExecutionTime", wire.ymdhms(processed_at)), ("MedicalInstitutionCode", code),
                     ("ArbitraryFileIdentifier", afi),
                     ("CharacterCodeIdentifier", wire_value(CharacterCode.SHIFT_JIS if wire.output_encoding(encoding)
                                                            == "shift_jis" else CharacterCode.UTF8)),
                     ("ResultCode", result), ("MessageContents", message)]
    if reason is not None:
        h.append((f"{{{CLINICAL_NS}}}Reason", reason))
    return h


def render_refusal(refusal: ClinicalRefusal, source: Any, *, encoding: str = "utf-8",
                   processed_at: datetime) -> bytes:
    """Nothing shown: ``ResultCode`` 2, the reason in Japanese in ``MessageContents`` (what the client records),
    the stable code as ``onshic:Reason``; an empty ``MessageBody``."""
    return _serialize(_header(source, processed_at=processed_at, encoding=encoding, result=RESULT_REFUSED,
                              message=refusal.message, reason=refusal.code), [], encoding)


def render_error(error: VerificationError, source: Any, *, encoding: str = "utf-8", processed_at: datetime) -> bytes:
    """A request onshi could not take (a wrong field, the service failing): a refusal with the error's code."""
    return render_refusal(ClinicalRefusal(error.code, error.message), source, encoding=encoding,
                          processed_at=processed_at)


def _qty(value: Any) -> str:
    return format(Decimal(str(value)).normalize(), "f")


def _month_out(month: str) -> str:
    return month.replace("-", "")


def _patient_nodes(p: ClinicalPatient, names: tuple[str, str, str, str]) -> list[Node]:
    return [(names[0], p.name), (names[1], wire.to_half_width_kana(p.name_kana) if p.name_kana else ""),
            (names[2], wire.ymd(p.birth_date)), (names[3], str(int(p.sex)))]


def _drug_body(req: ClinicalRequest, lines: Iterable[Any]) -> list[Node]:
    """One ``MeTrMonthInf`` per claim (institution, month, setting) in the months asked, newest first; its drugs
    under one ``DiDateInf`` dated the claim's first day of care shown (a claim's lines carry no day)."""
    months: dict[tuple[str, str, str], list[Any]] = {}
    for line in lines:
        month = _month_out(line.month)
        if (req.start_month and month < req.start_month) or (req.end_month and month > req.end_month):
            continue
        months.setdefault((line.institution_code, month, line.setting), []).append(line)
    body: list[Node] = []
    for (code, month, _setting), group in months.items():
        first = min(group[0].care_dates)
        drugs = [("DrugInf", [("DrugC", ln.code), ("DrugN", ln.name), ("Qua1", _qty(ln.quantity))]) for ln in group]
        body.append(("MeTrMonthInf", [
            ("MeTrDiHCd", code), ("MeTrDiHNm", group[0].institution_name), ("MeTrMonth", month),
            ("DiDateInfs", [("DiDateInf", [("DiDate", first.replace("-", "")), ("DrugInfs", drugs)])])]))
    return body


def _value(v: Any) -> tuple[str, str]:
    """(``DataType``, ``DataValue``): a number (or a numeric text, as the results CSV keeps them) is ``PQ``
    (HL7's physical quantity, as in the 特定健診 XML standard), anything else ``ST`` (text)."""
    if isinstance(v, bool) or v is None:
        return "ST", "" if v is None else ("1" if v else "0")
    text = str(v).strip()
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        return "ST", text
    return ("PQ", _qty(number)) if number.is_finite() else ("ST", text)


def _checkup_body(rows: Iterable[Any]) -> list[Node]:
    body: list[Node] = []
    for row in rows:
        items = []
        for key, value in row.values.items():
            code, name, unit = CHECKUP_ITEMS.get(key, (key, key, None))
            dtype, text = _value(value)
            items.append(("HealthCheckupResultAndQuestionInfo", [
                ("ItemCode", code), ("ItemName", name), ("DataType", dtype), ("DataValue", text),
                ("Unit", unit if dtype == "PQ" else None)]))
        body.append(("SpecificHealthCheckupInfo", [("EffectiveTime", wire.ymd(row.checkup_date)),
                                                   ("HealthCheckupResultAndQuestionInfos", items)]))
    return body


def render(data: ClinicalData, request: ClinicalRequest, *, encoding: str = "utf-8", processed_at: datetime) -> bytes:
    """A granted view: ``ResultCode`` 1, the patient in the header, the rows in the body (shapes above)."""
    h = _header(request, processed_at=processed_at, encoding=encoding, result=RESULT_OK)
    if request.what == "drugs":
        h.append(("QuaInf", _patient_nodes(data.patient, ("Name", "KanaName", "Birth", "AdmGendCode"))))
        return _serialize(h, _drug_body(request, data.drugs), encoding)
    h.append(("QualificationsInfo", _patient_nodes(data.patient, ("Name", "KanasName", "Birthday",
                                                                  "AdministrativeGenderCode"))))
    return _serialize(h, _checkup_body(data.checkups), encoding)
