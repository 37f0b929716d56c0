"""The 医療費通知 mailing run (issue 21 point 5): every insured member's 医療費のお知らせ of a period, one bundle
per employer — on the mailing machinery of the 資格情報のお知らせ (:mod:`onshi.documents.service`, docs/documents.md).

* The run is a :class:`~onshi.documents.models.DocumentRun` of kind ``cost_notice`` keyed
  ``cost_notice:<保険者番号>:<first>_<last>``: **the period is the run's identity**, so starting the run of a period
  again (whatever the issue date) resumes it, and a run that finished issues nothing new.
* Each employer's bundle (cover letter, 同封者一覧, then each notice) and its notices' records are committed in one
  transaction with the bundle's :class:`~onshi.documents.models.MailingBundle` row — the same unique keys as the
  お知らせ run: a notice's ``issue_key`` ``cost_notice:<保険者番号>:<first>_<last>:<qualification id>``, the row's
  ``(run_id, employer_id)``.  A bundle done is skipped; a member whose notice cannot be made is left out with who and
  why and retried alone by the next start.
* :func:`onshi.documents.service.mailing_finish` closes it (manifest.csv with each bundle's SHA-256) under
  ``<out>/cost_notices/<保険者番号>_<first>_<last>/``.
* On Celery workers: :func:`onshi.claims.tasks.run_cost_mailing` (one task per employer), in this process
  without a broker.

Who gets one: each 被保険者 (本人) at an employer on the issue date whose family — the member and the member's
dependents, :func:`onshi.claims.notices.cost_notice` — had care billed to this insurer in the period.  A member
with no care in the period gets none (there is nothing to tell).  Members without an employer (任意継続) are not
in an employer's bundle, as in the お知らせ run.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from onshi.claims import notices
from onshi.documents import service as documents
from onshi.documents.models import DocumentRun, IssuedDocument, MailingBundle
from onshi.documents.render import CoverLetterData
from onshi.documents.render.bundle import render_cover
from onshi.documents.render.concat import PdfConcat
from onshi.documents.render.data import Enclosure
from onshi.registry import service as registry
from onshi.registry.models import Employer, Role
from onshi.rules.calendar import fiscal_year_months

KIND = "cost_notice"
SUBDIR = "cost_notices"
COVER_LAYOUT = "cost_notice_cover"

_MONTH = r"\d{4}-(?:0[1-9]|1[0-2])"


class PeriodError(ValueError):
    pass


def parse_period(text: str) -> tuple[str, str]:
    """The months ``(first, last)`` of a period as a clerk writes it:

    * ``2025`` — the calendar year (January–December: 医療費控除 counts by calendar year);
    * ``FY2025`` or ``2025年度`` — the fiscal year (April 2025 – March 2026);
    * ``2025-03`` — one month; ``2025-01..2025-10`` — the months from … to (both included).

    >>> parse_period("2025"), parse_period("FY2024"), parse_period("2025-01..2025-10")
    (('2025-01', '2025-12'), ('2024-04', '2025-03'), ('2025-01', '2025-10'))
    """
    t = text.strip()
    if re.fullmatch(r"\d{4}", t):
        return f"{t}-01", f"{t}-12"
    m = re.fullmatch(r"(?:FY|fy)(\d{4})|(\d{4})年度", t)
    if m:
        months = fiscal_year_months(int(m.group(1) or m.group(2)))
        return months[0], months[-1]
    if re.fullmatch(_MONTH, t):
        return t, t
    m = re.fullmatch(rf"({_MONTH})\.\.({_MONTH})", t)
    if m:
        if m.group(1) > m.group(2):
            raise PeriodError(f"期間の始めが終わりより後です: {text!r} (the first month is after the last)")
        return m.group(1), m.group(2)
    raise PeriodError(f"期間は 2025（暦年）、FY2025（年度）、2025-03、2025-01..2025-10 のいずれかで指定してください: "
                      f"{text!r} (period: a year, FY<year>, a month or <month>..<month>)")


def run_key(insurer_number: str, first: str, last: str) -> str:
    return f"{KIND}:{insurer_number}:{first}_{last}"


def cost_mailing_open(factory: Callable[[], Session], insurer_number: str, *, first: str, last: str,
                      actor: str) -> tuple[int, list[int]]:
    """The record of the period's run (created, or found to resume) and the ids of the insurer's employers."""
    key = run_key(insurer_number, first, last)
    with factory() as s:
        insurer = registry.get_insurer(s, number=insurer_number)
        if insurer is None:
            raise ValueError(f"保険者番号 {insurer_number} は登録されていません — `onshi insurer list` "
                             f"(unknown insurer {insurer_number})")
        run = s.scalar(select(DocumentRun).where(DocumentRun.run_key == key))
        if run is None:
            run = DocumentRun(kind=KIND, insurer_id=insurer.id, run_key=key, started_by=actor)
            s.add(run)
            try:
                s.commit()
            except IntegrityError:  # the same run opened at the same moment elsewhere: join it
                s.rollback()
                run = s.scalar(select(DocumentRun).where(DocumentRun.run_key == key))
        return run.id, [e.id for e in registry.list_employers(s, insurer_id=insurer.id)]


def _bundle_pdf(cover: CoverLetterData, enclosures: list[Enclosure], pdfs: list[bytes]) -> bytes:
    buf = io.BytesIO()
    info = {"Title": f"医療費のお知らせ（{cover.employer_name}）", "Author": cover.insurer_name,
            "Subject": f"医療費のお知らせ {len(pdfs)}通", "Creator": "onshi",
            "CreationDate": f"D:{cover.issue_date:%Y%m%d}000000+09'00'"}
    with PdfConcat(buf, info=info) as out:
        out.add(render_cover(cover, enclosures, COVER_LAYOUT))
        for pdf in pdfs:
            out.add(pdf)
    return buf.getvalue()


def cost_mailing_bundle(factory: Callable[[], Session], run_id: int, employer_id: int, *, out_dir: Path,
                        issue: date, worker: str = "") -> MailingBundle:
    """One employer's bundle of a 医療費通知 run, idempotent as :func:`onshi.documents.service.mailing_bundle`:
    its notices' records, the read audit and its ``mailing_bundles`` row in one transaction.  Returns the row
    (detached); ``issued`` counts only what this call issued."""
    with factory() as s:
        run = s.get(DocumentRun, run_id)
        row = s.scalar(select(MailingBundle).where(MailingBundle.run_id == run_id,
                                                   MailingBundle.employer_id == employer_id))
        if row is not None and row.state == "done":
            s.expunge(row)
            row.issued = 0
            return row
        _, insurer_number, period = run.run_key.split(":", 2)
        first, last = period.split("_")
        insurer = registry.get_insurer(s, id=run.insurer_id)
        emp = s.get(Employer, employer_id)
        members = [qv for qv in registry.qualification_versions(s, insurer_id=run.insurer_id, about_day=issue,
                                                                employer_id=employer_id) if qv.role == Role.insured]
        keys = {qv.qualification_id: f"{run.run_key}:{qv.qualification_id}" for qv in members}
        done = documents.already_issued(s, list(keys.values()))
        todo = [qv for qv in members if keys[qv.qualification_id] not in done]
        inst_names = notices.institution_names(s) if todo else {}
        due, failures, notes = [], [], []
        for qv in todo:
            try:
                notice = notices.cost_notice(s, qv.person_id, insurer_id=run.insurer_id, first_month=first,
                                             last_month=last, issue_date=issue, actor_kind="batch",
                                             actor_id=f"run:{run.run_key}", inst_names=inst_names)
                if not notice.lines:
                    continue  # no care billed in the period: nothing to tell
                due.append((qv, notice, notices.render_cost_notice(notice)))
            except SQLAlchemyError:
                raise  # the database, not the member: the bundle fails whole (recorded by the task) and is retried
            except Exception as exc:  # noqa: BLE001 - one bad member: who and why, the rest go on
                failures.append(documents.member_failure(qv, exc))
        files = [list(f) for f in (row.files if row is not None else [])]
        if due:
            if not emp.address:
                notes.append(f"事業所 {emp.symbol} {emp.name}: 所在地がありません (no address) — "
                             "the bundle is printed without it")
            cover = CoverLetterData(employer_name=emp.name, insurer_name=insurer.name, issue_date=issue,
                                    employer_postal_code=emp.postal_code, employer_address_line1=emp.address,
                                    insurer_number=insurer_number, insurer_address=insurer.address,
                                    insurer_contact=registry.contact_line(insurer))
            enclosures = []
            for qv, notice, _pdf in due:
                pv = registry.person_on(s, qv.person_id)
                enclosures.append(Enclosure(notice.name, pv.name_kana if pv else "", qv.symbol, qv.number,
                                            qv.branch))
            run_dir = out_dir / SUBDIR / f"{insurer_number}_{period}"
            # a retry of members who failed before prints a bundle of its own beside the first
            path = run_dir / (f"{emp.symbol}.pdf" if not done else f"{emp.symbol}.{len(done)}.pdf")
            documents.write_atomic(path, _bundle_pdf(cover, enclosures, [p for *_, p in due]))
            fingerprint = notices.renderer_fingerprint()
            for qv, notice, _pdf in due:
                s.add(IssuedDocument(kind=KIND, issue_key=keys[qv.qualification_id], person_id=qv.person_id,
                                     qualification_id=qv.qualification_id, insurer_id=qv.insurer_id,
                                     employer_id=qv.employer_id, issue_date=issue, valid_until=None,
                                     reason="mailing", layout=notices.COST_NOTICE_LAYOUT,
                                     data=notices.notice_record(notice), sha256=None,
                                     layout_fingerprint=fingerprint, file=str(path), run_id=run_id, warnings=[]))
            files.append([str(path), len(due)])
        return documents.commit_bundle(s, row, run_id, employer_id, members=len(done) + len(due) + len(failures),
                                       issued=len(due), files=files, notes=notes, failures=failures, worker=worker)


def cost_mailing_run(factory: Callable[[], Session], insurer_number: str, out_dir: Path, *, first: str, last: str,
                     issue: date, actor: str,
                     progress: Callable[[int], None] | None = None) -> documents.RunReport:
    """The period's 医療費通知 of an insurer, one bundle per employer, in this process (the Celery variant is
    :func:`onshi.claims.tasks.run_cost_mailing`).  Killed and started again, it skips the employers done and
    issues every notice exactly once; started after it finished, it issues nothing new."""
    run_id, employer_ids = cost_mailing_open(factory, insurer_number, first=first, last=last, actor=actor)
    issued = skipped = 0
    for employer_id in employer_ids:
        b = cost_mailing_bundle(factory, run_id, employer_id, out_dir=out_dir, issue=issue, worker="local")
        issued += b.issued
        skipped += b.members - b.issued - len(b.failures or [])
        if progress:
            progress(b.members)
    report = documents.mailing_finish(factory, run_id, out_dir, subdir=SUBDIR)
    report.issued, report.skipped = issued, skipped
    return report
