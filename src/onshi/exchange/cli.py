"""CLI of the national side: ``onshi exchange``, ``onshi linkage``, ``onshi card``."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from onshi.registry.cli import insurer_or_refuse
from onshi.registry.cli_common import progress_bar
from onshi.registry.cli_common import EXIT_FOUND, CliError, date_option
from onshi.store.clock import japan_date, to_japan_time
from onshi.store.db import unit_of_work

console = Console()
err = Console(stderr=True)
exchange_app = typer.Typer(help="Registration to the verification index (中間サーバー).", no_args_is_help=True)
linkage_app = typer.Typer(help="My Number linkage checks (紐付け).", no_args_is_help=True)
card_app = typer.Typer(help="マイナ保険証 registration (利用登録).", no_args_is_help=True)


@exchange_app.command("publish")
def publish(insurer: Optional[str] = typer.Option(None, help="only this insurer's changes")) -> None:
    """Publish every pending registry change to the verification index."""
    from onshi.exchange.publish import pending_count, publish_all

    with unit_of_work() as s:
        ins_id = insurer_or_refuse(s, insurer).id if insurer else None
        pending = pending_count(s, ins_id)
    with progress_bar() as prog:
        task = prog.add_task("publishing", total=pending)
        n = publish_all(insurer_id=ins_id, progress=lambda k: prog.advance(task, k))
    console.print(f"published {n} changes")


@exchange_app.command("publisher")
def publisher(interval: float = typer.Option(2.0, help="seconds between looks at the outbox"),
              lease: Optional[float] = typer.Option(None, help="seconds a silent leader keeps the lead "
                                                                "(default ONSHI_PUBLISHER_LEASE_SECONDS)")) -> None:
    """Run the outbox publisher as a process of its own until stopped (SIGTERM, Ctrl-C).

    Start as many as you like, on any machines: on PostgreSQL one leads and publishes, the others wait and take
    over within seconds when it dies or freezes (docs/deploy.md)."""
    import signal

    from onshi.config import get_settings
    from onshi.exchange.publish import BackgroundPublisher
    from onshi.ops.logs import install_json_logging
    from onshi.store.db import default_engine

    if get_settings().log_format == "json":
        install_json_logging()
    else:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    runner = BackgroundPublisher(interval=interval, engine=default_engine(), lease_seconds=lease)
    signal.signal(signal.SIGTERM, lambda *_: runner.stop())
    err.print(f"onshi publisher started (every {interval:g} s)")
    try:
        runner.run()
    except KeyboardInterrupt:
        pass


@exchange_app.command("sla")
def sla(insurer: str = typer.Argument(..., help="保険者番号"),
        today: Optional[date] = date_option(None, help="the day to judge on (default: today in Japan)"),
        all_: bool = typer.Option(False, "--all", help="also list records registered on time")) -> None:
    """Records not registered within 5 days of receipt, and those about to miss it; then what lateness cost — the
    返納金 cases caused by our late registration, per month of care (`onshi claims refunds` lists them)."""
    from onshi.claims.service import lateness_cost_by_month
    from onshi.exchange.sla import sla_records

    with unit_of_work() as s:
        ins = insurer_or_refuse(s, insurer)
        statuses = None if all_ else {"late", "overdue", "due_soon"}
        rows = sla_records(s, insurer_id=ins.id, today=today, statuses=statuses)
        lateness = lateness_cost_by_month(s, insurer_id=ins.id)
    t = Table("change", "kind", "received (JST)", "deadline", "registered (JST)", "status",
              title=f"5-day SLA — {ins.name}")
    colour = {"late": "red", "overdue": "bold red", "due_soon": "yellow", "on_time": "green", "pending": ""}
    for r in rows:
        t.add_row(str(r.change_id), r.kind, f"{to_japan_time(r.received_at):%Y-%m-%d %H:%M}", f"{r.deadline}",
                  f"{to_japan_time(r.registered_at):%Y-%m-%d %H:%M}" if r.registered_at else "—",
                  f"[{colour[r.status]}]{r.status}[/]" if colour[r.status] else r.status)
    console.print(t)
    if not lateness:
        console.print("登録遅延による費用: なし (no 返納金 case caused by late registration)")
        return
    cost = Table("診療年月", "cases", "amount (yen)",
                 title="登録遅延による費用 — 返納金 cases caused by late registration")
    for r in lateness:
        cost.add_row(r["month"], str(r["cases"]), f"{r['amount_yen']:,}")
    cost.add_row("合計", str(sum(r["cases"] for r in lateness)), f"{sum(r['amount_yen'] for r in lateness):,}")
    console.print(cost)
    console.print(f"the cases: onshi claims refunds --insurer {insurer}")


@linkage_app.command("import")
def linkage_import(file: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Compare a resident-registry extract (CSV) with the registry on all five items — in chunks, on `onshi worker`
    processes when ONSHI_BROKER_URL is set (the file must then be on a folder the workers share), else here."""
    from onshi.documents.cli import stalled_is_a_failure
    from onshi.exchange.tasks import run_linkage
    from onshi.store.db import session_factory

    with progress_bar() as prog:
        task = prog.add_task(f"linkage {file.name}", total=None)
        with stalled_is_a_failure():
            rep = run_linkage(session_factory(), file, actor="cli", progress=lambda n: prog.advance(task, n))
    if rep.already_imported:
        console.print(f"{file.name}: already checked; nothing changed")
        return
    console.print(f"{file.name}: {rep.rows} rows — {rep.matched} match, [red]{rep.mismatched} mismatch[/], "
                  f"{rep.not_registered} not registered, {len(rep.errors)} unreadable")
    for row, col, why in rep.errors:
        console.print(f"  row {row} {col}: {why}")
    if rep.errors:
        raise typer.Exit(EXIT_FOUND)


