"""FHIR R4 eligibility: a ``CoverageEligibilityRequest`` read into what the verification needs, and the
verification's outcome as a ``CoverageEligibilityResponse``.

The request names the patient and the insurance the JP Core way — by identifiers (the 被保険者個人識別子
``保険者番号:記号:番号:枝番`` in ``http://jpfhir.jp/fhir/clins/Idsystem/JP_Insurance_memberID``, the insurer in
``http://jpfhir.jp/fhir/core/mhlw/IdSystem/InsurerNumber``) or by contained ``Patient``/``Coverage``/
``Organization`` resources with JP_Coverage's 記号/番号/枝番 extensions; a マイナ保険証 by its certificate serial in
:data:`CARD_SERIAL_SYSTEM` with the reader's method in :data:`EXT_CARD_READER`.  :func:`read_request` checks
the resource against the R4 structure (``fhir.resources``) and returns :class:`Asked` — plain fields, not yet
validated as numbers (the HTTP layer does that with the REST endpoint's own model) — or raises
:class:`~onshi.interop.fhir.errors.FhirError`.  :func:`response` renders a
:class:`~onshi.verify.result.VerificationOutcome`: every 資格有効性 is told apart by the extension
:data:`EXT_VALIDITY` (and, for a client that reads only the core: ``outcome``, ``insurance.inforce``, the
Coverage's ``status`` and ``error``).  docs/fhir.md has the whole mapping.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from pydantic import ValidationError
from fhir.resources.R4B.coverageeligibilityrequest import CoverageEligibilityRequest

from onshi.interop.fhir.coverage import (
    EXT_NUMBER, EXT_SUB_NUMBER, EXT_SYMBOL, INSURER_SYSTEM, MEMBER_ID_SYSTEM, PATIENT_SYSTEM_PREFIX,
    VALIDITY_LABELS, coverage,
    insurer_organization, patient, validity_coding,
)
from onshi.interop.fhir.errors import FhirError
from onshi.verify.result import ConsentStatus, Validity, VerificationOutcome

__all__ = ["Asked", "read_request", "response", "CARD_SERIAL_SYSTEM", "EXT_CARD_READER", "EXT_LIMIT_CONSENT",
           "EXT_VALIDITY", "INSTITUTION_SYSTEM", "ERROR_SYSTEM", "ITEM_SYSTEM"]

_ONSHI = "urn:onshi:fhir:"
#: マイナ保険証: the serial of the card's certificate (as the reader reports it); onshi's own system
CARD_SERIAL_SYSTEM = _ONSHI + "NamingSystem:card-certificate-serial"
EXT_CARD_READER = _ONSHI + "extension:card-reader-method"  #: valueCode face | pin | visual (on the request)
EXT_LIMIT_CONSENT = _ONSHI + "extension:limit-consent"  #: valueBoolean: 限度額情報の提供に同意 (on the request)
EXT_VALIDITY = _ONSHI + "extension:qualification-validity"  #: valueCoding, the 資格有効性 (on the response)
ERROR_SYSTEM = _ONSHI + "CodeSystem:eligibility-error"  #: CoverageEligibilityResponse.error codes
ITEM_SYSTEM = _ONSHI + "CodeSystem:benefit-category"  #: insurance.item.category: elderly-recipient, limit-category
#: JP_Organization's 医療機関コード(10桁) system: the provider, when the request names it, must be the caller
INSTITUTION_SYSTEM = "http://jpfhir.jp/fhir/core/IdSystem/insurance-medical-institution-no"
BENEFIT_TYPE = "http://terminology.hl7.org/CodeSystem/benefit-type"
_REQ = "CoverageEligibilityRequest"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CARD_METHODS = ("face", "pin", "visual")


@dataclass(frozen=True)
class Asked:
    """What a CoverageEligibilityRequest asks, as plain fields (``card_serial`` set: by card, else numbers)."""

    care_date: date
    insurer_number: str | None = None
    symbol: str = ""
    number: str | None = None
    branch: str | None = None
    birth_date: date | None = None
    card_serial: str | None = None
    reader_method: str | None = None
    limit_consent: bool = False
    request_identifier: dict | None = None  #: the request's first identifier, echoed in ``response.request``
    patient_ref: dict | None = None  #: the request's patient reference when it is not a contained one
    clinic_patient_id: tuple[str, str] | None = None  #: (system, value) of the clinic's own id, echoed


def _invalid(diagnostics: str, expression: str | None = None) -> FhirError:
    return FhirError(422, "invalid", diagnostics, expression)


def _date(value: Any, expression: str, label: str) -> date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise _invalid(f"{label}は YYYY-MM-DD の日付で指定してください ({expression} must be a full date)", expression)
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _invalid(f"{label}が存在しない日付です ({value})", expression) from None


def _contained(data: dict, ref: Any, kind: str, expression: str) -> dict | None:
    """The contained resource a ``#id`` reference points at; None for a reference by identifier only."""
    if not isinstance(ref, dict):
        return None
    target = ref.get("reference")
    if target is None:
        return None
    if not isinstance(target, str) or not target.startswith("#"):
        raise _invalid(f"{kind} は contained リソース (#id) か identifier で指定してください; onshi はリソースを"
                       f" 保存しないため {target!r} は参照できません", expression)
    for res in data.get("contained") or ():
        if isinstance(res, dict) and res.get("id") == target[1:]:
            if res.get("resourceType") != kind:
                raise _invalid(f"{target} は {kind} ではありません", expression)
            return res
    raise _invalid(f"contained に {target} がありません", expression)


