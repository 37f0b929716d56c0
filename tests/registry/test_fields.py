"""Field parsers of notification rows: the fast paths answer exactly what the general steps answer."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshi.registry import fields as F

# characters that matter to the parsers: kana of both widths, hiragana, ヿ (NFKC makes it コト), spaces of every kind
_ALPHABET = "アイウヴーヿｱｲ ﾞあいカナ漢字a1 \u3000\t\u00a0"


def _general_kana(value: str) -> str:
    text = unicodedata.normalize("NFKC", value).strip().translate(F._HIRA_TO_KATA)
    text = re.sub(r"[ \u3000]+", "\u3000", text)
    if not text or not F._KATAKANA.match(text):
        raise F.FieldError("not kana")
    return text


def _outcome(parser, value):
    try:
        return parser(value)
    except F.FieldError:
        return F.FieldError


@given(st.text(alphabet=_ALPHABET, max_size=8))
def test_kana_fast_path_agrees_with_the_general_steps(value):
    assert _outcome(F.parse_kana, value) == _outcome(_general_kana, value)


@given(st.text(alphabet=_ALPHABET, max_size=8))
def test_names_and_addresses_are_spaced_as_the_general_steps_space_them(value):
    general = re.sub(r"[ \u3000]+", "\u3000", value.strip())
    assert F.parse_address(value) == (general or None)
    if general and general.replace("\u3000", "").isprintable():
        assert F.parse_name(value) == general


@pytest.mark.parametrize("value, expected", [
    ("コウロウ　タロウ", "コウロウ　タロウ"),  # as stored: the fast path
    ("ｺｳﾛｳ ﾀﾛｳ", "コウロウ　タロウ"),  # half-width, a half-width space
    ("こうろう  たろう", "コウロウ　タロウ"),  # hiragana, two spaces
    ("ヿ", "コト"),  # a katakana ligature NFKC spells out: not taken as it is
])
def test_kana_examples(value, expected):
    assert F.parse_kana(value) == expected
