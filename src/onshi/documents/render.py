"""Render 資格確認書 and 資格情報のお知らせ as PDF from plain data (no database).

Public API
----------
Data (frozen dataclasses, built by the caller):

* :class:`CertificateData` — one 資格確認書;
* :class:`NoticeData` — one 資格情報のお知らせ (A4 part + detachable card part);
* :class:`CoverLetterData` with :class:`Enclosure` rows — the cover letter and
  enclosure list (同封者一覧) of an employer's bundle.

Rendering (``layout`` is a :class:`~onshi.documents.layouts.Layout`, a built-in
layout name or a path to a TOML file):

* :func:`render_certificate` / :func:`render_notice` → :class:`RenderedPDF`;
* :func:`render_bundle` → one PDF: cover letter, enclosure list, the notices;
* :func:`render_to_file` — many documents into **one** PDF file (or binary
  stream), and :func:`render_to_files` — one file per document; both stream:
  memory stays flat however many documents pass through.

A :class:`RenderedPDF` *is* ``bytes`` (write it, hash it, return it) and also
carries ``warnings`` (:class:`RenderWarning`: a missing address line, a 外字
replaced, a text shrunk to fit) and ``page_count``.

The output is deterministic: the same data and layout give byte-identical PDF
(reportlab ``invariant`` mode: fixed dates and document id; subset font names by
position), so a document can be reprinted identically and checksummed.

Fonts: IPAex Gothic, embedded as TrueType subsets (the file ships with the
``japanize-matplotlib`` package; licence: IPA Font License v1.0).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Self

from reportlab.lib.units import mm
from reportlab.pdfbase import pdfdoc, pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as rl_canvas

from onshi.documents import gaiji
from onshi.documents.layouts import (
    Elements,
    Layout,
    LayoutError,
    Text,
    load_layout,
    template_parts,
)
from onshi.rules.wareki import format_date

__all__ = [
    "CertificateData",
    "CoverLetterData",
    "Enclosure",
    "LayoutError",
    "NoticeData",
    "RenderWarning",
    "RenderedPDF",
    "StreamReport",
    "load_layout",
    "render_bundle",
    "render_certificate",
    "render_notice",
    "render_to_file",
    "render_to_files",
]

# ---------------------------------------------------------------------------
# Input data
# ---------------------------------------------------------------------------


def _check_digits(label: str, value: str | None, length: int | None = None) -> None:
    if value is None:
        return
    if not value.isdigit() or (length is not None and len(value) != length):
        what = f"{length} digits" if length else "digits only"
        raise ValueError(f"{label}: {value!r} must be {what}")


@dataclass(frozen=True)
class CertificateData:
    """One 資格確認書 (eligibility certificate)."""

    name: str  # 氏名
    name_kana: str  # フリガナ
    birth_date: date  # 生年月日
    sex: str  # 性別, as printed: "男" / "女"
    symbol: str  # 記号
    number: str  # 番号
    branch: str  # 枝番 (2 digits)
    insurer_number: str  # 保険者番号
    insurer_name: str  # 保険者名称
    issue_date: date  # 交付年月日
    valid_until: date  # 有効期限
    personal_family: str = "本人"  # 本人 (被保険者) / 家族 (被扶養者)
    insurer_address: str | None = None  # 保険者所在地
    co_pay_ratio_tenths: int | None = None  # 一部負担金の割合 (3 = 3割)
    qualification_date: date | None = None  # 資格取得年月日
    limit_category_label: str | None = None  # 限度額適用区分 (only when applied for)

    def __post_init__(self) -> None:
        if self.personal_family not in ("本人", "家族"):
            raise ValueError(f"personal_family: {self.personal_family!r} must be 本人 or 家族")
        _check_digits("branch", self.branch, 2)
        _check_digits("insurer_number", self.insurer_number)
        if self.co_pay_ratio_tenths is not None and not 1 <= self.co_pay_ratio_tenths <= 10:
            raise ValueError(f"co_pay_ratio_tenths: {self.co_pay_ratio_tenths} is not 1–10")
        if self.valid_until < self.issue_date:
            raise ValueError("valid_until is before issue_date")


@dataclass(frozen=True)
class NoticeData:
    """One 資格情報のお知らせ: the A4 part and the detachable card part."""

    symbol: str  # 記号
    number: str  # 番号
    branch: str  # 枝番
    name: str  # 氏名
    name_kana: str  # フリガナ
    birth_date: date  # 生年月日
    insurer_name: str  # 保険者名
    insurer_number: str  # 保険者番号
    issue_date: date  # 発行日
    co_pay_ratio_tenths: int | None = None  # 負担割合
    qualification_date: date | None = None  # 資格取得年月日
    #: Last 4 digits of the registered My Number; None (unregistered or in doubt) prints blank.
    my_number_last4: str | None = None
    postal_code: str | None = None  # 郵便番号 of the recipient ("1000001" or "100-0001")
    address_line1: str | None = None  # 住所 (1行目)
    address_line2: str | None = None  # 住所 (2行目, optional)
    employer_name: str | None = None  # 事業所名 (sent via the employer)
    insurer_address: str | None = None
    insurer_contact: str | None = None  # お問い合わせ先

    def __post_init__(self) -> None:
        _check_digits("my_number_last4", self.my_number_last4, 4)
        _check_digits("branch", self.branch, 2)
        _check_digits("insurer_number", self.insurer_number)
        if self.co_pay_ratio_tenths is not None and not 1 <= self.co_pay_ratio_tenths <= 10:
            raise ValueError(f"co_pay_ratio_tenths: {self.co_pay_ratio_tenths} is not 1–10")


@dataclass(frozen=True)
class Enclosure:
    """One row of an enclosure list (同封者一覧)."""

    name: str
    name_kana: str = ""
    symbol: str = ""
    number: str = ""
    branch: str = ""


@dataclass(frozen=True)
class CoverLetterData:
    """The cover letter of an employer's bundle (事業主様あて送付状) and its enclosure list."""

    employer_name: str
    insurer_name: str
    issue_date: date
    employer_postal_code: str | None = None
    employer_address_line1: str | None = None
    employer_address_line2: str | None = None
    employer_contact: str | None = None  # ご担当者 (printed before 様)
    insurer_address: str | None = None
    insurer_contact: str | None = None
    insurer_number: str | None = None
    #: The list; empty → built from the notices by :func:`render_bundle`.
    enclosures: tuple[Enclosure, ...] = ()


