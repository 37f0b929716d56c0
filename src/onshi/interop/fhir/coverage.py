"""A verification answer as JP Core (FHIR R4) resources: ``Coverage``, the insurer ``Organization``, ``Patient``.

JP Core is profiled on FHIR R4, so the R4B models of ``fhir.resources`` are
used (R4B is wire-compatible with R4 for these resources; the package's
top-level models are R5).

* ``Coverage`` (JP_Coverage): extensions for 記号 / 番号 / 枝番, identifier
  ``保険者番号(8):記号:番号:枝番`` (empty parts stay empty) in
  ``http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID``,
  ``subscriberId`` = ``記号:番号``, ``dependent`` = 枝番, ``relationship``
  1 被保険者 / 2 被扶養者 (``urn:oid:1.2.392.100495.20.2.62``), ``period`` the
  qualification, ``costToBeneficiary`` the co-pay percent, ``payor`` → the insurer.
  限度額 (only when the answer carries it, i.e. with the patient's consent): one ``Coverage.class`` of type
  ``class`` (``http://terminology.hl7.org/CodeSystem/coverage-class``) whose ``value`` is the OQSCD012 code
  (``A03``) and ``name`` its label (``ウ``), with the extension :data:`EXT_LIMIT_SOURCE` (``remuneration``
  / ``application``) and :data:`EXT_LIMIT_PERIOD` (valuePeriod: the days it holds).  JP Core defines no
  element for it; the extensions are onshi's own (docs/oqs.md, "FHIR").
  高齢受給者 (ages 70–74): the onshi extension :data:`EXT_ELDERLY` (JP Core has none).
* ``Organization`` (JP_Organization): 保険者番号 in JP Core's fixed system
  ``http://jpfhir.jp/fhir/core/mhlw/IdSystem/InsurerNumber``.
* ``Patient`` (JP_Patient, ``identifier`` 1..*): always the 被保険者個人識別子 (the Coverage's member id), and the
  institution's patient id in ``urn:oid:1.2.392.100495.20.3.51.1`` + 医療機関コード when there is one; kanji
  and kana names told apart by the ``iso21090-EN-representation`` extension (IDE / SYL).

docs/fhir.md has the whole mapping and the JP Core commit it was checked against.

>>> from onshi.verify.result import CardClassification, PersonalFamily, Sex
>>> a = QualificationAnswer(card_classification=CardClassification.GENERAL, insurer_number="06139992",
...     insurer_name="テスト健保", symbol="あいう", number="１８７", branch="05",
...     personal_family=PersonalFamily.FAMILY, insured_name=None, name="広労 花子", name_kana="コウロウ ハナコ",
...     name_of_other=None, name_of_other_kana=None, sex=Sex.FEMALE, birth_date=date(2010, 5, 1), address=None,
...     postal_code=None, qualification_date=date(2020, 4, 1), disqualification_date=None, loss_reason=None,
...     certificate_issue_date=None, card_valid_from=None, card_valid_to=None, co_pay_ratio_tenths=3)
>>> cov = coverage(a, beneficiary="urn:uuid:p", payor="urn:uuid:o")
>>> cov.identifier[0].value, cov.subscriberId, cov.dependent, cov.relationship.coding[0].code
('06139992:あいう:１８７:05', 'あいう:１８７', '05', '2')
"""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta  # noqa: F401 (date: used by the doctest)
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.coverage import Coverage
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient

from onshi.verify.result import (
    ConsentStatus,
    PersonalFamily,
    QualificationAnswer,
    Sex,
    Validity,
    VerificationOutcome,
)

__all__ = [
    "coverage", "insurer_organization", "patient", "answer_to_bundle", "outcome_to_bundle",
    "EXT_SYMBOL", "EXT_NUMBER", "EXT_SUB_NUMBER", "MEMBER_ID_SYSTEM", "INSURER_SYSTEM", "PATIENT_SYSTEM_PREFIX",
    "RELATIONSHIP_SYSTEM", "COVERAGE_CLASS_SYSTEM", "EXT_LIMIT_SOURCE", "EXT_LIMIT_PERIOD", "EXT_ELDERLY",
    "VALIDITY_SYSTEM", "VALIDITY_LABELS", "validity_coding", "member_id",
]

