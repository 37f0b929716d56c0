"""The 全銀協 総合振込 (general transfer) file: fixed-length 120-byte records, header / data… / trailer / end.

Pure: bytes from plain data.  Layout (docs/benefits.md, after the 全銀協制定ファイルフォーマット【総合振込】 as banks
publish it): N = digits, right-aligned, zero-filled; C = half-width characters (英大文字・数字・半角カナ・一部記号),
left-aligned, space-filled; encoded in JIS X 0201 (half-width katakana as single bytes: cp932 gives the same
bytes); records joined by CR LF (``newline=True``, what most banks' upload accepts) or not at all.

>>> h = Header(requester_code="1234567890", requester_name="ｷﾖｳｶｲｹﾝﾎﾟ", transfer_date=date(2026, 12, 8),
...            bank_code="0001", bank_name="ﾐｽﾞﾎ", branch_code="001", branch_name="ﾄｳｷﾖｳ", account_type=1,
...            account_number="1234567")
>>> rec = Transfer(bank_code="0005", bank_name="", branch_code="123", branch_name="", account_type=1,
...                account_number="0001234", holder="ｺｳﾛｳ ﾀﾛｳ", amount=123456, customer_code="42")
>>> f = transfer_file(h, [rec], newline=False)
>>> len(f), f[:4], f[120:121], f[240:241], f[360:361]
(480, b'1210', b'2', b'8', b'9')
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

import jaconv

RECORD = 120
ACCOUNT_TYPES = {1: "普通", 2: "当座", 4: "貯蓄", 9: "その他"}
_SMALL = str.maketrans("ｧｨｩｪｫｯｬｭｮ", "ｱｲｳｴｵﾂﾔﾕﾖ")
_ALLOWED = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ ().-/\\,") | {chr(c) for c in range(0xFF66, 0xFFA0)}


class ZenginError(ValueError):
    """A value the transfer file cannot carry: ``field`` and why (Japanese)."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def kana(value: str, field: str = "holder") -> str:
    """A name as 全銀 characters: full-width kana and letters to half width, lower case to upper, small kana to
    large (ｬ → ﾔ); anything else refused.

    >>> kana("コウロウ　タロウ"), kana("ｷｮｳｶｲ"), kana("ＡＢＣ")
    ('ｺｳﾛｳ ﾀﾛｳ', 'ｷﾖｳｶｲ', 'ABC')
    """
    v = unicodedata.normalize("NFKC", value)  # half-width kana → full width, full-width ASCII → half width
    v = jaconv.hira2kata(v)
    v = jaconv.z2h(v, kana=True, ascii=True, digit=True).upper().translate(_SMALL).replace("\u3000", " ")
    bad = sorted({c for c in v if c not in _ALLOWED})
    if bad:
        raise ZenginError(field, f"「{value}」: 振込データに使えない文字 {'、'.join(bad)} があります（半角カナ・英大文字・数字のみ）")
    return v


def _n(value: int | str, width: int, field: str) -> bytes:
    s = str(value)
    if not s.isdigit() or len(s) > width:
        raise ZenginError(field, f"「{value}」: {width}桁以内の数字ではありません")
    return s.rjust(width, "0").encode("ascii")


def _c(value: str, width: int, field: str) -> bytes:
    b = kana(value, field).encode("cp932") if value else b""
    if len(b) > width:
        raise ZenginError(field, f"「{value}」: {width}文字を超えています")
    return b.ljust(width, b" ")


