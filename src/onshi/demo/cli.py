"""``onshi demo``: synthetic data and the one-command demo."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from onshi.config import get_settings
from onshi.registry.cli import _progress, print_report

console = Console()
demo_app = typer.Typer(help="Synthetic demo data (デモデータ).", no_args_is_help=True)


def seed_database(members: int, seed: int, today: date | None = None, files_dir: Path | None = None,
                  encoding: str = "utf-8") -> dict:
    """Create the demo insurers and import a generated population through the intake path."""
    from onshi.demo.seed import DEMO_INSURERS, generate, write_files
    from onshi.registry import intake, service
    from onshi.store.db import unit_of_work

    pop = generate(members, seed, today)
    out = files_dir or (get_settings().var_dir / "demo-intake")
    files = write_files(pop, out, encoding=encoding)
    with unit_of_work() as s:
        for number, name, kind, _pref in DEMO_INSURERS:
            if service.get_insurer(s, number=number) is None:
                service.add_insurer(s, number=number, name=name, kind=kind,
                                    settings={"certificate_validity_years": 5 if kind == "kyokai" else 2})
    totals = {}
    for ntype, path in files:
        with unit_of_work() as s, _progress() as prog:
            task = prog.add_task(path.name, total=len(pop.files[ntype]))
            report = intake.import_file(s, path, ntype, received_at=datetime.now().replace(microsecond=0),
                                        actor="demo", progress=lambda n: prog.advance(task, n))
        print_report(report)
        totals[ntype.value] = report
    return totals


@demo_app.command("seed")
def seed_cmd(members: int = typer.Option(1000, help="number of insured members (dependents come on top)"),
             seed: int = typer.Option(42, help="random seed: same seed and --today, same population"),
             today: Optional[datetime] = typer.Option(None, formats=["%Y-%m-%d"], help="reference date"),
             write_files: Optional[Path] = typer.Option(None, help="also keep the intake files in this folder"),
             encoding: str = typer.Option("utf-8", help="utf-8 or cp932 for the written files")) -> None:
    """Generate a synthetic population and import it through the intake files."""
    seed_database(members, seed, today.date() if today else None, write_files, encoding)


def register(app: typer.Typer) -> None:
    app.add_typer(demo_app, name="demo")
