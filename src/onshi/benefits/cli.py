"""CLI of the cash benefits: ``onshi benefits board|decide|pay|letter`` and the employers' API credentials,
``onshi employer token issue|list|revoke`` (docs/auth.md "Employers")."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from onshi.registry.cli import insurer_or_refuse
from onshi.registry.cli_common import EXIT_FOUND, CliError, date_option
from onshi.store.clock import japan_today
from onshi.store.db import unit_of_work

console = Console()
benefits_app = typer.Typer(help="Cash benefits (現金給付): the service-standard board, decisions, payments.",
                           no_args_is_help=True)


@benefits_app.command("board")
def board(insurer: str = typer.Argument(..., help="保険者番号"),
          today: Optional[date] = date_option(None, help="the day to judge on (default: today in Japan)")) -> None:
    """The service-standard board: received, incomplete, waiting, due soon, overdue, paid on time / late."""
    from onshi.benefits.service import board as read_board

    with unit_of_work() as s:
        ins = insurer_or_refuse(s, insurer)
        b = read_board(s, insurer_id=ins.id, today=today or japan_today())
    t = Table("", "count", title=f"サービススタンダード — {ins.name} ({b.today})")
    for k, v in b.totals.items():
        t.add_row(k, f"[bold red]{v}[/]" if k in ("overdue", "paid_late") and v else str(v))
    console.print(t)
    if b.totals["overdue"]:
        raise typer.Exit(EXIT_FOUND)


@benefits_app.command("decide")
def decide(insurer: str = typer.Argument(..., help="保険者番号"),
           on: Optional[date] = date_option(None, "--on", help="the day of the decision (default: today)"),
           limit: Optional[int] = typer.Option(None, help="decide at most this many")) -> None:
    """Decide every complete application (oldest completeness first)."""
    from onshi.benefits.service import decide_all
    from onshi.claims.service import high_cost_months

    with unit_of_work() as s:
        ins = insurer_or_refuse(s, insurer)
        n = decide_all(s, insurer_id=ins.id, on=on or japan_today(), actor="cli", limit=limit,
                       claims=high_cost_months)
    console.print(f"decided {n} applications")


@benefits_app.command("pay")
def pay(insurer: str = typer.Argument(..., help="保険者番号"),
        out: Path = typer.Option(..., "--out", help="the 全銀協 transfer file to write", dir_okay=False),
        on: Optional[date] = date_option(None, "--on", help="the day the file is made (default: today)")) -> None:
    """Make the 全銀協 transfer file of every decided (and approved) application; nothing is paid twice."""
    from onshi.benefits.service import pay as make_payments

    with unit_of_work() as s:
        ins = insurer_or_refuse(s, insurer)
        run = make_payments(s, insurer_id=ins.id, on=on or japan_today(), actor="cli", actor_kind="cli")
        if run.batch is None:
            console.print(f"nothing to pay ({len(run.skipped)} held back)")
            return
        out.write_bytes(run.file)
        console.print(f"{out}: {run.batch.count} transfers, {run.batch.total:,} yen, on {run.batch.transfer_date}"
                      f" ({len(run.skipped)} held back)")


@benefits_app.command("letter")
def letter(application_id: int = typer.Argument(..., help="申請番号"),
           out: Path = typer.Option(..., "--out", dir_okay=False)) -> None:
    """Write the decision notice (PDF) of one application; the read is audited."""
    from onshi.benefits.service import StateError, decision_letter

    with unit_of_work() as s:
        try:
            pdf = decision_letter(s, application_id, insurer_id=None, actor_kind="cli", actor_id="onshi")
        except (LookupError, StateError) as exc:
            raise CliError(str(exc)) from None
    out.write_bytes(pdf)
    console.print(f"{out}: {len(pdf):,} bytes")


token_app = typer.Typer(help="An employer's API tokens: for its own employees' cash-benefit applications.",
                        no_args_is_help=True)


@token_app.command("issue")
def token_issue(insurer: str = typer.Argument(..., help="保険者番号"),
                symbol: str = typer.Argument(..., help="the 事業所's 記号"),
                label: str = typer.Option(..., "--label", help="what the token is for (software, office)")) -> None:
    """Issue a token to the 事業所 *symbol* of the insurer and print it (shown once; only a digest is stored)."""
    from onshi.auth.employers import EmployerTokenError, issue

    with unit_of_work() as s:
        try:
            row, token = issue(s, insurer_number=insurer, symbol=symbol, label=label, actor="cli")
        except EmployerTokenError as exc:
            raise CliError(str(exc)) from None
        token_id = row.id
    console.print(f"token {token_id} for {insurer} {symbol} ({label})\ntoken: {token}")


@token_app.command("list")
def token_list(insurer: Optional[str] = typer.Argument(None, help="保険者番号 (default: all)")) -> None:
    """Every employer token: number, 事業所, label, issued, state (never the token)."""
    from onshi.auth.employers import tokens

    with unit_of_work() as s:
        t = Table("番号", "記号", "事業所", "用途", "発行", "状態")
        for row, emp in tokens(s, insurer_number=insurer):
            t.add_row(str(row.id), emp.symbol, emp.name, row.label, f"{row.created_at:%Y-%m-%d}",
                      f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active")
    console.print(t)


@token_app.command("revoke")
def token_revoke(token_id: int = typer.Argument(..., help="the token's number (onshi employer token list)")) -> None:
    """Revoke one token: from now on it authenticates nobody (401)."""
    from onshi.auth.employers import EmployerTokenError, revoke

    with unit_of_work() as s:
        try:
            row = revoke(s, token_id)
        except EmployerTokenError as exc:
            raise CliError(str(exc)) from None
        console.print(f"token {row.id} revoked")


def register(app: typer.Typer) -> None:
    """``onshi benefits …``, and ``onshi employer token …`` inside the registry's ``onshi employer`` group (one
    group per noun: a second ``employer`` group would hide ``onshi employer list``)."""
    from onshi.registry.cli import employer_app

    app.add_typer(benefits_app, name="benefits")
    if not any(g.name == "token" for g in employer_app.registered_groups):
        employer_app.add_typer(token_app, name="token")
