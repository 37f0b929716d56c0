"""What a 資格確認書 or a 資格情報のお知らせ prints, read from the registry, the cards and the linkage checks.

Two ways of reading the same facts: one person at a time (:func:`certificate_need`, :func:`certificate_data`,
:func:`notice_data` — the reference), and in bulk for a run (:class:`Facts`, :func:`notices_data` — a handful of
statements per block of people instead of seven or eight per document).  They are held equal by
tests/demo/test_seed.py::test_the_daily_run_s_bulk_reads_answer_as_the_one_at_a_time_checks and
tests/documents/test_service.py (notices_data against notice_data).  Issuing, recording and the runs are in
``documents/service.py``; nothing here writes.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.documents import issue_rules
from onshi.documents.render import CertificateData, NoticeData
from onshi.exchange import cards as card_service
from onshi.exchange import linkage
from onshi.privacy.crypto import vault
from onshi.store.history import current, valid_on
from onshi.registry import service as registry
from onshi.registry.models import Employer, Insurer, Person, QualificationVersion, Role

SEX = {1: "男", 2: "女", 3: ""}


def current_version(session: Session, qualification_id: int) -> QualificationVersion | None:
    rows = registry.qualification_versions(session, qualification_id=qualification_id)
    return rows[-1] if rows else None


def certificate_need(session: Session, qv: QualificationVersion, day: date) -> str | None:
    """Why this person needs a 資格確認書 without applying (職権), or None when the マイナ保険証 works."""
    person = session.get(Person, qv.person_id)
    cards = card_service.cards_of(session, qv.person_id) if person.my_number_hash is not None else []
    return need_for(person, cards, day, insurer_number=session.get(Insurer, qv.insurer_id).number)


def need_for(person: Person, cards, day: date, *, insurer_number: str | None = None) -> str | None:
    """:func:`certificate_need` from the person and their cards, already read (a 後期高齢者 insurer's members
    get one whatever their card while :func:`onshi.documents.issue_rules.late_elderly_reason` says so)."""
    if person.my_number_hash is None:
        return "no_my_number"
    if not cards:
        return "no_card"
    states = [card_service.card_state(c, day) for c in cards]
    if any(st.usable for st in states):
        return issue_rules.late_elderly_reason(insurer_number, day)
    return "card_cancelled" if any(st.reason == "cancelled" for st in states) else "card_expired"


def on_national_list(session: Session, qualification_id: int, month: date) -> str | None:
    """The fact "on the national list (職権交付対象者リスト) for *month*": its 交付事由 code, or None — what makes the
    daily run issue a 資格確認書 ex officio (``documents.service.due_certificates``, docs/national-lists.md)."""
    from onshi.documents.models import NationalListEntry

    return session.scalar(select(NationalListEntry.reason).where(
        NationalListEntry.kind == "ex_officio", NationalListEntry.qualification_id == qualification_id,
        NationalListEntry.month == month.replace(day=1)))


def certificate_data(session: Session, qv: QualificationVersion, issue: date,
                     facts: Facts | None = None) -> CertificateData:
    """What a 資格確認書 prints.  *facts* (read for a whole daily run, on *issue*) answers instead of the registry
    queries, with the same values (tested)."""
    insurer = session.get(Insurer, qv.insurer_id)
    if facts is not None and facts.day != issue:
        raise ValueError("facts read for another day")
    pv = registry.person_on(session, qv.person_id) if facts is None else facts.person_on(qv.person_id)
    settings = insurer.settings or {}
    member_birth = registry.member_birth_date(session, qv) if facts is None else facts.member_birth(qv)
    common = settings.get("certificate_common_expiry")
    valid = issue_rules.valid_until(
        issue=issue, birth_date=pv.birth_date, validity_years=int(settings.get("certificate_validity_years", 5)),
        common_expiry=date.fromisoformat(common) if common else None, member_birth_date=member_birth,
        voluntary_continuation_from=qv.acquisition_date if qv.voluntary_continuation else None)
    ratio = None
    if settings.get("print_co_pay_ratio", True):
        ratio = ratio_on(session, qv, issue) if facts is None else facts.ratio(qv)
    return CertificateData(
        name=pv.name, name_kana=pv.name_kana, birth_date=pv.birth_date, sex=SEX[pv.sex], symbol=qv.symbol,
        number=qv.number, branch=qv.branch, insurer_number=insurer.number, insurer_name=insurer.name,
        issue_date=issue, valid_until=valid, personal_family="本人" if qv.role == Role.insured else "家族",
        insurer_address=insurer.address, co_pay_ratio_tenths=ratio, insurer_contact=registry.contact_line(insurer),
        insurer_postal_code=insurer.postal_code,
        qualification_date=qv.acquisition_date if settings.get("print_qualification_date", True) else None)


def notice_data(session: Session, qv: QualificationVersion, issue: date, employer: Employer | None) -> NoticeData:
    insurer = session.get(Insurer, qv.insurer_id)
    pv = registry.person_on(session, qv.person_id)
    person = session.get(Person, qv.person_id)
    last4 = None
    if person.my_number_enc is not None and not linkage.is_blocked(session, qv.person_id):
        last4 = vault().last4(person.my_number_enc)  # blank when unregistered or the link is in doubt
    return notice_from(qv, pv, insurer, issue, ratio_on(session, qv, issue), last4, employer)


def ratio_on(session: Session, qv: QualificationVersion, day: date) -> int | None:
    """The ratio printed: ``co_pay_on``'s, or None where the rules give none."""
    try:
        return registry.co_pay_on(session, qv, day).ratio_tenths
    except ValueError:
        return None


