"""Who gets a 資格確認書 or 資格情報のお知らせ, the daily run and the mailing run (the caller owns sessions).

Every issued document is recorded with what was printed (``data``), its layout and its SHA-256, so it can be
reprinted byte for byte.  ``issue_key`` makes every run idempotent: a document is never issued twice.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from onshi.documents import issue_rules
from onshi.documents.facts import (  # noqa: F401 - certificate_need, notice_data: part of this module's API too
    Facts, blocks, certificate_data, certificate_need, current_version, current_versions, notice_data, notices_data)
from onshi.documents.models import CertificateApplication, DocumentRun, IssuedDocument
from onshi.documents.render import (CertificateData, CoverLetterData, NoticeData, layout_fingerprint, render_bundle,
                                    render_certificate)
from onshi.registry import service as registry
from onshi.registry.models import QualificationVersion, RegistryChange
from onshi.registry.models import NotificationType as T
from onshi.store.clock import japan_date, japan_day_start
from onshi.store.db import utcnow

CERTIFICATE_LAYOUT = "default_certificate"
NOTICE_LAYOUT = "kyokai_notice"


@dataclass
class RunReport:
    run_id: int | None = None
    issued: int = 0
    skipped: int = 0
    files: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # what a clerk must look at


def _record(session: Session, *, kind: str, key: str, qv: QualificationVersion, issue: date, valid: date | None,
            reason: str, layout: str, data, pdf: bytes | None, path: Path | None, run_id: int | None,
            warnings, flush: bool = True) -> IssuedDocument:
    """Record one issued document: what was printed (*data*), the layout's fingerprint, and the SHA-256 of its own
    PDF — *pdf* None for a notice printed only inside an employer's bundle, which has no PDF of its own."""
    doc = IssuedDocument(kind=kind, issue_key=key, person_id=qv.person_id, qualification_id=qv.qualification_id,
                         insurer_id=qv.insurer_id, employer_id=qv.employer_id, issue_date=issue, valid_until=valid,
                         reason=reason, layout=layout, data=json.loads(json.dumps(asdict(data), default=str)),
                         sha256=hashlib.sha256(pdf).hexdigest() if pdf is not None else None,
                         layout_fingerprint=layout_fingerprint(layout),
                         file=str(path) if path else None, run_id=run_id,
                         warnings=[f"{w.field}: {w.message}" for w in warnings])
    session.add(doc)
    if flush:  # a mailing run leaves a bundle's records to its commit: one batched INSERT, not one per notice
        session.flush()
    return doc


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _already_issued(session: Session, keys: list[str], block: int = 5000) -> set[str]:
    """Which of *keys* are recorded (the unique issue_key index), asked in blocks: an employer's bundle may hold
    more notices than a statement may have parameters."""
    found: set[str] = set()
    for part in blocks(keys, block):
        found.update(session.scalars(select(IssuedDocument.issue_key).where(IssuedDocument.issue_key.in_(part))))
    return found


def _issued_keys(session: Session, prefix: str) -> set[str]:
    return set(session.scalars(select(IssuedDocument.issue_key).where(IssuedDocument.issue_key.like(prefix + "%"))))


