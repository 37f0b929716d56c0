"""レセプト件数 — import of monthly claim counts per institution, the denominator of the レセプト-basis rate.

The file is a CSV (UTF-8 or Shift_JIS/CP932), one row per institution, month of care and setting::

    institution_code,month,setting,claims,insurer_number
    1310000011,2025-03,outpatient,1200,
    1310000011,2025-03,outpatient,420,01130012

Japanese headers are accepted too (医療機関コード, 診療年月, 入院外来区分, 件数, 保険者番号), and 入院/外来 for
the setting.  ``insurer_number`` is optional: blank means "all insurers" (the institution's total); a row with an
insurer number is that insurer's share (for the 協会けんぽ KPI).

The file is checked as a whole before anything is written: one bad row and **nothing** is applied, and the
report names every bad row, column, value and reason.  Applying the same file again changes nothing; a later
file with a different count for the same institution, month, setting and insurer replaces it (a correction) and
says so.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.exceptions import ValidationError

from onshi.analytics.imports import CsvFileError as ClaimFileError  # noqa: F401 - the error callers catch
from onshi.analytics.imports import ImportReport, RowError, csv_rows
from onshi.analytics.models import ClaimCount
from onshi.numbers import institution_code, insurer_number
from onshi.store.clock import japan_today

HEADERS = {
    "institution_code": ("institution_code", "医療機関コード"),
    "month": ("month", "診療年月"),
    "setting": ("setting", "入院外来区分"),
    "claims": ("claims", "件数", "レセプト件数"),
    "insurer_number": ("insurer_number", "保険者番号"),
}
SETTINGS = {"outpatient": "outpatient", "inpatient": "inpatient", "外来": "outpatient", "入院": "inpatient",
            "入院外": "outpatient"}
REQUIRED = ("institution_code", "month", "setting", "claims")
MAX_CLAIMS = 10_000_000  # one institution's claims in one month; above this a row is a typo


ClaimRowError = RowError
ClaimImportReport = ImportReport


def _month(v: str, today: date) -> str:
    m = re.fullmatch(r"(\d{4})[-/年]?(\d{1,2})月?", v.strip())
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise ValueError("診療年月は YYYY-MM で書いてください (month must be YYYY-MM)")
    month = f"{int(m.group(1)):04d}-{int(m.group(2)):02d}"
    if month > f"{today.year:04d}-{today.month:02d}":
        raise ValueError("未来の診療年月です (month of care is in the future)")
    if month < "2021-01":
        raise ValueError("オンライン資格確認の開始 (2021-10) より前の月です (before online verification existed)")
    return month


def parse(data: bytes, *, today: date | None = None) -> tuple[list[dict], list[ClaimRowError]]:
    """Read and check a claim-count file; returns the good rows and every error (row numbers count the header
    as row 1, as a spreadsheet shows them)."""
    today = today or japan_today()
    rows: list[dict] = []
    errors: list[ClaimRowError] = []
    seen: dict[tuple, int] = {}
    for n, v, raw in csv_rows(data, HEADERS, REQUIRED, errors):
        bad = len(errors)
        out: dict = {}
        try:
            out["institution_code"] = institution_code.validate(v["institution_code"])
        except ValidationError as exc:
            errors.append(ClaimRowError(n, "institution_code", v["institution_code"], str(exc)))
        try:
            out["month"] = _month(v["month"], today)
        except ValueError as exc:
            errors.append(ClaimRowError(n, "month", v["month"], str(exc)))
        setting = SETTINGS.get(v["setting"].lower() if v["setting"].isascii() else v["setting"])
        if setting is None:
            errors.append(ClaimRowError(n, "setting", v["setting"], "入院外来区分は outpatient/inpatient (外来/入院) です"))
        out["setting"] = setting
        try:
            claims = int(v["claims"].replace(",", ""))
            if not 0 <= claims <= MAX_CLAIMS:
                raise ValueError
            out["claims"] = claims
        except ValueError:
            errors.append(ClaimRowError(n, "claims", v["claims"], f"件数は 0〜{MAX_CLAIMS:,} の整数です (a count)"))
        ins = v.get("insurer_number", "")
        if ins:
            try:
                ins = insurer_number.validate(ins)
            except ValidationError as exc:
                errors.append(ClaimRowError(n, "insurer_number", ins, str(exc)))
        out["insurer_number"] = ins
        if len(errors) > bad:
            continue
        key = (out["institution_code"], out["month"], out["setting"], out["insurer_number"])
        if key in seen:
            errors.append(ClaimRowError(n, "*", ",".join(raw),
                                        f"{seen[key]}行目と同じ医療機関・月・区分・保険者です (duplicate of row {seen[key]})"))
            continue
        seen[key] = n
        rows.append(out)
    return rows, errors


def import_claim_counts(session: Session, path: Path | str, *, today: date | None = None) -> ClaimImportReport:
    """Apply a claim-count file: all of it, or — when any row is bad — nothing (see the report's errors)."""
    path = Path(path)
    report = ClaimImportReport(file=path.name)
    rows, errors = parse(path.read_bytes(), today=today)
    report.rows = len(rows) + len(errors)
    if errors:
        report.errors = errors
        return report
    existing = {}
    months = sorted({r["month"] for r in rows})
    if months:
        for c in session.scalars(select(ClaimCount).where(ClaimCount.month.in_(months))):
            existing[(c.institution_code, c.month, c.setting, c.insurer_number)] = c
    for r in rows:
        key = (r["institution_code"], r["month"], r["setting"], r["insurer_number"])
        cur = existing.get(key)
        if cur is None:
            session.add(ClaimCount(**r, source_file=path.name))
            report.inserted += 1
        elif cur.claims == r["claims"]:
            report.unchanged += 1
        else:
            cur.claims = r["claims"]
            cur.source_file = path.name
            report.updated += 1
    session.flush()
    return report