Document = CertificateData | NoticeData

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderWarning:
    """Something a clerk should look at; the document was still rendered.

    ``code``: ``"missing"`` (an expected field was blank and printed blank),
    ``"gaiji"`` (a character outside JIS X 0208 was replaced, see ``detail``),
    ``"overflow"`` (a text did not fit its box even at the smallest size).
    """

    document: str  # which document: "記号-番号-枝番" or the employer name
    field: str
    code: str
    message: str
    detail: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.document}: {self.field}: {self.message}"


class RenderedPDF(bytes):
    """PDF bytes, with the warnings raised while rendering and the page count."""

    warnings: tuple[RenderWarning, ...]
    page_count: int

    def __new__(cls, data: bytes, warnings: Sequence[RenderWarning] = (), page_count: int = 0) -> Self:
        obj = super().__new__(cls, data)
        obj.warnings = tuple(warnings)
        obj.page_count = page_count
        return obj

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self).hexdigest()


@dataclass
class StreamReport:
    """What :func:`render_to_file` / :func:`render_to_files` wrote."""

    documents: int = 0
    pages: int = 0
    bytes_written: int = 0
    files: list[Path] = field(default_factory=list)
    warnings: list[RenderWarning] = field(default_factory=list)


# ---------------------------------------------------------------------------
# Fonts
# ---------------------------------------------------------------------------

BUILTIN_FONT = "IPAexGothic"


