"""外字 from intake onwards: the names of a file's people that hold characters outside JIS X 0208 (flagged when the
file is imported — a warning, the rows are applied all the same), what the documents will print instead
(:func:`onshi.documents.gaiji.check`), and the clerk's decision per person (print the substitute, or handle the
printing otherwise), recorded in ``gaiji_decisions``.

Reads that show a person's name write the audit row (``gaiji.list``); a decision is audited as ``gaiji.decision``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from onshi.documents.gaiji import check
from onshi.documents.models import GaijiDecision
from onshi.privacy import audit
from onshi.registry import service as registry
from onshi.registry.models import PersonVersion, RegistryChange
from onshi.store.db import utcnow
from onshi.store.history import current

DECISIONS = {"substitute": "代替字で印刷してよい（本人確認済み）", "handwrite": "代替字にしない（手書き・外字で対応）"}


@dataclass(frozen=True)
class GaijiName:
    person_id: int
    row_number: int | None
    name: str
    printed: str
    characters: str  # the flagged characters with their code points, e.g. "髙 (U+9AD9)"
    decision: GaijiDecision | None = None


def flagged(name: str) -> tuple[str, str] | None:
    """``(printed, characters)`` when *name* holds 外字, else None."""
    result = check(name)
    if result.ok:
        return None
    return result.text, "、".join(f"{f.char}（{f.codepoint}）→{f.substitute or '（なし）'}" for f in result.flagged)


def latest_decision(session: Session, person_id: int, name: str) -> GaijiDecision | None:
    return session.scalars(select(GaijiDecision).where(GaijiDecision.person_id == person_id,
                                                       GaijiDecision.name == name)
                           .order_by(GaijiDecision.decided_at.desc(), GaijiDecision.id.desc())).first()


def names_in_file(session: Session, file_id: int, *, insurer_id: int | None, actor_kind: str, actor_id: str,
                  limit: int = 500) -> list[GaijiName]:
    """The people a file applied (for *insurer_id*; None: any, the command line's) whose current name holds 外字
    (at most *limit*), with the row that brought them; each one shown is audited (``gaiji.list``)."""
    q = (select(RegistryChange.person_id, RegistryChange.row_number, PersonVersion.name)
         .join(PersonVersion, PersonVersion.person_id == RegistryChange.person_id)
         .where(RegistryChange.file_id == file_id, current(PersonVersion)))
    if insurer_id is not None:
        q = q.where(RegistryChange.insurer_id == insurer_id)
    rows = session.execute(q.order_by(RegistryChange.row_number)).all()
    out, seen = [], set()
    insurer_number = registry.insurer_number_of(session, insurer_id)
    for person_id, row_number, name in rows:
        if person_id is None or person_id in seen:
            continue
        found = flagged(name)
        if found is None:
            continue
        seen.add(person_id)
        out.append(GaijiName(person_id, row_number, name, found[0], found[1],
                             latest_decision(session, person_id, name)))
        audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="gaiji.list",
                          subject_kind="person", subject_id=person_id, detail=f"file={file_id}",
                          insurer_number=insurer_number)
        if len(out) >= limit:
            break
    return out


def decide(session: Session, person_id: int, decision: str, *, by: str, note: str | None = None,
           insurer_id: int, actor_kind: str, actor_id: str) -> GaijiDecision:
    """Record the clerk's decision on the person's current name (ValueError, Japanese, when it has no 外字 or the
    decision is not one of :data:`DECISIONS`)."""
    if decision not in DECISIONS:
        raise ValueError(f"判断「{decision}」は選べません（{'・'.join(DECISIONS.values())}）")
    pv = registry.person_on(session, person_id)
    found = flagged(pv.name) if pv is not None else None
    if found is None:
        raise ValueError("この方の氏名には外字がありません")
    row = GaijiDecision(person_id=person_id, name=pv.name, printed=found[0], decision=decision,
                        note=(note or "").strip()[:400] or None, decided_by=by, decided_at=utcnow())
    session.add(row)
    audit.record_read(session, actor_kind=actor_kind, actor_id=actor_id, action="gaiji.decision",
                      subject_kind="person", subject_id=person_id, detail=decision,
                      insurer_number=registry.insurer_number_of(session, insurer_id))
    session.flush()
    return row
