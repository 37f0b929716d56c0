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
from rich.markup import escape

from onshi.config import get_settings
from onshi.registry.models import NotificationType
from onshi.store.clock import japan_today, utcnow
from onshi.store.db import unit_of_work
from onshi.registry.cli import print_report
from onshi.registry.cli_common import progress_bar
from onshi.registry.cli_common import date_option
from onshi.demo.claims import seed_claims
from onshi.demo.institutions import DEMO_INSTITUTIONS, demo_institution_codes
from onshi.demo.transition import ensure_transition_demo
from onshi.demo.outage import ensure_outage_demo
from onshi.demo.sandbox import (BY_KEY, INSTITUTION_TOKEN, catalogue_markdown, institution_code, kind_institutions,
                                rest_request)

from onshi.demo import benefits as demo_benefits

console = Console(soft_wrap=True)
demo_app = typer.Typer(help="Synthetic demo data (デモデータ).", no_args_is_help=True)


def seed_database(members: int, seed: int, today: date | None = None, files_dir: Path | None = None,
                  encoding: str = "utf-8") -> dict:
    """Create the demo insurers and import a generated population through the intake path."""
    from onshi.demo.seed import DEMO_INSURERS, SHOWCASE, generate, write_files
    from onshi.registry import intake, service
    from onshi.store.db import unit_of_work

    pop = generate(members, seed, today)
    out = files_dir or (get_settings().var_dir / "demo-intake")
    # the README's member (厚労 太郎, insured since 2016) was filed — recorded, registered — in April 2024:
    # `onshi member show … --as-of` a past day finds him as the registry knew him that day
    sv = SHOWCASE["valid"]
    early = [r for r in pop.files[NotificationType.acquisition]
             if (r["insurer_number"], r["employer_symbol"], r["number"]) == (sv["insurer"], sv["symbol"], sv["number"])]
    pop.files[NotificationType.acquisition] = [r for r in pop.files[NotificationType.acquisition] if r not in early]
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
        if ntype == NotificationType.employer and early:
            _import_in_the_past(early, out, encoding)

    demo_benefits.seed(today)  # cash-benefit applications in every state (demo/benefits.py)
    return totals


def _import_in_the_past(rows: list[dict], out: Path, encoding: str) -> None:
    """Import ``rows`` (acquisitions) as filed on 2024-04-01 and registered the next day — with the one clock set
    to those days, so the registry and the index record them then."""
    import csv
    from datetime import datetime

    from onshi.exchange.publish import publish_batch
    from onshi.registry import intake
    from onshi.registry.intake import LAYOUTS
    from onshi.store.clock import JST, frozen_at

    path = out / "00_acquisition_2024.csv"
    with path.open("w", encoding=encoding, newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(LAYOUTS[NotificationType.acquisition]))
        w.writeheader()
        w.writerows(rows)
    from onshi.exchange.publish import publish_all

    publish_all()  # the employers' filings, registered now: the 2024 publication below registers only his
    filed = datetime(2024, 4, 1, 9, 30, tzinfo=JST)
    with frozen_at(filed), unit_of_work() as s:
        intake.import_file(s, path, NotificationType.acquisition, received_at=utcnow(), actor="demo")
    with frozen_at(filed.replace(day=2, hour=17)), unit_of_work() as s:
        while publish_batch(s):
            pass


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
    console.print(f"claims: {seed_claims(seed=seed, today=today)}")  # a year of claims (docs/claims.md)


def register(app: typer.Typer) -> None:
    app.add_typer(demo_app, name="demo")
    app.command("sandbox")(sandbox)


def ensure_demo(members: int = 2000, seed: int = 42, traffic_scale: float = 1.0) -> dict:
    """Make the demo database ready: schema, population, index, institutions, cards, traffic, claims, the day's
    work (:mod:`onshi.demo.work`).  Idempotent.  ``traffic_scale`` thins the simulated traffic (tests)."""
    import json
    import random

    from onshi.demo.seed import generate
    from onshi.exchange.cards import get_card, register_card
    from onshi.exchange.publish import publish_all
    from onshi.registry import service
    from onshi.store import migrate
    from onshi.store.db import default_engine
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
    ensure_transition_demo(state, pop)  # a phone credential, 限定型 and 居宅 institutions, old-card checks
    ensure_traffic(state, scale=traffic_scale)
    state["claims"] = state.get("claims") or seed_claims(seed=seed)  # a year of claims, once (docs/claims.md)
    state["outage"] = state.get("outage") or ensure_outage_demo(demo_institution_codes()[0])  # docs/outage.md
    from onshi.demo.work import ensure_work  # the back office's day: receipts, suspects, quarantine, returns

    ensure_work(state, pop, seed=seed)
    from onshi.analytics.aggregate import refresh  # the dashboards' aggregate counted once, here, not on a page

    refresh(default_engine())
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


