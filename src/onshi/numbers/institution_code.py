"""医療機関コード (medical institution code), 10 digits.

都道府県番号 (2) + 点数表番号 (1: 1 医科, 3 歯科, 4 調剤) + 郡市区番号 (2) +
医療機関番号 (4) + 検証番号 (1).  The check digit is computed over the 6 digits
of 郡市区番号 + 医療機関番号 with the same 2-1 modulus-10 rule as 保険者番号
(the public description of the 7-digit 医療機関コード).

>>> validate('1310000018')
'1310000018'
>>> facility_kind('1340000018'), prefecture_code('1340000018')
('pharmacy', '13')
>>> validate('1320000018')
Traceback (most recent call last):
  ...
stdnum.exceptions.InvalidComponent: 点数表番号は 1 医科, 3 歯科, 4 調剤 です (kind)
>>> calc_check_digit('131000001')
'8'
"""

from __future__ import annotations

from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength

from onshi.numbers._util import check_digit_21, normalise
from onshi.numbers.prefectures import PREFECTURES

KINDS = {"1": "medical", "3": "dental", "4": "pharmacy"}


def compact(number: str) -> str:
    return normalise(number)


def calc_check_digit(first9: str) -> str:
    """Check digit of a code given its first nine digits (over the 6-digit 郡市区+医療機関番号)."""
    return check_digit_21(first9[3:9])


def validate(number: str) -> str:
    number = compact(number)
    if not number.isdigit() or not number.isascii():
        raise InvalidFormat("医療機関コードは数字だけです (digits only)")
    if len(number) != 10:
        raise InvalidLength("医療機関コードは10桁です (length must be 10)")
    if number[:2] not in PREFECTURES:
        raise InvalidComponent("都道府県番号がありません (prefecture)")
    if number[2] not in KINDS:
        raise InvalidComponent("点数表番号は 1 医科, 3 歯科, 4 調剤 です (kind)")
    if number[-1] != calc_check_digit(number[:9]):
        raise InvalidChecksum("医療機関コードの検証番号が一致しません (check digit)")
    return number


def is_valid(number: str) -> bool:
    try:
        return bool(validate(number))
    except (InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength):
        return False


def facility_kind(number: str) -> str:
    return KINDS[compact(number)[2]]


def prefecture_code(number: str) -> str:
    return compact(number)[:2]


def format(number: str) -> str:
    number = compact(number)
    return f"{number[:2]} {number[2]} {number[3:5]} {number[5:9]} {number[9]}"