_EXT = "http://jpfhir.jp/fhir/core/Extension/StructureDefinition/"
EXT_SYMBOL = _EXT + "JP_Coverage_InsuredPersonSymbol"          #: 記号
EXT_NUMBER = _EXT + "JP_Coverage_InsuredPersonNumber"          #: 番号
EXT_SUB_NUMBER = _EXT + "JP_Coverage_InsuredPersonSubNumber"   #: 枝番 (2 digits)
MEMBER_ID_SYSTEM = "http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID"
INSURER_SYSTEM = "http://jpfhir.jp/fhir/core/mhlw/IdSystem/InsurerNumber"  #: 保険者番号 (JP_Organization, fixed)
PATIENT_SYSTEM_PREFIX = "urn:oid:1.2.392.100495.20.3.51.1"     #: + 10-digit 医療機関コード
#: 被保険者区分 (JP Core's InsuredPersonCategory, 別表12): 1 被保険者, 2 被扶養者
RELATIONSHIP_SYSTEM = "http://jpfhir.jp/fhir/core/mhlw/CodeSystem/InsuredPersonCategory"
EN_REPRESENTATION = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-representation"
_PROFILE = "http://jpfhir.jp/fhir/core/StructureDefinition/"
COVERAGE_CLASS_SYSTEM = "http://terminology.hl7.org/CodeSystem/coverage-class"
_ONSHI_EXT = "urn:onshi:fhir:extension:"  #: onshi's own (no published profile)
EXT_LIMIT_SOURCE = _ONSHI_EXT + "limit-category-source"  #: valueCode remuneration | application
EXT_LIMIT_PERIOD = _ONSHI_EXT + "limit-category-period"  #: valuePeriod, the days the 区分 holds
#: 高齢受給者: a complex extension, sub-extensions ``ratio`` (valueUnsignedInt, percent), ``period`` (valuePeriod)
EXT_ELDERLY = _ONSHI_EXT + "elderly-recipient"
VALIDITY_SYSTEM = "urn:onshi:fhir:CodeSystem:qualification-validity"  #: 資格有効性 (OQSCD006), codes 1–5
VALIDITY_LABELS = {1: "有効", 2: "無効", 3: "無効（新しい資格あり）", 4: "該当資格なし", 5: "複数該当",
                   6: "有効（未登録）"}
_GENDER = {Sex.MALE: "male", Sex.FEMALE: "female", Sex.UNSET: "unknown"}


def _insurer8(number: str) -> str:
    return number.zfill(8) if number.isdigit() else number


def validity_coding(validity: Validity) -> dict[str, str]:
    """The 資格有効性 as a Coding (onshi's code system: OQSCD006's codes and labels)."""
    return {"system": VALIDITY_SYSTEM, "code": str(int(validity)), "display": VALIDITY_LABELS[int(validity)]}


def member_id(answer: QualificationAnswer) -> str:
    """被保険者個人識別子: ``保険者番号(8):記号:番号:枝番``, an absent part as the empty string."""
    return f"{_insurer8(answer.insurer_number)}:{answer.symbol or ''}:{answer.number or ''}:{answer.branch or ''}"


def _split_name(text: str) -> dict[str, Any]:
    parts = [p for p in re.split(r"[ \u3000]+", text.strip()) if p]
    out: dict[str, Any] = {"text": text}
    if len(parts) >= 2:
        out["family"], out["given"] = parts[0], parts[1:]
    return out


def insurer_organization(answer: QualificationAnswer, *, resource_id: str | None = None) -> Organization:
    """The insurer (保険者) as an Organization with its 8-digit number."""
    return Organization.model_validate({
        "id": resource_id or f"insurer-{_insurer8(answer.insurer_number)}",
        "meta": {"profile": [_PROFILE + "JP_Organization"]},
        "identifier": [{"system": INSURER_SYSTEM, "value": _insurer8(answer.insurer_number)}],
        "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "pay",
                              "display": "Payer"}]}],
        "name": answer.insurer_name or None,
    })