def notice_from(qv: QualificationVersion, pv, insurer: Insurer, issue: date, ratio: int | None, last4: str | None,
            employer: Employer | None) -> NoticeData:
    return NoticeData(
        symbol=qv.symbol, number=qv.number, branch=qv.branch, name=pv.name, name_kana=pv.name_kana,
        birth_date=pv.birth_date, insurer_name=insurer.name, insurer_number=insurer.number, issue_date=issue,
        co_pay_ratio_tenths=ratio, qualification_date=qv.acquisition_date, my_number_last4=last4,
        postal_code=pv.postal_code, address_line1=pv.address, employer_name=employer.name if employer else None,
        insurer_address=insurer.address, insurer_contact=registry.contact_line(insurer))


def blocks(ids, size: int = 5000):
    ids = sorted(ids)
    return (ids[i:i + size] for i in range(0, len(ids), size))


def current_versions(session: Session, qualification_ids) -> dict[int, QualificationVersion]:
    """:func:`current_version` of many qualifications in a few statements: qualification id -> its current version."""
    out: dict[int, QualificationVersion] = {}
    for block in blocks(set(qualification_ids)):
        for q in session.scalars(select(QualificationVersion).where(
                current(QualificationVersion), QualificationVersion.qualification_id.in_(block))
                .order_by(QualificationVersion.acquisition_date, QualificationVersion.id)):
            out[q.qualification_id] = q  # the last, as qualification_versions(...)[-1]
    return out


