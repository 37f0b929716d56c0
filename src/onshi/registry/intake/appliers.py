"""Applying a checked row to the registry (届出の反映): one applier per notification type, in one table
(:data:`ROW_APPLIERS`), and :func:`apply_chunk`, which hands a chunk of rows to them.

A 資格取得届 is applied a chunk at a time (:mod:`onshi.registry.intake.acquisitions`); every other notification
row by row: its row hash is looked up first (a row applied before is a duplicate), then its applier makes every
check before its first write, so a rejected row writes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from sqlalchemy import select

from onshi.privacy.crypto import vault
from onshi.registry import service
from onshi.registry.intake.acquisitions import apply_acquisitions
from onshi.registry.intake.context import ApplyContext, Outcome, find_target, resolve_insurer_employer, row_hash
from onshi.registry.intake.rows import ParsedRow
from onshi.registry.models import (
    Employer,
    Insurer,
    LimitCertificateVersion,
    NotificationType,
    Person,
    PersonVersion,
    Qualification,
    QualificationVersion,
    RegistryChange,
    RemunerationVersion,
    Role,
)
from onshi.rules.co_pay import elderly_start
from onshi.rules.limit_category import certificate_period, limit_category
from onshi.store.history import change_valid_period, current

T = NotificationType

#: an applier: ``(context, row number, checked row, its row hash) -> outcome``
RowApplier = Callable[[ApplyContext, int, ParsedRow, str], Outcome]


def _derived_hash(row_hash_: str, qualification_id: int) -> str:
    """The row hash of a change a row makes besides its own (a dependent's loss with the member's): a digest too."""
    return hashlib.sha256(f"{row_hash_}:{qualification_id}".encode()).hexdigest()


def _rejected(n: int, r: ParsedRow) -> Outcome:
    return Outcome(n, "rejected", r.errors)


def _named(ctx: ApplyContext, r: ParsedRow) -> tuple[Insurer, Employer] | None:
    """The insurer and employer the row names, or None when the row failed (``r.errors`` say why)."""
    insurer, employer = resolve_insurer_employer(ctx, r)
    return None if r.errors else (insurer, employer)


def _target(ctx: ApplyContext, r: ParsedRow) -> tuple[Insurer, Employer, QualificationVersion] | None:
    """The insurer, employer and current qualification the row's numbers name, or None when the row failed."""
    named = _named(ctx, r)
    if named is None:
        return None
    qv = find_target(ctx, r, named[0])
    return None if qv is None else (*named, qv)


def _member_target(ctx: ApplyContext, r: ParsedRow) -> tuple[Insurer, Employer, QualificationVersion] | None:
    """As :func:`_target`, for a notification only the insured member (本人) has."""
    target = _target(ctx, r)
    if target is not None and target[2].role != Role.insured:
        r.fail("branch", "被保険者(本人)の番号を指定してください (must name the insured member)")
        return None
    return target


# ---------------------------------------------------------------- one applier per notification type

def apply_employer(ctx: ApplyContext, n: int, r: ParsedRow, h: str) -> Outcome:
    """新規適用届: a new employer (事業所) of a registered insurer."""
    session, vals = ctx.session, r.values
    insurer, _ = resolve_insurer_employer(ctx, r, need_employer=False)
    if insurer and ctx.employer(insurer.id, vals["employer_symbol"]):
        r.fail("employer_symbol", "この記号の事業所は登録済みです (employer symbol already registered)")
    if r.errors:
        return _rejected(n, r)
    emp = Employer(insurer_id=insurer.id, symbol=vals["employer_symbol"], name=vals["employer_name"],
                   postal_code=vals["postal_code"], address=vals["address"],
                   prefecture_code=vals["prefecture_code"])
    session.add(emp)
    session.flush()
    ctx.employers[(insurer.id, emp.symbol)] = emp
    ch = ctx.change(kind=T.employer, insurer_id=insurer.id, rhash=h, row_number=n, effective=None,
                    employer_id=emp.id)
    return Outcome(n, "applied", change_id=ch.id)


