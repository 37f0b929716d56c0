"""Registration to the verification index (中間サーバー経由の資格情報登録) through the outbox.

Every registry change lands in ``registry_changes`` in the same transaction as
the change itself.  The publisher reads pending changes in batches, rebuilds
the index rows of every qualification they touch (and of the same person's
other qualifications and a member's dependents, whose answers depend on them),
and stamps ``published_at``.  One batch is one transaction: a crash leaves the
batch pending and it is published again, so the index is at-least-once and
idempotent (rows are replaced, never appended).

This module is the reference path (Python, every database); PostgreSQL takes the one-statement path of
:mod:`onshi.exchange.publish_pg`, which must build the same rows (tests/exchange/test_publish_sql.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from onshi.exchange.models import IndexedQualification
from onshi.exchange.publish_pg import publish_all_pg, publish_batch_pg, uses_one_statement
from onshi.registry.models import (
    Insurer,
    LimitCertificateVersion,
    PersonVersion,
    QualificationVersion,
    RegistryChange,
    RemunerationVersion,
    Role,
)
from onshi.registry.service import effective_loss_date
from onshi.store import db as _db
from onshi.store.db import bulk_insert, unit_of_work, utcnow
from onshi.store.history import current

log = logging.getLogger(__name__)
BATCH = 5000


def _in_chunks(values, size=1000):
    values = list(values)
    for i in range(0, len(values), size):
        yield values[i:i + size]


def rebuild_index_rows(session: Session, qualification_ids: set[int], *, received_at: dict[int, datetime],
                       change_of: dict[int, int], now: datetime) -> int:
    """Replace the index rows of these qualifications with what the registry holds now."""
    qvs: dict[int, QualificationVersion] = {}
    for chunk in _in_chunks(qualification_ids):
        for qv in session.scalars(select(QualificationVersion).where(
                current(QualificationVersion), QualificationVersion.qualification_id.in_(chunk))):
            qvs[qv.qualification_id] = qv
    member_ids = {qv.member_qualification_id for qv in qvs.values() if qv.member_qualification_id} - set(qvs)
    members: dict[int, QualificationVersion] = {}
    for chunk in _in_chunks(member_ids):
        for qv in session.scalars(select(QualificationVersion).where(
                current(QualificationVersion), QualificationVersion.qualification_id.in_(chunk))):
            members[qv.qualification_id] = qv
    members.update(qvs)
    person_ids = {qv.person_id for qv in members.values()}
    persons: dict[int, PersonVersion] = {}
    for chunk in _in_chunks(person_ids):
        for pv in session.scalars(select(PersonVersion).where(
                current(PersonVersion), PersonVersion.valid_to.is_(None),
                PersonVersion.person_id.in_(chunk))):
            persons[pv.person_id] = pv
    remuneration: dict[int, list] = {}
    rem_ids = {qv.member_qualification_id or qv.qualification_id for qv in qvs.values()}
    for chunk in _in_chunks(rem_ids):
        for rv in session.scalars(select(RemunerationVersion).where(
                current(RemunerationVersion), RemunerationVersion.qualification_id.in_(chunk))
                .order_by(RemunerationVersion.valid_from)):
            remuneration.setdefault(rv.qualification_id, []).append(
                [rv.valid_from.isoformat(), rv.valid_to.isoformat() if rv.valid_to else None, rv.monthly_amount])
    limits: dict[int, list] = {}
    for chunk in _in_chunks(qvs):
        for lc in session.scalars(select(LimitCertificateVersion).where(
                current(LimitCertificateVersion), LimitCertificateVersion.qualification_id.in_(chunk))
                .order_by(LimitCertificateVersion.valid_from)):
            limits.setdefault(lc.qualification_id, []).append({
                "from": lc.valid_from.isoformat(), "to": lc.valid_to.isoformat() if lc.valid_to else None,
                "category": lc.category_code, "classification": lc.classification,
                "certificate_date": lc.certificate_date.isoformat(), "income_exemption": lc.income_exemption})
    insurers = {i.id: i for i in session.scalars(select(Insurer).where(
        Insurer.id.in_({qv.insurer_id for qv in qvs.values()})))}

    rows = []
    for qid, qv in qvs.items():
        pv = persons.get(qv.person_id)
        if pv is None:
            log.warning("qualification %s has no current person version; not indexed", qid)
            continue
        member = members.get(qv.member_qualification_id) if qv.role == Role.dependent else qv
        member_pv = persons.get(member.person_id) if member else None
        member_birth = member_pv.birth_date if (member_pv and qv.role == Role.dependent) else None
        ins = insurers[qv.insurer_id]
        loss = effective_loss_date(qv, pv.birth_date, member_birth)
        reason = qv.loss_reason if (qv.loss_date and loss == qv.loss_date) else ("03" if loss else None)
        rows.append({
            "qualification_id": qid, "person_id": qv.person_id, "insurer_id": ins.id, "insurer_number": ins.number,
            "insurer_name": ins.name, "symbol": qv.symbol, "number": qv.number, "branch": qv.branch,
            "role": qv.role.value if isinstance(qv.role, Role) else qv.role,
            "card_classification": qv.card_classification, "name": pv.name, "name_kana": pv.name_kana,
            "insured_name": member_pv.name if member_pv else pv.name, "birth_date": pv.birth_date,
            "member_birth_date": member_birth, "sex": pv.sex, "postal_code": pv.postal_code, "address": pv.address,
            "acquisition_date": qv.acquisition_date, "loss_date": loss, "loss_reason": reason,
            "voluntary_continuation": qv.voluntary_continuation,
            "remuneration": remuneration.get(qv.member_qualification_id or qid, []),
            "limit_certificates": limits.get(qid, []),
            "received_at": received_at.get(qid, now), "registered_at": now, "change_id": change_of.get(qid, 0),
        })
    for chunk in _in_chunks(qvs):
        session.execute(delete(IndexedQualification).where(IndexedQualification.qualification_id.in_(chunk)))
    if rows and session.get_bind().dialect.name == "postgresql":
        import json

        for r in rows:  # COPY needs JSON as text
            r["remuneration"] = json.dumps(r["remuneration"])
            r["limit_certificates"] = json.dumps(r["limit_certificates"])
    bulk_insert(session, IndexedQualification.__table__, rows)
    return len(rows)


def publish_batch(session: Session, *, batch: int = BATCH, now: datetime | None = None,
                  insurer_id: int | None = None) -> int:
    """Publish up to *batch* pending changes in the caller's transaction; returns how many.

    On PostgreSQL one statement does it all (:mod:`onshi.exchange.publish_pg`); elsewhere Python rebuilds the rows
    (:func:`rebuild_index_rows`) — the tests run both and compare them.
    """
    now = now or utcnow()
    if uses_one_statement(session.get_bind()):
        after = 0
        while True:  # a range may hold only changes another publisher has locked: go on to the next
            n, after, _ids = publish_batch_pg(session, batch=batch, now=now, insurer_id=insurer_id, after=after)
            if n or after is None:
                return n
    return publish_batch_python(session, batch=batch, now=now, insurer_id=insurer_id)


def publish_batch_python(session: Session, *, batch: int = BATCH, now: datetime | None = None,
                         insurer_id: int | None = None) -> int:
    """:func:`publish_batch` in Python: SQLite, and the reference the PostgreSQL statement is tested against."""
    now = now or utcnow()
    q = select(RegistryChange.id, RegistryChange.qualification_id, RegistryChange.person_id,
               RegistryChange.received_at).where(RegistryChange.published_at.is_(None))
    if insurer_id is not None:
        q = q.where(RegistryChange.insurer_id == insurer_id)
    changes = session.execute(q.order_by(RegistryChange.id).limit(batch)).all()
    if not changes:
        return 0
    qids: set[int] = set()
    received: dict[int, datetime] = {}
    change_of: dict[int, int] = {}
    person_ids: set[int] = set()
    for cid, qid, pid, rec in changes:
        if qid:
            qids.add(qid)
            received[qid] = max(received.get(qid, rec), rec)
            change_of[qid] = max(change_of.get(qid, cid), cid)
        if pid:
            person_ids.add(pid)
    # a person's other qualifications and a member's dependents answer from the same data
    related: set[int] = set()
    for chunk in _in_chunks(person_ids):
        related.update(session.scalars(select(QualificationVersion.qualification_id).where(
            current(QualificationVersion), QualificationVersion.person_id.in_(chunk))))
    for chunk in _in_chunks(qids):
        related.update(session.scalars(select(QualificationVersion.qualification_id).where(
            current(QualificationVersion), QualificationVersion.member_qualification_id.in_(chunk))))
    for qid in related - qids:
        already = session.get(IndexedQualification, qid)
        received.setdefault(qid, already.received_at if already else now)
        change_of.setdefault(qid, already.change_id if already else 0)
    rebuild_index_rows(session, qids | related, received_at=received, change_of=change_of, now=now)
    ids = [c[0] for c in changes]
    for chunk in _in_chunks(ids):
        session.execute(update(RegistryChange).where(RegistryChange.id.in_(chunk)).values(published_at=now))
    return len(changes)


def publish_all(engine: Engine | None = None, *, batch: int = BATCH, insurer_id: int | None = None,
                progress: Callable[[int], None] | None = None) -> int:
    """Publish every pending change, one transaction per batch (PostgreSQL: :func:`publish_pg.publish_all_pg`)."""
    total = 0
    engine = engine or _db.default_engine()
    if uses_one_statement(engine):
        return publish_all_pg(engine, batch=batch, insurer_id=insurer_id, progress=progress)
    while True:
        with unit_of_work(engine) as s:
            n = publish_batch(s, batch=batch, insurer_id=insurer_id)
        if not n:
            return total
        total += n
        if progress:
            progress(n)


def pending_count(session: Session, insurer_id: int | None = None) -> int:
    from sqlalchemy import func

    q = select(func.count()).select_from(RegistryChange).where(RegistryChange.published_at.is_(None))
    if insurer_id is not None:
        q = q.where(RegistryChange.insurer_id == insurer_id)
    return session.scalar(q)


class BackgroundPublisher:
    """The publisher that runs inside the server: polls the outbox every *interval* seconds."""

    def __init__(self, interval: float = 2.0, engine: Engine | None = None):
        self.interval, self.engine = interval, engine
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="onshi-publisher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                publish_all(self.engine)
            except Exception:  # noqa: BLE001 - keep serving; the batch stays pending and is retried
                log.exception("publishing failed; will retry")
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
