"""A person's recent verifications (資格確認の履歴), for the insurer's member page: who asked (the 医療機関・薬局),
when, how (マイナ保険証 or 記号・番号) and what was answered.

The usage log holds no name or number of the person, only the keyed pseudonym ``patient_key`` of the answer
(:func:`onshi.verify.service.patient_key`); this read computes the person's pseudonym and finds their rows through
``ix_vlog_patient`` (migration 0018).  A query that found nobody has no pseudonym and is not the person's.  The
read writes its own audit row (``verify.history``), as every read of a person's data does (docs/audit.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.privacy import audit
from onshi.verify.models import Institution, VerificationLogEntry

METHODS = {"card": "マイナ保険証", "numbers": "記号・番号", "face": "顔認証"}
SETTINGS = {"outpatient": "外来", "inpatient": "入院", "home": "訪問", "online": "オンライン診療"}


@dataclass(frozen=True)
class VerificationSeen:
    occurred_at: datetime  # stored UTC, naive
    care_date: date
    institution_code: str
    institution_name: str
    method: str
    validity: int
    setting: str
    insurer_number: str | None


def recent_verifications(session: Session, person_id: int, *, actor_kind: str, actor_id: str,
                         insurer_number: str | None = None, limit: int = 20) -> list[VerificationSeen]:
    """The person's latest verifications, newest first (at most *limit*); audited (``verify.history``).  With
    *insurer_number*, only the answers about that insurer's qualification (a clerk sees their insurer's)."""
    from onshi.verify.service import patient_key

    L = VerificationLogEntry
    q = select(L, Institution.name).outerjoin(Institution, Institution.code == L.institution_code).where(
        L.patient_key == patient_key(person_id))
    if insurer_number is not None:
        q = q.where(L.insurer_number == insurer_number)
    rows = session.execute(q.order_by(L.occurred_at.desc(), L.id.desc()).limit(limit)).all()
    audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="verify.history",
                      subject_kind="person", subject_id=person_id, detail=f"rows={len(rows)}",
                      insurer_number=insurer_number)
    return [VerificationSeen(e.occurred_at, e.care_date, e.institution_code, name or e.institution_code, e.method,
                             e.validity, e.setting, e.insurer_number) for e, name in rows]
