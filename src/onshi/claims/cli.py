"""``onshi claims …``: claim files in, the drug master, the care-after-loss match and 返納金 cases, the 資格点検 list,
the generic share, 特定健診 results and rates, the 医療費通知 mailing run (docs/claims.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from onshi.registry.cli import insurer_or_refuse
from onshi.registry.cli_common import EXIT_FOUND, CliError
from onshi.store.db import unit_of_work

console = Console()
claims_app = typer.Typer(help="Claims (レセプト): intake, 返納金, 資格点検, generic share, 特定健診.", no_args_is_help=True)
checkups_app = typer.Typer(help="特定健診: results in, rates.", no_args_is_help=True)
notices_app = typer.Typer(help="医療費通知 (医療費のお知らせ): the mailing run of a period.", no_args_is_help=True)
MONTH = typer.Option(..., "--month", help="診療年月 YYYY-MM")


def _month(value: str) -> str:
    import re

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise CliError(f"--month は YYYY-MM です: {value!r} (month must be YYYY-MM)")
    return value


@claims_app.command("import")
def import_cmd(path: Path = typer.Argument(..., exists=True, dir_okay=False, help="the claim CSV"),
               actor: str = typer.Option("cli", help="recorded as the importer")) -> None:
    """Import a claim file: claims applied whole, bad rows quarantined with their reasons (exit 1 when any)."""
    from onshi.claims.intake import ClaimFileError, import_claims

    try:
        with unit_of_work() as s:
            rep = import_claims(s, path, actor=actor)
    except ClaimFileError as exc:
        raise CliError(f"{path.name}: {exc}") from None
    if rep.already_imported:
        console.print(f"{rep.filename}: already imported as file #{rep.file_id}; nothing changed")
        return
    console.print(f"{rep.filename} ({rep.encoding}) file #{rep.file_id}: {rep.rows_total} rows — "
                  f"{rep.claims_applied} claims / {rep.lines_applied} lines applied, {rep.claims_duplicate} claims "
                  f"already imported, {rep.rows_rejected} rows quarantined")
    for e in rep.errors[:50]:
        console.print(f"  {e}", markup=False)
    if rep.rows_rejected:
        raise typer.Exit(EXIT_FOUND)


@claims_app.command("drugs")
def drugs_cmd(path: Optional[Path] = typer.Argument(None, exists=True, dir_okay=False,
                                                    help="drug master CSV (default: the one onshi comes with)")) -> None:
    """Load the drug master (code, name, generic, generic_exists, unit)."""
    from onshi.claims.intake import BUNDLED_DRUG_MASTER, load_drug_master

    with unit_of_work() as s:
        n = load_drug_master(s, path or BUNDLED_DRUG_MASTER)
    console.print(f"{n} drug master entries written")


@claims_app.command("match")
def match_cmd(insurer: str = typer.Option(..., help="保険者番号"), month: str = MONTH) -> None:
    """Care after loss: open the month's 返納金 cases (a second run opens none).  Set-based
    (onshi.claims.match_fast, tested equal to the per-claim reference)."""
    from onshi.claims import match_fast, service

    with unit_of_work() as s:
        ins = insurer_or_refuse(s, insurer)
        opened = match_fast.match_care_after_loss(s, insurer_id=ins.id, month=_month(month))
        by: dict[str, int] = {}
        for c in opened:
            by[c["debtor"]] = by.get(c["debtor"], 0) + 1
    console.print(f"{month}: {len(opened)} cases opened " + ", ".join(f"{service.DEBTORS[k]} {v}" for k, v in by.items()))


@claims_app.command("refunds")
def refunds_cmd(insurer: str = typer.Option(..., help="保険者番号"), status: Optional[str] = typer.Option(None),
                actor: str = typer.Option("cli", help="recorded in the audit log as the reader")) -> None:
    """List the 返納金 cases (each person shown is audited)."""
    from onshi.claims import service

    with unit_of_work() as s:
        ins = insurer_or_refuse(s, insurer)
        rows = service.refund_cases(s, insurer_id=ins.id, status=status, actor_kind="cli", actor_id=actor)
        t = Table("case", "month", "name", "debtor", "amount", "paid", "status")
        for r in rows:
            t.add_row(str(r.case.id), r.case.month, r.name or "", service.DEBTORS[r.case.debtor],
                      f"{r.case.amount_yen:,}", f"{r.paid_yen:,}", service.STATUSES[r.case.status])
    console.print(t)


@claims_app.command("check")
def check_cmd(insurer: str = typer.Option(..., help="保険者番号"), month: str = MONTH,
              actor: str = typer.Option("cli", help="recorded in the audit log as the reader")) -> None:
    """資格点検 of a month: ratio, dependent, insurer — the list with the reason (each person audited)."""
    from onshi.claims import service

    with unit_of_work() as s:
        ins = insurer_or_refuse(s, insurer)
        service.check_month(s, insurer_id=ins.id, month=_month(month))
        t = Table("claim", "institution", "name", "day", "reason", "detail")
        for f, c, name in service.findings(s, insurer_id=ins.id, month=month, actor_kind="cli", actor_id=actor):
            t.add_row(str(f.claim_id), c.institution_code, name or "", str(f.care_date), service.REASONS[f.reason],
                      f.detail)
    console.print(t)


@claims_app.command("generic")
def generic_cmd(by: str = typer.Option("branch", help="branch | institution | month | branch_month"),
                fiscal_year: int = typer.Option(..., help="年度")) -> None:
    """The generic share by quantity (DuckDB over the claim lines)."""
    import duckdb

    from onshi.claims import generic
    from onshi.rules.calendar import fiscal_year_months
    from onshi.store.db import default_engine

    if by not in generic.GROUPINGS:
        raise CliError(f"--by は {', '.join(generic.GROUPINGS)} のいずれかです: {by!r}")
    con = duckdb.connect(":memory:")
    months = fiscal_year_months(fiscal_year)
    generic.register_database(con, default_engine(), months)
    t = Table(by, "generic", "brand (with generic)", "share %")
    for r in generic.generic_shares(con, by, months=months):
        t.add_row(r["key"], f"{r['generic_qty']:,.1f}", f"{r['brand_qty']:,.1f}",
                  "-" if r["share"] is None else f"{r['share']:.2f}")
    console.print(t)


@checkups_app.command("import")
def checkups_import(path: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Import 特定健診 results (rows applied or rejected with the reason; exit 1 when any is rejected)."""
    from onshi.claims.checkups import import_checkup_results

    with unit_of_work() as s:
        rep = import_checkup_results(s, path)
    console.print(f"{rep.filename}: {rep.rows} rows — {rep.applied} applied, {rep.duplicate} already there, "
                  f"{len(rep.errors)} rejected")
    for row, col, value, why in rep.errors[:50]:
        console.print(f"  {row}行目 {col}={value!r}: {why}", markup=False)
    if rep.errors:
        raise typer.Exit(EXIT_FOUND)


