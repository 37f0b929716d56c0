"""記号・番号・枝番 (the numbers on an insurance card or 資格確認書).

記号 identifies the employer (協会けんぽ: 7–8 digits; some 健康保険組合 use kana
or kanji), 番号 the member (shared by the member's dependents), 枝番 each person
(two digits, printed since 2021).  Values are normalised to half width; symbols
such as ● (seen in 2023 as "invalid characters in numbers") are refused.

>>> compact_symbol('１２３４'), compact_number(' 5698910 '), compact_branch('1')
('1234', '5698910', '01')
>>> validate('1234', '5698910', '01')
InsuredCardNumbers(symbol='1234', number='5698910', branch='01')
>>> compact_number('12●4')
Traceback (most recent call last):
  ...
stdnum.exceptions.InvalidFormat: 番号に使えない文字 「●」 があります (invalid character)
>>> compact_branch('001')
Traceback (most recent call last):
  ...
stdnum.exceptions.InvalidLength: 枝番は2桁です (branch must be 2 digits)
>>> format('1234', '5698910', '01')
'記号 1234 番号 5698910 (枝番) 01'
>>> for_comparison('００１２３')
'123'
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from stdnum.exceptions import InvalidFormat, InvalidLength

from onshi.numbers._util import normalise

MAX_LENGTH = 20
_ALLOWED_SYMBOL = re.compile(r"^[0-9A-Za-z\u3040-\u30ff\u4e00-\u9fff]+$")
_ALLOWED_NUMBER = re.compile(r"^[0-9A-Za-z]+$")


@dataclass(frozen=True)
class InsuredCardNumbers:
    symbol: str
    number: str
    branch: str | None


def _check(value: str, label: str, allowed: re.Pattern) -> str:
    text = unicodedata.normalize("NFKC", normalise(value)) if value else ""
    if not text:
        raise InvalidFormat(f"{label}が空です (empty)")
    bad = next((ch for ch in text if not allowed.match(ch)), None)
    if bad is not None:
        raise InvalidFormat(f"{label}に使えない文字 「{bad}」 があります (invalid character)")
    if len(text) > MAX_LENGTH:
        raise InvalidLength(f"{label}は{MAX_LENGTH}文字以内です (too long)")
    return text


def compact_symbol(value: str) -> str:
    """記号: digits, letters, kana and kanji, half width."""
    return _check(value, "記号", _ALLOWED_SYMBOL)


def compact_number(value: str) -> str:
    """番号: digits and letters, half width."""
    return _check(value, "番号", _ALLOWED_NUMBER)


def compact_branch(value: str) -> str:
    """枝番: exactly two digits ('1' is taken as '01')."""
    text = normalise(value)
    if not text.isdigit() or not text.isascii():
        raise InvalidFormat("枝番は数字2桁です (branch must be digits)")
    if len(text) == 1:
        text = "0" + text
    if len(text) != 2:
        raise InvalidLength("枝番は2桁です (branch must be 2 digits)")
    return text


def validate(symbol: str, number: str, branch: str | None = None) -> InsuredCardNumbers:
    return InsuredCardNumbers(compact_symbol(symbol) if symbol else "", compact_number(number),
                              compact_branch(branch) if branch else None)


def is_valid(symbol: str, number: str, branch: str | None = None) -> bool:
    try:
        validate(symbol, number, branch)
        return True
    except (InvalidFormat, InvalidLength):
        return False


def format(symbol: str, number: str, branch: str | None = None) -> str:
    text = f"記号 {symbol} 番号 {number}"
    return text + (f" (枝番) {branch}" if branch else "")


def for_comparison(value: str) -> str:
    """How OQS clients compare 記号/番号: half width, leading zeros stripped."""
    return normalise(value).lstrip("0")
