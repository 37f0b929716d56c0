"""Parsing and normalising the values of a notification row (pure; no database).

Each parser returns the normalised value or raises :class:`FieldError` with a
reason a clerk can act on.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from onshi.numbers._util import HALF_WIDTH

_HIRA_TO_KATA = {cp: cp + 0x60 for cp in range(0x3041, 0x3097)}


class FieldError(ValueError):
    """A value that cannot be accepted; ``reason`` says why in Japanese and English."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


_DATE_PATTERNS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)


def half_width(value: str) -> str:
    """全角英数字・記号を半角に (kana untouched) and strip surrounding spaces."""
    return value.translate(HALF_WIDTH).strip()


def parse_date(value: str) -> date:
    text = half_width(value)
    for pattern in _DATE_PATTERNS:
        m = pattern.match(text)
        if m:
            y, mo, d = (int(g) for g in m.groups())
            try:
                return date(y, mo, d)
            except ValueError:
                raise FieldError(f"存在しない日付です (no such date: {y}-{mo:02d}-{d:02d})") from None
    raise FieldError("日付は YYYY-MM-DD か YYYYMMDD で書いてください (date must be YYYY-MM-DD or YYYYMMDD)")


def parse_month(value: str) -> date:
    """A month as YYYY-MM, YYYYMM or a full date; returns its first day."""
    text = half_width(value)
    m = re.match(r"^(\d{4})[-/]?(\d{2})$", text)
    if m:
        y, mo = int(m.group(1)), int(m.group(2))
        if not 1 <= mo <= 12:
            raise FieldError(f"月が範囲外です (month out of range: {mo})")
        return date(y, mo, 1)
    return parse_date(text).replace(day=1)


_KATAKANA = re.compile(r"^[\u30A0-\u30FF\u3000 ]+$")
# Already as parse_kana returns it: full-width katakana, words apart by one full-width space, nothing to normalise.
_KATAKANA_WORDS = re.compile("[\u30A0-\u30FF]+(?:\u3000[\u30A0-\u30FF]+)*")


def _single_spaced(value: str) -> bool:
    """Whether *value* has no surrounding white space and its inner spaces are single full-width ones already:
    then ``re.sub(r"[ \\u3000]+", "\\u3000", value.strip())`` would give it back unchanged."""
    return (bool(value) and not value[0].isspace() and not value[-1].isspace() and " " not in value
            and "\u3000\u3000" not in value)


def parse_kana(value: str) -> str:
    """フリガナ: accepts half-width katakana and hiragana, returns full-width katakana with one full-width space."""
    if _KATAKANA_WORDS.fullmatch(value) and unicodedata.is_normalized("NFKC", value):
        return value  # the usual case, and what the steps below would return
    text = unicodedata.normalize("NFKC", value).strip().translate(_HIRA_TO_KATA)
    text = re.sub(r"[ \u3000]+", "\u3000", text)
    if not text:
        raise FieldError("フリガナが空です (kana reading is empty)")
    if not _KATAKANA.match(text):
        bad = next(ch for ch in text if not _KATAKANA.match(ch))
        raise FieldError(f"フリガナにカタカナ以外の文字 「{bad}」 があります (kana must be katakana)")
    return text


def parse_name(value: str) -> str:
    text = value if _single_spaced(value) else re.sub(r"[ \u3000]+", "\u3000", value.strip())
    if not text:
        raise FieldError("氏名が空です (name is empty)")
    # printable text has no control/format characters (category C); only the rest needs the per-character look
    if not text.replace("\u3000", "").isprintable() and any(unicodedata.category(ch).startswith("C") for ch in text):
        raise FieldError("氏名に制御文字があります (name contains a control character)")
    if len(text) > 100:
        raise FieldError("氏名が長すぎます (name longer than 100 characters)")
    return text


def parse_sex(value: str) -> int:
    """性別 (OQSCD007): 1 男, 2 女, 3 未設定."""
    text = half_width(value)
    mapping = {"1": 1, "2": 2, "3": 3, "男": 1, "女": 2, "M": 1, "F": 2}
    if text not in mapping:
        raise FieldError("性別は 1(男) 2(女) 3(未設定) のいずれかです (sex must be 1, 2 or 3)")
    return mapping[text]


def parse_postal_code(value: str) -> str | None:
    text = half_width(value).replace("〒", "").strip()
    if not text:
        return None
    digits = text.replace("-", "")
    if not re.fullmatch(r"\d{7}", digits):
        raise FieldError("郵便番号は7桁です (postal code must have 7 digits)")
    return f"{digits[:3]}-{digits[3:]}"


def parse_yen(value: str) -> int:
    text = half_width(value).replace(",", "").replace("円", "")
    if not re.fullmatch(r"\d{1,9}", text):
        raise FieldError("金額は円単位の整数です (amount must be whole yen)")
    return int(text)


def parse_flag(value: str) -> bool:
    text = half_width(value).lower()
    if text in ("", "0", "false", "no", "いいえ"):
        return False
    if text in ("1", "true", "yes", "はい"):
        return True
    raise FieldError("0 か 1 で書いてください (flag must be 0 or 1)")


def parse_address(value: str) -> str | None:
    text = value if _single_spaced(value) else re.sub(r"[ \u3000]+", "\u3000", value.strip())
    return text or None
