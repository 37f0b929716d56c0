"""The data of the printed documents, and what rendering gives back (no drawing here).

Input (frozen dataclasses, built by the caller and checked when built):

* :class:`CertificateData` — one 資格確認書;
* :class:`NoticeData` — one 資格情報のお知らせ (A4 part + detachable card part);
* :class:`CoverLetterData` with :class:`Enclosure` rows — the cover letter (送付状) and
  enclosure list (同封者一覧) of an employer's bundle.

Results: :class:`RenderedPDF` (bytes with ``warnings`` and ``page_count``),
:class:`RenderWarning` (what a clerk should look at), :class:`StreamReport` (what a
streaming render wrote).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Self

__all__ = [
    "CertificateData",
    "CoverLetterData",
    "Document",
    "Enclosure",
    "NoticeData",
    "RenderWarning",
    "RenderedPDF",
    "StreamReport",
]

# ---------------------------------------------------------------------------
# Input data
# ---------------------------------------------------------------------------


def _check_digits(label: str, value: str | None, length: int | None = None) -> None:
    if value is None:
        return
    if not value.isdigit() or (length is not None and len(value) != length):
        what = f"{length} digits" if length else "digits only"
        raise ValueError(f"{label}: {value!r} must be {what}")


@dataclass(frozen=True)
class CertificateData:
    """One 資格確認書 (eligibility certificate)."""

    name: str  # 氏名
    name_kana: str  # フリガナ
    birth_date: date  # 生年月日
    sex: str  # 性別, as printed: "男" / "女"
    symbol: str  # 記号
    number: str  # 番号
    branch: str  # 枝番 (2 digits)
    insurer_number: str  # 保険者番号
    insurer_name: str  # 保険者名称
    issue_date: date  # 交付年月日
    valid_until: date  # 有効期限
    personal_family: str = "本人"  # 本人 (被保険者) / 家族 (被扶養者)
    insurer_address: str | None = None  # 保険者所在地
    co_pay_ratio_tenths: int | None = None  # 一部負担金の割合 (3 = 3割)
    qualification_date: date | None = None  # 資格取得年月日
    limit_category_label: str | None = None  # 限度額適用区分 (only when applied for)
    insurer_contact: str | None = None  # お問い合わせ先 (電話・受付時間・ホームページ), under 「下記までお問い合わせください」
    insurer_postal_code: str | None = None  # 保険者の郵便番号

    def __post_init__(self) -> None:
        if self.personal_family not in ("本人", "家族"):
            raise ValueError(f"personal_family: {self.personal_family!r} must be 本人 or 家族")
        _check_digits("branch", self.branch, 2)
        _check_digits("insurer_number", self.insurer_number)
        if self.co_pay_ratio_tenths is not None and not 1 <= self.co_pay_ratio_tenths <= 10:
            raise ValueError(f"co_pay_ratio_tenths: {self.co_pay_ratio_tenths} is not 1–10")
        if self.valid_until < self.issue_date:
            raise ValueError("valid_until is before issue_date")


@dataclass(frozen=True)
class NoticeData:
    """One 資格情報のお知らせ: the A4 part and the detachable card part."""

    symbol: str  # 記号
    number: str  # 番号
    branch: str  # 枝番
    name: str  # 氏名
    name_kana: str  # フリガナ
    birth_date: date  # 生年月日
    insurer_name: str  # 保険者名
    insurer_number: str  # 保険者番号
    issue_date: date  # 発行日
    co_pay_ratio_tenths: int | None = None  # 負担割合
    qualification_date: date | None = None  # 資格取得年月日
    #: Last 4 digits of the registered My Number; None (unregistered or in doubt) prints blank.
    my_number_last4: str | None = None
    postal_code: str | None = None  # 郵便番号 of the recipient ("1000001" or "100-0001")
    address_line1: str | None = None  # 住所 (1行目)
    address_line2: str | None = None  # 住所 (2行目, optional)
    employer_name: str | None = None  # 事業所名 (sent via the employer)
    insurer_address: str | None = None
    insurer_contact: str | None = None  # お問い合わせ先

    def __post_init__(self) -> None:
        _check_digits("my_number_last4", self.my_number_last4, 4)
        _check_digits("branch", self.branch, 2)
        _check_digits("insurer_number", self.insurer_number)
        if self.co_pay_ratio_tenths is not None and not 1 <= self.co_pay_ratio_tenths <= 10:
            raise ValueError(f"co_pay_ratio_tenths: {self.co_pay_ratio_tenths} is not 1–10")


@dataclass(frozen=True)
class Enclosure:
    """One row of an enclosure list (同封者一覧)."""

    name: str
    name_kana: str = ""
    symbol: str = ""
    number: str = ""
    branch: str = ""


@dataclass(frozen=True)
class CoverLetterData:
    """The cover letter of an employer's bundle (事業主様あて送付状) and its enclosure list."""

    employer_name: str
    insurer_name: str
    issue_date: date
    employer_postal_code: str | None = None
    employer_address_line1: str | None = None
    employer_address_line2: str | None = None
    employer_contact: str | None = None  # ご担当者 (printed before 様)
    insurer_address: str | None = None
    insurer_contact: str | None = None
    insurer_number: str | None = None
    #: The list; empty → built from the notices by :func:`render_bundle`.
    enclosures: tuple[Enclosure, ...] = ()


Document = CertificateData | NoticeData

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderWarning:
    """Something a clerk should look at; the document was still rendered.

    ``code``: ``"missing"`` (an expected field was blank and printed blank),
    ``"gaiji"`` (a character outside JIS X 0208 was replaced, see ``detail``),
    ``"overflow"`` (a text did not fit its box even at the smallest size).
    """

    document: str  # which document: "記号-番号-枝番" or the employer name
    field: str
    code: str
    message: str
    detail: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.document}: {self.field}: {self.message}"


class RenderedPDF(bytes):
    """PDF bytes, with the warnings raised while rendering and the page count."""

    warnings: tuple[RenderWarning, ...]
    page_count: int

    def __new__(cls, data: bytes, warnings: Sequence[RenderWarning] = (), page_count: int = 0) -> Self:
        obj = super().__new__(cls, data)
        obj.warnings = tuple(warnings)
        obj.page_count = page_count
        return obj

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self).hexdigest()


@dataclass
class StreamReport:
    """What :func:`render_to_file` / :func:`render_to_files` wrote."""

    documents: int = 0
    pages: int = 0
    bytes_written: int = 0
    files: list[Path] = field(default_factory=list)
    warnings: list[RenderWarning] = field(default_factory=list)
