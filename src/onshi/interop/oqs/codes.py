"""The code tables (コード表) of the OQS XmlMsg interface, as enums named by meaning.

Tables that are also part of the domain result (資格有効性, 照会区分, 性別…) are
defined once in :mod:`onshi.verify.result` and re-exported here; the rest live
here.  Every value a renderer writes goes through one of these enums, so no
code outside the tables can reach a client.

>>> SegmentOfResult.PROCESSING.value, CharacterCode.SHIFT_JIS.value
(2, 1)
>>> LimitCategory("B09").label
'一般Ⅱ'
>>> TABLES["OQSCD006"] is Validity
True
"""

from __future__ import annotations

from enum import Enum, IntEnum

from onshi.verify.result import (
    CardClassification,
    ConsentStatus,
    LossReason,
    PersonalFamily,
    ReferenceClass,
    Sex,
    Validity,
)

__all__ = [
    "LimitConsent", "ReferenceClass", "SegmentOfResult", "ProcessingResultStatus", "CharacterCode", "Validity",
    "Sex", "LossReason", "PersonalFamily", "CardClassification", "LimitCertificateClassification",
    "LimitCategory", "SpecificDisease", "LimitInfoChanged", "Preschool", "ConsentStatus", "CareType",
    "CareSetting", "TABLES", "LABELS", "label", "wire",
]


class LimitConsent(IntEnum):
    """限度額同意 (OQSCD001): consent to share 限度額適用認定証 data."""

    NOT_GIVEN = 0  #: 未同意
    GIVEN = 1      #: 同意


class SegmentOfResult(IntEnum):
    """処理結果区分 (OQSCD003): did the whole message succeed?"""

    NORMAL = 1      #: 正常終了
    PROCESSING = 2  #: 処理中 (bulk: poll again)
    ABNORMAL = 9    #: 異常終了 (ErrorCode/ErrorMessage say why)


class ProcessingResultStatus(IntEnum):
    """処理結果状況 (OQSCD004): did this one verification succeed?"""

    NORMAL = 1  #: 正常終了
    ERROR = 2   #: エラー


class CharacterCode(IntEnum):
    """文字コード識別 (OQSCD005): the real encoding of the file."""

    UTF8 = 0       #: UTF-8
    SHIFT_JIS = 1  #: Shift_JIS


class LimitCertificateClassification(str, Enum):
    """限度額適用認定証区分 (OQSCD011)."""

    LIMIT = "01"                    #: 限度額適用
    LIMIT_AND_MEAL_REDUCTION = "02"  #: 限度額適用・標準負担額減額
    MEAL_REDUCTION = "03"           #: 標準負担額減額

    @property
    def label(self) -> str:
        return LABELS["OQSCD011"][self.value]


class LimitCategory(str, Enum):
    """限度額適用区分 (OQSCD012): the income category that sets the monthly ceiling."""

    A01 = "A01"  #: ア (under 70)
    A02 = "A02"  #: イ
    A03 = "A03"  #: ウ
    A04 = "A04"  #: エ
    A05 = "A05"  #: オ
    A06 = "A06"  #: オ（境）
    B01 = "B01"  #: 現役並みⅢ (70 and over)
    B02 = "B02"  #: 現役並みⅡ
    B03 = "B03"  #: 現役並みⅠ
    B04 = "B04"  #: 一般
    B05 = "B05"  #: 低所得Ⅱ
    B06 = "B06"  #: 低所得Ⅰ
    B07 = "B07"  #: 低所得Ⅰ（老福）
    B08 = "B08"  #: 低所得Ⅰ（境）
    B09 = "B09"  #: 一般Ⅱ
    B10 = "B10"  #: 一般Ⅰ

    @property
    def label(self) -> str:
        return LABELS["OQSCD012"][self.value]


class SpecificDisease(IntEnum):
    """特定疾病 (OQSCD013): 長期高額疾病 with the 10,000-yen ceiling."""

    CHRONIC_RENAL_FAILURE_DIALYSIS = 1  #: 人工透析を要する慢性腎不全
    CONGENITAL_COAGULATION_DISORDER = 2  #: 先天性血液凝固因子障害
    HIV_FROM_BLOOD_PRODUCTS = 3          #: 血液凝固因子製剤起因HIV


class LimitInfoChanged(IntEnum):
    """限度額情報変更 (OQSCD014)."""

    NO = 0            #: なし
    YES_OR_UNKNOWN = 1  #: あり／判定不能


class Preschool(IntEnum):
    """未就学区分 (OQSCD015): the element is left out when the patient is not preschool."""

    PRESCHOOL = 1  #: 該当


class CareType(str, Enum):
    """診療別 (OQSCD019)."""

    INPATIENT = "01"      #: 入院
    OUTPATIENT = "02"     #: 入院外
    DENTAL = "03"         #: 歯科
    DISPENSING = "04"     #: 調剤
    HOME_NURSING = "05"   #: 訪問看護


class CareSetting(IntEnum):
    """診療区分 (OQSCD028)."""

    OUTPATIENT = 1     #: 外来
    HOME_VISIT = 2     #: 訪問診療等
    ONLINE = 3         #: オンライン診療等
    EMERGENCY = 4      #: 救急時