def due_certificates(session: Session, day: date, *, insurer_id: int | None = None,
                     qualification_id: int | None = None) -> list[tuple[str, QualificationVersion, str]]:
    """``(issue_key, qualification, reason)`` for every 資格確認書 due on or before *day* and not yet issued —
    of one insurer's members when *insurer_id* is given, of one qualification with *qualification_id*, else of
    every insurer."""
    done = _issued_keys(session, "certificate:")
    due: list[tuple[str, QualificationVersion, str]] = []

    def changes(*kinds: T):  # the few columns needed: a daily run reads every enrolment ever recorded
        q = select(RegistryChange.id, RegistryChange.qualification_id, RegistryChange.received_at).where(
            RegistryChange.kind.in_(kinds), RegistryChange.qualification_id.is_not(None))
        if insurer_id is not None:
            q = q.where(RegistryChange.insurer_id == insurer_id)
        if qualification_id is not None:
            q = q.where(RegistryChange.qualification_id == qualification_id)
        return session.execute(q.order_by(RegistryChange.id))

    issue_days: dict[date, date] = {}

    def issued_by(received_at) -> bool:  # the issue day (next business day after receipt) has come
        got = japan_date(received_at)
        if got not in issue_days:
            issue_days[got] = issue_rules.issue_date_for(got)
        return issue_days[got] <= day

    def in_scope(qv: QualificationVersion | None) -> bool:
        return qv is not None and (insurer_id is None or qv.insurer_id == insurer_id)

    # (a) enrolments: the next business day after the filing was received, for people without a working card.
    # What the check needs is read for all open enrolments at once (Facts), not person by person.
    pending: dict[int, str] = {}  # qualification id -> issue key, in the order the enrolments were recorded
    for ch in changes(T.acquisition, T.dependent):
        key = f"certificate:{ch.qualification_id}:enrol"
        if key in done or ch.qualification_id in pending or not issued_by(ch.received_at):
            continue
        pending[ch.qualification_id] = key
    currents = current_versions(session, pending)
    candidates = [(key, currents.get(qid)) for qid, key in pending.items()]
    candidates = [(key, qv) for key, qv in candidates if in_scope(qv) and not (qv.loss_date and qv.loss_date <= day)]
    facts = Facts(session, [qv for _, qv in candidates], day, cards=True)
    for key, qv in candidates:
        reason = facts.need(qv)
        if reason:
            due.append((key, qv, reason))
            done.add(key)
    # (b) applications (紛失, 更新中, 要配慮者 …)
    apps = select(CertificateApplication)
    if qualification_id is not None:
        apps = apps.where(CertificateApplication.qualification_id == qualification_id)
    for app in session.scalars(apps):
        key = f"certificate:{app.qualification_id}:application:{app.id}"
        if key in done or issue_rules.issue_date_for(app.applied_on) > day:
            continue
        qv = current_version(session, app.qualification_id)
        if in_scope(qv) and not (qv.loss_date and qv.loss_date <= day):
            due.append((key, qv, f"application:{app.reason}"))
            done.add(key)
    # (c) reissue on a change of name for holders of a certificate (the 氏名変更届)
    holders = set(session.scalars(select(IssuedDocument.qualification_id).where(
        IssuedDocument.kind == "certificate").distinct()))
    for ch in changes(T.name_change):
        key = f"certificate:{ch.qualification_id}:change:{ch.id}"
        if key in done or ch.qualification_id not in holders or not issued_by(ch.received_at):
            continue
        qv = current_version(session, ch.qualification_id)
        if in_scope(qv) and not (qv.loss_date and qv.loss_date <= day):
            due.append((key, qv, "reissue:name_change"))
            done.add(key)
    # (d) reissue when what the latest certificate printed no longer holds: the 記号・番号・枝番 (recorded as changed
    # on the qualification, however it came — due the next business day after the change was received), or the
    # 一部負担金の割合 (e.g. the holder reached 70 — due the day the new ratio applies).  One reissue covers both.
    latest: dict[int, IssuedDocument] = {}
    held_q = select(IssuedDocument).where(IssuedDocument.kind == "certificate", IssuedDocument.returned_at.is_(None))
    if insurer_id is not None:
        held_q = held_q.where(IssuedDocument.insurer_id == insurer_id)
    if qualification_id is not None:
        held_q = held_q.where(IssuedDocument.qualification_id == qualification_id)
    for doc in session.scalars(held_q.order_by(IssuedDocument.issue_date, IssuedDocument.id)):
        latest[doc.qualification_id] = doc
    currents = current_versions(session, latest)
    held = [(doc, currents.get(qid)) for qid, doc in latest.items()]
    held = [(doc, qv) for doc, qv in held if in_scope(qv) and not (qv.loss_date and qv.loss_date <= day)]
    facts = Facts(session, [qv for doc, qv in held if doc.data.get("co_pay_ratio_tenths") is not None], day)
    for doc, qv in held:
        qid = qv.qualification_id
        if _numbers_changed(doc, qv) and issue_rules.issue_date_for(_change_received(session, qv)) <= day:
            key = f"certificate:{qid}:numbers:{qv.symbol}-{qv.number}-{qv.branch}:{doc.id}"
            if key not in done:
                due.append((key, qv, "reissue:numbers_change"))
                done.add(key)
            continue
        printed = doc.data.get("co_pay_ratio_tenths")
        if printed is None:
            continue
        now_ratio = facts.ratio(qv)  # registry.co_pay_on, read for every holder at once
        if now_ratio is None:
            continue
        key = f"certificate:{qid}:ratio:{now_ratio}:{doc.id}"
        if now_ratio != printed and key not in done:
            due.append((key, qv, "reissue:ratio_change"))
            done.add(key)
    return due


