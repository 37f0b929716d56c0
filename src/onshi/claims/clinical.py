"""Consented clinical information at the clinic (薬剤情報・特定健診情報の閲覧): what a doctor, dentist or pharmacist
(有資格者) of an institution may see of a patient, from the claims and the 特定健診 results the insurer holds.

The patient decides at the card reader (or the terminal's consent flags): :func:`onshi.verify.service.record_consents`
keeps each answer with its time and its 24-hour expiry.  A view is granted only when every one of these holds, in
this order (the first that fails is the :class:`Refusal`, in Japanese, with the English beside):

1. the user's institution is registered, not revoked, and not 資格確認限定型 (柔道整復・あはき see no health data);
2. the card numbers and birth date name exactly one registered person (the verification index: what the clinic
   was told);
3. that person's latest answer of the kind (``pharmacist`` 薬剤情報, ``specific_health_checkups`` 特定健診情報) at
   *this* institution is 同意あり and not past its expiry — a consent at another institution counts for nothing.

Then the drug lines of the person's claims of the last :data:`~onshi.rules.claims.DRUG_VIEW_YEARS` years (by day of
care) or the 特定健診 results of the last :data:`~onshi.rules.claims.CHECKUP_VIEW_YEARS` years are returned, and
the read is audited here (``clinical.drugs`` / ``clinical.checkups``, actor the user, subject the person).  A
refused request is audited too (``clinical.refused``, with the reason) — it shows nothing, but who asked about whom
is worth keeping.  A refusal is therefore *returned*, not raised: the caller's transaction commits its audit row
(an exception would roll it back with the unit of work).  Nothing here writes anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.claims.models import CheckupResult, Claim, ClaimLine
from onshi.exchange import index
from onshi.privacy import audit
from onshi.rules.claims import CHECKUP_VIEW_YEARS, DRUG_VIEW_YEARS, SETTINGS, years_before
from onshi.store.clock import japan_date, to_japan_time, utcnow
from onshi.verify import service as verify
from onshi.verify.result import ConsentKind, ConsentStatus

#: what may be viewed: the consent kind it needs and the screen's word for it
VIEWS = {"drugs": (ConsentKind.PHARMACIST, "薬剤情報"),
         "checkups": (ConsentKind.SPECIFIC_HEALTH_CHECKUPS, "特定健診情報")}


@dataclass(frozen=True)
class Refusal:
    """The view is not allowed; ``reason`` says why in Japanese (English beside) and ``code`` is a stable name:
    ``institution`` | ``limited`` | ``not_found`` | ``multiple`` | ``no_consent`` | ``declined`` | ``expired``."""

    code: str
    reason: str


@dataclass(frozen=True)
class Patient:
    """The patient as the numbers name them: numbers of the card and the registered name."""

    person_id: int
    name: str
    birth_date: date
    insurer_number: str


@dataclass(frozen=True)
class DrugLine:
    month: str
    care_dates: list[str]
    institution_code: str
    institution_name: str
    setting: str
    code: str
    name: str
    quantity: float
    generic: bool


@dataclass(frozen=True)
class CheckupRow:
    checkup_date: date
    fiscal_year: int
    values: dict


@dataclass(frozen=True)
class ClinicalView:
    """One granted view: who, what, the period shown, the consent it rests on, and the rows."""

    what: str
    patient: Patient
    since: date
    consented_at: datetime
    available_until: datetime | None
    drugs: list[DrugLine]
    checkups: list[CheckupRow]


def _refuse(session: Session, code: str, reason: str, *, actor_id: str, institution_code: str, what: str,
            person_id: int | None, actor_kind: str = "user") -> Refusal:
    audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="clinical.refused",
                      subject_kind="person" if person_id else "institution",
                      subject_id=person_id or institution_code,
                      detail=f"{what} at {institution_code}: {code}")
    return Refusal(code, reason)


def _patient(session: Session, *, insurer_number: str, symbol: str, number: str, branch: str | None,
             birth_date: date | None) -> list[Patient]:
    if birth_date is None:  # the terminal's 薬剤・健診 requests name the patient by the card's numbers alone
        q = select(index.IndexedQualification).where(
            index.IndexedQualification.insurer_number == insurer_number, index.IndexedQualification.symbol == symbol,
            index.IndexedQualification.number == number)
        rows = list(session.scalars(q.where(index.IndexedQualification.branch == branch) if branch else q))
    else:
        rows = index.qualifications_by_numbers(session, insurer_number=insurer_number, symbol=symbol, number=number,
                                               branch=branch or None, birth_date=birth_date)
    people: dict[int, Patient] = {}
    for r in sorted(rows, key=lambda r: r.acquisition_date):
        people[r.person_id] = Patient(r.person_id, r.name, r.birth_date, r.insurer_number)
    return list(people.values())


def view(session: Session, what: str, *, institution_code: str, actor_id: str, insurer_number: str, symbol: str,
         number: str, branch: str | None, birth_date: date | None, now: datetime | None = None,
         actor_kind: str = "user") -> ClinicalView | Refusal:
    """The patient's 薬剤情報 (*what* = ``drugs``) or 特定健診情報 (``checkups``) for a 有資格者 of
    *institution_code*, or the :class:`Refusal` (see the module's docstring).  Audited either way.

    *birth_date* None: the numbers alone name the patient (the verification terminal's ``YZK``/``TKK`` requests
    carry no birth date; several people under one number without a 枝番 are then ``multiple``).  *actor_kind* is
    the audit's (``terminal`` for those requests, whose actor is the institution's terminal)."""
    if what not in VIEWS:
        raise ValueError(what)
    kind, label = VIEWS[what]
    now = now or utcnow()
    today = japan_date(now)
    ctx = dict(actor_id=actor_id, institution_code=institution_code, what=what, actor_kind=actor_kind)

    inst = verify.institution_by_code(session, institution_code)
    if inst is None or inst.revoked_at is not None:
        return _refuse(session, "institution", "この医療機関は登録されていないか、利用を停止しています "
                                              "(institution not registered or revoked)", person_id=None, **ctx)
    if inst.kind == verify.LIMITED:
        return _refuse(session, "limited", f"資格確認限定型の施術所では{label}を閲覧できません "
                                          "(a 資格確認限定型 institution sees no health information)",
                      person_id=None, **ctx)
    people = _patient(session, insurer_number=insurer_number, symbol=symbol, number=number, branch=branch,
                      birth_date=birth_date)
    if not people:
        return _refuse(session, "not_found", "入力した番号・生年月日の方は登録されていません "
                                            "(no registered person with these numbers)", person_id=None, **ctx)
    if len(people) > 1:
        return _refuse(session, "multiple", "この番号では複数の方が該当します。枝番を入力してください "
                                           "(several people: give the 枝番)", person_id=None, **ctx)
    patient = people[0]
    consent = verify.consent_at(session, person_id=patient.person_id, institution_code=institution_code,
                                kind=kind.value, now=now)
    if consent is None:
        return _refuse(session, "no_consent", f"この患者さんから当院での{label}の閲覧の同意を得ていません。"
                                             "カードリーダーで同意を確認してください (no consent at this institution)",
                      person_id=patient.person_id, **ctx)
    if consent.status == ConsentStatus.NONE:
        return _refuse(session, "declined", f"この患者さんは{label}の閲覧に同意していません "
                                           "(the patient declined)", person_id=patient.person_id, **ctx)
    if consent.status == ConsentStatus.EXPIRED:
        until = to_japan_time(consent.available_until).strftime("%Y-%m-%d %H:%M")
        return _refuse(session, "expired", f"{label}の閲覧の同意は {until} に期限が切れました。"
                                          "もう一度カードリーダーで同意を確認してください (the consent has expired)",
                      person_id=patient.person_id, **ctx)

    years = (DRUG_VIEW_YEARS if what == "drugs" else CHECKUP_VIEW_YEARS).at(today)
    since = years_before(today, years)
    drugs = _drug_history(session, patient.person_id, since, today) if what == "drugs" else []
    checkups = _checkups(session, patient.person_id, since, today) if what == "checkups" else []
    audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action=f"clinical.{what}",
                      subject_kind="person", subject_id=patient.person_id, insurer_number=patient.insurer_number,
                      detail=f"{label} at {institution_code} since {since}")
    return ClinicalView(what, patient, since, consent.consented_at, consent.available_until, drugs, checkups)


def _drug_history(session: Session, person_id: int, since: date, today: date) -> list[DrugLine]:
    """The drug lines of the person's claims with a day of care from *since* to *today*, newest first."""
    first_month = f"{since.year:04d}-{since.month:02d}"
    names: dict[str, str] = {}
    out = []
    q = (select(Claim, ClaimLine).join(ClaimLine, ClaimLine.claim_id == Claim.id)
         .where(Claim.person_id == person_id, Claim.month >= first_month, ClaimLine.kind == "drug")
         .order_by(Claim.month.desc(), Claim.institution_code, ClaimLine.line_number))
    for claim, line in session.execute(q):
        days = [d for d in claim.care_dates if since.isoformat() <= d <= today.isoformat()]
        if not days:
            continue
        if claim.institution_code not in names:
            inst = verify.institution_by_code(session, claim.institution_code)
            names[claim.institution_code] = inst.name if inst else ""
        out.append(DrugLine(claim.month, days, claim.institution_code, names[claim.institution_code],
                            SETTINGS.get(claim.setting, claim.setting), line.code, line.name, float(line.quantity),
                            bool(line.generic)))
    return out


def _checkups(session: Session, person_id: int, since: date, today: date) -> list[CheckupRow]:
    q = (select(CheckupResult).where(CheckupResult.person_id == person_id, CheckupResult.checkup_date >= since,
                                     CheckupResult.checkup_date <= today)
         .order_by(CheckupResult.checkup_date.desc()))
    return [CheckupRow(r.checkup_date, r.fiscal_year, dict(r.values or {})) for r in session.scalars(q)]
