"""CLI of the OQS interface: ``onshi terminal`` serves the verification terminal's folder (資格確認端末の連携フォルダ)."""

from __future__ import annotations

from pathlib import Path

import typer


def terminal(dir: Path = typer.Option(..., "--dir", help="the OQS folder (req/res/face; outage lists in outage/)"),
             institution: str = typer.Option(..., help="医療機関コード this terminal serves"),
             once: bool = typer.Option(False, help="answer what is waiting and exit"),
             face_encoding: str = typer.Option("UTF-8", "--face-encoding",
                                               help="encoding of the card results in face/: UTF-8 or Shift_JIS "
                                                    "(CP932)"),
             clinical: bool = typer.Option(True, "--clinical/--no-clinical",
                                           help="answer OQSDrug2's 薬剤・健診 requests (YZK…/TKK… in req/) from "
                                                "the consented clinical view; --no-clinical leaves them for a real "
                                                "terminal sharing the folder")) -> None:
    """Serve the verification terminal's file exchange on a folder."""
    from onshi.interop.oqs.terminal import face_encoding as encoding_of
    from onshi.interop.oqs.terminal_service import run_terminal

    from onshi.registry.cli_common import EXIT_REFUSED, CliError
    from onshi.store.db import default_engine, unit_of_work
    from onshi.verify import service
    from onshi.verify.result import VerificationError

    try:
        encoding = encoding_of(face_encoding)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--face-encoding") from None
    # refuse at the start, with the reason, rather than answer every request E0901 (no database) or E0002
    default_engine()  # no database: the CLI's one line saying how to make or name one
    with unit_of_work() as s:
        try:
            service.active_institution(s, institution)
        except VerificationError:
            raise CliError(f"医療機関 {institution} は登録されていないか停止されています — `onshi institution add "
                           f"{institution} 名称 --facility-type clinic` で登録してください（試すだけなら "
                           "`onshi sandbox --terminal-dir OQS` が医療機関 1310009012 の端末フォルダも用意します）",
                           EXIT_REFUSED) from None
    run_terminal(dir, institution, once=once, face_encoding=encoding, clinical=clinical)


def register(app: typer.Typer) -> None:
    app.command("terminal")(terminal)