def _numbers_changed(doc: IssuedDocument, qv: QualificationVersion) -> bool:
    """The certificate's printed 記号・番号・枝番 differ from the qualification's current ones."""
    printed = (doc.data.get("symbol"), doc.data.get("number"), doc.data.get("branch"))
    return printed != (qv.symbol, qv.number, qv.branch)


def _change_received(session: Session, qv: QualificationVersion) -> date:
    """The day (in Japan) the change that made this version was received; its recording day without one."""
    change = session.get(RegistryChange, qv.change_id) if qv.change_id else None
    return japan_date(change.received_at if change is not None else qv.recorded_at)


def mark_due_back(session: Session, day: date, *, insurer_id: int | None = None) -> int:
    """Certificates that must come back (返納): the qualification ended, the holder now has a working マイナ保険証,
    or a newer certificate replaced it because what it printed no longer holds (a ``reissue:`` — new name, new
    numbers, new ratio), from the day the newer one was issued.  A certificate replaced after an application
    (e.g. 紛失) is not asked back: it was lost."""
    n = 0
    q = select(IssuedDocument).where(IssuedDocument.kind == "certificate", IssuedDocument.due_back_since.is_(None),
                                     IssuedDocument.returned_at.is_(None))
    reissues = select(IssuedDocument.id, IssuedDocument.qualification_id, IssuedDocument.issue_date).where(
        IssuedDocument.kind == "certificate", IssuedDocument.reason.like("reissue:%"), IssuedDocument.issue_date <= day)
    if insurer_id is not None:
        q = q.where(IssuedDocument.insurer_id == insurer_id)
        reissues = reissues.where(IssuedDocument.insurer_id == insurer_id)
    replaced_by: dict[int, list[tuple[int, date]]] = {}
    for doc_id, qualification_id, issued in session.execute(reissues):
        replaced_by.setdefault(qualification_id, []).append((doc_id, issued))
    docs = list(session.scalars(q))
    currents = current_versions(session, {doc.qualification_id for doc in docs})
    facts = Facts(session, [qv for qv in currents.values() if not (qv.loss_date and qv.loss_date <= day)], day,
                   cards=True)
    for doc in docs:
        qv = currents.get(doc.qualification_id)
        replaced = min((issued for doc_id, issued in replaced_by.get(doc.qualification_id, ()) if doc_id > doc.id),
                       default=None)
        if qv is not None and qv.loss_date and qv.loss_date <= day:
            doc.due_back_since = qv.loss_date
            n += 1
        elif replaced is not None:
            doc.due_back_since = replaced
            n += 1
        elif qv is not None and facts.need(qv) is None and not doc.reason.startswith("application"):
            doc.due_back_since = day
            n += 1
    return n


def _issue_certificate(session: Session, key: str, qv: QualificationVersion, reason: str, day: date, out_dir: Path,
                       *, run_id: int | None, report: RunReport, facts: Facts | None = None) -> IssuedDocument | None:
    """Render, write and record one 資格確認書; a record that cannot be rendered is a report line (None)."""
    try:
        data = certificate_data(session, qv, day, facts)
        pdf = render_certificate(data, CERTIFICATE_LAYOUT)
    except Exception as exc:  # noqa: BLE001 - one bad record is reported, the run goes on
        report.lines.append(f"{qv.symbol}-{qv.number}-{qv.branch}: not issued: {exc}")
        report.skipped += 1
        return None
    path = out_dir / "certificates" / day.isoformat() / f"{qv.insurer_id}_{qv.symbol}_{qv.number}_{qv.branch}_" \
                                                      f"{hashlib.sha1(key.encode()).hexdigest()[:8]}.pdf"
    _write_atomic(path, pdf)
    doc = _record(session, kind="certificate", key=key, qv=qv, issue=day, valid=data.valid_until, reason=reason,
                  layout=CERTIFICATE_LAYOUT, data=data, pdf=pdf, path=path, run_id=run_id, warnings=pdf.warnings)
    report.issued += 1
    report.files.append(str(path))
    report.lines.extend(f"{qv.symbol}-{qv.number}-{qv.branch}: {w.field}: {w.message}" for w in pdf.warnings)
    return doc