#: the first month of the demo's traffic: October 2023 is the base month of the 2024 support money and lump sum
#: (analytics/dashboard.py institution_incentives), so the incentives and the KPIs of FY2024 on have data
TRAFFIC_FROM = "2023-10"


def ensure_traffic(state: dict, scale: float = 1.0) -> None:
    """The demo's analytics data: simulated traffic from :data:`TRAFFIC_FROM` to the last complete month, once —
    at a volume per month scaled so that the whole is about twelve months' worth at scale 1 (seed time)."""
    from onshi.demo.traffic import simulate_traffic
    from onshi.rules.calendar import month_range, previous_month

    if state.get("traffic"):
        return
    months = len(month_range(TRAFFIC_FROM, previous_month(f"{japan_today():%Y-%m}")))
    with unit_of_work() as s, progress_bar() as prog:
        task = prog.add_task(f"demo traffic ({months} months)", total=None)
        report = simulate_traffic(s, months=months, scale=scale * min(1.0, 12 / months),
                                  progress=lambda n, total: prog.update(task, completed=n, total=total))
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

        _plain_http()

        # no background publisher: the filings the demo left waiting (期限超過, 期限間近, today's) stay on the SLA
        # board until someone registers them (`onshi exchange publish`, README)
        console.print("publisher off in the demo: [bold]onshi exchange publish[/] registers the filings that wait")
        serve_cmd(host=host, port=port, workers=1, publish_every=0.0)


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
        ("national login (myclinic-ts's onshi-lib: its body.json; result.idToken is the search's Authorization)",
         post("/oqs-api-pro/MSA12020/ILI12020SV01/auth", {"loginId": institution_code(), "password": token},
              "Accept: application/json")),
        *transition_requests(base, today, post),
    ]


def _outage_file() -> Path:
    """The sandbox's outage list (written by the build into the sandbox folder, which `onshi sandbox` makes the
    process's ONSHI_VAR_DIR)."""
    from onshi.demo.sandbox_build import OUTAGE_FILE

    return Path(os.environ.get("ONSHI_VAR_DIR", "var/sandbox")) / OUTAGE_FILE


def transition_requests(base: str, today: date, post) -> list[tuple[str, str]]:
    """The issue-20 cases: the old card after its lapse, the smartphone credential, the institutions of the other
    kinds (their tokens), the outage list upload."""
    bearer = f"Authorization: Bearer {INSTITUTION_TOKEN}"
    old, phone, valid = BY_KEY["old_card"], BY_KEY["phone"], BY_KEY["valid"]
    kinds = kind_institutions()
    limited = f"Authorization: Bearer {kinds['limited'][2]}"
    home = f"Authorization: Bearer {kinds['home_visit'][2]}"
    no_limit = {**rest_request(valid, today), "limit_consent": False}
    return [
        ("REST, 旧健康保険証 the day after its lapse → provisional_billing",
         post("/api/v1/verifications/numbers", rest_request(old, today), bearer)),
        ("REST, スマホ用電子証明書 (the card's twin on a phone)",
         post("/api/v1/verifications/card", {"certificate_serial": phone.phone, "care_date": today.isoformat(),
                                             "credential": "smartphone", "reader": {"method": "face"}}, bearer)),
        (f"REST, 資格確認限定型 {kinds['limited'][0]} asking 限度額 → 403",
         post("/api/v1/verifications/numbers", rest_request(valid, today), limited)),
        (f"REST, 居宅同意取得型 {kinds['home_visit'][0]}: a card check, then a re-query without the card",
         post("/api/v1/verifications/card", {"certificate_serial": valid.card, "care_date": today.isoformat(),
                                             "reader": {"method": "face"}}, home)
         + " && " + post("/api/v1/verifications/requery", no_limit, home)),
        ("REST, the outage list: record and check (有効 / 無効 / 要確認)",
         f"curl -s -X POST {base}/api/v1/outage/checks/file -H '{bearer}' -F file=@{_outage_file()}"),
    ]


