"""The records of batch runs and of their units of work, shared by every domain that runs on the task engine
(docs/batch.md): the daily 資格確認書 run (per insurer and slice), the linkage check of an extract (per chunk), the
analytics export (per month).  The mailing run keeps its own ``mailing_bundles`` (it came first) but has its
``batch_runs`` row too.

* ``batch_runs``: one row per run (``run_key`` unique): running | done | failed, and why it failed — a run whose
  broker died mid-run is ``failed`` with its reason, and starting it again resumes it.
* ``batch_units``: one row per unit done (``(run_key, unit)`` unique), written **in the transaction of the unit's
  own work** by :func:`commit_unit`: a redelivered or duplicated task finds it and changes nothing; two deliveries
  running at once both try to commit, the second fails on the unique key, rolls back and finds the first's row.

No Celery here (this module is imported with every table by ``onshi.schema``); the engine is
:mod:`onshi.store.tasks`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, BigInteger, DateTime, Integer, String, Text, UniqueConstraint, case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from onshi.store.db import Base, utcnow

PK = BigInteger().with_variant(Integer, "sqlite")

__all__ = ["BatchRun", "BatchUnit", "RunView", "close_run", "commit_unit", "failure_counts", "open_run",
           "recent_runs", "record_unit_failure", "run_view", "unit_row", "units_of"]


class BatchRun(Base):
    """One run on the task engine, whoever started it and wherever its units ran."""

    __tablename__ = "batch_runs"
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # daily | linkage | export | mailing
    run_key: Mapped[str] = mapped_column(String(160), unique=True)
    state: Mapped[str] = mapped_column(String(10))  # running | done | failed (resumable: start it again)
    units: Mapped[int] = mapped_column(Integer, default=0)  # units sent by the latest start
    attempt: Mapped[int] = mapped_column(Integer, default=1)  # +1 when a run done is started again
    reason: Mapped[str | None] = mapped_column(Text)  # why it failed (broker lost, no worker, …)
    started_by: Mapped[str] = mapped_column(String(100), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)


class BatchUnit(Base):
    """One unit of a run, done (or failed, with who and why): the run's progress gathered from every worker."""

    __tablename__ = "batch_units"
    __table_args__ = (UniqueConstraint("run_key", "unit"),)
    id: Mapped[int] = mapped_column(PK, primary_key=True)
    run_key: Mapped[str] = mapped_column(String(160))
    unit: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(10))  # done | failed | retry (failed, sent again)
    items: Mapped[int] = mapped_column(Integer, default=0)  # members, rows, certificates … the unit covered
    result: Mapped[dict] = mapped_column(JSON, default=dict)  # the unit's counts and report lines (no personal datum)
    failures: Mapped[list] = mapped_column(JSON, default=list)  # [{"error": …}] — never a My Number
    worker: Mapped[str] = mapped_column(String(200), default="")
    finished_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


def unit_row(s: Session, run_key: str, unit: str) -> BatchUnit | None:
    return s.scalar(select(BatchUnit).where(BatchUnit.run_key == run_key, BatchUnit.unit == unit))


def units_of(s: Session, run_key: str) -> list[BatchUnit]:
    return list(s.scalars(select(BatchUnit).where(BatchUnit.run_key == run_key).order_by(BatchUnit.unit)))


def commit_unit(s: Session, run_key: str, unit: str, kind: str, *, items: int, result: dict | None = None,
                failures: list | None = None, worker: str = "") -> BatchUnit:
    """Record a unit as done (or ``failed`` when it has *failures*) and commit — with whatever the unit's work
    added to *s*, in one transaction.  When a duplicate delivery committed it a moment ago, this one's work is
    rolled back and the first's row returned.  The row is returned detached."""
    row = unit_row(s, run_key, unit)
    if row is None:
        row = BatchUnit(run_key=run_key, unit=unit, kind=kind)
        s.add(row)
    row.state = "failed" if failures else "done"
    row.items, row.result, row.failures = items, result or {}, failures or []
    row.worker, row.finished_at = worker, utcnow()
    try:
        s.commit()
    except IntegrityError:  # the same unit committed by a duplicate delivery: it is done, this one's work is not
        s.rollback()
        row = unit_row(s, run_key, unit)
        if row is None:
            raise
    s.expunge(row)
    return row


def record_unit_failure(factory: Callable[[], Session], run_key: str, unit: str, kind: str, worker: str,
                        exc: BaseException) -> None:
    """A unit failed as a whole (database gone, a bug): its row says so (state ``failed``, the error) so the run
    finishes and reports it; starting the run again sends it again.  A unit already done stays done."""
    with factory() as s:
        row = unit_row(s, run_key, unit)
        if row is not None and row.state == "done":
            return
        if row is None:
            row = BatchUnit(run_key=run_key, unit=unit, kind=kind, items=0, result={})
            s.add(row)
        row.state, row.worker, row.finished_at = "failed", worker, utcnow()
        row.failures = [{"error": f"{type(exc).__name__}: {exc}"[:500]}]
        try:
            s.commit()
        except IntegrityError:
            s.rollback()


