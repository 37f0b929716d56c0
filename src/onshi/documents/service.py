"""Who gets a 資格確認書 or 資格情報のお知らせ, the daily run and the mailing run (the caller owns sessions).

Every issued document is recorded with what was printed (``data``), its layout and its SHA-256, so it can be
reprinted byte for byte.  ``issue_key`` makes every run idempotent: a document is never issued twice.

Long: it holds the rules of who is due (``due_certificates``), the daily run, and the mailing run split into the
pieces a distributed engine runs (open, one bundle per employer, finish — ``documents/tasks.py``, docs/batch.md).
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
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from onshi.documents import issue_rules, national_lists
from onshi.documents.facts import (  # noqa: F401 - certificate_need, notice_data: part of this module's API too
    Facts, blocks, certificate_data, certificate_need, current_version, current_versions, notice_data, notices_data)
from onshi.documents.models import CertificateApplication, DocumentRun, IssuedDocument, MailingBundle
from onshi.documents.render import (CertificateData, CoverLetterData, NoticeData, layout_fingerprint, render_bundle,
                                    render_certificate)
from onshi.registry import service as registry
from onshi.registry.models import Employer, QualificationVersion, RegistryChange
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


def already_issued(session: Session, keys: list[str]) -> set[str]:
    """Which of *keys* are issued already (the mailing runs of other domains: the 医療費通知 run)."""
    return _already_issued(session, keys)


def member_failure(qv: QualificationVersion, exc: Exception) -> dict:
    """A member left out of a bundle: who (by 記号・番号, never a My Number) and why."""
    return _member_failure(qv, exc)


def write_atomic(path: Path, data: bytes) -> None:
    """Write *path* whole or not at all (a temporary file renamed over it)."""
    _write_atomic(path, data)


def _issued_keys(session: Session, prefix: str) -> set[str]:
    return set(session.scalars(select(IssuedDocument.issue_key).where(IssuedDocument.issue_key.like(prefix + "%"))))


def due_certificates(session: Session, day: date, *, insurer_id: int | None = None,
                     qualification_id: int | None = None,
                     qids: tuple[int, int] | None = None) -> list[tuple[str, QualificationVersion, str]]:
    """``(issue_key, qualification, reason)`` for every 資格確認書 due on or before *day* and not yet issued —
    of one insurer's members when *insurer_id* is given, of one qualification with *qualification_id*, else of
    every insurer; with *qids* ``(lo, hi)`` only of the qualifications ``lo <= id < hi`` (a slice of a daily run on
    the task engine: documents/tasks.py)."""
    if qids is None:
        done = _issued_keys(session, "certificate:")
    else:
        done = set(session.scalars(select(IssuedDocument.issue_key).where(
            IssuedDocument.qualification_id >= qids[0], IssuedDocument.qualification_id < qids[1],
            IssuedDocument.kind == "certificate")))
    due: list[tuple[str, QualificationVersion, str]] = []

    def changes(*kinds: T):  # the few columns needed: a daily run reads every enrolment ever recorded
        q = select(RegistryChange.id, RegistryChange.qualification_id, RegistryChange.received_at).where(
            RegistryChange.kind.in_(kinds), RegistryChange.qualification_id.is_not(None))
        if insurer_id is not None:
            q = q.where(RegistryChange.insurer_id == insurer_id)
        if qualification_id is not None:
            q = q.where(RegistryChange.qualification_id == qualification_id)
        if qids is not None:
            q = q.where(RegistryChange.qualification_id >= qids[0], RegistryChange.qualification_id < qids[1])
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
    if qids is not None:
        apps = apps.where(CertificateApplication.qualification_id >= qids[0],
                          CertificateApplication.qualification_id < qids[1])
    for app in session.scalars(apps):
        key = f"certificate:{app.qualification_id}:application:{app.id}"
        if key in done or issue_rules.issue_date_for(app.applied_on) > day:
            continue
        qv = current_version(session, app.qualification_id)
        if in_scope(qv) and not (qv.loss_date and qv.loss_date <= day):
            due.append((key, qv, f"application:{app.reason}"))
            done.add(key)
    # (e) the 職権交付対象者リスト: a member on the national list of a month is issued one from that month on,
    # unless a certificate of that qualification is held and valid (docs/national-lists.md)
    listed = national_lists.listed_for_certificate(session, None if qualification_id is None else [qualification_id],
                                                   day=day)
    if listed:
        held_valid = set(session.scalars(select(IssuedDocument.qualification_id).where(
            IssuedDocument.kind == "certificate", IssuedDocument.returned_at.is_(None),
            IssuedDocument.due_back_since.is_(None), IssuedDocument.valid_until >= day,
            IssuedDocument.qualification_id.in_(sorted({e.qualification_id for e in listed})))))
        currents = current_versions(session, {e.qualification_id for e in listed})
        for e in listed:
            key = f"certificate:{e.qualification_id}:national:{e.month:%Y-%m}"
            qv = currents.get(e.qualification_id)
            if key in done or e.qualification_id in held_valid or not in_scope(qv) or (qv.loss_date and
                                                                                       qv.loss_date <= day):
                continue
            due.append((key, qv, f"national_list:{e.reason}"))
            done.add(key)
            held_valid.add(e.qualification_id)
    # (c) reissue on a change of name for holders of a certificate (the 氏名変更届)
    holders_q = select(IssuedDocument.qualification_id).where(IssuedDocument.kind == "certificate")
    if qids is not None:
        holders_q = holders_q.where(IssuedDocument.qualification_id >= qids[0],
                                    IssuedDocument.qualification_id < qids[1])
    holders = set(session.scalars(holders_q.distinct()))
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
    if qids is not None:
        held_q = held_q.where(IssuedDocument.qualification_id >= qids[0], IssuedDocument.qualification_id < qids[1])
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


def mark_due_back(session: Session, day: date, *, insurer_id: int | None = None,
                  qids: tuple[int, int] | None = None) -> int:
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
    if qids is not None:  # a slice of a daily run (documents/tasks.py)
        q = q.where(IssuedDocument.qualification_id >= qids[0], IssuedDocument.qualification_id < qids[1])
        reissues = reissues.where(IssuedDocument.qualification_id >= qids[0],
                                  IssuedDocument.qualification_id < qids[1])
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


APPLICATION_REASONS = {"card_lost": "マイナ保険証・資格確認書の紛失", "card_renewal": "マイナンバーカードの更新中",
                       "needs_support": "要配慮者（マイナ保険証での受診が困難）", "other": "その他（汚損・破損など）"}


class NothingDue(ValueError):
    """Nothing to issue for a qualification on a day; the message says why in Japanese, for the clerk."""


def why_nothing_due(session: Session, qv: QualificationVersion, day: date) -> str:
    """Why the daily run of *day* issues no 資格確認書 for *qv* — in words a clerk can act on (and tell the member)."""
    from onshi.rules.wareki import format_wareki

    if qv.loss_date and qv.loss_date <= day:
        return f"資格を喪失しています（資格喪失日 {format_wareki(qv.loss_date)}）。資格確認書は発行できません"
    held = session.scalars(select(IssuedDocument).where(
        IssuedDocument.kind == "certificate", IssuedDocument.qualification_id == qv.qualification_id,
        IssuedDocument.returned_at.is_(None)).order_by(IssuedDocument.issue_date.desc())).first()
    if held is not None and (held.valid_until is None or held.valid_until >= day):
        return (f"資格確認書を交付済みです（{format_wareki(held.issue_date)} 発行、有効期限 "
                f"{format_wareki(held.valid_until) if held.valid_until else '－'}）。紛失・破損などのときは"
                "理由を選んで「再交付」してください")
    need = certificate_need(session, qv, day)
    if need is None:
        return ("マイナ保険証が使えるため、資格確認書は職権では発行しません。本人の申請（紛失・更新中・要配慮者など）"
                "があれば、理由を選んで「再交付」で発行できます")
    received = session.scalars(select(RegistryChange.received_at).where(
        RegistryChange.qualification_id == qv.qualification_id, RegistryChange.kind.in_((T.acquisition, T.dependent)))
        .order_by(RegistryChange.id.desc())).first()
    if received is not None:
        on = issue_rules.issue_date_for(japan_date(received))
        if on > day:
            return f"資格取得届の受付の翌業務日（{format_wareki(on)}）から発行します（日次発行で自動的に発行されます）"
    return ("職権で発行する理由（マイナ保険証なし・個人番号未登録など）がありません。申請があれば、理由を選んで"
            "「再交付」で発行できます")


def issue_now(session: Session, qualification_id: int, day: date, out_dir: Path, *,
              insurer_id: int | None = None) -> tuple[list[IssuedDocument], RunReport]:
    """:func:`issue_due_certificates`, raising :class:`NothingDue` with the reason when nothing is due (the member
    page's 発行 and the REST endpoint)."""
    docs, report = issue_due_certificates(session, qualification_id, day, out_dir, insurer_id=insurer_id)
    if not docs and not report.skipped:
        qv = current_version(session, qualification_id)
        raise NothingDue(why_nothing_due(session, qv, day) if qv is not None
                         else f"資格 {qualification_id} はありません")
    return docs, report


def reissue_on_application(session: Session, qualification_id: int, reason: str, day: date, out_dir: Path, *,
                           applicant: str = "本人", insurer_id: int | None = None) -> tuple[IssuedDocument | None,
                                                                                          RunReport]:
    """再交付 at the counter: the application (:func:`apply_for_certificate`, *reason* one of
    :data:`APPLICATION_REASONS`) recorded and its 資格確認書 issued at once under the daily run's own issue key
    (``certificate:Q:application:A``) — so the daily run will not issue it again, and a second click the same day
    issues nothing new (the same application, already issued: ``None``)."""
    if reason not in APPLICATION_REASONS:
        raise ValueError(f"再交付の理由「{reason}」は選べません（{'・'.join(APPLICATION_REASONS.values())}）")
    qv = current_version(session, qualification_id)
    if qv is None or (insurer_id is not None and qv.insurer_id != insurer_id):
        raise ValueError(f"資格 {qualification_id} はありません")
    if qv.loss_date and qv.loss_date <= day:
        raise NothingDue(why_nothing_due(session, qv, day))
    app = apply_for_certificate(session, qualification_id=qualification_id, applied_on=day, reason=reason,
                                applicant=applicant, channel="employer")
    key = f"certificate:{qualification_id}:application:{app.id}"
    report = RunReport()
    if _already_issued(session, [key]):
        return None, report
    doc = _issue_certificate(session, key, qv, reason=f"application:{reason}", day=day, out_dir=out_dir, run_id=None,
                             report=report)
    return doc, report


def reissue_notice(session: Session, qualification_id: int, day: date, out_dir: Path, *,
                   insurer_id: int | None = None) -> IssuedDocument:
    """資格情報のお知らせ reissued on request (紛失・記載変更の確認): printed on its own (so it reprints byte for byte),
    recorded under ``notice:reissue:Q:D`` — one a day per qualification; asked again the same day, the same one."""
    from onshi.documents.render import render_notice

    qv = current_version(session, qualification_id)
    if qv is None or (insurer_id is not None and qv.insurer_id != insurer_id):
        raise ValueError(f"資格 {qualification_id} はありません")
    if qv.loss_date and qv.loss_date <= day:
        raise NothingDue("資格を喪失しているため、資格情報のお知らせは発行できません")
    key = f"notice:reissue:{qualification_id}:{day.isoformat()}"
    found = session.scalar(select(IssuedDocument).where(IssuedDocument.issue_key == key))
    if found is not None:
        return found
    emp = session.get(Employer, qv.employer_id) if qv.employer_id else None
    data = notice_data(session, qv, day, emp)
    pdf = render_notice(data, NOTICE_LAYOUT)
    path = out_dir / "notices" / day.isoformat() / f"{qv.insurer_id}_{qv.symbol}_{qv.number}_{qv.branch}_" \
                                                  f"{hashlib.sha1(key.encode()).hexdigest()[:8]}.pdf"
    _write_atomic(path, bytes(pdf))
    return _record(session, kind="notice", key=key, qv=qv, issue=day, valid=None, reason="reissue:request",
                   layout=NOTICE_LAYOUT, data=data, pdf=bytes(pdf), path=path, run_id=None,
                   warnings=getattr(pdf, "warnings", ()))


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


# ---------------------------------------------------------------- the daily run in units (documents/tasks.py)

DAILY_SLICE = 5000  # qualifications per task: checked in a few seconds, so a lost worker costs little


def daily_open(factory: Callable[[], Session], day: date, *, actor: str, insurer: str | None = None,
               slice_size: int = DAILY_SLICE) -> tuple[int, str, list[tuple[int, int, int, int]]]:
    """The daily run's record (created, or found to resume — key ``daily:D[:N]`` as :func:`daily_run`) and its
    slices: ``(run id, run key, [(insurer id, lo, hi, qualifications)])`` — each insurer's qualifications cut into
    id ranges ``lo <= id < hi`` of *slice_size* qualifications (boundaries read in one statement per insurer)."""
    from onshi.registry.models import Qualification

    with factory() as s:
        insurer_id, run_key = None, f"daily:{day.isoformat()}"
        if insurer is not None:
            ins = registry.get_insurer(s, number=insurer)
            if ins is None:
                raise ValueError(f"保険者番号 {insurer} は登録されていません — `onshi insurer list` (unknown insurer {insurer})")
            insurer_id, run_key = ins.id, f"{run_key}:{ins.number}"
        run = s.scalar(select(DocumentRun).where(DocumentRun.run_key == run_key))
        if run is None:
            run = DocumentRun(kind="daily", insurer_id=insurer_id, run_key=run_key, started_by=actor)
            s.add(run)
            try:
                s.commit()
            except IntegrityError:  # the same run opened at the same moment elsewhere: join it
                s.rollback()
                run = s.scalar(select(DocumentRun).where(DocumentRun.run_key == run_key))
        q = select(Qualification.insurer_id, func.count(), func.max(Qualification.id)).group_by(Qualification.insurer_id)
        if insurer_id is not None:
            q = q.where(Qualification.insurer_id == insurer_id)
        slices = []
        for iid, n, top in sorted(s.execute(q).all()):
            numbered = select(Qualification.id.label("qid"), func.row_number().over(order_by=Qualification.id)
                              .label("rn")).where(Qualification.insurer_id == iid).subquery()
            bounds = list(s.scalars(select(numbered.c.qid).where((numbered.c.rn - 1) % slice_size == 0)
                                    .order_by(numbered.c.qid)))
            ends = bounds[1:] + [top + 1]
            for k, (lo, hi) in enumerate(zip(bounds, ends)):
                slices.append((iid, lo, hi, min(slice_size, n - k * slice_size)))
        return run.id, run_key, slices


def daily_slice(s: Session, run_id: int, day: date, out_dir: Path, insurer_id: int, lo: int, hi: int) -> RunReport:
    """One slice of a daily run in *s* (the caller commits it with the slice's row): the 資格確認書 due among the
    insurer's qualifications ``lo <= id < hi`` — by the rules of :func:`due_certificates`, not issued yet by anyone
    — and the certificates of the slice now due back (返納)."""
    report = RunReport(run_id=run_id)
    due = due_certificates(s, day, insurer_id=insurer_id, qids=(lo, hi))
    facts = Facts(s, [qv for _, qv, _ in due], day)
    for key, qv, reason in due:
        _issue_certificate(s, key, qv, reason, day, out_dir, run_id=run_id, report=report, facts=facts)
    due_back = mark_due_back(s, day, insurer_id=insurer_id, qids=(lo, hi))
    if due_back:
        report.lines.append(f"{due_back} certificate(s) now due back (返納)")
    return report


def daily_finish(factory: Callable[[], Session], run_id: int, lines: list[str]) -> RunReport:
    """Close a daily run from what its slices did: the run's count of documents, its files and report."""
    report = RunReport(run_id=run_id, lines=list(lines))
    with factory() as s:
        run = s.get(DocumentRun, run_id)
        files = list(s.scalars(select(IssuedDocument.file).where(IssuedDocument.run_id == run_id)))
        run.finished_at = utcnow()
        run.documents = s.scalar(select(func.count()).select_from(IssuedDocument)
                                 .where(IssuedDocument.run_id == run_id))
        run.files = sorted(set(run.files or []) | {f for f in files if f})
        run.report = "\n".join(report.lines)
        s.commit()
    return report


def mailing_open(factory: Callable[[], Session], insurer_number: str, *, actor: str,
                 run_name: str) -> tuple[int, list[int]]:
    """The record of mailing run *run_name* (created, or found to resume) and the ids of the insurer's employers:
    one bundle each."""
    run_key = f"mailing:{insurer_number}:{run_name}"
    with factory() as s:
        insurer = registry.get_insurer(s, number=insurer_number)
        if insurer is None:
            raise ValueError(f"保険者番号 {insurer_number} は登録されていません — `onshi insurer list` (unknown insurer {insurer_number})")
        run = s.scalar(select(DocumentRun).where(DocumentRun.run_key == run_key))
        if run is None:
            run = DocumentRun(kind="mailing", insurer_id=insurer.id, run_key=run_key, started_by=actor)
            s.add(run)
            try:
                s.commit()
            except IntegrityError:  # the same run opened at the same moment elsewhere: join it
                s.rollback()
                run = s.scalar(select(DocumentRun).where(DocumentRun.run_key == run_key))
        return run.id, [e.id for e in registry.list_employers(s, insurer_id=insurer.id)]


def _member_failure(qv: QualificationVersion, exc: Exception) -> dict:
    """Who (by 記号・番号, never a My Number) and why."""
    return {"qualification_id": qv.qualification_id, "symbol": qv.symbol, "number": qv.number,
            "error": f"{type(exc).__name__}: {exc}"[:500]}


def _bundle_or_failures(s: Session, todo: list, issue: date, emp, cover) -> tuple[list, list, object, list[dict]]:
    """The notices of *todo* and their bundle's PDF, leaving out (and reporting) the members whose notice cannot
    be made or printed; the PDF is None when none is left."""
    try:
        notices = notices_data(s, todo, issue, emp)
        return todo, notices, render_bundle(cover, notices), []
    except Exception:  # noqa: BLE001 - one bad member: find him, the rest go on
        s.rollback()
    good, notices, failures = [], [], []
    for qv in todo:
        try:
            [n] = notices_data(s, [qv], issue, emp)
            render_bundle(cover, [n])
            good.append(qv)
            notices.append(n)
        except Exception as exc:  # noqa: BLE001 - recorded with who and why; retried alone by a new run
            s.rollback()
            failures.append(_member_failure(qv, exc))
    return good, notices, (render_bundle(cover, notices) if notices else None), failures


def mailing_bundle(factory: Callable[[], Session], run_id: int, employer_id: int, *, out_dir: Path, issue: date,
                   since: date | None = None, worker: str = "") -> MailingBundle:
    """One employer's bundle of a mailing run, idempotent: its notices (unique ``issue_key``) and its
    ``mailing_bundles`` row are committed in one transaction, so a bundle done (by this or another delivery of
    the task) is skipped, and a duplicate running at the same moment fails on the unique keys and finds the
    other's row.  A member whose notice fails is left out and recorded (who and why); the rest are printed.
    Returns the bundle's row (detached) — ``issued`` counts only what this call issued."""
    with factory() as s:
        run = s.get(DocumentRun, run_id)
        row = s.scalar(select(MailingBundle).where(MailingBundle.run_id == run_id,
                                                   MailingBundle.employer_id == employer_id))
        if row is not None and row.state == "done":
            s.expunge(row)
            row.issued = 0
            return row
        insurer = registry.get_insurer(s, id=run.insurer_id)
        emp = s.get(Employer, employer_id)
        insurer_number = run.run_key.split(":")[1]
        members = registry.qualification_versions(s, insurer_id=run.insurer_id, about_day=issue,
                                                  employer_id=employer_id)
        if since is not None and members:
            changed = set()
            for part in blocks([qv.qualification_id for qv in members], 5000):
                changed.update(s.scalars(select(RegistryChange.qualification_id).where(
                    RegistryChange.insurer_id == run.insurer_id, RegistryChange.qualification_id.in_(part),
                    RegistryChange.received_at >= japan_day_start(since))))
            members = [qv for qv in members if qv.qualification_id in changed]
        keys = {qv.qualification_id: f"notice:{run.run_key}:{qv.qualification_id}" for qv in members}
        done = _already_issued(s, list(keys.values()))
        todo = [qv for qv in members if keys[qv.qualification_id] not in done]
        notes, failures, files = [], [], [list(f) for f in (row.files if row is not None else [])]
        if todo:
            if not emp.address:
                notes.append(f"事業所 {emp.symbol} {emp.name}: 所在地がありません (no address) — "
                             "the bundle is printed without it")
            cover = CoverLetterData(employer_name=emp.name, insurer_name=insurer.name, issue_date=issue,
                                    employer_postal_code=emp.postal_code, employer_address_line1=emp.address,
                                    insurer_number=insurer_number, insurer_address=insurer.address,
                                    insurer_contact=registry.contact_line(insurer))
            todo, notices, pdf, failures = _bundle_or_failures(s, todo, issue, emp, cover)
            run_dir = out_dir / "mailing" / f"{insurer_number}_{run.run_key.split(':', 2)[2]}"
            # a retry of the members who failed before prints a bundle of its own beside the first
            path = run_dir / (f"{emp.symbol}.pdf" if not done else f"{emp.symbol}.{len(done)}.pdf")
            if todo:
                _write_atomic(path, pdf)
                for qv, data in zip(todo, notices):
                    _record(s, kind="notice", key=keys[qv.qualification_id], qv=qv, issue=issue, valid=None,
                            reason="mailing", layout=NOTICE_LAYOUT, data=data, pdf=None, path=path, run_id=run_id,
                            warnings=(), flush=False)  # printed in the bundle only
                notes.extend(f"{w.document}: {w.field}: {w.message}" for w in pdf.warnings)
                files.append([str(path), len(todo)])
        elif members and not files:  # issued before bundles were recorded (a run resumed across the upgrade)
            files.append([str(out_dir / "mailing" / f"{insurer_number}_{run.run_key.split(':', 2)[2]}"
                              / f"{emp.symbol}.pdf"), len(members)])
        return commit_bundle(s, row, run_id, employer_id, members=len(members), issued=len(todo), files=files,
                             notes=notes, failures=failures, worker=worker)


def commit_bundle(s: Session, row: MailingBundle | None, run_id: int, employer_id: int, *, members: int, issued: int,
                  files: list, notes: list[str], failures: list[dict], worker: str) -> MailingBundle:
    """Record an employer bundle's outcome (*row* the earlier attempt's, or None) and commit it with the documents
    the session holds — the one transaction of a bundle, for every kind of mailing run.  A duplicate delivery that
    committed the same bundle a moment ago wins: its row is returned (issued 0, this attempt's work rolled back)."""
    if row is None:
        row = MailingBundle(run_id=run_id, employer_id=employer_id)
        s.add(row)
    row.state = "failed" if failures else "done"
    row.members, row.issued, row.files = members, issued, files
    row.notes, row.failures = list(row.notes or []) + notes, failures
    row.worker, row.finished_at = worker, utcnow()
    try:
        s.commit()
    except IntegrityError:  # the same bundle committed by a duplicate delivery a moment ago: it is done
        s.rollback()
        row = s.scalar(select(MailingBundle).where(MailingBundle.run_id == run_id,
                                                   MailingBundle.employer_id == employer_id))
        if row is None:
            raise
        row.issued = 0
    s.expunge(row)
    return row


def mailing_bundles(session: Session, run_id: int) -> list[MailingBundle]:
    """The bundles of a run recorded so far (by every worker)."""
    return list(session.scalars(select(MailingBundle).where(MailingBundle.run_id == run_id)
                                .order_by(MailingBundle.employer_id)))


def mailing_finish(factory: Callable[[], Session], run_id: int, out_dir: Path, *,
                   subdir: str = "mailing") -> RunReport:
    """Close a mailing run from its bundles' rows, whoever made them: the manifest, the count of its documents,
    its files, and the report of what a clerk must look at (members who failed, with who and why).  *subdir*: the
    folder of the run's kind under *out_dir* (``cost_notices`` for a 医療費通知 run, onshi.claims.notice_mailing)."""
    report = RunReport(run_id=run_id)
    with factory() as s:
        run = s.get(DocumentRun, run_id)
        insurer_number, run_name = run.run_key.split(":", 2)[1:]
        run_dir = out_dir / subdir / f"{insurer_number}_{run_name}"
        emps = {e.id: e for e in registry.list_employers(s, insurer_id=run.insurer_id)}
        rows = []
        for b in mailing_bundles(s, run_id):
            report.lines.extend(b.notes or [])
            report.lines.extend(f"事業所 {emps[b.employer_id].symbol} 記号 {f['symbol']} 番号 {f['number']} "
                                f"(qualification {f['qualification_id']}): お知らせを作成できません — {f['error']}"
                                for f in b.failures or [])
            for f, n in b.files or []:
                rows.append((emps[b.employer_id].symbol, emps[b.employer_id].name, n, f))
                report.files.append(f)
        manifest = run_dir / "manifest.csv"
        run_dir.mkdir(parents=True, exist_ok=True)
        with manifest.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["employer_symbol", "employer_name", "notices", "file", "sha256"])
            for sym, name, n, f in rows:
                w.writerow([sym, name, n, f, hashlib.sha256(Path(f).read_bytes()).hexdigest() if Path(f).exists() else ""])
        run.finished_at = utcnow()
        run.documents = s.scalar(select(func.count()).select_from(IssuedDocument)
                                 .where(IssuedDocument.run_id == run_id))
        run.files = sorted(set(run.files or []) | set(report.files) | {str(manifest)})
        run.report = "\n".join(report.lines)
        s.commit()
    report.files.append(str(manifest))
    return report


