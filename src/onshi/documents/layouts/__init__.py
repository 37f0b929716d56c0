"""Layouts: the templates of the printed documents, one TOML file each.

An insurer changes a document by editing (or deriving from) one of these files,
never the code.  The format is described in ``docs/documents.md``; in short:

* coordinates and sizes in **millimetres from the top-left corner**, ``y`` of a
  text being its **baseline**; font sizes and line widths in points;
* ``[page]`` – paper size, and for a card printed on a larger sheet the card's
  ``origin`` and ``content_size`` with optional crop marks;
* ``[print]`` – the optional items an insurer chooses to print
  (一部負担金の割合, 資格取得年月日, 限度額適用区分, マイナンバー下4桁);
* ``[[rect]]``, ``[[line]]``, ``[[text]]`` – the drawing, placed relative to
  ``page.origin``; ``[[carrier.*]]`` – the same, placed on the sheet itself;
* ``text`` strings hold ``{field}`` placeholders for the document's data;
* ``base = "other_layout"`` starts from another layout: tables are merged key
  by key, arrays (``[[text]]`` …) replace the base's arrays.

:func:`load_layout` validates the file and raises :class:`LayoutError` naming the
file and the bad key (``text[3].size: Input should be a valid number``).
"""

from __future__ import annotations

import string
import tomllib
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from onshi.rules.wareki import DATE_STYLES

__all__ = [
    "DATE_FIELDS",
    "FIELDS",
    "LIST_FIELDS",
    "PAGE_SIZES",
    "Layout",
    "LayoutError",
    "builtin_layouts",
    "load_layout",
]

#: Named paper sizes in mm (portrait).  "card" is the 91 × 55 mm card.
PAGE_SIZES: dict[str, tuple[float, float]] = {
    "A4": (210.0, 297.0),
    "A5": (148.0, 210.0),
    "B5": (182.0, 257.0),
    "card": (91.0, 55.0),
}

_COMMON = {"issue_date", "insurer_name", "insurer_number", "insurer_address", "insurer_contact"}
_PERSON = {
    "name", "name_kana", "birth_date", "symbol", "number", "branch",
    "co_pay_ratio", "qualification_date",
}
#: The placeholders each kind of document can use in its ``text`` strings.
FIELDS: dict[str, frozenset[str]] = {
    "certificate": frozenset(
        _COMMON | _PERSON
        | {"sex", "valid_until", "limit_category", "personal_family", "personal_family_long",
           "insurer_postal_code"}
    ),
    "notice": frozenset(
        _COMMON | _PERSON
        | {"my_number_last4", "postal_code", "address_line1", "address_line2", "employer_name"}
    ),
    "cover": frozenset(
        _COMMON
        | {
            "employer_name", "employer_postal_code", "employer_address_line1",
            "employer_address_line2", "employer_contact", "count", "page", "pages",
        }
    ),
}
#: Placeholders holding dates (formatted with the layout's ``date_style``).
DATE_FIELDS = frozenset({"birth_date", "issue_date", "valid_until", "qualification_date"})
#: Placeholders of one row of the enclosure list (同封者一覧) of a cover layout.
LIST_FIELDS = frozenset({"no", "name", "name_kana", "symbol", "number", "branch"})


