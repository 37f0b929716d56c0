"""One document on one page: a 資格確認書 or a 資格情報のお知らせ rendered on its own.

Owns the values each document puts into its layout's placeholders (dates as they
are, 負担割合 as ``3割``, the postal code as ``〒100-0001``), the drawing of one
document as one page (:func:`draw_document`, also used by the streaming and bundle
renders), :func:`render_certificate` / :func:`render_notice`, and
:func:`layout_fingerprint` (what decides how a layout prints, recorded with a notice
that has no PDF of its own).
"""

from __future__ import annotations

import hashlib
import io
import os
from datetime import date
from pathlib import Path
from typing import Any

from reportlab.pdfgen import canvas as rl_canvas

from onshi.documents.layouts import Layout
from onshi.documents.render.data import CertificateData, NoticeData, RenderedPDF, RenderWarning
from onshi.documents.render.painter import (
    BUILTIN_FONT,
    Context,
    Painter,
    as_layout,
    builtin_font_path,
    check_kind,
    clean_values,
    new_canvas,
    painter_for,
    set_metadata,
    show_page,
)

__all__ = [
    "draw_document",
    "format_postal",
    "layout_fingerprint",
    "render_certificate",
    "render_notice",
    "render_one",
]


def _ratio(tenths: int | None) -> str | None:
    return None if tenths is None else f"{tenths}割"


def format_postal(code: str | None) -> str | None:
    if not code:
        return None
    digits = code.replace("-", "").replace("〒", "").strip()
    if len(digits) == 7 and digits.isdigit():
        return f"〒{digits[:3]}-{digits[3:]}"
    return code


def _ref(symbol: str, number: str, branch: str) -> str:
    return f"{symbol}-{number}-{branch}"


