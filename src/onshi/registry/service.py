"""Service functions of the member registry.  The caller owns the transaction.

Other domains (exchange, verify, documents, web) call these functions, never the
tables directly.  The reads of the back office (加入者の検索, the member page) take the actor and write the
audit row themselves (:func:`onshi.privacy.audit.record_read`), so no page or route can forget it:
:func:`search_members`, :func:`member_view`; the 取込エラー行 and intake reports do the same in
``registry/intake/reads.py``.  Scope checks (:func:`person_in_scope`) show no one's data and write nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from onshi.privacy import audit
from onshi.privacy.crypto import vault
from onshi.registry.models import (
    Employer,
    Insurer,
    LimitCertificateVersion,
    Person,
    PersonVersion,
    QualificationVersion,
    RegistryChange,
    RemunerationVersion,
    Role,
)
from onshi.store.clock import japan_day_start, japan_today
from onshi.store.history import current, known_at, valid_on


class RegistryError(ValueError):
    """A request the registry cannot satisfy, with a reason a clerk can act on."""


# ---------------------------------------------------------------- insurers, employers

def add_insurer(session: Session, *, number: str, name: str, kind: str = "kumiai", prefecture_code: str | None = None,
                postal_code: str | None = None, address: str | None = None, phone: str | None = None,
                settings: dict | None = None) -> Insurer:
    from onshi.numbers import insurer_number

    number = insurer_number.validate(number)
    if session.scalar(select(Insurer).where(Insurer.number == number)):
        raise RegistryError(f"保険者番号 {number} は登録済みです (insurer already registered)")
    insurer = Insurer(number=number, name=name, kind=kind,
                      prefecture_code=prefecture_code or insurer_number.prefecture_code(number),
                      postal_code=postal_code, address=address, phone=phone, settings=settings or {})
    session.add(insurer)
    session.flush()
    return insurer


def list_insurers(session: Session) -> list[Insurer]:
    return list(session.scalars(select(Insurer).order_by(Insurer.number)))


def get_insurer(session: Session, *, number: str | None = None, id: int | None = None) -> Insurer | None:
    if id is not None:
        return session.get(Insurer, id)
    return session.scalar(select(Insurer).where(Insurer.number == number))


def get_employer(session: Session, *, insurer_id: int, symbol: str) -> Employer | None:
    return session.scalar(select(Employer).where(Employer.insurer_id == insurer_id, Employer.symbol == symbol))


def list_employers(session: Session, *, insurer_id: int) -> list[Employer]:
    return list(session.scalars(select(Employer).where(Employer.insurer_id == insurer_id).order_by(Employer.symbol)))


# ---------------------------------------------------------------- history queries

def qualification_versions(
    session: Session, *, recorded_at: datetime | None = None, about_day: date | None = None,
    person_id: int | None = None, insurer_id: int | None = None, qualification_id: int | None = None,
    numbers: tuple[str, str, str | None] | None = None, employer_id: int | None = None,
) -> list[QualificationVersion]:
    """What the registry knew at *recorded_at* (None = now) about qualifications covering *about_day*.

    *numbers* is ``(記号, 番号, 枝番 or None)`` within *insurer_id*; *employer_id* the 事業所 (its current
    members through ``ix_qv_employer_current``, e.g. for a mailing run's bundle).
    """
    q = select(QualificationVersion).where(known_at(QualificationVersion, recorded_at))
    if about_day is not None:
        q = q.where(QualificationVersion.acquisition_date <= about_day,
                    or_(QualificationVersion.loss_date.is_(None), QualificationVersion.loss_date > about_day))
    if person_id is not None:
        q = q.where(QualificationVersion.person_id == person_id)
    if insurer_id is not None:
        q = q.where(QualificationVersion.insurer_id == insurer_id)
    if qualification_id is not None:
        q = q.where(QualificationVersion.qualification_id == qualification_id)
    if numbers is not None:
        symbol, number, branch = numbers
        q = q.where(QualificationVersion.symbol == symbol, QualificationVersion.number == number)
        if branch is not None:
            q = q.where(QualificationVersion.branch == branch)
    if employer_id is not None:
        q = q.where(QualificationVersion.employer_id == employer_id)
    return list(session.scalars(q.order_by(QualificationVersion.acquisition_date, QualificationVersion.id)))


def insurer_person_ids(insurer_id: int) -> Select:
    """A subquery for ``IN``/joins: the people with a (currently recorded) qualification at *insurer_id*, past or
    present — lets another domain scope one statement to an insurer without reading the registry row by row."""
    return select(QualificationVersion.person_id).where(known_at(QualificationVersion, None),
                                                        QualificationVersion.insurer_id == insurer_id)


def qualification_history(session: Session, qualification_id: int) -> list[QualificationVersion]:
    """Every version ever recorded of one qualification, oldest first (the audit trail of corrections)."""
    return list(session.scalars(select(QualificationVersion)
                                .where(QualificationVersion.qualification_id == qualification_id)
                                .order_by(QualificationVersion.recorded_at, QualificationVersion.id)))


def person_on(session: Session, person_id: int, day: date | None = None,
              recorded_at: datetime | None = None) -> PersonVersion | None:
    """Name, address … of a person valid on *day* (default: the latest) as known at *recorded_at*."""
    q = select(PersonVersion).where(PersonVersion.person_id == person_id, known_at(PersonVersion, recorded_at))
    if day is not None:
        q = q.where(valid_on(PersonVersion, day))
    return session.scalars(q.order_by(PersonVersion.valid_from.desc())).first()


def person_history(session: Session, person_id: int) -> list[PersonVersion]:
    return list(session.scalars(select(PersonVersion).where(PersonVersion.person_id == person_id)
                                .order_by(PersonVersion.recorded_at, PersonVersion.valid_from)))


def remuneration_on(session: Session, qualification_id: int, day: date,
                    recorded_at: datetime | None = None) -> int | None:
    """標準報酬月額 in force on *day*."""
    return session.scalar(select(RemunerationVersion.monthly_amount).where(
        RemunerationVersion.qualification_id == qualification_id,
        known_at(RemunerationVersion, recorded_at), valid_on(RemunerationVersion, day)))


def remuneration_history(session: Session, qualification_id: int) -> list[RemunerationVersion]:
    return list(session.scalars(select(RemunerationVersion).where(
        RemunerationVersion.qualification_id == qualification_id, current(RemunerationVersion))
        .order_by(RemunerationVersion.valid_from)))


def limit_certificate_on(session: Session, qualification_id: int, day: date,
                         recorded_at: datetime | None = None) -> LimitCertificateVersion | None:
    return session.scalar(select(LimitCertificateVersion).where(
        LimitCertificateVersion.qualification_id == qualification_id,
        known_at(LimitCertificateVersion, recorded_at), valid_on(LimitCertificateVersion, day)))


def find_by_numbers(session: Session, *, insurer_number: str, symbol: str, number: str, branch: str | None = None,
                    recorded_at: datetime | None = None, about_day: date | None = None) -> list[QualificationVersion]:
    insurer = get_insurer(session, number=insurer_number)
    if insurer is None:
        return []
    return qualification_versions(session, recorded_at=recorded_at, about_day=about_day, insurer_id=insurer.id,
                                  numbers=(symbol, number, branch))


def find_person_by_my_number(session: Session, my_number: str) -> Person | None:
    """Find a person through the keyed hash; the number itself is never queried or logged."""
    return session.scalar(select(Person).where(Person.my_number_hash == vault().lookup_hash(my_number)))


def find_persons_by_name_birth(session: Session, name: str, birth_date: date) -> list[int]:
    from onshi.registry.fields import parse_name

    return list(session.scalars(select(PersonVersion.person_id).where(
        current(PersonVersion), PersonVersion.name == parse_name(name),
        PersonVersion.birth_date == birth_date).distinct()))


# ---------------------------------------------------------------- derived facts

def member_remuneration_on(session: Session, qv: QualificationVersion, day: date) -> int | None:
    """The member's 標準報酬月額 on *day*; for a dependent, the member's (dependents follow the member)."""
    member_q = qv.member_qualification_id if qv.role == Role.dependent else qv.qualification_id
    return remuneration_on(session, member_q, day) if member_q else None


def member_birth_date(session: Session, qv: QualificationVersion) -> date | None:
    if qv.role != Role.dependent or qv.member_qualification_id is None:
        return None
    member = qualification_versions(session, qualification_id=qv.member_qualification_id)
    if not member:
        return None
    pv = person_on(session, member[-1].person_id)
    return pv.birth_date if pv else None


def co_pay_on(session: Session, qv: QualificationVersion, day: date):
    """一部負担金の割合 of this qualification on *day*, from the rules and the registry's data."""
    pv = person_on(session, qv.person_id, day) or person_on(session, qv.person_id)
    return co_pay_from(qv, day, birth_date=pv.birth_date, member_birth_date=member_birth_date(session, qv),
                       member_monthly_remuneration=member_remuneration_on(session, qv, day),
                       limit_certificate=limit_certificate_on(session, limit_qualification_id(qv), day))


def limit_qualification_id(qv: QualificationVersion) -> int:
    """Whose 限度額 certificate counts for *qv*: a dependent's member's, else its own."""
    return (qv.member_qualification_id or qv.qualification_id) if qv.role == Role.dependent else qv.qualification_id


def co_pay_from(qv: QualificationVersion, day: date, *, birth_date: date, member_birth_date: date | None,
                member_monthly_remuneration: int | None, limit_certificate: LimitCertificateVersion | None):
    """:func:`co_pay_on` from facts already read (a whole bundle's or daily run's, read at once)."""
    from onshi.rules.co_pay import co_pay_ratio

    lc = limit_certificate
    return co_pay_ratio(
        birth_date=birth_date, on=day, member_birth_date=member_birth_date,
        member_monthly_remuneration=member_monthly_remuneration or 0,
        income_exemption_from=lc.valid_from if (lc is not None and lc.income_exemption) else None,
        acquisition_date=qv.acquisition_date,
    )


def effective_loss_date(qv: QualificationVersion, birth_date: date, member_birth_date: date | None = None) -> date | None:
    """資格喪失日 as it stands in law: the recorded loss, or the 75th birthday (後期高齢者医療へ移行)
    of the person — or, for a dependent, of the member — whichever comes first."""
    from onshi.rules.co_pay import late_elderly_transition

    candidates = [d for d in (qv.loss_date, late_elderly_transition(birth_date),
                              late_elderly_transition(member_birth_date) if member_birth_date else None) if d]
    return min(candidates) if candidates else None


# ---------------------------------------------------------------- the member page

@dataclass(frozen=True)
class MemberView:
    """Everything a clerk sees of one person; the My Number only masked (末尾4桁)."""

    person_id: int
    name: str
    name_kana: str
    birth_date: date
    sex: int
    postal_code: str | None
    address: str | None
    my_number_masked: str | None
    qualifications: list[QualificationVersion]
    person_versions: list[PersonVersion]


def member_view(session: Session, person_id: int, *, actor_kind: str, actor_id: str,
                insurer_id: int | None = None) -> MemberView:
    """Read a person's record for a user; the read is written to the audit log.

    With *insurer_id*, a person without a qualification at that insurer is refused like an unknown one (and
    nothing is audited: nothing was shown)."""
    person = session.get(Person, person_id)
    if person is None or (insurer_id is not None and not person_in_scope(session, person_id, insurer_id)):
        raise RegistryError(f"個人 {person_id} はいません (person {person_id} not found)")
    current = person_on(session, person_id)
    last4 = vault().last4(person.my_number_enc)
    audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="member.view",
                      subject_kind="person", subject_id=person_id)
    return MemberView(
        person_id=person_id, name=current.name, name_kana=current.name_kana, birth_date=current.birth_date,
        sex=current.sex, postal_code=current.postal_code, address=current.address,
        my_number_masked=("********" + last4) if last4 else None,
        qualifications=[v for v in session.scalars(select(QualificationVersion).where(
            QualificationVersion.person_id == person_id).order_by(QualificationVersion.acquisition_date,
                                                                  QualificationVersion.recorded_at))],
        person_versions=person_history(session, person_id),
    )


