"""The 医療費通知 mailing run as Celery tasks (docs/claims.md, docs/batch.md): one task per employer bundle
(:func:`onshi.claims.notice_mailing.cost_mailing_bundle`), on the workers of ``ONSHI_BROKER_URL`` or in this
process without one — the engine, keys and resumption of the お知らせ mailing run (:mod:`onshi.documents.tasks`).
``onshi worker`` imports this module (``onshi.store.tasks.TASK_MODULES``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from onshi.claims import notice_mailing
from onshi.config import get_settings
from onshi.documents import service as documents
from onshi.documents import tasks as documents_tasks
from onshi.store import tasks as engine
from onshi.store.tasks import app

__all__ = ["cost_notice_bundle", "run_cost_mailing"]


def _factory():
    return engine.factory()


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
    run_key = notice_mailing.run_key(insurer_number, first, last)
    run_id, employer_ids = notice_mailing.cost_mailing_open(factory, insurer_number, first=first, last=last,
                                                            actor=actor)
    return documents_tasks.bundles_on_engine(
        factory, cost_notice_bundle, kind=notice_mailing.KIND, run_key=run_key, run_id=run_id,
        employer_ids=employer_ids, unit_prefix=f"{run_key}:{run_id}", target=(str(out_dir.resolve()), issue.isoformat()),
        out_dir=out_dir, actor=actor, progress=progress, broker_url=broker_url, queue=queue, poll=poll,
        timeout=timeout, wait=wait, subdir=notice_mailing.SUBDIR)