def patient(answer: QualificationAnswer, *, institution_code: str, patient_id: str | None = None,
            resource_id: str | None = None) -> Patient:
    """The patient as the institution knows them.

    ``identifier`` always holds the 被保険者個人識別子 (JP_Patient requires one); ``patient_id`` (the clinic's
    own id) defaults to the answer's 照会番号, then to its ArbitraryIdentifier, and is added when there is one.
    """
    pid = patient_id or answer.reference_number or answer.arbitrary_identifier
    names = [dict(_split_name(answer.name), use="official",
                  extension=[{"url": EN_REPRESENTATION, "valueCode": "IDE"}])]
    if answer.name_kana:
        names.append(dict(_split_name(answer.name_kana), use="official",
                          extension=[{"url": EN_REPRESENTATION, "valueCode": "SYL"}]))
    if answer.name_of_other:
        names.append(dict(_split_name(answer.name_of_other), use="usual"))
    data: dict[str, Any] = {
        "id": resource_id or str(uuid.uuid4()),
        "meta": {"profile": [_PROFILE + "JP_Patient"]},
        "name": names,
        "gender": _GENDER[Sex(answer.sex)],
        "birthDate": answer.birth_date.isoformat(),
    }
    data["identifier"] = [{"system": MEMBER_ID_SYSTEM, "value": member_id(answer)}]
    if pid:
        data["identifier"].append({"system": PATIENT_SYSTEM_PREFIX + institution_code, "value": pid})
    if answer.address or answer.postal_code:
        data["address"] = [{k: v for k, v in (("text", answer.address), ("postalCode", answer.postal_code)) if v}]
    return Patient.model_validate(data)


def coverage(answer: QualificationAnswer, *, beneficiary: str, payor: str, validity: Validity = Validity.VALID,
             resource_id: str | None = None) -> Coverage:
    """JP_Coverage for one answer; ``beneficiary``/``payor`` are references (``urn:uuid:…`` or ``Patient/…``)."""
    symbol, number, branch = answer.symbol or "", answer.number or "", answer.branch or ""
    ext = [{"url": EXT_SYMBOL, "valueString": symbol} if symbol else None,
           {"url": EXT_NUMBER, "valueString": number},
           {"url": EXT_SUB_NUMBER, "valueString": branch} if branch else None]
    family = answer.personal_family == PersonalFamily.FAMILY
    data: dict[str, Any] = {
        "id": resource_id or str(uuid.uuid4()),
        "meta": {"profile": [_PROFILE + "JP_Coverage"]},
        "extension": [e for e in ext if e],
        "identifier": [{"system": MEMBER_ID_SYSTEM, "value": member_id(answer)}],
        "status": "active" if validity == Validity.VALID else "cancelled",
        "subscriberId": f"{symbol}:{number}",
        "beneficiary": {"reference": beneficiary},
        "relationship": {"coding": [{"system": RELATIONSHIP_SYSTEM, "code": "2" if family else "1",
                                     "display": "被扶養者" if family else "被保険者"}]},
        "payor": [{"reference": payor, "display": answer.insurer_name or None}],
    }
    if family and answer.insured_name:
        data["subscriber"] = {"display": answer.insured_name}
    if branch:
        data["dependent"] = branch
    end = answer.disqualification_date - timedelta(days=1) if answer.disqualification_date else None
    if answer.qualification_date or end:
        data["period"] = {k: v.isoformat() for k, v in (("start", answer.qualification_date), ("end", end)) if v}
    if answer.co_pay_ratio_tenths is not None:
        data["costToBeneficiary"] = [{
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/coverage-copay-type",
                                 "code": "copaypct"}]},
            "valueQuantity": {"value": answer.co_pay_ratio_tenths * 10, "unit": "%",
                              "system": "http://unitsofmeasure.org", "code": "%"}}]
    elderly = _elderly_extension(answer)
    if elderly is not None:
        data["extension"].append(elderly)
    limit = _limit_class(answer)
    if limit is not None:
        data["class"] = [limit]
    return Coverage.model_validate(data)