def terminal_requests(folder: Path, today: date) -> list[tuple[str, str]]:
    """(title, shell command) pairs that drop a request into the terminal folder: one by numbers, one card use."""
    p = BY_KEY["dependent"]
    xml = (f'<?xml version="1.0" encoding="UTF-8"?><XmlMsg><MessageHeader><QualificationConfirmationDate>'
           f"{today:%Y%m%d}</QualificationConfirmationDate><MedicalInstitutionCode>{institution_code()}"
           f"</MedicalInstitutionCode><ArbitraryFileIdentifier>try-1</ArbitraryFileIdentifier></MessageHeader>"
           f"<MessageBody><QualificationConfirmSearchInfo><InsurerNumber>{p.insurer}</InsurerNumber>"
           f"<InsuredCardSymbol>{p.symbol}</InsuredCardSymbol><InsuredIdentificationNumber>{p.number}"
           f"</InsuredIdentificationNumber><InsuredBranchNumber>{p.branch}</InsuredBranchNumber><Birthdate>"
           f"{p.born.on(today):%Y%m%d}</Birthdate><LimitApplicationCertificateRelatedConsFlg>1"
           f"</LimitApplicationCertificateRelatedConsFlg></QualificationConfirmSearchInfo></MessageBody></XmlMsg>")
    name = f"OQSsiquc01req_{today:%Y%m%d}000001.xml"
    card = json.dumps({"certificate_serial": BY_KEY["valid"].card, "method": "face"})
    return [
        (f"terminal folder, 家族 by numbers → {folder}/res/{name.replace('req_', 'res_', 1)}",
         f"printf '%s' '{xml}' > {folder}/req/.{name}.tmp && mv {folder}/req/.{name}.tmp {folder}/req/{name}"),
        (f"terminal folder, a card use at the reader → a face file in {folder}/face/",
         f"printf '%s' '{card}' > {folder}/reader/card-1.json"),
        (f"terminal folder, the outage list → {folder}/outage/done/outage-example.csv.result.csv",
         f"cp {_outage_file()} {folder}/outage/.outage-example.csv && "
         f"mv {folder}/outage/.outage-example.csv {folder}/outage/outage-example.csv"),
    ]


def sandbox(folder: Path = typer.Option(Path("var/sandbox"), "--dir", help="the sandbox's own folder (database, "
                                                                              "keys, intake files)"),
            host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8765, help="0 = any free port"),
            terminal_dir: Optional[Path] = typer.Option(None, help="also serve this terminal folder (req/res/face, "
                                                                   "reader/) for the sandbox institution"),
            database_url: Optional[str] = typer.Option(None, help="another database (e.g. an empty PostgreSQL "
                                                                  "one) instead of the folder's SQLite file"),
            serve: bool = typer.Option(True, "--serve/--no-serve", help="start the server after building"),
            tls_cert: Optional[Path] = typer.Option(None, help="serve HTTPS with this certificate (PEM), e.g. on "
                                                               "port 443 for a client that has the national "
                                                               "https:// addresses built in (docs/sandbox.md)"),
            tls_key: Optional[Path] = typer.Option(None, help="the certificate's private key (PEM)"),
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
    if (tls_cert is None) != (tls_key is None):
        raise CliError("--tls-cert と --tls-key は両方指定してください (give both --tls-cert and --tls-key, or neither)",
                       EXIT_REFUSED)
    scheme = "https" if tls_cert else "http"
    if not serve:
        _print_access(f"{scheme}://{host}:{port}", today, terminal_dir)
        return
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    base = f"{scheme}://{host}:{sock.getsockname()[1]}"
    serve_sandbox(engine, sock, base, today, terminal_dir,
                  tls=(str(tls_cert), str(tls_key)) if tls_cert and tls_key else None)


def _print_access(base: str, today: date, terminal_dir: Path | None) -> None:
    sandbox_console.print(f"URL {base}/   API docs {base}/docs")
    sandbox_console.print(f"institution {institution_code()}  token {INSTITUTION_TOKEN}")
    for kind, (code, name, token) in kind_institutions().items():
        sandbox_console.print(f"institution {code} ({kind}: {name})  token {token}")
    if terminal_dir:
        sandbox_console.print(f"terminal folder {terminal_dir} (req/ res/ face/ reader/ outage/)")
    extra = terminal_requests(Path(terminal_dir), today) if terminal_dir else []
    for title, command in ready_requests(base, today) + extra:
        sandbox_console.print(f"\n[bold]{escape(title)}[/]\n{escape(command)}")
    sandbox_console.print()


def _plain_http() -> None:
    """The demo and the sandbox are served over plain http on this machine: the session cookie cannot be
    ``Secure`` there (production keeps the default, docs/auth.md).  An explicit ONSHI_COOKIE_SECURE wins."""
    os.environ.setdefault("ONSHI_COOKIE_SECURE", "0")
    get_settings.cache_clear()


def serve_sandbox(engine, sock: socket.socket, base: str, today: date, terminal_dir: Path | None,
                  tls: tuple[str, str] | None = None) -> None:
    """Run the app (without the background publisher, so "filed but not published" stays so) and the terminal."""
    import uvicorn

    _plain_http()

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
        ssl = {"ssl_certfile": tls[0], "ssl_keyfile": tls[1]} if tls else {}
        uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, **ssl)).run(sockets=[sock])
    finally:
        stop.set()
        if worker:
            worker.join(timeout=5)