def apply_loss(ctx: ApplyContext, n: int, r: ParsedRow, h: str) -> Outcome:
    """資格喪失届: the qualification ends (a correction when it had ended already); the member's 被扶養者 with it."""
    session, vals, now = ctx.session, r.values, ctx.now
    target = _target(ctx, r)
    if target is None:
        return _rejected(n, r)
    insurer, employer, qv = target
    loss = vals["loss_date"]
    if loss <= qv.acquisition_date:
        r.fail("loss_date", f"喪失日が取得日 {qv.acquisition_date:%Y-%m-%d} 以前です (loss must be after "
                            "acquisition)")
        return _rejected(n, r)
    reason = vals.get("loss_reason") or "99"
    if qv.loss_date == loss and qv.loss_reason == reason:
        return Outcome(n, "duplicate")
    ch = ctx.change(kind=T.loss, insurer_id=insurer.id, rhash=h, row_number=n, effective=loss,
                    person_id=qv.person_id, qualification_id=qv.qualification_id, employer_id=employer.id,
                    note="correction" if qv.loss_date else None)
    service.supersede_qualification(session, qv, now=now, change_id=ch.id, loss_date=loss, loss_reason=reason)
    if qv.role == Role.insured:  # 被扶養者 lose their status with the member
        for dep in service.dependents_of(session, qv.qualification_id):
            if dep.loss_date is None or dep.loss_date > loss:
                dep_ch = ctx.change(kind=T.loss, insurer_id=insurer.id, rhash=_derived_hash(h, dep.qualification_id),
                                    row_number=n, effective=loss, person_id=dep.person_id,
                                    qualification_id=dep.qualification_id, employer_id=employer.id,
                                    note="dependent follows member")
                service.supersede_qualification(session, dep, now=now, change_id=dep_ch.id, loss_date=loss,
                                                loss_reason="99")
    return Outcome(n, "applied", change_id=ch.id)


def apply_dependent(ctx: ApplyContext, n: int, r: ParsedRow, h: str) -> Outcome:
    """被扶養者異動届: a 被扶養者 added to a member (a new person unless known by My Number), or removed."""
    named = _named(ctx, r)
    if named is None:
        return _rejected(n, r)
    if r.values["change"] == "remove":
        return _remove_dependent(ctx, n, r, h, *named)
    return _add_dependent(ctx, n, r, h, *named)


def _remove_dependent(ctx: ApplyContext, n: int, r: ParsedRow, h: str, insurer: Insurer,
                      employer: Employer) -> Outcome:
    vals = r.values
    eff = vals["effective_date"]
    qv = find_target(ctx, r, insurer, default_branch=None)
    if qv is None:
        return _rejected(n, r)
    if qv.role != Role.dependent:
        r.fail("branch", "この枝番は被扶養者ではありません (these numbers are not a dependent)")
    elif eff <= qv.acquisition_date:
        r.fail("effective_date", "削除日が認定日以前です (removal must be after the dependent's start)")
    if r.errors:
        return _rejected(n, r)
    ch = ctx.change(kind=T.dependent, insurer_id=insurer.id, rhash=h, row_number=n, effective=eff,
                    person_id=qv.person_id, qualification_id=qv.qualification_id, employer_id=employer.id)
    service.supersede_qualification(ctx.session, qv, now=ctx.now, change_id=ch.id, loss_date=eff,
                                    loss_reason=vals.get("loss_reason") or "99")
    return Outcome(n, "applied", change_id=ch.id)


