"""HTTP routes of the FHIR interface (R4, JP Core); docs/fhir.md describes them.

* ``GET /fhir/metadata`` — the CapabilityStatement (:mod:`onshi.interop.fhir.capability`), no credential.
* ``POST /fhir/CoverageEligibilityRequest`` and ``POST /fhir/CoverageEligibilityRequest/$submit`` — 資格確認:
  a CoverageEligibilityRequest in, a CoverageEligibilityResponse out (:mod:`onshi.interop.fhir.eligibility`).
  The verification is the REST endpoint's (:func:`onshi.verify.views.answer`: the usage log counts it as any
  other check); the numbers are checked by the REST endpoint's own model (:class:`~onshi.verify.views.NumbersQuery`).
* ``GET /fhir/Coverage?identifier=…&beneficiary.birthdate=…`` (and ``POST /fhir/Coverage/_search`` with the same
  parameters as a form, which keeps the numbers out of URLs), ``GET /fhir/Coverage/{id}`` —
  :mod:`onshi.interop.fhir.search`.
* ``POST /fhir/verify`` — onshi's shortcut, not FHIR: the REST body in, a ``collection`` Bundle out.

Every refusal is an OperationOutcome in ``application/fhir+json`` (:class:`~onshi.interop.fhir.errors.FhirRoute`),
also for paths and methods no route serves under ``/fhir``.
"""

from __future__ import annotations

import json
from datetime import date
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from onshi.auth.deps import bearer_token
from onshi.interop.fhir.capability import capability_statement
from onshi.interop.fhir.coverage import MEMBER_ID_SYSTEM, outcome_to_bundle
from onshi.interop.fhir.eligibility import RECEIPT_EXTENSION, RECEIPT_ID_SYSTEM, Asked, read_request, response
from onshi.interop.fhir.errors import FHIR_JSON, FhirError, FhirRoute, fhir_response
from onshi.interop.fhir.search import read_coverage, search_coverage
from onshi.store.clock import japan_iso, japan_now, japan_today
from onshi.verify import service
from onshi.verify.result import ScopeError, ReferenceClass, VerificationError, VerificationRequest
from onshi.verify.views import NumbersQuery, VerifyingInst, answer, unprocessable

__all__ = ["router", "MAX_BODY"]

router = APIRouter(route_class=FhirRoute)
MAX_BODY = 256 * 1024  #: bytes; a CoverageEligibilityRequest is a few kB

_CAPABILITY_DATE = japan_today().isoformat()

#: NumbersQuery field → (FHIRPath, label) for its validation errors
_WHERE = {"insurer_number": ("Organization.identifier", "保険者番号"),
          "symbol": ("Coverage.extension", "記号"), "number": ("Coverage.extension", "番号"),
          "branch": ("Coverage.extension", "枝番"), "birth_date": ("Patient.birthDate", "生年月日"),
          "care_date": ("CoverageEligibilityRequest.servicedDate", "診療日")}
#: VerificationError.field → FHIRPath
_ERROR_WHERE = {"QualificationConfirmationDate": "CoverageEligibilityRequest.servicedDate",
                "card": "Patient.identifier", "MedicalInstitutionCode": "CoverageEligibilityRequest.provider"}


def _institution(request: Request) -> service.AuthenticatedInstitution:
    token = bearer_token(request.headers.get("authorization"), request.headers.get("x-onshi-token"))
    try:
        return service.authenticate_cached(request.app.state.engine, token)
    except service.AuthError:
        raise FhirError(401, "login", "認証が必要です: Authorization: Bearer <医療機関のトークン> (authentication required)",
                        headers={"WWW-Authenticate": "Bearer"}) from None


async def _json_body(request: Request) -> object:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype not in ("application/fhir+json", "application/json"):
        raise FhirError(415, "not-supported", f"Content-Type は application/fhir+json にしてください (got {ctype or 'none'!r};"
                        " onshi は FHIR XML を扱いません)")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise FhirError(413, "too-long", f"本文が大きすぎます ({len(body)} bytes > {MAX_BODY})")
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise FhirError(400, "structure", f"本文が JSON として読めません: {str(exc)[:200]}") from None


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _check_provider(data: dict, inst) -> None:
    """The request may name the provider (JP_Organization 医療機関コード); it must be the credential's."""
    from onshi.interop.fhir.eligibility import INSTITUTION_SYSTEM

    refs = [data.get(k) for k in ("provider", "enterer") if isinstance(data.get(k), dict)]
    for ref in refs:
        ident = ref.get("identifier")
        target = ref.get("reference")
        if isinstance(target, str) and target.startswith("#"):
            org = next((r for r in data.get("contained") or () if isinstance(r, dict) and r.get("id") == target[1:]),
                       {})
            idents = org.get("identifier") or []
        else:
            idents = [ident] if isinstance(ident, dict) else []
        for i in idents:
            if isinstance(i, dict) and i.get("system") == INSTITUTION_SYSTEM and i.get("value") != inst.code:
                raise FhirError(403, "forbidden", "provider の医療機関コードが認証された機関と一致しません "
                                "(the provider is not the authenticated institution)",
                                "CoverageEligibilityRequest.provider")