def person_in_scope(session: Session, person_id: int, insurer_id: int) -> bool:
    """True when the person has (or had) a qualification at *insurer_id*: the clerk's business, else not."""
    return session.scalar(select(QualificationVersion.id).where(
        QualificationVersion.person_id == person_id, QualificationVersion.insurer_id == insurer_id).limit(1)) \
        is not None


# ---------------------------------------------------------------- member search (加入者の検索)

class SearchInputError(RegistryError):
    """Search terms that cannot be used: ``invalid`` is ``{field: message}`` in Japanese, naming the field and value."""

    def __init__(self, invalid: dict[str, str]):
        super().__init__("\n".join(invalid.values()))
        self.invalid = invalid


@dataclass(frozen=True)
class MemberHit:
    """One person found, with the latest of their qualifications at the searching insurer."""

    person_id: int
    name: str
    name_kana: str
    birth_date: date
    symbol: str | None
    number: str | None
    branch: str | None
    acquisition_date: date | None
    loss_date: date | None
    active: bool | None  # None: no qualification at this insurer

    @property
    def numbers(self) -> str:
        return f"{self.symbol}・{self.number}・{self.branch}" if self.number is not None else ""


@dataclass(frozen=True)
class MemberSearch:
    searched: bool
    hits: list[MemberHit] = field(default_factory=list)


