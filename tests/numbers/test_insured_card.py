"""記号・番号・枝番: width normalisation, allowed characters, 枝番 padding, comparison form."""

from __future__ import annotations

import dataclasses

import jaconv
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.exceptions import InvalidFormat, InvalidLength

from onshi.numbers import insured_card
from onshi.numbers.insured_card import InsuredCardNumbers

alnum = st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=1, max_size=20)
alnum2 = st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=2, max_size=20)
kana_kanji = st.text("あいうアイウー健康保険組合髙々", min_size=1, max_size=10)


@given(alnum, alnum, st.integers(0, 99))
def test_full_width_equals_half_width(symbol, number, branch):
    half = insured_card.validate(symbol, number, f"{branch:02d}")
    full = insured_card.validate(jaconv.h2z(symbol, ascii=True, digit=True),
                                 jaconv.h2z(number, ascii=True, digit=True), jaconv.h2z(f"{branch:02d}", digit=True))
    assert half == full == InsuredCardNumbers(symbol, number, f"{branch:02d}")


@given(st.one_of(alnum, kana_kanji))
def test_symbols_are_kept_and_compacting_is_idempotent(symbol):
    once = insured_card.compact_symbol(symbol)
    assert once == symbol and insured_card.compact_symbol(once) == once


@given(alnum2, st.sampled_from("●○★＊*#@!?()[]、。・\x00\x07\t\u200b"), st.data())
def test_any_other_character_is_refused_and_named(text, bad, data):
    at = data.draw(st.integers(1, len(text) - 1))  # inside: surrounding whitespace is stripped
    value = text[:at] + bad + text[at:]
    for compact in (insured_card.compact_symbol, insured_card.compact_number):
        with pytest.raises(InvalidFormat, match=f"U\\+{ord(bad):04X}"):
            compact(value)


def test_control_characters_are_shown_only_by_code_point():
    with pytest.raises(InvalidFormat) as exc:
        insured_card.compact_number("12\x0034")
    assert "\x00" not in str(exc.value) and "U+0000" in str(exc.value)


def test_the_typed_character_is_named_not_its_normal_form():
    with pytest.raises(InvalidFormat, match="㈱"):
        insured_card.compact_symbol("㈱12")


@pytest.mark.parametrize("value, expected", [
    ("１２３４", "1234"), ("12-34", "1234"), (" 12 34 ", "1234"), ("ｱｲｳ", "アイウ"), ("髙橋①", "髙橋1"),
    ("健保", "健保"), ("", ""), (None, ""), ("a" * 20, "a" * 20),
])
def test_compact_symbol(value, expected):
    assert insured_card.compact_symbol(value) == expected


def test_length_limit_is_twenty():
    for compact in (insured_card.compact_symbol, insured_card.compact_number):
        with pytest.raises(InvalidLength, match="21"):
            compact("1" * 21)


def test_number_is_digits_and_letters_and_required():
    assert insured_card.compact_number("Ａ１２") == "A12"
    for value in ("あ12", "健1"):
        with pytest.raises(InvalidFormat):
            insured_card.compact_number(value)
    for value in ("", "  ", None):
        with pytest.raises(InvalidFormat, match="空"):
            insured_card.compact_number(value)


@pytest.mark.parametrize("value, expected", [("1", "01"), ("01", "01"), ("00", "00"), ("１", "01"), ("０５", "05"),
                                             (" 7 ", "07"), ("99", "99")])
def test_branch(value, expected):
    assert insured_card.compact_branch(value) == expected


@pytest.mark.parametrize("value, exc", [("001", InvalidLength), ("100", InvalidLength), ("ab", InvalidFormat),
                                        ("1a", InvalidFormat), ("", InvalidFormat), ("+1", InvalidFormat)])
def test_bad_branch(value, exc):
    with pytest.raises(exc):
        insured_card.compact_branch(value)


def test_validate_returns_a_frozen_value():
    numbers = insured_card.validate("１２３４", "5698910", "1")
    assert numbers == InsuredCardNumbers("1234", "5698910", "01")
    assert insured_card.validate("", "1") == insured_card.validate(None, "1", " ") == InsuredCardNumbers("", "1", None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        numbers.branch = "02"  # type: ignore[misc]
    assert insured_card.is_valid("1234", "1") and not insured_card.is_valid("1234", "1", "001")


def test_format():
    assert insured_card.format("1234", "5698910", "01") == "記号 1234 番号 5698910 (枝番) 01"
    assert insured_card.format("１２３４", "5698910", "1") == "記号 1234 番号 5698910 (枝番) 01"
    assert insured_card.format("", "5698910") == "番号 5698910"
    assert insured_card.format("1234", "5698910") == "記号 1234 番号 5698910"


@pytest.mark.parametrize("value, expected", [("00123", "123"), ("０１２", "12"), ("123", "123"), ("1000", "1000"),
                                             ("000", ""), ("A01", "A01")])
def test_for_comparison(value, expected):
    assert insured_card.for_comparison(value) == expected


@given(st.from_regex(r"\A[0-9]{1,12}\Z"), st.integers(0, 5))
def test_for_comparison_ignores_leading_zeros_and_width(number, zeros):
    padded = "0" * zeros + number
    assert insured_card.for_comparison(jaconv.h2z(padded, digit=True)) == insured_card.for_comparison(number)
