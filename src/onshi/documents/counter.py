"""The member page's document actions (窓口での発行・再交付・返納・お知らせ再発行), each writing the audit row of the
person it acts on — for the back office (``web/pages/office.py``) and the REST API (``documents/views.py``) alike.

The rules are :mod:`onshi.documents.service`'s, the same the daily run applies: 発行 issues what the daily run would
issue for the qualification today (its issue keys, so the run will not issue it again) and says why when nothing is
due; 再交付 records the application and issues its certificate at once under the run's key for it; 返納 records the
day; the お知らせ is printed on its own, once a day per qualification.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from onshi.documents import service
from onshi.documents.models import IssuedDocument
from onshi.privacy import audit
from onshi.registry import service as registry

NothingDue = service.NothingDue


def _audit(session: Session, action: str, person_id: int, *, insurer_id: int, actor_kind: str, actor_id: str,
           detail: str) -> None:
    audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action=action, subject_kind="person",
                      subject_id=person_id, detail=detail,
                      insurer_number=registry.insurer_number_of(session, insurer_id))


def member_qualification(session: Session, person_id: int, insurer_id: int, qualification_id: int | None = None):
    """The person's qualification at the insurer to act on: the one named (it must be theirs), else their only
    current one.  ``ValueError`` (Japanese) when there is none, or several and none was named."""
    versions = registry.qualification_versions(session, person_id=person_id, insurer_id=insurer_id)
    if qualification_id is not None:
        found = [v for v in versions if v.qualification_id == qualification_id]
        if not found:
            raise LookupError(f"資格 {qualification_id} はこの加入者の資格ではありません")
        return found[-1]
    today_open = [v for v in versions if v.loss_date is None]
    if len(today_open) == 1:
        return today_open[0]
    if not versions:
        raise LookupError("この保険者での資格がありません")
    if not today_open:
        raise ValueError("加入中の資格がありません（すべて喪失しています）。資格確認書は発行できません")
    raise ValueError(f"加入中の資格が{len(today_open)}件あります。qualification_id で資格を指定してください")


def issue(session: Session, person_id: int, qualification_id: int, day: date, out_dir: Path, *, insurer_id: int,
          actor_kind: str, actor_id: str) -> tuple[list[IssuedDocument], service.RunReport]:
    """発行: what is due now for the qualification; :class:`NothingDue` (with the reason) otherwise."""
    docs, report = service.issue_now(session, qualification_id, day, out_dir, insurer_id=insurer_id)
    for doc in docs:
        _audit(session, "document.issue", person_id, insurer_id=insurer_id, actor_kind=actor_kind,
               actor_id=actor_id, detail=f"document={doc.id}")
    return docs, report


def reissue(session: Session, person_id: int, qualification_id: int, reason: str, day: date, out_dir: Path, *,
            insurer_id: int, actor_kind: str, actor_id: str, applicant: str = "本人"):
    """再交付 on an application with *reason*: ``(document or None when already issued today, report)``."""
    doc, report = service.reissue_on_application(session, qualification_id, reason, day, out_dir,
                                                 applicant=applicant, insurer_id=insurer_id)
    _audit(session, "document.reissue", person_id, insurer_id=insurer_id, actor_kind=actor_kind, actor_id=actor_id,
           detail=f"reason={reason} document={doc.id if doc else '-'}")
    return doc, report


def reissue_notice(session: Session, person_id: int, qualification_id: int, day: date, out_dir: Path, *,
                   insurer_id: int, actor_kind: str, actor_id: str) -> IssuedDocument:
    """資格情報のお知らせ reissued for the qualification (one a day)."""
    doc = service.reissue_notice(session, qualification_id, day, out_dir, insurer_id=insurer_id)
    _audit(session, "document.issue", person_id, insurer_id=insurer_id, actor_kind=actor_kind, actor_id=actor_id,
           detail=f"document={doc.id} notice")
    return doc


def record_return(session: Session, document_id: int, day: date, *, insurer_id: int, actor_kind: str,
                  actor_id: str) -> IssuedDocument | None:
    """返納 of a certificate of the insurer (None — the same for unknown and another insurer's)."""
    doc = service.get_document(session, document_id)
    if doc is None or doc.insurer_id != insurer_id:
        return None
    service.record_return(session, document_id, day)
    _audit(session, "document.return", doc.person_id, insurer_id=insurer_id, actor_kind=actor_kind,
           actor_id=actor_id, detail=f"document={doc.id}")
    return doc
