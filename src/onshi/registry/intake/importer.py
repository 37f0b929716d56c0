"""Importing a notification file (届出ファイルの取込): the use case that ties the package together.

A file is read as a stream (UTF-8 with or without BOM, or Shift_JIS/CP932), checked as a whole (encoding, header),
then row by row (:mod:`~onshi.registry.intake.rows`), a chunk at a time.  Every row is either applied
(:mod:`~onshi.registry.intake.appliers`), recognised as already applied (a re-import), or quarantined with file,
row, column, value and reason (:mod:`~onshi.registry.intake.quarantine`).  All of a file's outcomes are written in
the caller's one transaction, so a crash applies nothing.  A large 資格取得届 on PostgreSQL is read by a second
process (:mod:`onshi.registry.intake.pg.worker`) while this one stores.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from onshi.config import get_settings
from onshi.privacy.crypto import vault
from onshi.registry import service
from onshi.registry.intake.acquisitions import store_staged_chunk
from onshi.registry.intake.appliers import apply_chunk
from onshi.registry.intake.context import ApplyContext, Outcome
from onshi.registry.intake.files import (
    IntakeReport,
    RowError,
    previous_import,
    record_counts,
    record_file,
    report_previous_import,
    sniff,
)
from onshi.registry.intake.pg import bulk as pg_bulk
from onshi.registry.intake.pg import worker as pg_worker
from onshi.registry.intake.quarantine import quarantine_row
from onshi.registry.intake.rows import IntakeFileError, ParsedRow, rows_from, validate_row
from onshi.registry.models import Insurer, NotificationType
from onshi.store.db import is_postgres, utcnow

T = NotificationType
CHUNK = 5000


def import_file(session: Session, path: Path | str, ntype: NotificationType | str, *,
                received_at: datetime | None = None, actor: str = "cli", insurer: str | None = None,
                progress: Callable[[int], None] | None = None) -> IntakeReport:
    """Import one notification file.  Raises :class:`IntakeFileError` for a file that cannot be read at all.

    The file is recorded with the insurer it was filed for (``IntakeFile.insurer_id``): *insurer* (保険者番号)
    when the caller knows it — a row naming another insurer is then rejected — else the one insurer every row
    names; a file whose rows name several insurers (or none that is registered) is recorded without one.
    """
    path = Path(path)
    ntype = NotificationType(ntype)
    report = IntakeReport(filename=path.name, notification_type=ntype)
    filed_for = None
    if insurer is not None:
        filed_for = service.get_insurer(session, number=insurer)
        if filed_for is None:
            raise IntakeFileError(f"保険者番号 {insurer} は onshi に登録されていません (unknown insurer)")
    encoding, digest = sniff(path)
    report.encoding = encoding
    if (ntype is T.acquisition and is_postgres(session)
            and path.stat().st_size >= get_settings().intake_parallel_min_bytes):
        return _import_rows(session, path, ntype, report, digest, None, received_at=received_at, actor=actor,
                            progress=progress, filed_for=filed_for)
    fh = path.open("r", encoding="utf-8-sig" if encoding == "utf-8" else encoding, newline="")
    try:
        return _import_rows(session, path, ntype, report, digest, rows_from(csv.reader(fh), ntype),
                            received_at=received_at, actor=actor, progress=progress, filed_for=filed_for)
    finally:
        fh.close()


def _import_in_parallel(ctx: ApplyContext, path: Path, report: IntakeReport, filed_for: Insurer | None,
                        store, account) -> set[str]:
    """Stream the worker's staged chunks into PostgreSQL and decide what needs deciding; returns the insurers named.

    *store* and *account* are :func:`_import_rows`'s: the rows the worker sends back as read go through the same
    path as a small file's rows."""
    session, v = ctx.session, vault()
    job = {"path": str(path), "encoding": report.encoding, "filed_for": filed_for.number if filed_for else None,
           "enc_key": v.enc_key, "hash_key": v.hash_key, "chunk": pg_worker.CHUNK,
           "database_url": session.get_bind().url.render_as_string(hide_password=False)}
    worker = pg_worker.Worker(job)
    names: list[str] = []
    try:
        while True:
            message = worker.recv()
            kind = message[0]
            if kind == "file-error":
                raise IntakeFileError(message[1])
            if kind == "error":
                raise RuntimeError(f"the intake reader process failed:\n{message[1]}")
            if kind == "done":
                return message[1]
            if kind == "names":
                names = message[1]
                continue
            _, payload, others, _count, staged = message
            results: list[tuple[Outcome, int | None]] = []
            applied = 0
            if payload:
                session.flush()
                pg_bulk.stage(session, payload=[payload])
                raw_of: dict[int, dict[str, str]] = {}
                rebuilt: dict[int, ParsedRow] = {}

                def row_for(e: pg_bulk.Exceptional) -> ParsedRow:
                    if not raw_of:  # only a chunk with rows to decide needs its raw rows
                        raw_of.update(pg_worker.raw_rows(names, staged))
                    rebuilt[e.row_number] = validate_row(T.acquisition, raw_of[e.row_number])
                    return rebuilt[e.row_number]

                # the rows stored are only counted: a million applied rows need no outcome each
                not_stored, applied = store_staged_chunk(ctx, row_for, change_ids=False)
                for o in not_stored.values():
                    qid = None
                    if o.status == "rejected":
                        qid = quarantine_row(ctx, T.acquisition, o, rebuilt[o.row_number].raw)
                    results.append((o, qid))
            if others:
                checked = []
                for n, raw in others:
                    row = validate_row(T.acquisition, raw)
                    check_filed_for(row, filed_for)
                    checked.append((n, row))
                results += store(checked)
            results.sort(key=lambda item: item[0].row_number)
            account(results, applied)
    finally:
        worker.stop()