class Facts:
    """What documents need to know of many qualifications at once on one *day* — the people and their versions,
    the members of dependents, limit certificates and 標準報酬月額 in force, cards, links in doubt — read in a few
    statements for the whole set (a bundle, a daily run) instead of several per person.

    Each answer is what the one-at-a-time function gives: :meth:`ratio` ``registry.co_pay_on(...).ratio_tenths``,
    :meth:`need` :func:`certificate_need`, :meth:`last4` the digits :func:`notice_data` prints (tested equal on a
    seeded registry, and by the daily-run tests at their boundaries)."""

    def __init__(self, session: Session, qvs, day: date, *, cards: bool = False) -> None:
        from onshi.exchange.models import InsuranceCard
        from onshi.registry.models import LimitCertificateVersion, PersonVersion, RemunerationVersion

        qvs = list(qvs)
        self.day, self.with_cards = day, cards
        self.session, self.insurer_numbers = session, {}  # insurer id → number, read as needed (a handful)
        self.member_qv = current_versions(session, {qv.member_qualification_id for qv in qvs
                                             if qv.role == Role.dependent and qv.member_qualification_id})
        person_ids = {qv.person_id for qv in qvs} | {q.person_id for q in self.member_qv.values()}
        self.versions: dict[int, list[PersonVersion]] = {}
        self.persons: dict[int, Person] = {}
        self.cards: dict[int, list[InsuranceCard]] = {}
        for block in blocks(person_ids):
            for pv in session.scalars(select(PersonVersion).where(current(PersonVersion),
                                                                  PersonVersion.person_id.in_(block))):
                self.versions.setdefault(pv.person_id, []).append(pv)
            self.persons.update((p.id, p) for p in session.scalars(select(Person).where(Person.id.in_(block))))
            if cards:
                for card in session.scalars(select(InsuranceCard).where(InsuranceCard.person_id.in_(block))
                                            .order_by(InsuranceCard.registered_at)):
                    self.cards.setdefault(card.person_id, []).append(card)
        self.blocked: set[int] = set()
        for block in blocks({pid for pid in person_ids if self.persons[pid].my_number_enc is not None}):
            self.blocked |= linkage.blocked_person_ids(session, set(block))
        own = {registry.limit_qualification_id(qv) for qv in qvs}  # a dependent's member's: limits and pay
        self.limits = self._valid_rows(session, LimitCertificateVersion, own, day)
        self.pays = self._valid_rows(session, RemunerationVersion, own, day)

    @staticmethod
    def _valid_rows(session: Session, model, qids, day: date) -> dict[int, Any]:
        out: dict[int, Any] = {}
        for block in blocks(qids):
            for row in session.scalars(select(model).where(
                    current(model), model.qualification_id.in_(block), valid_on(model, day))):
                out.setdefault(row.qualification_id, row)
        return out

    def person_on(self, person_id: int, day: date | None = None):
        """As ``registry.person_on`` (the version valid on *day*, else the latest)."""
        rows = [pv for pv in self.versions.get(person_id, ())
                if day is None or (pv.valid_from <= day and (pv.valid_to is None or pv.valid_to > day))]
        return max(rows, key=lambda pv: pv.valid_from) if rows else None

    def member_birth(self, qv: QualificationVersion) -> date | None:
        """As ``registry.member_birth_date``: a dependent's member's birth date."""
        if qv.role != Role.dependent or qv.member_qualification_id is None:
            return None
        member = self.member_qv.get(qv.member_qualification_id)
        member_pv = self.person_on(member.person_id) if member is not None else None
        return member_pv.birth_date if member_pv else None

    def ratio(self, qv: QualificationVersion) -> int | None:
        """一部負担金の割合 on the day, or None where the rules give none (``co_pay_on`` raised)."""
        own = registry.limit_qualification_id(qv)
        pay = self.pays.get(own) if (qv.role != Role.dependent or qv.member_qualification_id) else None
        pv = self.person_on(qv.person_id, self.day) or self.person_on(qv.person_id)
        try:
            return registry.co_pay_from(qv, self.day, birth_date=pv.birth_date, member_birth_date=self.member_birth(qv),
                                        member_monthly_remuneration=pay.monthly_amount if pay else None,
                                        limit_certificate=self.limits.get(own)).ratio_tenths
        except ValueError:
            return None

    def last4(self, qv: QualificationVersion) -> str | None:
        """My Number's last 4 digits as printed: blank when unregistered or the link is in doubt."""
        person = self.persons[qv.person_id]
        if person.my_number_enc is None or qv.person_id in self.blocked:
            return None
        return vault().last4(person.my_number_enc)

    def need(self, qv: QualificationVersion) -> str | None:
        """As :func:`certificate_need` on the day (load with ``cards=True``)."""
        if not self.with_cards:
            raise RuntimeError("Facts read without cards cannot tell whether a マイナ保険証 works")
        if qv.insurer_id not in self.insurer_numbers:
            self.insurer_numbers[qv.insurer_id] = self.session.get(Insurer, qv.insurer_id).number
        return need_for(self.persons[qv.person_id], self.cards.get(qv.person_id, []), self.day,
                        insurer_number=self.insurer_numbers[qv.insurer_id])


def notices_data(session: Session, qvs: list[QualificationVersion], issue: date,
                 employer: Employer | None) -> list[NoticeData]:
    """:func:`notice_data` for a whole bundle: the same values, read in a handful of statements per bundle rather
    than seven or eight per notice (a mailing run on PostgreSQL spent most of its time in those round trips).

    Tested equal to :func:`notice_data` member by member on the demo population, where every rule appears."""
    if not qvs:
        return []
    facts = Facts(session, qvs, issue)
    insurer = session.get(Insurer, qvs[0].insurer_id)
    return [notice_from(qv, facts.person_on(qv.person_id), insurer, issue, facts.ratio(qv), facts.last4(qv), employer)
            for qv in qvs]