@checkups_app.command("rate")
def checkups_rate(insurer: str = typer.Option(..., help="保険者番号"),
                  fiscal_year: int = typer.Option(..., help="年度")) -> None:
    """特定健診 実施率: the denominator and the rate, members and dependents apart."""
    from onshi.claims.checkups import checkup_denominator, checkup_rates

    with unit_of_work() as s:
        ins = insurer_or_refuse(s, insurer)
        den = checkup_denominator(s, [ins.id], fiscal_year)
        rates = checkup_rates(s, [ins.id], fiscal_year, denominator=den)  # the denominator built once, not thrice
        t = Table("", "対象者", "実施率 %")
        for role, label in (("insured", "被保険者"), ("dependent", "被扶養者")):
            rate = rates[role]
            t.add_row(label, str(len(den[role])), "-" if rate is None else f"{rate:.2f}")
    console.print(t)


@notices_app.command("mail")
def notices_mail(insurer: str = typer.Option(..., help="保険者番号"),
                 period: str = typer.Option(..., help="2025 (暦年 1–12月) | FY2025 or 2025年度 (4月–翌3月) | 2025-03 | "
                                                      "2025-01..2025-10"),
                 issue: Optional[str] = typer.Option(None, help="発行日 printed on the notices, YYYY-MM-DD "
                                                              "(default: today in Japan)"),
                 out: Optional[Path] = typer.Option(None, help="output folder (default: <var>/documents)"),
                 actor: str = typer.Option("cli", help="recorded as the run's starter")) -> None:
    """The 医療費のお知らせ of a period for every insured member with care in it, one bundle per employer (cover
    letter, 同封者一覧, the notices) and a manifest, under <out>/cost_notices/<保険者番号>_<first>_<last>/.  The period
    is the run: started again it resumes (bundles done are skipped), and once finished it issues nothing new.  With
    ONSHI_BROKER_URL set, the bundles run on `onshi worker` processes; without, in this process."""
    from datetime import date

    from onshi.claims.notice_mailing import PeriodError, parse_period
    from onshi.config import get_settings
    from onshi.documents.cli import stalled_is_a_failure
    from onshi.claims.tasks import run_cost_mailing
    from onshi.registry.cli_common import progress_bar
    from onshi.store.clock import japan_today
    from onshi.store.db import session_factory

    try:
        first, last = parse_period(period)
    except PeriodError as exc:
        raise CliError(str(exc)) from None
    try:
        day = date.fromisoformat(issue) if issue else japan_today()
    except ValueError:
        raise CliError(f"--issue は YYYY-MM-DD です: {issue!r} (issue date must be YYYY-MM-DD)") from None
    with progress_bar() as prog:
        task = prog.add_task(f"医療費通知 {insurer} {first}..{last}", total=None)
        with stalled_is_a_failure():
            try:
                report = run_cost_mailing(session_factory(), insurer, out or (get_settings().var_dir / "documents"),
                                          first=first, last=last, issue=day, actor=actor,
                                          progress=lambda n: prog.advance(task, n))
            except ValueError as exc:  # an unknown insurer
                raise CliError(str(exc)) from None
    console.print(f"issued {report.issued}, skipped {report.skipped}, files {len(report.files)}")
    for line in report.lines:
        console.print(f"  [yellow]![/] {line}", markup=True)


def register(app: typer.Typer) -> None:
    claims_app.add_typer(checkups_app, name="checkups")
    claims_app.add_typer(notices_app, name="notices")
    app.add_typer(claims_app, name="claims")
