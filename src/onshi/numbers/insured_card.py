"""記号・番号・枝番 (the numbers on an insurance card or 資格確認書).

記号 identifies the employer (協会けんぽ: 7–8 digits; some 健康保険組合 use
kana or kanji), 番号 the member (shared by the member's dependents), 枝番 each
person (two digits, printed since 2021).  There is no check digit.

Normalisation: Unicode NFKC (full-width digits and letters become half width,
half-width katakana full width, ① becomes 1), then spaces and hyphens are
removed.  Allowed characters (a choice: no public specification lists them):

* 記号: digits, Latin letters, hiragana, katakana (and ー), kanji (CJK blocks
  incl. extension A/B… and compatibility ideographs such as 﨑, and 々); may
  be empty (some insurers print none); at most 20 characters.
* 番号: digits and Latin letters only; required; at most 20 characters.
* 枝番: exactly two digits ("1" is taken as "01").

Anything else — ●, ＊, symbols, control characters — is refused and named
(seed 001: 「●」 in registered numbers).

>>> compact_symbol('１２３４'), compact_symbol('ｱｲｳ'), compact_symbol('髙橋①'), compact_number(' 5698910 ')
('1234', 'アイウ', '髙橋1', '5698910')
>>> compact_branch('1'), compact_branch('０５')
('01', '05')
>>> validate('1234', '5698910', '01')
InsuredCardNumbers(symbol='1234', number='5698910', branch='01')
>>> compact_number('12●4')
Traceback (most recent call last):
  ...
stdnum.exceptions.InvalidFormat: 番号に使えない文字 「●」 (U+25CF) があります (digits and letters only)
>>> compact_branch('001')
Traceback (most recent call last):
  ...
stdnum.exceptions.InvalidLength: 枝番は2桁です (3 digits given; branch must be 2 digits)
>>> format('1234', '5698910', '01')
'記号 1234 番号 5698910 (枝番) 01'
>>> for_comparison('００１２３')
'123'
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from stdnum.exceptions import InvalidFormat, InvalidLength, ValidationError

from onshi.numbers._util import error, normalise, shown

MAX_LENGTH = 20
_SYMBOL_CHARS = re.compile(r"[0-9A-Za-z\u3041-\u3096\u30a1-\u30fa\u30fc\u3005"
                           r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_NUMBER_CHARS = re.compile(r"[0-9A-Za-z]")


@dataclass(frozen=True)
class InsuredCardNumbers:
    """記号・番号・枝番, normalised.  ``symbol`` is "" when the card has none; ``branch`` None when not given."""

    symbol: str
    number: str
    branch: str | None


def _normalise(value: str) -> str:
    return normalise(value if value.isascii() else unicodedata.normalize("NFKC", value))


def _allowed_as_typed(ch: str, allowed: re.Pattern[str]) -> bool:
    norm = _normalise(ch)
    return all(allowed.fullmatch(c) for c in norm) if norm else ch in " -\u3000－‐"


def _compact(value: str, label: str, allowed: re.Pattern[str], hint: str) -> str:
    if 0 < len(value) <= MAX_LENGTH and value.isascii() and value.isalnum():  # the usual case: nothing to normalise
        return value
    text = _normalise(value)
    if not all(allowed.fullmatch(ch) for ch in text):
        bad = next(ch for ch in value if not _allowed_as_typed(ch, allowed))  # as typed: ㈱, not its "("
        raise error(InvalidFormat, f"{label}に使えない文字 {shown(bad)} があります ({hint})")
    if len(text) > MAX_LENGTH:
        raise error(InvalidLength, f"{label}は{MAX_LENGTH}文字以内です ({len(text)} characters given)")
    return text


def compact_symbol(value: str | None) -> str:
    """記号, normalised; "" when there is none."""
    return _compact(value or "", "記号", _SYMBOL_CHARS, "digits, letters, kana and kanji only")


def compact_number(value: str) -> str:
    """番号, normalised; required."""
    text = _compact(value or "", "番号", _NUMBER_CHARS, "digits and letters only")
    if not text:
        raise error(InvalidFormat, "番号が空です (number is required)")
    return text


def compact_branch(value: str) -> str:
    """枝番: exactly two digits ("1" is taken as "01")."""
    text = normalise(value or "")
    if not (text.isdigit() and text.isascii()):
        raise error(InvalidFormat, "枝番は数字2桁です (branch must be 2 digits)")
    if len(text) == 1:
        text = "0" + text
    if len(text) != 2:
        raise error(InvalidLength, f"枝番は2桁です ({len(text)} digits given; branch must be 2 digits)")
    return text


def validate(symbol: str | None, number: str, branch: str | None = None) -> InsuredCardNumbers:
    """All three, normalised; an empty or missing 枝番 stays None."""
    return InsuredCardNumbers(compact_symbol(symbol), compact_number(number),
                              compact_branch(branch) if branch and branch.strip() else None)


def is_valid(symbol: str | None, number: str, branch: str | None = None) -> bool:
    """Whether the three are acceptable."""
    try:
        validate(symbol, number, branch)
        return True
    except ValidationError:
        return False


def format(symbol: str | None, number: str, branch: str | None = None) -> str:
    """As printed on a card: 記号 1234 番号 5698910 (枝番) 01 (parts that are absent are left out)."""
    numbers = validate(symbol, number, branch)
    parts = [f"記号 {numbers.symbol}"] if numbers.symbol else []
    parts.append(f"番号 {numbers.number}")
    if numbers.branch is not None:
        parts.append(f"(枝番) {numbers.branch}")
    return " ".join(parts)


def for_comparison(value: str) -> str:
    """記号 or 番号 as OQS clients compare them: half width, leading zeros stripped ("" for all zeros)."""
    return normalise(value or "").lstrip("0")
