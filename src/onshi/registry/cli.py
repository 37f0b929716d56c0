"""CLI of the member registry: ``onshi db``, ``onshi insurer``, ``onshi intake``, ``onshi member``."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from onshi.config import get_settings
from onshi.registry import intake as intake_mod
from onshi.registry import service
from onshi.registry.cli_common import EXIT_FOUND, CliError, checked, date_option, datetime_option, progress_bar
from onshi.registry.models import NotificationType, Role
from onshi.store.clock import from_japan_time, japan_today, to_japan_time
from onshi.store.db import unit_of_work

console = Console()
err = Console(stderr=True)

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
insurer_app = typer.Typer(help="Insurers (保険者).", no_args_is_help=True)
employer_app = typer.Typer(help="Employers (事業所): their list, and their API tokens (docs/auth.md).", no_args_is_help=True)
member_app = typer.Typer(help="Members (加入者).", no_args_is_help=True)
quarantine_app = typer.Typer(help="Rejected intake rows (エラー行) and their correction.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Create or migrate the schema (Alembic)."""
    from onshi.store import migrate

    from onshi.store.db import sqlite_file

    url = get_settings().resolved_database_url
    migrate.upgrade(url, revision)
    path = sqlite_file(url)
    where = str(path) if path is not None else url.split("@")[-1]
    typer.echo(f"schema at {revision} on {where}")  # plain: the path is not wrapped at the terminal's width


@insurer_app.command("add")
def insurer_add(number: str, name: str, kind: str = typer.Option("kumiai", help="kyokai | kumiai | other"),
                address: Optional[str] = typer.Option(None, help="所在地 (printed on the documents)"),
                postal_code: Optional[str] = typer.Option(None, help="郵便番号"),
                phone: Optional[str] = typer.Option(None, help="お問い合わせの電話番号, e.g. 03-1234-5678"),
                hours: Optional[str] = typer.Option(None, help="受付時間, e.g. 平日 8:30〜17:15"),
                url: Optional[str] = typer.Option(None, help="ホームページ (https://…)"),
                validity_years: int = typer.Option(5, help="資格確認書の有効期間 (1–5 years)")) -> None:
    """Register an insurer (保険者番号 is validated, check digit included) with its contact details, which the
    資格確認書 and お知らせ print under 「下記までお問い合わせください」."""
    with unit_of_work() as s:
        try:
            ins = service.add_insurer(s, number=number, name=name, kind=kind, address=address,
                                      postal_code=postal_code, phone=phone, contact_hours=hours, url=url,
                                      settings={"certificate_validity_years": validity_years})
        except service.RegistryError as exc:
            raise CliError(str(exc)) from None
        console.print(f"added {ins.number} {ins.name}")


@insurer_app.command("update")
def insurer_update(number: str, name: Optional[str] = typer.Option(None, help="名称"),
                   address: Optional[str] = typer.Option(None, help="所在地 (\"\" clears it)"),
                   postal_code: Optional[str] = typer.Option(None, help="郵便番号"),
                   phone: Optional[str] = typer.Option(None, help="お問い合わせの電話番号"),
                   hours: Optional[str] = typer.Option(None, help="受付時間, e.g. 平日 8:30〜17:15"),
                   url: Optional[str] = typer.Option(None, help="ホームページ (https://…)")) -> None:
    """Change an insurer's name or contact details (only the options given)."""
    changes = {k: v for k, v in {"name": name, "address": address, "postal_code": postal_code, "phone": phone,
                                  "contact_hours": hours, "url": url}.items() if v is not None}
    if not changes:
        raise CliError("変更する項目を指定してください（--phone, --hours, --url, --address, --postal-code, --name）")
    with unit_of_work() as s:
        try:
            ins = service.update_insurer(s, number, **changes)
        except service.RegistryError as exc:
            raise CliError(str(exc)) from None
        console.print(f"updated {ins.number} {ins.name}: {', '.join(sorted(changes))}")


