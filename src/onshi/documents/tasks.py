"""The document runs as Celery tasks over RabbitMQ, or in this process when no broker is configured (docs/batch.md).

* The **mailing run**: one task per employer bundle (:func:`onshi.documents.service.mailing_bundle`), keyed by
  the notices' unique ``issue_key`` and the bundle's unique ``(run_id, employer_id)`` row, committed together.
* The **daily 資格確認書 run**: one task per insurer and slice of its due certificates
  (:func:`onshi.documents.service.daily_slice`), keyed by the certificates' ``issue_key`` and the slice's
  ``batch_units`` row, committed together; the run's starter then marks the certificates due back and closes it.

A redelivered or duplicated task changes nothing; acknowledgement is late and a worker lost mid-task (``kill -9``)
has its task put back on the queue.  The starter gathers the progress and failures from the rows — whichever
workers wrote them — waiting a bounded time when the broker is gone (:mod:`onshi.store.tasks`), and closes the run.
Without a broker (``scripts/demo``, a laptop) the same units run in this process.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from onshi.config import get_settings
from onshi.documents import service
from onshi.documents.models import IssuedDocument, MailingBundle
from onshi.store import batch
from onshi.store import tasks as engine
from onshi.store.tasks import app, delete_queue, start_worker  # noqa: F401 - this module's API since the mailing run

__all__ = ["app", "daily_slice", "delete_queue", "mailing_bundle", "record_bundle_failure", "run_daily", "run_mailing",
           "start_worker"]

_factory = engine.factory


def _configure(broker_url: str | None = None) -> None:
    engine.configure(broker_url)


@app.task(name="onshi.documents.mailing_bundle", bind=True, acks_late=True, reject_on_worker_lost=True)
def mailing_bundle(self, run_id: int, employer_id: int, out_dir: str, issue: str, since: str | None) -> int:
    """One employer's bundle; a failure of the whole bundle is recorded on its row (state ``failed``) so the run
    goes on and the bundle can be sent again alone (by starting the run again)."""
    worker = engine.worker_name(self)
    try:
        row = service.mailing_bundle(_factory(), run_id, employer_id, out_dir=Path(out_dir),
                                     issue=date.fromisoformat(issue),
                                     since=date.fromisoformat(since) if since else None, worker=worker)
        return row.issued
    except Exception as exc:  # noqa: BLE001 - recorded on the bundle's row (who and why); the run goes on
        _record_bundle_failure(run_id, employer_id, worker, exc)
        return 0


def record_bundle_failure(run_id: int, employer_id: int, worker: str, exc: Exception) -> None:
    """A bundle that failed whole, on its row (state ``failed``, who and why) — of any mailing run (the 医療費通知
    run's task too, onshi.claims.tasks)."""
    _record_bundle_failure(run_id, employer_id, worker, exc)


def _record_bundle_failure(run_id: int, employer_id: int, worker: str, exc: Exception) -> None:
    with _factory()() as s:
        row = s.scalar(select(MailingBundle).where(MailingBundle.run_id == run_id,
                                                   MailingBundle.employer_id == employer_id))
        if row is None:
            row = MailingBundle(run_id=run_id, employer_id=employer_id, members=0, issued=0, files=[], notes=[])
            s.add(row)
        if row.state == "done":
            return
        row.state, row.worker = "failed", worker
        row.failures = [{"qualification_id": None, "symbol": "", "number": "",
                         "error": f"bundle: {type(exc).__name__}: {exc}"[:500]}]
        s.commit()


def run_mailing(factory: Callable[[], Session], insurer_number: str, out_dir: Path, *, actor: str, run_name: str,
                issue: date, since: date | None = None, progress: Callable[[int], None] | None = None,
                broker_url: str | None = None, queue: str | None = None, poll: float = 0.5,
                timeout: float | None = None, wait: float | None = None) -> service.RunReport:
    """A mailing run on the Celery workers of *broker_url* (default ``ONSHI_BROKER_URL``), or in this process when
    there is none.  Starting a run that is already going (here or on another machine) joins it: the bundles are
    sent again, and the ones done are skipped by whoever receives them; no notice is made twice.  The broker lost
    mid-run for ``ONSHI_TASK_WAIT_SECONDS`` (*wait*): :class:`onshi.store.tasks.RunStalled`, the run recorded
    failed with the reason in ``batch_runs``; starting it again resumes it."""
    broker_url = broker_url or get_settings().broker_url
    if not broker_url:
        return service.mailing_run(factory, insurer_number, out_dir, actor=actor, run_name=run_name, issue=issue,
                                   since=since, progress=progress)
    run_key = f"mailing:{insurer_number}:{run_name}"
    run_id, employer_ids = service.mailing_open(factory, insurer_number, actor=actor, run_name=run_name)
    target = (str(out_dir.resolve()), issue.isoformat(), since.isoformat() if since else None)
    return bundles_on_engine(factory, mailing_bundle, kind="mailing", run_key=run_key, run_id=run_id,
                             employer_ids=employer_ids, unit_prefix=f"mailing:{run_id}", target=target,
                             out_dir=out_dir, actor=actor, progress=progress, broker_url=broker_url, queue=queue,
                             poll=poll, timeout=timeout, wait=wait)


def bundles_on_engine(factory: Callable[[], Session], task, *, kind: str, run_key: str, run_id: int,
                      employer_ids: list[int], unit_prefix: str, target: tuple, out_dir: Path, actor: str,
                      progress: Callable[[int], None] | None, broker_url: str, queue: str | None, poll: float,
                      timeout: float | None, wait: float | None, subdir: str = "mailing") -> service.RunReport:
    """A mailing run's employer bundles on the Celery workers — for every kind of mailing run (お知らせ here,
    医療費通知 in :mod:`onshi.claims.tasks`): the run recorded in ``batch_runs``, bundles that failed before sent
    again, one *task* ``(run_id, employer_id, *target)`` per employer keyed ``<unit_prefix>:<employer>``, the wait
    for their ``mailing_bundles`` rows, then :func:`service.mailing_finish` and the report.  A lost broker or a
    timeout records the run failed and raises."""
    engine.configure(broker_url)
    queue = queue or get_settings().task_queue
    batch.open_run(factory, kind, run_key, units=len(employer_ids), actor=actor)
    with factory() as s:
        before = _issued(s, run_id)
        s.execute(MailingBundle.__table__.update().where(MailingBundle.run_id == run_id,
                                                         MailingBundle.state == "failed").values(state="retry"))
        s.commit()
    wanted = set(employer_ids)

    def count(s: Session) -> tuple[int, int]:
        rows = [b for b in service.mailing_bundles(s, run_id) if b.employer_id in wanted and b.state != "retry"]
        return len(rows), sum(b.members for b in rows)

    try:
        engine.send(broker_url, queue, task, [(f"{unit_prefix}:{e}", (run_id, e, *target)) for e in employer_ids])
        engine.wait_for(factory, count, len(wanted), broker_url=broker_url, queue=queue, progress=progress,
                        poll=poll, timeout=timeout, wait=wait, what="bundles")
    except Exception as exc:
        batch.close_run(factory, run_key, "failed", f"{type(exc).__name__}: {exc}"[:1000])
        raise
    with factory() as s:
        rows = [b for b in service.mailing_bundles(s, run_id) if b.employer_id in wanted]
    seen = sum(b.members for b in rows)
    report = service.mailing_finish(factory, run_id, out_dir, subdir=subdir)
    batch.close_run(factory, run_key, "done")
    with factory() as s:
        report.issued = _issued(s, run_id) - before
    report.skipped = seen - report.issued - sum(len(b.failures or []) for b in rows)
    return report


# ---------------------------------------------------------------- the daily 資格確認書 run

def _daily_unit(fac: Callable[[], Session], run_key: str, unit: str, run_id: int, day: str, out_dir: str,
                insurer_id: int, lo: int, hi: int, n: int, worker: str) -> int:
    """One slice of a daily run, idempotent: its certificates (unique ``issue_key``), its 返納 marks and its
    ``batch_units`` row in one transaction; a slice done is skipped."""
    with fac() as s:
        row = batch.unit_row(s, run_key, unit)
        if row is not None and row.state == "done":
            return 0
        report = service.daily_slice(s, run_id, date.fromisoformat(day), Path(out_dir), insurer_id, lo, hi)
        batch.commit_unit(s, run_key, unit, "daily", items=n, worker=worker,
                          result={"issued": report.issued, "skipped": report.skipped, "lines": report.lines[:200],
                                  "more_lines": max(0, len(report.lines) - 200)})
        return report.issued


@app.task(name="onshi.documents.daily_slice", bind=True, acks_late=True, reject_on_worker_lost=True)
def daily_slice(self, run_key: str, unit: str, run_id: int, day: str, out_dir: str, insurer_id: int, lo: int,
                hi: int, n: int) -> int:
    worker = engine.worker_name(self)
    try:
        return _daily_unit(_factory(), run_key, unit, run_id, day, out_dir, insurer_id, lo, hi, n, worker)
    except Exception as exc:  # noqa: BLE001 - recorded on the slice's row; the run goes on, a new start retries it
        batch.record_unit_failure(_factory(), run_key, unit, "daily", worker, exc)
        return 0


def run_daily(factory: Callable[[], Session], day: date, out_dir: Path, *, actor: str, insurer: str | None = None,
              progress: Callable[[int], None] | None = None, total: Callable[[int], None] | None = None,
              broker_url: str | None = None, queue: str | None = None, poll: float = 0.5,
              timeout: float | None = None, wait: float | None = None,
              slice_size: int = service.DAILY_SLICE) -> service.RunReport:
    """``onshi documents run``: the daily 資格確認書 run of *day* (of one insurer, or of every insurer) — one task per
    insurer and slice of its qualifications on the workers of *broker_url*, or in this process without one; each
    slice checks its qualifications by the rules of :func:`onshi.documents.service.due_certificates`, issues what
    is due and marks what is due back.  Idempotent like :func:`onshi.documents.service.daily_run` (the same run key
    and issue keys).  A run stopped part-way (broker lost, starter killed) resumes where it was when started again;
    a run that finished and is started again checks every slice again (what became due since is issued).  *total*
    is told how many qualifications the run checks, *progress* how many each slice covered."""
    run_id, run_key, slices = service.daily_open(factory, day, actor=actor, insurer=insurer, slice_size=slice_size)
    if total:
        total(sum(n for *_, n in slices))
    attempt = batch.open_run(factory, "daily", run_key, units=len(slices), actor=actor)
    out = str(out_dir.resolve())
    units = [(f"{attempt}:{iid}:{lo}-{hi}", (run_key, f"{attempt}:{iid}:{lo}-{hi}", run_id, day.isoformat(), out,
                                            iid, lo, hi, n)) for iid, lo, hi, n in slices]

    def local(*args) -> int:
        return _daily_unit(factory, *args, "local")

    rows = engine.run_units(factory, kind="daily", run_key=run_key, units=units, task=daily_slice, local=local,
                            broker_url=broker_url, queue=queue, progress=progress, actor=actor, poll=poll,
                            timeout=timeout, wait=wait)
    lines = [line for r in rows for line in (r.result or {}).get("lines", [])]
    lines += [f"slice {r.unit}: 資格確認書の作成が止まりました — {f['error']}" for r in rows for f in r.failures or []]
    report = service.daily_finish(factory, run_id, lines)
    report.issued = sum((r.result or {}).get("issued", 0) for r in rows)
    report.skipped = sum((r.result or {}).get("skipped", 0) for r in rows)
    with factory() as s:
        report.files = sorted(f for f in s.scalars(select(IssuedDocument.file).where(
            IssuedDocument.run_id == run_id)) if f)
    return report


def _issued(s: Session, run_id: int) -> int:
    return s.scalar(select(func.count()).select_from(IssuedDocument).where(IssuedDocument.run_id == run_id))


# ---------------------------------------------------------------- the national monthly lists (issue 19 × issue 20)

def _list_unit(factory: Callable[[], Session], run_key: str, unit: str, path: str, kind: str, month: str,
               insurer: str | None, actor: str, worker: str) -> int:
    """Import one list file (:func:`onshi.documents.national_lists.import_list`) and record its unit, in one
    transaction: a redelivered task finds the unit done, and a list imported before is found by its SHA-256 anyway."""
    from onshi.documents.national_lists import NationalListError, import_list

    with factory() as s:
        row = batch.unit_row(s, run_key, unit)
        if row is not None and row.state == "done":
            return 0
        name = Path(path).name
        try:
            report = import_list(s, Path(path).read_bytes(), kind=kind, month=month, filename=name, actor=actor,
                                 insurer_number=insurer)
        except (NationalListError, OSError) as exc:  # the file as a whole: nothing applied, the run reports it
            s.rollback()
            batch.commit_unit(s, run_key, unit, "national", items=0, worker=worker,
                              failures=[{"error": f"{name}: {exc} — 何も取り込んでいません"}])
            return 0
        # counts only: who was added is read back from the import's own records (audited) by whoever reports it
        batch.commit_unit(s, run_key, unit, "national", items=report.rows_total, worker=worker,
                          result={"file_id": report.file_id, "already_imported": report.already_imported,
                                  "summary": report.lines()[0], "problems": len(report.problems)})
        return report.rows_total


@app.task(name="onshi.documents.national_list", bind=True, acks_late=True, reject_on_worker_lost=True)
def national_list(self, run_key: str, unit: str, path: str, kind: str, month: str, insurer: str | None,
                  actor: str) -> int:
    worker = engine.worker_name(self)
    try:
        return _list_unit(_factory(), run_key, unit, path, kind, month, insurer, actor, worker)
    except Exception as exc:  # noqa: BLE001 - recorded on the unit's row; a new start of the run retries it
        batch.record_unit_failure(_factory(), run_key, unit, "national", worker, exc)
        return 0


def run_lists(factory: Callable[[], Session], files: list[Path], *, kind: str, month: str,
              insurer: str | None = None, actor: str = "cli", broker_url: str | None = None,
              queue: str | None = None, progress: Callable[[int], None] | None = None, poll: float = 0.5,
              timeout: float | None = None, wait: float | None = None) -> list[batch.BatchUnit]:
    """``onshi lists import FILE…``: one task per list file on the workers (the files must lie in a folder they
    share: the compose file's ``exchange`` volume), or in this process without a broker.  The run key is made of
    the files' contents, the kind and the month: a run stopped part-way resumes with the same files (files done are
    skipped); started again after it finished, each file reports that it was imported before and changes nothing.  Returns the files' unit rows, in the order given."""
    import hashlib

    from onshi.documents.national_lists import parse_month

    day = parse_month(month).isoformat()
    digests = [hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files]
    run_key = "national:" + hashlib.sha256(
        "|".join([kind, day, insurer or "", *digests]).encode()).hexdigest()[:32]
    # a run found done and started again is a new attempt with units of its own (each file then reports "取込済み");
    # a run that stopped part-way resumes its attempt, the files done skipped
    attempt = batch.open_run(factory, "national", run_key, units=len(files), actor=actor)
    units = [(f"{attempt}:{i:03d}-{d[:16]}", (run_key, f"{attempt}:{i:03d}-{d[:16]}", str(Path(f).resolve()), kind,
                                              day, insurer, actor)) for i, (f, d) in enumerate(zip(files, digests))]

    def local(*args) -> int:
        return _list_unit(factory, *args, "local")

    return engine.run_units(factory, kind="national", run_key=run_key, units=units, task=national_list, local=local,
                            broker_url=broker_url, queue=queue, progress=progress, actor=actor, poll=poll,
                            timeout=timeout, wait=wait)
