"""保険者番号 (insurer number).

Eight digits: 法別番号 (2) + 都道府県番号 (2) + 保険者別番号 (3) + 検証番号 (1).
国民健康保険 numbers have no 法別番号 and six digits.  The check digit
(保険者番号設定要領) weighs the digits before it 2, 1, 2, 1, … starting from
the rightmost, adds the digits of two-digit products, and is
``(10 − sum mod 10) mod 10``.

More information:

* 厚生労働省「保険者番号等の設定について」(保険者番号設定要領)
* /work/shared/reference/insurance-rules.md

>>> validate('01130012')
'01130012'
>>> validate('０１１３ ００１２')
'01130012'
>>> validate('33120015')  # 警察共済組合 千葉県
'33120015'
>>> validate('138057')  # 6-digit 国民健康保険
'138057'
>>> validate('01130013')
Traceback (most recent call last):
  ...
stdnum.exceptions.InvalidChecksum: 保険者番号の検証番号が一致しません (check digit)
>>> validate('0113001')
Traceback (most recent call last):
  ...
stdnum.exceptions.InvalidLength: 保険者番号は8桁(国保は6桁)です (7 digits given; length must be 8, or 6 for National Health Insurance)
>>> validate('12130014')
Traceback (most recent call last):
  ...
stdnum.exceptions.InvalidComponent: 法別番号 12 は医療保険者の番号ではありません (law code 12 is not an insurer's)
>>> law_code('06139992'), law_name('06'), prefecture_code('01040013'), prefecture_name('04')
('06', '健康保険組合', '04', '宮城県')
>>> from_oqs('  138057'), from_oqs('00138057'), from_oqs('01130012')
('138057', '138057', '01130012')
>>> format('01130012'), format('138057')
('01 13 001 2', '13 805 7')
"""

from __future__ import annotations

from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength, ValidationError

from onshi.numbers import prefectures
from onshi.numbers._util import check_digit_21, error, normalise

# 法別番号 of medical insurers (公費負担医療 uses other codes, 10–99, with the same layout: not insurer numbers).
LAW_NAMES = {
    "01": "協会けんぽ",  # 全国健康保険協会管掌健康保険
    "02": "船員保険",
    "03": "日雇特例被保険者 (一般療養)",
    "04": "日雇特例被保険者 (特別療養費)",
    "06": "健康保険組合",
    "07": "自衛官等",  # 防衛省職員給与法による自衛官等の療養の給付
    "31": "国家公務員共済組合",
    "32": "地方公務員等共済組合",
    "33": "警察共済組合",
    "34": "公立学校共済組合・日本私立学校振興・共済事業団",
    "39": "後期高齢者医療",
    "63": "特定健康保険組合 (特例退職被保険者)",
    "67": "国民健康保険 退職者医療",
    "72": "国家公務員共済組合 (特例退職組合員)",
    "73": "地方公務員等共済組合 (特例退職組合員)",
    "74": "警察共済組合 (特例退職組合員)",
    "75": "公立学校共済組合・日本私立学校振興・共済事業団 (特例退職加入者)",
}


def compact(number: str) -> str:
    """Full-width digits → half width; spaces and hyphens removed."""
    return normalise(number)


def calc_check_digit(digits: str) -> str:
    """The 検証番号 of the digits before it (7 for an 8-digit number, 5 for a 6-digit 国保 number).

    >>> calc_check_digit('0104001')
    '3'
    """
    return check_digit_21(digits)


def validate(number: str) -> str:
    """Check the digits, the length (8, or 6 for 国保), the 法別番号, the 都道府県番号 and the 検証番号."""
    number = compact(number)
    if not (number.isdigit() and number.isascii()):
        raise error(InvalidFormat, "保険者番号は数字だけです (digits only)")
    if len(number) not in (6, 8):
        raise error(InvalidLength, f"保険者番号は8桁(国保は6桁)です ({len(number)} digits given; "
                                   "length must be 8, or 6 for National Health Insurance)")
    if len(number) == 8 and number[:2] not in LAW_NAMES:
        raise error(InvalidComponent, f"法別番号 {number[:2]} は医療保険者の番号ではありません "
                                      f"(law code {number[:2]} is not an insurer's)")
    pref = number[2:4] if len(number) == 8 else number[:2]
    if pref not in prefectures.PREFECTURES:
        raise error(InvalidComponent, f"都道府県番号 {pref} はありません (prefecture must be 01–47)")
    if number[-1] != calc_check_digit(number[:-1]):
        raise error(InvalidChecksum, "保険者番号の検証番号が一致しません (check digit)")
    return number


def is_valid(number: str) -> bool:
    """Whether *number* is a valid 保険者番号."""
    try:
        return bool(validate(number))
    except ValidationError:
        return False


def from_oqs(value: str) -> str:
    """An ``InsurerNumber`` as OQS clients send it: always 8 characters, 6-digit 国保 numbers padded on the left
    with spaces or with zeros ("  138057", "00138057") — both give "138057".  There is no 法別番号 00."""
    number = compact(value)
    if len(number) == 8 and number.startswith("00") and is_valid(number[2:]):
        return number[2:]
    return validate(number)


def law_code(number: str) -> str | None:
    """法別番号 of an 8-digit number; None for a 6-digit 国保 number."""
    number = compact(number)
    return number[:2] if len(number) == 8 else None


def law_name(code: str) -> str:
    """Short name of a 法別番号 ("01" → 協会けんぽ)."""
    try:
        return LAW_NAMES[code]
    except KeyError:
        raise error(InvalidComponent, f"法別番号 {code} は医療保険者の番号ではありません "
                                      f"(law code {code} is not an insurer's)") from None


def prefecture_code(number: str) -> str:
    """都道府県番号: digits 3–4 of an 8-digit number, 1–2 of a 6-digit one (not checked against 01–47 here)."""
    number = compact(number)
    return number[2:4] if len(number) == 8 else number[:2]


def prefecture_name(code: str) -> str:
    """Name of a 都道府県番号 ("13" → 東京都)."""
    return prefectures.prefecture_name(code)


def format(number: str) -> str:
    """Groups as printed: 法別 都道府県 保険者別 検証."""
    number = compact(number)
    if len(number) == 8:
        return f"{number[:2]} {number[2:4]} {number[4:7]} {number[7]}"
    return f"{number[:2]} {number[2:5]} {number[5]}"
