"""``onshi receipt``: check a receipt (offline with a JWK set, or with this deployment's keys), show the usage-log
row of a receipt id, publish the JWK set, rotate and retire signing keys (docs/receipts.md)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from onshi.registry.cli_common import EXIT_FOUND, EXIT_REFUSED, CliError

console = Console()
receipt_app = typer.Typer(help="Signed receipts of verifications (照会の証明, docs/receipts.md).", no_args_is_help=True)


def _text(receipt_or_file: str) -> str:
    """The receipt itself, or the content of the file it names."""
    text = receipt_or_file.strip()
    if text.count(".") == 2 and "/" not in text and len(text) > 100:
        return text  # a compact JWS, not a path
    try:
        return Path(text).read_text(encoding="utf-8").strip()
    except OSError:
        return text  # not a file: checked as a receipt (and refused with the reason if it is none)


@receipt_app.command("verify")
def receipt_verify(receipt_or_file: str = typer.Argument(..., help="the receipt (a compact JWS, or a batch receipt JWS~claims~path) or a file holding it"),
                   jwks: Path = typer.Option(None, help="a JWK set file (offline); default: this deployment's keys"),
                   as_json: bool = typer.Option(False, "--json", help="print the claims as JSON")) -> None:
    """Check a receipt's signature and print what it says; exit 1 with the reason when it is refused."""
    from onshi.verify import receipts

    token = _text(receipt_or_file)
    if jwks is not None:
        try:
            ring = receipts.KeyRing.from_jwks(json.loads(jwks.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise CliError(f"{jwks}: not a readable JWK set ({getattr(exc, 'reason', exc)})", EXIT_REFUSED) from None
    else:
        ring = receipts.key_ring()
    try:
        claims = receipts.verify_receipt(token, ring)
    except receipts.ReceiptError as exc:
        raise CliError(f"受付記録を確認できません — {exc.reason}", EXIT_FOUND) from None
    if as_json:
        console.print_json(json.dumps(claims, ensure_ascii=False))
        return
    console.print(f"[green]valid[/] receipt {claims['rid']} (key {claims['kid']})")
    for k, v in claims.items():
        console.print(f"  {k}: {v}")


@receipt_app.command("show")
def receipt_show(receipt_id: str) -> None:
    """What was answered: the usage-log row of a receipt id (no name or number of the person)."""
    from onshi.store.clock import japan_iso
    from onshi.store.db import unit_of_work
    from onshi.verify.service import log_entry_of_receipt

    with unit_of_work() as s:
        row = log_entry_of_receipt(s, receipt_id.strip())
        if row is None:
            raise CliError(f"受付記録 {receipt_id} は利用記録にありません (no usage-log row with this receipt id)",
                           EXIT_FOUND)
        labels = {1: "有効", 2: "無効", 3: "無効（新しい資格あり）", 4: "該当資格なし", 5: "複数該当"}
        console.print(f"receipt {row.receipt_id}\n  at: {japan_iso(row.occurred_at)}\n"
                      f"  institution: {row.institution_code} ({row.facility_type}, prefecture {row.prefecture_code})\n"
                      f"  care date: {row.care_date.isoformat()}\n  method: {row.method}\n"
                      f"  validity: {row.validity} {labels.get(row.validity, '')}\n"
                      f"  insurer: {row.insurer_number or '-'}\n"
                      f"  answered: {'304 (unchanged since the tagged answer)' if row.not_modified else 'full'}")


@receipt_app.command("jwks")
def receipt_jwks() -> None:
    """Print the public keys as a JWK set (what GET /.well-known/jwks.json serves), for offline checks."""
    from onshi.verify import receipts

    typer.echo(json.dumps(receipts.key_ring().jwks(), indent=1))


@receipt_app.command("rotate-key")
def receipt_rotate() -> None:
    """Add a new signing key; older keys keep verifying the receipts they signed until retired."""
    from onshi.verify import receipts

    try:
        entry = receipts.rotate()
    except ValueError as exc:
        raise CliError(str(exc), EXIT_REFUSED) from None
    console.print(f"new signing key {entry['kid']}")


@receipt_app.command("retire-key")
def receipt_retire(kid: str) -> None:
    """Retire a key: receipts it signed are refused from now on ("key retired")."""
    from onshi.verify import receipts

    try:
        receipts.retire(kid)
    except ValueError as exc:
        raise CliError(getattr(exc, "reason", str(exc)), EXIT_REFUSED) from None
    console.print(f"retired {kid}")


def register(app: typer.Typer) -> None:
    app.add_typer(receipt_app, name="receipt")
