"""The painter: one layout drawn with reportlab onto a canvas.

Owns the fonts (IPAex Gothic, embedded as TrueType subsets; the file ships with the
``japanize-matplotlib`` package; licence: IPA Font License v1.0), the drawing of a
layout's rectangles, lines and texts with their ``{field}`` placeholders filled, the
fitting of a text to its box (shrunk to ``min_size``, or wrapped with 禁則 and cut at
``max_lines``), the 外字 (gaiji) policy applied to free-text fields
(:func:`clean_values`, see :mod:`onshi.documents.gaiji`), and the warnings raised
while drawing (:class:`Context`).

Canvases are made in reportlab ``invariant`` mode (fixed dates and document id), so
the same data and layout give byte-identical PDF.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from collections.abc import Mapping
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

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
from onshi.documents.render.data import RenderWarning
from onshi.rules.wareki import format_date

__all__ = [
    "BUILTIN_FONT",
    "Context",
    "Painter",
    "as_layout",
    "builtin_font_path",
    "check_kind",
    "clean_values",
    "new_canvas",
    "painter_for",
    "register_font",
    "show_page",
]

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
def register_font(spec: str) -> str:
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


class Painter:
    """A layout made ready to draw: fonts registered, templates parsed, once."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.font = register_font(layout.font)
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

    def parts(self, template: str) -> list[tuple[str, str | None]]:
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
        missing = sorted({ch for t in texts for lit, _ in self.parts(t) for ch in lit
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

    def draw(self, c: rl_canvas.Canvas, ctx: Context) -> None:
        """Draw one page of the layout (carrier, crop marks, elements)."""
        page = self.layout.page
        self.elements(c, self.layout.carrier, ctx, offset=False)
        if page.crop_marks and page.content_size:
            self._crop_marks(c)
        self.elements(c, self.layout, ctx, offset=True)

    def _visible(self, el: Any, ctx: Context) -> bool:
        if el.when is not None and not self.options[el.when]:
            return False
        return el.unless_blank is None or not ctx.blank(el.unless_blank)

    def elements(self, c: rl_canvas.Canvas, els: Elements | Layout, ctx: Context, *, offset: bool) -> None:
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
                self.text(c, t, ctx.fill(self.parts(t.text), t), ctx, offset)

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

    def text(self, c: rl_canvas.Canvas, t: Text | Any, s: str, ctx: Context, offset: bool,
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


class Context:
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


def clean_values(values: dict[str, Any], ctx: Context) -> dict[str, Any]:
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


def check_kind(layout: Layout, kind: str) -> None:
    if layout.kind != kind:
        raise LayoutError(f"layout {layout.name!r} is a {layout.kind} layout, not a {kind} layout")


@lru_cache(maxsize=32)
def painter_for(layout: Layout) -> Painter:
    return Painter(layout)


def as_layout(layout: Layout | str | os.PathLike[str]) -> Layout:
    return layout if isinstance(layout, Layout) else load_layout(layout)


def new_canvas(buf: BinaryIO, painter: Painter) -> rl_canvas.Canvas:
    c = rl_canvas.Canvas(
        buf, pagesize=(painter.page_w, painter.page_h), invariant=1, pageCompression=1,
        initialFontName=painter.font, initialFontSize=9,
    )
    c.setCreator("onshi")
    c.setTitle(painter.layout.name)
    return c


def set_metadata(c: rl_canvas.Canvas, *, title: str, author: str, issue, subject: str | None = None) -> None:
    """What a PDF viewer shows of the document: a Japanese title, the insurer as author, and the issue date as its
    creation date (midnight in Japan) — derived from the data, so the output stays byte-identical for a reprint."""
    c.setTitle(title)
    c.setAuthor(author)
    if subject:
        c.setSubject(subject)
    stamp = f"D:{issue:%Y%m%d}000000+09'00'"
    c._doc.info._dateFormatter = lambda *_ymdhms: stamp  # noqa: SLF001 - reportlab has no public setter


def show_page(c: rl_canvas.Canvas) -> None:
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
