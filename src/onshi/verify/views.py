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
from functools import lru_cache
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field, StrictBool, field_validator
from stdnum.exceptions import ValidationError as StdnumError

from onshi.numbers import insured_card, insurer_number
from onshi.store.clock import from_japan_time, japan_iso
from onshi.verify import hotpath, receipts, service
from onshi.verify.models import Institution
from onshi.verify.result import ReferenceClass, ScopeError, VerificationError, VerificationOutcome, VerificationRequest
from onshi.auth.deps import DB, current_institution, unauthorized, verifying_institution
from onshi.auth.staff import StaffUser, staff_dependency
from sqlalchemy import select
from sqlalchemy.orm import Session

router = APIRouter()
ReplayStaff = Annotated[StaffUser, Depends(staff_dependency("replay is for an insurer's clerk or supervisor"))]
Inst = Annotated[Institution, Depends(current_institution)]
#: the verification endpoints: the institution from the token cache, revocation re-read by the lookup itself
VerifyingInst = Annotated[service.AuthenticatedInstitution, Depends(verifying_institution)]

VALIDITY_LABELS = {1: "有効", 2: "無効", 3: "無効（新しい資格あり）", 4: "該当資格なし", 5: "複数該当"}


# ---------------------------------------------------------------- REST models

REGISTERED_AT_DOC = ("replay (docs/replay.md): answer as the index was registered at this past instant "
                     "(ISO 8601; without an offset Japan time) — audited as verify.replay, counted apart")


def replay_instant(value: datetime | None) -> datetime | None:
    """A ``registered_at`` as given (naive = Japan time) as stored: naive UTC."""
    return from_japan_time(value) if value is not None else None


#: a valid 保険者番号 as normalised, remembered: a clinic's requests name few insurers, and the check digit's loop
#: was a third of a request body's validation (an error is not remembered: it is raised again each time)
_valid_insurer_number = lru_cache(maxsize=4096)(insurer_number.validate)


class NumbersQuery(BaseModel):
    """Verification by the numbers on a 資格確認書 or card (照会区分 2)."""

    insurer_number: str = Field(description="保険者番号 (8 digits; 6-digit 国保 numbers accepted)", examples=["01130012"])
    symbol: str = Field("", max_length=20, description="記号", examples=["10000001"])
    number: str = Field(min_length=1, max_length=20, description="番号", examples=["1"])
    branch: str | None = Field(None, description="枝番 (2 digits); omit to match every person under the numbers",
                               examples=["00"])
    birth_date: date = Field(description="生年月日")
    care_date: date = Field(description="診療日 (資格確認日)")
    limit_consent: StrictBool = Field(False, description="限度額情報の提供に同意 (OQSCD001): true or false, never 0/1 or a string")
    arbitrary_identifier: str | None = Field(None, max_length=50, description="echoed per-person id")
    registered_at: datetime | None = Field(None, description=REGISTERED_AT_DOC)

    @field_validator("insurer_number")
    @classmethod
    def _insurer(cls, v: str) -> str:
        try:
            return _valid_insurer_number(v)
        except StdnumError as exc:
            raise ValueError(exc.message) from None

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, v: str) -> str:
        return insured_card.compact_symbol(v) if v.strip() else ""

    @field_validator("number")
    @classmethod
    def _number(cls, v: str) -> str:
        try:
            return insured_card.compact_number(v)
        except StdnumError as exc:
            raise ValueError(exc.message) from None

    @field_validator("branch")
    @classmethod
    def _branch(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        if len(v) == 2 and v.isascii() and v.isdigit():  # the usual case: nothing to normalise
            return v
        try:
            return insured_card.compact_branch(v)
        except StdnumError as exc:
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
    consents: dict[Literal["limit", "specific_health_checkups", "pharmacist", "diagnosis", "operation"], StrictBool] = {}


class CardQuery(BaseModel):
    """Verification by マイナ保険証 (照会区分 1), as the reader reports it."""

    certificate_serial: str = Field(min_length=1, max_length=64)
    care_date: date
    reader: ReaderOutcome
    credential: Literal["card", "smartphone"] | None = Field(
        None, description="what the reader read: the card, or its certificate on a smartphone (スマホ搭載マイナ保険証); "
                          "omitted: whichever the serial is registered as")
    registered_at: datetime | None = Field(None, description=REGISTERED_AT_DOC)


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
            "warning": outcome.warning, "results": _jsonable(list(outcome.answers)),
            "receipt_id": outcome.receipt_id, "receipt": outcome.receipt,
            "provisional_billing": _jsonable(outcome.provisional_billing)}


