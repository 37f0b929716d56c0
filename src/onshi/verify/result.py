"""The result of an eligibility verification (資格確認結果) in domain terms.

This module is the contract between the verification service and every
interface that speaks to clinics (REST, OQS XmlMsg in XML/JSON, the terminal's
file exchange, FHIR).  It holds plain frozen dataclasses with Python types —
``date``, ``int``, ``str`` and enums — and no formatting: the OQS layer turns
dates into ``yyyyMMdd``, ratios into 3-digit percent and kana into half-width;
the FHIR layer makes resources.

The enums are the code tables of the OQS interface (the OQSCD number stands in
each docstring); :mod:`onshi.interop.oqs.codes` re-exports them so that no
table is defined twice.

>>> Validity.VALID, int(ReferenceClass.NUMBERS)
(<Validity.VALID: 1>, 2)
>>> CardClassification("01").name
'GENERAL'
>>> ConsentKind("limit") is ConsentKind.LIMIT
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum, IntEnum
from typing import Any

__all__ = [
    "Validity", "ReferenceClass", "Sex", "PersonalFamily", "CardClassification", "LossReason",
    "ConsentStatus", "ConsentKind", "Consent", "ElderlyInfo", "LimitSource", "LimitInfo", "QualificationAnswer",
    "VerificationRequest", "VerificationOutcome", "VerificationError", "ReferenceRegistration", "ScopeError",
    "ProvisionalBilling",
]


class Validity(IntEnum):
    """資格有効性 (OQSCD006): is there a qualification on the day of care?"""

    VALID = 1                 #: 有効
    INVALID = 2               #: 無効 (lost before the day of care)
    INVALID_NEWER_EXISTS = 3  #: 無効（新しい資格あり）
    NOT_FOUND = 4             #: 該当資格なし
    MULTIPLE = 5              #: 複数該当 (numbers without 枝番 match several people)
    VALID_UNREGISTERED = 6    #: 有効（未登録）— public assistance only; never produced for health insurance


class ReferenceClass(IntEnum):
    """照会区分 (OQSCD002): how the patient was identified."""

    CARD = 1     #: マイナンバーカード (the card reader)
    NUMBERS = 2  #: 被保険者証情報 (numbers typed in by reception)


class Sex(IntEnum):
    """性別 (OQSCD007)."""

    MALE = 1     #: 男
    FEMALE = 2   #: 女
    UNSET = 3    #: 未設定


class PersonalFamily(IntEnum):
    """本人・家族 (OQSCD009)."""

    INSURED = 1  #: 本人 (被保険者)
    FAMILY = 2   #: 家族 (被扶養者)


class CardClassification(str, Enum):
    """被保険者証区分 (OQSCD010); two-digit string codes."""

    GENERAL = "01"                #: 一般
    RETIRED = "02"                #: 退職
    SHORT_TERM_GENERAL = "03"     #: 短期(一般)
    SHORT_TERM_RETIRED = "04"     #: 短期(退職)
    QUALIFICATION_CERTIFICATE = "05"  #: 資格証明書
    SPECIAL_RETIRED = "06"        #: 特例退職
    SELF_DEFENSE_FORCES = "07"    #: 自衛官診療証


class LossReason(str, Enum):
    """資格喪失事由 (OQSCD008); two-digit string codes."""

    DEATH = "01"              #: 死亡
    PUBLIC_ASSISTANCE = "02"  #: 生活保護受給開始
    OTHER_INSURANCE = "03"    #: 医療保険等の資格取得
    OTHER = "99"              #: その他


class ConsentStatus(IntEnum):
    """同意区分 (OQSCD016): the patient's answer at the card reader."""

    NONE = 0         #: なし
    GIVEN = 1        #: あり
    EXPIRED = 2      #: 期限切れ
    UNOBTAINABLE = 3  #: 取得困難


class ConsentKind(str, Enum):
    """What the patient may consent to share with this institution (the values are stable names)."""

    LIMIT = "limit"                                          #: 限度額適用認定証関連情報
    SPECIFIC_HEALTH_CHECKUPS = "specific_health_checkups"    #: 特定健診情報
    PHARMACIST = "pharmacist"                                #: 薬剤情報
    DIAGNOSIS = "diagnosis"                                  #: 診療情報
    OPERATION = "operation"                                  #: 手術情報


@dataclass(frozen=True)
class Consent:
    """One consent: its kind, the answer, when it was given and until when the data may be viewed."""

    kind: ConsentKind
    status: ConsentStatus
    consented_at: datetime | None = None
    available_until: datetime | None = None


@dataclass(frozen=True)
class ElderlyInfo:
    """高齢受給者証 information (ages 70–74); the ratio in tenths (2 = 2割)."""

    certificate_date: date | None
    valid_from: date | None
    valid_to: date | None
    ratio_tenths: int | None


class LimitSource(str, Enum):
    """Where the 限度額適用区分 of an answer comes from (not an OQS code table: see docs/oqs.md for the wire)."""

    REMUNERATION = "remuneration"  #: derived from the registered 標準報酬月額 on the date of care (no application)
    APPLICATION = "application"    #: a 限度額適用(・標準負担額減額)認定 applied for and registered by the insurer


