"""業績評価シート (evaluation sheet): the action plan's KPIs of one fiscal year for the nationwide office or a 支部,
with target, actual, achievement and the change from the previous year — in the spirit of the sheet 協会けんぽ
submits to MHLW's evaluation committee (seed 000).  HTML (a self-contained Jinja2 page) and PDF (reportlab, IPAex
Gothic).

>>> from onshi.analytics.kpi import load_catalogue
>>> sheet = build_sheet(load_catalogue(), 2024, "08", {"p6_checkup_lifestyle": 65.0}, generated_on=date(2025, 6, 1))
>>> sheet.title, sheet.branch_label, sheet.summary["achieved"]
('業績評価シート（令和6年度）', '茨城支部', 1)
>>> render_pdf(sheet)[:5]
b'%PDF-'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from sqlalchemy.orm import Session

from onshi.store.clock import japan_today
from onshi.analytics.kpi import (
    KpiCatalogue,
    KpiResult,
    branch_name,
    evaluate,
    fiscal_year_label,
    format_value,
    load_catalogue,
    normalize_branch,
)
from onshi.analytics.kpi_import import SystemActuals, gather_actuals

TEMPLATES = Path(__file__).with_name("templates")
SOURCE_LABELS = {"system": "システム集計", "imported": "取込", "": ""}
TREND_LABELS = {"improved": "改善", "worsened": "悪化", "unchanged": "横ばい", None: ""}


@dataclass(frozen=True)
class SheetRow:
    """One printed line: the KPI result with its values already in words."""

    number: int
    result: KpiResult
    name: str
    definition: str
    target: str
    actual: str
    actual_source: str
    previous: str
    change: str
    ratio: str
    mark: str
    trend: str
    note: str


@dataclass(frozen=True)
class EvaluationSheet:
    fiscal_year: int
    branch: str
    results: tuple[KpiResult, ...]
    generated_on: date

    @property
    def title(self) -> str:
        return f"業績評価シート（{fiscal_year_label(self.fiscal_year).split('（')[1].rstrip('）')}）"

    @property
    def branch_label(self) -> str:
        return branch_name(self.branch)

    @property
    def fiscal_year_label(self) -> str:
        return fiscal_year_label(self.fiscal_year)

    @property
    def plans(self) -> list[str]:
        seen: dict[str, str] = {}
        for r in self.results:
            p = r.kpi.plan
            years = f"{p.first_year}〜{p.last_year}年度" if p.last_year else f"{p.first_year}年度〜"
            seen.setdefault(p.key, f"{p.name}（{years}）")
        return list(seen.values())

    @property
    def summary(self) -> dict[str, int]:
        s = {"total": len(self.results), "achieved": 0, "not_achieved": 0, "not_evaluated": 0}
        for r in self.results:
            s["achieved" if r.achieved else "not_achieved" if r.achieved is False else "not_evaluated"] += 1
        return s

    @property
    def sections(self) -> list[tuple[str, list[SheetRow]]]:
        """Rows grouped by the plan's headings, in catalogue order, numbered through."""
        out: list[tuple[str, list[SheetRow]]] = []
        for n, r in enumerate(self.results, start=1):
            if not out or out[-1][0] != r.kpi.section:
                out.append((r.kpi.section, []))
            out[-1][1].append(_row(n, r))
        return out


def _day(d: date) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _signed(kpi, change: float) -> str:
    if kpi.unit == "%":
        return f"{change:+.2f}".rstrip("0").rstrip(".") + "pt"
    return ("+" if change > 0 else "") + format_value(kpi, change) if change else "±0"


def _row(n: int, r: KpiResult) -> SheetRow:
    k = r.kpi
    change = "" if r.change is None else (f"{_signed(k, r.change)} {r.trend_mark}" if r.change else "±0 →")
    # truncated, not rounded: 99.95 % of a target must not print as 100.0 % next to ×
    ratio = "" if r.achievement_ratio is None else f"{math.floor(1000 * r.achievement_ratio + 1e-9) / 10:.1f}%"
    note = r.note
    if r.actual is not None and r.target.basis == "branch":
        note = "支部目標"
    return SheetRow(n, r, k.name, k.definition, r.target.text, format_value(k, r.actual),
                    SOURCE_LABELS.get(r.actual_source, r.actual_source), format_value(k, r.previous), change, ratio,
                    r.mark, TREND_LABELS[r.trend], note)