def verification_response(outcome: VerificationOutcome) -> Response:
    """The REST answer: the JSON (with its receipt) and the ``ETag`` header, or ``304 Not Modified`` with a fresh
    receipt in the ``Onshi-Receipt`` header when the request's ``If-None-Match`` named the tag.  A 200 carries its
    receipt once, in the JSON: the header copy doubled every answer's size (docs/receipts.md, "Where each interface carries it")."""
    headers = {"Cache-Control": "private, no-cache"}
    if outcome.etag:
        headers["ETag"] = outcome.etag
    if outcome.not_modified:
        if outcome.receipt:
            headers["Onshi-Receipt"] = outcome.receipt
        return Response(status_code=304, headers=headers)
    response = json_response(outcome_json(outcome))
    response.headers.update(headers)
    return response


def json_bytes(data: Any) -> bytes:
    """JSON as FastAPI's JSONResponse renders it, without its generic encoder (~0.1 ms an answer)."""
    return json.dumps(data, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


def json_response(data: Any, status_code: int = 200) -> Response:
    """:func:`json_bytes` as a response."""
    return Response(json_bytes(data), status_code=status_code, media_type="application/json")


async def answer(app: FastAPI, req: VerificationRequest, inst: service.AuthenticatedInstitution,
                 registered_at: datetime | None = None, *, if_none_match: str | None = None
                 ) -> VerificationOutcome:
    """Verify for an institution from :func:`onshi.auth.deps.verifying_institution` through
    :func:`onshi.verify.hotpath.answer`; a credential revoked meanwhile is answered 401.  *registered_at*
    (naive = Japan time): the institution's dispute replay (docs/replay.md)."""
    try:
        read_engine = getattr(app.state, "read_engine", None)
        if registered_at is not None:
            return await hotpath.answer(app.state.engine, req, inst, read_engine,
                                        registered_at=replay_instant(registered_at))
        return await hotpath.answer(app.state.engine, req, inst, read_engine, if_none_match=if_none_match)
    except service.AuthError:
        raise unauthorized() from None


def unprocessable(exc: VerificationError) -> HTTPException:
    """A :class:`VerificationError` as FastAPI's 422 body (``loc`` names the field); a :class:`ScopeError` (what
    the institution's kind does not allow) as 403 with the same body."""
    return HTTPException(status_code=403 if isinstance(exc, ScopeError) else 422, detail=[{"loc": ["body", exc.field or "request"], "msg": exc.message,
                                                   "type": exc.code}])


# ---------------------------------------------------------------- REST

# The verification endpoints are ``async def``: the lookup runs on the event loop (a blocking ~0.5 ms of CPU and
# one round trip to the database) because a thread hop per request costs as much under load; while a request
# waits for its log rows to be committed the loop serves others.  More concurrency comes from the worker
# processes (``uvicorn --workers``).  See :mod:`onshi.verify.hotpath` and docs/performance.md.

async def verify_numbers(body: NumbersQuery, inst: VerifyingInst, request: Request) -> Response:
    req = body.to_request(inst.code)
    try:
        return verification_response(await answer(request.app, req, inst, body.registered_at,
                                                  if_none_match=request.headers.get("if-none-match")))
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
    except service.AuthError:
        return None
    try:
        body = NumbersQuery.model_validate(json.loads(await request.body()))  # as FastAPI: json.loads, python mode
    except (ValueError, ValidationError, RecursionError):  # FastAPI answers it (422, or 400 for nesting too deep)
        return None
    try:
        return verification_response(await answer(request.app, body.to_request(inst.code), inst,
                                                  body.registered_at, if_none_match=headers.get("if-none-match")))
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
                              card_serial=body.certificate_serial, reader_outcome=body.reader.model_dump(),
                              credential=body.credential)
    try:
        return verification_response(await answer(request.app, req, inst, body.registered_at,
                                                  if_none_match=request.headers.get("if-none-match")))
    except VerificationError as exc:
        raise unprocessable(exc) from None


