"""Builders for claim tests: real claim CSV files and the drug master that comes with onshi."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from onshi.claims import intake
from onshi.store.db import unit_of_work
from tests.registry.helpers import INSURER, SYMBOL

CLINIC = "1310000011"
HEADER = list(intake.COLUMNS)


def line(**over) -> dict:
    row = {"institution_code": CLINIC, "month": "2024-11", "claim_number": "1", "setting": "外来",
           "insurer_number": INSURER, "symbol": SYMBOL, "number": "101", "branch": "00", "birth_date": "1970-01-01",
           "copay_ratio": "3", "care_days": "5;20", "patient_share": "1500", "line_number": "1", "kind": "診療行為",
           "code": "111000110", "name": "初診料", "quantity": "1", "points": "291"}
    row.update(over)
    return row


def drug(**over) -> dict:
    return line(**{"line_number": "2", "kind": "医薬品", "code": "990000102", "name": "アムロジピン錠5mg「サワイ」",
                   "quantity": "28", "points": "209", **over})


def claim_csv(rows: list[dict], encoding: str = "utf-8", header: list[str] | None = None) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    names = header or HEADER
    w.writerow(names)
    for r in rows:
        w.writerow([r.get(n, "") for n in names])
    return buf.getvalue().encode(encoding)


def write_claims(tmp_path: Path, name: str, rows: list[dict], **kw) -> Path:
    p = tmp_path / name
    p.write_bytes(claim_csv(rows, **kw))
    return p


def load_master() -> None:
    with unit_of_work() as s:
        intake.load_drug_master(s, intake.BUNDLED_DRUG_MASTER)


def import_claims(path: Path, **kw) -> intake.ClaimImportReport:
    from datetime import date

    kw.setdefault("today", date(2025, 3, 31))
    with unit_of_work() as s:
        return intake.import_claims(s, path, **kw)