def build_sheet(catalogue: KpiCatalogue, fiscal_year: int, branch: str, actuals: Mapping[str, float],
                previous: Mapping[str, float] | None = None, *, sources: Mapping[str, str] | None = None,
                generated_on: date | None = None) -> EvaluationSheet:
    """The sheet of a fiscal year and 支部 from actuals (kpi_code → value) and, optionally, last year's actuals."""
    branch = normalize_branch(branch)
    results = evaluate(catalogue, fiscal_year, branch, actuals, previous, sources=sources)
    return EvaluationSheet(fiscal_year, branch, tuple(results), generated_on or japan_today())


def sheet_from_database(session: Session, fiscal_year: int, branch: str, *, catalogue: KpiCatalogue | None = None,
                        system_actuals: SystemActuals | None = None, generated_on: date | None = None
                        ) -> EvaluationSheet:
    """The sheet from the imported actuals (``KpiActual``) and, where given, the figures the system computes —
    for the year and the year before (for the trend)."""
    catalogue = catalogue or load_catalogue()
    branch = normalize_branch(branch)
    actuals, sources = gather_actuals(session, catalogue, fiscal_year, branch, system_actuals)
    previous, _ = gather_actuals(session, catalogue, fiscal_year - 1, branch, system_actuals)
    return build_sheet(catalogue, fiscal_year, branch, actuals, previous, sources=sources, generated_on=generated_on)


# ============================================================================ HTML

@lru_cache(maxsize=1)
def _environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render_html(sheet: EvaluationSheet, *, embed_font: bool = True) -> str:
    """A self-contained HTML page (inline CSS, no external assets) that also prints on A4 landscape.

    ``embed_font``: carry IPAex Gothic inside the page, cut down to the characters the page uses (WOFF, base64,
    about 100 KB), so it reads the same on a machine without Japanese fonts."""
    template = _environment().get_template("evaluation.html")
    values = {"sheet": sheet, "legend": LEGEND, "generated": _day(sheet.generated_on)}
    html = template.render(**values, font_face="")
    if not embed_font:
        return html
    return template.render(**values, font_face=_font_face(frozenset(html)))


@lru_cache(maxsize=8)
def _font_face(chars: frozenset[str]) -> str:
    """``@font-face`` for IPAex Gothic subset to *chars* (fontTools, a declared dependency)."""
    import base64

    from fontTools import subset

    from onshi.documents.render import builtin_font_path

    options = subset.Options()
    options.flavor = "woff"
    options.name_IDs = ["*"]
    font = subset.load_font(str(builtin_font_path()), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(chars)))
    subsetter.subset(font)
    buf = BytesIO()
    subset.save_font(font, buf, options)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return ('@font-face { font-family: "IPAexGothic"; font-display: block; '
            f'src: url(data:font/woff;base64,{data}) format("woff"); }}')


LEGEND = ("評価: ○ 目標達成 / × 未達成 / － 目標または実績がないため評価なし。"
          "達成率 = 実績 ÷ 目標（低いほど良い KPI は 目標 ÷ 実績）。増減は前年度比（率は %pt）、"
          "前年度の KPI が前期計画のものは前期の実績と比べる。"
          "実績の出所: システム集計 = onshi が自らのデータから算出、取込 = CSV で取り込んだ値。")


# ============================================================================ PDF

FONT = "IPAexGothic"


def _font() -> str:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    from onshi.documents.render import builtin_font_path

    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, str(builtin_font_path())))
    return FONT