@insurer_app.command("list")
def insurer_list() -> None:
    with unit_of_work() as s:
        t = Table("保険者番号", "名称", "種別", "都道府県", "お問い合わせ先")
        for ins in service.list_insurers(s):
            t.add_row(ins.number, ins.name, ins.kind, ins.prefecture_code, service.contact_line(ins) or "")
    console.print(t)


@employer_app.command("list")
def employer_list(insurer_number: str) -> None:
    with unit_of_work() as s:
        ins = insurer_or_refuse(s, insurer_number)
        t = Table("記号", "名称", "所在地")
        for e in service.list_employers(s, insurer_id=ins.id):
            t.add_row(e.symbol, e.name, e.address or "")
    console.print(t)


def insurer_or_refuse(s, number: str):
    """The registered insurer with this 保険者番号, or a refusal saying so (for every command that takes one)."""
    ins = service.get_insurer(s, number=number)
    if ins is None:
        raise CliError(f"保険者番号 {number} の保険者は登録されていません（`onshi insurer list` で確認してください）")
    return ins




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


def _print_gaiji(file_id: int, actor: str) -> None:
    """外字 in the names the file brought: applied all the same, printed with a substitute — said, not hidden."""
    from onshi.documents import gaiji_review

    with unit_of_work() as s:
        names = gaiji_review.names_in_file(s, file_id, insurer_id=None, actor_kind="cli", actor_id=actor)
        if not names:
            return
        t = Table("行 row", "氏名 (registered)", "印刷 (printed)", "外字", title=f"外字を含む氏名 {len(names)}件 — "
                  "applied; the documents print the substitute (record a decision on the member page)")
        for g in names:
            t.add_row(str(g.row_number or ""), g.name, g.printed, g.characters)
    console.print(t)


def intake(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV file (UTF-8 or Shift_JIS)"),
    type: NotificationType = typer.Option(..., "--type", "-t", help="notification type (see docs/intake.md)"),
    received_at: Optional[datetime] = datetime_option(None, help="when the filing was received, in Japan time "
                                                                 "(starts the 5-day clock), e.g. \"2026-11-20 09:30\"; "
                                                                 "default now"),
    actor: str = typer.Option("cli", help="who imports (recorded)"),
) -> None:
    """Import a notification file.  Exit status 1 when any row was rejected, 2 when the file is unreadable."""
    try:
        total = max(sum(1 for _ in file.open("rb")) - 1, 0)
        with unit_of_work() as s, progress_bar() as prog:
            task = prog.add_task(f"{file.name}", total=total)
            # typed in Japan time, stored as UTC like the default (and like the web intake form)
            received = from_japan_time(received_at) if received_at is not None else None
            report = intake_mod.import_file(s, file, type, received_at=received, actor=actor,
                                            progress=lambda n: prog.advance(task, n))
    except intake_mod.IntakeFileError as exc:
        raise CliError(f"{file.name}: ファイル全体を受け付けませんでした（何も反映していません）: {exc}") from None
    print_report(report)
    if report.file_id and not report.already_imported and type in (NotificationType.acquisition,
                                                                     NotificationType.dependent,
                                                                     NotificationType.name_change):
        _print_gaiji(report.file_id, actor)
    if report.rejected:
        raise typer.Exit(EXIT_FOUND)


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


def _open_row(s, row_id: int) -> None:
    """Refuse, in the clerk's terms, a quarantine id that does not exist or was dealt with already."""
    from onshi.registry.models import QuarantinedRow

    row = s.get(QuarantinedRow, row_id)
    if row is None:
        raise CliError(f"エラー行 {row_id} はありません（`onshi quarantine list` で番号を確認してください）")
    if row.status != "open":
        done = {"resolved": "訂正して反映済み", "withdrawn": "取り下げ済み"}.get(row.status, row.status)
        raise CliError(f"エラー行 {row_id} は{done}です（`onshi quarantine list` に残っている行だけを直せます）")


