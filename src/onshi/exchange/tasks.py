"""The linkage check of a resident-registry extract as tasks: one per chunk of the file (docs/batch.md).

The starter reads the file once (its SHA-256, encoding and header; :func:`onshi.exchange.linkage.extract_chunks`
cuts it at record ends), sends one task per chunk — the file's path and the chunk's byte range, never its
content: My Numbers do not travel through the broker — and waits for the chunks' rows.  The workers must read the
file at the same path (a shared folder, like the documents' output).  Each chunk's ``linkage_checks`` rows and its
``batch_units`` row are committed together, so a redelivered or duplicated chunk changes nothing; the extract is
recorded once (``resident_extracts.sha256``) when every chunk is done, and an extract already recorded is not
checked again.  Without a broker the same chunks run in this process.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.exchange import linkage
from onshi.store import batch
from onshi.store import tasks as engine
from onshi.store.tasks import app

__all__ = ["linkage_chunk", "run_linkage"]


def _chunk(fac: Callable[[], Session], run_key: str, unit: str, path: str, encoding: str, start: int, end: int,
           first_row: int, filename: str, now: str, worker: str) -> int:
    with fac() as s:
        row = batch.unit_row(s, run_key, unit)
        if row is not None and row.state == "done":
            return 0
        rep = linkage.check_chunk(s, path, encoding, linkage.Chunk(start, end, first_row), filename,
                                  datetime.fromisoformat(now))
        batch.commit_unit(s, run_key, unit, "linkage", items=rep.rows, worker=worker, result={
            "rows": rep.rows, "matched": rep.matched, "mismatched": rep.mismatched,
            "not_registered": rep.not_registered, "errors": [list(e) for e in rep.errors[:1000]],
            "more_errors": max(0, len(rep.errors) - 1000)})
        return rep.rows


@app.task(name="onshi.exchange.linkage_chunk", bind=True, acks_late=True, reject_on_worker_lost=True)
def linkage_chunk(self, run_key: str, unit: str, path: str, encoding: str, start: int, end: int, first_row: int,
                  filename: str, now: str) -> int:
    worker = engine.worker_name(self)
    try:
        return _chunk(engine.factory(), run_key, unit, path, encoding, start, end, first_row, filename, now, worker)
    except Exception as exc:  # noqa: BLE001 - recorded on the chunk's row; the run goes on, a new start retries it
        batch.record_unit_failure(engine.factory(), run_key, unit, "linkage", worker, exc)
        return 0


def run_linkage(factory: Callable[[], Session], path: Path, *, filename: str | None = None, actor: str = "",
                progress: Callable[[int], None] | None = None, broker_url: str | None = None,
                queue: str | None = None, poll: float = 0.5, timeout: float | None = None,
                wait: float | None = None, chunk_bytes: int = linkage.CHUNK_BYTES) -> linkage.LinkageReport:
    """``onshi linkage import FILE``: check an extract in chunks on the workers (or here without a broker).
    Resumable: starting it again after a failure sends only the chunks not done.  The report sums the chunks; a
    chunk that failed as a whole is one error line of row 0 (``(chunk)``) and the extract is then not recorded
    (start it again)."""
    path = Path(path).resolve()
    filename = filename or path.name
    digest, encoding, chunks = linkage.extract_chunks(path, chunk_bytes=chunk_bytes)
    report = linkage.LinkageReport(filename=filename)
    with factory() as s:
        if linkage.already_checked(s, digest):
            report.already_imported = True
            return report
    run_key = f"linkage:{digest}"
    batch.open_run(factory, "linkage", run_key, units=len(chunks), actor=actor)
    with factory() as s:  # the time the checks are stamped with: the run's start, the same for every chunk
        now = s.scalar(select(batch.BatchRun.started_at).where(batch.BatchRun.run_key == run_key)).isoformat()
    units = [(f"{i:06d}", (run_key, f"{i:06d}", str(path), encoding, c.start, c.end, c.first_row, filename, now))
             for i, c in enumerate(chunks)]

    def local(*args) -> int:
        return _chunk(factory, *args, "local")

    rows = engine.run_units(factory, kind="linkage", run_key=run_key, units=units, task=linkage_chunk, local=local,
                            broker_url=broker_url, queue=queue, progress=progress, actor=actor, poll=poll,
                            timeout=timeout, wait=wait)
    failed = False
    for r in rows:
        res = r.result or {}
        report.rows += res.get("rows", 0)
        report.matched += res.get("matched", 0)
        report.mismatched += res.get("mismatched", 0)
        report.not_registered += res.get("not_registered", 0)
        report.errors.extend(tuple(e) for e in res.get("errors", []))
        for f in r.failures or []:
            failed = True
            report.errors.append((0, "(chunk)", f"chunk {r.unit}: {f['error']}"))
    if not failed:
        with factory() as s:
            linkage.record_extract(s, digest, filename, report.rows, report.mismatched)
    return report
