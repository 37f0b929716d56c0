"""Japanese era dates (和暦) and Western-calendar dates (西暦): the one era table, printing and reading.

Pure (no import from the rest of onshi): documents print with :func:`format_date`, every input edge (web forms,
the bulk upload, intake files through ``onshi.registry.fields``, the CLI) reads with :func:`parse_date`.

Eras and the first day of each, in the Gregorian calendar (元号法 昭和54年法律第43号; the first days by the
改元 of each era: 明治45年7月30日 大正, 大正15年12月25日 昭和, 元号を改める政令 昭和64年政令第1号 — 平成 from
1989-01-08, 元号を改める政令 平成31年政令第143号 — 令和 from 2019-05-01).  An era ends the day before the next
one begins.  Japan adopted the
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

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = ["DATE_STYLES", "ERAS", "DateError", "Era", "era_of", "format_date", "format_seireki", "format_wareki",
           "parse_date", "parse_month"]


@dataclass(frozen=True)
class Era:
    """One Japanese era (元号): its name, its one-letter abbreviation and its first day."""

    name: str
    letter: str
    start: date
    romaji: str = ""


#: Eras, newest first (looked up in this order).
ERAS: tuple[Era, ...] = (
    Era("令和", "R", date(2019, 5, 1), "Reiwa"),
    Era("平成", "H", date(1989, 1, 8), "Heisei"),
    Era("昭和", "S", date(1926, 12, 25), "Showa"),
    Era("大正", "T", date(1912, 7, 30), "Taisho"),
    Era("明治", "M", date(1868, 10, 23), "Meiji"),
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


# ---------------------------------------------------------------- reading dates as people type them

class DateError(ValueError):
    """A typed date that is not one.  ``ja`` says why for a person (screens, quarantine reasons), ``en`` for logs
    and machine-readable API errors; ``value`` is the text as typed.  :meth:`message` names the field too:

    >>> try:
    ...     parse_date("H31.5.1")
    ... except DateError as exc:
    ...     print(exc.message("生年月日"))
    生年月日「H31.5.1」: 平成は31年4月30日までです
    """

    def __init__(self, value: str, ja: str, en: str):
        super().__init__(f"{ja} ({en})")
        self.value, self.ja, self.en = value, ja, en

    def message(self, label: str) -> str:
        """``生年月日「H31.5.1」: 平成は31年4月30日までです`` — field, value and why, in Japanese."""
        return f"{label}「{self.value}」: {self.ja}" if self.value.strip() else f"{label}: {self.ja}"


_BY_NAME = {e.name: e for e in ERAS}
_BY_LETTER = {e.letter: e for e in ERAS}
#: The day before the next era began (令和 has no end yet).
_LAST_DAY = {ERAS[i].letter: ERAS[i - 1].start - timedelta(days=1) for i in range(1, len(ERAS))}

# after NFKC (full width → half width, ㍻ → 平成) and with spaces removed; [0-9] only, never other scripts' digits
_DASHES = str.maketrans({"‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-", "ー": "-", "・": "."})
_ERA = r"(明治|大正|昭和|平成|令和|[MTSHR])"
_WESTERN = (re.compile(r"([0-9]{4})([-/.])([0-9]{1,2})\2([0-9]{1,2})"),
            re.compile(r"([0-9]{4})()([0-9]{2})([0-9]{2})"),
            re.compile(r"([0-9]{4})(年)([0-9]{1,2})月([0-9]{1,2})日"))
_JAPANESE = (re.compile(_ERA + r"(元|[0-9]{1,3})年([0-9]{1,2})月([0-9]{1,2})日?"),
             re.compile(_ERA + r"(元|[0-9]{1,3})([-/.])([0-9]{1,2})\3([0-9]{1,2})"),
             re.compile(_ERA + r"([0-9]{2})([0-9]{2})([0-9]{2})"))
_WESTERN_MONTH = re.compile(r"([0-9]{4})(?:[-/.]|年)?([0-9]{1,2})月?")
_JAPANESE_MONTH = re.compile(_ERA + r"(元|[0-9]{1,2})(?:[-/.]|年)([0-9]{1,2})月?")
_EXAMPLES = "2026-12-05、20261205、R8.12.5、令和8年12月5日 のように入力してください"


def _normalised(value: str) -> str:
    return unicodedata.normalize("NFKC", value).translate(_DASHES).replace(" ", "").upper()


def _era_year(era: Era, year: int) -> str:
    return "元" if year == 1 else str(year)


def _check_era(value: str, era: Era, year: int, month: int, day: int) -> date:
    """The Gregorian date of ``era`` ``year``.``month``.``day``, or :class:`DateError` if that day is not in the era."""
    if year < 1:
        raise DateError(value, f"{era.name}{year}年はありません（最初の年は元年または1年）",
                        f"era year {year} does not exist; the first year is 1 (gannen)")
    d = _calendar_date(value, era.start.year + year - 1, month, day, f"{era.name}{_era_year(era, year)}年")
    if d < max(era.start, GREGORIAN_ADOPTION):
        first = max(era.start, GREGORIAN_ADOPTION)
        fy = first.year - era.start.year + 1
        raise DateError(value, f"{era.name}は{_era_year(era, fy)}年{first.month}月{first.day}日からです",
                        f"{era.romaji} dates begin on {first.isoformat()}")
    last = _LAST_DAY.get(era.letter)
    if last is not None and d > last:
        ly = last.year - era.start.year + 1
        raise DateError(value, f"{era.name}は{ly}年{last.month}月{last.day}日までです",
                        f"{era.romaji} ended on {last.isoformat()}")
    return d


def _calendar_date(value: str, year: int, month: int, day: int, year_label: str) -> date:
    if not 1 <= month <= 12:
        raise DateError(value, f"存在しない日付です（{month}月はありません）", f"month {month} out of range 1-12")
    if not 1 <= year <= 9999:
        raise DateError(value, f"{year}年は扱えません", f"year {year} out of range")
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        raise DateError(value, f"存在しない日付です（{year_label}{month}月は{last}日まで）",
                        f"no such date: {year:04d}-{month:02d}-{day:02d}")
    return date(year, month, day)


def _era(token: str) -> Era:
    return _BY_NAME.get(token) or _BY_LETTER[token]


def parse_date(value: str) -> date:
    """A date as people type it; :class:`DateError` (and nothing else) for anything that is not a real day.

    西暦 ``2026-12-05``, ``2026/12/5``, ``2026.12.5``, ``20261205``, ``2026年12月5日``; 和暦 with the era's letter
    or name, ``R8.12.5``, ``r8/12/5``, ``R081205``, ``令和8年12月5日``, ``令和元年5月1日``; full-width digits and
    letters (``Ｒ８．１２．５``) and spaces are fine.  A 和暦 date must lie in its era (``H31.5.1``, ``S64.1.8``,
    ``R0.1.1`` are refused), and 明治 dates begin on 明治6年1月1日 (1873-01-01, the Gregorian calendar).

    >>> parse_date("R8.12.5"), parse_date("令和元年5月1日"), parse_date("２０２６－１２－０５")
    (datetime.date(2026, 12, 5), datetime.date(2019, 5, 1), datetime.date(2026, 12, 5))
    >>> parse_date("S64.1.8")
    Traceback (most recent call last):
    ...
    onshi.rules.wareki.DateError: 昭和は64年1月7日までです (Showa ended on 1989-01-07)
    """
    if not isinstance(value, str):
        raise DateError(str(value), "日付ではありません", "not a date")
    text = _normalised(value)
    if not text:
        raise DateError(value, "入力してください", "empty")
    for pattern in _WESTERN:
        m = pattern.fullmatch(text)
        if m:
            y, _, mo, d = m.groups()
            return _calendar_date(value, int(y), int(mo), int(d), f"{int(y)}年")
    for pattern in _JAPANESE:
        m = pattern.fullmatch(text)
        if m:
            era_token, y, *rest = m.groups()
            mo, d = rest[-2], rest[-1]
            return _check_era(value, _era(era_token), 1 if y == "元" else int(y), int(mo), int(d))
    raise DateError(value, f"日付として読めません。{_EXAMPLES}", "not a date: use 2026-12-05, 20261205, R8.12.5 "
                    "or 令和8年12月5日")


def parse_month(value: str) -> date:
    """A month (``2026-12``, ``202612``, ``2026年12月``, ``R8.12``, ``令和8年12月``) or a full date; its first day.

    >>> parse_month("202612"), parse_month("令和元年5月"), parse_month("2026-12-05")
    (datetime.date(2026, 12, 1), datetime.date(2019, 5, 1), datetime.date(2026, 12, 1))
    """
    if not isinstance(value, str):
        raise DateError(str(value), "年月ではありません", "not a month")
    text = _normalised(value)
    m = _WESTERN_MONTH.fullmatch(text)
    if m:
        return _calendar_date(value, int(m.group(1)), int(m.group(2)), 1, f"{int(m.group(1))}年")
    m = _JAPANESE_MONTH.fullmatch(text)
    if m:
        era = _era(m.group(1))
        year, month = (1 if m.group(2) == "元" else int(m.group(2))), int(m.group(3))
        if year >= 1 and 1 <= month <= 12:
            # a month belongs to the era if any of its days does (平成元年1月: the 8th to the 31st)
            y = era.start.year + year - 1
            last = date(y, month, calendar.monthrange(y, month)[1]) if 1 <= y <= 9999 else None
            if last is not None and max(era.start, GREGORIAN_ADOPTION) <= last \
                    and last.replace(day=1) <= _LAST_DAY.get(era.letter, date.max):
                return last.replace(day=1)
        return _check_era(value, era, year, month, 1)
    try:
        return parse_date(value).replace(day=1)
    except DateError:
        raise DateError(value, "年月として読めません。2026-12、202612、R8.12、令和8年12月 のように入力してください",
                        "not a month: use 2026-12, 202612, R8.12 or 令和8年12月") from None
