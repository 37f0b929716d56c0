"""A notification file as a whole (届出ファイル): its bytes decoded (UTF-8 with or without BOM, or Shift_JIS/CP932),
its record (``IntakeFile``: checksum, receipt time, counts) and whether it was imported before, and the report of
importing it.

:func:`decode_text` is the one decoder of every CSV an insurer hands onshi (also used by the linkage extract, the
national list, the analytics imports and the reception bulk check).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.numbers.messages import RowError  # noqa: F401 - the one class of every intake, re-exported
from onshi.registry.intake.rows import IntakeFileError, rows_from
from onshi.registry.models import IntakeFile, NotificationType


@dataclass
class IntakeReport:
    filename: str
    notification_type: NotificationType
    encoding: str = ""
    file_id: int | None = None
    received_at: datetime | None = None
    already_imported: bool = False
    rows_total: int = 0
    applied: int = 0
    duplicate: int = 0
    rejected: int = 0
    errors: list[RowError] = field(default_factory=list)
    quarantine_ids: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.rejected == 0


def decode_text(data: bytes) -> tuple[str, str]:
    """``(text, encoding)`` of a small file held in memory: UTF-8 (a BOM dropped) or else CP932 (Shift_JIS).

    Raises :class:`IntakeFileError` for an empty or binary file, or one in neither encoding."""
    if not data.strip():
        raise IntakeFileError("ファイルが空です (the file is empty)")
    if b"\x00" in data[:65536]:
        raise IntakeFileError("バイナリファイルです: CSV ではありません (binary data, not a CSV file)")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932"), "cp932"
    except UnicodeDecodeError as exc:
        raise IntakeFileError(
            f"文字コードが UTF-8 でも Shift_JIS でもありません (byte {exc.start}: not UTF-8 or Shift_JIS)") from None



def sniff(path: Path) -> tuple[str, str]:
    """Check a file as a whole without holding it in memory: returns ``(encoding, sha256)``.

    UTF-8 (with or without BOM) is tried first, then CP932 (Shift_JIS); a file that is
    neither, empty, or binary raises :class:`IntakeFileError` and nothing is applied.
    """
    digest = hashlib.sha256()
    size, non_blank = 0, False
    candidates = {"utf-8-sig": codecs.getincrementaldecoder("utf-8-sig")(),
                  "cp932": codecs.getincrementaldecoder("cp932")()}
    failed: dict[str, int] = {}
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            if size == 0 and b"\x00" in chunk[:65536]:
                raise IntakeFileError("バイナリファイルです: CSV ではありません (binary data, not a CSV file)")
            digest.update(chunk)
            non_blank = non_blank or bool(chunk.strip())
            for name, dec in candidates.items():
                if name in failed:
                    continue
                try:
                    dec.decode(chunk)
                except UnicodeDecodeError as exc:
                    failed[name] = size + exc.start
            size += len(chunk)
            if len(failed) == len(candidates):
                break
    if not non_blank:
        raise IntakeFileError("ファイルが空です (the file is empty)")
    for name, dec in candidates.items():
        if name not in failed:
            try:
                dec.decode(b"", final=True)
            except UnicodeDecodeError:
                failed[name] = size
                continue
            return ("utf-8" if name == "utf-8-sig" else "cp932"), digest.hexdigest()
    raise IntakeFileError(f"文字コードが UTF-8 でも Shift_JIS でもありません (byte {failed.get('utf-8-sig', 0)}: "
                          "not UTF-8 or Shift_JIS)")



def read_rows(data: bytes, ntype: NotificationType) -> tuple[str, Iterator[tuple[int, dict[str, str]]]]:
    """Rows of a small in-memory file: ``(row_number, {column: value})``; row 1 is the header."""
    text, encoding = decode_text(data)
    return encoding, rows_from(csv.reader(io.StringIO(text, newline="")), ntype)



# ---------------------------------------------------------------- the file's record

def previous_import(session: Session, digest: str) -> IntakeFile | None:
    """The record of a file with the same content (SHA-256) imported before: importing it again changes nothing."""
    return session.scalar(select(IntakeFile).where(IntakeFile.sha256 == digest))


def report_previous_import(report: IntakeReport, existing: IntakeFile) -> IntakeReport:
    """*report* as the answer for a file imported before: every row counted as a duplicate."""
    report.already_imported = True
    report.file_id = existing.id
    report.received_at = existing.received_at
    report.rows_total = existing.rows_total
    report.duplicate = existing.rows_total
    return report


def record_file(session: Session, *, digest: str, filename: str, ntype: NotificationType, encoding: str,
                received_at: datetime, now: datetime, actor: str) -> IntakeFile:
    """The record of a file being imported (flushed: its id is the rows' ``file_id``)."""
    f = IntakeFile(sha256=digest, filename=filename, notification_type=ntype, encoding=encoding,
                   received_at=received_at, imported_at=now, imported_by=actor)
    session.add(f)
    session.flush()
    return f


def record_counts(f: IntakeFile, report: IntakeReport) -> None:
    """The file's record takes the report's counts."""
    f.rows_total, f.rows_applied = report.rows_total, report.applied
    f.rows_duplicate, f.rows_rejected = report.duplicate, report.rejected
