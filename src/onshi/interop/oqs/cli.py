"""CLI of the OQS interface: ``onshi terminal`` serves the verification terminal's folder (資格確認端末の連携フォルダ)."""

from __future__ import annotations

from pathlib import Path

import typer


def terminal(dir: Path = typer.Option(..., "--dir", help="the OQS folder (req/res/face)"),
             institution: str = typer.Option(..., help="医療機関コード this terminal serves"),
             once: bool = typer.Option(False, help="answer what is waiting and exit")) -> None:
    """Serve the verification terminal's file exchange on a folder."""
    from onshi.interop.oqs.terminal_service import run_terminal

    run_terminal(dir, institution, once=once)


def register(app: typer.Typer) -> None:
    app.command("terminal")(terminal)
