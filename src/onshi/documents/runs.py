"""Background document runs (一斉送付 of 資格情報のお知らせ): start, progress, status and history — one registry for
the REST API (``documents/views.py``) and the back-office page (``web/pages/office.py``) alike.

A run is known twice: by its record in the database (:class:`~onshi.documents.models.DocumentRun`, which survives
the process and says what was produced) and, while this process runs it, by its :class:`RunProgress` here (how far
it is).  Both the API and the page start runs through :func:`start_mailing`, so a run started from one is
"already running" for the other — before, each kept its own registry and a second run of the same name started
from the other side died on the unique run key after writing the same PDFs.

The run itself is :func:`onshi.documents.tasks.run_mailing` (resumable, one transaction per employer bundle; on
Celery workers when ``ONSHI_BROKER_URL`` is set, else in this process); this module only starts it in a thread
and keeps its progress.

It also holds the back office's audited reads of documents: the 資格確認書 queue (:func:`certificate_queue`) and
a reprint (:func:`reprint_for`), each writing the audit row of what it shows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.documents.models import DocumentRun, IssuedDocument
from onshi.privacy import audit
from onshi.registry import service as registry
from onshi.store.clock import utcnow

__all__ = ["RunAlreadyRunning", "RunProgress", "certificate_queue", "history", "live_runs", "mailing_key",
           "members_done", "progress_of", "reprint_for", "run_record", "start_mailing", "wait_idle"]


@dataclass
class RunProgress:
    """How far a run of this process has got."""

    run_name: str
    total: int
    done: int = 0
    state: str = "running"  # running | done | failed
    issued: int = 0
    skipped: int = 0
    error: str = ""
    started: datetime = field(default_factory=utcnow)


class RunAlreadyRunning(Exception):
    """A run of that insurer and name is going in this process."""

    def __init__(self, run_name: str):
        super().__init__(f"送付回 {run_name} は実行中です (mailing run {run_name} is running)")
        self.run_name = run_name


_RUNS: dict[tuple[int, str], RunProgress] = {}
_THREADS: list[threading.Thread] = []
_LOCK = threading.Lock()


def mailing_key(insurer_number: str, run_name: str) -> str:
    """The run's unique key in ``document_runs`` (the one :func:`service.mailing_run` records)."""
    return f"mailing:{insurer_number}:{run_name}"


def start_mailing(session: Session, factory: Callable[[], Session], *, insurer_id: int, insurer_number: str,
                  run_name: str, issue: date, out_dir: Path, actor: str, since: date | None = None) -> RunProgress:
    """Start (or resume) the mailing run *run_name* of an insurer in a background thread and return its progress.

    Raises :class:`RunAlreadyRunning` while a run of that insurer and name is going in this process, whoever
    started it."""
    key = (insurer_id, run_name)
    with _LOCK:
        if key in _RUNS and _RUNS[key].state == "running":
            raise RunAlreadyRunning(run_name)
        total = len(registry.qualification_versions(session, insurer_id=insurer_id, about_day=issue))
        progress = _RUNS[key] = RunProgress(run_name, total)

    def work() -> None:
        from onshi.documents import tasks

        def step(n: int) -> None:
            progress.done = min(progress.total, progress.done + n)

        try:
            report = tasks.run_mailing(factory, insurer_number, out_dir, actor=actor, run_name=run_name,
                                       issue=issue, since=since, progress=step)
            progress.issued, progress.skipped = report.issued, report.skipped
            progress.done, progress.state = progress.total, "done"
        except Exception as exc:  # noqa: BLE001 - reported by the status endpoint and the page; resumes when restarted
            progress.state, progress.error = "failed", f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=work, name=f"mailing-{run_name}", daemon=True)
    with _LOCK:
        _THREADS[:] = [t for t in _THREADS if t.is_alive()]
        _THREADS.append(thread)
    thread.start()
    return progress


def wait_idle(timeout: float = 120.0, *, forget: bool = False) -> bool:
    """Wait until no run of this process is going (at most *timeout* seconds in all); True when none is left.

    A run cut off by the end of the process resumes when it is started again, so the server does not wait; the
    tests call it before they empty the database, so that no run of one test writes into the next one's tables.
    With *forget*, the finished runs' progress is dropped too."""
    from time import monotonic

    deadline = monotonic() + timeout
    with _LOCK:
        threads = list(_THREADS)
    for thread in threads:
        thread.join(max(0.0, deadline - monotonic()))
    with _LOCK:
        _THREADS[:] = [t for t in _THREADS if t.is_alive()]
        idle = not _THREADS
        if forget and idle:
            _RUNS.clear()
    return idle


def progress_of(insurer_id: int, run_name: str) -> RunProgress | None:
    """The progress of a run this process started, or None."""
    return _RUNS.get((insurer_id, run_name))


def live_runs(insurer_id: int) -> list[RunProgress]:
    """The runs of an insurer this process started (running, done or failed), oldest first."""
    return [p for (iid, _name), p in _RUNS.items() if iid == insurer_id]


