"""保険者番号 (insurer number).

Eight digits: 法別番号 (2) + 都道府県番号 (2) + 保険者別番号 (3) + 検証番号 (1).
国民健康保険 numbers have no 法別番号 and six digits.  The check digit weighs
the digits before it 2, 1, 2, 1, … from the right, adds the digits of two-digit
products, and is ``(10 − sum mod 10) mod 10``.

>>> validate('01130012')
'01130012'
>>> validate('０１１３００１２')
'01130012'
>>> validate('01130013')
Traceback (most recent call last):
  ...
stdnum.exceptions.InvalidChecksum: 保険者番号の検証番号が一致しません (check digit)
>>> validate('0113001234')
Traceback (most recent call last):
  ...
stdnum.exceptions.InvalidLength: 保険者番号は8桁(国保は6桁)です (length must be 8, or 6 for 国保)
>>> law_code('06139992'), law_name('06'), prefecture_code('01040013')
('06', '健康保険組合', '04')
>>> from_oqs('  138057'), from_oqs('00138057')
('138057', '138057')
>>> format('01130012')
'01 13 001 2'
"""

from __future__ import annotations

from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength

from onshi.numbers._util import check_digit_21, normalise
from onshi.numbers.prefectures import PREFECTURES

LAW_CODES = {
    "01": "全国健康保険協会管掌健康保険 (協会けんぽ)", "02": "船員保険", "03": "日雇特例被保険者 (一般療養)",
    "04": "日雇特例被保険者 (特別療養費)", "06": "健康保険組合", "07": "防衛省職員給与法による自衛官等",
    "31": "国家公務員共済組合", "32": "地方公務員等共済組合", "33": "警察共済組合", "34": "公立学校共済組合・私立学校教職員共済",
    "39": "後期高齢者医療", "63": "特定健康保険組合 (特例退職)", "67": "退職者医療 (国保)",
    "72": "国家公務員共済組合 (特例退職)", "73": "地方公務員等共済組合 (特例退職)", "74": "警察共済組合 (特例退職)",
    "75": "公立学校共済組合・私立学校教職員共済 (特例退職)",
}
_SHORT = {"01": "協会けんぽ", "06": "健康保険組合"}


def compact(number: str) -> str:
    return normalise(number)


def calc_check_digit(digits: str) -> str:
    return check_digit_21(digits)


def validate(number: str) -> str:
    number = compact(number)
    if not number.isdigit() or not number.isascii():
        raise InvalidFormat("保険者番号は数字だけです (digits only)")
    if len(number) not in (6, 8):
        raise InvalidLength("保険者番号は8桁(国保は6桁)です (length must be 8, or 6 for 国保)")
    if number[-1] != calc_check_digit(number[:-1]):
        raise InvalidChecksum("保険者番号の検証番号が一致しません (check digit)")
    pref = prefecture_code(number)
    if pref not in PREFECTURES:
        raise InvalidComponent(f"都道府県番号 {pref} がありません (prefecture)")
    return number


def is_valid(number: str) -> bool:
    try:
        return bool(validate(number))
    except (InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength):
        return False


def from_oqs(value: str) -> str:
    """An InsurerNumber as OQS clients send it: 6-digit 国保 numbers padded left with spaces or zeros."""
    text = normalise(value) if value.strip() else value
    if len(text) == 8 and text.startswith("00") and is_valid(text[2:]):  # there is no 法別番号 00
        return validate(text[2:])
    return validate(text)


def law_code(number: str) -> str | None:
    """法別番号 (None for 6-digit 国保 numbers)."""
    number = compact(number)
    return number[:2] if len(number) == 8 else None


def law_name(code: str) -> str:
    return _SHORT.get(code) or LAW_CODES.get(code, "その他")


def prefecture_code(number: str) -> str:
    number = compact(number)
    return number[2:4] if len(number) == 8 else number[:2]


def format(number: str) -> str:
    number = compact(number)
    if len(number) == 8:
        return f"{number[:2]} {number[2:4]} {number[4:7]} {number[7]}"
    return f"{number[:2]} {number[2:5]} {number[5]}"
