"""Number formats: round trips and check digits (hypothesis), and the bad inputs clerks send."""

from __future__ import annotations

import jaconv
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError

from onshi.numbers import institution_code, insured_card, insurer_number, my_number
from onshi.numbers.prefectures import PREFECTURES

digits = st.text("0123456789", min_size=1, max_size=1)
prefs = st.sampled_from(sorted(PREFECTURES))


@st.composite
def insurer_numbers(draw):
    body = draw(st.sampled_from(["01", "02", "06", "31", "39"])) + draw(prefs) + draw(st.from_regex(r"\A[0-9]{3}\Z"))
    return body + insurer_number.calc_check_digit(body)


@given(insurer_numbers())
def test_valid_insurer_numbers_round_trip(number):
    assert insurer_number.validate(number) == number
    assert insurer_number.compact(insurer_number.format(number)) == number
    assert insurer_number.validate(jaconv.h2z(number, digit=True)) == number  # 全角 digits


@given(insurer_numbers(), st.integers(1, 9))
def test_any_wrong_check_digit_is_rejected(number, delta):
    wrong = number[:-1] + str((int(number[-1]) + delta) % 10)
    with pytest.raises(InvalidChecksum):
        insurer_number.validate(wrong)


@pytest.mark.parametrize("value, exc", [("0113001234", InvalidLength), ("0113001", InvalidLength),
                                        ("011300I2", InvalidFormat), ("01990019", InvalidComponent)])
def test_bad_insurer_numbers(value, exc):
    with pytest.raises(exc):
        insurer_number.validate(value)


def test_known_insurer_numbers():
    assert insurer_number.is_valid("01130012") and insurer_number.is_valid("01040013")
    assert insurer_number.law_code("01130012") == "01" and insurer_number.prefecture_code("01040013") == "04"


@given(st.from_regex(r"\A[0-9]{11}\Z"))
def test_my_number_round_trip_and_mask(body):
    number = body + my_number.calc_check_digit(body)
    assert my_number.validate(number) == number
    assert my_number.validate(my_number.format(number)) == number
    assert my_number.mask(number) == "********" + number[-4:]


@given(st.from_regex(r"\A[0-9]{11}\Z"), st.integers(1, 9))
def test_my_number_errors_never_echo_the_number(body, delta):
    good = body + my_number.calc_check_digit(body)
    wrong = good[:-1] + str((int(good[-1]) + delta) % 10)
    with pytest.raises(ValidationError) as exc:
        my_number.validate(wrong)
    assert wrong not in str(exc.value) and body not in str(exc.value)


@given(prefs, st.sampled_from("134"), st.from_regex(r"\A[0-9]{6}\Z"))
def test_institution_codes_round_trip(pref, kind, body):
    code = pref + kind + body
    code += institution_code.calc_check_digit(code)
    assert institution_code.validate(code) == code
    assert institution_code.facility_kind(code) == {"1": "medical", "3": "dental", "4": "pharmacy"}[kind]
    assert institution_code.validate(institution_code.format(code)) == code


@given(st.from_regex(r"\A[0-9]{1,8}\Z"), st.from_regex(r"\A[0-9]{1,10}\Z"), st.integers(0, 99))
def test_card_numbers_full_width_equals_half_width(symbol, number, branch):
    half = insured_card.validate(symbol, number, f"{branch:02d}")
    full = insured_card.validate(jaconv.h2z(symbol, digit=True), jaconv.h2z(number, digit=True),
                                 jaconv.h2z(f"{branch:02d}", digit=True))
    assert half == full


@pytest.mark.parametrize("value", ["12●4", "12 34\x00", "１２★"])
def test_invalid_characters_in_numbers(value):
    with pytest.raises(InvalidFormat):
        insured_card.compact_number(value)


def test_kana_symbols_are_kept():
    assert insured_card.compact_symbol("あいう") == "あいう"