def open_run(factory: Callable[[], Session], kind: str, run_key: str, *, units: int, actor: str = "") -> int:
    """Mark *run_key* running and return its attempt: a run found running or failed is resumed (the same attempt,
    its failed units will be sent again); a run found done and started again is a new attempt (its units are new:
    e.g. a daily run checks every slice again)."""
    with factory() as s:
        run = s.scalar(select(BatchRun).where(BatchRun.run_key == run_key))
        if run is None:
            s.add(BatchRun(kind=kind, run_key=run_key, started_by=actor, attempt=1, state="running", units=units))
            try:
                s.commit()
            except IntegrityError:  # opened at the same moment elsewhere: join it
                s.rollback()
            run = s.scalar(select(BatchRun).where(BatchRun.run_key == run_key))
        elif run.state == "done":
            run.attempt = (run.attempt or 1) + 1
        run.state, run.units, run.reason, run.finished_at = "running", units, None, None
        s.execute(BatchUnit.__table__.update().where(BatchUnit.run_key == run_key, BatchUnit.state == "failed")
                  .values(state="retry"))
        s.commit()
        return run.attempt


def close_run(factory: Callable[[], Session], run_key: str, state: str, reason: str | None = None) -> None:
    with factory() as s:
        run = s.scalar(select(BatchRun).where(BatchRun.run_key == run_key))
        if run is not None:
            run.state, run.reason, run.finished_at = state, reason, utcnow()
            s.commit()


def failure_counts(s: Session) -> dict[str, int]:
    """Failed units by kind (``batch_units`` failed now, and failed mailing bundles): what /metrics shows."""
    counts = dict(s.execute(select(BatchUnit.kind, func.count()).where(BatchUnit.state == "failed")
                            .group_by(BatchUnit.kind)).all())
    return {k: int(v) for k, v in counts.items()}


def run_states(s: Session) -> dict[tuple[str, str], int]:
    """Runs by (kind, state)."""
    return {(k, st): int(n) for k, st, n in s.execute(
        select(BatchRun.kind, BatchRun.state, func.count()).group_by(BatchRun.kind, BatchRun.state)).all()}


@dataclass(frozen=True)
class RunView:
    """A run as the operator sees it: its row and the progress gathered from the units every worker committed."""

    run: BatchRun
    done: int  # units done (this attempt's and earlier attempts' alike: a unit is done once)
    failed: int  # units failed now (``retry`` counts as sent again, not failed)
    items: int  # members, rows, certificates … the units done covered

    @property
    def pending(self) -> int:
        return max(self.run.units - self.done - self.failed, 0)


def _progress(s: Session, run_keys: list[str]) -> dict[str, tuple[int, int, int]]:
    if not run_keys:
        return {}
    done = func.sum(case((BatchUnit.state == "done", 1), else_=0))
    failed = func.sum(case((BatchUnit.state == "failed", 1), else_=0))
    items = func.sum(case((BatchUnit.state == "done", BatchUnit.items), else_=0))
    rows = s.execute(select(BatchUnit.run_key, done, failed, items).where(BatchUnit.run_key.in_(run_keys))
                     .group_by(BatchUnit.run_key)).all()
    return {k: (int(d or 0), int(f or 0), int(i or 0)) for k, d, f, i in rows}


def recent_runs(s: Session, *, limit: int = 50, kind: str | None = None) -> list[RunView]:
    """The latest runs, newest first, each with its progress — what the runs page and its live refresh show.  No
    personal datum: run keys, counts and unit-level errors only."""
    q = select(BatchRun).order_by(BatchRun.started_at.desc(), BatchRun.id.desc()).limit(limit)
    if kind:
        q = q.where(BatchRun.kind == kind)
    runs = list(s.scalars(q))
    progress = _progress(s, [r.run_key for r in runs])
    return [RunView(r, *progress.get(r.run_key, (0, 0, 0))) for r in runs]


def run_view(s: Session, run_key: str) -> tuple[RunView, list[BatchUnit]] | None:
    """One run with every unit (who ran it, when, how many items, why it failed)."""
    run = s.scalar(select(BatchRun).where(BatchRun.run_key == run_key))
    if run is None:
        return None
    return RunView(run, *_progress(s, [run_key]).get(run_key, (0, 0, 0))), units_of(s, run_key)
