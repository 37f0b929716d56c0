"""What the back office reads of intake (取込エラー行 and intake reports): the insurer's open quarantined rows, one
row for its correction form, a file's report — each read of a row that shows a person's data writes its audit row
here (``quarantine.list``, ``quarantine.view``, ``intake.report``), so no page or route can forget it.  Counts
(:func:`quarantine_count`) show no one's data and write nothing.  The values come through
:func:`onshi.registry.intake.quarantine.quarantined_values`, the My Number masked.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.privacy import audit
from onshi.registry.intake.quarantine import quarantined_values
from onshi.registry.models import IntakeFile, QuarantinedRow


@dataclass(frozen=True)
class QuarantineEntry:
    """A quarantined row as the back office sees it: the row, its file and its values (My Number masked)."""

    row: QuarantinedRow
    file: IntakeFile | None
    values: dict[str, str]


def _visible(session: Session, row: QuarantinedRow, values: dict[str, str], files: dict[int, IntakeFile | None], *,
             insurer_id: int, insurer_number: str, importers: Collection[str]) -> bool:
    """A row is the insurer's when it names the insurer's number; else (number unreadable or another's) when its
    file was filed for the insurer; for a file filed for no insurer, when one of *importers* (the insurer's users,
    as ``web:<username>``) imported it."""
    from onshi.numbers import insurer_number as ins_no

    try:
        if ins_no.compact(values.get("insurer_number", "")) == insurer_number:
            return True
    except Exception:  # noqa: BLE001, S110 - unreadable number: fall back to who imported the file
        pass
    if row.file_id not in files:
        files[row.file_id] = session.get(IntakeFile, row.file_id)
    f = files[row.file_id]
    if f is not None and f.insurer_id is not None:  # the insurer the file was filed for
        return f.insurer_id == insurer_id
    return f is not None and (f.imported_by or "").startswith("web:") and f.imported_by in importers


def _open_entries(session: Session, *, insurer_id: int, insurer_number: str, importers: Collection[str],
                  file_id: int | None = None) -> list[QuarantineEntry]:
    q = select(QuarantinedRow).where(QuarantinedRow.status == "open")
    if file_id is not None:
        q = q.where(QuarantinedRow.file_id == file_id)
    files: dict[int, IntakeFile | None] = {}
    out = []
    for row in session.scalars(q.order_by(QuarantinedRow.file_id, QuarantinedRow.row_number)):
        values = quarantined_values(row)
        if _visible(session, row, values, files, insurer_id=insurer_id, insurer_number=insurer_number,
                    importers=importers):
            out.append(QuarantineEntry(row, files.get(row.file_id) or session.get(IntakeFile, row.file_id), values))
    return out


def quarantine_count(session: Session, *, insurer_id: int, insurer_number: str, importers: Collection[str]) -> int:
    """How many open quarantined rows are the insurer's (a number: nothing audited)."""
    return len(_open_entries(session, insurer_id=insurer_id, insurer_number=insurer_number, importers=importers))


def _audit_rows(session: Session, entries: list[QuarantineEntry], action: str, actor_kind: str,
                actor_id: str, insurer_number: str) -> None:
    for e in entries:
        audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action=action,
                          subject_kind="quarantined_row", subject_id=e.row.id, detail=f"file={e.row.file_id}",
                          insurer_number=insurer_number)


def quarantine_list(session: Session, *, insurer_id: int, insurer_number: str, importers: Collection[str],
                    actor_kind: str, actor_id: str, file_id: int | None = None) -> list[QuarantineEntry]:
    """The insurer's open quarantined rows (names, birth dates, numbers as filed); each row shown is audited
    (``quarantine.list``)."""
    entries = _open_entries(session, insurer_id=insurer_id, insurer_number=insurer_number, importers=importers,
                            file_id=file_id)
    _audit_rows(session, entries, "quarantine.list", actor_kind, actor_id, insurer_number)
    return entries


def quarantine_entry(session: Session, quarantine_id: int, *, insurer_id: int, insurer_number: str,
                     importers: Collection[str], actor_kind: str, actor_id: str,
                     open_only: bool = False) -> QuarantineEntry | None:
    """One quarantined row of the insurer (None — the same for unknown and another insurer's, or with *open_only*
    one already resolved); the read is audited (``quarantine.view``)."""
    row = session.get(QuarantinedRow, quarantine_id)
    if row is None or (open_only and row.status != "open"):
        return None
    values = quarantined_values(row)
    files: dict[int, IntakeFile | None] = {}
    if not _visible(session, row, values, files, insurer_id=insurer_id, insurer_number=insurer_number,
                    importers=importers):
        return None
    entry = QuarantineEntry(row, files.get(row.file_id) or session.get(IntakeFile, row.file_id), values)
    _audit_rows(session, [entry], "quarantine.view", actor_kind, actor_id, insurer_number)
    return entry


@dataclass(frozen=True)
class IntakeOverview:
    """The intake screen: the insurer's open quarantined rows, their files, and for a report just made, its file
    and ``{row number: quarantined row id}`` (for the 訂正する links)."""

    quarantine: list[QuarantineEntry]
    files: dict[int, IntakeFile]
    qids: dict[int, int]


def intake_overview(session: Session, *, insurer_id: int, insurer_number: str, importers: Collection[str],
                    actor_kind: str, actor_id: str, report=None) -> IntakeOverview:
    """What the intake screen shows, audited: every quarantined row listed (``quarantine.list``) and the report
    of a file just imported (``intake.report``, subject the file: its errors show the values as filed).

    *report* is an :class:`onshi.registry.intake.IntakeReport` (or None)."""
    entries = quarantine_list(session, insurer_id=insurer_id, insurer_number=insurer_number, importers=importers,
                              actor_kind=actor_kind, actor_id=actor_id)
    files = {e.row.file_id: e.file for e in entries if e.file is not None}
    qids: dict[int, int] = {}
    if report is not None and report.file_id is not None:
        f = session.get(IntakeFile, report.file_id)
        if f is not None:
            files[f.id] = f
        qids = {r.row_number: r.id for r in session.scalars(select(QuarantinedRow).where(
            QuarantinedRow.status == "open", QuarantinedRow.file_id == report.file_id))}
        audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="intake.report",
                          subject_kind="intake_file", subject_id=report.file_id,
                          detail=f"rejected={report.rejected}", insurer_number=insurer_number)
    return IntakeOverview(entries, files, qids)
