"""``GET /fhir/metadata``: the CapabilityStatement — exactly what the ``/fhir`` routes serve, nothing more.

tests/interop/fhir/test_fhir_http.py holds it to the routes: each interaction and operation it names answers,
and each route is named.
"""

from __future__ import annotations

from typing import Any

from onshi import __version__
from onshi.interop.fhir.eligibility import CARD_SERIAL_SYSTEM, EXT_CARD_READER, EXT_LIMIT_CONSENT, EXT_VALIDITY
from onshi.interop.fhir.coverage import MEMBER_ID_SYSTEM

__all__ = ["capability_statement", "SUBMIT_OPERATION"]

#: the canonical of ``$submit`` on CoverageEligibilityRequest (onshi's own: R4 defines no such operation)
SUBMIT_OPERATION = "urn:onshi:fhir:OperationDefinition:CoverageEligibilityRequest-submit"
_PROFILE = "http://jpfhir.jp/fhir/core/StructureDefinition/"


def capability_statement(*, released: str) -> dict[str, Any]:
    """*released*: the date (YYYY-MM-DD) the statement carries (the day the server started)."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": released,
        "publisher": "onshi",
        "kind": "instance",
        "software": {"name": "onshi", "version": __version__},
        "implementation": {"description": "onshi オンライン資格確認 — FHIR R4 資格確認 (CoverageEligibility)"},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": (
                "資格確認 (CoverageEligibilityRequest → CoverageEligibilityResponse) and a search of the Coverages "
                "this institution has checked. Every answer is application/fhir+json; every refusal an "
                f"OperationOutcome. The 資格有効性 is in the extension {EXT_VALIDITY}; 限度額情報の同意 is "
                f"{EXT_LIMIT_CONSENT} and the card reader's method {EXT_CARD_READER} on the request. Not FHIR: "
                "POST /fhir/verify, onshi's shortcut (the REST body in, a collection Bundle out). See docs/fhir.md."),
            "security": {
                "cors": False,
                "description": ("Authorization: Bearer <the institution's token> (issued with `onshi institution add`;"
                                " the header X-Onshi-Token is accepted too). 401 without a valid token; "
                                "/fhir/metadata needs none."),
            },
            "resource": [
                {
                    "type": "CoverageEligibilityRequest",
                    "documentation": (
                        "purpose = validation only; servicedDate = the date of care; the patient and insurance by "
                        f"the 被保険者個人識別子 ({MEMBER_ID_SYSTEM}) on a contained or referenced Coverage or "
                        "Patient, or JP_Coverage's 記号/番号/枝番 extensions with the insurer as payor, plus the "
                        f"contained Patient's birthDate; a マイナ保険証 by {CARD_SERIAL_SYSTEM}. The request is "
                        "answered, not stored."),
                    "interaction": [{"code": "create",
                                     "documentation": "answers 200 with the CoverageEligibilityResponse (nothing is "
                                                      "stored, so no Location)"}],
                    "operation": [{"name": "submit", "definition": SUBMIT_OPERATION,
                                   "documentation": "POST /fhir/CoverageEligibilityRequest/$submit: the same as "
                                                    "create"}],
                },
                {
                    "type": "CoverageEligibilityResponse",
                    "documentation": "only as the answer to a CoverageEligibilityRequest",
                },
                {
                    "type": "Coverage",
                    "profile": _PROFILE + "JP_Coverage",
                    "documentation": (
                        "Only people this institution has checked (its usage log), as registered for the date of "
                        "care of its latest check; nothing is counted as a check. identifier (the 被保険者個人識別子,"
                        " with or without 枝番) and beneficiary.birthdate are both required. read: the ids of "
                        "search answers (sealed; a new one each answer, each readable by this institution)."),
                    "interaction": [{"code": "read"}, {"code": "search-type"}],
                    "searchParam": [
                        {"name": "identifier", "type": "token",
                         "documentation": f"{MEMBER_ID_SYSTEM}|保険者番号:記号:番号:枝番 (required)"},
                        {"name": "beneficiary", "type": "reference",
                         "documentation": "chained as beneficiary.birthdate=YYYY-MM-DD (required)"},
                    ],
                },
            ],
        }],
    }
