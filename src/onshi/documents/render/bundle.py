"""An employer's bundle (お知らせの一括送付): the cover letter (送付状), the enclosure list
(同封者一覧, as many pages as its rows need) and then each 資格情報のお知らせ, as one PDF.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as rl_canvas

from onshi.documents import gaiji
from onshi.documents.layouts import Layout
from onshi.documents.render.concat import PdfConcat, stream_chunks
from onshi.documents.render.data import CoverLetterData, Enclosure, NoticeData, RenderedPDF, RenderWarning, StreamReport
from onshi.documents.render.document import format_postal
from onshi.documents.render.painter import (
    Context,
    Painter,
    as_layout,
    check_kind,
    clean_values,
    new_canvas,
    painter_for,
    show_page,
)

__all__ = ["render_bundle", "render_cover"]

# -- cover letter and enclosure list ----------------------------------------


def _draw_cover(c: rl_canvas.Canvas, painter: Painter, cover: CoverLetterData,
                enclosures: Sequence[Enclosure]) -> tuple[int, list[RenderWarning]]:
    layout = painter.layout
    check_kind(layout, "cover")
    spec = layout.list
    per_page = spec.rows_per_page if spec else 1
    list_pages = (len(enclosures) + per_page - 1) // per_page if spec else 0
    values: dict[str, Any] = {
        "employer_name": cover.employer_name, "employer_postal_code": format_postal(cover.employer_postal_code),
        "employer_address_line1": cover.employer_address_line1,
        "employer_address_line2": cover.employer_address_line2,
        "employer_contact": cover.employer_contact, "insurer_name": cover.insurer_name,
        "insurer_address": cover.insurer_address, "insurer_contact": cover.insurer_contact,
        "insurer_number": cover.insurer_number, "issue_date": cover.issue_date,
        "count": len(enclosures), "page": 1, "pages": list_pages,
    }
    ctx = Context(values, layout.date_style, "cover", cover.employer_name)
    clean_values(values, ctx)
    painter.draw(c, ctx)
    show_page(c)
    if not spec:
        return 1, ctx.warnings
    for p in range(list_pages):
        values["page"] = p + 1
        painter.elements(c, spec.page, ctx, offset=False)
        _draw_list_page(c, painter, spec, enclosures[p * per_page:(p + 1) * per_page], p * per_page, ctx)
        show_page(c)
    return 1 + list_pages, ctx.warnings


def _draw_list_page(c: rl_canvas.Canvas, painter: Painter, spec: Any, rows: Sequence[Enclosure],
                    start: int, ctx: Context) -> None:
    top, rh = spec.top, spec.row_height
    left, right = spec.left, spec.right
    n = len(rows)
    c.setLineWidth(0.5)
    # header
    c.setFillGray(spec.header_fill)
    c.rect(left * mm, painter.page_h - (top + rh) * mm, (right - left) * mm, rh * mm, stroke=1, fill=1)
    c.setFillGray(0)
    base = rh * 0.5 + spec.size * 0.125  # baseline: row middle + about half the cap height (mm)
    for col in spec.column:
        painter.text(c, _ListCell(col.align, spec.size), col.title, ctx, False, x=_cell_x(col), y=top + base)
    c.setLineWidth(0.3)
    for i, row in enumerate(rows):
        y0 = top + rh * (i + 1)
        c.rect(left * mm, painter.page_h - (y0 + rh) * mm, (right - left) * mm, rh * mm, stroke=1, fill=0)
        cells = {"no": str(start + i + 1), "name": row.name, "name_kana": row.name_kana,
                 "symbol": row.symbol, "number": row.number, "branch": row.branch}
        for key in ("name", "name_kana"):
            if cells[key] and not cells[key].isascii():
                r = gaiji.check(cells[key])
                cells[key] = r.text
                if r.flagged:
                    ctx.warn(f"enclosure[{start + i}].{key}", "gaiji", "character(s) outside JIS X 0208 replaced",
                             tuple(str(f) for f in r.flagged))
        for col in spec.column:
            s = "".join(lit + (cells.get(k) or "" if k else "") for lit, k in painter.parts(col.text))
            cell = _ListCell(col.align, spec.size, max_width=col.width - 2 * _CELL_PAD)
            painter.text(c, cell, s, ctx, False, x=_cell_x(col), y=y0 + base)
    # column rules
    for col in spec.column[1:]:
        x = col.x - 0.5
        c.line(x * mm, painter.page_h - top * mm, x * mm, painter.page_h - (top + rh * (n + 1)) * mm)


_CELL_PAD = 1.5  # mm between a list cell's text and its rules


def _cell_x(col: Any) -> float:
    if col.align == "right":
        return col.x + col.width - _CELL_PAD - 0.5
    if col.align == "center":
        return col.x + col.width / 2 - 0.5
    return col.x + _CELL_PAD - 0.5


@dataclass(frozen=True)
class _ListCell:
    align: str
    size: float
    max_width: float | None = None
    text: str = "list"
    x: float = 0.0
    y: float = 0.0


def _enclosures_of(cover: CoverLetterData, notices: Sequence[NoticeData]) -> tuple[Enclosure, ...]:
    if cover.enclosures:
        return cover.enclosures
    return tuple(Enclosure(n.name, n.name_kana, n.symbol, n.number, n.branch) for n in notices)


def render_bundle(
    cover: CoverLetterData,
    notices: Sequence[NoticeData],
    layout: Layout | str | os.PathLike[str] = "kyokai_notice",
    cover_layout: Layout | str | os.PathLike[str] = "employer_cover",
) -> RenderedPDF:
    """One PDF for one employer: the cover letter, the enclosure list, then each notice."""
    notices = list(notices)
    buf = io.BytesIO()
    report = StreamReport()
    info = {"Title": f"資格情報のお知らせ（{cover.employer_name}）", "Author": cover.insurer_name,
            "Subject": f"資格情報のお知らせ {len(notices)}通", "Creator": "onshi",
            "CreationDate": f"D:{cover.issue_date:%Y%m%d}000000+09'00'"}
    with PdfConcat(buf, info=info) as out:
        cp = painter_for(as_layout(cover_layout))
        cbuf = io.BytesIO()
        c = new_canvas(cbuf, cp)
        pages, warnings = _draw_cover(c, cp, cover, _enclosures_of(cover, notices))
        c.save()
        out.add(cbuf.getvalue())
        report.pages += pages
        report.warnings.extend(warnings)
        stream_chunks(notices, painter_for(as_layout(layout)), out, report, chunk_pages=250)
    return RenderedPDF(buf.getvalue(), report.warnings, report.pages)


def render_cover(cover: CoverLetterData, enclosures: Sequence[Enclosure],
                 cover_layout: Layout | str | os.PathLike[str] = "employer_cover") -> RenderedPDF:
    """The cover letter and the enclosure list alone (the head of a bundle whose documents are drawn elsewhere —
    the 医療費通知 mailing run, onshi.claims.notice_mailing)."""
    cp = painter_for(as_layout(cover_layout))
    buf = io.BytesIO()
    c = new_canvas(buf, cp)
    pages, warnings = _draw_cover(c, cp, cover, tuple(enclosures))
    c.save()
    return RenderedPDF(buf.getvalue(), warnings, pages)