def _identifiers(resource_or_ref: dict | None) -> list[dict]:
    if not resource_or_ref:
        return []
    ids = resource_or_ref.get("identifier")
    if isinstance(ids, dict):  # a Reference has one identifier, a resource a list
        return [ids]
    return [i for i in ids or () if isinstance(i, dict)]


def _split_member_id(value: str, expression: str) -> tuple[str, str, str, str | None]:
    parts = value.split(":")
    if len(parts) != 4:
        raise _invalid("被保険者個人識別子は 保険者番号:記号:番号:枝番 の4要素です (空の要素も区切り記号は残します。"
                       f"例 01130012:10000001:101:00, 記号なし 00138057::187:)", expression)
    insurer, symbol, number, branch = parts
    return insurer, symbol, number, branch or None


def _ext(resource: dict, url: str) -> dict | None:
    return next((e for e in resource.get("extension") or () if isinstance(e, dict) and e.get("url") == url), None)


def read_request(data: Any) -> Asked:
    asked = _read_request(data)
    pat = data.get("contained") and _contained(data, data.get("patient"), "Patient", f"{_REQ}.patient")
    clinic = next(((i["system"], i["value"]) for i in _identifiers(pat or data.get("patient"))
                   if isinstance(i.get("system"), str) and i["system"].startswith(PATIENT_SYSTEM_PREFIX)
                   and isinstance(i.get("value"), str) and 0 < len(i["value"]) <= 50), None)
    return replace(asked, clinic_patient_id=clinic) if clinic else asked