def _elderly_extension(answer: QualificationAnswer) -> dict[str, Any] | None:
    """高齢受給者 (70–74): the ratio in percent and the days it holds, as onshi's complex extension."""
    e = answer.elderly
    if e is None:
        return None
    sub: list[dict[str, Any]] = []
    if e.ratio_tenths is not None:
        sub.append({"url": "ratio", "valueUnsignedInt": e.ratio_tenths * 10})
    period = {k: v.isoformat() for k, v in (("start", e.valid_from), ("end", e.valid_to)) if v}
    if period:
        sub.append({"url": "period", "valuePeriod": period})
    if e.certificate_date:
        sub.append({"url": "certificateDate", "valueDate": e.certificate_date.isoformat()})
    return {"url": EXT_ELDERLY, "extension": sub} if sub else None


def _limit_class(answer: QualificationAnswer) -> dict[str, Any] | None:
    """限度額適用区分 as a ``Coverage.class`` — only with consent (the answer carries none without it)."""
    from onshi.rules.limit_category import LIMIT_CATEGORY_NAMES

    lim, consent = answer.limit, answer.limit_consent
    if lim is None or consent is None or consent.status != ConsentStatus.GIVEN:
        return None
    period = {k: v.isoformat() for k, v in (("start", lim.valid_from), ("end", lim.valid_to)) if v}
    ext = [{"url": EXT_LIMIT_SOURCE, "valueCode": lim.source.value}]
    if period:
        ext.append({"url": EXT_LIMIT_PERIOD, "valuePeriod": period})
    return {"extension": ext,
            "type": {"coding": [{"system": COVERAGE_CLASS_SYSTEM, "code": "class", "display": "限度額適用区分"}]},
            "value": lim.category_code, "name": LIMIT_CATEGORY_NAMES.get(lim.category_code, lim.category_code)}


def answer_to_bundle(answer: QualificationAnswer, *, institution_code: str, patient_id: str | None = None,
                     validity: Validity = Validity.VALID) -> Bundle:
    """A ``collection`` Bundle: Coverage, its insurer Organization and the Patient (full URLs ``urn:uuid:``)."""
    org_id, pat_id, cov_id = (str(uuid.uuid4()) for _ in range(3))
    org = insurer_organization(answer, resource_id=org_id)
    pat = patient(answer, institution_code=institution_code, patient_id=patient_id, resource_id=pat_id)
    cov = coverage(answer, beneficiary=f"urn:uuid:{pat_id}", payor=f"urn:uuid:{org_id}", validity=validity,
                   resource_id=cov_id)
    return _bundle([(cov_id, cov), (org_id, org), (pat_id, pat)])


def outcome_to_bundle(outcome: VerificationOutcome, *, institution_code: str) -> Bundle:
    """Every answer of an outcome in one ``collection`` Bundle (no entry when nothing was found), the 資格有効性
    in ``meta.tag`` (:data:`VALIDITY_SYSTEM`)."""
    entries = []
    for answer in outcome.answers:
        b = answer_to_bundle(answer, institution_code=institution_code, validity=outcome.validity)
        entries.extend((e.fullUrl.removeprefix("urn:uuid:"), e.resource) for e in b.entry)
    return _bundle(entries, outcome.validity)


def _bundle(entries: list[tuple[str, Any]], validity: Validity | None = None) -> Bundle:
    data: dict[str, Any] = {"id": str(uuid.uuid4()), "type": "collection"}
    if validity is not None:  # the empty answers (該当資格なし / 複数該当) told apart by the Bundle's tag
        data["meta"] = {"tag": [validity_coding(validity)]}
    if entries:
        data["entry"] = [{"fullUrl": f"urn:uuid:{rid}", "resource": res} for rid, res in entries]
    return Bundle.model_validate(data)
