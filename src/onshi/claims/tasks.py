"""The 医療費通知 mailing run as Celery tasks (docs/claims.md, docs/batch.md): one task per employer bundle
(:func:`onshi.claims.notice_mailing.cost_mailing_bundle`), on the workers of ``ONSHI_BROKER_URL`` or in this
process without one — the engine, keys and resumption of the お知らせ mailing run (:mod:`onshi.documents.tasks`).
``onshi worker`` imports this module (``onshi.store.tasks.TASK_MODULES``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from onshi.claims import notice_mailing
from onshi.config import get_settings
from onshi.documents import service as documents
from onshi.documents import tasks as documents_tasks
from onshi.documents.models import IssuedDocument, MailingBundle
from onshi.store import batch
from onshi.store import tasks as engine
from onshi.store.tasks import app

__all__ = ["cost_notice_bundle", "run_cost_mailing"]


def _factory():
    return engine.factory()


def _issued(s: Session, run_id: int) -> int:
    return s.scalar(select(func.count()).select_from(IssuedDocument).where(IssuedDocument.run_id == run_id))


@app.task(name="onshi.claims.cost_notice_bundle", bind=True, acks_late=True, reject_on_worker_lost=True)
def cost_notice_bundle(self, run_id: int, employer_id: int, out_dir: str, issue: str) -> int:
    """One employer's bundle of 医療費通知 (:func:`onshi.claims.notice_mailing.cost_mailing_bundle`); a failure of
    the whole bundle is recorded on its row like a お知らせ bundle's."""
    worker = engine.worker_name(self)
    try:
        row = notice_mailing.cost_mailing_bundle(_factory(), run_id, employer_id, out_dir=Path(out_dir),
                                                 issue=date.fromisoformat(issue), worker=worker)
        return row.issued
    except Exception as exc:  # noqa: BLE001 - recorded on the bundle's row (who and why); the run goes on
        documents_tasks.record_bundle_failure(run_id, employer_id, worker, exc)
        return 0


def run_cost_mailing(factory: Callable[[], Session], insurer_number: str, out_dir: Path, *, first: str, last: str,
                     issue: date, actor: str, progress: Callable[[int], None] | None = None,
                     broker_url: str | None = None, queue: str | None = None, poll: float = 0.5,
                     timeout: float | None = None, wait: float | None = None) -> documents.RunReport:
    """``onshi claims notices mail``: the 医療費通知 of the months *first* … *last*, one task per employer bundle on
    the workers of *broker_url* (default ``ONSHI_BROKER_URL``), or in this process without one — the same engine,
    resumption and exactly-once keys as
    :func:`onshi.documents.tasks.run_mailing` (docs/claims.md)."""
    broker_url = broker_url or get_settings().broker_url
    if not broker_url:
        return notice_mailing.cost_mailing_run(factory, insurer_number, out_dir, first=first, last=last,
                                               issue=issue, actor=actor, progress=progress)
    engine.configure(broker_url)
    queue = queue or get_settings().task_queue
    run_key = notice_mailing.run_key(insurer_number, first, last)
    run_id, employer_ids = notice_mailing.cost_mailing_open(factory, insurer_number, first=first, last=last,
                                                            actor=actor)
    batch.open_run(factory, notice_mailing.KIND, run_key, units=len(employer_ids), actor=actor)
    with factory() as s:
        before = _issued(s, run_id)
        s.execute(MailingBundle.__table__.update().where(MailingBundle.run_id == run_id,
                                                         MailingBundle.state == "failed").values(state="retry"))
        s.commit()
    wanted = set(employer_ids)

    def count(s: Session) -> tuple[int, int]:
        rows = [b for b in documents.mailing_bundles(s, run_id) if b.employer_id in wanted and b.state != "retry"]
        return len(rows), sum(b.members for b in rows)

    try:
        target = (str(out_dir.resolve()), issue.isoformat())
        engine.send(broker_url, queue, cost_notice_bundle,
                    [(f"{run_key}:{run_id}:{e}", (run_id, e, *target)) for e in employer_ids])
        engine.wait_for(factory, count, len(wanted), broker_url=broker_url, queue=queue, progress=progress,
                        poll=poll, timeout=timeout, wait=wait, what="bundles")
    except Exception as exc:
        batch.close_run(factory, run_key, "failed", f"{type(exc).__name__}: {exc}"[:1000])
        raise
    with factory() as s:
        rows = [b for b in documents.mailing_bundles(s, run_id) if b.employer_id in wanted]
    seen = sum(b.members for b in rows)
    report = documents.mailing_finish(factory, run_id, out_dir, subdir=notice_mailing.SUBDIR)
    batch.close_run(factory, run_key, "done")
    with factory() as s:
        report.issued = _issued(s, run_id) - before
    report.skipped = seen - report.issued - sum(len(b.failures or []) for b in rows)
    return report
