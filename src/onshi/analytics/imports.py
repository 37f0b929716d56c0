"""What the analytics CSV imports (claim counts, KPI actuals) share: the row error, the report, and the CLI's way of
applying a file whole or not at all."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from onshi.numbers.messages import RowError  # noqa: F401 - the one class of every intake, re-exported
from onshi.registry.intake import IntakeFileError as CsvFileError
from onshi.registry.intake import decode_text  # one decoder for every CSV the insurer hands us


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


def _header(raw: list[str], headers: Mapping[str, Sequence[str]], required: Sequence[str]) -> list[str]:
    lookup = {alias.strip().lower(): key for key, aliases in headers.items() for alias in aliases}
    cols: list[str] = []
    for h in raw:
        key = lookup.get(h.strip().lstrip("\ufeff").lower())
        if key is None:
            raise CsvFileError(f"見出し {h!r} は使えません (unknown column; expected {', '.join(headers)})")
        if key in cols:
            raise CsvFileError(f"見出し {h!r} が二度あります (column given twice)")
        cols.append(key)
    missing = [k for k in required if k not in cols]
    if missing:
        raise CsvFileError(f"見出しに {', '.join(missing)} がありません (missing columns)")
    return cols


def csv_rows(data: bytes, headers: Mapping[str, Sequence[str]], required: Sequence[str],
             errors: list[RowError]) -> Iterator[tuple[int, dict[str, str], list[str]]]:
    """The rows of a CSV (UTF-8 or Shift_JIS) as ``(row number, {column: stripped value}, raw cells)``, columns
    named by ``headers`` (key → accepted header spellings).  Whole-file faults (encoding, empty, unknown, doubled
    or missing headers) raise :class:`CsvFileError`; a row with the wrong number of cells goes to ``errors``;
    blank rows are skipped.  Row numbers count the header as row 1, as a spreadsheet shows them."""
    text, _encoding = decode_text(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        cols = _header(next(reader), headers, required)
    except StopIteration:
        raise CsvFileError("ファイルが空です (the file is empty)") from None
    for n, raw in enumerate(reader, start=2):
        if not any(c.strip() for c in raw):
            continue
        if len(raw) != len(cols):
            errors.append(RowError(n, "*", ",".join(raw), f"列の数が {len(raw)} です ({len(cols)} columns expected)"))
            continue
        yield n, dict(zip(cols, (c.strip() for c in raw))), raw


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
