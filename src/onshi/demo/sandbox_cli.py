"""``onshi sandbox``: the open OQS sandbox — its own database over a fixed population, the HTTP interfaces, a
terminal folder, and the requests to try printed (docs/sandbox.md)."""

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

from onshi.demo.sandbox import BY_KEY, INSTITUTION_TOKEN, catalogue_markdown, institution_code, rest_request
from onshi.store.clock import japan_today

console = Console(soft_wrap=True, highlight=False)


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
    from onshi.demo.sandbox_build import ensure_sandbox
    from onshi.store import db

    folder = folder.absolute()
    os.environ["ONSHI_VAR_DIR"] = str(folder)  # the sandbox's keys live with it, never in the real data folder
    os.environ.pop("ONSHI_DATABASE_URL", None)
    get_settings.cache_clear()
    db.default_engine.cache_clear()
    today = japan_today()
    engine, built = ensure_sandbox(folder, today, database_url)
    console.print(f"[bold]onshi sandbox[/] — {'built' if built.rebuilt else 'already built'} for {today} "
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
    console.print(f"URL {base}/   API docs {base}/docs")
    console.print(f"institution {institution_code()}  token {INSTITUTION_TOKEN}")
    if terminal_dir:
        console.print(f"terminal folder {terminal_dir} (req/ res/ face/ reader/)")
    for title, command in ready_requests(base, today):
        console.print(f"\n[bold]{title}[/]\n{command}")
    console.print()


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


def register(app: typer.Typer) -> None:
    app.command("sandbox")(sandbox)
