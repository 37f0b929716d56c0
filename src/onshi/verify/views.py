"""HTTP routes of the verification service: REST/JSON.

Routes are thin: parse, call :mod:`onshi.verify.service` (the verification endpoints through its shortcut,
:mod:`onshi.verify.hotpath`), render.  The OQS XmlMsg and FHIR routes belong to the interop layer above
(its oqs/http.py and fhir/http.py), which builds on these.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, field_validator

from onshi.store.clock import japan_iso
from onshi.verify import hotpath, service
from onshi.verify.models import Institution
from onshi.verify.result import ReferenceClass, VerificationError, VerificationOutcome, VerificationRequest
from onshi.auth.deps import DB, current_institution, unauthorized, verifying_institution

router = APIRouter()
Inst = Annotated[Institution, Depends(current_institution)]
#: the verification endpoints: the institution from the token cache, revocation re-read by the lookup itself
VerifyingInst = Annotated[service.AuthenticatedInstitution, Depends(verifying_institution)]

VALIDITY_LABELS = {1: "有効", 2: "無効", 3: "無効（新しい資格あり）", 4: "該当資格なし", 5: "複数該当"}


# ---------------------------------------------------------------- REST models

def _std(module: str, value: str) -> str:
    from stdnum.exceptions import ValidationError

    mod = __import__(f"onshi.numbers.{module}", fromlist=["validate"])
    try:
        return mod.validate(value)
    except ValidationError as exc:
        raise ValueError(exc.message) from None


class NumbersQuery(BaseModel):
    """Verification by the numbers on a 資格確認書 or card (照会区分 2)."""

    insurer_number: str = Field(description="保険者番号 (8 digits; 6-digit 国保 numbers accepted)", examples=["01130012"])
    symbol: str = Field("", max_length=20, description="記号", examples=["10000001"])
    number: str = Field(min_length=1, max_length=20, description="番号", examples=["1"])
    branch: str | None = Field(None, description="枝番 (2 digits); omit to match every person under the numbers",
                               examples=["00"])
    birth_date: date = Field(description="生年月日")
    care_date: date = Field(description="診療日 (資格確認日)")
    limit_consent: bool = Field(False, description="限度額情報の提供に同意 (OQSCD001)")
    arbitrary_identifier: str | None = Field(None, max_length=50, description="echoed per-person id")

    @field_validator("insurer_number")
    @classmethod
    def _insurer(cls, v: str) -> str:
        return _std("insurer_number", v)

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, v: str) -> str:
        from onshi.numbers import insured_card

        return insured_card.compact_symbol(v) if v.strip() else ""

    @field_validator("number")
    @classmethod
    def _number(cls, v: str) -> str:
        from onshi.numbers import insured_card
        from stdnum.exceptions import ValidationError

        try:
            return insured_card.compact_number(v)
        except ValidationError as exc:
            raise ValueError(exc.message) from None

    @field_validator("branch")
    @classmethod
    def _branch(cls, v: str | None) -> str | None:
        from onshi.numbers import insured_card
        from stdnum.exceptions import ValidationError

        if v is None or not v.strip():
            return None
        try:
            return insured_card.compact_branch(v)
        except ValidationError as exc:
            raise ValueError(exc.message) from None


    def to_request(self, institution_code: str) -> VerificationRequest:
        return VerificationRequest(reference_class=ReferenceClass.NUMBERS, care_date=self.care_date,
                                   institution_code=institution_code, arbitrary_file_identifier=None,
                                   insurer_number=self.insurer_number, symbol=self.symbol, number=self.number,
                                   branch=self.branch, birth_date=self.birth_date, limit_consent=self.limit_consent,
                                   arbitrary_identifier=self.arbitrary_identifier)


class ReaderOutcome(BaseModel):
    """What the face-recognition card reader reports (顔認証付きカードリーダー)."""

    method: Literal["face", "pin", "visual"] = Field(description="顔認証 / 暗証番号 / 目視確認")
    pin_failures: int = Field(0, ge=0, le=3)
    consents: dict[Literal["limit", "specific_health_checkups", "pharmacist", "diagnosis", "operation"], bool] = {}


class CardQuery(BaseModel):
    """Verification by マイナ保険証 (照会区分 1), as the reader reports it."""

    certificate_serial: str = Field(min_length=1, max_length=64)
    care_date: date
    reader: ReaderOutcome


_PLAIN = frozenset((str, int, float, bool))
_FIELDS: dict[type, tuple[str, ...] | None] = {}


def _field_names(cls: type) -> tuple[str, ...] | None:
    try:
        return _FIELDS[cls]
    except KeyError:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls)) if dataclasses.is_dataclass(cls) \
            else None
        return names


def _jsonable(value: Any) -> Any:
    if value is None or type(value) in _PLAIN:
        return value
    names = _field_names(type(value))
    if names is not None:
        return {n: _jsonable(getattr(value, n)) for n in names}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def outcome_json(outcome: VerificationOutcome) -> dict:
    return {"validity": int(outcome.validity), "validity_label": VALIDITY_LABELS[int(outcome.validity)],
            "warning": outcome.warning, "results": _jsonable(list(outcome.answers))}


def json_response(data: Any, status_code: int = 200) -> Response:
    """JSON bytes as FastAPI's JSONResponse renders them, without its generic encoder (~0.1 ms an answer)."""
    return Response(json.dumps(data, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
                    .encode(), status_code=status_code, media_type="application/json")


async def answer(app: FastAPI, req: VerificationRequest, inst: service.AuthenticatedInstitution
                 ) -> VerificationOutcome:
    """Verify for an institution from :func:`onshi.auth.deps.verifying_institution` through
    :func:`onshi.verify.hotpath.answer`; a credential revoked meanwhile is answered 401."""
    try:
        return await hotpath.answer(app.state.engine, req, inst)
    except service.AuthError:
        raise unauthorized() from None


def unprocessable(exc: VerificationError) -> HTTPException:
    """A :class:`VerificationError` as FastAPI's 422 body (``loc`` names the field)."""
    return HTTPException(status_code=422, detail=[{"loc": ["body", exc.field or "request"], "msg": exc.message,
                                                   "type": exc.code}])


# ---------------------------------------------------------------- REST

# The verification endpoints are ``async def``: the lookup runs on the event loop (a blocking ~0.5 ms of CPU and
# one round trip to the database) because a thread hop per request costs as much under load; while a request
# waits for its log rows to be committed the loop serves others.  More concurrency comes from the worker
# processes (``uvicorn --workers``).  See :mod:`onshi.verify.hotpath` and docs/performance.md.

async def verify_numbers(body: NumbersQuery, inst: VerifyingInst, request: Request) -> Response:
    req = body.to_request(inst.code)
    try:
        return json_response(outcome_json(await answer(request.app, req, inst)))
    except VerificationError as exc:
        raise unprocessable(exc) from None


async def _verify_numbers_directly(request: Request) -> Response | None:
    """:func:`verify_numbers` for a well-formed request, without FastAPI's dependency and parameter machinery
    (a tenth of the CPU of an answer); ``None`` for anything else — no or an unknown credential, another
    content type, a body that does not parse or validate — which FastAPI then handles exactly as before."""
    from pydantic import ValidationError

    from onshi.auth.deps import bearer_token

    headers = request.headers
    token = bearer_token(headers.get("authorization"), headers.get("x-onshi-token"))
    if not token or not headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        inst = service.authenticate_cached(request.app.state.engine, token)
        body = NumbersQuery.model_validate(json.loads(await request.body()))  # as FastAPI: json.loads, python mode
    except (service.AuthError, ValueError, ValidationError):
        return None
    try:
        return json_response(outcome_json(await answer(request.app, body.to_request(inst.code), inst)))
    except VerificationError as exc:
        raise unprocessable(exc) from None


class _DirectFirstRoute(APIRoute):
    """The route of :func:`verify_numbers`, answering through :func:`_verify_numbers_directly` when it can
    (the OpenAPI description and every other case stay FastAPI's)."""

    def get_route_handler(self):
        standard = super().get_route_handler()

        async def handler(request: Request) -> Response:
            direct = await _verify_numbers_directly(request)
            return direct if direct is not None else await standard(request)

        return handler


router.add_api_route("/api/v1/verifications/numbers", verify_numbers, methods=["POST"], tags=["verification"],
                     summary="Verify by card numbers (照会区分 2)", response_model=dict,
                     route_class_override=_DirectFirstRoute)


@router.post("/api/v1/verifications/card", tags=["verification"], summary="Verify by マイナ保険証 (照会区分 1)",
             response_model=dict)
async def verify_card(body: CardQuery, inst: VerifyingInst, request: Request) -> Response:
    if body.reader.pin_failures >= 3:
        raise HTTPException(status_code=423, detail="暗証番号が3回誤入力されロックされました。市区町村で初期化が必要です "
                                                    "(PIN locked after 3 failures)")
    req = VerificationRequest(reference_class=ReferenceClass.CARD, care_date=body.care_date,
                              institution_code=inst.code, arbitrary_file_identifier=None, insurer_number=None,
                              symbol=None, number=None, branch=None, birth_date=None,
                              limit_consent=bool(body.reader.consents.get("limit")), arbitrary_identifier=None,
                              card_serial=body.certificate_serial, reader_outcome=body.reader.model_dump())
    try:
        return json_response(outcome_json(await answer(request.app, req, inst)))
    except VerificationError as exc:
        raise unprocessable(exc) from None


class ReferenceNumberIn(BaseModel):
    reference_number: str = Field(min_length=1, max_length=50, description="照会番号 (e.g. the clinic's patient id)")
    insurer_number: str
    symbol: str = ""
    number: str = Field(min_length=1, max_length=20)
    branch: str | None = None

    _insurer = field_validator("insurer_number")(NumbersQuery._insurer.__func__)
    _symbol = field_validator("symbol")(NumbersQuery._symbol.__func__)
    _number = field_validator("number")(NumbersQuery._number.__func__)
    _branch = field_validator("branch")(NumbersQuery._branch.__func__)


@router.post("/api/v1/reference-numbers", tags=["verification"], status_code=201,
             summary="Register a 照会番号 for card numbers")
def register_reference(body: ReferenceNumberIn, inst: Inst, session: DB) -> dict:
    try:
        service.register_reference_number(session, inst, reference_number=body.reference_number,
                                          insurer_number=body.insurer_number, symbol=body.symbol,
                                          number=body.number, branch=body.branch)
    except VerificationError as exc:
        raise unprocessable(exc) from None
    return {"reference_number": body.reference_number, "registered": True}


class EligibilityClaimIn(BaseModel):
    """被保険者資格申立書."""

    care_date: date
    name: str = Field(min_length=1, max_length=100)
    name_kana: str = Field(min_length=1, max_length=200)
    birth_date: date
    address: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=20)
    insurer_hint: str | None = Field(None, max_length=200)
    employer_hint: str | None = Field(None, max_length=200)