@quarantine_app.command("fix")
def quarantine_fix(row_id: int, set_: list[str] = typer.Option(..., "--set", help="column=value, repeatable"),
                   actor: str = "cli") -> None:
    """Correct a rejected row and apply it (the original receipt time is kept)."""
    corrections = {}
    for item in set_:
        if "=" not in item:
            raise CliError(f"--set 「{item}」: 列名=値 の形で書いてください（例: --set birth_date=1970-02-28）")
        k, v = item.split("=", 1)
        corrections[k.strip()] = v
    with unit_of_work() as s:
        _open_row(s, row_id)
        report = intake_mod.resubmit(s, row_id, corrections, actor=actor)
    print_report(report)
    if report.rejected:
        raise typer.Exit(EXIT_FOUND)


@quarantine_app.command("withdraw")
def quarantine_withdraw(row_id: int, actor: str = "cli") -> None:
    with unit_of_work() as s:
        _open_row(s, row_id)
        intake_mod.withdraw(s, row_id, actor=actor)
    console.print(f"row {row_id} withdrawn")


def _numbers():
    from onshi.numbers import insured_card, insurer_number as ins_no

    return insured_card, ins_no


@member_app.command("show")
def member_show(
    insurer_number: Optional[str] = typer.Option(None, "--insurer", help="保険者番号",
                                                 parser=checked(lambda v: _numbers()[1].validate(v))),
    symbol: Optional[str] = typer.Option(None, help="記号", parser=checked(lambda v: _numbers()[0].compact_symbol(v))),
    number: Optional[str] = typer.Option(None, help="番号", parser=checked(lambda v: _numbers()[0].compact_number(v))),
    branch: Optional[str] = typer.Option(None, help="枝番", parser=checked(lambda v: _numbers()[0].compact_branch(v))),
    name: Optional[str] = typer.Option(None, help="氏名 (with --birth-date)"),
    birth_date: Optional[date] = date_option(None, help="生年月日 (with --name)"),
    as_of: Optional[datetime] = datetime_option(
        None, help="what we knew at this time (recorded time, Japan time: 2026-11-20 or 2026-11-20T09:30)"),
    on: Optional[date] = date_option(None, help="about this day (valid time)"),
    actor: str = "cli",
) -> None:
    """Show a member by numbers, or by name + birth date.  The My Number is masked; the read is audited.

    ``--as-of`` is typed in Japan time, as a clerk reads a 受付日時; a date alone means 00:00 JST on that
    day.  Recorded times are shown in Japan time."""
    by_numbers = insurer_number is not None or number is not None or symbol is not None or branch is not None
    if by_numbers and not (insurer_number and number):
        missing = "--insurer" if not insurer_number else "--number"
        raise CliError(f"番号で探すには --insurer と --number（あれば --symbol, --branch）が要ります: {missing} "
                       f"がありません（例: onshi member show --insurer 01130012 --symbol 10000001 --number 1）")
    if not by_numbers and not (name and birth_date):
        missing = "--birth-date" if name else "--name" if birth_date else "--insurer/--number か --name/--birth-date"
        raise CliError(f"氏名で探すには --name と --birth-date の両方が要ります: {missing} がありません"
                       f"（例: onshi member show --name \"厚労 太郎\" --birth-date 1970-01-01）")
    as_of = from_japan_time(as_of) if as_of is not None else None
    with unit_of_work() as s:
        if by_numbers:
            found = service.find_by_numbers(
                s, insurer_number=insurer_number, symbol=symbol or "", number=number, branch=branch or None,
                recorded_at=as_of, about_day=on)
            person_ids = sorted({q.person_id for q in found})
        else:
            person_ids = service.find_persons_by_name_birth(s, name, birth_date)
        if not person_ids:
            raise CliError("該当者なし — 番号・氏名・生年月日を確かめてください", EXIT_FOUND)
        for pid in person_ids:
            view = service.member_view(s, pid, actor_kind="cli", actor_id=actor)
            _print_member(s, view, as_of=as_of, on=on)


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
