"""Actual values of the KPIs (実績): imported from an insurer's CSV (``KpiActual``, one row per KPI, 年度 and 支部,
corrected in place when imported again, with the correction reported) and gathered for an evaluation together with
the figures the system computes itself (:data:`SystemActuals`).

The catalogue and the evaluation are in ``analytics/kpi.py``; this module reads and writes the actuals only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.analytics.imports import CsvFileError as KpiFileError
from onshi.analytics.imports import ImportReport, RowError, csv_rows
from onshi.analytics.kpi import NATIONWIDE, Kpi, KpiCatalogue, load_catalogue, normalize_branch
from onshi.analytics.models import KpiActual
from onshi.rules.calendar import fiscal_year_of
from onshi.store.clock import japan_today

__all__ = ["KpiFileError", "KpiImportReport", "KpiRowError", "SystemActuals", "gather_actuals", "import_actuals_csv",
           "imported_actuals", "parse_actuals", "parse_fiscal_year"]


def parse_fiscal_year(v: str) -> int:
    s = v.strip().replace("ＦＹ", "").removeprefix("FY").removesuffix("年度")
    m = re.fullmatch(r"令和(元|\d{1,2})", s)
    if m:
        return 2018 + (1 if m.group(1) == "元" else int(m.group(1)))
    if not re.fullmatch(r"\d{4}", s):
        raise ValueError("年度は 2024 や 令和6年度 のように書いてください (fiscal year, e.g. 2024)")
    return int(s)


HEADERS = {
    "kpi_code": ("kpi_code", "KPIコード", "コード"),
    "fiscal_year": ("fiscal_year", "年度"),
    "branch": ("branch", "支部", "支部コード"),
    "value": ("value", "実績", "実績値", "値"),
    "name": ("name", "KPI名", "名称"),  # optional, for people reading the file; ignored
}
REQUIRED = ("kpi_code", "fiscal_year", "branch", "value")


KpiRowError = RowError


@dataclass
class KpiImportReport(ImportReport):
    corrections: list[str] = field(default_factory=list)  # "p6_x FY2024 08: 60.1 → 61.0"


def _value(kpi: Kpi, raw: str) -> float:
    s = raw.strip().replace(",", "").replace("，", "")
    if s.endswith(("%", "％")):
        if kpi.unit != "%":
            raise ValueError(f"{kpi.code} の単位は {kpi.unit} です: % は付けません")
        s = s[:-1].strip()
    elif kpi.unit != "%" and s.endswith(kpi.unit):
        s = s[: -len(kpi.unit)].strip()
    try:
        v = float(s)
    except ValueError:
        raise ValueError(f"実績は数値で書いてください (a number in {kpi.unit})") from None
    if not math.isfinite(v):
        raise ValueError("実績は数値で書いてください (a finite number)")
    if kpi.unit == "%" and not 0 <= v <= 100:
        raise ValueError("割合は 0〜100 の % で書いてください (percent, not a fraction or more than 100)")
    if v < 0:
        raise ValueError(f"実績は 0 以上です (a {kpi.unit} count or amount)")
    return v


def parse_actuals(data: bytes, catalogue: KpiCatalogue, *, today: date | None = None
                  ) -> tuple[list[dict], list[KpiRowError]]:
    """Read and check an actuals file; the good rows and every error (row 1 is the header, as a spreadsheet
    shows it)."""
    today = today or japan_today()
    rows: list[dict] = []
    errors: list[KpiRowError] = []
    seen: dict[tuple, int] = {}
    last_year = fiscal_year_of(today)
    for n, v, raw in csv_rows(data, HEADERS, REQUIRED, errors):
        bad = len(errors)
        kpi = None
        try:
            kpi = catalogue.get(v["kpi_code"])
        except KeyError:
            errors.append(KpiRowError(n, "kpi_code", v["kpi_code"],
                                      "KPI一覧にないコードです (unknown kpi_code; see `onshi analytics kpi list`)"))
        fy = None
        try:
            fy = parse_fiscal_year(v["fiscal_year"])
            if fy > last_year:
                raise ValueError(f"未来の年度です (fiscal year after FY{last_year})")
        except ValueError as exc:
            errors.append(KpiRowError(n, "fiscal_year", v["fiscal_year"], str(exc)))
            fy = None
        if kpi is not None and fy is not None and not kpi.in_force(fy):
            plan = kpi.plan
            years = (f"{plan.first_year}–{plan.last_year or ''}" if kpi.fiscal_years is None
                     else ", ".join(map(str, kpi.fiscal_years)))
            errors.append(KpiRowError(n, "fiscal_year", v["fiscal_year"],
                                      f"{kpi.code} は {fy}年度には設定されていません (in force FY{years})"))
        try:
            branch = normalize_branch(v["branch"])
        except ValueError as exc:
            errors.append(KpiRowError(n, "branch", v["branch"], str(exc)))
            branch = None
        value = None
        if kpi is not None:
            try:
                value = _value(kpi, v["value"])
            except ValueError as exc:
                errors.append(KpiRowError(n, "value", v["value"], str(exc)))
        if len(errors) > bad:
            continue
        key = (kpi.code, fy, branch)
        if key in seen:
            errors.append(KpiRowError(n, "*", ",".join(raw),
                                      f"{seen[key]}行目と同じ KPI・年度・支部です (duplicate of row {seen[key]})"))
            continue
        seen[key] = n
        rows.append({"kpi_code": kpi.code, "fiscal_year": fy, "branch": branch, "value": value})
    return rows, errors


def import_actuals_csv(session: Session, path: Path | str, *, catalogue: KpiCatalogue | None = None,
                       today: date | None = None) -> KpiImportReport:
    """Import KPI actuals from a CSV (UTF-8 or Shift_JIS/CP932) with columns ``kpi_code, fiscal_year, branch,
    value``: all rows, or — when any row is bad — none (the report names each bad row, column, value and reason;
    a file that cannot be read at all raises :class:`KpiFileError`).  Re-importing the same file changes nothing;
    a new value for the same KPI, year and 支部 replaces the old one and is listed in ``corrections``.  The caller
    owns the transaction."""
    path = Path(path)
    catalogue = catalogue or load_catalogue()
    report = KpiImportReport(file=path.name)
    rows, errors = parse_actuals(path.read_bytes(), catalogue, today=today)
    report.rows = len(rows) + len(errors)
    if errors:
        report.errors = errors
        return report
    existing: dict[tuple, KpiActual] = {}
    years = sorted({r["fiscal_year"] for r in rows})
    if years:
        for a in session.scalars(select(KpiActual).where(KpiActual.fiscal_year.in_(years))):
            existing[(a.kpi_code, a.fiscal_year, a.branch)] = a
    for r in rows:
        key = (r["kpi_code"], r["fiscal_year"], r["branch"])
        cur = existing.get(key)
        if cur is None:
            session.add(KpiActual(**r, source_file=path.name[:200]))
            report.inserted += 1
        elif cur.value == r["value"]:
            report.unchanged += 1
        else:
            report.corrections.append(f"{key[0]} FY{key[1]} {key[2]}: {cur.value:g} → {r['value']:g}")
            cur.value = r["value"]
            cur.source_file = path.name[:200]
            report.updated += 1
    session.flush()
    return report


def imported_actuals(session: Session, fiscal_year: int, branch: str = NATIONWIDE) -> dict[str, float]:
    """kpi_code → imported actual for the fiscal year and 支部."""
    return {a.kpi_code: a.value for a in session.scalars(
        select(KpiActual).where(KpiActual.fiscal_year == fiscal_year, KpiActual.branch == branch))}


SystemActuals = Callable[[Session, int, str], Mapping[str, float]]


def gather_actuals(session: Session, catalogue: KpiCatalogue, fiscal_year: int, branch: str = NATIONWIDE,
                   system_actuals: SystemActuals | None = None) -> tuple[dict[str, float], dict[str, str]]:
    """The actuals of the fiscal year and 支部 and where each came from (``imported`` or ``system``).

    *system_actuals* (``(session, fiscal_year, branch) -> {computed_by: value}``) supplies the figures the system
    computes; an imported value for the same KPI wins (an official figure someone chose to load)."""
    values = imported_actuals(session, fiscal_year, branch)
    sources = {code: "imported" for code in values}
    if system_actuals is not None:
        computed = system_actuals(session, fiscal_year, branch) or {}
        for kpi in catalogue.for_year(fiscal_year):
            if kpi.computed_by and kpi.code not in values and computed.get(kpi.computed_by) is not None:
                values[kpi.code] = float(computed[kpi.computed_by])
                sources[kpi.code] = "system"
    return values, sources
