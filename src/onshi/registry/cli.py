"""CLI of the member registry: ``onshi db``, ``onshi insurer``, ``onshi intake``, ``onshi member``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from onshi.config import get_settings
from onshi.registry import intake as intake_mod
from onshi.registry import service
from onshi.registry.models import NotificationType, Role
from onshi.store.clock import from_japan_time, japan_today, to_japan_time
from onshi.store.db import unit_of_work

console = Console()
err = Console(stderr=True)

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
insurer_app = typer.Typer(help="Insurers (保険者).", no_args_is_help=True)
employer_app = typer.Typer(help="Employers (事業所).", no_args_is_help=True)
member_app = typer.Typer(help="Members (加入者).", no_args_is_help=True)
quarantine_app = typer.Typer(help="Rejected intake rows (エラー行) and their correction.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create or migrate the schema (Alembic)."""
    from onshi.store import migrate

    url = get_settings().resolved_database_url
    migrate.upgrade(url, revision)
    console.print(f"schema at [bold]{revision}[/] on {url.split('@')[-1]}")


@insurer_app.command("add")
def insurer_add(number: str, name: str, kind: str = typer.Option("kumiai", help="kyokai | kumiai | other"),
                address: Optional[str] = None, postal_code: Optional[str] = None,
                validity_years: int = typer.Option(5, help="資格確認書の有効期間 (1–5 years)")) -> None:
    """Register an insurer (保険者番号 is validated, check digit included)."""
    from stdnum.exceptions import ValidationError

    try:
        with unit_of_work() as s:
            ins = service.add_insurer(s, number=number, name=name, kind=kind, address=address,
                                      postal_code=postal_code, settings={"certificate_validity_years": validity_years})
            console.print(f"added {ins.number} {ins.name}")
    except (ValidationError, service.RegistryError) as exc:
        err.print(f"[red]error[/]: {getattr(exc, 'message', exc)}")
        raise typer.Exit(2)


@insurer_app.command("list")
def insurer_list() -> None:
    with unit_of_work() as s:
        t = Table("保険者番号", "名称", "種別", "都道府県")
        for ins in service.list_insurers(s):
            t.add_row(ins.number, ins.name, ins.kind, ins.prefecture_code)
    console.print(t)


@employer_app.command("list")
def employer_list(insurer_number: str) -> None:
    with unit_of_work() as s:
        ins = service.get_insurer(s, number=insurer_number)
        if ins is None:
            err.print(f"[red]unknown insurer {insurer_number}[/]")
            raise typer.Exit(2)
        t = Table("記号", "名称", "所在地")
        for e in service.list_employers(s, insurer_id=ins.id):
            t.add_row(e.symbol, e.name, e.address or "")
    console.print(t)


def _progress() -> Progress:
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                    console=err, transient=False)


def print_report(report: intake_mod.IntakeReport) -> None:
    if report.already_imported:
        console.print(f"{report.filename}: already imported as file #{report.file_id} "
                      f"(received {to_japan_time(report.received_at):%Y-%m-%d %H:%M} JST); nothing changed")
        return
    console.print(f"{report.filename} ({report.notification_type.value}, {report.encoding}) file #{report.file_id} "
                  f"received {to_japan_time(report.received_at):%Y-%m-%d %H:%M} JST: {report.rows_total} rows — "
                  f"[green]{report.applied} applied[/], {report.duplicate} already applied, "
                  f"[red]{report.rejected} rejected[/]")
    if report.errors:
        t = Table("行 row", "列 column", "値 value", "理由 reason", title="エラー行 (quarantined; fix with "
                  "`onshi quarantine fix`)")
        for e in report.errors[:200]:
            t.add_row(str(e.row), e.column, e.value, e.reason)
        console.print(t)
        if len(report.errors) > 200:
            console.print(f"… and {len(report.errors) - 200} more (see `onshi quarantine list`)")


def intake(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV file (UTF-8 or Shift_JIS)"),
    type: NotificationType = typer.Option(..., "--type", "-t", help="notification type (see docs/intake.md)"),
    received_at: Optional[datetime] = typer.Option(None, help="when the filing was received, in Japan time "
                                                              "(starts the 5-day clock); default now"),
    actor: str = typer.Option("cli", help="who imports (recorded)"),
) -> None:
    """Import a notification file.  Exit status 1 when any row was rejected, 2 when the file is unreadable."""
    try:
        total = max(sum(1 for _ in file.open("rb")) - 1, 0)
        with unit_of_work() as s, _progress() as prog:
            task = prog.add_task(f"{file.name}", total=total)
            # typed in Japan time, stored as UTC like the default (and like the web intake form)
            received = from_japan_time(received_at) if received_at is not None else None
            report = intake_mod.import_file(s, file, type, received_at=received, actor=actor,
                                            progress=lambda n: prog.advance(task, n))
    except intake_mod.IntakeFileError as exc:
        err.print(f"[red]{file.name}: rejected as a whole, nothing applied[/]: {exc}")
        raise typer.Exit(2)
    print_report(report)
    if report.rejected:
        raise typer.Exit(1)


@quarantine_app.command("list")
def quarantine_list(file_id: Optional[int] = None) -> None:
    """Open rejected rows, with where and why."""
    with unit_of_work() as s:
        t = Table("id", "file", "row", "type", "column", "value", "reason")
        for q in intake_mod.open_quarantine(s, file_id=file_id):
            for e in q.errors:
                t.add_row(str(q.id), str(q.file_id), str(q.row_number), q.notification_type.value, e["column"],
                          e["value"], e["reason"])
    console.print(t)


