"""医療機関コード: the Luhn check digit over all nine digits, 都道府県番号, 点数表番号."""

from __future__ import annotations

import jaconv
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength

from onshi.numbers import institution_code
from onshi.numbers.prefectures import PREFECTURES


@st.composite
def codes(draw):
    body = draw(st.sampled_from(sorted(PREFECTURES))) + draw(st.sampled_from("134")) + draw(
        st.from_regex(r"\A[0-9]{6}\Z"))
    return body + institution_code.calc_check_digit(body)


@pytest.mark.parametrize("code", ["0110113719", "3618010015"])
def test_published_codes_are_valid(code):
    assert institution_code.validate(code) == code


def test_the_check_digit_covers_prefecture_and_kind():
    # the same 7-digit part under another prefecture or kind needs another check digit
    assert institution_code.is_valid("1310000011") and not institution_code.is_valid("1310000018")
    assert institution_code.calc_check_digit("131000001") != institution_code.calc_check_digit("141000001")
    assert institution_code.calc_check_digit("131000001") != institution_code.calc_check_digit("133000001")


@given(codes())
def test_generated_codes_round_trip(code):
    assert institution_code.validate(code) == code
    assert institution_code.validate(institution_code.format(code)) == code
    assert institution_code.validate(jaconv.h2z(code, digit=True)) == code
    assert institution_code.facility_kind(code) == {"1": "medical", "3": "dental", "4": "pharmacy"}[code[2]]
    assert institution_code.prefecture_code(code) == code[:2]


@given(codes(), st.integers(1, 9))
def test_any_wrong_check_digit_is_rejected(code, delta):
    with pytest.raises(InvalidChecksum):
        institution_code.validate(code[:-1] + str((int(code[-1]) + delta) % 10))


@pytest.mark.parametrize("body, what", [("132000001", "点数表番号 2"), ("136000001", "点数表番号 6"),
                                        ("481000001", "都道府県番号 48"), ("001000001", "都道府県番号 00")])
def test_components(body, what):
    with pytest.raises(InvalidComponent, match=what):
        institution_code.validate(body + institution_code.calc_check_digit(body))


@pytest.mark.parametrize("value, exc", [("131000001", InvalidLength), ("13100000111", InvalidLength),
                                        ("13100000I1", InvalidFormat), ("", InvalidFormat)])
def test_shape(value, exc):
    with pytest.raises(exc):
        institution_code.validate(value)


def test_format_groups():
    assert institution_code.format("0110113719") == "01 1 01 1371 9"
