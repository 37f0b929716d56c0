"""What the supervisor's 文書 page shows of the runs (一斉送付・日次発行), read in one place so the progress bar and
the history cannot disagree: each run's state is taken from its record (finished or not), the bundles written so far
(by any worker) and, while this process runs it, its live progress; the total is known before a run starts; each
file of a run (an employer's bundle, the manifest, a certificate) can be downloaded — audited per person printed in
it; and what falls due in the next business days is counted for a warning.

No personal data leaves here without its audit row (:func:`run_file`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from onshi.documents.models import DocumentRun, IssuedDocument
from onshi.privacy import audit
from onshi.registry import service as registry
from onshi.registry.models import QualificationVersion, RegistryChange
from onshi.store.history import current

#: A run's name may be Japanese (「令和8年12月分」); it names a folder, so no separator, colon or control character.
FORBIDDEN_IN_NAME = set('/\\:*?"<>|\'') | {chr(c) for c in range(32)} | {"\x7f"}


def clean_run_name(value: str) -> tuple[str, str | None]:
    """The run name as stored, or the reason (Japanese) it cannot be used."""
    name = " ".join(value.split())[:40]
    if not name:
        return "", "送付回の名前を入力してください（例: 令和8年12月分）"
    bad = sorted({ch for ch in name if ch in FORBIDDEN_IN_NAME})
    if bad or name in (".", ".."):
        shown = "".join(bad) or name
        return name, f"送付回の名前「{name}」: 「{shown}」は使えません（/ \\ : * ? \" < > | 以外の文字で入力してください）"
    return name, None


def mailing_total(session: Session, insurer_id: int, day: date) -> int:
    """How many お知らせ a full mailing run of *day* makes: the insurer's qualifications in force that day (the
    members a run's bundles read, counted before it starts)."""
    Q = QualificationVersion
    return session.scalar(select(func.count()).select_from(Q).where(
        current(Q), Q.insurer_id == insurer_id, Q.acquisition_date <= day,
        or_(Q.loss_date.is_(None), Q.loss_date > day))) or 0


@dataclass
class RunRow:
    """One row of the history: what the page and the progress poll both say of a run."""

    id: int
    kind: str
    name: str
    started_at: object
    finished_at: object
    started_by: str  # as recorded (``web:<username>``, ``cli:…``); the page shows the person's name
    state: str  # running | done | failed | stopped
    total: int | None
    done: int
    documents: int
    files: list[tuple[int, str, str]] = field(default_factory=list)  # (index, label, kind: bundle|manifest|pdf)
    report: list[str] = field(default_factory=list)
    message: str = ""


def run_rows(session: Session, insurer_id: int, live: dict[str, object], *, limit: int = 20) -> list[RunRow]:
    """The latest runs of the insurer (daily and mailing), newest first, each with one state.

    *live* maps a mailing run's name to this process's progress of it (``runs.progress_of``)."""
    from onshi.documents import service

    rows = []
    for run in session.scalars(select(DocumentRun).where(DocumentRun.insurer_id == insurer_id)
                               .order_by(DocumentRun.started_at.desc(), DocumentRun.id.desc()).limit(limit)):
        bundled = run.kind in ("mailing", "cost_notice")  # cost_notice: a 医療費通知 run (claims/notice_mailing.py)
        name = run.run_key.split(":", 2)[-1] if bundled else run.run_key.split(":")[1]
        progress = live.get(name) if run.kind == "mailing" else None
        bundles = service.mailing_bundles(session, run.id) if bundled else []
        done = sum(b.members for b in bundles)
        documents = run.documents if run.finished_at else sum(b.issued for b in bundles)
        if progress is not None and getattr(progress, "state", "") == "running":
            state, total, done = "running", progress.total, max(done, progress.done)
        elif progress is not None and getattr(progress, "state", "") == "failed" and run.finished_at is None:
            state, total = "failed", progress.total
        elif run.finished_at is not None:
            state, total = "done", (done or run.documents) if bundled else run.documents
            done = total
        else:
            state, total = "stopped", getattr(progress, "total", None)
        report = [line for line in (run.report or "").splitlines() if line.strip()]
        failures = sum(len(b.failures or []) for b in bundles)
        message = {"done": f"{documents}件作成" + (f"、{failures}件は作成できず" if failures else ""),
                   "failed": getattr(progress, "error", "") or "失敗しました",
                   "stopped": "中断（同じ名前で開始すると、作成済みの事業所を飛ばして再開します）",
                   "running": ""}[state]
        files = []
        for i, f in enumerate(run.files or []):
            p = Path(f)
            kind = "manifest" if p.name == "manifest.csv" else ("bundle" if bundled else "pdf")
            label = {"manifest": "送付一覧（manifest.csv）", "bundle": f"事業所 {p.stem}", "pdf": p.name}[kind]
            files.append((i, label, kind))
        rows.append(RunRow(run.id, run.kind, name, run.started_at, run.finished_at, run.started_by, state, total,
                           done, documents, files, report, message))
    # a run just started whose record its worker has not written yet: shown from its progress, not left out
    recorded = {r.name for r in rows if r.kind == "mailing"}
    for name, progress in live.items():
        if name not in recorded:
            rows.insert(0, RunRow(0, "mailing", name, getattr(progress, "started", None), None, "", progress.state,
                                  progress.total, progress.done, 0,
                                  message=getattr(progress, "error", "") if progress.state == "failed" else ""))
    return rows


