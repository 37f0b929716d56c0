"""Japanese era dates (和暦) and Western-calendar dates (西暦) for printed documents.

Eras and the first day of each, in the Gregorian calendar.  Japan adopted the
Gregorian calendar on 明治6年1月1日 (1873-01-01); earlier dates were lunisolar,
so this module refuses dates before 1873 instead of printing a wrong 和暦.

===== ======= ============
era   letter  first day
===== ======= ============
明治  M       1868-10-23 (dates from 1873-01-01 only, see above)
大正  T       1912-07-30
昭和  S       1926-12-25
平成  H       1989-01-08
令和  R       2019-05-01
===== ======= ============

The first year of an era is written 元年 in the styles meant for people:

>>> from datetime import date
>>> format_date(date(2026, 11, 22), "wareki")
'令和8年11月22日'
>>> format_date(date(2019, 5, 1), "wareki")
'令和元年5月1日'
>>> format_date(date(1989, 1, 7), "wareki")
'昭和64年1月7日'
>>> format_date(date(1970, 1, 1), "wareki")
'昭和45年1月1日'
>>> format_date(date(2026, 11, 22), "seireki")
'2026年11月22日'
>>> format_date(date(2019, 5, 1), "wareki_short")
'R1.5.1'
>>> format_date(date(2026, 1, 5), "wareki_padded")
'令和 8年 1月 5日'
>>> format_date(date(2026, 11, 22), "wareki_seireki")
'令和8年(2026年)11月22日'
>>> format_date(date(2026, 11, 22), "iso")
'2026-11-22'
>>> format_date(None, "wareki")
''
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

__all__ = ["DATE_STYLES", "ERAS", "Era", "era_of", "format_date", "format_seireki", "format_wareki"]


@dataclass(frozen=True)
class Era:
    """One Japanese era (元号): its name, its one-letter abbreviation and its first day."""

    name: str
    letter: str
    start: date


#: Eras, newest first (looked up in this order).
ERAS: tuple[Era, ...] = (
    Era("令和", "R", date(2019, 5, 1)),
    Era("平成", "H", date(1989, 1, 8)),
    Era("昭和", "S", date(1926, 12, 25)),
    Era("大正", "T", date(1912, 7, 30)),
    Era("明治", "M", date(1868, 10, 23)),
)

#: The earliest date printed in 和暦 (Gregorian calendar adopted in Japan).
GREGORIAN_ADOPTION = date(1873, 1, 1)


def era_of(d: date) -> tuple[Era, int]:
    """Return the era of ``d`` and the year within it (1 for 元年).

    >>> era, year = era_of(date(1989, 1, 8))
    >>> era.name, year
    ('平成', 1)
    """
    if d < GREGORIAN_ADOPTION:
        raise ValueError(f"{d.isoformat()} is before 1873-01-01: no Gregorian 和暦 exists for it")
    for era in ERAS:
        if d >= era.start:
            return era, d.year - era.start.year + 1
    raise AssertionError("unreachable")  # pragma: no cover


def format_wareki(d: date, *, gannen: bool = True, padded: bool = False) -> str:
    """``令和8年11月22日``; year 1 as ``元年`` unless ``gannen=False``.

    ``padded`` right-aligns year, month and day in two columns (a space before a
    one-digit number), for boxes where dates must line up.
    """
    era, year = era_of(d)
    if padded:
        y = "元" if (year == 1 and gannen) else f"{year:>2}"
        return f"{era.name}{y}年{d.month:>2}月{d.day:>2}日"
    y = "元" if (year == 1 and gannen) else str(year)
    return f"{era.name}{y}年{d.month}月{d.day}日"


def format_seireki(d: date) -> str:
    """``2026年11月22日``."""
    return f"{d.year}年{d.month}月{d.day}日"


def _wareki_short(d: date) -> str:
    era, year = era_of(d)
    return f"{era.letter}{year}.{d.month}.{d.day}"


def _wareki_seireki(d: date) -> str:
    era, year = era_of(d)
    y = "元" if year == 1 else str(year)
    return f"{era.name}{y}年({d.year}年){d.month}月{d.day}日"


#: Date styles a layout can name (``date_style = "wareki"``).
DATE_STYLES = {
    "wareki": format_wareki,  # 令和8年11月22日 / 令和元年5月1日
    "wareki_padded": lambda d: format_wareki(d, padded=True),  # 令和 8年 1月 5日
    "wareki_short": _wareki_short,  # R8.11.22
    "wareki_seireki": _wareki_seireki,  # 令和8年(2026年)11月22日
    "seireki": format_seireki,  # 2026年11月22日
    "iso": date.isoformat,  # 2026-11-22
}


def format_date(d: date | None, style: str = "wareki") -> str:
    """Format ``d`` in one of :data:`DATE_STYLES`; ``None`` gives an empty string."""
    try:
        fmt = DATE_STYLES[style]
    except KeyError:
        raise ValueError(f"unknown date style {style!r}; use one of {', '.join(DATE_STYLES)}") from None
    if d is None:
        return ""
    return fmt(d)