def issue_due_certificates(session: Session, qualification_id: int, day: date, out_dir: Path, *,
                           insurer_id: int | None = None) -> tuple[list[IssuedDocument], RunReport]:
    """Issue now what the daily run of *day* would issue for one qualification (at the counter, through the API):
    the same rules and the same ``issue_key``s, so the daily run will not issue it again — and nothing is issued
    when nothing is due."""
    report = RunReport()
    docs = [doc for key, qv, reason in due_certificates(session, day, insurer_id=insurer_id,
                                                        qualification_id=qualification_id)
            if (doc := _issue_certificate(session, key, qv, reason, day, out_dir, run_id=None, report=report))]
    return docs, report


def documents_of_person(session: Session, person_id: int, *, insurer_id: int | None = None) -> list[IssuedDocument]:
    """Every 資格確認書 and お知らせ issued to a person (of one insurer with *insurer_id*), newest first."""
    q = select(IssuedDocument).where(IssuedDocument.person_id == person_id)
    if insurer_id is not None:
        q = q.where(IssuedDocument.insurer_id == insurer_id)
    return list(session.scalars(q.order_by(IssuedDocument.issue_date.desc(), IssuedDocument.id.desc())))


def get_document(session: Session, document_id: int) -> IssuedDocument | None:
    return session.get(IssuedDocument, document_id)


def daily_run(session: Session, day: date, out_dir: Path, *, actor: str, insurer: str | None = None) -> RunReport:
    """``onshi documents run --date D [--insurer N]``: issue every 資格確認書 due that day, nothing twice.

    With *insurer* (保険者番号) only that insurer's members are considered — the run of one insurer never issues
    another's documents — and the run is recorded under its own key (``daily:D:N``) with the insurer.  Runs with
    and without an insurer can be mixed: ``issue_key`` keeps every document to one issue.
    """
    report = RunReport()
    insurer_id = None
    run_key = f"daily:{day.isoformat()}"
    if insurer is not None:
        ins = registry.get_insurer(session, number=insurer)
        if ins is None:
            raise ValueError(f"保険者番号 {insurer} は登録されていません — `onshi insurer list` (unknown insurer {insurer})")
        insurer_id, run_key = ins.id, f"{run_key}:{ins.number}"
    run = session.scalar(select(DocumentRun).where(DocumentRun.run_key == run_key))
    if run is None:
        run = DocumentRun(kind="daily", insurer_id=insurer_id, run_key=run_key, started_by=actor)
        session.add(run)
        session.flush()
    report.run_id = run.id
    due = due_certificates(session, day, insurer_id=insurer_id)
    facts = Facts(session, [qv for _, qv, _ in due], day)  # what the certificates print, read at once
    for key, qv, reason in due:
        _issue_certificate(session, key, qv, reason, day, out_dir, run_id=run.id, report=report, facts=facts)
    due_back = mark_due_back(session, day, insurer_id=insurer_id)
    if due_back:
        report.lines.append(f"{due_back} certificate(s) now due back (返納)")
    run.finished_at, run.documents = utcnow(), run.documents + report.issued
    run.files = list(run.files or []) + report.files
    run.report = "\n".join(report.lines)
    return report