def _add_dependent(ctx: ApplyContext, n: int, r: ParsedRow, h: str, insurer: Insurer,
                   employer: Employer) -> Outcome:
    session, vals, now = ctx.session, r.values, ctx.now
    eff = vals["effective_date"]
    member = service.current_by_numbers(session, insurer_id=insurer.id, symbol=vals["employer_symbol"],
                                        number=vals["number"], branch="00")
    member = member or next((q for q in service.qualification_versions(
        session, insurer_id=insurer.id, numbers=(vals["employer_symbol"], vals["number"], None))
        if q.role == Role.insured), None)
    if member is None or member.role != Role.insured:
        r.fail("number", "被保険者(本人)が見つかりません (the member of this dependent is unknown)")
        return _rejected(n, r)
    if member.acquisition_date > eff or (member.loss_date and member.loss_date <= eff):
        r.fail("effective_date", "その日に本人の資格がありません (the member is not insured on that date)")
    if service.current_by_numbers(session, insurer_id=insurer.id, symbol=vals["employer_symbol"],
                                  number=vals["number"], branch=vals["branch"]) is not None:
        r.fail("branch", "この枝番は使用済みです (branch number already used)")
    person = service.find_person_by_my_number(session, vals["my_number"]) if vals.get("my_number") else None
    if person and service.open_qualification_for(session, person_id=person.id, insurer_id=insurer.id, on=eff):
        r.fail("my_number", "同じ保険者で喪失していない資格があります (this person already has an open "
                            "qualification with this insurer)")
    if r.errors:
        return _rejected(n, r)
    ch = ctx.change(kind=T.dependent, insurer_id=insurer.id, rhash=h, row_number=n, effective=eff,
                    employer_id=employer.id)
    if person is None:
        v = vault()
        person = Person(my_number_hash=v.lookup_hash(vals["my_number"]) if vals.get("my_number") else None,
                        my_number_enc=v.encrypt(vals["my_number"]) if vals.get("my_number") else None)
        session.add(person)
        session.flush()
        session.add(PersonVersion(person_id=person.id, valid_from=vals["birth_date"], recorded_at=now,
                                  name=vals["name"], name_kana=vals["name_kana"], birth_date=vals["birth_date"],
                                  sex=vals["sex"], postal_code=vals["postal_code"], address=vals["address"],
                                  change_id=ch.id))
    q = Qualification(person_id=person.id, insurer_id=insurer.id)
    session.add(q)
    session.flush()
    session.add(QualificationVersion(
        qualification_id=q.id, recorded_at=now, person_id=person.id, insurer_id=insurer.id,
        employer_id=employer.id, role=Role.dependent, member_qualification_id=member.qualification_id,
        symbol=vals["employer_symbol"], number=vals["number"], branch=vals["branch"],
        card_classification=member.card_classification, acquisition_date=eff, change_id=ch.id))
    ch.person_id, ch.qualification_id = person.id, q.id
    return Outcome(n, "applied", change_id=ch.id)


def _change_person(ctx: ApplyContext, n: int, r: ParsedRow, h: str, kind: NotificationType,
                   columns: tuple[str, ...]) -> Outcome:
    """A new version of the person's *columns* from the effective date (a duplicate when nothing changes)."""
    session, vals = ctx.session, r.values
    target = _target(ctx, r)
    if target is None:
        return _rejected(n, r)
    insurer, employer, qv = target
    values = {column: vals[column] for column in columns}
    eff = vals["effective_date"]
    ch = ctx.change(kind=kind, insurer_id=insurer.id, rhash=h, row_number=n, effective=eff,
                    person_id=qv.person_id, qualification_id=qv.qualification_id, employer_id=employer.id)
    if change_valid_period(session, PersonVersion, key={"person_id": qv.person_id}, effective_from=eff,
                           values=values, now=ctx.now, change_id=ch.id) is None:
        session.delete(ch)
        session.flush()
        return Outcome(n, "duplicate")
    return Outcome(n, "applied", change_id=ch.id)


def apply_name_change(ctx: ApplyContext, n: int, r: ParsedRow, h: str) -> Outcome:
    """氏名変更届: the person's 氏名 and フリガナ from the effective date."""
    return _change_person(ctx, n, r, h, T.name_change, ("name", "name_kana"))


def apply_address_change(ctx: ApplyContext, n: int, r: ParsedRow, h: str) -> Outcome:
    """住所変更届: the person's 郵便番号 and 住所 from the effective date."""
    return _change_person(ctx, n, r, h, T.address_change, ("postal_code", "address"))


def apply_remuneration(ctx: ApplyContext, n: int, r: ParsedRow, h: str) -> Outcome:
    """算定基礎届・月額変更届: the member's 標準報酬月額 from the month it applies (not before acquisition)."""
    session, vals = ctx.session, r.values
    target = _member_target(ctx, r)
    if target is None:
        return _rejected(n, r)
    insurer, employer, qv = target
    eff = vals["effective_month"]
    if qv.loss_date and eff >= qv.loss_date:
        r.fail("effective_month", "資格喪失後の月です (month after the loss of qualification)")
        return _rejected(n, r)
    eff = max(eff, qv.acquisition_date)
    ch = ctx.change(kind=T.remuneration, insurer_id=insurer.id, rhash=h, row_number=n, effective=eff,
                    person_id=qv.person_id, qualification_id=qv.qualification_id, employer_id=employer.id,
                    note=vals.get("reason"))
    if change_valid_period(session, RemunerationVersion, key={"qualification_id": qv.qualification_id},
                           effective_from=eff, values={"monthly_amount": vals["monthly_remuneration"]},
                           now=ctx.now, change_id=ch.id) is None:
        session.delete(ch)
        session.flush()
        return Outcome(n, "duplicate")
    return Outcome(n, "applied", change_id=ch.id)


