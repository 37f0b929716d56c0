"""Service functions of the member registry.  The caller owns the transaction.

Other domains (exchange, verify, documents, web) call these functions, never the
tables directly.  The reads of the back office (加入者の検索, the member page) take the actor and write the
audit row themselves (:func:`onshi.privacy.audit.record_read`), so no page or route can forget it:
:func:`search_members`, :func:`member_view`; the 取込エラー行 and intake reports do the same in
``registry/intake/reads.py``.  Scope checks (:func:`person_in_scope`) show no one's data and write nothing.

Long: it is the registry's one service surface that every other domain (and many tests) imports as
``registry.service``; the member page's read (:func:`member_view`, with family and histories) and the search
(:func:`search_members`) share its history queries, and splitting them out would make a cycle of imports or a
second name for the same functions.
"""

from __future__ import annotations

from collections.abc import Collection
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
                contact_hours: str | None = None, url: str | None = None,
                settings: dict | None = None) -> Insurer:
    from onshi.numbers import insurer_number

    number = insurer_number.validate(number)
    if session.scalar(select(Insurer).where(Insurer.number == number)):
        raise RegistryError(f"保険者番号 {number} は登録済みです (insurer already registered)")
    contact = check_contact(postal_code=postal_code, address=address, phone=phone, contact_hours=contact_hours,
                            url=url)
    insurer = Insurer(number=number, name=name, kind=kind,
                      prefecture_code=prefecture_code or insurer_number.prefecture_code(number),
                      **contact, settings=settings or {})
    session.add(insurer)
    session.flush()
    return insurer


#: The contact details of an insurer (お問い合わせ先) and their longest lengths.
CONTACT_FIELDS = {"postal_code": ("郵便番号", 8), "address": ("所在地", 200), "phone": ("電話番号", 20),
                  "contact_hours": ("受付時間", 100), "url": ("ホームページ", 200)}


def check_contact(**values: str | None) -> dict[str, str | None]:
    """The contact details as stored (blank → None), or :class:`RegistryError` naming each unusable one."""
    import re

    out, bad = {}, []
    for key, value in values.items():
        label, longest = CONTACT_FIELDS[key]
        text = (value or "").strip() or None
        if text is not None:
            if len(text) > longest:
                bad.append(f"{label}「{text[:20]}…」: {longest}文字までです")
            elif key == "phone" and not re.fullmatch(r"[0-9０-９\-－‐ ()（）]{6,20}", text):
                bad.append(f"{label}「{text}」: 数字とハイフンで入力してください（例: 03-1234-5678）")
            elif key == "postal_code" and not re.fullmatch(r"\d{3}-?\d{4}", text):
                bad.append(f"{label}「{text}」: 7桁の数字で入力してください（例: 100-0001）")
            elif key == "url" and not re.fullmatch(r"https?://\S+", text):
                bad.append(f"{label}「{text}」: https:// で始まるアドレスを入力してください")
        out[key] = text.replace("-", "") if key == "postal_code" and text else text
    if bad:
        raise RegistryError("; ".join(bad))
    return out


def update_insurer(session: Session, number: str, **changes: str | None) -> Insurer:
    """Change an insurer's name or contact details (only those given; "" clears one)."""
    insurer = get_insurer(session, number=number)
    if insurer is None:
        raise RegistryError(f"保険者番号 {number} の保険者は登録されていません")
    name = changes.pop("name", None)
    if name is not None:
        if not name.strip():
            raise RegistryError("名称: 空にはできません")
        insurer.name = name.strip()
    for key, value in check_contact(**changes).items():
        setattr(insurer, key, value)
    session.flush()
    return insurer


def contact_line(insurer: Insurer) -> str | None:
    """The insurer's お問い合わせ先 on one line — 電話, 受付時間, ホームページ — or None when none is recorded."""
    parts = []
    if insurer.phone:
        parts.append(f"電話 {insurer.phone}")
    if getattr(insurer, "contact_hours", None):
        parts.append(f"受付 {insurer.contact_hours}")
    if getattr(insurer, "url", None):
        parts.append(insurer.url)
    return "　".join(parts) or None


def list_insurers(session: Session) -> list[Insurer]:
    return list(session.scalars(select(Insurer).order_by(Insurer.number)))


def get_insurer(session: Session, *, number: str | None = None, id: int | None = None) -> Insurer | None:
    if id is not None:
        return session.get(Insurer, id)
    return session.scalar(select(Insurer).where(Insurer.number == number))


def insurer_number_of(session: Session, insurer_id: int | None) -> str | None:
    """The 保険者番号 of an insurer id (None for None or unknown) — for the audit row's ``insurer_number``."""
    ins = session.get(Insurer, insurer_id) if insurer_id is not None else None
    return ins.number if ins else None


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
    #: 家族: the dependents of the person's qualifications as a member, and the member of those as a dependent
    family: list[FamilyMember] = field(default_factory=list)
    #: 標準報酬月額 over time, per qualification id (a member's own; a dependent follows the member's)
    remuneration: dict[int, list[RemunerationVersion]] = field(default_factory=dict)
    #: 限度額適用認定 over time, per qualification id (whose certificate counts: a dependent's member's)
    limits: dict[int, list[LimitCertificateVersion]] = field(default_factory=dict)