def mailing_run(factory: Callable[[], Session], insurer_number: str, out_dir: Path, *, actor: str,
                run_name: str, issue: date, since: date | None = None,
                progress: Callable[[int], None] | None = None) -> RunReport:
    """All お知らせ of an insurer (or those changed since a date), one bundle per employer, in this process (the
    embedded engine; :func:`onshi.documents.tasks.run_mailing` sends the same bundles to Celery workers).

    One transaction per employer: a run that is killed and started again with the same *run_name* skips the
    employers already done and produces every notice exactly once.
    """
    run_id, employer_ids = mailing_open(factory, insurer_number, actor=actor, run_name=run_name)
    issued = skipped = 0
    for employer_id in employer_ids:
        b = mailing_bundle(factory, run_id, employer_id, out_dir=out_dir, issue=issue, since=since, worker="local")
        issued += b.issued
        skipped += b.members - b.issued - len(b.failures or [])
        if progress:
            progress(b.members)
    report = mailing_finish(factory, run_id, out_dir)
    report.issued, report.skipped = issued, skipped
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
    elif doc.kind == "cost_notice":  # a 医療費通知 of a mailing run (onshi.claims.notice_mailing)
        from onshi.documents.render import cost_notice

        pdf = cost_notice.render_cost_notice(cost_notice.notice_from_record(doc.data))
        if doc.layout_fingerprint != cost_notice.renderer_fingerprint():
            raise RuntimeError(f"reprint of document {document_id}: the 医療費通知 prints differently from when it "
                               "was issued (font or renderer changed)")
        return bytes(pdf)
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
    if doc.returned_at is not None and doc.returned_at != returned_on:
        raise ValueError(f"資格確認書 {document_id} は {doc.returned_at:%Y-%m-%d} に返納済みです "
                         f"(returned already on {doc.returned_at:%Y-%m-%d})")
    doc.returned_at = returned_on