def check_filed_for(row: ParsedRow, filed_for: Insurer | None) -> str | None:
    """Fail a row naming another insurer than the one the file was filed for; returns the 保険者番号 it names."""
    number = row.values.get("insurer_number")
    if number and filed_for is not None and number != filed_for.number:
        row.fail("insurer_number", f"保険者 {filed_for.number} の届出ファイルに他の保険者の行があります "
                                   f"(this file was filed for insurer {filed_for.number})")
    return number


def _import_rows(session: Session, path: Path, ntype: NotificationType, report: IntakeReport, digest: str, rows,
                 *, received_at: datetime | None, actor: str, progress, filed_for: Insurer | None = None
                 ) -> IntakeReport:
    existing = previous_import(session, digest)
    if existing is not None:
        return report_previous_import(report, existing)
    now = utcnow()
    received_at = received_at or now
    f = record_file(session, digest=digest, filename=path.name, ntype=ntype, encoding=report.encoding,
                    received_at=received_at, now=now, actor=actor)
    report.file_id, report.received_at = f.id, received_at
    ctx = ApplyContext(session=session, file_id=f.id, received_at=received_at, now=now, actor=actor)

    def store(chunk: list[tuple[int, ParsedRow]]) -> list[tuple[Outcome, int | None]]:
        """The database part of a chunk: apply it, quarantine its rejected rows."""
        raw_of = {n: r.raw for n, r in chunk}
        out = []
        for o in apply_chunk(ctx, ntype, chunk):
            out.append((o, quarantine_row(ctx, ntype, o, raw_of[o.row_number]) if o.status == "rejected" else None))
        return out

    def account(results: list[tuple[Outcome, int | None]], applied: int = 0) -> None:
        """Count a chunk's outcomes into the report, and *applied* rows stored without an outcome each."""
        report.rows_total += applied
        report.applied += applied
        for o, qid in results:
            report.rows_total += 1
            if o.status == "applied":
                report.applied += 1
            elif o.status == "duplicate":
                report.duplicate += 1
            else:
                report.rejected += 1
                report.quarantine_ids.append(qid)
                report.errors.extend(RowError(o.row_number, c, val, why) for c, val, why in o.errors)
        if progress:
            progress(len(results) + applied)

    chunk: list[tuple[int, ParsedRow]] = []
    named: set[str] = set()  # the insurer numbers the rows name
    if rows is None:  # a large 資格取得届 on PostgreSQL: a second process reads (onshi.registry.intake.pg.worker)
        named = _import_in_parallel(ctx, path, report, filed_for, store, account)
        rows = ()
    for n, raw in rows:
        row = validate_row(ntype, raw)
        if number := check_filed_for(row, filed_for):
            named.add(number)
        chunk.append((n, row))
        if len(chunk) >= CHUNK:
            account(store(chunk))
            chunk = []
    if chunk:
        account(store(chunk))
    pg_bulk.restore_jit(session)  # the import's `jit = off` ends with it, not with the caller's transaction
    if report.rows_total == 0:
        raise IntakeFileError("データ行がありません (the file has a header but no rows)")
    if filed_for is not None:
        f.insurer_id = filed_for.id
    elif len(named) == 1:
        only = ctx.insurer(next(iter(named)))
        f.insurer_id = only.id if only is not None else None
    record_counts(f, report)
    return report