def _read_request(data: Any) -> Asked:
    """Read a CoverageEligibilityRequest (parsed JSON); :class:`FhirError` 400/422 for anything else."""
    if not isinstance(data, dict) or data.get("resourceType") != _REQ:
        got = data.get("resourceType") if isinstance(data, dict) else type(data).__name__
        raise FhirError(400, "structure", f"本文は CoverageEligibilityRequest リソースにしてください (got {got!r})",
                        "resourceType")
    try:
        CoverageEligibilityRequest.model_validate(data)
    except ValidationError as exc:
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:10])
        raise FhirError(422, "structure", f"FHIR R4 の CoverageEligibilityRequest として不正です: {where}",
                        _REQ) from None
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError) as exc:
        # fhir.resources fails like this on some shapes (a contained resource without resourceType…)
        raise FhirError(422, "structure", f"FHIR R4 の CoverageEligibilityRequest として不正です "
                        f"({type(exc).__name__})", _REQ) from None
    purpose = data.get("purpose") or []
    if "validation" not in purpose:
        raise FhirError(422, "not-supported", "onshi は資格確認 (purpose = validation) だけを受け付けます",
                        f"{_REQ}.purpose")
    if data.get("status") != "active":
        raise _invalid("status は active にしてください", f"{_REQ}.status")
    if "servicedPeriod" in data:
        raise _invalid("診療日は servicedDate (1日) で指定してください; servicedPeriod は受け付けません",
                       f"{_REQ}.servicedPeriod")
    if "servicedDate" not in data:
        raise _invalid("servicedDate (診療日 = 資格確認日) がありません", f"{_REQ}.servicedDate")
    care_date = _date(data["servicedDate"], f"{_REQ}.servicedDate", "servicedDate (診療日)")

    consent_ext = _ext(data, EXT_LIMIT_CONSENT)
    limit_consent = bool(consent_ext and consent_ext.get("valueBoolean") is True)
    ids = data.get("identifier") or []
    request_identifier = {k: v for k, v in ids[0].items() if k in ("system", "value")} if ids else None

    pat = _contained(data, data.get("patient"), "Patient", f"{_REQ}.patient")
    patient_ref = None if pat is not None else {k: v for k, v in (data.get("patient") or {}).items()
                                                if k in ("identifier", "display")} or None
    birth = None
    if pat is not None and "birthDate" in pat:
        birth = _date(pat["birthDate"], "Patient.birthDate", "生年月日")

    insurance = data.get("insurance") or []
    if len(insurance) > 1:
        raise FhirError(422, "not-supported", "保険は1件ずつ確認してください (insurance は1件まで)", f"{_REQ}.insurance")
    cov_ref = insurance[0].get("coverage") if insurance else None
    cov = _contained(data, cov_ref, "Coverage", f"{_REQ}.insurance[0].coverage") if cov_ref else None

    # 1. the 被保険者個人識別子 (on the Coverage, the coverage reference or the Patient)
    unknown: list[tuple[str, str]] = []
    for source, where in ((cov, "Coverage.identifier"), (cov_ref if cov is None else None,
                                                         f"{_REQ}.insurance[0].coverage.identifier"),
                          (pat if pat is not None else data.get("patient"), "Patient.identifier")):
        for ident in _identifiers(source):
            system, value = ident.get("system"), ident.get("value")
            if system == MEMBER_ID_SYSTEM and isinstance(value, str):
                insurer, symbol, number, branch = _split_member_id(value, where)
                return _numbers(care_date, insurer, symbol, number, branch, birth, limit_consent,
                                request_identifier, patient_ref)
            if system == CARD_SERIAL_SYSTEM and isinstance(value, str):
                return _card(data, care_date, value, limit_consent, request_identifier, patient_ref, where)
            if not (isinstance(system, str) and system.startswith(PATIENT_SYSTEM_PREFIX)):  # the clinic's own id
                unknown.append((str(system), where))
    # 2. JP_Coverage's 記号/番号/枝番 extensions with the insurer (payor)
    if cov is not None and _ext(cov, EXT_NUMBER) is not None:
        insurer = _payor_insurer(data, cov)
        sym, num, sub = (_ext(cov, u) for u in (EXT_SYMBOL, EXT_NUMBER, EXT_SUB_NUMBER))
        return _numbers(care_date, insurer, (sym or {}).get("valueString") or "", num.get("valueString") or "",
                        (sub or {}).get("valueString") or None, birth, limit_consent, request_identifier,
                        patient_ref)
    if unknown:
        system, where = unknown[0]
        raise _invalid(f"識別子の system {system!r} は onshi では使えません: 被保険者個人識別子 {MEMBER_ID_SYSTEM} "
                       f"か マイナ保険証の {CARD_SERIAL_SYSTEM} を使ってください", where)
    raise _invalid("患者と保険を特定する識別子がありません: 被保険者個人識別子 (保険者番号:記号:番号:枝番) を"
                   " Coverage か Patient の identifier に、または JP_Coverage の記号・番号・枝番の extension と"
                   " 保険者 (payor) を指定してください", f"{_REQ}.insurance")


def _payor_insurer(data: dict, cov: dict) -> str:
    payors = cov.get("payor") or []
    for ref in payors:
        org = _contained(data, ref, "Organization", "Coverage.payor")
        for ident in _identifiers(org if org is not None else ref):
            if ident.get("system") == INSURER_SYSTEM and isinstance(ident.get("value"), str):
                return ident["value"]
    raise _invalid(f"保険者番号がありません: Coverage.payor に {INSURER_SYSTEM} の identifier を持つ Organization を"
                   " 指定してください", "Coverage.payor")