@router.post("/api/v1/eligibility-claims", tags=["fallback"], status_code=201,
             summary="Record a 被保険者資格申立書")
def eligibility_claim(body: EligibilityClaimIn, inst: Inst, session: DB) -> dict:
    from onshi.registry.fields import FieldError

    try:
        claim = service.record_eligibility_claim(session, inst, **body.model_dump())
    except FieldError as exc:
        raise HTTPException(status_code=422, detail=[{"loc": ["body"], "msg": str(exc), "type": "value_error"}])
    return {"id": claim.id, "recorded_at": japan_iso(claim.recorded_at)}


class ReroutingQuery(BaseModel):
    insurer_number: str
    symbol: str = ""
    number: str = Field(min_length=1, max_length=20)
    branch: str | None = None
    birth_date: date
    care_date: date

    _insurer = field_validator("insurer_number")(NumbersQuery._insurer.__func__)
    _symbol = field_validator("symbol")(NumbersQuery._symbol.__func__)
    _number = field_validator("number")(NumbersQuery._number.__func__)
    _branch = field_validator("branch")(NumbersQuery._branch.__func__)


@router.post("/api/v1/claim-rerouting", tags=["fallback"], summary="レセプト振替: who was responsible that day")
def rerouting(body: ReroutingQuery, inst: Inst, session: DB) -> dict:
    return service.claim_rerouting(session, **body.model_dump())
