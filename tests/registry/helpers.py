"""Small builders for intake tests: real CSV files in a temporary folder."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path

from onshi.registry import intake, service
from onshi.registry.intake import LAYOUTS
from onshi.registry.models import NotificationType as T
from onshi.store.db import unit_of_work

INSURER = "01130012"
OTHER_INSURER = "06139992"
SYMBOL = "10000001"
MN_TARO = "621498320257"  # valid (insurance-rules.md)
MN_HANAKO = "123456789018"
MN_CHILD = "111111111118"


def csv_bytes(ntype: T, rows: list[dict], encoding: str = "utf-8", header: list[str] | None = None) -> bytes:
    buf = io.StringIO()
    names = header or list(LAYOUTS[ntype])
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(names)
    for row in rows:
        w.writerow([row.get(n, "") for n in names])
    return buf.getvalue().encode(encoding)


def write(tmp_path: Path, name: str, ntype: T, rows: list[dict], **kw) -> Path:
    p = tmp_path / name
    p.write_bytes(csv_bytes(ntype, rows, **kw))
    return p


def load(path: Path, ntype: T, received_at: datetime | None = None) -> intake.IntakeReport:
    with unit_of_work() as s:
        return intake.import_file(s, path, ntype, received_at=received_at)


def setup_insurers(tmp_path: Path) -> None:
    with unit_of_work() as s:
        service.add_insurer(s, number=INSURER, name="全国健康保険協会 東京支部", kind="kyokai")
        service.add_insurer(s, number=OTHER_INSURER, name="オンシ健康保険組合")
    rep = load(write(tmp_path, "emp.csv", T.employer, [
        {"insurer_number": INSURER, "employer_symbol": SYMBOL, "employer_name": "株式会社テスト",
         "postal_code": "100-0001", "address": "東京都千代田区千代田1-1", "prefecture_code": "13"},
        {"insurer_number": OTHER_INSURER, "employer_symbol": "9001", "employer_name": "オンシ商事",
         "postal_code": "1000002", "address": "東京都千代田区皇居外苑1", "prefecture_code": "13"},
    ]), T.employer)
    assert rep.applied == 2, rep.errors


def acquisition(**over) -> dict:
    row = {"insurer_number": INSURER, "employer_symbol": SYMBOL, "number": "101", "branch": "00",
           "my_number": MN_TARO, "name": "厚労　太郎", "name_kana": "コウロウ　タロウ", "birth_date": "1970-01-01",
           "sex": "1", "postal_code": "105-0001", "address": "東京都港区虎ノ門1-1", "acquisition_date": "2024-04-01",
           "monthly_remuneration": "410000", "card_classification": "01", "voluntary_continuation": "0"}
    row.update(over)
    return row


def dependent(**over) -> dict:
    row = {"insurer_number": INSURER, "employer_symbol": SYMBOL, "number": "101", "branch": "01", "change": "add",
           "my_number": MN_HANAKO, "name": "厚労　花子", "name_kana": "コウロウ　ハナコ", "birth_date": "1972-05-05",
           "sex": "2", "postal_code": "105-0001", "address": "東京都港区虎ノ門1-1", "effective_date": "2024-04-01",
           "loss_reason": ""}
    row.update(over)
    return row


def numbers(**over) -> dict:
    row = {"insurer_number": INSURER, "employer_symbol": SYMBOL, "number": "101", "branch": "00"}
    row.update(over)
    return row
