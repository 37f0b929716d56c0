"""個人番号 (My Number): a thin wrapper over ``stdnum.jp.in_``.

12 digits, the last a check digit (weights 6,5,4,3,2,7,6,5,4,3,2 on the first
eleven, ``−Σ mod 11 mod 10``).  Full-width digits are accepted.  Error
messages never carry the number or any part of it: the number must not
reach a log, an error message or a clinic.  Show it only through
:func:`mask` or :func:`last4`.

>>> validate('6214 9832 0257'), validate('６２１４９８３２０２５７')
('621498320257', '621498320257')
>>> mask('621498320257'), last4('621498320257'), format('621498320257')
('********0257', '0257', '6214 9832 0257')
>>> validate('621498320258')
Traceback (most recent call last):
  ...
stdnum.exceptions.InvalidChecksum: 個人番号の検査用数字が一致しません (check digit)
"""

from __future__ import annotations

from operator import mul

from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError
from stdnum.jp import in_

from onshi.numbers._util import error, normalise

_MESSAGES: dict[type[ValidationError], str] = {
    InvalidChecksum: "個人番号の検査用数字が一致しません (check digit)",
    InvalidLength: "個人番号は12桁です (length must be 12)",
    InvalidFormat: "個人番号は数字だけです (digits only)",
}


def compact(number: str) -> str:
    """Full-width digits → half width; spaces and hyphens removed."""
    return normalise(number)


def calc_check_digit(first11: str) -> str:
    """The check digit of the first eleven digits.

    >>> calc_check_digit('62149832025')
    '7'
    """
    return in_.calc_check_digit(first11)


_WEIGHTS = (6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def valid_plain(number: str) -> bool:
    """Fast path for the usual case (12 half-width digits, nothing to normalise): the same check as ``in_``.

    The digits' code points less 48 (``"0"``) each, times the weights, which add up to 47."""
    s = (sum(map(mul, number[:11].encode(), _WEIGHTS)) - 48 * 47) % 11
    return number[11] == "0123456789"[0 if s <= 1 else 11 - s]


def validate(number: str) -> str:
    """Length, digits and check digit by ``stdnum.jp.in_``; re-raised with a message that never echoes the value."""
    if len(number) == 12 and number.isascii() and number.isdigit() and valid_plain(number):
        return number
    try:
        return in_.validate(compact(number))
    except ValidationError as exc:
        kind = next((k for k in _MESSAGES if isinstance(exc, k)), InvalidFormat)
        raise error(kind, _MESSAGES[kind]) from None


def is_valid(number: str) -> bool:
    """Whether *number* is a valid 個人番号."""
    try:
        return bool(validate(number))
    except ValidationError:
        return False


def format(number: str) -> str:
    """Groups of four, as on the card (for the person themself only; elsewhere use :func:`mask`)."""
    return in_.format(compact(number))


def last4(number: str) -> str:
    """The last four digits (末尾4桁), as the 資格情報のお知らせ prints them."""
    return compact(number)[-4:]


def mask(number: str) -> str:
    """Eight asterisks and the last four digits: ``********0257``."""
    return "*" * 8 + last4(number)