def outstanding_returns(session: Session, insurer_id: int | None = None) -> list[IssuedDocument]:
    q = select(IssuedDocument).where(IssuedDocument.due_back_since.is_not(None), IssuedDocument.returned_at.is_(None))
    if insurer_id is not None:
        q = q.where(IssuedDocument.insurer_id == insurer_id)
    return list(session.scalars(q.order_by(IssuedDocument.due_back_since)))


NATIONAL_LIST_COLUMNS = ["insurer_number", "symbol", "number", "branch"]


def import_national_list(session: Session, data: bytes, *, listed_on: date) -> tuple[int, list[str]]:
    """The national system's monthly list of people who cannot use マイナ保険証 (CSV: insurer_number, symbol,
    number, branch): each listed member gets a 資格確認書 in the next daily run.  Idempotent.  The import is
    :func:`onshi.documents.national_lists.import_list` (kind ``cannot_use``), the machinery of every national list;
    this keeps the older call: ``(members added, problem lines)``."""
    from onshi.documents.national_lists import NationalListError, import_list, problem_line

    try:
        report = import_list(session, data, kind="cannot_use", month=listed_on, listed_on=listed_on,
                             filename="national-list.csv")
    except NationalListError as exc:
        raise ValueError(str(exc)) from None
    return len(report.added), [problem_line(p) for p in report.problems]
