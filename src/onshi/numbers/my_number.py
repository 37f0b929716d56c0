"""個人番号 (My Number) through ``stdnum.jp.in_``; errors never carry the number itself.

>>> validate('6214 9832 0257')
'621498320257'
>>> mask('621498320257'), last4('621498320257')
('********0257', '0257')
>>> validate('621498320258')
Traceback (most recent call last):
  ...
stdnum.exceptions.InvalidChecksum: 個人番号の検査用数字が一致しません (check digit)
"""

from __future__ import annotations

from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength
from stdnum.jp import in_

from onshi.numbers._util import normalise

_MESSAGES = {InvalidChecksum: "個人番号の検査用数字が一致しません (check digit)",
             InvalidLength: "個人番号は12桁です (length must be 12)",
             InvalidFormat: "個人番号は数字だけです (digits only)"}


def compact(number: str) -> str:
    return normalise(number)


def validate(number: str) -> str:
    """Validate with ``stdnum.jp.in_``'s check digit; the messages never carry the number."""
    number = compact(number)
    if not (number.isdigit() and number.isascii()):
        raise InvalidFormat(_MESSAGES[InvalidFormat])
    if len(number) != 12:
        raise InvalidLength(_MESSAGES[InvalidLength])
    if in_.calc_check_digit(number[:11]) != number[11]:
        raise InvalidChecksum(_MESSAGES[InvalidChecksum])
    return number


def is_valid(number: str) -> bool:
    try:
        return bool(validate(number))
    except (InvalidChecksum, InvalidLength, InvalidFormat):
        return False


def format(number: str) -> str:
    return in_.format(compact(number))


def last4(number: str) -> str:
    return compact(number)[-4:]


def mask(number: str) -> str:
    return "*" * 8 + last4(number)


calc_check_digit = in_.calc_check_digit