def mailing_run(factory: Callable[[], Session], insurer_number: str, out_dir: Path, *, actor: str,
                run_name: str, issue: date, since: date | None = None,
                progress: Callable[[int], None] | None = None) -> RunReport:
    """All お知らせ of an insurer (or those changed since a date), one bundle per employer.

    One transaction per employer: a run that is killed and started again with the same *run_name* skips the
    employers already done and produces every notice exactly once.
    """
    report = RunReport()
    run_key = f"mailing:{insurer_number}:{run_name}"
    with factory() as s:
        insurer = registry.get_insurer(s, number=insurer_number)
        if insurer is None:
            raise ValueError(f"保険者番号 {insurer_number} は登録されていません — `onshi insurer list` (unknown insurer {insurer_number})")
        run = s.scalar(select(DocumentRun).where(DocumentRun.run_key == run_key))
        if run is None:
            run = DocumentRun(kind="mailing", insurer_id=insurer.id, run_key=run_key, started_by=actor)
            s.add(run)
            s.commit()
        run_id, insurer_id = run.id, insurer.id
        employers = registry.list_employers(s, insurer_id=insurer_id)
        changed = None if since is None else set(s.scalars(select(RegistryChange.qualification_id).where(
            RegistryChange.insurer_id == insurer_id, RegistryChange.received_at >= japan_day_start(since))))
    report.run_id = run_id
    run_dir = out_dir / "mailing" / f"{insurer_number}_{run_name}"
    manifest_rows = []
    for emp in employers:
        with factory() as s:  # one employer's members (ix_qv_employer_current), not the whole insurer's each time
            members = registry.qualification_versions(s, insurer_id=insurer_id, about_day=issue, employer_id=emp.id)
            if changed is not None:
                members = [qv for qv in members if qv.qualification_id in changed]
            path = run_dir / f"{emp.symbol}.pdf"
            if not members:
                continue
            keys = [f"notice:{run_key}:{qv.qualification_id}" for qv in members]
            done = _already_issued(s, keys)
            if len(done) == len(keys):
                report.skipped += len(members)
                manifest_rows.append((emp.symbol, emp.name, len(members), str(path)))
                if progress:
                    progress(len(members))
                continue
            if not emp.address:
                report.lines.append(f"事業所 {emp.symbol} {emp.name}: 所在地がありません (no address) — "
                                    "the bundle is printed without it")
            notices = notices_data(s, members, issue, emp)
            cover = CoverLetterData(employer_name=emp.name, insurer_name=insurer.name, issue_date=issue,
                                    employer_postal_code=emp.postal_code, employer_address_line1=emp.address,
                                    insurer_number=insurer_number)
            pdf = render_bundle(cover, notices)
            _write_atomic(path, pdf)
            for qv, data in zip(members, notices):
                _record(s, kind="notice", key=f"notice:{run_key}:{qv.qualification_id}", qv=qv, issue=issue,
                        valid=None, reason="mailing", layout=NOTICE_LAYOUT, data=data,
                        pdf=None, path=path, run_id=run_id, warnings=(), flush=False)  # printed in the bundle only
            report.lines.extend(f"{w.document}: {w.field}: {w.message}" for w in pdf.warnings)
            report.issued += len(members)
            report.files.append(str(path))
            manifest_rows.append((emp.symbol, emp.name, len(members), str(path)))
            s.commit()
        if progress:
            progress(len(members))
    manifest = run_dir / "manifest.csv"
    run_dir.mkdir(parents=True, exist_ok=True)
    with manifest.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["employer_symbol", "employer_name", "notices", "file", "sha256"])
        for sym, name, n, f in manifest_rows:
            w.writerow([sym, name, n, f, hashlib.sha256(Path(f).read_bytes()).hexdigest() if Path(f).exists() else ""])
    with factory() as s:
        run = s.get(DocumentRun, run_id)
        run.finished_at, run.documents = utcnow(), run.documents + report.issued
        run.files = sorted(set(run.files or []) | set(report.files) | {str(manifest)})
        run.report = "\n".join(report.lines)
        s.commit()
    report.files.append(str(manifest))
    return report


def render_notice_for_record(data: NoticeData) -> bytes:
    from onshi.documents.render import render_notice

    return render_notice(data, NOTICE_LAYOUT)


def reprint(session: Session, document_id: int) -> bytes:
    """Render an issued document again from what was printed, on its own.

    A document first rendered on its own (every 資格確認書, a notice issued singly) reprints byte for byte: the
    bytes match its recorded SHA-256.  A notice mailed in an employer's bundle had no PDF of its own; its reprint
    is refused when the layout's fingerprint (layout, font, renderer) differs from the one recorded at issue."""
    doc = session.get(IssuedDocument, document_id)
    if doc is None:
        raise ValueError(f"文書 {document_id} はありません (document {document_id} not found)")
    values = {k: (date.fromisoformat(v) if (k.endswith("date") or k == "valid_until") and isinstance(v, str) else v)
              for k, v in doc.data.items()}
    if doc.kind == "certificate":
        pdf = render_certificate(CertificateData(**values), doc.layout)
    else:
        pdf = render_notice_for_record(NoticeData(**values))
    if doc.sha256 is not None:
        if hashlib.sha256(pdf).hexdigest() != doc.sha256:
            raise RuntimeError(f"reprint of document {document_id} differs from the original (layout changed?)")
    elif doc.layout_fingerprint != layout_fingerprint(doc.layout):
        raise RuntimeError(f"reprint of document {document_id}: its layout {doc.layout!r} prints differently "
                           "from when it was issued (layout, font or renderer changed)")
    return bytes(pdf)


