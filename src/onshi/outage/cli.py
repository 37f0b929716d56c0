"""``onshi outage``: record an outage list, check it against the verification index, record a claim whose insurer
stays unknown, and print a month's apportionment (docs/outage.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from onshi.registry.cli_common import EXIT_FOUND, CliError
from onshi.store.clock import japan_today
from onshi.store.db import unit_of_work

console = Console(soft_wrap=True)
outage_app = typer.Typer(help="After an outage (システム障害時): outage lists, their check, apportionment.",
                         no_args_is_help=True)


def _institution(s, code: str):
    from onshi.verify.service import institution_by_code

    inst = institution_by_code(s, code)
    if inst is None:
        raise CliError(f"医療機関コード {code} は登録されていません")
    return inst


@outage_app.command("check")
def check_cmd(file: Optional[Path] = typer.Argument(None, exists=True, dir_okay=False,
                                                    help="an outage list (CSV) to record first"),
              institution: str = typer.Option(..., help="医療機関コード"),
              as_json: bool = typer.Option(False, "--json", help="print the answers as JSON lines"),
              unchecked_only: bool = typer.Option(False, help="only records not checked yet")) -> None:
    """Record an outage list (if given; whole or not at all) and check the institution's records: 有効 / 無効 /
    要確認 with the responsible insurer and numbers on the day of care.  Exit 1 when some need checking."""
    from onshi.outage import service

    with unit_of_work() as s:
        inst = _institution(s, institution)
        ids = None
        if file is not None:
            try:
                rows = service.read_list(file.read_bytes())
                rep = service.record_patients(s, inst.code, rows, source="cli", actor="cli", today=japan_today())
            except service.OutageInputError as exc:
                raise CliError(f"{file.name}: 記録しませんでした — " + " / ".join(e.line() for e in exc.errors[:20])
                               + (f" ほか {len(exc.errors) - 20}件" if len(exc.errors) > 20 else "")) from None
            ids = sorted(set(rep.keys.values()))
            console.print(f"記録 {len(rep.added)}件（記録済み {len(rep.duplicate)}件）")
        chk = service.check(s, inst.code, actor_kind="cli", actor_id="cli", record_ids=ids,
                            unchecked_only=unchecked_only)
        if as_json:
            for rec, d in chk.results:
                console.print_json(json.dumps({"record_id": rec.id, **d.answer()}, ensure_ascii=False))
        else:
            t = Table("記録", "診療日", "結果", "保険者", "記号・番号・枝番", "説明")
            for rec, d in chk.results:
                a = d.answer()
                t.add_row(str(rec.id), rec.care_date.isoformat(), d.status, a.get("insurer_number") or "",
                          f"{a['symbol']}・{a['number']}・{a['branch']}" if a.get("number") else "", d.reason)
            console.print(t)
        counts = chk.counts()
    console.print("  ".join(f"{k} {v}件" for k, v in counts.items()))
    if counts["要確認"]:
        raise typer.Exit(EXIT_FOUND)


@outage_app.command("folder")
def folder_cmd(folder: Path = typer.Argument(..., file_okay=False, help="the outage folder (e.g. OQS/outage)"),
               institution: str = typer.Option(..., help="医療機関コード")) -> None:
    """Record and check every outage list (CSV) dropped in FOLDER, each whole or not at all: moved to done/ with
    <name>.result.csv (有効 / 無効 / 要確認 per record), or to err/ with a .err file naming each bad row.  Exit 1
    when a file was refused.  A running ``onshi terminal`` does the same for OQS/outage by itself."""
    from onshi.outage import folder as outage_folder

    refused = 0
    with unit_of_work() as s:
        code = _institution(s, institution).code
    for path in outage_folder.pending_files(folder):
        with unit_of_work() as s:
            got = outage_folder.record_file(s, path, code, today=japan_today(), source="cli")
        dest = outage_folder.settle(path, got.errors, got.result)
        if got.errors:
            refused += 1
            console.print(f"[red]![/] {path.name}: 記録しませんでした（{len(got.errors)}件の誤り: "
                          f"{dest.parent / (path.name + '.err')}）")
        else:
            console.print(f"{path.name}: 記録 {len(got.report.added)}件（記録済み {len(got.report.duplicate)}件） "
                          f"→ {dest.parent / (path.name + '.result.csv')}")
    if refused:
        raise typer.Exit(EXIT_FOUND)


@outage_app.command("unknown-insurer")
def unknown_cmd(record_id: int, institution: str = typer.Option(..., help="医療機関コード"),
                amount_yen: int = typer.Option(..., help="the insurers' part of the claim (保険者負担分), yen")) -> None:
    """Record a checked outage record's claim as billed with the insurer unknown (不詳), for apportionment."""
    from onshi.outage import service

    with unit_of_work() as s:
        inst = _institution(s, institution)
        try:
            claim = service.record_unknown_insurer(s, inst.code, record_id, amount_yen=amount_yen, actor="cli")
        except (LookupError, ValueError) as exc:
            raise CliError(str(exc)) from None
        console.print(f"保険者不詳の請求 {claim.id}（{claim.month:%Y-%m}分、{claim.amount_yen:,}円）")


@outage_app.command("apportionment")
def apportionment_cmd(month: str = typer.Option(..., help="2026-12, R8.12 …")) -> None:
    """A month's claims with the insurer unknown, shared among insurers (docs/outage.md: an assumption)."""
    from onshi.outage import service
    from onshi.registry.fields import FieldError, parse_month

    try:
        first = parse_month(month)
    except FieldError as exc:
        raise CliError(f"--month「{month}」: {exc.reason}") from None
    with unit_of_work() as s:
        rep = service.apportionment(s, first)
    console.print(f"{rep.month:%Y-%m}: 保険者不詳の請求 {rep.claims}件 {rep.total_yen:,}円 — "
                  f"{rep.basis_day} 時点の加入者数で按分")
    t = Table("保険者番号", "保険者", "加入者", "割合", "負担額（円）")
    for sh in rep.shares:
        t.add_row(sh.insurer_number, sh.insurer_name, f"{sh.members:,}", f"{sh.ratio:.4%}", f"{sh.amount_yen:,}")
    console.print(t)


def register(app: typer.Typer) -> None:
    app.add_typer(outage_app, name="outage")