def apply_limit_application(ctx: ApplyContext, n: int, r: ParsedRow, h: str) -> Outcome:
    """限度額適用認定申請: the member's 限度額適用区分 (OQSCD012) for the certificate's period
    (:func:`onshi.rules.limit_category.certificate_period`), replacing one from the same month."""
    session, vals, now = ctx.session, r.values, ctx.now
    target = _member_target(ctx, r)
    if target is None:
        return _rejected(n, r)
    insurer, employer, qv = target
    day = vals["application_date"]
    if day < qv.acquisition_date or (qv.loss_date and day >= qv.loss_date):
        r.fail("application_date", "その日に資格がありません (not insured on the application date)")
        return _rejected(n, r)
    pv = service.person_on(session, qv.person_id)
    remuneration = service.remuneration_on(session, qv.qualification_id, day) or 0
    # 70歳以上の区分 from the day the person is 高齢受給者 (the 1st of the month after reaching 70, the birthday
    # when it is the 1st) — the co-pay rule's day, not the legal age, which is 70 from the day before the birthday
    code = limit_category(on=day, age_70_plus=day >= elderly_start(pv.birth_date, qv.acquisition_date),
                          monthly_remuneration=remuneration, tax_exempt=bool(vals.get("tax_exempt")),
                          low_income_1=bool(vals.get("low_income_1")))
    start, end = certificate_period(day)
    ch = ctx.change(kind=T.limit_application, insurer_id=insurer.id, rhash=h, row_number=n, effective=start,
                    person_id=qv.person_id, qualification_id=qv.qualification_id, employer_id=employer.id)
    for old in session.scalars(select(LimitCertificateVersion).where(
            LimitCertificateVersion.qualification_id == qv.qualification_id,
            current(LimitCertificateVersion), LimitCertificateVersion.valid_from == start)):
        old.superseded_at = now
    session.add(LimitCertificateVersion(
        qualification_id=qv.qualification_id, valid_from=start, valid_to=end, recorded_at=now,
        classification="02" if vals.get("tax_exempt") else "01", category_code=code, certificate_date=day,
        tax_exempt=bool(vals.get("tax_exempt")), income_exemption=bool(vals.get("income_exemption")),
        change_id=ch.id))
    return Outcome(n, "applied", change_id=ch.id)


#: the applier of every notification applied row by row (資格取得届 is applied a chunk at a time)
ROW_APPLIERS: dict[NotificationType, RowApplier] = {
    T.employer: apply_employer,
    T.loss: apply_loss,
    T.dependent: apply_dependent,
    T.name_change: apply_name_change,
    T.address_change: apply_address_change,
    T.remuneration: apply_remuneration,
    T.limit_application: apply_limit_application,
}


def apply_row(ctx: ApplyContext, ntype: NotificationType, n: int, r: ParsedRow) -> Outcome:
    """One checked row of a notification other than 資格取得届: a duplicate when its row hash was applied before,
    else what its applier makes of it."""
    h = row_hash(ntype, r.values)
    if ctx.session.scalar(select(RegistryChange.id).where(RegistryChange.row_hash == h)):
        return Outcome(n, "duplicate")
    return ROW_APPLIERS[ntype](ctx, n, r, h)


def apply_chunk(ctx: ApplyContext, ntype: NotificationType, chunk: list[tuple[int, ParsedRow]]) -> list[Outcome]:
    """The outcomes of a chunk of checked rows, in the chunk's order (rows that failed their checks rejected)."""
    valid = [(n, r) for n, r in chunk if not r.errors]
    outcomes = {n: Outcome(n, "rejected", r.errors) for n, r in chunk if r.errors}
    if ntype is T.acquisition:
        for o in apply_acquisitions(ctx, valid):
            outcomes[o.row_number] = o
    else:
        for n, r in valid:  # every check of an applier runs before its first write
            outcomes[n] = apply_row(ctx, ntype, n, r)
    return [outcomes[n] for n, _ in chunk]
