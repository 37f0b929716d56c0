"""CLI of the verification service: ``onshi institution``, ``onshi serve``.

``onshi terminal`` is the interop layer's (oqs/cli.py): it serves the terminal folder protocol.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from onshi.config import get_settings
from onshi.store.db import unit_of_work

console = Console()
err = Console(stderr=True)
institution_app = typer.Typer(help="Medical institutions and pharmacies (医療機関・薬局).", no_args_is_help=True)


@institution_app.command("add")
def institution_add(code: str, name: str,
                    facility_type: str = typer.Option(..., help="hospital | clinic | dental | pharmacy")) -> None:
    """Register an institution and print its API token (shown once; only a digest is stored)."""
    from onshi.verify.service import add_institution

    with unit_of_work() as s:
        inst, token = add_institution(s, code=code, name=name, facility_type=facility_type)
    console.print(f"added {inst.code} {inst.name}\ntoken: {token}")


@institution_app.command("list")
def institution_list() -> None:
    from sqlalchemy import select

    from onshi.verify.models import Institution

    with unit_of_work() as s:
        t = Table("医療機関コード", "名称", "種別", "状態")
        for i in s.scalars(select(Institution).order_by(Institution.code)):
            t.add_row(i.code, i.name, i.facility_type, "revoked" if i.revoked_at else "active")
    console.print(t)


@institution_app.command("revoke")
def institution_revoke(code: str) -> None:
    from onshi.verify.service import revoke_institution

    with unit_of_work() as s:
        revoke_institution(s, code)
    console.print(f"{code} revoked")


def serve(host: str = typer.Option(None), port: int = typer.Option(None),
          workers: int = typer.Option(1, help="uvicorn worker processes"),
          publish_every: float = typer.Option(2.0, help="seconds between outbox publications inside the server "
                                                        "(0 = off)")) -> None:
    """Start the API and web pages (uvicorn)."""
    import os

    import uvicorn

    from sqlalchemy import inspect

    from onshi.store.db import default_engine

    with default_engine().connect() as conn:  # a missing or unmigrated database is said here, not in uvicorn's log
        if not inspect(conn).has_table("alembic_version"):
            from onshi.registry.cli_common import EXIT_DATABASE, CliError

            raise CliError("データベースの表がまだ作られていません — `onshi db upgrade` を実行してください",
                           EXIT_DATABASE)
    s = get_settings()
    host, port = host or s.host, port or s.port
    os.environ["ONSHI_PUBLISH_INTERVAL"] = str(publish_every)
    console.print(f"onshi serving on [bold]http://{host}:{port}/[/]  (API docs: http://{host}:{port}/docs)")
    uvicorn.run("onshi.web.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False)


def register(app: typer.Typer) -> None:
    app.add_typer(institution_app, name="institution")
    app.command("serve")(serve)