def _numbers(care_date, insurer, symbol, number, branch, birth, limit_consent, request_identifier,
             patient_ref) -> Asked:
    if birth is None:
        raise _invalid("生年月日がありません: contained の Patient に birthDate を指定してください (被保険者証情報での"
                       "確認には生年月日が必要です)", "Patient.birthDate")
    return Asked(care_date=care_date, insurer_number=insurer, symbol=symbol, number=number, branch=branch,
                 birth_date=birth, limit_consent=limit_consent, request_identifier=request_identifier,
                 patient_ref=patient_ref)


def _card(data, care_date, serial, limit_consent, request_identifier, patient_ref, where) -> Asked:
    method_ext = _ext(data, EXT_CARD_READER)
    method = method_ext.get("valueCode") if method_ext else None
    if method not in _CARD_METHODS:
        raise _invalid(f"マイナ保険証での確認には本人確認の方法 ({EXT_CARD_READER}: face / pin / visual) が必要です",
                       f"{_REQ}.extension")
    if not serial or len(serial) > 64:
        raise _invalid("電子証明書のシリアル番号は1〜64文字です", where)
    return Asked(care_date=care_date, card_serial=serial, reader_method=method, limit_consent=limit_consent,
                 request_identifier=request_identifier, patient_ref=patient_ref)


# ---------------------------------------------------------------- the response

def _item(category: tuple[str, str], benefit_type: str, *, unsigned: int | None = None, text: str | None = None,
          description: str | None = None, system: str = ITEM_SYSTEM) -> dict[str, Any]:
    benefit: dict[str, Any] = {"type": {"coding": [{"system": BENEFIT_TYPE, "code": benefit_type}]}}
    if unsigned is not None:
        benefit["allowedUnsignedInt"] = unsigned
    if text is not None:
        benefit["allowedString"] = text
    item: dict[str, Any] = {"category": {"coding": [{"system": system, "code": category[0],
                                                     "display": category[1]}]},
                            "benefit": [benefit]}
    if description:
        item["description"] = description
    return item


def _items(answer) -> list[dict[str, Any]]:
    from onshi.rules.limit_category import LIMIT_CATEGORY_NAMES

    items = []
    if answer.co_pay_ratio_tenths is not None:
        items.append(_item(("1", "Medical Care"), "copay-percent", unsigned=answer.co_pay_ratio_tenths * 10,
                           description=f"一部負担金割合 {answer.co_pay_ratio_tenths}割",
                           system="http://terminology.hl7.org/CodeSystem/ex-benefitcategory"))
    if answer.elderly is not None and answer.elderly.ratio_tenths is not None:
        e = answer.elderly
        span = f" ({e.valid_from or ''}〜{e.valid_to or ''})" if e.valid_from or e.valid_to else ""
        items.append(_item(("elderly-recipient", "高齢受給者"), "copay-percent", unsigned=e.ratio_tenths * 10,
                           description=f"高齢受給者 {e.ratio_tenths}割{span}"))
    consent = answer.limit_consent
    if answer.limit is not None and consent is not None and consent.status == ConsentStatus.GIVEN:
        code = answer.limit.category_code
        items.append(_item(("limit-category", "限度額適用区分"), "copay-maximum", text=code,
                           description=f"限度額適用区分 {LIMIT_CATEGORY_NAMES.get(code, code)} ({code})"))
    return items


#: the signed receipt of an answer (docs/receipts.md): its id as an identifier, the JWS itself as an extension
RECEIPT_ID_SYSTEM = "urn:onshi:receipt-id"
RECEIPT_EXTENSION = "urn:onshi:fhir:StructureDefinition:receipt"
#: 期限切れ保険証の暫定的な取扱い (:class:`onshi.verify.result.ProvisionalBilling`): a complex extension (until, lapsedAfter,
#: ratioTenths, message) on the response when it applies — docs/rules.md, "The transition to マイナ保険証"
PROVISIONAL_BILLING_EXTENSION = "urn:onshi:fhir:StructureDefinition:provisional-billing"


