"""The analytics export as tasks: one per month of care (docs/batch.md).

Each month is written to a folder of its own and swapped in when complete (:func:`onshi.analytics.export.
export_month`), then its ``batch_units`` row is committed: a redelivered task of a month done is skipped, a
duplicate running at the same moment writes its own temporary folder and the last complete month stays.  The
output folder must be one the workers share.  Without a broker the months run in this process.

An export run is named (``--run-name``; default a new name each time): the same name resumes it — months done
are skipped — while a new name exports the months again (a re-export replaces a month).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session

from onshi.analytics import export
from onshi.store import batch
from onshi.store import tasks as engine
from onshi.store.tasks import app

__all__ = ["export_month", "run_export"]


def _month(fac: Callable[[], Session], db_engine, run_key: str, month: str, out: str, rows_per_file: int,
           worker: str) -> int:
    with fac() as s:
        row = batch.unit_row(s, run_key, month)
        if row is not None and row.state == "done":
            return 0
    done = export.export_month(out, month, engine=db_engine, rows_per_file=rows_per_file)
    with fac() as s:
        batch.commit_unit(s, run_key, month, "export", items=done.rows, worker=worker,
                          result={"rows": done.rows, "files": [str(f) for f in done.files]})
    return done.rows


@app.task(name="onshi.analytics.export_month", bind=True, acks_late=True, reject_on_worker_lost=True)
def export_month(self, run_key: str, month: str, out: str, rows_per_file: int) -> int:
    worker = engine.worker_name(self)
    try:
        from onshi.store.db import default_engine

        return _month(engine.factory(), default_engine(), run_key, month, out, rows_per_file, worker)
    except Exception as exc:  # noqa: BLE001 - recorded on the month's row; the run goes on, a new start retries it
        batch.record_unit_failure(engine.factory(), run_key, month, "export", worker, exc)
        return 0


def run_export(factory: Callable[[], Session], out: Path, *, months: list[str] | None = None,
               run_name: str | None = None, db_engine=None, progress: Callable[[int], None] | None = None,
               broker_url: str | None = None, queue: str | None = None, actor: str = "", poll: float = 0.5,
               timeout: float | None = None, wait: float | None = None,
               rows_per_file: int = export.ROWS_PER_FILE) -> list[batch.BatchUnit]:
    """``onshi analytics export``: one task per month (default: every month in the log); returns the months' rows
    (``result``: rows and files; ``failures``: why a month failed)."""
    from onshi.analytics.engine import DatabaseLog

    if db_engine is None:
        from onshi.store.db import default_engine

        db_engine = default_engine()
    wanted = sorted(set(months)) if months else DatabaseLog(db_engine).months()
    run_key = f"export:{run_name or uuid.uuid4().hex[:12]}"
    out_s = str(Path(out).resolve())

    def local(rk: str, month: str, o: str, rpf: int) -> int:
        return _month(factory, db_engine, rk, month, o, rpf, "local")

    return engine.run_units(factory, kind="export", run_key=run_key,
                            units=[(m, (run_key, m, out_s, rows_per_file)) for m in wanted], task=export_month,
                            local=local, broker_url=broker_url, queue=queue, progress=progress, actor=actor,
                            poll=poll, timeout=timeout, wait=wait)
