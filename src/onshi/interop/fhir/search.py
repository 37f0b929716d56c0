"""Search of ``Coverage`` by identifier, limited to the people the asking institution has itself checked.

The rule: a person is found only when the institution's usage log (``verification_log``) holds a check of that
person (its keyed pseudonym ``patient_key``); the Coverage is then the one the verification service answers for
the date of care of the institution's latest check of them.  The lookup goes through
:func:`onshi.verify.service.verify` with a ``record`` hook, so the rules are the service's own, and the hook
keeps the usage-log row out (a search is not a check) while the audit row is written — as a
``fhir-coverage-search`` — only when something is shown.  A person the institution never checked, unknown
numbers and a wrong birth date all answer the same empty Bundle.

``GET /fhir/Coverage/{id}`` (:func:`read_coverage`) follows the same rule: the id of a Coverage in a search
answer is its registered qualification sealed with the deployment's key (:func:`coverage_id`), and a read
re-asks the service for that qualification's numbers — found only for an institution that checked the person.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import replace
from datetime import date
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy import func, insert, select

from onshi.interop.fhir.coverage import coverage, insurer_organization, patient, validity_coding
from onshi.exchange.models import IndexedQualification
from onshi.privacy.crypto import vault
from onshi.privacy.models import AuditEntry
from onshi.store.clock import utcnow
from onshi.verify import service
from onshi.verify.models import VerificationLogEntry
from onshi.verify.result import ReferenceClass, VerificationOutcome, VerificationRequest

__all__ = ["search_coverage", "read_coverage", "coverage_id"]

_ID_TAG = b"C"  #: the sealed payload of a Coverage id starts with it (the vault's seal has other uses)


def coverage_id(qualification_id: int) -> str:
    """A Coverage id for one registered qualification: sealed with the deployment's key (AES-GCM, a fresh nonce
    each time), base32 in lower case — 60 characters, within FHIR's 64 — so it tells nothing and cannot be forged."""
    blob = vault().seal(_ID_TAG + qualification_id.to_bytes(8, "big"))
    return base64.b32encode(blob).decode().rstrip("=").lower()


def _qualification_of(resource_id: str) -> int | None:
    if not resource_id or len(resource_id) > 64:
        return None
    try:
        data = vault().unseal(base64.b32decode(resource_id.upper() + "=" * (-len(resource_id) % 8)))
    except (ValueError, binascii.Error, InvalidTag):
        return None
    return int.from_bytes(data[1:], "big") if data[:1] == _ID_TAG and len(data) == 9 else None


def _quiet_verify(conn, req: VerificationRequest, inst) -> tuple[VerificationOutcome, dict | None, dict | None]:
    captured: dict[str, Any] = {}

    def record(log, audit):
        captured["log"], captured["audit"] = log, audit

    outcome = service.verify(conn, req, inst, check_revoked=True, record=record)
    return outcome, captured.get("log"), captured.get("audit")


def _qualification_ids(conn, answers) -> list[int | None]:
    """The index row of each answer (the answer itself carries none)."""
    iq = IndexedQualification.__table__.c
    out: list[int | None] = []
    for a in answers:
        rows = conn.execute(select(iq.qualification_id, iq.symbol, iq.branch).where(
            iq.insurer_number == a.insurer_number, iq.number == a.number, iq.birth_date == a.birth_date,
            iq.acquisition_date == a.qualification_date)).all()
        out.append(next((r.qualification_id for r in rows
                         if (r.symbol or "") == (a.symbol or "") and (r.branch or "") == (a.branch or "")), None))
    return out


def _checked(conn, req: VerificationRequest, inst, action: str):
    """(validity, [(qualification id, answer)]) of what the service answers for the latest date of care this
    institution checked the person on; empty when it never checked them.  Audited as *action* when shown."""
    outcome, log, audit = _quiet_verify(conn, req, inst)
    key = log.get("patient_key") if log else None
    if key is None:
        return outcome.validity, []
    vl = VerificationLogEntry.__table__.c
    last: date | None = conn.execute(select(func.max(vl.care_date)).where(
        vl.institution_code == inst.code, vl.patient_key == key)).scalar()
    if last is None:
        return outcome.validity, []
    if last != req.care_date:
        outcome, _log, audit = _quiet_verify(conn, replace(req, care_date=last), inst)
    if not outcome.answers or audit is None:
        return outcome.validity, []
    conn.execute(insert(AuditEntry.__table__), [{**audit, "at": utcnow(), "action": action,
                                                 "detail": f"care_date={last.isoformat()}"}])
    return outcome.validity, list(zip(_qualification_ids(conn, outcome.answers), outcome.answers))


