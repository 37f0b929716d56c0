"""Quarantined rows (保留行): a rejected row kept with file, row, column, value and reason, its raw values sealed,
until a clerk corrects and resubmits it or withdraws it.  A resubmitted row keeps its file's receipt time, so the
5-day clock runs from the original filing.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.privacy.crypto import vault
from onshi.registry.intake.appliers import apply_chunk
from onshi.registry.intake.context import ApplyContext, Outcome
from onshi.registry.intake.files import IntakeReport, RowError
from onshi.registry.intake.rows import LAYOUTS, shown, validate_row
from onshi.registry.models import IntakeFile, NotificationType, QuarantinedRow
from onshi.store.db import utcnow


def quarantine_row(ctx: ApplyContext, ntype: NotificationType, o: Outcome, raw: dict[str, str]) -> int:
    """Quarantine a rejected row (隔離): where and why, its values sealed (they may hold a My Number)."""
    q = QuarantinedRow(file_id=ctx.file_id, row_number=o.row_number, notification_type=ntype,
                       errors=[{"column": c, "value": val, "reason": why} for c, val, why in o.errors],
                       raw_sealed=vault().seal(json.dumps(raw, ensure_ascii=False).encode()))
    ctx.session.add(q)
    ctx.session.flush()
    return q.id


def open_quarantine(session: Session, *, file_id: int | None = None) -> list[QuarantinedRow]:
    """The rows still open, of one file or of all, in file and row order."""
    q = select(QuarantinedRow).where(QuarantinedRow.status == "open")
    if file_id is not None:
        q = q.where(QuarantinedRow.file_id == file_id)
    return list(session.scalars(q.order_by(QuarantinedRow.file_id, QuarantinedRow.row_number)))


def quarantined_values(row: QuarantinedRow, *, reveal_secrets: bool = False) -> dict[str, str]:
    """The rejected row's values for a correction form; My Number masked unless asked for."""
    raw = json.loads(vault().unseal(row.raw_sealed))
    if not reveal_secrets:
        raw = {k: shown(k, v) for k, v in raw.items()}
    return raw


def resubmit(session: Session, quarantine_id: int, corrections: dict[str, str], *, actor: str) -> IntakeReport:
    """Correct a quarantined row and apply it.  The 5-day clock keeps the original file's receipt time."""
    row = session.get(QuarantinedRow, quarantine_id)
    if row is None or row.status != "open":
        raise ValueError(f"quarantined row {quarantine_id} is not open")
    f = session.get(IntakeFile, row.file_id)
    raw = json.loads(vault().unseal(row.raw_sealed))
    layout = LAYOUTS[row.notification_type]
    unknown = [c for c in corrections if c not in layout]
    if unknown:
        raise ValueError(f"unknown column(s) for {row.notification_type.value}: {', '.join(unknown)}")
    if "__shape__" in raw:
        raw = {c: "" for c in layout}
    raw.update(corrections)
    report = IntakeReport(filename=f.filename, notification_type=row.notification_type, encoding=f.encoding,
                          file_id=f.id, received_at=f.received_at)
    ctx = ApplyContext(session=session, file_id=f.id, received_at=f.received_at, now=utcnow(), actor=actor)
    [o] = apply_chunk(ctx, row.notification_type, [(row.row_number, validate_row(row.notification_type, raw))])
    report.rows_total = 1
    v = vault()
    if o.status == "rejected":
        report.rejected = 1
        report.errors = [RowError(row.row_number, c, val, why) for c, val, why in o.errors]
        row.errors = [{"column": c, "value": val, "reason": why} for c, val, why in o.errors]
        row.raw_sealed = v.seal(json.dumps(raw, ensure_ascii=False).encode())
        return report
    report.applied = int(o.status == "applied")
    report.duplicate = int(o.status == "duplicate")
    row.status, row.resolved_at, row.resolved_by, row.resolved_change_id = "resolved", ctx.now, actor, o.change_id
    f.rows_applied += report.applied
    f.rows_rejected -= 1
    return report


def withdraw(session: Session, quarantine_id: int, *, actor: str) -> None:
    """Close a quarantined row that will not be applied (e.g. the employer withdrew the filing)."""
    row = session.get(QuarantinedRow, quarantine_id)
    if row is None or row.status != "open":
        raise ValueError(f"quarantined row {quarantine_id} is not open")
    row.status, row.resolved_at, row.resolved_by = "withdrawn", utcnow(), actor
