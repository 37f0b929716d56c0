"""外字 (gaiji): characters outside JIS X 0208, found and replaced before printing.

Policy
------
A printed document must carry only characters of **JIS X 0208** (plus ASCII and
JIS X 0201 Roman), which is what the print vendors, envelope window scanners and
the older systems the documents meet can handle.  The test is mechanical:
*a character is in JIS X 0208 if Python encodes it in ``iso2022_jp``*.  That codec
is strictly ASCII + JIS X 0201 Roman + JIS X 0208; it does **not** include the
NEC special characters (①, Ⅲ, ㈱), the NEC-selected and IBM extensions of
``cp932`` (髙, 﨑, 德), JIS X 0212/0213 or characters beyond the BMP (𠮷).
(``euc_jp`` would do as well for kanji, but it also accepts half-width katakana.)

Each character that fails is handled in this order:

1. **Equivalent** — the same character under another Unicode mapping (the cp932
   versions of 〜, −, ‖, ¢, £, ¬, the em dash) or half-width katakana (ｱ → ア):
   replaced silently, not flagged, because nothing visible changes.
2. **Substitute** — :data:`SUBSTITUTES`, a small table of the usual 異体字
   (髙→高, 﨑→崎, 𠮷→吉 …), then the NFKC compatibility form when it is in
   JIS X 0208 (① → 1, ㈱ → (株), Ⅲ → III, 塚 U+FA10 → 塚), then the base letter
   of an accented Latin letter (é → e).  Flagged.
3. Otherwise **〓** (geta, the conventional mark for "a character we cannot
   print"): flagged.

Variation selectors (IVS, e.g. 葛 + U+E0100) are dropped and flagged: the base
character is printed, the requested glyph variant is not.

Flagged characters come back in :attr:`GaijiResult.flagged` so a clerk can be told
and can check the printed name against the registry (and, where needed, hand
write or order the right glyph).

>>> r = check("髙橋 﨑子")
>>> r.text
'高橋 崎子'
>>> [f.char for f in r.flagged]
['髙', '﨑']
>>> check("𠮷野家").text
'吉野家'
>>> check("ﾔﾏﾀﾞ ﾀﾛｳ").text   # half-width kana: equivalent, not flagged
'ヤマダ タロウ'
>>> check("ﾔﾏﾀﾞ").flagged
()
>>> check("株式会社①").text
'株式会社1'
>>> check("\\u4e02").text      # a rare kanji with no substitute
'〓'
>>> is_jisx0208("高"), is_jisx0208("髙")
(True, False)
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import jaconv

__all__ = ["GETA", "SUBSTITUTES", "FlaggedChar", "GaijiResult", "check", "is_jisx0208"]

GETA = "〓"

#: Same character, other mapping (cp932 vs JIS): replaced silently.
EQUIVALENTS: dict[str, str] = {
    "\uff5e": "\u301c",  # ～ FULLWIDTH TILDE -> 〜 WAVE DASH
    "\uff0d": "\u2212",  # － FULLWIDTH HYPHEN-MINUS -> − MINUS SIGN
    "\u2225": "\u2016",  # ∥ PARALLEL TO -> ‖ DOUBLE VERTICAL LINE
    "\uffe0": "\u00a2",  # ￠ -> ¢
    "\uffe1": "\u00a3",  # ￡ -> £
    "\uffe2": "\u00ac",  # ￢ -> ¬
    "\u2014": "\u2015",  # — EM DASH -> ― HORIZONTAL BAR (JIS 1-01-29)
    "\u3000": "\u3000",  # ideographic space (in JIS already; listed for clarity)
}

#: 異体字 outside JIS X 0208 and the JIS X 0208 character printed instead.
SUBSTITUTES: dict[str, str] = {
    "\u9ad9": "高",  # 髙 はしごだか (IBM extension)
    "\ufa11": "崎",  # 﨑 たつさき (IBM extension)
    "\U00020bb7": "吉",  # 𠮷 つちよし (beyond the BMP)
    "\u5fb7": "徳",  # 德
    "\u6801": "柳",  # 栁
    "\u6ff5": "濱",  # 濵
    "\u7028": "瀬",  # 瀨
    "\u663b": "昂",  # 昻
    "\u6df8": "清",  # 淸
    "\u66fb": "昇",  # 曻
}
# CJK compatibility ideographs (塚 U+FA10, 神 U+FA19, 隆 U+F9DC …) need no entry:
# their NFKC form is the unified character, which step 2 takes.


@dataclass(frozen=True)
class FlaggedChar:
    """One character that could not be printed as given."""

    char: str
    index: int  # position in the text (after half-width kana were widened)
    substitute: str  # what was printed instead ("" when dropped)

    @property
    def codepoint(self) -> str:
        return "+".join(f"U+{ord(c):04X}" for c in self.char)

    def __str__(self) -> str:
        shown = self.substitute or "(nothing)"
        return f"{self.char} ({self.codepoint}) at {self.index} printed as {shown}"


@dataclass(frozen=True)
class GaijiResult:
    """The printable text and the characters that were changed to get it."""

    original: str
    text: str
    flagged: tuple[FlaggedChar, ...]

    @property
    def ok(self) -> bool:
        return not self.flagged


@lru_cache(maxsize=65536)
def is_jisx0208(ch: str) -> bool:
    """True if ``ch`` is ASCII, JIS X 0201 Roman or JIS X 0208 (encodes in ``iso2022_jp``)."""
    try:
        ch.encode("iso2022_jp")
    except UnicodeEncodeError:
        return False
    return True


def _is_variation_selector(ch: str) -> bool:
    o = ord(ch)
    return 0xFE00 <= o <= 0xFE0F or 0xE0100 <= o <= 0xE01EF


def _substitute(ch: str) -> str:
    if ch in SUBSTITUTES:
        return SUBSTITUTES[ch]
    nfkc = unicodedata.normalize("NFKC", ch)
    if nfkc != ch and nfkc and all(is_jisx0208(c) for c in nfkc):
        return nfkc
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if base and base != ch and all(is_jisx0208(c) for c in base):
        return base
    return GETA


def check(text: str) -> GaijiResult:
    """Return ``text`` with every character outside JIS X 0208 replaced, and the flags."""
    if text.isascii():
        return GaijiResult(text, text, ())
    # Half-width katakana -> full width (ﾀﾞ becomes ダ, one character): an equivalent.
    if any("\uff61" <= c <= "\uff9f" for c in text):
        text_n = jaconv.h2z(text, kana=True, ascii=False, digit=False)
    else:
        text_n = text
    out: list[str] = []
    flagged: list[FlaggedChar] = []
    for i, ch in enumerate(text_n):
        if is_jisx0208(ch) or ch in "\n\t":
            out.append(ch)
            continue
        if ch in EQUIVALENTS:
            out.append(EQUIVALENTS[ch])
            continue
        if _is_variation_selector(ch):
            prev = out[-1] if out else ""
            flagged.append(FlaggedChar(prev + ch, max(i - 1, 0), prev))
            continue
        sub = _substitute(ch)
        out.append(sub)
        flagged.append(FlaggedChar(ch, i, sub))
    return GaijiResult(text, "".join(out), tuple(flagged))
