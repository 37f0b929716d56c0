"""医療費通知 (medical cost notice): per member and month of care — institution, days, total cost, the part paid —
as data (a member-facing view can show it) and as a one-page A4 PDF drawn with the documents' font and canvas
(:mod:`onshi.documents.render.painter`: IPAex Gothic embedded, reportlab's invariant mode, so the same data give
the same bytes).

A member's notice covers the member and the member's dependents (the family's care, as insurers send it), from
their claims billed to this insurer.  Reading it is audited (``claims.cost_notice``) by :func:`cost_notice`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as rl_canvas
from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.claims.models import Claim
from onshi.documents.render.painter import BUILTIN_FONT, register_font
from onshi.privacy import audit
from onshi.registry import service as registry
from onshi.registry.models import Role
from onshi.rules.claims import SETTINGS
from onshi.rules.wareki import format_date


@dataclass(frozen=True)
class CostLine:
    month: str
    patient: str
    institution_code: str
    institution_name: str
    setting: str  # 入院/外来/調剤/歯科
    days: int
    total_yen: int
    patient_share_yen: int


@dataclass(frozen=True)
class CostNotice:
    person_id: int
    name: str
    insurer_name: str
    period: tuple[str, str]
    lines: tuple[CostLine, ...]
    issue_date: date

    @property
    def total_yen(self) -> int:
        return sum(c.total_yen for c in self.lines)

    @property
    def patient_share_yen(self) -> int:
        return sum(c.patient_share_yen for c in self.lines)


def _family(session: Session, person_id: int, insurer_id: int) -> set[int]:
    people = {person_id}
    for v in registry.qualification_versions(session, person_id=person_id, insurer_id=insurer_id):
        if v.role == Role.insured:
            people |= {d.person_id for d in registry.dependents_of(session, v.qualification_id)}
    return people


def cost_notice(session: Session, person_id: int, *, insurer_id: int, first_month: str, last_month: str,
                issue_date: date, actor_kind: str, actor_id: str) -> CostNotice:
    """The notice of *person_id* (and dependents) for the months ``first_month`` … ``last_month`` from the claims
    billed to this insurer; audited.  A person with no qualification at the insurer → LookupError."""
    from onshi.verify.institutions import list_institutions

    if not registry.person_in_scope(session, person_id, insurer_id):
        raise LookupError(person_id)
    people = _family(session, person_id, insurer_id)
    names = {p: (pv.name if (pv := registry.person_on(session, p)) else "") for p in people}
    inst_names = {i.code: i.name for i in list_institutions(session)}
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


def render_cost_notice(notice: CostNotice) -> bytes:
    """The notice as a PDF (A4; more lines than a page holds continue on the next)."""
    font = register_font(BUILTIN_FONT)
    buf = io.BytesIO()
    c = rl_canvas.Canvas(buf, pagesize=A4, invariant=1, pageCompression=1, initialFontName=font)
    c.setCreator("onshi")
    c.setTitle("医療費のお知らせ")
    width, height = A4
    cols = (20, 42, 72, 128, 146, 160, 182)  # mm: month, patient, institution, setting, days, total, paid

    def header(page: int) -> float:
        c.setFont(font, 16)
        c.drawString(20 * mm, height - 25 * mm, "医療費のお知らせ")
        c.setFont(font, 10)
        c.drawString(20 * mm, height - 35 * mm, f"{notice.name} 様")
        c.drawRightString(190 * mm, height - 25 * mm, f"{notice.insurer_name}")
        c.drawRightString(190 * mm, height - 31 * mm, f"発行日 {format_date(notice.issue_date, 'wareki')}")
        first, last = notice.period
        c.drawString(20 * mm, height - 42 * mm, f"診療年月 {first} 〜 {last} に受診された医療費です。"
                                                f"（{page} ページ）")
        y = height - 52 * mm
        c.setFont(font, 8.5)
        for x, label in zip(cols, ("診療年月", "受診者", "医療機関等", "区分", "日数", "医療費(円)", "負担額(円)")):
            c.drawString(x * mm, y, label)
        c.line(20 * mm, y - 2 * mm, 190 * mm, y - 2 * mm)
        return y - 7 * mm

    page = 1
    y = header(page)
    for line in notice.lines:
        if y < 30 * mm:
            c.showPage()
            page += 1
            y = header(page)
        c.setFont(font, 8.5)
        c.drawString(cols[0] * mm, y, line.month)
        c.drawString(cols[1] * mm, y, line.patient[:12])
        c.drawString(cols[2] * mm, y, line.institution_name[:26])
        c.drawString(cols[3] * mm, y, line.setting)
        c.drawRightString((cols[4] + 8) * mm, y, str(line.days))
        c.drawRightString((cols[5] + 18) * mm, y, f"{line.total_yen:,}")
        c.drawRightString(196 * mm, y, f"{line.patient_share_yen:,}")
        y -= 6 * mm
    c.line(20 * mm, y + 3 * mm, 190 * mm, y + 3 * mm)
    c.setFont(font, 9.5)
    c.drawString(cols[2] * mm, y - 2 * mm, "合計")
    c.drawRightString((cols[5] + 18) * mm, y - 2 * mm, f"{notice.total_yen:,}")
    c.drawRightString(196 * mm, y - 2 * mm, f"{notice.patient_share_yen:,}")
    c.setFont(font, 8)
    c.drawString(20 * mm, 20 * mm, "この通知は医療費控除の明細書として使えます（医療費控除の明細書の記載の省略）。"
                                   "支払った額は窓口負担の請求額です。")
    c.showPage()
    c.save()
    return buf.getvalue()