@dataclass(frozen=True)
class FamilyMember:
    """Someone insured together with the person: their member (本人) or one of their dependents (家族)."""

    person_id: int
    name: str
    name_kana: str
    birth_date: date
    role: str  # insured | dependent
    qualification_id: int
    numbers: str
    acquisition_date: date
    loss_date: date | None
    of_qualification_id: int  # the person's own qualification this one is tied to


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
    insurer_number = insurer_number_of(session, insurer_id)
    audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="member.view",
                      subject_kind="person", subject_id=person_id, insurer_number=insurer_number)
    own = [v for v in session.scalars(select(QualificationVersion).where(
        QualificationVersion.superseded_at.is_(None), QualificationVersion.person_id == person_id))
        if insurer_id is None or v.insurer_id == insurer_id]
    family = family_of(session, own)
    for f in family:  # another person's name and birth date on the page: their read too
        audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="member.family",
                          subject_kind="person", subject_id=f.person_id, detail=f"of person={person_id}",
                          insurer_number=insurer_number)
    remuneration = {}
    limits = {}
    for v in own:
        paid_by = v.member_qualification_id if v.role == Role.dependent else v.qualification_id
        if paid_by:
            remuneration[v.qualification_id] = remuneration_history(session, paid_by)
        limits[v.qualification_id] = limit_history(session, limit_qualification_id(v))
    return MemberView(
        person_id=person_id, name=current.name, name_kana=current.name_kana, birth_date=current.birth_date,
        sex=current.sex, postal_code=current.postal_code, address=current.address,
        my_number_masked=("********" + last4) if last4 else None,
        qualifications=[v for v in session.scalars(select(QualificationVersion).where(
            QualificationVersion.person_id == person_id).order_by(QualificationVersion.acquisition_date,
                                                                  QualificationVersion.recorded_at))],
        person_versions=person_history(session, person_id),
        family=family, remuneration=remuneration, limits=limits,
    )


def family_of(session: Session, own: list[QualificationVersion]) -> list[FamilyMember]:
    """The people tied to the current qualifications *own* of one person: their dependents, and their member."""
    out: list[FamilyMember] = []
    seen: set[int] = set()
    for v in own:
        if v.role == Role.insured:
            related = dependents_of(session, v.qualification_id)
        elif v.member_qualification_id:
            related = [q for q in qualification_versions(session, qualification_id=v.member_qualification_id)]
        else:
            related = []
        for q in related:
            if q.person_id == v.person_id or q.qualification_id in seen:
                continue
            seen.add(q.qualification_id)
            p = person_on(session, q.person_id)
            if p is None:
                continue
            out.append(FamilyMember(q.person_id, p.name, p.name_kana, p.birth_date, q.role.value,
                                    q.qualification_id, f"{q.symbol}・{q.number}・{q.branch}", q.acquisition_date,
                                    q.loss_date, v.qualification_id))
    out.sort(key=lambda f: (f.role != "insured", f.birth_date))
    return out


def limit_history(session: Session, qualification_id: int) -> list[LimitCertificateVersion]:
    """Every 限度額適用認定 of a qualification as now recorded, oldest first."""
    return list(session.scalars(select(LimitCertificateVersion).where(
        LimitCertificateVersion.qualification_id == qualification_id, current(LimitCertificateVersion))
        .order_by(LimitCertificateVersion.valid_from)))


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
    employer_id: int | None = None

    @property
    def numbers(self) -> str:
        return f"{self.symbol}・{self.number}・{self.branch}" if self.number is not None else ""


@dataclass(frozen=True)
class MemberSearch:
    searched: bool
    hits: list[MemberHit] = field(default_factory=list)
    total: int = 0
    page: int = 1
    per_page: int = 50

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _no_spaces(column):
    from sqlalchemy import func

    return func.replace(func.replace(column, "\u3000", ""), " ", "")


