"""Parsing and normalising the values of a notification row (pure; no database).

Each parser returns the normalised value or raises :class:`FieldError` with a
reason a clerk can act on.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from onshi.numbers import messages
from onshi.numbers._util import HALF_WIDTH
from onshi.rules import wareki

_HIRA_TO_KATA = {cp: cp + 0x60 for cp in range(0x3041, 0x3097)}


class FieldError(ValueError):
    """A value that cannot be accepted.

    ``reason`` says why in Japanese — what a clerk reads on a screen, in the quarantine and in the intake report;
    ``english`` says it for logs and the API's machine-readable errors; ``str()`` carries both.
    """

    def __init__(self, reason: str, english: str = ""):
        if not english:  # one "日本語 (english)" string
            reason, english = messages.japanese(reason), messages.english(reason)
        super().__init__(f"{reason} ({english})" if english != reason else reason)
        self.reason = reason
        self.english = english


def half_width(value: str) -> str:
    """全角英数字・記号を半角に (kana untouched) and strip surrounding spaces."""
    return value.translate(HALF_WIDTH).strip()


def parse_date(value: str) -> date:
    """A date in any form people type (西暦, 和暦, full width), era boundaries enforced — the one entry for intake
    files, the CLI and the web forms; the reading itself is :func:`onshi.rules.wareki.parse_date`.

    >>> parse_date("R8.12.5"), parse_date("令和元年5月1日")
    (datetime.date(2026, 12, 5), datetime.date(2019, 5, 1))
    >>> parse_date("H31.5.1")
    Traceback (most recent call last):
    ...
    onshi.registry.fields.FieldError: 平成は31年4月30日までです (Heisei ended on 2019-04-30)
    """
    try:
        return wareki.parse_date(value)
    except wareki.DateError as exc:
        raise FieldError(exc.ja, exc.en) from None


def parse_month(value: str) -> date:
    """A month as YYYY-MM, YYYYMM, R8.12, 令和8年12月 or a full date; returns its first day."""
    try:
        return wareki.parse_month(value)
    except wareki.DateError as exc:
        raise FieldError(exc.ja, exc.en) from None


def date_message(label: str, value: str, exc: FieldError) -> str:
    """``生年月日「H31.5.1」: 平成は31年4月30日までです`` — a refused value named with its field, for screens."""
    return f"{label}「{value}」: {exc.reason}" if str(value).strip() else f"{label}: {exc.reason}"


_KATAKANA = re.compile(r"^[\u30A0-\u30FF\u3000 ]+$")
# Already as parse_kana returns it: full-width katakana, words apart by one full-width space, nothing to normalise.
_KATAKANA_WORDS = re.compile("[\u30A0-\u30FF]+(?:\u3000[\u30A0-\u30FF]+)*")


def single_spaced(value: str) -> bool:
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
        raise FieldError("フリガナが空です", "kana reading is empty")
    if not _KATAKANA.match(text):
        bad = next(ch for ch in text if not _KATAKANA.match(ch))
        raise FieldError(f"フリガナにカタカナ以外の文字 「{bad}」 があります", "kana must be katakana")
    return text


def parse_name(value: str) -> str:
    text = value if single_spaced(value) else re.sub(r"[ \u3000]+", "\u3000", value.strip())
    if not text:
        raise FieldError("氏名が空です", "name is empty")
    # printable text has no control/format characters (category C); only the rest needs the per-character look
    if not text.replace("\u3000", "").isprintable() and any(unicodedata.category(ch).startswith("C") for ch in text):
        raise FieldError("氏名に制御文字があります", "name contains a control character")
    if len(text) > 100:
        raise FieldError("氏名が長すぎます", "name longer than 100 characters")
    return text


def parse_sex(value: str) -> int:
    """性別 (OQSCD007): 1 男, 2 女, 3 未設定."""
    text = half_width(value)
    mapping = {"1": 1, "2": 2, "3": 3, "男": 1, "女": 2, "M": 1, "F": 2}
    if text not in mapping:
        raise FieldError("性別は 1(男) 2(女) 3(未設定) のいずれかです", "sex must be 1, 2 or 3")
    return mapping[text]


def parse_postal_code(value: str) -> str | None:
    text = half_width(value).replace("〒", "").strip()
    if not text:
        return None
    digits = text.replace("-", "")
    if not re.fullmatch(r"\d{7}", digits):
        raise FieldError("郵便番号は7桁です", "postal code must have 7 digits")
    return f"{digits[:3]}-{digits[3:]}"


def parse_yen(value: str) -> int:
    text = half_width(value).replace(",", "").replace("円", "")
    if not re.fullmatch(r"\d{1,9}", text):
        raise FieldError("金額は円単位の整数です", "amount must be whole yen")
    return int(text)


def parse_flag(value: str) -> bool:
    text = half_width(value).lower()
    if text in ("", "0", "false", "no", "いいえ"):
        return False
    if text in ("1", "true", "yes", "はい"):
        return True
    raise FieldError("0 か 1 で書いてください", "flag must be 0 or 1")


def parse_address(value: str) -> str | None:
    text = value if single_spaced(value) else re.sub(r"[ \u3000]+", "\u3000", value.strip())
    return text or None