def _numbers_error(exc: ValidationError) -> FhirError:
    err = exc.errors()[0]
    field = str(err["loc"][0]) if err.get("loc") else ""
    where, label = _WHERE.get(field, ("CoverageEligibilityRequest", field))
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return FhirError(422, "invalid", f"{label}: {msg}", where)


def _verification_request(asked: Asked, inst) -> VerificationRequest:
    if asked.card_serial is not None:
        reader = {"method": asked.reader_method, "pin_failures": 0, "consents": {"limit": asked.limit_consent}}
        return VerificationRequest(reference_class=ReferenceClass.CARD, care_date=asked.care_date,
                                   institution_code=inst.code, arbitrary_file_identifier=None, insurer_number=None,
                                   symbol=None, number=None, branch=None, birth_date=None,
                                   limit_consent=asked.limit_consent, arbitrary_identifier=None,
                                   card_serial=asked.card_serial, reader_outcome=reader)
    try:
        query = NumbersQuery(insurer_number=asked.insurer_number or "", symbol=asked.symbol, number=asked.number or "",
                             branch=asked.branch, birth_date=asked.birth_date, care_date=asked.care_date,
                             limit_consent=asked.limit_consent)
    except ValidationError as exc:
        raise _numbers_error(exc) from None
    return query.to_request(inst.code)


def _verification_error(exc: VerificationError) -> FhirError:
    if isinstance(exc, ScopeError):  # what the institution's kind does not allow (docs/oqs.md)
        return FhirError(403, "forbidden", f"{exc.message} [{exc.code}]", _ERROR_WHERE.get(exc.field or "", exc.field))
    return FhirError(422, "business-rule" if exc.code != "E0002" else "forbidden",
                     f"{exc.message} [{exc.code}]", _ERROR_WHERE.get(exc.field or "", exc.field))


@router.get("/fhir/metadata", tags=["fhir"], summary="CapabilityStatement (FHIR R4)")
async def metadata() -> Response:
    return fhir_response(capability_statement(released=_CAPABILITY_DATE))


async def _eligibility(request: Request) -> Response:
    inst = _institution(request)
    data = await _json_body(request)
    asked = read_request(data)
    _check_provider(data, inst)  # read_request made sure data is the resource
    req = _verification_request(asked, inst)
    try:
        outcome = await answer(request.app, req, inst)
    except VerificationError as exc:
        raise _verification_error(exc) from None
    return fhir_response(response(outcome, asked, institution_code=inst.code, created=japan_iso(japan_now())),
                         headers={"Onshi-Receipt": outcome.receipt} if outcome.receipt else None)


@router.post("/fhir/CoverageEligibilityRequest/$submit", tags=["fhir"],
             summary="資格確認: CoverageEligibilityRequest → CoverageEligibilityResponse")
async def submit(request: Request) -> Response:
    return await _eligibility(request)


@router.post("/fhir/CoverageEligibilityRequest", tags=["fhir"],
             summary="資格確認 (create): the same as $submit; nothing is stored")
async def create(request: Request) -> Response:
    return await _eligibility(request)


_SEARCH_PARAMS = {"identifier", "beneficiary.birthdate", "beneficiary:Patient.birthdate", "_format"}


