"""医療費通知 (medical cost notice): per member and month of care — institution, days, total cost, the part paid —
as data (a member-facing view can show it) and as a one-page A4 PDF drawn with the documents' font and canvas
(:mod:`onshi.documents.render.cost_notice`: IPAex Gothic embedded, reportlab's invariant mode, so the same data give
the same bytes; it lies with the documents so that a reprint of an issued notice needs no claims).

A member's notice covers the member and the member's dependents (the family's care, as insurers send it), from
their claims billed to this insurer.  Reading it is audited (``claims.cost_notice``) by :func:`cost_notice`.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.claims.models import Claim
from onshi.documents.render.cost_notice import (  # noqa: F401 - the notice's data and PDF: this module's API too
    COST_NOTICE_LAYOUT, CostLine, CostNotice, notice_from_record, notice_record, render_cost_notice,
    renderer_fingerprint)
from onshi.privacy import audit
from onshi.registry import service as registry
from onshi.registry.models import Role
from onshi.rules.claims import SETTINGS


def _family(session: Session, person_id: int, insurer_id: int) -> set[int]:
    people = {person_id}
    for v in registry.qualification_versions(session, person_id=person_id, insurer_id=insurer_id):
        if v.role == Role.insured:
            people |= {d.person_id for d in registry.dependents_of(session, v.qualification_id)}
    return people


def institution_names(session: Session) -> dict[str, str]:
    from onshi.verify.institutions import list_institutions

    return {i.code: i.name for i in list_institutions(session)}


def cost_notice(session: Session, person_id: int, *, insurer_id: int, first_month: str, last_month: str,
                issue_date: date, actor_kind: str, actor_id: str,
                inst_names: dict[str, str] | None = None) -> CostNotice:
    """The notice of *person_id* (and dependents) for the months ``first_month`` … ``last_month`` from the claims
    billed to this insurer; audited.  A person with no qualification at the insurer → LookupError.  *inst_names*
    (:func:`institution_names`): read once by a mailing run for all its notices, else here."""
    if not registry.person_in_scope(session, person_id, insurer_id):
        raise LookupError(person_id)
    people = _family(session, person_id, insurer_id)
    names = {p: (pv.name if (pv := registry.person_on(session, p)) else "") for p in people}
    if inst_names is None:
        inst_names = institution_names(session)
    claims = session.scalars(select(Claim).where(
        Claim.insurer_id == insurer_id, Claim.person_id.in_(people), Claim.month >= first_month,
        Claim.month <= last_month).order_by(Claim.month, Claim.institution_code, Claim.id))
    lines = tuple(CostLine(c.month, names.get(c.person_id, ""), c.institution_code,
                           inst_names.get(c.institution_code, c.institution_code), SETTINGS[c.setting], c.days,
                           c.total_yen, c.patient_share_yen) for c in claims)
    insurer = registry.get_insurer(session, id=insurer_id)
    for p in people:
        audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="claims.cost_notice",
                          subject_kind="person", subject_id=p, insurer_number=insurer.number,
                          detail=f"{first_month}..{last_month}")
    return CostNotice(person_id, names[person_id], insurer.name, (first_month, last_month), lines, issue_date)