@dataclass(frozen=True)
class LimitInfo:
    """限度額適用認定証関連情報, given only with the patient's consent.

    ``classification_code`` is OQSCD011 (``"01"``…), ``category_code`` OQSCD012 (``"A01"``…).  ``source`` says
    whether the 区分 was derived from the registered 標準報酬月額 (then ``certificate_date`` is None: no 認定 was
    issued) or comes from an application.  ``valid_to`` is the last valid day.
    """

    classification_code: str
    category_code: str
    certificate_date: date | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    long_term_date: date | None = None  #: 長期入院該当年月日
    source: LimitSource = LimitSource.APPLICATION


@dataclass(frozen=True)
class QualificationAnswer:
    """One qualification in the answer (one ``ResultOfQualificationConfirmation``).

    ``name_kana`` is full-width katakana here; the OQS layer converts it to
    half-width.  ``insured_name`` is the name of the member a dependent is insured through (被保険者氏名, shown
    by clinic software as 世帯主/被保険者); it is ``None`` for the member themselves — their name is ``name`` —
    in every answer (REST, OQS XML, FHIR), as decided in docs/oqs-clients.md.  ``co_pay_ratio_tenths`` is
    一部負担金割合 in tenths (3 = 3割).
    """

    card_classification: CardClassification
    insurer_number: str
    insurer_name: str
    symbol: str | None
    number: str
    branch: str | None
    personal_family: PersonalFamily
    insured_name: str | None
    name: str
    name_kana: str | None
    name_of_other: str | None
    name_of_other_kana: str | None
    sex: Sex
    birth_date: date
    address: str | None
    postal_code: str | None
    qualification_date: date | None
    disqualification_date: date | None
    loss_reason: LossReason | None
    certificate_issue_date: date | None
    card_valid_from: date | None
    card_valid_to: date | None
    co_pay_ratio_tenths: int | None
    preschool: bool = False
    elderly: ElderlyInfo | None = None
    limit_consent: Consent | None = None
    limit: LimitInfo | None = None
    other_consents: tuple[Consent, ...] = ()
    reference_number: str | None = None  #: 照会番号, when the institution registered one
    arbitrary_identifier: str | None = None  #: echoed from the request

    def __post_init__(self) -> None:
        if self.insured_name is not None and self.personal_family == PersonalFamily.INSURED:
            object.__setattr__(self, "insured_name", None)  # the member themselves: the name is ``name``


@dataclass(frozen=True)
class VerificationRequest:
    """A request to verify, by card (the reader) or by the numbers on a card.

    For a card request the number fields are ``None`` and ``card_serial`` /
    ``reader_outcome`` say what the reader saw.  ``symbol`` and ``branch`` may be
    ``None`` or empty when the card has none / the clinic did not give one.
    """

    reference_class: ReferenceClass
    care_date: date
    institution_code: str | None
    arbitrary_file_identifier: str | None
    insurer_number: str | None
    symbol: str | None
    number: str | None
    branch: str | None
    birth_date: date | None
    limit_consent: bool
    arbitrary_identifier: str | None
    card_serial: str | None = None
    reader_outcome: dict[str, Any] | None = field(default=None, compare=False)
    #: by card: the credential the reader read — ``card`` or ``smartphone`` (None: whichever the serial is)
    credential: str | None = None
    #: by numbers: a 居宅同意取得型 re-query (再照会) of a patient the institution verified by card, without the card
    requery: bool = False


@dataclass(frozen=True)
class ProvisionalBilling:
    """有効期限切れの健康保険証の暫定的な取扱い, when it applies to an answer (:mod:`onshi.rules.transition`): the
    patient's old card lapsed after ``lapsed_after``; confirmed online, the visit is billed at ``ratio_tenths``
    (the answer's 一部負担金割合) until ``until``.  ``message`` is what the receptionist is shown."""

    until: date
    lapsed_after: date
    ratio_tenths: int | None
    message: str


@dataclass(frozen=True)
class VerificationOutcome:
    """The decision and the qualifications shown; ``warning`` e.g. "the certificate expires within 3 months".

    ``receipt``/``receipt_id``/``etag``/``not_modified`` come from :mod:`onshi.verify.receipts`."""

    validity: Validity
    answers: tuple[QualificationAnswer, ...] = ()
    warning: str | None = None
    receipt: str | None = None  #: the signed receipt of this answer (docs/receipts.md)
    receipt_id: str | None = None  #: its id, kept in the usage log
    etag: str | None = None  #: the answer's entity tag (same tag = same answer)
    not_modified: bool = False  #: the request's If-None-Match named the tag: no answers carried (HTTP 304)
    #: the provisional billing on an expired 健康保険証, when it applies (numbers requests, valid, in its period)
    provisional_billing: ProvisionalBilling | None = None


@dataclass(frozen=True)
class ReferenceRegistration:
    """照会番号 registration: the clinic's own id (≤ 50 chars) for a set of card numbers."""

    reference_number: str
    insurer_number: str
    symbol: str | None
    number: str
    branch: str | None


class VerificationError(Exception):
    """A request that cannot be answered as asked (bad field, unknown card…).

    ``code`` is an OQS-style error code (see docs/oqs.md), ``message`` says what
    is wrong and how to fix it, ``field`` names the offending element.
    """

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{code}: {message}" + (f" [{field}]" if field else ""))
        self.code = code
        self.message = message
        self.field = field

    def __reduce__(self):  # keep picklable with keyword-less init
        return (type(self), (self.code, self.message, self.field))


class ScopeError(VerificationError):
    """A request the institution's kind (its token's scope) does not allow — a 資格確認限定型 asking for 限度額 or
    consents, a re-query by an institution that is not 居宅同意取得型: REST answers 403, nothing is recorded."""
