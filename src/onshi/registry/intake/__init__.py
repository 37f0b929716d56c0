"""Intake of employer / 日本年金機構 notification files (届出ファイルの取込).

A file is read as a stream (UTF-8 with or without BOM, or Shift_JIS/CP932), checked as a whole (encoding, header),
then row by row.  Every row is either applied, recognised as already applied (a re-import), or quarantined with
file, row, column, value and reason.  All of a file's outcomes are written in the caller's one transaction, so a
crash applies nothing.  Column layouts are documented in docs/intake.md.

The package, cut along its seams:

* :mod:`~onshi.registry.intake.rows` — layouts, header, records, field parsers, ``validate_row`` (pure);
* :mod:`~onshi.registry.intake.files` — decoding bytes (``decode_text``), the file's record, the report;
* :mod:`~onshi.registry.intake.context` — what every applier shares (context, outcome, row hash);
* :mod:`~onshi.registry.intake.appliers` — one applier per notification type, in a table;
* :mod:`~onshi.registry.intake.acquisitions` and :mod:`~onshi.registry.intake.batch` — 資格取得届 a chunk at a time;
* :mod:`~onshi.registry.intake.quarantine` — rejected rows kept, corrected, resubmitted, withdrawn;
* :mod:`~onshi.registry.intake.importer` — ``import_file``, the use case;
* :mod:`onshi.registry.intake.pg` — the PostgreSQL fast path (``COPY`` staging, the second reading process).

This module re-exports what callers use: ``from onshi.registry.intake import import_file, LAYOUTS, …``.
"""

from onshi.registry.intake.appliers import ROW_APPLIERS
from onshi.registry.intake.context import row_hash
from onshi.registry.intake.files import IntakeReport, RowError, decode_text, read_rows, sniff
from onshi.registry.intake.importer import import_file
from onshi.registry.intake.quarantine import open_quarantine, quarantined_values, resubmit, withdraw
from onshi.registry.intake.reads import (IntakeOverview, QuarantineEntry, intake_overview, quarantine_count,
                                        quarantine_entry, quarantine_list)
from onshi.registry.intake.rows import (
    ACQUISITION_BEFORE_BIRTH,
    ACQUISITION_FIELDS,
    CARD_CLASSES,
    LAYOUTS,
    LOSS_REASONS,
    OPTIONAL,
    SECRET_COLUMNS,
    IntakeFileError,
    ParsedRow,
    validate_row,
)

__all__ = [
    "ACQUISITION_BEFORE_BIRTH", "ACQUISITION_FIELDS", "CARD_CLASSES", "LAYOUTS", "LOSS_REASONS", "OPTIONAL",
    "ROW_APPLIERS", "SECRET_COLUMNS", "IntakeFileError", "IntakeReport", "ParsedRow", "RowError", "decode_text",
    "import_file", "open_quarantine", "quarantined_values", "read_rows", "resubmit", "row_hash", "sniff",
    "validate_row", "withdraw",
    "IntakeOverview", "QuarantineEntry", "intake_overview", "quarantine_count", "quarantine_entry", "quarantine_list",
]
