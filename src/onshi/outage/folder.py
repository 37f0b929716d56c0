"""Outage lists dropped in a folder beside the terminal's (``OQS/outage/`` — docs/outage.md): each CSV file is
recorded whole or not at all and its records checked, then the file is moved to ``done/`` with
``<name>.result.csv`` beside it (one line per record: 有効 / 無効 / 要確認, the responsible insurer and numbers on the
day of care), or to ``err/`` with ``<name>.err`` beside it naming every bad row (both UTF-8 with BOM, for the
reception PC's editor).  A file dropped again records nothing new (each record's content is its id) and checks
nothing twice; a file still being written (``.tmp``, ``.partial``, a leading dot) is left alone.

Served by the running terminal (``onshi terminal``, :func:`onshi.interop.oqs.terminal_service.serve_outage`) and by
``onshi outage folder`` run by hand.  The caller owns the transaction: :func:`record_file` in a unit of work, then
:func:`settle` after the commit — a run killed between the two leaves the file in place, and the next run records
nothing twice, checks only what has no answer yet, writes the same result file and moves it.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.outage import service
from onshi.outage.models import OutageRecord
from onshi.privacy import audit

#: the columns of ``done/<name>.result.csv``
RESULT_HEADER = ["記録番号", "記録ID", "診療日", "氏名", "カナ氏名", "結果", "保険者番号", "保険者名", "記号", "番号",
                 "枝番", "照合方法", "説明"]


@dataclass
class FileOutcome:
    """What one file gave: the record report (None when refused), the bad rows, and the result file's bytes."""

    report: service.RecordReport | None
    errors: list[service.RowError]
    result: bytes | None = None


def pending_files(folder: Path) -> list[Path]:
    """The outage lists waiting in *folder*, oldest name first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".csv"
                  and not p.name.startswith("."))


def record_file(session: Session, path: Path, institution_code: str, *, today: date, source: str = "terminal",
                check: bool = True) -> FileOutcome:
    """Record one file (whole, or nothing) and, with *check*, check those of its records that have no answer yet
    and render the result file (:data:`RESULT_HEADER`) from every record of the file."""
    actor = f"folder:{path.parent.name}"
    try:
        rows = service.read_list(path.read_bytes())
        report = service.record_patients(session, institution_code, rows, source=source, actor=actor, today=today)
    except service.OutageInputError as exc:
        return FileOutcome(None, exc.errors)
    if not check:
        return FileOutcome(report, [])
    ids = list(dict.fromkeys(report.keys.values()))  # the file's order, a record named twice once
    fresh: set[int] = set()
    if ids:
        unchecked = list(session.scalars(select(OutageRecord.id).where(
            OutageRecord.id.in_(ids), OutageRecord.status.is_(None))))
        if unchecked:
            chk = service.check(session, institution_code, actor_kind="terminal", actor_id=actor,
                                record_ids=unchecked)
            fresh = {rec.id for rec, _d in chk.results}
    records = {r.id: r for r in session.scalars(select(OutageRecord).where(OutageRecord.id.in_(ids)))} if ids else {}
    for rid in ids:  # answers checked before (a restart, a file dropped again) are read again for the file: audited
        if rid not in fresh:
            audit.record_read(session, actor_kind="terminal", actor_id=actor, action="outage.list",
                              subject_kind="outage_record", subject_id=rid, detail="result file")
    return FileOutcome(report, [], result_csv([records[i] for i in ids]))


def result_csv(records: list[OutageRecord]) -> bytes:
    """``<name>.result.csv``: one line per record of the file, UTF-8 with BOM."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(RESULT_HEADER)
    for r in records:
        a = r.result or {}
        w.writerow([r.id, "" if r.record_key.startswith("sha256:") else r.record_key, r.care_date.isoformat(),
                    r.name, r.name_kana, r.status or "", a.get("insurer_number") or "", a.get("insurer_name") or "",
                    a.get("symbol") or "", a.get("number") or "", a.get("branch") or "",
                    {"numbers": "番号", "four_items": "基本4情報"}.get(a.get("matched_by") or "", a.get("matched_by") or ""),
                    a.get("reason") or ""])
    return out.getvalue().encode("utf-8-sig")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def settle(path: Path, errors: list[service.RowError], result: bytes | None = None) -> Path:
    """Move a file handled to ``done/`` (its ``.result.csv`` written first, when given) or, with its ``.err``, to
    ``err/``; returns where it went."""
    target = path.parent / ("err" if errors else "done")
    target.mkdir(exist_ok=True)
    if errors:
        _write_atomic(target / f"{path.name}.err", (
            f"{path.name}: 記録しませんでした（1行でも誤りがあるとファイル全体を記録しません）\n"
            + "".join(e.line() + "\n" for e in errors)).encode("utf-8-sig"))
    elif result is not None:
        _write_atomic(target / f"{path.name}.result.csv", result)
    dest = target / path.name
    os.replace(path, dest)
    return dest