TABLES: dict[str, type[Enum]] = {
    "OQSCD001": LimitConsent,
    "OQSCD002": ReferenceClass,
    "OQSCD003": SegmentOfResult,
    "OQSCD004": ProcessingResultStatus,
    "OQSCD005": CharacterCode,
    "OQSCD006": Validity,
    "OQSCD007": Sex,
    "OQSCD008": LossReason,
    "OQSCD009": PersonalFamily,
    "OQSCD010": CardClassification,
    "OQSCD011": LimitCertificateClassification,
    "OQSCD012": LimitCategory,
    "OQSCD013": SpecificDisease,
    "OQSCD014": LimitInfoChanged,
    "OQSCD015": Preschool,
    "OQSCD016": ConsentStatus,
    "OQSCD019": CareType,
    "OQSCD028": CareSetting,
}

#: The Japanese label of each code, as a receptionist reads it (keys are the wire form).
LABELS: dict[str, dict[str, str]] = {
    "OQSCD001": {"0": "未同意", "1": "同意"},
    "OQSCD002": {"1": "マイナンバーカード", "2": "被保険者証情報"},
    "OQSCD003": {"1": "正常終了", "2": "処理中", "9": "異常終了"},
    "OQSCD004": {"1": "正常終了", "2": "エラー"},
    "OQSCD005": {"0": "UTF-8", "1": "Shift_JIS"},
    "OQSCD006": {"1": "有効", "2": "無効", "3": "無効（新しい資格あり）", "4": "該当資格なし", "5": "複数該当",
                 "6": "有効（未登録）"},
    "OQSCD007": {"1": "男", "2": "女", "3": "未設定"},
    "OQSCD008": {"01": "死亡", "02": "生活保護受給開始", "03": "医療保険等の資格取得", "99": "その他"},
    "OQSCD009": {"1": "本人", "2": "家族"},
    "OQSCD010": {"01": "一般", "02": "退職", "03": "短期(一般)", "04": "短期(退職)", "05": "資格証明書",
                 "06": "特例退職", "07": "自衛官診療証"},
    "OQSCD011": {"01": "限度額適用", "02": "限度額適用・標準負担額減額", "03": "標準負担額減額"},
    "OQSCD012": {"A01": "ア", "A02": "イ", "A03": "ウ", "A04": "エ", "A05": "オ", "A06": "オ（境）",
                 "B01": "現役並みⅢ", "B02": "現役並みⅡ", "B03": "現役並みⅠ", "B04": "一般", "B05": "低所得Ⅱ",
                 "B06": "低所得Ⅰ", "B07": "低所得Ⅰ（老福）", "B08": "低所得Ⅰ（境）", "B09": "一般Ⅱ",
                 "B10": "一般Ⅰ"},
    "OQSCD013": {"1": "人工透析を要する慢性腎不全", "2": "先天性血液凝固因子障害", "3": "血液凝固因子製剤起因HIV"},
    "OQSCD014": {"0": "なし", "1": "あり／判定不能"},
    "OQSCD015": {"1": "該当"},
    "OQSCD016": {"0": "なし", "1": "あり", "2": "期限切れ", "3": "取得困難"},
    "OQSCD019": {"01": "入院", "02": "入院外", "03": "歯科", "04": "調剤", "05": "訪問看護"},
    "OQSCD028": {"1": "外来", "2": "訪問診療等", "3": "オンライン診療等", "4": "救急時"},
}


def wire(code: Enum) -> str:
    """The string form of a code as written in XML/JSON.

    >>> wire(Validity.VALID), wire(CardClassification.GENERAL), wire(LimitCategory.A01)
    ('1', '01', 'A01')
    """
    return str(code.value)


def label(table: str, code: Enum | str | int) -> str:
    """The Japanese label of ``code`` in ``table``.

    >>> label("OQSCD006", Validity.NOT_FOUND)
    '該当資格なし'
    """
    key = wire(code) if isinstance(code, Enum) else str(code)
    return LABELS[table][key]


#: Where a reception screen words a code differently from the code table's name (the name stays the table's, in
#: :data:`LABELS`, and is what the interfaces write).  資格有効性 4 is named 該当資格なし in OQSCD006; the national
#: system's reception screens show it as 「資格情報なし」 (seed 003: 「資格(無効)」、「資格情報なし」), and so do ours.
SCREEN_WORDING: dict[str, dict[str, str]] = {
    "OQSCD006": {"4": "資格情報なし"},
}


def screen_label(table: str, code: Enum | str | int) -> str:
    """The wording a reception screen shows for ``code`` in ``table``: :data:`SCREEN_WORDING`, else the name.

    >>> screen_label("OQSCD006", Validity.NOT_FOUND), label("OQSCD006", Validity.NOT_FOUND)
    ('資格情報なし', '該当資格なし')
    >>> screen_label("OQSCD006", 3)
    '無効（新しい資格あり）'
    """
    key = wire(code) if isinstance(code, Enum) else str(code)
    return SCREEN_WORDING.get(table, {}).get(key) or LABELS[table][key]


def _check_tables() -> None:
    for name, enum in TABLES.items():
        assert {wire(m) for m in enum} == set(LABELS[name]), name
    for name, wording in SCREEN_WORDING.items():
        assert set(wording) <= set(LABELS[name]), name


_check_tables()