def builtin_font_path() -> Path:
    """The IPAex Gothic TTF shipped with japanize-matplotlib."""
    # find_spec does not import the package (which would import matplotlib).
    spec = importlib.util.find_spec("japanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise LayoutError("the IPAex Gothic font comes with japanize-matplotlib, which is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "fonts" / "ipaexg.ttf"


@lru_cache(maxsize=8)
def _register_font(spec: str) -> str:
    """Register a TrueType font once per process; return its reportlab name."""
    if spec == BUILTIN_FONT:
        path = builtin_font_path()
        name = BUILTIN_FONT
    else:
        path = Path(spec)
        name = "onshi-" + hashlib.sha1(str(path).encode()).hexdigest()[:10]
    if not path.exists():
        raise LayoutError(f"font file {str(path)!r} not found")
    pdfmetrics.registerFont(TTFont(name, str(path)))
    return name


# ---------------------------------------------------------------------------
# Drawing
# ---------------------------------------------------------------------------

#: Characters that may not start a line (行頭禁則) / end a line (行末禁則).
_NO_START = set("、。,.，．）」』】〕〉》’”・ー～〜？！?!ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ々ゝゞ:;：；")
_NO_END = set("（「『【〔〈《‘“(")

#: Fields that are printed as given from the registry and so go through the 外字 check.
_GAIJI_FIELDS = frozenset({
    "name", "name_kana", "address_line1", "address_line2", "employer_name",
    "employer_address_line1", "employer_address_line2", "employer_contact",
    "insurer_name", "insurer_address", "insurer_contact",
})
#: Fields whose blank value is reported (printed blank all the same).
_EXPECTED = {
    "certificate": frozenset({"name", "name_kana", "birth_date", "sex", "symbol", "number",
                              "insurer_number", "insurer_name", "issue_date", "valid_until"}),
    "notice": frozenset({"name", "name_kana", "birth_date", "symbol", "number", "insurer_name",
                         "insurer_number", "issue_date", "postal_code", "address_line1"}),
    "cover": frozenset({"employer_name", "employer_postal_code", "employer_address_line1",
                        "insurer_name", "issue_date"}),
}


class _Painter:
    """A layout made ready to draw: fonts registered, templates parsed, once."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.font = _register_font(layout.font)
        self.face = pdfmetrics.getFont(self.font)
        w, h = layout.page.size_mm
        self.page_w, self.page_h = w * mm, h * mm
        self.ox, self.oy = layout.page.origin
        self.options = layout.print_options.model_dump()
        self.templates: dict[str, list[tuple[str, str | None]]] = {}
        self._widths = self.face.face.charWidths
        self._default_width = self.face.face.defaultWidth
        self._wrapped: dict[tuple[str, float, float], list[str]] = {}
        self._check_glyphs()

    def _parts(self, template: str) -> list[tuple[str, str | None]]:
        parts = self.templates.get(template)
        if parts is None:
            parts = self.templates[template] = template_parts(template)
        return parts

    def _check_glyphs(self) -> None:
        """Every literal character of the layout must exist in the font."""
        cmap = self.face.face.charToGlyph
        els = [self.layout, self.layout.carrier] + ([self.layout.list.page] if self.layout.list else [])
        texts = [t.text for e in els for t in e.text]
        if self.layout.list:
            texts += [c.title for c in self.layout.list.column] + [c.text for c in self.layout.list.column]
        missing = sorted({ch for t in texts for lit, _ in self._parts(t) for ch in lit
                          if ch not in "\n" and ord(ch) not in cmap})
        if missing:
            raise LayoutError(
                f"layout {self.layout.name!r}: the font has no glyph for {''.join(missing)!r} "
                f"({', '.join(f'U+{ord(c):04X}' for c in missing)}); change the text or the font"
            )

    # -- coordinates: layout mm from top-left -> PDF points from bottom-left
    def _x(self, x: float, offset: bool) -> float:
        return (x + (self.ox if offset else 0.0)) * mm

    def _y(self, y: float, offset: bool) -> float:
        return self.page_h - (y + (self.oy if offset else 0.0)) * mm

    def width(self, s: str, size: float, char_space: float = 0.0) -> float:
        g, dw = self._widths.get, self._default_width
        return 0.001 * size * sum([g(ord(ch), dw) for ch in s]) + char_space * max(len(s) - 1, 0)

    def draw(self, c: rl_canvas.Canvas, ctx: _Context) -> None:
        """Draw one page of the layout (carrier, crop marks, elements)."""
        page = self.layout.page
        self._elements(c, self.layout.carrier, ctx, offset=False)
        if page.crop_marks and page.content_size:
            self._crop_marks(c)
        self._elements(c, self.layout, ctx, offset=True)

    def _visible(self, el: Any, ctx: _Context) -> bool:
        if el.when is not None and not self.options[el.when]:
            return False
        return el.unless_blank is None or not ctx.blank(el.unless_blank)

    def _elements(self, c: rl_canvas.Canvas, els: Elements | Layout, ctx: _Context, *, offset: bool) -> None:
        for r in els.rect:
            if self._visible(r, ctx):
                self._rect(c, r, offset)
        for ln in els.line:
            if self._visible(ln, ctx):
                c.setLineWidth(ln.line_width)
                c.setDash([d * mm for d in ln.dash] if ln.dash else [])
                c.line(self._x(ln.x1, offset), self._y(ln.y1, offset), self._x(ln.x2, offset), self._y(ln.y2, offset))
        c.setDash([])
        for t in els.text:
            if self._visible(t, ctx):
                self.text(c, t, ctx.fill(self._parts(t.text), t), ctx, offset)

    def _rect(self, c: rl_canvas.Canvas, r: Any, offset: bool) -> None:
        x, y = self._x(r.x, offset), self._y(r.y + r.h, offset)
        c.setLineWidth(r.line_width)
        c.setDash([d * mm for d in r.dash] if r.dash else [])
        fill = r.fill is not None
        if fill:
            c.setFillGray(r.fill)
        if r.radius:
            c.roundRect(x, y, r.w * mm, r.h * mm, r.radius * mm, stroke=int(r.stroke), fill=int(fill))
        else:
            c.rect(x, y, r.w * mm, r.h * mm, stroke=int(r.stroke), fill=int(fill))
        if fill:
            c.setFillGray(0)

    def _crop_marks(self, c: rl_canvas.Canvas) -> None:
        (x0, y0), (w, h) = self.layout.page.origin, self.layout.page.content_size
        c.setLineWidth(0.25)
        c.setDash([])
        gap, length = 2.0, 6.0
        for x in (x0, x0 + w):
            for y in (y0, y0 + h):
                sy = -1 if y == y0 else 1
                sx = -1 if x == x0 else 1
                c.line(x * mm, self.page_h - (y + sy * gap) * mm, x * mm, self.page_h - (y + sy * (gap + length)) * mm)
                c.line((x + sx * gap) * mm, self.page_h - y * mm, (x + sx * (gap + length)) * mm, self.page_h - y * mm)

    def text(self, c: rl_canvas.Canvas, t: Text | Any, s: str, ctx: _Context, offset: bool,
             *, x: float | None = None, y: float | None = None) -> None:
        if not s:
            return
        x_mm = t.x if x is None else x
        y_mm = t.y if y is None else y
        size = t.size
        cs = getattr(t, "char_space", 0.0)
        max_w = t.max_width * mm if t.max_width else None
        if getattr(t, "wrap", False) and max_w:
            leading = t.leading or size * 1.45
            lines = self.wrap(s, size, max_w)
            if t.max_lines and len(lines) > t.max_lines:
                ctx.warn(t.text, "overflow", f"text needs {len(lines)} lines, the layout allows {t.max_lines}; cut")
                lines = lines[: t.max_lines]
            for i, line in enumerate(lines):
                self._draw_line(c, t, line, size, cs, self._x(x_mm, offset), self._y(y_mm, offset) - i * leading)
            return
        if max_w:
            w = self.width(s, size, cs)
            if w > max_w:
                min_size = getattr(t, "min_size", None) or size * 0.6
                size = max(size * max_w / w, min_size)
                if self.width(s, size, cs) > max_w + 0.01:
                    ctx.warn(t.text, "overflow", f"{s!r} is wider than its box even at {size:.1f} pt")
        self._draw_line(c, t, s, size, cs, self._x(x_mm, offset), self._y(y_mm, offset))

    def _draw_line(self, c: rl_canvas.Canvas, t: Any, s: str, size: float, cs: float, x: float, y: float) -> None:
        align = t.align
        if align != "left":
            w = self.width(s, size, cs)
            x -= w if align == "right" else w / 2
        bold = getattr(t, "bold", False)
        grey = getattr(t, "grey", 0.0)
        special = bold or cs or grey
        if special:  # text state (Tc, Tr) outlives BT/ET: keep it inside q … Q
            c.saveState()
        to = c.beginText(x, y)
        to.setFont(self.font, size)
        if cs:
            to.setCharSpace(cs)
        if grey:
            to.setFillGray(grey)
        if bold:  # IPAex has one weight: fill + thin stroke
            to.setTextRenderMode(2)
            c.setLineWidth(size * 0.03)
        to.textOut(s)
        c.drawText(to)
        if special:
            c.restoreState()

    def wrap(self, s: str, size: float, max_w: float) -> list[str]:
        """Break Japanese text at any character, keeping 禁則 (no 。 at a line start).

        Results are cached: the long explanatory paragraphs are the same on every page.
        """
        key = (s, size, max_w)
        hit = self._wrapped.get(key)
        if hit is not None:
            return hit
        g, dw = self._widths.get, self._default_width
        limit = max_w / (0.001 * size)  # in font units
        out: list[str] = []
        for para in s.split("\n"):
            line, w = "", 0.0
            for ch in para:
                cw = g(ord(ch), dw)
                if line and w + cw > limit and ch not in _NO_START:
                    if line[-1] in _NO_END and len(line) > 1:
                        out.append(line[:-1])
                        line = line[-1]
                        w = g(ord(line), dw)
                    else:
                        out.append(line)
                        line, w = "", 0.0
                    if ch == " " or ch == "\u3000":
                        continue
                line += ch
                w += cw
            out.append(line)
        if len(self._wrapped) < 1024:
            self._wrapped[key] = out
        return out


class _Context:
    """The values of one document and the warnings raised while drawing it."""

    __slots__ = ("_warned", "kind", "ref", "style", "values", "warnings")

    def __init__(self, values: Mapping[str, Any], style: str, kind: str, ref: str) -> None:
        self.values = values
        self.style = style
        self.kind = kind
        self.ref = ref
        self.warnings: list[RenderWarning] = []
        self._warned: set[tuple[str, str]] = set()

    def blank(self, key: str) -> bool:
        v = self.values.get(key)
        return v is None or v == ""

    def fill(self, parts: list[tuple[str, str | None]], t: Any) -> str:
        out = []
        for lit, key in parts:
            out.append(lit)
            if key is None:
                continue
            v = self.values.get(key)
            if v is None or v == "":
                if key in _EXPECTED[self.kind]:
                    self.warn(key, "missing", "no value: printed blank; complete the record and reprint")
                continue
            if isinstance(v, date):
                v = format_date(v, getattr(t, "date_style", None) or self.style)
            out.append(str(v))
        return "".join(out)

    def warn(self, fld: str, code: str, message: str, detail: tuple[str, ...] = ()) -> None:
        if (fld, code) in self._warned:
            return
        self._warned.add((fld, code))
        self.warnings.append(RenderWarning(self.ref, fld, code, message, detail))


def _ratio(tenths: int | None) -> str | None:
    return None if tenths is None else f"{tenths}割"


def _postal(code: str | None) -> str | None:
    if not code:
        return None
    digits = code.replace("-", "").replace("〒", "").strip()
    if len(digits) == 7 and digits.isdigit():
        return f"〒{digits[:3]}-{digits[3:]}"
    return code


def _clean(values: dict[str, Any], ctx: _Context) -> dict[str, Any]:
    """Apply the 外字 policy to the free-text fields and record what changed."""
    for key in _GAIJI_FIELDS.intersection(values):
        v = values[key]
        if not v or v.isascii():
            continue
        r = gaiji.check(v)
        values[key] = r.text  # equivalents (half-width kana …) are applied silently
        if r.flagged:
            ctx.warn(key, "gaiji",
                     f"{len(r.flagged)} character(s) outside JIS X 0208 printed as a substitute; "
                     "check the printed text",
                     tuple(str(f) for f in r.flagged))
    return values


def _ref(symbol: str, number: str, branch: str) -> str:
    return f"{symbol}-{number}-{branch}"


def _values(doc: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(doc, CertificateData):
        v = {
            "name": doc.name, "name_kana": doc.name_kana, "birth_date": doc.birth_date, "sex": doc.sex,
            "symbol": doc.symbol, "number": doc.number, "branch": doc.branch,
            "insurer_number": doc.insurer_number, "insurer_name": doc.insurer_name,
            "insurer_address": doc.insurer_address, "insurer_contact": None,
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
            "postal_code": _postal(doc.postal_code), "address_line1": doc.address_line1,
            "address_line2": doc.address_line2, "employer_name": doc.employer_name,
        }
        return "notice", v
    raise TypeError(f"cannot render a {type(doc).__name__}; expected CertificateData or NoticeData")


def _check_kind(layout: Layout, kind: str) -> None:
    if layout.kind != kind:
        raise LayoutError(f"layout {layout.name!r} is a {layout.kind} layout, not a {kind} layout")


@lru_cache(maxsize=32)
def _painter_for(layout: Layout) -> _Painter:
    return _Painter(layout)


def _layout(layout: Layout | str | os.PathLike[str]) -> Layout:
    return layout if isinstance(layout, Layout) else load_layout(layout)


def _new_canvas(buf: BinaryIO, painter: _Painter) -> rl_canvas.Canvas:
    c = rl_canvas.Canvas(
        buf, pagesize=(painter.page_w, painter.page_h), invariant=1, pageCompression=1,
        initialFontName=painter.font, initialFontSize=9,
    )
    c.setCreator("onshi")
    c.setTitle(painter.layout.name)
    return c


def _draw_document(c: rl_canvas.Canvas, painter: _Painter, doc: Any) -> list[RenderWarning]:
    kind, values = _values(doc)
    _check_kind(painter.layout, kind)
    ctx = _Context(values, painter.layout.date_style, kind, _ref(doc.symbol, doc.number, doc.branch))
    _clean(values, ctx)
    painter.draw(c, ctx)
    _show_page(c)
    return ctx.warnings


def _show_page(c: rl_canvas.Canvas) -> None:
    """``showPage``, with the page stream Flate-compressed only (not also ASCII85).

    reportlab wraps every page stream in ASCII85 unless the process-wide
    ``rl_config.useA85`` is off; that costs about a fifth of the time in pure
    Python and a quarter of the size, for 7-bit safety no one needs.  Setting the
    page's stream here keeps the choice local to this module.
    """
    c.showPage()
    try:
        page = c._doc.Pages.pages[-1]
    except (AttributeError, IndexError):  # pragma: no cover - other reportlab internals
        return
    if getattr(page, "stream", None) and not page.Contents:
        stream = pdfdoc.PDFStream()
        stream.filters = [pdfdoc.PDFZCompress]
        stream.content = page.stream
        page.Contents = stream


def _render_one(doc: Any, layout: Layout | str | os.PathLike[str]) -> RenderedPDF:
    painter = _painter_for(_layout(layout))
    buf = io.BytesIO()
    c = _new_canvas(buf, painter)
    warnings = _draw_document(c, painter, doc)
    c.save()
    return RenderedPDF(buf.getvalue(), warnings, 1)


def render_certificate(data: CertificateData, layout: Layout | str | os.PathLike[str] = "default_certificate") -> RenderedPDF:
    """Render one 資格確認書 (one page)."""
    if not isinstance(data, CertificateData):
        raise TypeError("render_certificate needs CertificateData")
    return _render_one(data, layout)


def render_notice(data: NoticeData, layout: Layout | str | os.PathLike[str] = "kyokai_notice") -> RenderedPDF:
    """Render one 資格情報のお知らせ (one A4 page with the detachable card part)."""
    if not isinstance(data, NoticeData):
        raise TypeError("render_notice needs NoticeData")
    return _render_one(data, layout)


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
        qualification_date=date(2024, 4, 1), limit_category_label="区分ア"),
}


def layout_fingerprint(layout: Layout | str | os.PathLike[str]) -> str:
    """What decides how a document renders in *layout*, as one SHA-256 (hex): the layout's content, its font file,
    the reportlab version, and the bytes of a sample document rendered in it now.

    A notice printed inside an employer's bundle (お知らせの一括送付) has no PDF of its own to checksum; its
    record keeps this fingerprint instead, and a reprint is refused when the fingerprint has changed since
    (the layout, the font or the drawing code would print it differently).  Computed once per layout per process."""
    loaded = _layout(layout)
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
            h.update(_render_one(_SAMPLES[loaded.kind], loaded))
        found = _FINGERPRINTS[key] = h.hexdigest()
    return found


_FINGERPRINTS: dict[str, str] = {}


# -- cover letter and enclosure list ----------------------------------------


def _draw_cover(c: rl_canvas.Canvas, painter: _Painter, cover: CoverLetterData,
                enclosures: Sequence[Enclosure]) -> tuple[int, list[RenderWarning]]:
    layout = painter.layout
    _check_kind(layout, "cover")
    spec = layout.list
    per_page = spec.rows_per_page if spec else 1
    list_pages = (len(enclosures) + per_page - 1) // per_page if spec else 0
    values: dict[str, Any] = {
        "employer_name": cover.employer_name, "employer_postal_code": _postal(cover.employer_postal_code),
        "employer_address_line1": cover.employer_address_line1,
        "employer_address_line2": cover.employer_address_line2,
        "employer_contact": cover.employer_contact, "insurer_name": cover.insurer_name,
        "insurer_address": cover.insurer_address, "insurer_contact": cover.insurer_contact,
        "insurer_number": cover.insurer_number, "issue_date": cover.issue_date,
        "count": len(enclosures), "page": 1, "pages": list_pages,
    }
    ctx = _Context(values, layout.date_style, "cover", cover.employer_name)
    _clean(values, ctx)
    painter.draw(c, ctx)
    _show_page(c)
    if not spec:
        return 1, ctx.warnings
    for p in range(list_pages):
        values["page"] = p + 1
        painter._elements(c, spec.page, ctx, offset=False)
        _draw_list_page(c, painter, spec, enclosures[p * per_page:(p + 1) * per_page], p * per_page, ctx)
        _show_page(c)
    return 1 + list_pages, ctx.warnings


def _draw_list_page(c: rl_canvas.Canvas, painter: _Painter, spec: Any, rows: Sequence[Enclosure],
                    start: int, ctx: _Context) -> None:
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
            s = "".join(lit + (cells.get(k) or "" if k else "") for lit, k in painter._parts(col.text))
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
    with _PdfConcat(buf) as out:
        cp = _painter_for(_layout(cover_layout))
        cbuf = io.BytesIO()
        c = _new_canvas(cbuf, cp)
        pages, warnings = _draw_cover(c, cp, cover, _enclosures_of(cover, notices))
        c.save()
        out.add(cbuf.getvalue())
        report.pages += pages
        report.warnings.extend(warnings)
        _stream_chunks(notices, _painter_for(_layout(layout)), out, report, chunk_pages=250)
    return RenderedPDF(buf.getvalue(), report.warnings, report.pages)


# -- streaming ---------------------------------------------------------------


def _stream_chunks(docs: Iterable[Any], painter: _Painter, out: _PdfConcat, report: StreamReport,
                   chunk_pages: int) -> None:
    it = iter(docs)
    while True:
        buf = io.BytesIO()
        c = _new_canvas(buf, painter)
        n = 0
        for doc in it:
            report.warnings.extend(_draw_document(c, painter, doc))
            n += 1
            if n >= chunk_pages:
                break
        if n == 0:
            return
        c.save()
        out.add(buf.getvalue())
        report.documents += n
        report.pages += n
        if n < chunk_pages:
            return


def render_to_file(
    documents: Iterable[Document],
    layout: Layout | str | os.PathLike[str],
    out: str | os.PathLike[str] | BinaryIO,
    *,
    chunk_pages: int = 200,
) -> StreamReport:
    """Render many documents (all of the layout's kind) into ONE PDF, streaming.

    Documents are drawn ``chunk_pages`` at a time; each chunk is written to ``out``
    as soon as it is complete, so memory depends on ``chunk_pages``, not on the
    number of documents.  The font subset is embedded once per chunk.  ``out`` is
    a path (written to ``<path>.part`` and renamed when complete) or a binary
    stream.
    """
    if chunk_pages < 1:
        raise ValueError("chunk_pages must be at least 1")
    painter = _painter_for(_layout(layout))
    report = StreamReport()
    if isinstance(out, (str, os.PathLike)):
        path = Path(out)
        tmp = path.with_name(path.name + ".part")
        with open(tmp, "wb") as f:
            with _PdfConcat(f) as w:
                _stream_chunks(documents, painter, w, report, chunk_pages)
            report.bytes_written = w.pos
        os.replace(tmp, path)
        report.files.append(path)
    else:
        with _PdfConcat(out) as w:
            _stream_chunks(documents, painter, w, report, chunk_pages)
        report.bytes_written = w.pos
    return report


def _default_filename(index: int, doc: Any) -> str:
    kind = "certificate" if isinstance(doc, CertificateData) else "notice"
    return f"{index + 1:06d}_{kind}_{doc.symbol}-{doc.number}-{doc.branch}.pdf"


def render_to_files(
    documents: Iterable[Document],
    layout: Layout | str | os.PathLike[str],
    directory: str | os.PathLike[str],
    *,
    filename: Callable[[int, Any], str] = _default_filename,
) -> StreamReport:
    """Render each document into its own PDF in ``directory`` (created if needed), streaming.

    ``filename(index, document)`` names each file (default
    ``000001_notice_<記号>-<番号>-<枝番>.pdf``).  Files are written atomically.
    """
    painter = _painter_for(_layout(layout))
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    report = StreamReport()
    for i, doc in enumerate(documents):
        buf = io.BytesIO()
        c = _new_canvas(buf, painter)
        report.warnings.extend(_draw_document(c, painter, doc))
        c.save()
        data = buf.getvalue()
        path = directory / filename(i, doc)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        report.files.append(path)
        report.documents += 1
        report.pages += 1
        report.bytes_written += len(data)
    return report


# ---------------------------------------------------------------------------
# Streaming concatenation of reportlab PDFs
# ---------------------------------------------------------------------------

_OBJ_HEAD = re.compile(rb"(\d+) 0 obj")
_REF = re.compile(rb"(?<![\w.])(\d+) 0 R(?!\w)")
_STREAM = re.compile(rb">>\s*stream\r?\n")
_TAG = re.compile(rb"/([A-Z]{6})\+")


def _tag(n: int) -> bytes:
    letters = []
    for _ in range(6):
        n, r = divmod(n, 26)
        letters.append(65 + r)
    return bytes(reversed(letters))


class _PdfConcat:
    """Append reportlab-made PDFs to one output PDF as they come, keeping only offsets.

    Each part's objects are renumbered and copied; the part's page tree becomes a
    child of the output's root page tree; its catalog and info are dropped.  Font
    subset tags are renamed per part so no two different subsets share a name.
    Works on reportlab's own output (classic xref table, no object streams).
    """

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.pos = 0
        self.offsets: dict[int, int] = {}
        self.next_num = 3  # 1: catalog, 2: root page tree (written at the end)
        self.kids: list[int] = []
        self.count = 0
        self.parts = 0
        self.digest = hashlib.md5(usedforsecurity=False)
        self._write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            self.close()

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self.digest.update(data)
        self.pos += len(data)

    def add(self, pdf: bytes) -> None:
        sx = pdf.rindex(b"startxref")
        xref_at = int(pdf[sx + 9:].split()[0])
        trailer = pdf[pdf.index(b"trailer", xref_at):sx]
        root = int(re.search(rb"/Root (\d+) 0 R", trailer).group(1))
        info_m = re.search(rb"/Info (\d+) 0 R", trailer)
        info = int(info_m.group(1)) if info_m else -1
        lines = pdf[xref_at:pdf.index(b"trailer", xref_at)].split(b"\n")
        first, count = (int(v) for v in lines[1].split())
        offsets: list[tuple[int, int]] = []
        for i, line in enumerate(lines[2:2 + count]):
            off, _gen, kind = line.split()[:3]
            if kind == b"n":
                offsets.append((int(off), first + i))
        offsets.sort()
        bodies: dict[int, bytes] = {}
        for j, (off, num) in enumerate(offsets):
            end = offsets[j + 1][0] if j + 1 < len(offsets) else xref_at
            bodies[num] = pdf[off:end]
        pages_root = int(re.search(rb"/Pages (\d+) 0 R", bodies[root]).group(1))
        mapping: dict[int, int] = {}
        for _off, num in offsets:
            if num not in (root, info):
                mapping[num] = self.next_num
                self.next_num += 1
        part = self.parts
        self.parts += 1

        def renum(m: re.Match[bytes]) -> bytes:
            return b"%d 0 R" % mapping[int(m.group(1))]

        def retag(m: re.Match[bytes]) -> bytes:
            old = 0
            for ch in m.group(1):
                old = old * 26 + (ch - 65)
            return b"/" + _tag(part * 4096 + old % 4096) + b"+"

        for _off, num in offsets:
            if num not in mapping:
                continue
            body = bodies[num]
            head = _OBJ_HEAD.match(body)
            body = body[head.end():]
            sm = _STREAM.search(body)
            dict_part, rest = (body[:sm.start() + 2], body[sm.start() + 2:]) if sm else (body, b"")
            dict_part = _REF.sub(renum, dict_part)
            if part:
                dict_part = _TAG.sub(retag, dict_part)
            if num == pages_root:
                k = dict_part.index(b"<<")
                dict_part = dict_part[:k + 2] + b"\n/Parent 2 0 R" + dict_part[k + 2:]
                self.count += int(re.search(rb"/Count (\d+)", dict_part).group(1))
                self.kids.append(mapping[num])
            self.offsets[mapping[num]] = self.pos
            self._write(b"%d 0 obj" % mapping[num] + dict_part + rest)

    def close(self) -> None:
        self.offsets[1] = self.pos
        self._write(b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R /PageMode /UseNone >>\nendobj\n")
        self.offsets[2] = self.pos
        kids = b" ".join(b"%d 0 R" % k for k in self.kids)
        self._write(b"2 0 obj\n<< /Type /Pages /Kids [ %s ] /Count %d >>\nendobj\n" % (kids, self.count))
        xref_at = self.pos
        ident = self.digest.hexdigest().encode()
        rows = [b"xref\n0 %d\n" % self.next_num, b"0000000000 65535 f \n"]
        rows += [b"%010d 00000 n \n" % self.offsets[n] for n in range(1, self.next_num)]
        self._write(b"".join(rows))
        self._write(b"trailer\n<< /Size %d /Root 1 0 R /ID [<%s><%s>] >>\nstartxref\n%d\n%%%%EOF\n"
                    % (self.next_num, ident, ident, xref_at))