@linkage_app.command("suspects")
def linkage_suspects() -> None:
    """Open mismatches: card verification is blocked for these people."""
    from onshi.exchange.linkage import suspects
    from onshi.registry import service

    with unit_of_work() as s:
        t = Table("check", "person", "氏名", "differs in", "checked (JST)")
        for c in suspects(s):
            pv = service.person_on(s, c.person_id)
            t.add_row(str(c.id), str(c.person_id), pv.name, ", ".join(c.mismatches), f"{japan_date(c.checked_at):%Y-%m-%d}")
    console.print(t)


@linkage_app.command("clear")
def linkage_clear(check_id: int, reason: str = typer.Option(...), user: str = typer.Option(...)) -> None:
    """Mark a mismatch 「理由付き疑いなし」 with a reason."""
    from onshi.exchange.linkage import clear

    with unit_of_work() as s:
        clear(s, check_id, reason=reason, user=user)
    console.print(f"check {check_id} cleared by {user}")


@card_app.command("register")
def card_register(serial: str = typer.Option(..., help="certificate serial"),
                  expires: date = date_option(..., help="certificate expiry"),
                  my_number_fd: Optional[int] = typer.Option(
                      None, "--my-number-fd", help="read the My Number (one line) from this open file descriptor "
                                                   "instead of asking for it"),
                  my_number: Optional[str] = typer.Option(None, "--my-number", hidden=True,
                                                          help="refused: a number in argv shows in ps and the "
                                                               "shell history"),
                  kind: str = typer.Option("card", "--kind", help="card, or smartphone (スマホ用電子証明書: needs a "
                                                                  "registered card)")) -> None:
    """Register a マイナンバーカード (or its certificate on a smartphone) as insurance card.

    The My Number is read from a hidden prompt on a terminal, from standard input when it is a pipe, or from
    ``--my-number-fd N`` — never from the command line, where ``ps`` and the shell history would keep it."""
    from onshi.exchange.cards import register_card

    if my_number is not None:
        raise CliError("個人番号はコマンドラインに書けません（ps やシェルの履歴に残ります）。--my-number を外して"
                       "入力欄に打つか、標準入力か --my-number-fd N で渡してください")
    number = _read_my_number(my_number_fd)
    with unit_of_work() as s:
        register_card(s, my_number=number, certificate_serial=serial, certificate_expires_on=expires, kind=kind)
    console.print(f"{kind} {serial} registered")


def _read_my_number(fd: int | None) -> str:
    """One line from ``fd``, a hidden prompt on a terminal, or standard input; refuses an empty one."""
    import os
    import sys

    if fd is not None:
        try:
            with os.fdopen(os.dup(fd), "r", encoding="utf-8") as fh:
                line = fh.readline()
        except OSError as exc:
            raise CliError(f"--my-number-fd {fd} を読めません ({exc.strerror})") from None
    elif sys.stdin is not None and sys.stdin.isatty():
        line = typer.prompt("My number", hide_input=True)
    else:
        line = sys.stdin.readline() if sys.stdin is not None else ""
    number = line.strip()
    if not number:
        raise CliError("個人番号が入力されていません。入力欄に打つか、標準入力か --my-number-fd N で渡してください")
    return number


@card_app.command("cancel")
def card_cancel(serial: str, reason: str = typer.Option(...)) -> None:
    from onshi.exchange.cards import cancel_card

    with unit_of_work() as s:
        cancel_card(s, serial, reason=reason)
    console.print(f"card {serial} cancelled")


def register(app: typer.Typer) -> None:
    app.add_typer(exchange_app, name="exchange")
    app.add_typer(linkage_app, name="linkage")
    app.add_typer(card_app, name="card")
