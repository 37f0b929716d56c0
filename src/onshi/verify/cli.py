"""CLI of the verification service: ``onshi institution``, ``onshi serve``, ``onshi verify`` (``--registered-at``:
replay, docs/replay.md).

``onshi terminal`` is the interop layer's (oqs/cli.py): it serves the terminal folder protocol.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from onshi.config import get_settings
from onshi.registry.cli_common import CliError, checked, date_option, datetime_option
from onshi.store.db import unit_of_work

console = Console()
err = Console(stderr=True)
institution_app = typer.Typer(help="Medical institutions and pharmacies (医療機関・薬局).", no_args_is_help=True)


@institution_app.command("add")
def institution_add(code: str, name: str,
                    facility_type: str = typer.Option(..., help="hospital | clinic | dental | pharmacy"),
                    kind: str = typer.Option("general", "--kind",
                                             help="general | limited (資格確認限定型: 柔道整復・あはき) | home_visit "
                                                  "(居宅同意取得型) — what the token may be answered")) -> None:
    """Register an institution and print its API token (shown once; only a digest is stored)."""
    from onshi.verify.service import INSTITUTION_KINDS, add_institution

    kind = kind.replace("-", "_")
    if kind not in INSTITUTION_KINDS:
        raise CliError(f"--kind {kind}: general / limited / home_visit のどれかを指定してください "
                       f"({' / '.join(f'{k} {v}' for k, v in INSTITUTION_KINDS.items())})")
    with unit_of_work() as s:
        inst, token = add_institution(s, code=code, name=name, facility_type=facility_type, kind=kind)
    console.print(f"added {inst.code} {inst.name} ({INSTITUTION_KINDS[inst.kind]})\ntoken: {token}")


@institution_app.command("list")
def institution_list() -> None:
    from sqlalchemy import select

    from onshi.verify.models import Institution

    with unit_of_work() as s:
        t = Table("医療機関コード", "名称", "種別", "型", "状態")
        for i in s.scalars(select(Institution).order_by(Institution.code)):
            t.add_row(i.code, i.name, i.facility_type, i.kind, "revoked" if i.revoked_at else "active")
    console.print(t)


@institution_app.command("revoke")
def institution_revoke(code: str) -> None:
    from onshi.verify.service import revoke_institution

    with unit_of_work() as s:
        revoke_institution(s, code)
    console.print(f"{code} revoked")


def _numbers():
    from onshi.numbers import insured_card, insurer_number

    return insured_card, insurer_number


def verify(
    institution: str = typer.Option(..., "--institution", help="医療機関コード the answer is for (its consents, 照会番号)"),
    insurer_number: str = typer.Option(..., "--insurer", help="保険者番号",
                                       parser=checked(lambda v: _numbers()[1].validate(v))),
    symbol: str = typer.Option("", help="記号", parser=checked(lambda v: _numbers()[0].compact_symbol(v) if v else "")),
    number: str = typer.Option(..., help="番号", parser=checked(lambda v: _numbers()[0].compact_number(v))),
    branch: Optional[str] = typer.Option(None, help="枝番", parser=checked(lambda v: _numbers()[0].compact_branch(v))),
    birth_date: date = date_option(..., help="生年月日"),
    care_date: date = date_option(..., help="診療日"),
    registered_at: Optional[datetime] = datetime_option(
        None, help="replay: as the index was registered at this past instant (Japan time: 2024-11-20T11:00)"),
    actor: str = typer.Option("cli", help="who asks (recorded in the audit log)"),
) -> None:
    """Verify by numbers as *institution* would — or, with --registered-at, replay what it was answered then
    (audited as verify.replay under the actor, counted apart in the usage log)."""
    from sqlalchemy import select

    from onshi.store.clock import from_japan_time
    from onshi.verify import service
    from onshi.verify.result import ReferenceClass, VerificationError, VerificationRequest

    labels = {1: "有効", 2: "無効", 3: "無効（新しい資格あり）", 4: "該当資格なし", 5: "複数該当"}
    req = VerificationRequest(reference_class=ReferenceClass.NUMBERS, care_date=care_date,
                              institution_code=institution, arbitrary_file_identifier=None,
                              insurer_number=insurer_number, symbol=symbol, number=number, branch=branch,
                              birth_date=birth_date, limit_consent=False, arbitrary_identifier=None)
    with unit_of_work() as s:
        inst = s.scalar(select(service.Institution).where(service.Institution.code == institution))
        if inst is None:
            raise CliError(f"--institution {institution}: 医療機関コードが登録されていません")
        try:
            out = service.verify(s, req, inst, registered_at=from_japan_time(registered_at) if registered_at else None,
                                 actor=("cli", actor))
        except VerificationError as exc:
            option = "--registered-at" if exc.field == "registered_at" else exc.field
            raise CliError(f"{option}: {exc.message}") from None
    when = f" (as registered at {registered_at:%Y-%m-%d %H:%M} JST)" if registered_at else ""
    console.print(f"資格有効性: [bold]{labels[int(out.validity)]}[/]{when}")
    for a in out.answers:
        console.print(f"  {a.insurer_number} {a.insurer_name} {a.symbol}・{a.number}・{a.branch}  {a.name}  "
                      f"資格取得 {a.qualification_date}  資格喪失 {a.disqualification_date or '-'}  "
                      f"負担 {a.co_pay_ratio_tenths or '-'}割")
    if out.warning:
        console.print(f"  {out.warning}")


def serve(host: str = typer.Option(None), port: int = typer.Option(None),
          workers: int = typer.Option(1, help="worker processes (on Linux each with its own listening socket, "
                                             "SO_REUSEPORT: the kernel spreads connections over them)"),
          reuse_port: bool = typer.Option(True, "--reuse-port/--no-reuse-port",
                                          help="--no-reuse-port: the workers share one socket (uvicorn's own "
                                               "workers), as on systems without SO_REUSEPORT"),
          publish_every: float = typer.Option(2.0, help="seconds between outbox publications inside the server "
                                                        "(0 = off)")) -> None:
    """Start the API and web pages (uvicorn; several workers: onshi.web.serve, docs/deploy.md)."""
    import os

    from sqlalchemy import inspect

    from onshi.registry.cli_common import EXIT_DATABASE, CliError
    from onshi.store.db import default_engine
    from onshi.web.serve import PortTaken, ServeError, check_port_free, serve as run

    with default_engine().connect() as conn:  # a missing or unmigrated database is said here, not in uvicorn's log
        if not inspect(conn).has_table("alembic_version"):
            raise CliError("データベースの表がまだ作られていません — `onshi db upgrade` を実行してください",
                           EXIT_DATABASE)
    s = get_settings()
    host, port = host or s.host, port or s.port
    os.environ["ONSHI_PUBLISH_INTERVAL"] = str(publish_every)
    from onshi.ops.metrics import prepare_multiprocess_dir, remove_multiprocess_dir

    metrics_dir = prepare_multiprocess_dir(workers)  # several workers: /metrics sums their counters (docs/deploy.md)
    taken = "ポート {}:{} は使用中です（{}） — 動いているサーバーを止めるか、--port で別のポートを指定してください"
    try:
        try:
            check_port_free(host, port)
            console.print(f"onshi serving on [bold]http://{host}:{port}/[/]  (API docs: http://{host}:{port}/docs)")
            run(host, port, workers, reuse_port=reuse_port)
        except PortTaken as exc:
            raise CliError(taken.format(exc.host, exc.port, exc.reason)) from None
        except ServeError as exc:
            raise CliError(str(exc)) from None
    finally:
        remove_multiprocess_dir(metrics_dir)  # only a folder serve made itself


def register(app: typer.Typer) -> None:
    from onshi.verify.receipts_cli import register as register_receipts

    app.add_typer(institution_app, name="institution")
    register_receipts(app)
    app.command("serve")(serve)
    app.command("verify")(verify)