def apply_for_certificate(session: Session, *, qualification_id: int, applied_on: date, reason: str, applicant: str,
                          channel: str = "employer") -> CertificateApplication:
    if reason not in ("card_lost", "card_renewal", "needs_support", "national_list", "other"):
        raise ValueError("reason must be card_lost, card_renewal, needs_support or other")
    qv = current_version(session, qualification_id)
    if qv is None:
        raise ValueError(f"資格 {qualification_id} はありません (qualification {qualification_id} not found)")
    exists = session.scalar(select(CertificateApplication.id).where(
        CertificateApplication.qualification_id == qualification_id, CertificateApplication.reason == reason,
        CertificateApplication.applied_on == applied_on))
    if exists:
        return session.get(CertificateApplication, exists)
    if channel == "direct" and not qv.voluntary_continuation:
        raise ValueError("直接の申請は任意継続被保険者のみです (direct applications are for 任意継続 only)")
    app = CertificateApplication(qualification_id=qualification_id, applied_on=applied_on, reason=reason,
                                 applicant=applicant, channel=channel)
    session.add(app)
    session.flush()
    return app


def record_return(session: Session, document_id: int, returned_on: date) -> None:
    doc = session.get(IssuedDocument, document_id)
    if doc is None or doc.kind != "certificate":
        raise ValueError(f"資格確認書 {document_id} はありません (certificate {document_id} not found)")
    doc.returned_at = returned_on


def outstanding_returns(session: Session, insurer_id: int | None = None) -> list[IssuedDocument]:
    q = select(IssuedDocument).where(IssuedDocument.due_back_since.is_not(None), IssuedDocument.returned_at.is_(None))
    if insurer_id is not None:
        q = q.where(IssuedDocument.insurer_id == insurer_id)
    return list(session.scalars(q.order_by(IssuedDocument.due_back_since)))


NATIONAL_LIST_COLUMNS = ["insurer_number", "symbol", "number", "branch"]


def import_national_list(session: Session, data: bytes, *, listed_on: date) -> tuple[int, list[str]]:
    """The national system's monthly list of people who cannot use マイナ保険証 (CSV: insurer_number, symbol,
    number, branch): each listed member gets a 資格確認書 in the next daily run.  Idempotent per day."""
    from onshi.numbers import insured_card, insurer_number
    from onshi.registry.intake import decode_text

    text, _enc = decode_text(data)
    rows = list(csv.reader(text.splitlines()))
    if not rows or [h.strip() for h in rows[0]] != NATIONAL_LIST_COLUMNS:
        raise ValueError(f"columns must be {','.join(NATIONAL_LIST_COLUMNS)}")
    added, problems = 0, []
    for n, values in enumerate(rows[1:], start=2):
        if len(values) != 4:
            problems.append(f"row {n}: expected 4 values")
            continue
        try:
            ins = insurer_number.validate(values[0])
            symbol, number = insured_card.compact_symbol(values[1]), insured_card.compact_number(values[2])
            branch = insured_card.compact_branch(values[3])
        except Exception as exc:  # noqa: BLE001 - reported per row
            problems.append(f"row {n}: {getattr(exc, 'message', exc)}")
            continue
        found = registry.find_by_numbers(session, insurer_number=ins, symbol=symbol, number=number, branch=branch,
                                         about_day=listed_on)
        if not found:
            problems.append(f"row {n}: no current qualification {ins} {symbol}-{number}-{branch}")
            continue
        before = session.scalar(select(func.count()).select_from(CertificateApplication))
        apply_for_certificate(session, qualification_id=found[-1].qualification_id, applied_on=listed_on,
                              reason="national_list", applicant="資格確認等システム", channel="national")
        added += session.scalar(select(func.count()).select_from(CertificateApplication)) - before
    return added, problems