def search_members(session: Session, *, insurer_id: int, actor_kind: str, actor_id: str, name: str = "",
                   birth_date: str = "", symbol: str = "", number: str = "", branch: str = "", employer: str = "",
                   today: date | None = None, page: int = 1, per_page: int = 50, limit: int | None = None
                   ) -> MemberSearch:
    """Search the insurer's members (past and present) by any of: 氏名 or フリガナ, whole or in part (kana typed in
    hiragana, katakana or half width), 生年月日 (西暦 or 和暦, full width accepted), 記号 (alone: everyone of that
    事業所's numbers), 番号, 枝番, and 事業所 (its 記号 or part of its name).  Terms given are combined (AND); results
    are ordered by フリガナ and paged (*page* from 1, *per_page* people a page; *limit* is the old name of
    *per_page*).

    Raises :class:`SearchInputError` naming every unusable term; nothing given → ``searched=False``.  Each person
    shown (only those of the page) is written to the audit log (``member.search``)."""
    from sqlalchemy import func
    from stdnum.exceptions import ValidationError

    from onshi.numbers import insured_card
    from onshi.registry.fields import FieldError, date_message, parse_date, parse_kana

    today = today or japan_today()
    per_page = max(1, min(int(limit or per_page), 200))
    page = max(1, int(page or 1))
    invalid: dict[str, str] = {}
    terms = {"name": name.strip(), "birth_date": birth_date.strip(), "symbol": symbol.strip(),
             "number": number.strip(), "branch": branch.strip(), "employer": employer.strip()}
    if not any(terms.values()):
        return MemberSearch(searched=False, per_page=per_page)
    pv, qv = PersonVersion, QualificationVersion
    where = [current(pv), current(qv), qv.insurer_id == insurer_id]
    for field_name, label, read, column in (
            ("symbol", "記号", insured_card.compact_symbol, qv.symbol),
            ("number", "番号", insured_card.compact_number, qv.number),
            ("branch", "枝番", insured_card.compact_branch, qv.branch)):
        value = terms[field_name]
        if not value:
            continue
        try:
            where.append(column == read(value))
        except ValidationError as exc:
            invalid[field_name] = f"{label}「{value}」: {exc.ja}"
    if terms["birth_date"]:
        try:
            where.append(pv.birth_date == parse_date(terms["birth_date"]))
        except FieldError as exc:
            invalid["birth_date"] = date_message("生年月日", terms["birth_date"], exc)
    if terms["name"]:
        typed = "".join(terms["name"].split())
        if len(typed) > 100:
            invalid["name"] = "氏名: 100文字までで入力してください"
        else:
            alternatives = [_no_spaces(pv.name).contains(typed, autoescape=True)]
            try:
                kana = "".join(parse_kana(typed).split())
            except FieldError:
                kana = None
            if kana:
                alternatives.append(_no_spaces(pv.name_kana).contains(kana, autoescape=True))
            where.append(or_(*alternatives))
    if terms["employer"]:
        value = terms["employer"]
        try:
            as_symbol = insured_card.compact_symbol(value)
        except ValidationError:
            as_symbol = None
        emps = [e.id for e in list_employers(session, insurer_id=insurer_id)
                if e.symbol == as_symbol or value in e.name]
        if not emps:
            invalid["employer"] = f"事業所「{value}」: この保険者に該当する事業所がありません（記号か名称の一部で入力してください）"
        else:
            where.append(qv.employer_id.in_(emps))
    if invalid:
        raise SearchInputError(invalid)
    matched = select(pv.person_id).join(qv, qv.person_id == pv.person_id).where(*where)
    total = session.scalar(select(func.count(func.distinct(pv.person_id))).select_from(pv)
                           .join(qv, qv.person_id == pv.person_id).where(*where)) or 0
    person_ids = list(session.scalars(matched.group_by(pv.person_id)
                                      .order_by(func.min(pv.name_kana), pv.person_id)
                                      .offset((page - 1) * per_page).limit(per_page)))
    hits = []
    insurer_number = insurer_number_of(session, insurer_id)
    for pid in person_ids:
        p = person_on(session, pid)
        qs = qualification_versions(session, person_id=pid, insurer_id=insurer_id)
        q = max(qs, key=lambda v: v.acquisition_date) if qs else None
        hits.append(MemberHit(
            pid, p.name, p.name_kana, p.birth_date, q.symbol if q else None, q.number if q else None,
            q.branch if q else None, q.acquisition_date if q else None, q.loss_date if q else None,
            None if q is None else (q.loss_date is None or q.loss_date > today), q.employer_id if q else None))
        audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="member.search",
                          subject_kind="person", subject_id=pid, insurer_number=insurer_number)
    return MemberSearch(searched=True, hits=hits, total=total, page=page, per_page=per_page)


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


def numbers_of_insurers(session: Session, insurer_ids: Collection[int]) -> list[tuple]:
    """Every currently recorded qualification of these insurers as ``(insurer_id, symbol, number, branch,
    birth_date, person_id, qualification_id)`` — past and present, with the person's latest birth date: how a
    claim file's billed numbers are matched to people in one read (:mod:`onshi.claims.intake`)."""
    if not insurer_ids:
        return []
    qv, pv = QualificationVersion, PersonVersion
    return list(dict.fromkeys(tuple(r) for r in session.execute(
        select(qv.insurer_id, qv.symbol, qv.number, qv.branch, pv.birth_date, qv.person_id, qv.qualification_id)
        .join(pv, (pv.person_id == qv.person_id) & current(pv))
        .where(current(qv), qv.insurer_id.in_(list(insurer_ids))))))


__all__ = [name for name in dir() if not name.startswith("_") and name not in ("and_", "or_", "select", "json",
                                                                                "field", "Collection")]
