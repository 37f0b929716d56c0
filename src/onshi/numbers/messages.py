"""Bilingual messages, ``日本語 (english)``: the Japanese for people's screens, the English for logs and the API.

Errors of the number modules, the notification-row parsers and the intake file checks are written as
``"保険者番号の検証番号が一致しません (check digit)"``: the Japanese a clerk reads, then in parentheses the English
an API client or a log reader gets.  :func:`japanese` takes the English out (nested too) and :func:`english` gives it.

>>> japanese("保険者番号の検証番号が一致しません (check digit)")
'保険者番号の検証番号が一致しません'
>>> japanese("保険者番号が正しくありません (保険者番号は8桁(国保は6桁)です (7 digits given; length must be 8))")
'保険者番号が正しくありません (保険者番号は8桁(国保は6桁)です)'
>>> japanese("性別は 1(男) 2(女) 3(未設定) のいずれかです"), japanese("記号に使えない文字 「●」 (U+25CF) があります")
('性別は 1(男) 2(女) 3(未設定) のいずれかです', '記号に使えない文字 「●」 があります')
>>> english("都道府県番号 48 はありません (prefecture must be 01–47)")
'prefecture must be 01–47'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["RowError", "english", "japanese"]


@dataclass(frozen=True)
class RowError:
    """One refused row of a file a person handed in: where (the row as a spreadsheet counts it, the column), what
    (the value) and why (Japanese, English beside).  The one class of every intake: the registry's notifications,
    the claims and the analytics imports.

    >>> str(RowError(3, "month", "2024-13", "診療年月は YYYY-MM で書いてください (month must be YYYY-MM)"))
    "3行目 month='2024-13': 診療年月は YYYY-MM で書いてください (month must be YYYY-MM)"
    """

    row: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.row}行目 {self.column}={self.value!r}: {self.reason}"

# a parenthesised run of Latin text (letters, digits, ASCII punctuation, dashes) with at least one letter
_ENGLISH = re.compile(r"\s?\((?=[^()]*[A-Za-z])[ -'*-~–—]*\)")


def japanese(text: str) -> str:
    """*text* without its English parentheses."""
    text = str(text)
    while True:
        shorter = _ENGLISH.sub("", text)
        if shorter == text:
            return text.strip()
        text = shorter


def english(text: str) -> str:
    """The English of a ``日本語 (english)`` message (the last parenthesised Latin run), or *text* itself."""
    found = _ENGLISH.findall(str(text))
    return found[-1].strip()[1:-1] if found else str(text)
