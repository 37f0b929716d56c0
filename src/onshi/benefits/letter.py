"""The decision notice (支給決定通知書 / 不支給決定通知書) as PDF, through the documents machinery's font and canvas
(:mod:`onshi.documents.render`: IPAex Gothic embedded, reportlab in invariant mode — the same data give the same
bytes).  Pure: plain data in, bytes out; the calculation is printed line by line as the clerk's screen shows it."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen import canvas as rl_canvas

from onshi.documents.render import BUILTIN_FONT, register_font
from onshi.rules.benefits import KINDS
from onshi.rules.wareki import format_wareki


@dataclass(frozen=True)
class LetterData:
    insurer_name: str
    insurer_address: str
    member_name: str
    numbers: str  # 記号・番号・枝番
    application_id: int
    kind: str
    received_on: date
    decided_on: date
    amount: int
    lines: tuple[str, ...]
    refused_reason: str | None = None
    transfer_date: date | None = None
    account: str = ""  # masked


def render_letter(data: LetterData) -> bytes:
    font = register_font(BUILTIN_FONT)
    buf = io.BytesIO()
    c = rl_canvas.Canvas(buf, pagesize=A4, invariant=1, pageCompression=1)
    c.setCreator("onshi")
    title = f"{KINDS[data.kind]} {'不支給' if data.refused_reason else '支給'}決定通知書"
    c.setTitle(title)
    w, h = A4
    y = h - 25 * mm

    def text(s: str, size: float = 10.5, x: float = 20 * mm, dy: float = 6.5 * mm) -> None:
        nonlocal y
        if y < 25 * mm:
            c.showPage()
            y = h - 25 * mm
        c.setFont(font, size)
        c.drawString(x, y, s)
        y -= dy

    c.setFont(font, 10.5)
    c.drawRightString(w - 20 * mm, y, f"{format_wareki(data.decided_on)}")
    y -= 10 * mm
    text(f"{data.member_name} 様", 13)
    text(f"記号・番号 {data.numbers}")
    y -= 4 * mm
    c.setFont(font, 16)
    c.drawCentredString(w / 2, y, title)
    y -= 12 * mm
    text(f"{format_wareki(data.received_on)}に受け付けた申請（申請番号 {data.application_id}）について、"
         f"次のとおり決定しました。")
    y -= 2 * mm
    if data.refused_reason:
        text("決定: 不支給", 12)
        text(f"理由: {data.refused_reason}")
    else:
        text(f"支給額: {data.amount:,}円", 12)
        if data.transfer_date:
            text(f"お振込日: {format_wareki(data.transfer_date)}　振込先: {data.account}")
    y -= 3 * mm
    text("算定の内訳", 11.5)
    for line in data.lines:
        text("・" + line, 9.5, dy=5.5 * mm)
    y -= 4 * mm
    for s in ("この決定に不服があるときは、この通知を受け取った日の翌日から起算して3か月以内に、",
              "地方厚生局の社会保険審査官に審査請求をすることができます（健康保険法第189条）。"):
        text(s, 9)
    y -= 6 * mm
    text(data.insurer_name, 11)
    if data.insurer_address:
        text(data.insurer_address, 9)
    c.showPage()
    c.save()
    return buf.getvalue()