@quarantine_app.command("fix")
def quarantine_fix(row_id: int, set_: list[str] = typer.Option(..., "--set", help="column=value, repeatable"),
                   actor: str = "cli") -> None:
    """Correct a rejected row and apply it (the original receipt time is kept)."""
    corrections = {}
    for item in set_:
        if "=" not in item:
            err.print(f"[red]--set needs column=value, got {item!r}[/]")
            raise typer.Exit(2)
        k, v = item.split("=", 1)
        corrections[k.strip()] = v
    try:
        with unit_of_work() as s:
            report = intake_mod.resubmit(s, row_id, corrections, actor=actor)
    except ValueError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(2)
    print_report(report)
    if report.rejected:
        raise typer.Exit(1)


@quarantine_app.command("withdraw")
def quarantine_withdraw(row_id: int, actor: str = "cli") -> None:
    with unit_of_work() as s:
        intake_mod.withdraw(s, row_id, actor=actor)
    console.print(f"row {row_id} withdrawn")


@member_app.command("show")
def member_show(
    insurer_number: Optional[str] = typer.Option(None, "--insurer"), symbol: Optional[str] = typer.Option(None),
    number: Optional[str] = typer.Option(None), branch: Optional[str] = typer.Option(None),
    name: Optional[str] = typer.Option(None), birth_date: Optional[datetime] = typer.Option(None, formats=["%Y-%m-%d"]),
    as_of: Optional[datetime] = typer.Option(
        None, help="what we knew at this time (recorded time, Japan time: 2026-11-20 or 2026-11-20T09:30)"),
    on: Optional[datetime] = typer.Option(None, formats=["%Y-%m-%d"], help="about this day (valid time)"),
    actor: str = "cli",
) -> None:
    """Show a member by numbers, or by name + birth date.  The My Number is masked; the read is audited.

    ``--as-of`` is typed in Japan time, as a clerk reads a 受付日時; a date alone means 00:00 JST on that
    day.  Recorded times are shown in Japan time."""
    from onshi.numbers import insured_card, insurer_number as ins_no

    as_of = from_japan_time(as_of) if as_of is not None else None
    with unit_of_work() as s:
        person_ids: list[int] = []
        if insurer_number and number:
            found = service.find_by_numbers(
                s, insurer_number=ins_no.validate(insurer_number), symbol=insured_card.compact_symbol(symbol or ""),
                number=insured_card.compact_number(number),
                branch=insured_card.compact_branch(branch) if branch else None, recorded_at=as_of,
                about_day=on.date() if on else None)
            person_ids = sorted({q.person_id for q in found})
        elif name and birth_date:
            person_ids = service.find_persons_by_name_birth(s, name, birth_date.date())
        else:
            err.print("[red]give --insurer/--symbol/--number[/--branch] or --name/--birth-date[/]")
            raise typer.Exit(2)
        if not person_ids:
            err.print("該当者なし (no such member)")
            raise typer.Exit(1)
        for pid in person_ids:
            view = service.member_view(s, pid, actor_kind="cli", actor_id=actor)
            _print_member(s, view, as_of=as_of, on=on.date() if on else None)


def _print_member(s, view: service.MemberView, *, as_of, on) -> None:
    sex = {1: "男", 2: "女", 3: "未設定"}[view.sex]
    console.print(f"[bold]{view.name}[/] ({view.name_kana}) {view.birth_date:%Y-%m-%d} {sex}  "
                  f"個人番号: {view.my_number_masked or '未登録'}")
    console.print(f"  〒{view.postal_code or ''} {view.address or '(住所なし)'}")
    t = Table("資格", "保険者", "記号・番号・枝番", "本人/家族", "取得日", "喪失日", "記録日時", "状態",
              title="資格の履歴 (qualification history, every recorded version)")
    today = on or japan_today()
    for q in view.qualifications:
        if as_of and q.recorded_at > as_of:
            continue
        ins = service.get_insurer(s, id=q.insurer_id)
        state = "現行" if q.superseded_at is None and (as_of is None) else (
            "当時の記録" if as_of and (q.superseded_at is None or q.superseded_at > as_of) else "訂正済")
        t.add_row(str(q.qualification_id), ins.number, f"{q.symbol}・{q.number}・{q.branch}",
                  "本人" if q.role == Role.insured else "家族", f"{q.acquisition_date}",
                  f"{q.loss_date or ''}", f"{to_japan_time(q.recorded_at):%Y-%m-%d %H:%M} JST", state)
    console.print(t)
    current = [q for q in view.qualifications if q.superseded_at is None and q.acquisition_date <= today
               and (q.loss_date is None or q.loss_date > today)]
    from onshi.rules.co_pay import NotCovered

    for q in current:
        try:
            cp = service.co_pay_on(s, q, today)
        except NotCovered:
            console.print(f"  {today}: 後期高齢者医療の対象 (75歳到達) — 資格喪失の届出を確認してください")
            continue
        console.print(f"  {today}: 負担割合 {cp.ratio_tenths}割" + (" (未就学)" if cp.preschool else "")
                      + (" (高齢受給者)" if cp.elderly else ""))


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(insurer_app, name="insurer")
    app.add_typer(employer_app, name="employer")
    app.add_typer(member_app, name="member")
    app.add_typer(quarantine_app, name="quarantine")
    app.command("intake")(intake)
