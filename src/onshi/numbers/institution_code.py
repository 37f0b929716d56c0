"""医療機関コード (medical institution code, 10 digits).

都道府県番号 (2) + 点数表番号 (1: 1 医科, 3 歯科, 4 調剤) + the 7-digit code
of the レセプト: 郡市区番号 (2) + 医療機関番号 (4) + 検証番号 (1).

The 検証番号 is computed over the nine digits before it — 都道府県番号 and
点数表番号 included — weighing them 2, 1, 2, 1, … from the rightmost and
adding the digits of two-digit products, ``(10 − sum mod 10) mod 10`` (the
Luhn rule, the same as 保険者番号).  Checked against published codes:
0110113719 (the Wikipedia example) and 3618010015 (徳島大学病院, 7-digit
code 80-1001-5).  Computing it over the six digits of 郡市区番号 +
医療機関番号 alone rejects both.

More information:

* https://ja.wikipedia.org/wiki/処方箋発行医療機関コード
* 昭和51年8月7日 保発第44号「医療機関コードの設定について」 (not read directly)

>>> validate('0110113719')
'0110113719'
>>> validate('36 1 80 1001 5')
'3618010015'
>>> facility_kind('1341234563'), prefecture_code('1341234563')
('pharmacy', '13')
>>> validate('1320000011')
Traceback (most recent call last):
  ...
stdnum.exceptions.InvalidComponent: 点数表番号 2 はありません: 1 医科, 3 歯科, 4 調剤 (kind must be 1, 3 or 4)
>>> validate('0110113718')
Traceback (most recent call last):
  ...
stdnum.exceptions.InvalidChecksum: 医療機関コードの検証番号が一致しません (check digit)
>>> calc_check_digit('131000001'), format('1310000011')
('1', '13 1 00 0001 1')
"""

from __future__ import annotations

from typing import Literal

from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError

from onshi.numbers._util import check_digit_21, error, normalise
from onshi.numbers.prefectures import PREFECTURES

FacilityKind = Literal["medical", "dental", "pharmacy"]
KINDS: dict[str, FacilityKind] = {"1": "medical", "3": "dental", "4": "pharmacy"}  # 点数表番号


def compact(number: str) -> str:
    """Full-width digits → half width; spaces and hyphens removed."""
    return normalise(number)


def calc_check_digit(first9: str) -> str:
    """The 検証番号 of a code given its first nine digits."""
    return check_digit_21(first9)


def validate(number: str) -> str:
    """Check the digits, the length (10), the 都道府県番号, the 点数表番号 and the 検証番号."""
    number = compact(number)
    if not (number.isdigit() and number.isascii()):
        raise error(InvalidFormat, "医療機関コードは数字だけです (digits only)")
    if len(number) != 10:
        raise error(InvalidLength, f"医療機関コードは10桁です ({len(number)} digits given; length must be 10)")
    if number[:2] not in PREFECTURES:
        raise error(InvalidComponent, f"都道府県番号 {number[:2]} はありません (prefecture must be 01–47)")
    if number[2] not in KINDS:
        raise error(InvalidComponent, f"点数表番号 {number[2]} はありません: 1 医科, 3 歯科, 4 調剤 "
                                      "(kind must be 1, 3 or 4)")
    if number[-1] != calc_check_digit(number[:9]):
        raise error(InvalidChecksum, "医療機関コードの検証番号が一致しません (check digit)")
    return number


def is_valid(number: str) -> bool:
    """Whether *number* is a valid 医療機関コード."""
    try:
        return bool(validate(number))
    except ValidationError:
        return False


def facility_kind(number: str) -> FacilityKind:
    """"medical" (医科), "dental" (歯科) or "pharmacy" (調剤), from the 点数表番号 of a valid code."""
    return KINDS[validate(number)[2]]


def prefecture_code(number: str) -> str:
    """都道府県番号 of a valid code."""
    return validate(number)[:2]


def format(number: str) -> str:
    """Groups: 都道府県 点数表 郡市区 医療機関番号 検証."""
    number = compact(number)
    return f"{number[:2]} {number[2]} {number[3:5]} {number[5:9]} {number[9]}"
