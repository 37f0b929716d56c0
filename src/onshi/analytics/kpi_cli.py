"""``onshi analytics kpi``: the action plans' KPIs — import actuals, show a year's evaluation, print the 業績評価シート.

Actuals come from ``KpiActual`` (imported CSV) and, where the system computes a figure itself, from
``onshi.analytics.usage.system_actuals`` (looked up when a command runs; when it fails, imported actuals only).
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from onshi.store.db import unit_of_work

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
kpi_app = typer.Typer(help="Action-plan KPIs (保険者機能強化アクションプラン): actuals, evaluation, 業績評価シート.",
                      no_args_is_help=True)

BRANCH_HELP = "00 = 全国, or the 支部 as prefecture code (08) or name (茨城)"


def _system_actuals():
    """The system's own figures (:func:`onshi.analytics.usage.system_actuals`)."""
    from onshi.analytics.usage import system_actuals

    return system_actuals


def _safe(system):
    """Wrap the system figures so that a failure is reported and the sheet falls back to imported actuals."""

    def call(session, fiscal_year, branch):
        try:
            return system(session, fiscal_year, branch)
        except Exception as exc:  # noqa: BLE001 - reported, and the sheet still prints from imported actuals
            session.rollback()  # the commands only read: nothing is lost
            err.print(f"[yellow]system figures for FY{fiscal_year} {branch} unavailable "
                      f"({type(exc).__name__}: {exc}); imported actuals only[/]")
            return {}

    return call


def _branch(value: str) -> str:
    from onshi.analytics.kpi import normalize_branch

    try:
        return normalize_branch(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--branch") from None


@kpi_app.command("import")
def import_(file: Path = typer.Argument(..., exists=True, dir_okay=False,
                                        help="CSV: kpi_code, fiscal_year, branch, value (UTF-8 or Shift_JIS)")) -> None:
    """Import KPI actuals; one bad row and nothing is applied; the same file twice changes nothing."""
    from onshi.analytics.imports import apply_file_cli
    from onshi.analytics.kpi_import import KpiFileError, import_actuals_csv

    report = apply_file_cli(file, import_actuals_csv, KpiFileError)
    for c in report.corrections:
        console.print(f"  corrected {c}")


@kpi_app.command("list")
def list_(fiscal_year: int | None = typer.Option(None, "--fiscal-year", help="only the KPIs in force that year")
          ) -> None:
    """The KPI catalogue: code, plan, name, unit, direction, targets, how the actual is obtained."""
    from onshi.analytics.kpi import format_value, load_catalogue

    cat = load_catalogue()
    kpis = cat.for_year(fiscal_year) if fiscal_year else cat.kpis
    t = Table(title="KPI一覧" + (f" {fiscal_year}年度" if fiscal_year else ""))
    for c in ("code", "計画", "KPI", "単位", "良い方向", "目標（全国）", "参考値", "実績の出所"):
        t.add_column(c)
    for k in kpis:
        targets = ", ".join(f"{y}: {format_value(k, v)}" for y, v in sorted(k.targets.items()))
        if k.target_rule == "not_below_previous_year":
            targets = "対前年度以上"
        ref = (f"{format_value(k, k.reference_value)} ({k.reference_year})" if k.reference_value is not None
               else k.reference_text)
        t.add_row(k.code, k.plan.key, k.name, k.unit, "高" if k.direction == "higher" else "低", targets, ref,
                  k.computed_by or "CSV")
    console.print(t)


@kpi_app.command("show")
def show(fiscal_year: int = typer.Option(..., "--fiscal-year", help="年度, e.g. 2024 for 令和6年度"),
         branch: str = typer.Option("00", "--branch", help=BRANCH_HELP),
         system: bool = typer.Option(True, "--system/--no-system", help="use the figures the system computes")
         ) -> None:
    """A fiscal year's KPIs for 全国 or a 支部: target, actual, achievement, change from last year."""
    from onshi.analytics.evaluation import sheet_from_database

    code = _branch(branch)
    with unit_of_work() as s:
        sheet = sheet_from_database(s, fiscal_year, code, system_actuals=_safe(_system_actuals()) if system else None)
    t = Table(title=f"{sheet.title} {sheet.branch_label}")
    for c in ("No", "KPI", "目標", "実績", "出所", "前年度", "増減", "達成率", "評価"):
        t.add_column(c, justify="right" if c in ("No", "実績", "前年度", "増減", "達成率") else "left")
    for section, rows in sheet.sections:
        t.add_row("", f"[bold]{section}[/]", *[""] * 7)
        for r in rows:
            colour = {"○": "green", "×": "red"}.get(r.mark, "dim")
            t.add_row(str(r.number), r.name, r.target, r.actual, r.actual_source, r.previous, r.change, r.ratio,
                      f"[{colour}]{r.mark}[/]")
    console.print(t)
    s_ = sheet.summary
    console.print(f"KPI {s_['total']}: ○ {s_['achieved']} achieved, × {s_['not_achieved']} not achieved, "
                  f"－ {s_['not_evaluated']} without target or actual")


@kpi_app.command("sheet")
def sheet(fiscal_year: int = typer.Option(..., "--fiscal-year", help="年度, e.g. 2024 for 令和6年度"),
          branch: str = typer.Option("00", "--branch", help=BRANCH_HELP),
          out: Path = typer.Option(..., "--out", help="file.pdf or file.html"),
          system: bool = typer.Option(True, "--system/--no-system", help="use the figures the system computes")
          ) -> None:
    """Write the 業績評価シート of a fiscal year for 全国 or a 支部 as PDF or HTML."""
    from onshi.analytics.evaluation import sheet_from_database, write_sheet

    if out.suffix.lower() not in (".pdf", ".html", ".htm"):
        raise typer.BadParameter("write .pdf or .html", param_hint="--out")
    code = _branch(branch)
    with unit_of_work() as s:
        sh = sheet_from_database(s, fiscal_year, code, system_actuals=_safe(_system_actuals()) if system else None)
    path = write_sheet(sh, out)
    sm = sh.summary
    console.print(f"{path} ({path.stat().st_size:,} bytes): {sh.title} {sh.branch_label} — ○ {sm['achieved']} "
                  f"× {sm['not_achieved']} － {sm['not_evaluated']}")