def run_file(session: Session, run_id: int, index: int, out_dir: Path, *, insurer_id: int, actor_kind: str,
             actor_id: str) -> Path | None:
    """The *index*-th file of one of the insurer's runs, if it lies under *out_dir* and exists (None otherwise — the
    same for another insurer's run).  Each person whose document is printed in it gets an audit row
    (``document.download``); the manifest lists employers only."""
    run = session.get(DocumentRun, run_id)
    if run is None or run.insurer_id != insurer_id or not 0 <= index < len(run.files or []):
        return None
    path = Path(run.files[index]).resolve()
    root = out_dir.resolve()
    if root not in path.parents or not path.is_file():
        return None
    persons = sorted(set(session.scalars(select(IssuedDocument.person_id).where(
        IssuedDocument.file == run.files[index]))))
    insurer_number = registry.insurer_number_of(session, insurer_id)
    for person_id in persons:
        audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="document.download",
                          subject_kind="person", subject_id=person_id, detail=f"run={run_id} file={index}",
                          insurer_number=insurer_number)
    return path


def falling_due(session: Session, insurer_id: int, today: date, business_days: int = 3) -> list[tuple[date, int]]:
    """資格確認書 that fall due on each of the next *business_days* business days (beyond what is due today):
    ``[(day, count)]`` — the warning on the 文書 page.  Read from the recent filings and applications only (what
    can fall due soon), with the daily run's own rules (the next business day after receipt, a working card, not
    issued yet), not by running the whole due list once per day ahead.

    Only the columns the rules need are read (the qualification's insurer and loss, whether the person has a My
    Number, the cards' cancellation and expiry) and :func:`onshi.documents.facts.need_for` decides — the same
    answer as :func:`falling_due_by_facts` (tests/web/test_documents_page_fast.py), which reads every fact a
    document prints for the ~1,000 people a demo's filings make due tomorrow."""
    from datetime import timedelta
    from types import SimpleNamespace

    from onshi.documents import issue_rules
    from onshi.documents.facts import blocks, need_for
    from onshi.documents.models import CertificateApplication
    from onshi.exchange.models import InsuranceCard
    from onshi.registry.models import NotificationType as T
    from onshi.registry.models import Person
    from onshi.rules.calendar import next_business_day
    from onshi.store.clock import japan_date, japan_day_start

    days, d = [], today
    for _ in range(business_days):
        d = next_business_day(d)
        days.append(d)
    counts = dict.fromkeys(days, 0)
    since = japan_day_start(today - timedelta(days=10))
    enrol: dict[int, date] = {}
    issue_on: dict[date, date] = {}
    for qid, received in session.execute(select(RegistryChange.qualification_id, RegistryChange.received_at).where(
            RegistryChange.insurer_id == insurer_id, RegistryChange.kind.in_((T.acquisition, T.dependent)),
            RegistryChange.qualification_id.is_not(None), RegistryChange.received_at >= since)
            .order_by(RegistryChange.id)):
        got = japan_date(received)
        on = issue_on.get(got) or issue_on.setdefault(got, issue_rules.issue_date_for(got))
        if on in counts:
            enrol.setdefault(qid, on)
    issued = _issued_keys(session, [f"certificate:{q}:enrol" for q in enrol])
    versions = _current_columns(session, [q for q in enrol if f"certificate:{q}:enrol" not in issued])
    live = [(qid, person_id) for qid, (person_id, ins, loss) in versions.items()
            if ins == insurer_id and not (loss and loss <= enrol[qid])]
    hashed: dict[int, bool] = {}
    cards: dict[int, list] = {}
    for block in blocks({pid for _q, pid in live}):
        hashed.update((pid, bool(has)) for pid, has in session.execute(
            select(Person.id, Person.my_number_hash.is_not(None)).where(Person.id.in_(block))))
        for pid, cancelled, expires in session.execute(
                select(InsuranceCard.person_id, InsuranceCard.cancelled_at, InsuranceCard.certificate_expires_on)
                .where(InsuranceCard.person_id.in_(block)).order_by(InsuranceCard.registered_at)):
            cards.setdefault(pid, []).append(SimpleNamespace(cancelled_at=cancelled, certificate_expires_on=expires))
    if live:
        number = registry.insurer_number_of(session, insurer_id)
        for qid, pid in live:
            person = SimpleNamespace(my_number_hash=b"" if hashed.get(pid) else None)
            if need_for(person, cards.get(pid, []), today, insurer_number=number):
                counts[enrol[qid]] += 1
    apps = [(f"certificate:{qid}:application:{app_id}", qid, on) for app_id, qid, on in (
        (app_id, qid, issue_rules.issue_date_for(applied)) for app_id, qid, applied in session.execute(select(
            CertificateApplication.id, CertificateApplication.qualification_id, CertificateApplication.applied_on)
            .where(CertificateApplication.applied_on >= today - timedelta(days=10)))) if on in counts]
    if apps:
        issued = _issued_keys(session, [key for key, _q, _on in apps])
        versions = _current_columns(session, [qid for _k, qid, _on in apps])
        for key, qid, on in apps:
            if key not in issued and qid in versions and versions[qid][1] == insurer_id:
                counts[on] += 1
    return list(counts.items())