class LayoutError(ValueError):
    """A layout file that cannot be used; the message names the file and the key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Page(_Model):
    size: Literal["A4", "A5", "B5", "card"] | tuple[float, float] = "A4"
    landscape: bool = False
    #: Top-left corner (mm) of the content drawn by the top-level elements.
    origin: tuple[float, float] = (0.0, 0.0)
    #: Size (mm) of that content area, e.g. [91, 55] for a card on an A4 sheet.
    content_size: tuple[float, float] | None = None
    #: Draw crop marks (トンボ) around the content area.
    crop_marks: bool = False

    @property
    def size_mm(self) -> tuple[float, float]:
        w, h = PAGE_SIZES[self.size] if isinstance(self.size, str) else self.size
        return (h, w) if self.landscape else (w, h)


class PrintOptions(_Model):
    """Optional items, per insurer (表示は保険者の判断)."""

    co_pay_ratio: bool = True  # 一部負担金の割合
    qualification_date: bool = True  # 資格取得年月日
    limit_category: bool = True  # 限度額適用区分 (printed only when the data has one)
    my_number_last4: bool = True  # マイナンバー下4桁 (お知らせ)


class _Element(_Model):
    #: Draw only when this ``[print]`` option is true.
    when: str | None = None
    #: Draw only when this field has a value.
    unless_blank: str | None = None


class Rect(_Element):
    x: float
    y: float
    w: float
    h: float
    line_width: float = 0.5  # pt
    fill: float | None = None  # grey level 0 (black) … 1 (white)
    stroke: bool = True
    radius: float = 0.0
    dash: tuple[float, ...] | None = None  # mm on, mm off


class Line(_Element):
    x1: float
    y1: float
    x2: float
    y2: float
    line_width: float = 0.5
    dash: tuple[float, ...] | None = None


class Text(_Element):
    x: float
    y: float  # baseline
    text: str
    size: float = 9.0
    align: Literal["left", "center", "right"] = "left"
    #: Width (mm) the text must fit in: shrunk down to ``min_size``, then flagged.
    max_width: float | None = None
    min_size: float | None = None  # default 60 % of size
    #: Wrap into lines of ``max_width`` (Japanese: any character may break, 禁則 kept).
    wrap: bool = False
    leading: float | None = None  # pt, default 1.45 × size
    max_lines: int | None = None
    bold: bool = False
    char_space: float = 0.0  # pt between characters
    grey: float = 0.0
    date_style: str | None = None


class Elements(_Model):
    rect: tuple[Rect, ...] = ()
    line: tuple[Line, ...] = ()
    text: tuple[Text, ...] = ()


class ListColumn(_Model):
    title: str
    text: str
    x: float
    width: float
    align: Literal["left", "center", "right"] = "left"


class ListSpec(_Model):
    """The enclosure list (同封者一覧) of a cover layout."""

    top: float = 40.0  # mm, top of the header row
    left: float = 15.0
    right: float = 195.0
    row_height: float = 7.0
    rows_per_page: int = Field(30, ge=1)
    size: float = 9.0
    header_fill: float = 0.88
    column: tuple[ListColumn, ...]
    page: Elements = Elements()  # drawn on every list page (title, page number …)


class Layout(_Model):
    name: str
    kind: Literal["certificate", "notice", "cover"]
    description: str = ""
    base: str | None = None
    #: "IPAexGothic" (built in) or a path to a TrueType font, relative to the layout file.
    font: str = "IPAexGothic"
    date_style: str = "wareki"
    page: Page = Page()
    print_options: PrintOptions = Field(PrintOptions(), alias="print")
    rect: tuple[Rect, ...] = ()
    line: tuple[Line, ...] = ()
    text: tuple[Text, ...] = ()
    carrier: Elements = Elements()
    list: ListSpec | None = None
    #: Where the file was read from (set by the loader).
    source: str = ""

    @model_validator(mode="after")
    def _check_references(self) -> Layout:
        errors: list[str] = []
        if self.date_style not in DATE_STYLES:
            errors.append(f"date_style: unknown style {self.date_style!r} (use one of {', '.join(DATE_STYLES)})")
        fields = FIELDS[self.kind]
        options = set(PrintOptions.model_fields)

        def check(prefix: str, els: Elements | Layout, known: frozenset[str]) -> None:
            for kind in ("rect", "line", "text"):
                for i, el in enumerate(getattr(els, kind)):
                    where = f"{prefix}{kind}[{i}]"
                    if el.when is not None and el.when not in options:
                        errors.append(f"{where}.when: {el.when!r} is not a [print] option ({', '.join(sorted(options))})")
                    if el.unless_blank is not None and el.unless_blank not in known:
                        errors.append(f"{where}.unless_blank: unknown field {el.unless_blank!r}")
                    if kind == "text":
                        if el.date_style is not None and el.date_style not in DATE_STYLES:
                            errors.append(f"{where}.date_style: unknown style {el.date_style!r}")
                        if el.wrap and el.max_width is None:
                            errors.append(f"{where}.wrap: needs max_width")
                        errors.extend(_template_errors(f"{where}.text", el.text, known))

        check("", self, fields)
        check("carrier.", self.carrier, fields)
        if self.list is not None:
            if self.kind != "cover":
                errors.append("list: only a cover layout has an enclosure list")
            else:
                check("list.page.", self.list.page, fields)
                for i, col in enumerate(self.list.column):
                    errors.extend(_template_errors(f"list.column[{i}].text", col.text, LIST_FIELDS))
        if errors:
            raise ValueError("; ".join(errors))
        return self

    @property
    def fields_used(self) -> frozenset[str]:
        """Every placeholder any text of this layout refers to."""
        used: set[str] = set()
        for els in (self, self.carrier, *( [self.list.page] if self.list else [] )):
            for t in els.text:
                used.update(f for _, f in template_parts(t.text) if f)
        return frozenset(used)


def template_parts(template: str) -> list[tuple[str, str | None]]:
    """Split ``"氏名 {name}"`` into ``[("氏名 ", "name")]`` (literal, field or None)."""
    return [(lit, field) for lit, field, _spec, _conv in string.Formatter().parse(template)]


def _template_errors(where: str, template: str, known: frozenset[str]) -> list[str]:
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        return [f"{where}: {exc} (write a literal brace as {{{{ or }}}})"]
    errs = []
    for _lit, field, spec, conv in parts:
        if field is None:
            continue
        if spec or conv:
            errs.append(f"{where}: {{{field}}} takes no format spec or conversion")
        if field not in known:
            errs.append(f"{where}: unknown field {{{field}}} (known: {', '.join(sorted(known))})")
    return errs


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def builtin_layouts() -> list[str]:
    """Names of the layouts shipped in this folder."""
    return sorted(p.name[:-5] for p in resources.files(__package__).iterdir() if p.name.endswith(".toml"))


def _resolve(name_or_path: str | Path, relative_to: Path | None) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" or len(p.parts) > 1:
        if not p.is_absolute() and relative_to is not None:
            p = relative_to / p
        if not p.exists():
            raise LayoutError(f"layout file {str(p)!r} not found")
        return p
    # A bare name: a layout next to the referring file, else a built-in one.
    if relative_to is not None and (relative_to / f"{name_or_path}.toml").exists():
        return relative_to / f"{name_or_path}.toml"
    builtin = Path(str(resources.files(__package__) / f"{name_or_path}.toml"))
    if not builtin.exists():
        raise LayoutError(f"no layout named {str(name_or_path)!r}; built-in layouts: {', '.join(builtin_layouts())}")
    return builtin


def _read(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    if path in seen:
        raise LayoutError(f"layout {str(path)!r}: base chain loops ({' -> '.join(map(str, seen + (path,)))})")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise LayoutError(f"layout {str(path)!r}: not valid TOML: {exc}") from None
    base = data.get("base")
    if base is not None:
        if not isinstance(base, str):
            raise LayoutError(f"layout {str(path)!r}: base: must be a layout name or path")
        try:
            base_path = _resolve(base, path.parent)
        except LayoutError as exc:
            raise LayoutError(f"layout {str(path)!r}: base: {exc}") from None
        parent = _read(base_path, seen + (path,))
        parent.pop("name", None)
        parent.pop("description", None)
        data = _merge(parent, data)
    return data


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def load_layout(name_or_path: str | Path) -> Layout:
    """Load and validate a layout: a built-in name (``"kyokai_notice"``) or a path to a TOML file.

    Built-in names and unchanged files are cached.  Raises :class:`LayoutError`.
    """
    path = _resolve(name_or_path, None)
    return _load_cached(path.resolve(), path.stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _load_cached(path: Path, _mtime: int) -> Layout:
    data = _read(path)
    data.setdefault("name", path.stem)
    data["source"] = str(path)
    try:
        layout = Layout.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = _loc(err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden" and len(err["loc"]) == 2 and err["loc"][-1] in ("rect", "line", "text"):
                msg += " (top-level keys must come before the first [table] header; write page.size = … or move the array up)"
            lines.append(f"{loc}: {msg}" if loc else msg)
        raise LayoutError(f"layout {str(path)!r}: " + "; ".join(lines)) from None
    if layout.font != "IPAexGothic" and not Path(layout.font).is_absolute():
        layout = layout.model_copy(update={"font": str((path.parent / layout.font).resolve())})
    return layout