def search_members(session: Session, *, insurer_id: int, actor_kind: str, actor_id: str, name: str = "",
                   birth_date: str = "", symbol: str = "", number: str = "", branch: str = "",
                   today: date | None = None, limit: int = 50) -> MemberSearch:
    """Search the insurer's members by 記号・番号(・枝番) or by 氏名 and 生年月日, as typed (full width, 和暦 …).

    Numbers win when given.  Raises :class:`SearchInputError` naming every unusable term; nothing given →
    ``searched=False``.  Each person shown is written to the audit log (``member.search``)."""
    from stdnum.exceptions import ValidationError

    from onshi.numbers import insured_card
    from onshi.registry.fields import FieldError, date_message, parse_date

    today = today or japan_today()
    insurer = get_insurer(session, id=insurer_id)
    invalid: dict[str, str] = {}
    if symbol.strip() or number.strip():
        parts = {}
        for field_name, label, value, read in (
                ("symbol", "記号", symbol, lambda v: insured_card.compact_symbol(v) if v.strip() else ""),
                ("number", "番号", number, insured_card.compact_number),
                ("branch", "枝番", branch, lambda v: insured_card.compact_branch(v) if v.strip() else None)):
            try:
                parts[field_name] = read(value)
            except ValidationError as exc:
                invalid[field_name] = f"{label}「{value}」: {exc.ja}" if value.strip() else f"{label}: {exc.ja}"
        if invalid:
            raise SearchInputError(invalid)
        person_ids = list(dict.fromkeys(q.person_id for q in find_by_numbers(
            session, insurer_number=insurer.number, symbol=parts["symbol"], number=parts["number"],
            branch=parts["branch"])))
    elif name.strip() or birth_date.strip():
        if not name.strip():
            invalid["name"] = "氏名: 入力してください"
        try:
            birth = parse_date(birth_date or "")
        except FieldError as exc:
            invalid["birth_date"] = date_message("生年月日", birth_date or "", exc)
        if invalid:
            raise SearchInputError(invalid)
        person_ids = [p for p in find_persons_by_name_birth(session, name, birth)
                      if person_in_scope(session, p, insurer_id)]
    else:
        return MemberSearch(searched=False)
    hits = []
    for pid in person_ids[:limit]:
        pv = person_on(session, pid)
        qs = qualification_versions(session, person_id=pid, insurer_id=insurer_id)
        q = max(qs, key=lambda v: v.acquisition_date) if qs else None
        hits.append(MemberHit(
            pid, pv.name, pv.name_kana, pv.birth_date, q.symbol if q else None, q.number if q else None,
            q.branch if q else None, q.acquisition_date if q else None, q.loss_date if q else None,
            None if q is None else (q.loss_date is None or q.loss_date > today)))
        audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="member.search",
                          subject_kind="person", subject_id=pid)
    return MemberSearch(searched=True, hits=hits)