def _issued_keys(session: Session, keys: list[str]) -> set[str]:
    from onshi.documents.facts import blocks

    out: set[str] = set()
    for block in blocks(keys):
        out.update(session.scalars(select(IssuedDocument.issue_key).where(IssuedDocument.issue_key.in_(block))))
    return out


def _current_columns(session: Session, qualification_ids) -> dict[int, tuple[int, int, date | None]]:
    """qualification id → (person, insurer, loss date) of its current version — the one
    :func:`onshi.documents.facts.current_versions` returns (the last by acquisition date and id)."""
    from onshi.documents.facts import blocks

    Q = QualificationVersion
    out: dict[int, tuple[int, int, date | None]] = {}
    for block in blocks(set(qualification_ids)):
        for qid, person_id, insurer_id, loss in session.execute(
                select(Q.qualification_id, Q.person_id, Q.insurer_id, Q.loss_date)
                .where(current(Q), Q.qualification_id.in_(block)).order_by(Q.acquisition_date, Q.id)):
            out[qid] = (person_id, insurer_id, loss)
    return out


def falling_due_by_facts(session: Session, insurer_id: int, today: date, business_days: int = 3) -> list[tuple[date, int]]:
    """The reference of :func:`falling_due`: the same count through the daily run's bulk reads
    (:class:`onshi.documents.facts.Facts`, every fact of every person), one query per recent application."""
    from datetime import timedelta

    from onshi.documents import issue_rules
    from onshi.documents.facts import Facts, current_versions
    from onshi.documents.models import CertificateApplication
    from onshi.registry.models import NotificationType as T
    from onshi.rules.calendar import next_business_day
    from onshi.store.clock import japan_date, japan_day_start

    days, d = [], today
    for _ in range(business_days):
        d = next_business_day(d)
        days.append(d)
    counts = dict.fromkeys(days, 0)
    since = japan_day_start(today - timedelta(days=10))
    enrol: dict[int, date] = {}
    for qid, received in session.execute(select(RegistryChange.qualification_id, RegistryChange.received_at).where(
            RegistryChange.insurer_id == insurer_id, RegistryChange.kind.in_((T.acquisition, T.dependent)),
            RegistryChange.qualification_id.is_not(None), RegistryChange.received_at >= since)
            .order_by(RegistryChange.id)):
        on = issue_rules.issue_date_for(japan_date(received))
        if on in counts:
            enrol.setdefault(qid, on)
    issued = set(session.scalars(select(IssuedDocument.issue_key).where(
        IssuedDocument.issue_key.in_([f"certificate:{q}:enrol" for q in enrol])))) if enrol else set()
    currents = current_versions(session, [q for q in enrol if f"certificate:{q}:enrol" not in issued])
    live = [qv for qv in currents.values() if qv.insurer_id == insurer_id and not (qv.loss_date and qv.loss_date
                                                                                 <= enrol[qv.qualification_id])]
    facts = Facts(session, live, today, cards=True)
    for qv in live:
        if facts.need(qv):
            counts[enrol[qv.qualification_id]] += 1
    for app_id, qid, applied in session.execute(select(
            CertificateApplication.id, CertificateApplication.qualification_id, CertificateApplication.applied_on)
            .where(CertificateApplication.applied_on >= today - timedelta(days=10))):
        on = issue_rules.issue_date_for(applied)
        key = f"certificate:{qid}:application:{app_id}"
        if on in counts and not session.scalar(select(IssuedDocument.id).where(IssuedDocument.issue_key == key)):
            qv = current_versions(session, [qid]).get(qid)
            if qv is not None and qv.insurer_id == insurer_id:
                counts[on] += 1
    return list(counts.items())