def _values(doc: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(doc, CertificateData):
        v = {
            "name": doc.name, "name_kana": doc.name_kana, "birth_date": doc.birth_date, "sex": doc.sex,
            "symbol": doc.symbol, "number": doc.number, "branch": doc.branch,
            "insurer_number": doc.insurer_number, "insurer_name": doc.insurer_name,
            "insurer_address": doc.insurer_address, "insurer_contact": doc.insurer_contact,
            "insurer_postal_code": format_postal(doc.insurer_postal_code),
            "issue_date": doc.issue_date, "valid_until": doc.valid_until,
            "co_pay_ratio": _ratio(doc.co_pay_ratio_tenths), "qualification_date": doc.qualification_date,
            "limit_category": doc.limit_category_label, "personal_family": doc.personal_family,
            "personal_family_long": "被保険者" if doc.personal_family == "本人" else "被扶養者",
        }
        return "certificate", v
    if isinstance(doc, NoticeData):
        v = {
            "name": doc.name, "name_kana": doc.name_kana, "birth_date": doc.birth_date,
            "symbol": doc.symbol, "number": doc.number, "branch": doc.branch,
            "insurer_number": doc.insurer_number, "insurer_name": doc.insurer_name,
            "insurer_address": doc.insurer_address, "insurer_contact": doc.insurer_contact,
            "issue_date": doc.issue_date, "co_pay_ratio": _ratio(doc.co_pay_ratio_tenths),
            "qualification_date": doc.qualification_date, "my_number_last4": doc.my_number_last4,
            "postal_code": format_postal(doc.postal_code), "address_line1": doc.address_line1,
            "address_line2": doc.address_line2, "employer_name": doc.employer_name,
        }
        return "notice", v
    raise TypeError(f"cannot render a {type(doc).__name__}; expected CertificateData or NoticeData")


def draw_document(c: rl_canvas.Canvas, painter: Painter, doc: Any) -> list[RenderWarning]:
    kind, values = _values(doc)
    check_kind(painter.layout, kind)
    ctx = Context(values, painter.layout.date_style, kind, _ref(doc.symbol, doc.number, doc.branch))
    clean_values(values, ctx)
    painter.draw(c, ctx)
    show_page(c)
    return ctx.warnings


TITLES = {"certificate": "資格確認書", "notice": "資格情報のお知らせ"}


def describe(c: rl_canvas.Canvas, doc: Any) -> None:
    """The PDF's metadata of one document: 「資格確認書（保険者名）」, the insurer as author, the issue date."""
    kind = "certificate" if isinstance(doc, CertificateData) else "notice"
    set_metadata(c, title=f"{TITLES[kind]}（{doc.insurer_name}）", author=doc.insurer_name, issue=doc.issue_date,
                 subject=f"{TITLES[kind]} 保険者番号 {doc.insurer_number}")


def render_one(doc: Any, layout: Layout | str | os.PathLike[str]) -> RenderedPDF:
    painter = painter_for(as_layout(layout))
    buf = io.BytesIO()
    c = new_canvas(buf, painter)
    describe(c, doc)
    warnings = draw_document(c, painter, doc)
    c.save()
    return RenderedPDF(buf.getvalue(), warnings, 1)


def render_certificate(data: CertificateData, layout: Layout | str | os.PathLike[str] = "default_certificate") -> RenderedPDF:
    """Render one 資格確認書 (one page)."""
    if not isinstance(data, CertificateData):
        raise TypeError("render_certificate needs CertificateData")
    return render_one(data, layout)


def render_notice(data: NoticeData, layout: Layout | str | os.PathLike[str] = "kyokai_notice") -> RenderedPDF:
    """Render one 資格情報のお知らせ (one A4 page with the detachable card part)."""
    if not isinstance(data, NoticeData):
        raise TypeError("render_notice needs NoticeData")
    return render_one(data, layout)


# -- fingerprint of a layout as rendered ---------------------------------------

#: Sample documents rendered into a layout's fingerprint: every field filled, a long address that wraps.
_SAMPLES: dict[str, Any] = {
    "notice": NoticeData(
        symbol="10000001", number="1001", branch="00", name="見本　太郎", name_kana="ミホン　タロウ",
        birth_date=date(1956, 2, 29), insurer_name="全国健康保険協会　東京支部", insurer_number="01130012",
        issue_date=date(2026, 12, 28), co_pay_ratio_tenths=3, qualification_date=date(2024, 4, 1),
        my_number_last4="0257", postal_code="1000001",
        address_line1="東京都千代田区千代田一丁目一番一号　見本マンション千代田ガーデンタワー東棟一二三四号室",
        address_line2="見本様方", employer_name="株式会社見本商事", insurer_address="東京都中野区中野四丁目一〇番二号",
        insurer_contact="03-0000-0000"),
    "certificate": CertificateData(
        name="見本　花子", name_kana="ミホン　ハナコ", sex="女", symbol="10000001", number="1002", branch="01",
        insurer_number="01130012", insurer_name="全国健康保険協会　東京支部", birth_date=date(1952, 3, 1),
        issue_date=date(2026, 12, 28), valid_until=date(2027, 2, 28), personal_family="家族",
        insurer_address="東京都中野区中野四丁目一〇番二号", co_pay_ratio_tenths=2,
        qualification_date=date(2024, 4, 1), limit_category_label="区分ア",
        insurer_contact="電話 03-0000-0000　受付 平日 8:30〜17:15　https://www.example.jp/", insurer_postal_code="1648540"),
}


def layout_fingerprint(layout: Layout | str | os.PathLike[str]) -> str:
    """What decides how a document renders in *layout*, as one SHA-256 (hex): the layout's content, its font file,
    the reportlab version, and the bytes of a sample document rendered in it now.

    A notice printed inside an employer's bundle (お知らせの一括送付) has no PDF of its own to checksum; its
    record keeps this fingerprint instead, and a reprint is refused when the fingerprint has changed since
    (the layout, the font or the drawing code would print it differently).  Computed once per layout per process."""
    loaded = as_layout(layout)
    key = loaded.model_dump_json(exclude={"source"})  # where the file lies does not change the print
    found = _FINGERPRINTS.get(key)
    if found is None:
        from reportlab import Version as reportlab_version

        font = builtin_font_path() if loaded.font == BUILTIN_FONT else Path(loaded.font)
        h = hashlib.sha256()
        h.update(key.encode())
        h.update(hashlib.sha256(font.read_bytes()).digest())
        h.update(reportlab_version.encode())
        if loaded.kind in _SAMPLES:
            h.update(render_one(_SAMPLES[loaded.kind], loaded))
        found = _FINGERPRINTS[key] = h.hexdigest()
    return found


_FINGERPRINTS: dict[str, str] = {}