class RequeryQuery(NumbersQuery):
    """A 居宅同意取得型 re-query (再照会): the numbers a card check by this institution answered, a later day of care."""

    registered_at: None = Field(None, exclude=True, description="not for a re-query")


@router.post("/api/v1/verifications/requery", tags=["verification"], response_model=dict,
             summary="Re-query without the card (居宅同意取得型 institutions; a card check within the period first)")
async def verify_requery(body: RequeryQuery, inst: VerifyingInst, request: Request) -> Response:
    """As the numbers endpoint, for an institution registered ``home_visit``: answered with the consents given at
    the card check, logged with method ``requery``.  403 for another kind; 422 (E0411) past the period or for a
    patient it never verified by card — nothing recorded."""
    req = dataclasses.replace(body.to_request(inst.code), requery=True)
    try:
        return verification_response(await answer(request.app, req, inst,
                                                  if_none_match=request.headers.get("if-none-match")))
    except VerificationError as exc:
        raise unprocessable(exc) from None


class StaffReplayQuery(NumbersQuery):
    """An insurer's staff replay: numbers of the staff's own insurer, the instant, optionally the clinic."""

    registered_at: datetime = Field(description=REGISTERED_AT_DOC)
    institution_code: str | None = Field(None, description="医療機関コード of the clinic in dispute: its consents and "
                                         "照会番号 as recorded then (omitted: none)")


@router.get("/api/v1/verifications/replay", tags=["verification"], response_model=dict,
            summary="Replay: what the index answered at a past instant (an insurer's staff, own insurer)")
def staff_replay(body: Annotated[StaffReplayQuery, Query()], user: ReplayStaff, request: Request) -> Response:
    if body.insurer_number != user.insurer.number:
        raise HTTPException(403, "replay is for the staff of the insurer the numbers belong to (他保険者の番号)")
    with request.app.state.engine.begin() as conn:
        inst = service.NO_INSTITUTION
        if body.institution_code:
            inst = conn.execute(select(Institution).where(Institution.code == body.institution_code)).scalar()
            if inst is None:
                raise HTTPException(422, detail=[{"loc": ["body", "institution_code"], "type": "value_error",
                                                  "msg": "医療機関コードが登録されていません (unknown institution)"}])
        try:
            out = service.verify(Session(bind=conn), body.to_request(inst.code), inst,
                                 registered_at=replay_instant(body.registered_at),
                                 actor=("user", user.user.username))
        except VerificationError as exc:
            raise unprocessable(exc) from None
    return json_response(outcome_json(out))


# ---------------------------------------------------------------- receipts (docs/receipts.md)

@router.get("/.well-known/jwks.json", tags=["receipts"], summary="The public keys that verify receipts (JWK set)")
def receipt_jwks() -> Response:
    return json_response(receipts.key_ring().jwks())


router.add_api_route("/api/v1/receipts/jwks", receipt_jwks, methods=["GET"], tags=["receipts"],
                     summary="The public keys that verify receipts (JWK set; same as /.well-known/jwks.json)")


class ReceiptIn(BaseModel):
    receipt: str = Field(min_length=1, max_length=4000, description="a receipt (compact JWS) as an answer carried it")


@router.post("/api/v1/receipts/verify", tags=["receipts"], summary="Check a receipt's signature; show what it says")
def verify_receipt(body: ReceiptIn) -> Response:
    """200 with the claims when this deployment signed the receipt as it stands; 422 with the reason otherwise
    (altered, forged, unknown or retired key, not a receipt)."""
    try:
        claims = receipts.verify_receipt(body.receipt, receipts.key_ring())
    except receipts.ReceiptError as exc:
        return json_response({"valid": False, "reason": exc.reason,
                              "detail": [{"loc": ["body", "receipt"], "msg": exc.reason, "type": "receipt_refused"}]},
                             status_code=422)
    return json_response({"valid": True, "claims": claims})


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