def render_pdf(sheet: EvaluationSheet) -> bytes:
    """The sheet as an A4 landscape PDF (IPAex Gothic), the same bytes for the same sheet."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER, TA_RIGHT
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
    from xml.sax.saxutils import escape

    font = _font()
    ink, muted, rule = colors.HexColor("#1f2933"), colors.HexColor("#52606d"), colors.HexColor("#9aa5b1")
    band, head_bg = colors.HexColor("#e4ecf5"), colors.HexColor("#243b53")
    ok, ng = colors.HexColor("#1e7b34"), colors.HexColor("#b42318")

    def style(name, size, **kw):
        return ParagraphStyle(name, fontName=font, fontSize=size, wordWrap="CJK",
                              **({"textColor": ink, "leading": size * 1.35} | kw))

    title = style("title", 17, spaceAfter=1 * mm)
    sub = style("sub", 9.5, textColor=muted)
    cell = style("cell", 8.2)
    small = style("small", 6.6, textColor=muted)
    num = style("num", 8.2, alignment=TA_RIGHT)
    center = style("center", 8.2, alignment=TA_CENTER)
    head = style("head", 7.8, alignment=TA_CENTER, textColor=colors.white)
    section = style("section", 8.6, textColor=head_bg)
    mark = style("mark", 13, alignment=TA_CENTER, leading=14)
    cross = style("cross", 16, alignment=TA_CENTER, leading=14)  # × is a narrow glyph in IPAex: print it larger

    def p(text, st=cell):
        return Paragraph(escape(text), st)

    s = sheet.summary
    story = [
        Paragraph(escape(f"{sheet.title}　{sheet.branch_label}"), title),
        Paragraph(escape(f"全国健康保険協会（協会けんぽ）　{sheet.fiscal_year_label}"), sub),
        Paragraph(escape("対象: " + "／".join(sheet.plans)), sub),
        Spacer(0, 2.5 * mm),
    ]
    summary = Table([[p(f"KPI {s['total']}項目", center), p(f"○ 達成 {s['achieved']}", center),
                      p(f"× 未達成 {s['not_achieved']}", center), p(f"－ 評価なし {s['not_evaluated']}", center),
                      p(f"作成日 {_day(sheet.generated_on)}", center)]],
                    colWidths=[40 * mm] * 4 + [50 * mm])
    summary.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 0.6, rule), ("INNERGRID", (0, 0), (-1, -1), 0.3, rule),
                                 ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#f5f7fa")),
                                 ("TOPPADDING", (0, 0), (-1, -1), 3), ("BOTTOMPADDING", (0, 0), (-1, -1), 3)]))
    summary.hAlign = "LEFT"
    story += [summary, Spacer(0, 3 * mm)]

    widths = [8 * mm, 78 * mm, 46 * mm, 30 * mm, 28 * mm, 28 * mm, 16 * mm, 12 * mm, 27 * mm]  # 273 mm
    header = [p(h, head) for h in ("No", "KPI（定義）", "目標", "実績", "前年度", "増減", "達成率", "評価", "備考")]
    data = [header]
    cmds = [("FONT", (0, 0), (-1, -1), font), ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("BACKGROUND", (0, 0), (-1, 0), head_bg), ("LINEBELOW", (0, 0), (-1, -1), 0.3, rule),
            ("BOX", (0, 0), (-1, -1), 0.6, rule), ("TOPPADDING", (0, 0), (-1, -1), 2.2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2.6)]
    for title_text, rows in sheet.sections:
        i = len(data)
        data.append([p(title_text, section)] + [""] * (len(widths) - 1))
        cmds += [("SPAN", (0, i), (-1, i)), ("BACKGROUND", (0, i), (-1, i), band)]
        for r in rows:
            i = len(data)
            mark_colour = ok if r.mark == "○" else ng if r.mark == "×" else muted
            actual = Paragraph(escape(r.actual) + (f'<br/><font size="6.2" color="#52606d">{escape(r.actual_source)}'
                                                   "</font>" if r.actual_source else ""), num)
            data.append([
                p(str(r.number), center),
                [p(r.name), p(r.definition, small)],
                p(r.target),
                actual,
                p(r.previous, num),
                p(r.change, num),
                p(r.ratio, num),
                Paragraph(f'<font color="{mark_colour.hexval().replace("0x", "#")}">{r.mark}</font>',
                          cross if r.mark == "×" else mark),
                p(" ".join(x for x in (r.trend, r.note) if x), small),
            ])
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle(cmds))
    story += [table, Spacer(0, 3 * mm), KeepTogether([Paragraph(escape(LEGEND), small)])]

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.setFillColor(muted)
        canvas.drawString(12 * mm, 7 * mm, f"{sheet.title}　{sheet.branch_label}　onshi")
        canvas.drawRightString(landscape(A4)[0] - 12 * mm, 7 * mm, f"{doc.page}")
        canvas.restoreState()

    buf = BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm,
                            topMargin=11 * mm, bottomMargin=13 * mm, title=f"{sheet.title} {sheet.branch_label}",
                            author="onshi", creator="onshi", invariant=True)
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buf.getvalue()


def write_sheet(sheet: EvaluationSheet, out: Path | str) -> Path:
    """Write the sheet as PDF or HTML, by the file's extension (``.pdf`` / ``.html``)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix == ".pdf":
        data = render_pdf(sheet)
    elif suffix in (".html", ".htm"):
        data = render_html(sheet).encode("utf-8")
    else:
        raise ValueError(f"{out.name}: write .pdf or .html (got {out.suffix or 'no extension'})")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out
