"""The 医療費通知 (医療費のお知らせ) as a document: its data (:class:`CostNotice`), its one-page A4 PDF drawn with the
documents' font and canvas (IPAex Gothic embedded, reportlab's invariant mode: the same data give the same bytes),
the JSON recorded on an issued notice and back (a reprint), and the renderer's fingerprint.

What goes on a notice — the member's and dependents' claims of a period — is read by the claims domain
(:mod:`onshi.claims.notices`); the mailing run of them is :mod:`onshi.claims.notice_mailing` (docs/claims.md).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as rl_canvas

from onshi.documents.render.painter import BUILTIN_FONT, register_font
from onshi.rules.wareki import format_date

__all__ = ["COST_NOTICE_LAYOUT", "CostLine", "CostNotice", "notice_from_record", "notice_record",
           "render_cost_notice", "renderer_fingerprint"]


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


# ---------------------------------------------------------------------------- a notice recorded and reprinted

COST_NOTICE_LAYOUT = "cost_notice"  # the name recorded on an issued 医療費通知 (drawn by render_cost_notice)


def notice_record(notice: CostNotice) -> dict:
    """What was printed, as the JSON kept on the issued document (``issued_documents.data``)."""
    import json
    from dataclasses import asdict

    return json.loads(json.dumps(asdict(notice), default=str, ensure_ascii=False))


def notice_from_record(data: dict) -> CostNotice:
    """The notice again from :func:`notice_record`'s JSON (a reprint)."""
    return CostNotice(person_id=data["person_id"], name=data["name"], insurer_name=data["insurer_name"],
                      period=tuple(data["period"]), lines=tuple(CostLine(**line) for line in data["lines"]),
                      issue_date=date.fromisoformat(data["issue_date"]))


_SAMPLE = CostNotice(0, "見本　花子", "見本健康保険組合", ("2025-01", "2025-12"),
                     (CostLine("2025-01", "見本　花子", "1310000011", "見本内科", "外来", 2, 7100, 2130),),
                     date(2026, 1, 20))
_FINGERPRINT: list[str] = []


def renderer_fingerprint() -> str:
    """What decides how a 医療費通知 prints, as one SHA-256: the font, the reportlab version and the bytes of a
    sample notice drawn now (the same idea as :func:`onshi.documents.render.layout_fingerprint`).  A notice printed
    only inside an employer's bundle keeps it, and its reprint is refused when it has changed."""
    if not _FINGERPRINT:
        import hashlib

        from reportlab import Version as reportlab_version

        from onshi.documents.render.painter import builtin_font_path

        h = hashlib.sha256(builtin_font_path().read_bytes())
        h.update(reportlab_version.encode())
        h.update(render_cost_notice(_SAMPLE))
        _FINGERPRINT.append(h.hexdigest())
    return _FINGERPRINT[0]
