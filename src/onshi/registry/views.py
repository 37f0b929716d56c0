"""REST endpoints of the member registry (加入者台帳): ``/api/v1/registry/…`` — member search, the member view and
the open quarantined rows of intake (取込エラー行).

For the insurer's staff only, as :mod:`onshi.documents.views`: the caller is a signed-in web user (the session
cookie of ``/login``) with the role ``clerk`` or ``supervisor``, bound to one insurer, and sees that insurer's
members and rows only.  No session (an institution's Bearer token is not a staff credential) → 401; another role
(a clinic's reception, the analyst, the administrator) → 403; a person or row of another insurer → 404, the same
as an unknown one.  Never a redirect, never data.

Routes are thin: every read goes through a service of :mod:`onshi.registry.service` that writes the audit row of
what it shows (``member.search``, ``member.view``, ``quarantine.list``, ``quarantine.view``).  :func:`staff` is the
dependency the other staff routes (:mod:`onshi.exchange.views`) use too.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from onshi.auth import users
from onshi.auth.deps import get_session
from onshi.auth.staff import StaffUser, staff_dependency
from onshi.registry import intake, service
from onshi.store.clock import japan_today
from onshi.web.limits import DbId

router = APIRouter(prefix="/api/v1/registry", tags=["registry"])

#: The largest id a database column holds (BIGINT); a larger one is an unknown id → 422, never a 500.


# ---------------------------------------------------------------- who may call


#: Route dependency: the signed-in clerk or supervisor (:mod:`onshi.auth.staff`).
staff = staff_dependency("for an insurer's clerk or supervisor only")


Staff = Annotated[StaffUser, Depends(staff)]
DB = Annotated[Session, Depends(get_session, scope="function")]


def _scope(session: Session, who: StaffUser) -> dict:
    return {"insurer_id": who.insurer.id, "insurer_number": who.insurer.number,
            "importers": users.actors_of_insurer(session, who.insurer.id)}


# ---------------------------------------------------------------- models


class MemberHitOut(BaseModel):
    person_id: int
    name: str = Field(description="氏名")
    name_kana: str = Field(description="フリガナ")
    birth_date: date
    symbol: str | None = Field(description="記号 of the latest qualification at this insurer")
    number: str | None = Field(description="番号")
    branch: str | None = Field(description="枝番")
    acquisition_date: date | None
    loss_date: date | None
    active: bool | None = Field(description="insured today (Japan); null: no qualification at this insurer")


class QualificationOut(BaseModel):
    """The current version of one qualification at this insurer."""

    qualification_id: int
    role: str = Field(description="insured (本人) or dependent (家族)")
    symbol: str
    number: str
    branch: str
    acquisition_date: date
    loss_date: date | None
    employer_id: int | None


class MemberOut(BaseModel):
    """What a clerk sees of one member; the My Number only masked (末尾4桁)."""

    person_id: int
    name: str
    name_kana: str
    birth_date: date
    sex: int = Field(description="1 男, 2 女, 3 未設定")
    postal_code: str | None
    address: str | None
    my_number_masked: str | None
    qualifications: list[QualificationOut]


class QuarantinedRowOut(BaseModel):
    """An open quarantined row: where, what and why, and the values as filed (My Number masked)."""

    id: int
    file_id: int
    filename: str | None
    row_number: int
    notification_type: str
    errors: list[dict]
    values: dict[str, str]


def _row_out(entry: intake.QuarantineEntry) -> QuarantinedRowOut:
    row = entry.row
    return QuarantinedRowOut(id=row.id, file_id=row.file_id, filename=entry.file.filename if entry.file else None,
                             row_number=row.row_number, notification_type=row.notification_type.value,
                             errors=list(row.errors or []), values=entry.values)


# ---------------------------------------------------------------- routes


@router.get("/members", response_model=list[MemberHitOut])
def search_members(who: Staff, session: DB, response: Response, name: str = "", birth_date: str = "",
                   symbol: str = "", number: str = "", branch: str = "", employer: str = "",
                   page: Annotated[int, Query(ge=1, le=10**6)] = 1,
                   per_page: Annotated[int, Query(ge=1, le=200)] = 50):
    """Search this insurer's members, as the back-office page does, by any of: ``name`` (氏名 or フリガナ, whole or
    in part; kana in hiragana, katakana or half width), ``birth_date`` (西暦 or 和暦, full width accepted),
    ``symbol`` (alone too), ``number``, ``branch`` and ``employer`` (事業所: its 記号 or part of its name) — the
    terms given are combined.  Ordered by フリガナ, ``per_page`` a ``page``; the total is in ``X-Total-Count``.
    Each person answered is audited."""
    try:
        found = service.search_members(session, insurer_id=who.insurer.id, name=name, birth_date=birth_date,
                                       symbol=symbol, number=number, branch=branch, employer=employer,
                                       today=japan_today(), page=page, per_page=per_page, **who.reader)
    except service.SearchInputError as exc:
        raise HTTPException(422, {"invalid": exc.invalid}) from None
    if not found.searched:
        raise HTTPException(422, {"invalid": {"name": "氏名・フリガナ、生年月日、記号・番号、事業所のどれかを指定してください"}})
    response.headers["X-Total-Count"] = str(found.total)
    return [MemberHitOut(**{k: getattr(h, k) for k in MemberHitOut.model_fields}) for h in found.hits]


@router.get("/members/{person_id}", response_model=MemberOut)
def member(who: Staff, session: DB, person_id: DbId):
    """One member of this insurer (404 for an unknown person and for another insurer's); the read is audited."""
    try:
        view = service.member_view(session, person_id, insurer_id=who.insurer.id, **who.reader)
    except service.RegistryError:
        raise HTTPException(404, "no such member of this insurer") from None
    current = [v for v in view.qualifications if v.insurer_id == who.insurer.id and v.superseded_at is None]
    return MemberOut(
        person_id=view.person_id, name=view.name, name_kana=view.name_kana, birth_date=view.birth_date,
        sex=view.sex, postal_code=view.postal_code, address=view.address, my_number_masked=view.my_number_masked,
        qualifications=[QualificationOut(
            qualification_id=v.qualification_id, role=v.role.value, symbol=v.symbol, number=v.number,
            branch=v.branch, acquisition_date=v.acquisition_date, loss_date=v.loss_date, employer_id=v.employer_id)
            for v in current])


@router.get("/quarantine", response_model=list[QuarantinedRowOut])
def quarantine(who: Staff, session: DB):
    """This insurer's open quarantined rows (取込エラー行), oldest file first; each row shown is audited."""
    return [_row_out(e) for e in intake.quarantine_list(session, **_scope(session, who), **who.reader)]


@router.get("/quarantine/{quarantine_id}", response_model=QuarantinedRowOut)
def quarantined_row(who: Staff, session: DB, quarantine_id: DbId):
    """One quarantined row of this insurer (404 otherwise); the read is audited."""
    entry = intake.quarantine_entry(session, quarantine_id, **_scope(session, who), **who.reader)
    if entry is None:
        raise HTTPException(404, "no such quarantined row of this insurer")
    return _row_out(entry)