def response(outcome: VerificationOutcome, asked: Asked, *, institution_code: str, created: str,
             request_id: str | None = None) -> dict[str, Any]:
    """The CoverageEligibilityResponse of one verification (a dict ready for JSON)."""
    validity = outcome.validity
    label = VALIDITY_LABELS[int(validity)]
    contained: list[dict[str, Any]] = []
    insurance: list[dict[str, Any]] = []
    patient_ref: dict[str, Any] | None = None
    insurer_ref: dict[str, Any] | None = None
    for n, answer in enumerate(outcome.answers, start=1):
        pid, oid, cid = f"patient{n}", f"insurer{n}", f"coverage{n}"
        org = insurer_organization(answer, resource_id=oid)
        own = asked.clinic_patient_id
        pat = patient(answer, institution_code=institution_code, resource_id=pid,
                      patient_id=own[1] if own and own[0] == PATIENT_SYSTEM_PREFIX + institution_code else None)
        cov = coverage(answer, beneficiary=f"#{pid}", payor=f"#{oid}", validity=validity, resource_id=cid)
        contained += [r.model_dump(mode="json", exclude_none=True) for r in (pat, org, cov)]
        entry: dict[str, Any] = {"coverage": {"reference": f"#{cid}"}, "inforce": validity == Validity.VALID}
        if cov.period is not None:
            entry["benefitPeriod"] = cov.period.model_dump(mode="json", exclude_none=True)
        items = _items(answer) if validity == Validity.VALID else []
        if items:
            entry["item"] = items
        insurance.append(entry)
        patient_ref = patient_ref or {"reference": f"#{pid}"}
        insurer_ref = insurer_ref or {"reference": f"#{oid}"}
    if patient_ref is None:
        patient_ref = asked.patient_ref or {"display": "該当者なし (no person matched)"}
    if insurer_ref is None:
        insurer_ref = ({"identifier": {"system": INSURER_SYSTEM, "value": asked.insurer_number}}
                       if asked.insurer_number else {"display": "保険者不明 (no insurer matched)"})
    disposition = label + (f"。{outcome.warning}" if outcome.warning else "")
    data: dict[str, Any] = {
        "resourceType": "CoverageEligibilityResponse",
        "id": str(uuid.uuid4()),
    }
    if contained:
        data["contained"] = contained
    data["extension"] = [{"url": EXT_VALIDITY, "valueCoding": validity_coding(validity)}]
    if outcome.receipt:
        data["identifier"] = [{"system": RECEIPT_ID_SYSTEM, "value": outcome.receipt_id}]
        data["extension"].append({"url": RECEIPT_EXTENSION, "valueString": outcome.receipt})
    pb = outcome.provisional_billing
    if pb is not None and outcome.answers:
        parts = [{"url": "until", "valueDate": pb.until.isoformat()},
                 {"url": "lapsedAfter", "valueDate": pb.lapsed_after.isoformat()}]
        if pb.ratio_tenths is not None:
            parts.append({"url": "ratioTenths", "valueInteger": pb.ratio_tenths})
        parts.append({"url": "message", "valueString": pb.message})
        data["extension"].append({"url": PROVISIONAL_BILLING_EXTENSION, "extension": parts})
    data.update({
        "status": "active",
        "purpose": ["validation"],
        "patient": patient_ref,
        "servicedDate": asked.care_date.isoformat(),
        "created": created,
        "requestor": {"identifier": {"system": INSTITUTION_SYSTEM, "value": institution_code}},
        "request": ({"type": "CoverageEligibilityRequest", "identifier": asked.request_identifier}
                    if asked.request_identifier else
                    {"type": "CoverageEligibilityRequest", "display": request_id or "the posted request"}),
        "outcome": "error" if validity == Validity.MULTIPLE else "complete",
        "disposition": disposition,
        "insurer": insurer_ref,
    })
    if insurance:
        data["insurance"] = insurance
    if validity == Validity.MULTIPLE:
        data["error"] = [{"code": {"coding": [{"system": ERROR_SYSTEM, "code": "multiple-match",
                                               "display": "複数該当: 枝番を指定して再度確認してください"}]}}]
    return data