def _coverage_json(answer, validity, *, resource_id: str, beneficiary: str, payor: str) -> dict[str, Any]:
    cov = coverage(answer, beneficiary=beneficiary, payor=payor, validity=validity, resource_id=resource_id)
    data = cov.model_dump(mode="json", exclude_none=True)
    data.setdefault("meta", {})["tag"] = [validity_coding(validity)]
    return data


def search_coverage(engine, req: VerificationRequest, inst, *, base_url: str) -> dict[str, Any]:
    """A ``searchset`` Bundle: the Coverages (``match``, readable at ``{base_url}Coverage/{id}``) with their
    Patient and insurer (``include``).  *req* is a numbers request for today (its care date is replaced by the
    latest checked one)."""
    entries: list[dict[str, Any]] = []
    with engine.begin() as conn:
        validity, found = _checked(conn, req, inst, "fhir-coverage-search")
        for qid, answer in found:
            pid, oid = str(uuid.uuid4()), str(uuid.uuid4())
            cid = coverage_id(qid) if qid is not None else str(uuid.uuid4())
            entries.append({"fullUrl": f"{base_url}Coverage/{cid}" if qid is not None else f"urn:uuid:{cid}",
                            "resource": _coverage_json(answer, validity, resource_id=cid,
                                                       beneficiary=f"urn:uuid:{pid}", payor=f"urn:uuid:{oid}"),
                            "search": {"mode": "match"}})
            for rid, res in ((pid, patient(answer, institution_code=inst.code, resource_id=pid)),
                             (oid, insurer_organization(answer, resource_id=oid))):
                entries.append({"fullUrl": f"urn:uuid:{rid}",
                                "resource": res.model_dump(mode="json", exclude_none=True),
                                "search": {"mode": "include"}})
    bundle: dict[str, Any] = {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": "searchset",
                              "total": sum(1 for e in entries if e["search"]["mode"] == "match")}
    if entries:
        bundle["entry"] = entries
    return bundle


def read_coverage(engine, resource_id: str, inst, *, today: date) -> dict[str, Any] | None:
    """``Coverage/{id}``: the Coverage (Patient and insurer contained), or None — an id that is not one of ours,
    a qualification no longer registered, or a person this institution never checked all answer the same."""
    qid = _qualification_of(resource_id)
    if qid is None:
        return None
    iq = IndexedQualification.__table__.c
    with engine.begin() as conn:
        row = conn.execute(select(iq.insurer_number, iq.symbol, iq.number, iq.branch, iq.birth_date)
                           .where(iq.qualification_id == qid)).first()
        if row is None:
            return None
        req = VerificationRequest(reference_class=ReferenceClass.NUMBERS, care_date=today,
                                  institution_code=inst.code, arbitrary_file_identifier=None,
                                  insurer_number=row.insurer_number, symbol=row.symbol or "", number=row.number,
                                  branch=row.branch or None, birth_date=row.birth_date, limit_consent=False,
                                  arbitrary_identifier=None)
        validity, found = _checked(conn, req, inst, "fhir-coverage-read")
    answer = next((a for q, a in found if q == qid), None)
    if answer is None:
        return None
    data = _coverage_json(answer, validity, resource_id=resource_id, beneficiary="#patient", payor="#insurer")
    contained = [patient(answer, institution_code=inst.code, resource_id="patient"),
                 insurer_organization(answer, resource_id="insurer")]
    return {"resourceType": "Coverage", "id": data.pop("id"), "meta": data.pop("meta"),
            "contained": [r.model_dump(mode="json", exclude_none=True) for r in contained],
            **{k: v for k, v in data.items() if k != "resourceType"}}
