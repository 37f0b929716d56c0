"""個人番号: stdnum's rule, full width accepted, and no error ever carries the number."""

from __future__ import annotations

import jaconv
import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError
from stdnum.jp import in_

from onshi.numbers import my_number

bodies = st.from_regex(r"\A[0-9]{11}\Z")


def test_published_example():
    assert my_number.validate("621498320257") == "621498320257"
    assert my_number.validate("６２１４－９８３２－０２５７") == "621498320257"
    assert my_number.format("621498320257") == "6214 9832 0257"
    assert (my_number.mask("621498320257"), my_number.last4("6214 9832 0257")) == ("********0257", "0257")


@given(bodies)
def test_round_trip_and_mask(body):
    number = body + my_number.calc_check_digit(body)
    assert my_number.validate(number) == number
    assert my_number.validate(my_number.format(number)) == number
    assert my_number.validate(jaconv.h2z(number, digit=True)) == number
    assert my_number.mask(number) == "********" + number[-4:]


@given(st.text("0123456789", min_size=0, max_size=14))
def test_same_verdict_as_stdnum(text):
    assert my_number.is_valid(text) == in_.is_valid(text)


@given(bodies, st.integers(1, 9))
def test_errors_never_echo_the_number(body, delta):
    good = body + my_number.calc_check_digit(body)
    wrong = good[:-1] + str((int(good[-1]) + delta) % 10)
    with pytest.raises(InvalidChecksum) as exc:
        my_number.validate(wrong)
    text = str(exc.value) + exc.value.message
    assert not any(wrong[i:i + 4] in text for i in range(len(wrong) - 3))  # not even four digits of it
    assert exc.value.__cause__ is None and exc.value.__suppress_context__  # stdnum's exception is not chained


@pytest.mark.parametrize("value, exc", [("62149832025", InvalidLength), ("6214983202577", InvalidLength),
                                        ("62149832025X", InvalidFormat)])
def test_shape_errors_do_not_echo(value, exc):
    with pytest.raises(exc) as info:
        my_number.validate(value)
    assert "6214" not in str(info.value) and isinstance(info.value, ValidationError)
