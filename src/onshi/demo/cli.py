"""``onshi demo``: synthetic data and the one-command demo."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from onshi.config import get_settings
from onshi.registry.models import NotificationType
from onshi.store.clock import japan_today, utcnow
from onshi.store.db import unit_of_work
from onshi.registry.cli import print_report
from onshi.registry.cli_common import progress_bar
from onshi.registry.cli_common import date_option
from onshi.demo.institutions import DEMO_INSTITUTIONS, demo_institution_codes

console = Console(soft_wrap=True)
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
        with unit_of_work() as s, progress_bar() as prog:
            task = prog.add_task(path.name, total=len(pop.files[ntype]))
            report = intake.import_file(s, path, ntype, received_at=utcnow().replace(microsecond=0),
                                        actor="demo", progress=lambda n: prog.advance(task, n))
        print_report(report)
        totals[ntype.value] = report
    return totals


@demo_app.command("seed")
def seed_cmd(members: int = typer.Option(1000, help="number of insured members (dependents come on top)"),
             seed: int = typer.Option(42, help="random seed: same seed and --today, same population"),
             today: Optional[date] = date_option(None, help="reference date"),
             write_files: Optional[Path] = typer.Option(None, help="also keep the intake files in this folder"),
             encoding: str = typer.Option("utf-8", help="utf-8 or cp932 for the written files")) -> None:
    """Generate a synthetic population and import it through the intake files (creates and migrates the database
    first, like `onshi db upgrade`)."""
    from onshi.store import migrate

    migrate.upgrade(get_settings().resolved_database_url)
    seed_database(members, seed, today, write_files, encoding)


def register(app: typer.Typer) -> None:
    app.add_typer(demo_app, name="demo")


def ensure_demo(members: int = 2000, seed: int = 42) -> dict:
    """Make the demo database ready: schema, population, index, institutions, cards.  Idempotent."""
    import json
    import random

    from onshi.demo.seed import generate
    from onshi.exchange.cards import get_card, register_card
    from onshi.exchange.publish import publish_all
    from onshi.registry import service
    from onshi.store import migrate
    from onshi.verify.models import Institution
    from onshi.verify.service import add_institution
    from sqlalchemy import select

    settings = get_settings()
    migrate.upgrade(settings.resolved_database_url)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    state_file = settings.var_dir / "demo.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    with unit_of_work() as s:
        seeded = bool(service.list_insurers(s))
    if not seeded:
        seed_database(members, seed)
    publish_all()
    with unit_of_work() as s:
        tokens = state.get("tokens", {})
        for code, (_p, _k, _b, name, ftype) in zip(demo_institution_codes(), DEMO_INSTITUTIONS):
            if s.scalar(select(Institution).where(Institution.code == code)) is None:
                _inst, tokens[code] = add_institution(s, code=code, name=name, facility_type=ftype)
        state["tokens"] = tokens
    pop = generate(members, seed)
    rng = random.Random(seed)
    cards = state.get("cards", [])
    if not cards:
        with unit_of_work() as s:
            for i, row in enumerate(r for r in pop.files[NotificationType.acquisition] if r["my_number"]):
                if i > 3 and rng.random() > 0.55:
                    continue
                serial = f"DEMO{i:08d}"
                if get_card(s, serial) is None and service.find_person_by_my_number(s, row["my_number"]):
                    expires = date(2027 + rng.randint(0, 4), rng.randint(1, 12), 28)
                    register_card(s, my_number=row["my_number"], certificate_serial=serial,
                                  certificate_expires_on=expires)
                    cards.append(serial)
        state["cards"] = cards[:50]
    from onshi.demo.users import ensure_demo_users  # the web screens' demo users, one per role

    with unit_of_work() as s:
        state["users"] = [[u.username, u.password, u.role, u.scope] for u in ensure_demo_users(s)]
    ensure_traffic(state)
    state_file.write_text(json.dumps(state, ensure_ascii=False, indent=1))
    return state


@demo_app.command("traffic")
def traffic_cmd(months: int = typer.Option(12, min=1, max=60, help="how many months of traffic"),
                until: Optional[str] = typer.Option(None, help="last month YYYY-MM (default: last complete month)"),
                seed: int = typer.Option(7), scale: float = typer.Option(1.0, min=0.01, help="volume multiplier")) -> None:
    """Simulate verification logs and claim counts (5% → 30% card use in a year) for the analytics pages."""
    from onshi.demo.traffic import simulate_traffic

    with unit_of_work() as s, progress_bar() as prog:
        task = prog.add_task("traffic", total=None)
        report = simulate_traffic(s, months=months, until=until, seed=seed, scale=scale,
                                  progress=lambda n, total: prog.update(task, completed=n, total=total))
    console.print(f"{report.months[0]}–{report.months[-1]}: {report.verifications:,} verifications at "
                  f"{report.institutions} institutions, {report.claim_rows:,} claim-count rows")


def ensure_traffic(state: dict) -> None:
    """The demo's analytics data: twelve months of simulated traffic, once."""
    from onshi.demo.traffic import simulate_traffic

    if state.get("traffic"):
        return
    with unit_of_work() as s, progress_bar() as prog:
        task = prog.add_task("demo traffic (12 months)", total=None)
        report = simulate_traffic(s, months=12, progress=lambda n, total: prog.update(task, completed=n, total=total))
    state["traffic"] = [report.months[0], report.months[-1]]


@demo_app.command("run")
def run_cmd(members: int = typer.Option(2000), seed: int = typer.Option(42), port: int = typer.Option(8000),
            host: str = typer.Option("127.0.0.1"), serve: bool = typer.Option(True, help="start the server")) -> None:
    """Set up the demo database (once) and start the server, printing example requests."""
    from onshi.demo.seed import SHOWCASE

    state = ensure_demo(members, seed)
    code = demo_institution_codes()[0]
    token = state["tokens"][code]
    base = f"http://{host}:{port}"
    sv, mv = SHOWCASE["valid"], SHOWCASE["moved"]
    today = japan_today().isoformat()

    def curl(body: dict) -> str:
        import json

        return (f"curl -s -X POST {base}/api/v1/verifications/numbers -H 'Authorization: Bearer {token}' "
                f"-H 'Content-Type: application/json' -d '{json.dumps(body, ensure_ascii=False)}'")

    console.print(f"\n[bold]onshi demo[/] — database {get_settings().resolved_database_url}")
    console.print(f"institution {code} token: {token}")
    console.print("\n[bold]有効[/] (valid):")
    console.print(curl({"insurer_number": sv["insurer"], "symbol": sv["symbol"], "number": sv["number"],
                        "branch": sv["branch"], "birth_date": sv["birth"].isoformat(), "care_date": today}))
    console.print("\n[bold]無効（新しい資格あり）[/] (moved to another insurer):")
    console.print(curl({"insurer_number": mv["insurer"], "symbol": mv["symbol"], "number": mv["number"],
                        "branch": mv["branch"], "birth_date": mv["birth"].isoformat(), "care_date": today}))
    console.print(f"\nweb: {base}/   API docs: {base}/docs")
    for username, password, role, scope in state.get("users", []):
        console.print(f"  sign in as [bold]{username}[/] / {password}  ({role}, {scope})")
    console.print()
    if serve:
        from onshi.verify.cli import serve as serve_cmd

        serve_cmd(host=host, port=port, workers=1, publish_every=2.0)
