"""The 全銀協 総合振込 file byte by byte (docs/benefits.md): 120-byte records, header / data / trailer / end."""

from __future__ import annotations

from datetime import date

import pytest

from onshi.benefits import zengin

HEADER = zengin.Header(requester_code="123", requester_name="ｾﾞﾝｺｸｹﾝｺｳﾎｹﾝｷﾖｳｶｲ", transfer_date=date(2027, 1, 4),
                       bank_code="1", bank_name="ﾐｽﾞﾎ", branch_code="2", branch_name="ﾎﾝﾃﾝ", account_type=1,
                       account_number="1234567")


def transfer(amount=123_456, holder="コウロウ　タロウ", **kw):
    return zengin.Transfer(**{"bank_code": "0005", "bank_name": "", "branch_code": "123", "branch_name": "",
                              "account_type": 1, "account_number": "0001234", "holder": holder, "amount": amount,
                              "customer_code": "42", **kw})


def test_every_record_is_120_bytes_with_its_fields_in_place():
    data = zengin.transfer_file(HEADER, [transfer(), transfer(amount=1, holder="ｷｮｳｶｲ")])
    assert data.count(b"\r\n") == 5 and all(len(line) == 120 for line in data.split(b"\r\n")[:-1])
    h, d1, d2, t, e = zengin.parse_records(data)
    assert h[0:4] == b"1210" and h[4:14] == b"0000000123"
    assert h[14:54].rstrip() == "ｾﾞﾝｺｸｹﾝｺｳﾎｹﾝｷﾖｳｶｲ".encode("cp932") and h[54:58] == b"0104"
    assert h[58:62] == b"0001" and h[77:80] == b"002" and h[95:96] == b"1" and h[96:103] == b"1234567"
    assert h[103:] == b" " * 17
    assert d1[0:1] == b"2" and d1[1:5] == b"0005" and d1[5:20] == b" " * 15 and d1[20:23] == b"123"
    assert d1[38:42] == b"0000" and d1[42:43] == b"1" and d1[43:50] == b"0001234"
    assert d1[50:80] == "ｺｳﾛｳ ﾀﾛｳ".encode("cp932").ljust(30) and d1[80:90] == b"0000123456"
    assert d1[90:91] == b"0" and d1[91:101] == b"0000000042" and d1[111:112] == b"7"
    assert d2[50:80].rstrip() == "ｷﾖｳｶｲ".encode("cp932")  # small kana made large
    assert t == b"8" + b"000002" + b"000000123457" + b" " * 101
    assert e == b"9" + b" " * 119
    assert len(zengin.transfer_file(HEADER, [transfer()], newline=False)) == 480


def test_what_the_file_cannot_carry_is_refused_with_its_field():
    with pytest.raises(zengin.ZenginError) as exc:
        zengin.transfer_file(HEADER, [transfer(holder="厚労　太郎")])
    assert exc.value.field == "holder" and "厚" in exc.value.message
    with pytest.raises(zengin.ZenginError) as exc:
        zengin.transfer_file(HEADER, [transfer(amount=0)])
    assert exc.value.field == "amount"
    with pytest.raises(zengin.ZenginError) as exc:
        zengin.transfer_file(HEADER, [transfer(amount=10_000_000_000)])
    assert exc.value.field == "amount"
    assert zengin.check_account(bank_code="0005", branch_code="123", account_type=1, account_number="1234567") == {}
