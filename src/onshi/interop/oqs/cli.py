"""CLI of the OQS interface: ``onshi terminal`` serves the verification terminal's folder (資格確認端末の連携フォルダ)."""

from __future__ import annotations

from pathlib import Path

import typer


def terminal(dir: Path = typer.Option(..., "--dir", help="the OQS folder (req/res/face)"),
             institution: str = typer.Option(..., help="医療機関コード this terminal serves"),
             once: bool = typer.Option(False, help="answer what is waiting and exit"),
             face_encoding: str = typer.Option("UTF-8", "--face-encoding",
                                               help="encoding of the card results in face/: UTF-8 or Shift_JIS "
                                                    "(CP932)")) -> None:
    """Serve the verification terminal's file exchange on a folder."""
    from onshi.interop.oqs.terminal import face_encoding as encoding_of
    from onshi.interop.oqs.terminal_service import run_terminal

    try:
        encoding = encoding_of(face_encoding)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--face-encoding") from None
    run_terminal(dir, institution, once=once, face_encoding=encoding)


def register(app: typer.Typer) -> None:
    app.command("terminal")(terminal)