# ---------------------------------------------------------------- the outbox, as the SLA board reads it

def member_changes(session: Session, *, insurer_id: int | None = None,
                   received_since: date | None = None) -> list[RegistryChange]:
    """Applied changes of member records (異動, with a qualification), oldest receipt first: what the 5-day SLA is
    measured on (``received_at`` → ``published_at``)."""
    q = select(RegistryChange).where(RegistryChange.qualification_id.is_not(None))
    if insurer_id is not None:
        q = q.where(RegistryChange.insurer_id == insurer_id)
    if received_since is not None:
        q = q.where(RegistryChange.received_at >= japan_day_start(received_since))
    return list(session.scalars(q.order_by(RegistryChange.received_at, RegistryChange.id)))


def open_qualification_for(session: Session, *, person_id: int, insurer_id: int, on: date) -> QualificationVersion | None:
    """The person's qualification at this insurer that is open on or after *on* (for the one-open rule)."""
    return session.scalar(select(QualificationVersion).where(
        current(QualificationVersion), QualificationVersion.person_id == person_id,
        QualificationVersion.insurer_id == insurer_id,
        or_(QualificationVersion.loss_date.is_(None), QualificationVersion.loss_date > on)))


def current_by_numbers(session: Session, *, insurer_id: int, symbol: str, number: str,
                       branch: str) -> QualificationVersion | None:
    """The latest current version holding these numbers (open first, then the most recent)."""
    rows = list(session.scalars(select(QualificationVersion).where(
        current(QualificationVersion), QualificationVersion.insurer_id == insurer_id,
        QualificationVersion.symbol == symbol, QualificationVersion.number == number,
        QualificationVersion.branch == branch)))
    rows.sort(key=lambda v: (v.loss_date is None, v.acquisition_date))
    return rows[-1] if rows else None


def dependents_of(session: Session, member_qualification_id: int) -> list[QualificationVersion]:
    return list(session.scalars(select(QualificationVersion).where(
        current(QualificationVersion),
        QualificationVersion.member_qualification_id == member_qualification_id)))


def supersede_qualification(session: Session, qv: QualificationVersion, *, now: datetime, change_id: int | None,
                            **changes) -> QualificationVersion:
    """Record a new version of a qualification with *changes*; the old one is kept, superseded."""
    qv.superseded_at = now
    values = {c.key: getattr(qv, c.key) for c in QualificationVersion.__table__.columns
              if c.key not in ("id", "recorded_at", "superseded_at", "change_id")}
    values.update(changes)
    new = QualificationVersion(**values, recorded_at=now, change_id=change_id)
    session.add(new)
    return new


__all__ = [name for name in dir() if not name.startswith("_") and name not in ("and_", "or_", "select", "json",
                                                                                "field", "Collection")]