def _search_request(params: list[tuple[str, str]], inst) -> VerificationRequest:
    names = {k for k, _ in params}
    unknown = sorted(names - _SEARCH_PARAMS)
    if unknown:
        raise FhirError(400, "not-supported", f"onshi が扱わない検索パラメータです: {', '.join(unknown)} "
                        "(identifier と beneficiary.birthdate だけ)", unknown[0])
    values = dict(params)
    ident = values.get("identifier")
    if not ident:
        raise FhirError(400, "required", f"identifier ({MEMBER_ID_SYSTEM}|保険者番号:記号:番号:枝番) が必要です",
                        "identifier")
    system, sep, value = ident.partition("|")
    if not sep or system != MEMBER_ID_SYSTEM:
        raise FhirError(400, "not-supported", f"identifier の system は {MEMBER_ID_SYSTEM} だけです "
                        f"(got {system if sep else 'none'!r})", "identifier")
    birth = values.get("beneficiary.birthdate") or values.get("beneficiary:Patient.birthdate")
    if not birth:
        raise FhirError(400, "required", "beneficiary.birthdate (生年月日) が必要です: 番号だけでは確認しません",
                        "beneficiary.birthdate")
    parts = value.split(":")
    if len(parts) != 4:
        raise FhirError(400, "invalid", "identifier の値は 保険者番号:記号:番号:枝番 の4要素です", "identifier")
    try:
        birth_date = date.fromisoformat(birth) if len(birth) == 10 else None
    except ValueError:
        birth_date = None
    if birth_date is None:
        raise FhirError(400, "invalid", "beneficiary.birthdate は YYYY-MM-DD です", "beneficiary.birthdate")
    try:
        query = NumbersQuery(insurer_number=parts[0], symbol=parts[1], number=parts[2], branch=parts[3] or None,
                             birth_date=birth_date, care_date=japan_today())
    except ValidationError as exc:
        e = _numbers_error(exc)
        raise FhirError(400, "invalid", e.diagnostics, "identifier") from None
    return query.to_request(inst.code)


def _search(request: Request, params: list[tuple[str, str]]) -> Response:
    inst = _institution(request)
    req = _search_request(params, inst)
    try:
        bundle = search_coverage(request.app.state.engine, req, inst, base_url=f"{request.base_url}fhir/")
    except service.AuthError:
        raise FhirError(401, "login", "認証が取り消されました (credential revoked)",
                        headers={"WWW-Authenticate": "Bearer"}) from None
    except VerificationError as exc:
        raise _verification_error(exc) from None
    return fhir_response(bundle)


@router.get("/fhir/Coverage", tags=["fhir"], summary="Coverages this institution has checked, by identifier")
def search_get(request: Request) -> Response:
    return _search(request, list(request.query_params.multi_items()))


@router.post("/fhir/Coverage/_search", tags=["fhir"], summary="The Coverage search with the parameters as a form")
async def search_post(request: Request) -> Response:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise FhirError(415, "not-supported", "検索パラメータは application/x-www-form-urlencoded で送ってください")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise FhirError(413, "too-long", "本文が大きすぎます")
    params = parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return await request.app.state.run_sync(_search, request, params + list(request.query_params.multi_items()))


@router.get("/fhir/Coverage/{resource_id}", tags=["fhir"],
            summary="A Coverage found by a search (this institution's own checks only)")
def read(resource_id: str, request: Request) -> Response:
    inst = _institution(request)
    try:
        found = read_coverage(request.app.state.engine, resource_id, inst, today=japan_today())
    except service.AuthError:
        raise FhirError(401, "login", "認証が取り消されました (credential revoked)",
                        headers={"WWW-Authenticate": "Bearer"}) from None
    if found is None:
        raise FhirError(404, "not-found", "この Coverage はありません: id は検索の応答のものを使ってください "
                        "(unknown id, or not a person this institution has checked)", "Coverage.id")
    return fhir_response(found)


@router.post("/fhir/verify", tags=["fhir"],
             summary="onshi's shortcut (not FHIR): the REST body in, a JP Core collection Bundle out")
async def fhir_verify(body: NumbersQuery, inst: VerifyingInst, request: Request) -> Response:
    req = body.to_request(inst.code)
    try:
        outcome = await answer(request.app, req, inst, body.registered_at)  # registered_at: replay (docs/replay.md)
    except VerificationError as exc:
        raise unprocessable(exc) from None
    bundle = outcome_to_bundle(outcome, institution_code=inst.code)
    if outcome.receipt:  # the signed receipt (docs/receipts.md): its id as the Bundle's identifier, itself in meta
        bundle.identifier = {"system": RECEIPT_ID_SYSTEM, "value": outcome.receipt_id}
        meta = bundle.meta.model_dump(exclude_none=True) if bundle.meta else {}  # keeps the validity tag
        bundle.meta = {**meta, "extension": [{"url": RECEIPT_EXTENSION, "valueString": outcome.receipt}]}
    headers = {"Onshi-Receipt": outcome.receipt} if outcome.receipt else {}
    return Response(content=bundle.model_dump_json(), media_type=FHIR_JSON, headers=headers)


@router.api_route("/fhir/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
                  include_in_schema=False)
async def not_served(rest: str, request: Request) -> Response:
    raise FhirError(404, "not-found", f"{request.method} /fhir/{rest[:100]} は提供していません (see GET /fhir/metadata)")

