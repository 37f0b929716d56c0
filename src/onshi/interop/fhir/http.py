"""HTTP routes of the FHIR interface: ``POST /fhir/verify`` answers a verification by numbers as a JP Core
``Bundle`` (``Coverage`` + insurer ``Organization`` + ``Patient``; 資格確認 in FHIR).

The request body and the verification are the REST endpoint's (:mod:`onshi.verify.views`); only the rendering
differs (:mod:`onshi.interop.fhir.coverage`).
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from onshi.interop.fhir.coverage import outcome_to_bundle
from onshi.verify.result import VerificationError
from onshi.verify.views import NumbersQuery, VerifyingInst, answer, unprocessable

__all__ = ["router"]

router = APIRouter()


@router.post("/fhir/verify", tags=["fhir"], summary="Verify by numbers; answer as a JP Core Bundle (Coverage)")
async def fhir_verify(body: NumbersQuery, inst: VerifyingInst, request: Request) -> Response:
    req = body.to_request(inst.code)
    try:
        outcome = await answer(request.app, req, inst)
    except VerificationError as exc:
        raise unprocessable(exc) from None
    bundle = outcome_to_bundle(outcome, institution_code=inst.code)
    return Response(content=bundle.model_dump_json(), media_type="application/fhir+json")
