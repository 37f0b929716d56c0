"""REST endpoints of the exchange (中間サーバー): ``/api/v1/exchange/…`` — the 5-day registration SLA board
(登録期限の状況) and the linkage suspects (紐付け誤りの疑い) of the caller's insurer.

Staff only, with the access rules of :mod:`onshi.registry.views` (its :func:`~onshi.registry.views.staff`
dependency): no session → 401, another role → 403.  Times are answered in Japan time with their offset
(``2026-11-20T10:00:00+09:00``), days as ISO dates.  The SLA board holds no one's personal data; the suspect
list does, and :func:`onshi.exchange.linkage.suspect_list` audits every person it returns (``linkage.list``).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from onshi.exchange import linkage, sla
from onshi.registry import service as registry
from onshi.registry.views import DB, Staff
from onshi.store.clock import japan_today
from onshi.web.limits import ZonedTime

router = APIRouter(prefix="/api/v1/exchange", tags=["exchange"])
#: A recorded time (stored naive UTC) as answered: ISO 8601 in Japan time with its offset.
RecordedTime = ZonedTime


class SlaRecordOut(BaseModel):
    change_id: int
    kind: str = Field(description="the kind of change (acquisition, loss, …)")
    employer_id: int | None
    employer_name: str | None
    received_at: RecordedTime = Field(description="when the filing reached the insurer (starts the 5 days)")
    deadline: date = Field(description="the last day to register it in the index (Japan)")
    registered_at: RecordedTime | None
    status: str = Field(description="on_time | late | overdue | due_soon | pending")


class SlaBoardOut(BaseModel):
    today: date = Field(description="the day in Japan the board is computed for")
    totals: dict[str, int] = Field(description="received, registered, overdue, waiting")
    by_status: dict[str, int]
    by_day: dict[str, dict[str, int]] = Field(description="counts by status per day of receipt (Japan)")
    by_employer: dict[str, dict[str, int]] = Field(description="counts by status per 事業所 name")
    pending: int = Field(description="changes waiting in the outbox for the index")
    late: list[SlaRecordOut] = Field(description="overdue and due-soon changes, oldest receipt first (≤ 200)")


class SuspectOut(BaseModel):
    check_id: int
    person_id: int
    name: str | None = Field(description="氏名 as the registry has it")
    name_kana: str | None
    birth_date: date | None
    mismatches: list[str] = Field(description="items that differ from the resident registry (never the values)")
    extract_file: str
    row_number: int
    checked_at: RecordedTime


@router.get("/sla", response_model=SlaBoardOut)
def sla_board(who: Staff, session: DB):
    """The 5-day SLA board of the caller's insurer, as of today in Japan."""
    board = sla.board(session, insurer_id=who.insurer.id, today=japan_today())
    names = {e.id: e.name for e in registry.list_employers(session, insurer_id=who.insurer.id)}
    return SlaBoardOut(
        today=board.today, totals=board.totals, by_status=board.summary["by_status"],
        by_day=board.summary["by_day"], by_employer=board.summary["by_employer"], pending=board.pending,
        late=[SlaRecordOut(change_id=r.change_id, kind=r.kind, employer_id=r.employer_id,
                           employer_name=names.get(r.employer_id), received_at=r.received_at, deadline=r.deadline,
                           registered_at=r.registered_at, status=r.status) for r in board.late])


@router.get("/linkage/suspects", response_model=list[SuspectOut])
def linkage_suspects(who: Staff, session: DB):
    """Open linkage mismatches of the caller's insurer's members, newest first; every person returned is
    audited."""
    return [SuspectOut(check_id=check.id, person_id=check.person_id, name=pv.name if pv else None,
                       name_kana=pv.name_kana if pv else None, birth_date=pv.birth_date if pv else None,
                       mismatches=list(check.mismatches or []), extract_file=check.extract_file,
                       row_number=check.row_number, checked_at=check.checked_at)
            for check, pv in linkage.suspect_list(session, insurer_id=who.insurer.id, **who.reader)]