def run_record(session: Session, insurer_number: str, run_name: str) -> DocumentRun | None:
    """The database record of a mailing run, by insurer and name."""
    return session.scalar(select(DocumentRun).where(DocumentRun.run_key == mailing_key(insurer_number, run_name)))


def members_done(session: Session, run: DocumentRun | None) -> int | None:
    """How many members of a mailing run the bundles recorded so far cover — by every worker and whichever
    server started it (the status of a run this process did not start)."""
    if run is None:
        return None
    from onshi.documents import service

    return sum(b.members for b in service.mailing_bundles(session, run.id))


def history(session: Session, insurer_id: int, *, limit: int = 20) -> list[DocumentRun]:
    """The latest runs (daily and mailing) of an insurer, and runs of every insurer, newest first."""
    return list(session.scalars(select(DocumentRun).where(
        (DocumentRun.insurer_id == insurer_id) | DocumentRun.insurer_id.is_(None))
        .order_by(DocumentRun.started_at.desc()).limit(limit)))


def certificate_queue(session: Session, day: date, *, insurer_id: int, actor_kind: str, actor_id: str,
                      limit: int = 200) -> list[tuple]:
    """The 資格確認書 due on *day* at an insurer (:func:`onshi.documents.service.due_certificates`), at most
    *limit*, as ``[(qualification version, person version, reason)]``; each person shown is audited
    (``documents.queue``)."""
    from onshi.documents import service

    due = []
    for _key, qv, reason in service.due_certificates(session, day, insurer_id=insurer_id):
        pv = registry.person_on(session, qv.person_id)
        audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="documents.queue",
                          subject_kind="person", subject_id=qv.person_id,
                          insurer_number=registry.insurer_number_of(session, insurer_id))
        due.append((qv, pv, reason))
        if len(due) >= limit:
            break
    return due


def reprint_for(session: Session, document_id: int, *, insurer_id: int, actor_kind: str,
                actor_id: str) -> tuple[IssuedDocument, bytes] | None:
    """An issued document of the insurer and its PDF re-made from the record (None — the same for unknown and
    another insurer's); the print is audited (``document.print``)."""
    from onshi.documents import service

    doc = service.get_document(session, document_id)
    if doc is None or doc.insurer_id != insurer_id:
        return None
    pdf = service.reprint(session, document_id)
    audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="document.print",
                      subject_kind="person", subject_id=doc.person_id, detail=f"document={document_id}",
                      insurer_number=registry.insurer_number_of(session, insurer_id))
    return doc, pdf


# ---------------------------------------------------------------- the REST API's audited reads (documents/views.py)

def _audit_person(session: Session, action: str, person_id: int, *, insurer_id: int, actor_kind: str,
                  actor_id: str, detail: str | None = None) -> None:
    audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action=action, subject_kind="person",
                      subject_id=person_id, detail=detail,
                      insurer_number=registry.insurer_number_of(session, insurer_id))


def documents_list(session: Session, person_id: int, *, insurer_id: int, actor_kind: str,
                   actor_id: str) -> list[IssuedDocument]:
    """A member's documents at the insurer, newest first; the read is audited (``documents.list``)."""
    from onshi.documents import service

    _audit_person(session, "documents.list", person_id, insurer_id=insurer_id, actor_kind=actor_kind,
                  actor_id=actor_id)
    return service.documents_of_person(session, person_id, insurer_id=insurer_id)


def returns_list(session: Session, *, insurer_id: int, actor_kind: str, actor_id: str) -> list[IssuedDocument]:
    """Certificates due back and not returned; each person is audited once (``documents.returns``)."""
    from onshi.documents import service

    docs = service.outstanding_returns(session, insurer_id)
    for person_id in sorted({d.person_id for d in docs}):
        _audit_person(session, "documents.returns", person_id, insurer_id=insurer_id, actor_kind=actor_kind,
                      actor_id=actor_id)
    return docs


def document_for(session: Session, document_id: int, *, insurer_id: int, actor_kind: str,
                 actor_id: str) -> IssuedDocument | None:
    """One issued document of the insurer (None — the same for unknown and another insurer's); the read is
    audited (``document.read``)."""
    from onshi.documents import service

    doc = service.get_document(session, document_id)
    if doc is None or doc.insurer_id != insurer_id:
        return None
    _audit_person(session, "document.read", doc.person_id, insurer_id=insurer_id, actor_kind=actor_kind,
                  actor_id=actor_id, detail=f"document={doc.id}")
    return doc


def issue_due_for(session: Session, qualification_id: int, day: date, out_dir: Path, *, insurer_id: int,
                  actor_kind: str, actor_id: str):
    """:func:`onshi.documents.service.issue_due_certificates` for the REST API, each document issued audited
    (``document.issue``) and the first one's PDF: ``(docs, report, pdf or None)``."""
    from onshi.documents import service

    docs, report = service.issue_due_certificates(session, qualification_id, day, out_dir, insurer_id=insurer_id)
    for doc in docs:
        _audit_person(session, "document.issue", doc.person_id, insurer_id=insurer_id, actor_kind=actor_kind,
                      actor_id=actor_id, detail=f"document={doc.id}")
    return docs, report, (service.reprint(session, docs[0].id) if docs else None)