def check_account(*, bank_code: str, branch_code: str, account_type: int, account_number: str) -> dict[str, str]:
    """What is wrong with an account, ``{field: reason}`` (empty when it passes).  The checks are of form: 4-digit
    bank code, 3-digit branch, a known 預金種目, a 7-digit number (Japanese account numbers carry no general check
    digit).

    >>> check_account(bank_code="0005", branch_code="12", account_type=3, account_number="12345678")
    {'branch_code': '支店番号「12」: 3桁の数字です', 'account_type': '預金種目「3」: 1 普通, 2 当座, 4 貯蓄, 9 その他 のいずれかです', 'account_number': '口座番号「12345678」: 7桁の数字です'}
    """
    out = {}
    if not (len(bank_code) == 4 and bank_code.isdigit()):
        out["bank_code"] = f"金融機関コード「{bank_code}」: 4桁の数字です"
    if not (len(branch_code) == 3 and branch_code.isdigit()):
        out["branch_code"] = f"支店番号「{branch_code}」: 3桁の数字です"
    if account_type not in ACCOUNT_TYPES:
        out["account_type"] = f"預金種目「{account_type}」: 1 普通, 2 当座, 4 貯蓄, 9 その他 のいずれかです"
    if not (len(account_number) == 7 and account_number.isdigit()):
        out["account_number"] = "口座番号「" + account_number + "」: 7桁の数字です"
    return out


@dataclass(frozen=True)
class Header:
    requester_code: str  # 振込依頼人コード (委託者コード, given by the bank)
    requester_name: str
    transfer_date: date
    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: int
    account_number: str


@dataclass(frozen=True)
class Transfer:
    bank_code: str
    bank_name: str
    branch_code: str
    branch_name: str
    account_type: int
    account_number: str
    holder: str
    amount: int
    customer_code: str = ""  # 顧客コード1: the application id


def header_record(h: Header) -> bytes:
    rec = (b"1" + b"21" + b"0" + _n(h.requester_code, 10, "requester_code") + _c(h.requester_name, 40, "requester_name")
           + h.transfer_date.strftime("%m%d").encode() + _n(h.bank_code, 4, "bank_code")
           + _c(h.bank_name, 15, "bank_name") + _n(h.branch_code, 3, "branch_code")
           + _c(h.branch_name, 15, "branch_name") + _n(h.account_type, 1, "account_type")
           + _n(h.account_number, 7, "account_number") + b" " * 17)
    assert len(rec) == RECORD, len(rec)
    return rec


def data_record(t: Transfer) -> bytes:
    if t.amount <= 0:
        raise ZenginError("amount", f"振込金額 {t.amount}: 1円以上です")
    rec = (b"2" + _n(t.bank_code, 4, "bank_code") + _c(t.bank_name, 15, "bank_name")
           + _n(t.branch_code, 3, "branch_code") + _c(t.branch_name, 15, "branch_name") + b"0000"
           + _n(t.account_type, 1, "account_type") + _n(t.account_number, 7, "account_number")
           + _c(t.holder, 30, "holder") + _n(t.amount, 10, "amount") + b"0"
           + _n(t.customer_code or "0", 10, "customer_code") + b"0" * 10 + b"7" + b" " + b" " * 7)
    assert len(rec) == RECORD, len(rec)
    return rec


def trailer_record(count: int, total: int) -> bytes:
    return b"8" + _n(count, 6, "count") + _n(total, 12, "total") + b" " * 101


def end_record() -> bytes:
    return b"9" + b" " * 119


def transfer_file(header: Header, transfers: list[Transfer], *, newline: bool = True) -> bytes:
    """The whole file: header, one data record per transfer, trailer (count and total), end."""
    records = [header_record(header), *map(data_record, transfers),
               trailer_record(len(transfers), sum(t.amount for t in transfers)), end_record()]
    return (b"\r\n" if newline else b"").join(records) + (b"\r\n" if newline else b"")


def parse_records(data: bytes) -> list[bytes]:
    """The 120-byte records of a file (with or without CR LF) — for tests and checks."""
    flat = data.replace(b"\r\n", b"")
    if len(flat) % RECORD:
        raise ValueError(f"length {len(flat)} is not a multiple of {RECORD}")
    return [flat[i:i + RECORD] for i in range(0, len(flat), RECORD)]
