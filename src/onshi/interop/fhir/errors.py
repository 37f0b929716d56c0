"""FHIR errors: every refusal of a ``/fhir`` route is an ``OperationOutcome`` in ``application/fhir+json``.

:class:`FhirError` carries the HTTP status, the FHIR issue type and where (a FHIRPath ``expression``);
:class:`FhirRoute` turns it, FastAPI's own :class:`~fastapi.HTTPException` (401 from the credential check…) and
FastAPI's request-validation errors (the ``/fhir/verify`` shortcut's JSON body) into OperationOutcomes, so no
``{"detail": …}`` leaves a FHIR route.

>>> r = outcome_response(FhirError(422, "invalid", "servicedDate がありません", "CoverageEligibilityRequest.servicedDate"))
>>> r.status_code, r.media_type
(422, 'application/fhir+json')
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

__all__ = ["FHIR_JSON", "FhirError", "FhirRoute", "fhir_response", "operation_outcome", "outcome_response"]

FHIR_JSON = "application/fhir+json"

#: HTTP status → the FHIR issue type used when the raiser named none
_ISSUE_BY_STATUS = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
                    406: "not-supported", 413: "too-long", 415: "not-supported", 422: "invalid", 423: "lock-error",
                    429: "throttled"}


class FhirError(Exception):
    """A refusal: HTTP *status*, FHIR issue *code* (``invalid``, ``not-found``…), *diagnostics* for a person,
    *expression* the FHIRPath of the offending element (None: the request as a whole)."""

    def __init__(self, status: int, code: str, diagnostics: str, expression: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {diagnostics}")
        self.status, self.code, self.diagnostics, self.expression = status, code, diagnostics, expression
        self.headers = headers


def operation_outcome(issues: list[tuple[str, str, str | None]], severity: str = "error") -> dict[str, Any]:
    """An OperationOutcome of (code, diagnostics, expression) issues."""
    out = []
    for code, diagnostics, expression in issues:
        issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
        if expression:
            issue["expression"] = [expression]
        out.append(issue)
    return {"resourceType": "OperationOutcome", "issue": out}


def fhir_response(resource: dict[str, Any] | str, status_code: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    body = resource if isinstance(resource, str) else json.dumps(resource, ensure_ascii=False,
                                                                 separators=(",", ":"))
    return Response(body.encode(), status_code=status_code, media_type=FHIR_JSON, headers=headers)


def outcome_response(exc: FhirError) -> Response:
    return fhir_response(operation_outcome([(exc.code, exc.diagnostics, exc.expression)]), exc.status,
                         exc.headers)


def _validation_issues(exc: RequestValidationError) -> list[tuple[str, str, str | None]]:
    issues = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        issues.append(("invalid", f"{'.'.join(loc) or 'body'}: {err.get('msg', 'invalid')}",
                       ".".join(loc) or None))
    return issues or [("invalid", "the request body is invalid", None)]


class FhirRoute(APIRoute):
    """A ``/fhir`` route: errors leave as OperationOutcomes (see the module docstring)."""

    def get_route_handler(self):
        standard = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await standard(request)
            except FhirError as exc:
                return outcome_response(exc)
            except RequestValidationError as exc:
                return fhir_response(operation_outcome(_validation_issues(exc)), 422)
            except HTTPException as exc:
                detail = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail, ensure_ascii=False)
                return outcome_response(FhirError(exc.status_code, _ISSUE_BY_STATUS.get(exc.status_code,
                                                                                          "processing"),
                                                  detail, headers=exc.headers))

        return handler
