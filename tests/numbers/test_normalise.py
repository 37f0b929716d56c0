"""The shared helpers agree with the libraries they stand in for: jaconv for width, stdnum.luhn for 2-1."""

from __future__ import annotations

import jaconv
from hypothesis import given
from hypothesis import strategies as st
from stdnum import luhn

from onshi.numbers import prefectures
from onshi.numbers._util import check_digit_21, half_width, normalise

FULL_WIDTH_ASCII = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u3000"


@given(st.text(FULL_WIDTH_ASCII + "abcXYZ019 -あアｱ漢"))
def test_half_width_is_jaconvs_z2h(text):
    assert half_width(text) == jaconv.z2h(text, kana=False, ascii=True, digit=True)


@given(st.text(FULL_WIDTH_ASCII + "019 -"))
def test_normalise_drops_separators_after_z2h(text):
    expected = jaconv.z2h(text, kana=False, ascii=True, digit=True).replace(" ", "").replace("-", "")
    assert normalise(text) == expected


@given(st.from_regex(r"\A[0-9]{1,20}\Z"))
def test_check_digit_21_is_luhn(digits):
    assert check_digit_21(digits) == luhn.calc_check_digit(digits)


def test_prefecture_table_is_complete_and_reversible():
    assert list(prefectures.PREFECTURES) == [f"{i:02d}" for i in range(1, 48)]
    assert all(prefectures.prefecture_code(name) == code for code, name in prefectures.PREFECTURES.items())
    assert prefectures.prefecture_name("13") == "東京都" and prefectures.prefecture_code("北海道") == "01"
