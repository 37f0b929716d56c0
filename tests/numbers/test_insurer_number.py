"""保険者番号: check digit, lengths, 法別番号, 都道府県番号, OQS padding; generated numbers round-trip."""

from __future__ import annotations

import jaconv
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError

from onshi.numbers import insurer_number
from onshi.numbers.prefectures import PREFECTURES

prefs = st.sampled_from(sorted(PREFECTURES))
three = st.from_regex(r"\A[0-9]{3}\Z")


@st.composite
def eight_digit(draw):
    body = draw(st.sampled_from(sorted(insurer_number.LAW_NAMES))) + draw(prefs) + draw(three)
    return body + insurer_number.calc_check_digit(body)


@st.composite
def six_digit(draw):
    body = draw(prefs) + draw(three)
    return body + insurer_number.calc_check_digit(body)


numbers = st.one_of(eight_digit(), six_digit())


@pytest.mark.parametrize("number", ["01130012", "01040013", "06139992", "33120015", "138057"])
def test_published_numbers_are_valid(number):
    assert insurer_number.validate(number) == number and insurer_number.is_valid(number)


def test_check_digit_of_the_published_worked_example():
    # 千葉県警 33120015: 3 3 1 2 0 0 1 × 2 1 2 1 2 1 2 → 6+3+2+2+0+0+2 = 15 → 10 − 5 = 5
    assert insurer_number.calc_check_digit("3312001") == "5"
    # two-digit products add their digits: 9×2 = 18 → 1+8
    assert insurer_number.calc_check_digit("9") == "1"
    # a sum ending in 0 gives 0, not 10
    assert insurer_number.calc_check_digit("0000000") == "0"


@given(numbers)
def test_generated_numbers_round_trip(number):
    assert insurer_number.validate(number) == number
    assert insurer_number.compact(insurer_number.format(number)) == number
    assert insurer_number.validate(insurer_number.format(number)) == number


@given(numbers)
def test_full_width_equals_half_width(number):
    assert insurer_number.validate(jaconv.h2z(number, digit=True)) == number
    assert insurer_number.validate("-".join(jaconv.h2z(number, digit=True))) == number


@given(st.text("0123456789０１２３４５６７８９", min_size=6, max_size=8))
def test_validity_does_not_depend_on_width(text):
    assert insurer_number.is_valid(text) == insurer_number.is_valid(jaconv.z2h(text, digit=True))


@given(numbers, st.integers(1, 9))
def test_any_wrong_check_digit_is_rejected(number, delta):
    wrong = number[:-1] + str((int(number[-1]) + delta) % 10)
    with pytest.raises(InvalidChecksum):
        insurer_number.validate(wrong)
    assert not insurer_number.is_valid(wrong)


@pytest.mark.parametrize("value", ["0113001", "011300123", "0113001234", "11300", "1"])
def test_lengths_other_than_6_and_8(value):
    with pytest.raises(InvalidLength, match=f"{len(value)} digits given"):
        insurer_number.validate(value)


@pytest.mark.parametrize("value", ["011300I2", "0113001２a", "01.30012", "", "０１１３００１Ｘ"])
def test_non_digits(value):
    with pytest.raises(InvalidFormat):
        insurer_number.validate(value)


def _with_check(body: str) -> str:
    return body + insurer_number.calc_check_digit(body)


@pytest.mark.parametrize("number, what", [
    (_with_check("1213001"), "法別番号 12"),  # 公費 (生活保護): same layout, not an insurer
    (_with_check("0013001"), "法別番号 00"),
    (_with_check("0148001"), "都道府県番号 48"),
    (_with_check("0100001"), "都道府県番号 00"),
    (_with_check("48001"), "都道府県番号 48"),
])
def test_components(number, what):
    with pytest.raises(InvalidComponent, match=what):
        insurer_number.validate(number)


@pytest.mark.parametrize("value, expected", [
    ("  138057", "138057"), ("00138057", "138057"), (" 138057", "138057"), ("138057", "138057"),
    ("　　１３８０５７", "138057"), ("01130012", "01130012"),
    ("34138057", "34138057"),  # 法別番号 34 adds 3×2 + 4 = 10: its last six digits are a valid 国保 number too
])
def test_from_oqs_accepts_left_padding_with_spaces_or_zeros(value, expected):
    assert insurer_number.from_oqs(value) == expected


@pytest.mark.parametrize("value, exc", [("00138058", InvalidComponent), ("0000138057", InvalidLength),
                                        ("  138058", InvalidChecksum)])
def test_from_oqs_rejects_what_is_not_a_padded_valid_number(value, exc):
    with pytest.raises(exc):
        insurer_number.from_oqs(value)


def test_parts_and_names():
    assert insurer_number.law_code("01130012") == "01" and insurer_number.law_code("138057") is None
    assert insurer_number.prefecture_code("01130012") == "13" and insurer_number.prefecture_code("138057") == "13"
    assert insurer_number.prefecture_name("47") == "沖縄県" and insurer_number.prefecture_name("01") == "北海道"
    assert [insurer_number.law_name(c) for c in ("01", "02", "06", "39")] == [
        "協会けんぽ", "船員保険", "健康保険組合", "後期高齢者医療"]
    assert all("共済" in insurer_number.law_name(c) for c in ("31", "32", "33", "34", "72", "73", "74", "75"))
    with pytest.raises(InvalidComponent):
        insurer_number.law_name("12")


def test_format():
    assert insurer_number.format("01130012") == "01 13 001 2"
    assert insurer_number.format("138057") == "13 805 7"


def test_messages_reach_both_str_and_message():
    with pytest.raises(ValidationError) as exc:
        insurer_number.validate("01130013")
    assert exc.value.message == str(exc.value) and "検証番号" in exc.value.message
