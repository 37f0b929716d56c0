"""``onshi demo``: synthetic data and the one-command demo; ``onshi sandbox``: the open OQS sandbox over a fixed
population, its HTTP interfaces and a terminal folder, the requests to try printed (docs/sandbox.md)."""

from __future__ import annotations

import json
import os
import socket
import threading
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
from onshi.demo.sandbox import BY_KEY, INSTITUTION_TOKEN, catalogue_markdown, institution_code, rest_request

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
    app.command("sandbox")(sandbox)


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


# ---------------------------------------------------------------- onshi sandbox

sandbox_console = Console(soft_wrap=True, highlight=False)


def ready_requests(base: str, today: date) -> list[tuple[str, str]]:
    """(title, shell command) pairs to paste: one per interface, over the catalogue's people."""
    token = INSTITUTION_TOKEN
    valid, moved, twin = BY_KEY["valid"], BY_KEY["moved"], BY_KEY["twin_1"]

    def post(path: str, body: dict, auth: str) -> str:
        return (f"curl -s -X POST {base}{path} -H '{auth}' -H 'Content-Type: application/json' "
                f"-d '{json.dumps(body, ensure_ascii=False)}'")

    def xmlmsg(p) -> dict:
        info = {"InsurerNumber": p.insurer, "InsuredCardSymbol": p.symbol, "InsuredIdentificationNumber": p.number,
                "Birthdate": f"{p.born.on(today):%Y%m%d}", "LimitApplicationCertificateRelatedConsFlg": "1"}
        if p.ask_branch:
            info["InsuredBranchNumber"] = p.branch
        return {"XmlMsg": {"MessageHeader": {"QualificationConfirmationDate": f"{today:%Y%m%d}",
                                             "MedicalInstitutionCode": institution_code()},
                           "MessageBody": {"QualificationConfirmSearchInfo": info}}}

    bearer = f"Authorization: Bearer {token}"
    secret = f"X-ONSHI-VIEW-SECRET: {token}"
    kakunin = {"hokensha": moved.insurer, "kigou": moved.symbol, "hihokensha": moved.number,
               "edaban": moved.branch, "birthdate": f"{moved.born.on(today):%Y%m%d}",
               "confirmationDate": f"{today:%Y%m%d}", "limitAppConsFlag": "1"}
    card = {"certificate_serial": BY_KEY["card_grace"].card, "care_date": today.isoformat(),
            "reader": {"method": "face"}}
    return [
        ("REST, 有効", post("/api/v1/verifications/numbers", rest_request(valid, today), bearer)),
        ("REST, マイナ保険証 in its grace period", post("/api/v1/verifications/card", card, bearer)),
        ("OQS XmlMsg JSON, 複数該当 (no 枝番)", post("/oqs/json", xmlmsg(twin), bearer)),
        ("FHIR, 有効", post("/fhir/verify", rest_request(valid, today), bearer)),
        (f"myclinic-ts (onshi-server = {base}/myclinic), 無効（新しい資格あり）",
         post("/myclinic/onshi/kakunin", kakunin, secret)),
        ("national path, 有効", post("/oqs-api-pro/MSA01030/ILI01030SV01/search", xmlmsg(valid),
                                    f"Authorization: {token}")),
    ]


def sandbox(folder: Path = typer.Option(Path("var/sandbox"), "--dir", help="the sandbox's own folder (database, "
                                                                              "keys, intake files)"),
            host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8765, help="0 = any free port"),
            terminal_dir: Optional[Path] = typer.Option(None, help="also serve this terminal folder (req/res/face, "
                                                                   "reader/) for the sandbox institution"),
            database_url: Optional[str] = typer.Option(None, help="another database (e.g. an empty PostgreSQL "
                                                                  "one) instead of the folder's SQLite file"),
            serve: bool = typer.Option(True, "--serve/--no-serve", help="start the server after building"),
            catalogue: bool = typer.Option(False, "--catalogue", help="print the catalogue (docs/sandbox.md) and "
                                                                      "exit")) -> None:
    """Build the sandbox (once a day) and serve every interface over its fixed population (docs/sandbox.md)."""
    if catalogue:
        typer.echo(catalogue_markdown(), nl=False)
        return
    from onshi.config import get_settings
    from onshi.demo.sandbox_build import SandboxError, ensure_sandbox
    from onshi.registry.cli_common import EXIT_REFUSED, CliError
    from onshi.store import db

    folder = folder.absolute()
    os.environ["ONSHI_VAR_DIR"] = str(folder)  # the sandbox's keys live with it, never in the real data folder
    os.environ.pop("ONSHI_DATABASE_URL", None)
    get_settings.cache_clear()
    db.default_engine.cache_clear()
    today = japan_today()
    try:
        engine, built = ensure_sandbox(folder, today, database_url)
    except SandboxError as exc:
        raise CliError(str(exc), EXIT_REFUSED) from None
    sandbox_console.print(f"[bold]onshi sandbox[/] — {'built' if built.rebuilt else 'already built'} for {today} "
                  f"in {folder}")
    if not serve:
        _print_access(f"http://{host}:{port}", today, terminal_dir)
        return
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    base = f"http://{host}:{sock.getsockname()[1]}"
    serve_sandbox(engine, sock, base, today, terminal_dir)


def _print_access(base: str, today: date, terminal_dir: Path | None) -> None:
    sandbox_console.print(f"URL {base}/   API docs {base}/docs")
    sandbox_console.print(f"institution {institution_code()}  token {INSTITUTION_TOKEN}")
    if terminal_dir:
        sandbox_console.print(f"terminal folder {terminal_dir} (req/ res/ face/ reader/)")
    for title, command in ready_requests(base, today):
        sandbox_console.print(f"\n[bold]{title}[/]\n{command}")
    sandbox_console.print()


def serve_sandbox(engine, sock: socket.socket, base: str, today: date, terminal_dir: Path | None) -> None:
    """Run the app (without the background publisher, so "filed but not published" stays so) and the terminal."""
    import uvicorn

    from onshi.interop.myclinic.http import bind_terminal
    from onshi.interop.oqs.terminal_service import run_terminal
    from onshi.web.app import create_app

    app = create_app(engine, publisher_interval=0)
    stop = threading.Event()
    worker = None
    if terminal_dir:
        terminal_dir = terminal_dir.absolute()
        bind_terminal(app, terminal_dir, institution_code())
        worker = threading.Thread(target=run_terminal, args=(terminal_dir, institution_code()),
                                  kwargs={"engine": engine, "stop_event": stop}, daemon=True, name="terminal")
        worker.start()
    _print_access(base, today, terminal_dir)
    try:
        uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
    finally:
        stop.set()
        if worker:
            worker.join(timeout=5)
