"""What the analytics CSV imports (claim counts, KPI actuals) share: the row error, the report, and the CLI's way of
applying a file whole or not at all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class RowError:
    """One bad row: where (row as a spreadsheet counts it, column), what (value) and why."""

    row: int
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.row}行目 {self.column}={self.value!r}: {self.reason}"


@dataclass
class ImportReport:
    file: str
    rows: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def apply_file_cli(file: Path, importer: Callable, file_error: type[Exception]) -> ImportReport:
    """Run ``importer(session, file)`` in one transaction for a CLI command: a whole-file error or any bad row
    applies nothing, prints every reason and exits with 2; otherwise prints the counts."""
    import typer
    from rich.console import Console

    from onshi.store.db import unit_of_work

    console, err = Console(soft_wrap=True), Console(stderr=True, soft_wrap=True)
    try:
        with unit_of_work() as s:
            report = importer(s, file)
            if not report.ok:
                s.rollback()
    except file_error as exc:
        err.print(f"[red]{file.name}: rejected as a whole, nothing applied[/]: {exc}")
        raise typer.Exit(2) from None
    if not report.ok:
        err.print(f"[red]{file.name}: {len(report.errors)} bad rows — nothing applied[/]")
        for e in report.errors:
            err.print(f"  {e}")
        raise typer.Exit(2)
    console.print(f"{file.name}: {report.rows} rows — [green]{report.inserted} new[/], {report.updated} corrected, "
                  f"{report.unchanged} unchanged")
    return report
