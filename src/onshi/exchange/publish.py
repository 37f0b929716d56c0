"""Registration to the verification index (中間サーバー経由の資格情報登録) through the outbox.

Every registry change lands in ``registry_changes`` in the same transaction as
the change itself.  The publisher reads pending changes in batches, rebuilds
the index rows of every qualification they touch (and of the same person's
other qualifications and a member's dependents, whose answers depend on them),
and stamps ``published_at``.  One batch is one transaction: a crash leaves the
batch pending and it is published again, so the index is at-least-once and
idempotent (rows are replaced, never appended).
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
                QualificationVersion.superseded_at.is_(None), QualificationVersion.qualification_id.in_(chunk))):
            qvs[qv.qualification_id] = qv
    member_ids = {qv.member_qualification_id for qv in qvs.values() if qv.member_qualification_id} - set(qvs)
    members: dict[int, QualificationVersion] = {}
    for chunk in _in_chunks(member_ids):
        for qv in session.scalars(select(QualificationVersion).where(
                QualificationVersion.superseded_at.is_(None), QualificationVersion.qualification_id.in_(chunk))):
            members[qv.qualification_id] = qv
    members.update(qvs)
    person_ids = {qv.person_id for qv in members.values()}
    persons: dict[int, PersonVersion] = {}
    for chunk in _in_chunks(person_ids):
        for pv in session.scalars(select(PersonVersion).where(
                PersonVersion.superseded_at.is_(None), PersonVersion.valid_to.is_(None),
                PersonVersion.person_id.in_(chunk))):
            persons[pv.person_id] = pv
    remuneration: dict[int, list] = {}
    rem_ids = {qv.member_qualification_id or qv.qualification_id for qv in qvs.values()}
    for chunk in _in_chunks(rem_ids):
        for rv in session.scalars(select(RemunerationVersion).where(
                RemunerationVersion.superseded_at.is_(None), RemunerationVersion.qualification_id.in_(chunk))
                .order_by(RemunerationVersion.valid_from)):
            remuneration.setdefault(rv.qualification_id, []).append(
                [rv.valid_from.isoformat(), rv.valid_to.isoformat() if rv.valid_to else None, rv.monthly_amount])
    limits: dict[int, list] = {}
    for chunk in _in_chunks(qvs):
        for lc in session.scalars(select(LimitCertificateVersion).where(
                LimitCertificateVersion.superseded_at.is_(None), LimitCertificateVersion.qualification_id.in_(chunk))
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


def _birthday_75(col: str) -> str:
    """:func:`onshi.rules.age.birthday` (n = 75) in SQL: 29 February → 1 March (75 years on is never leap)."""
    return (f"(CASE WHEN EXTRACT(MONTH FROM {col}) = 2 AND EXTRACT(DAY FROM {col}) = 29 "
            f"THEN make_date(EXTRACT(YEAR FROM {col})::int + 75, 3, 1) ELSE ({col} + interval '75 years')::date END)")


_INDEX_COLUMNS = ("qualification_id", "person_id", "insurer_id", "insurer_number", "insurer_name", "symbol", "number",
                  "branch", "role", "card_classification", "name", "name_kana", "insured_name", "birth_date",
                  "member_birth_date", "sex", "postal_code", "address", "acquisition_date", "loss_date", "loss_reason",
                  "voluntary_continuation", "remuneration", "limit_certificates", "received_at", "registered_at",
                  "change_id")

#: One batch in one statement (PostgreSQL): the same rows as :func:`rebuild_index_rows` builds in Python —
#: the changed qualifications, the same people's other qualifications and the dependents of changed members;
#: the current person version of each and of its member; 資格喪失日 as :func:`effective_loss_date`; the member's
#: 標準報酬月額 and the 限度額 certificates as JSON — upserted into the index, and the changes stamped.
_PUBLISH_SQL = f"""
WITH ch AS (
    SELECT id, qualification_id, person_id, received_at FROM registry_changes
    WHERE published_at IS NULL AND id >= %(from_id)s AND id < %(to_id)s {{insurer_filter}}
    FOR UPDATE SKIP LOCKED),
direct AS (
    SELECT qualification_id, max(received_at) AS received_at, max(id) AS change_id
    FROM ch WHERE qualification_id IS NOT NULL GROUP BY qualification_id),
related AS (  -- LATERAL … OFFSET 0: one index probe per change, whatever the (often stale) statistics say
    SELECT v.qualification_id
    FROM (SELECT DISTINCT person_id FROM ch WHERE person_id IS NOT NULL) p
    CROSS JOIN LATERAL (SELECT qualification_id FROM qualification_versions
                        WHERE person_id = p.person_id AND superseded_at IS NULL OFFSET 0) v
    UNION
    SELECT v.qualification_id
    FROM direct d
    CROSS JOIN LATERAL (SELECT qualification_id FROM qualification_versions
                        WHERE member_qualification_id = d.qualification_id AND superseded_at IS NULL OFFSET 0) v),
affected AS (
    SELECT qualification_id, received_at, change_id FROM direct
    UNION ALL
    SELECT r.qualification_id, coalesce(iq.received_at, %(now)s), coalesce(iq.change_id, 0)
    FROM related r
    LEFT JOIN LATERAL (SELECT received_at, change_id FROM index_qualifications
                       WHERE qualification_id = r.qualification_id OFFSET 0) iq ON true
    WHERE NOT EXISTS (SELECT 1 FROM direct d WHERE d.qualification_id = r.qualification_id)),
cur AS (
    SELECT a.received_at AS pub_received_at, a.change_id AS pub_change_id, qv.*
    FROM affected a
    CROSS JOIN LATERAL (SELECT * FROM qualification_versions v
                        WHERE v.qualification_id = a.qualification_id AND v.superseded_at IS NULL
                        ORDER BY v.id DESC LIMIT 1) qv),
src AS (
    SELECT c.*, pv.name AS p_name, pv.name_kana AS p_kana, pv.birth_date AS p_birth, pv.sex AS p_sex,
           pv.postal_code AS p_postal, pv.address AS p_address, mpv.name AS m_name, mpv.birth_date AS m_birth
    FROM cur c
    CROSS JOIN LATERAL (SELECT * FROM person_versions v
                        WHERE v.person_id = c.person_id AND v.superseded_at IS NULL AND v.valid_to IS NULL
                        ORDER BY v.id DESC LIMIT 1) pv
    LEFT JOIN LATERAL (SELECT * FROM qualification_versions v
                       WHERE c.role = 'dependent' AND v.qualification_id = c.member_qualification_id
                             AND v.superseded_at IS NULL
                       ORDER BY v.id DESC LIMIT 1) mqv ON true
    LEFT JOIN LATERAL (SELECT * FROM person_versions v  -- a member is his own member: pv
                       WHERE c.role = 'dependent' AND v.person_id = mqv.person_id
                             AND v.superseded_at IS NULL AND v.valid_to IS NULL
                       ORDER BY v.id DESC LIMIT 1) mpv ON true),
rows AS (
    SELECT s.*, LEAST(s.loss_date, {_birthday_75("s.p_birth")}, {_birthday_75("s.m_birth")}) AS eff_loss FROM src s),
ins AS (
    INSERT INTO index_qualifications ({", ".join(_INDEX_COLUMNS)})
    SELECT r.qualification_id, r.person_id, i.id, i.number, i.name, r.symbol, r.number, r.branch, r.role,
           r.card_classification, r.p_name, r.p_kana, coalesce(r.m_name, r.p_name), r.p_birth, r.m_birth, r.p_sex,
           r.p_postal, r.p_address, r.acquisition_date, r.eff_loss,
           CASE WHEN r.loss_date IS NOT NULL AND r.eff_loss = r.loss_date THEN r.loss_reason ELSE '03' END,
           r.voluntary_continuation,
           coalesce((SELECT json_agg(json_build_array(to_char(v.valid_from, 'YYYY-MM-DD'),
                                                      to_char(v.valid_to, 'YYYY-MM-DD'), v.monthly_amount)
                                     ORDER BY v.valid_from)
                     FROM remuneration_versions v
                     WHERE v.superseded_at IS NULL
                       AND v.qualification_id = coalesce(r.member_qualification_id, r.qualification_id)), '[]'::json),
           coalesce((SELECT json_agg(json_build_object(
                                'from', to_char(v.valid_from, 'YYYY-MM-DD'), 'to', to_char(v.valid_to, 'YYYY-MM-DD'),
                                'category', v.category_code, 'classification', v.classification,
                                'certificate_date', to_char(v.certificate_date, 'YYYY-MM-DD'),
                                'income_exemption', v.income_exemption) ORDER BY v.valid_from)
                     FROM limit_certificate_versions v
                     WHERE v.superseded_at IS NULL AND v.qualification_id = r.qualification_id), '[]'::json),
           r.pub_received_at, %(now)s, r.pub_change_id
    FROM rows r JOIN insurers i ON i.id = r.insurer_id
    ON CONFLICT (qualification_id) DO UPDATE SET
        ({", ".join(c for c in _INDEX_COLUMNS if c != "qualification_id")}) =
        ({", ".join("EXCLUDED." + c for c in _INDEX_COLUMNS if c != "qualification_id")})
    RETURNING qualification_id){{stamp}}
SELECT (SELECT count(*) FROM ch),
       -- a current qualification without a current person version is not indexed (as in Python): its old
       -- row is deleted by the caller (rare; a separate statement keeps the index's scan out of this one)
       ARRAY(SELECT qualification_id FROM cur EXCEPT SELECT qualification_id FROM ins),
       ARRAY(SELECT id FROM ch)
"""
_STAMP_IN_STATEMENT = """,
stamped AS (
    UPDATE registry_changes SET published_at = %(now)s WHERE id = ANY(ARRAY(SELECT id FROM ch)) RETURNING 1)"""
_STAMP_SQL = "UPDATE registry_changes SET published_at = %(now)s WHERE id = ANY(%(ids)s) AND published_at IS NULL"

_FIRST_PENDING_SQL = ("SELECT min(id) FROM registry_changes WHERE published_at IS NULL AND id >= %(after)s "
                      "{insurer_filter}")


_READ_TABLES = ("registry_changes", "qualification_versions", "person_versions", "remuneration_versions",
                "limit_certificate_versions", "index_qualifications")


def analyze_if_stale(engine: Engine) -> list[str]:
    """ANALYZE the tables the publisher reads when they changed a lot since they were last analyzed.

    Right after a large intake PostgreSQL's statistics still describe (nearly) empty tables, and it plans the
    publication statement for a few rows — a full index scan per change (0.75k records/s instead of 20k+).
    Autovacuum would analyze them within a minute or so; the publisher does not wait for it.
    """
    with engine.connect() as conn:
        stale = list(conn.exec_driver_sql(
            "SELECT relname FROM pg_stat_user_tables WHERE relname = ANY(%(t)s) "
            "AND pg_relation_size(relid) > 1048576 AND (coalesce(last_analyze, last_autoanalyze) IS NULL "
            "OR n_mod_since_analyze > greatest(1000, 0.2 * n_live_tup))", {"t": list(_READ_TABLES)}).scalars())
    if stale:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in stale:
                conn.exec_driver_sql(f"ANALYZE {table}")
    return stale


def _publish_batch_postgres(session: Session, *, batch: int, now: datetime, insurer_id: int | None,
                            after: int = 0, stamp: bool = True) -> tuple[int, int | None, list[int]]:
    """One batch: the pending changes with ids in [first pending ≥ *after*, + *batch*).  Returns how many
    changes it covered, where the next batch starts (None when nothing is pending) and their ids.  With
    ``stamp=False`` the caller stamps them (:data:`_STAMP_SQL`) after this transaction has committed.

    Batches by id range, not ``ORDER BY id LIMIT``: right after a large intake the statistics still say the
    outbox is small, and PostgreSQL would sort all of it for every batch."""
    conn = session.connection()
    flt = "AND insurer_id = %(insurer_id)s" if insurer_id is not None else ""
    first = conn.exec_driver_sql(_FIRST_PENDING_SQL.format(insurer_filter=flt),
                                 {"after": after, "insurer_id": insurer_id}).scalar()
    if first is None:
        return 0, None, []
    n, unindexed, ids = conn.exec_driver_sql(
        _PUBLISH_SQL.format(insurer_filter=flt, stamp=_STAMP_IN_STATEMENT if stamp else ""),
        {"from_id": first, "to_id": first + batch, "now": now, "insurer_id": insurer_id}).one()
    if unindexed:
        log.warning("qualifications %s have no current person version; not indexed", unindexed)
        conn.exec_driver_sql("DELETE FROM index_qualifications WHERE qualification_id = ANY(%(ids)s)",
                             {"ids": list(unindexed)})
    return n, first + batch, list(ids)


def _stamp(engine: Engine, ids: list[int], now: datetime) -> int:
    with engine.begin() as conn:
        return conn.exec_driver_sql(_STAMP_SQL, {"ids": ids, "now": now}).rowcount


def _publish_all_postgres(engine: Engine, *, batch: int, insurer_id: int | None,
                          progress: Callable[[int], None] | None) -> int:
    """:func:`publish_all` on PostgreSQL, as a two-stage pipeline on two connections: while one batch is
    indexed (one statement, one transaction), the changes of the previous one are stamped ``published_at``
    — a third of the work, on the other core.  A batch is stamped only after its index rows are committed;
    a crash in between leaves its changes pending and they are published again (rows are replaced, so the
    index ends the same).  Index writes stay in change order, one batch at a time."""
    from concurrent.futures import ThreadPoolExecutor

    total, after, batches, stamping = 0, 0, 0, None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="onshi-publish-stamp") as stamper:
        while after is not None:
            if batches % 100 == 0:  # the index grows as it is published: keep its statistics current too
                analyze_if_stale(engine)
            now = utcnow()
            with unit_of_work(engine) as s:
                _n, after, ids = _publish_batch_postgres(s, batch=batch, now=now, insurer_id=insurer_id,
                                                         after=after, stamp=False)
            batches += 1
            if stamping is not None:
                done = stamping.result()
                total += done
                if done and progress:
                    progress(done)
            stamping = stamper.submit(_stamp, engine, ids, now) if ids else None
        if stamping is not None:
            done = stamping.result()
            total += done
            if done and progress:
                progress(done)
    return total


def publish_batch(session: Session, *, batch: int = BATCH, now: datetime | None = None,
                  insurer_id: int | None = None) -> int:
    """Publish up to *batch* pending changes in the caller's transaction; returns how many.

    On PostgreSQL one statement does it all (:data:`_PUBLISH_SQL`); elsewhere Python rebuilds the rows
    (:func:`rebuild_index_rows`) — the tests run both and compare them.
    """
    now = now or utcnow()
    if _one_statement(session.get_bind()):
        after = 0
        while True:  # a range may hold only changes another publisher has locked: go on to the next
            n, after, _ids = _publish_batch_postgres(session, batch=batch, now=now, insurer_id=insurer_id,
                                                     after=after)
            if n or after is None:
                return n
    return publish_batch_python(session, batch=batch, now=now, insurer_id=insurer_id)


def _one_statement(bind) -> bool:
    return bind.dialect.name == "postgresql" and bind.dialect.driver == "psycopg"


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
            QualificationVersion.superseded_at.is_(None), QualificationVersion.person_id.in_(chunk))))
    for chunk in _in_chunks(qids):
        related.update(session.scalars(select(QualificationVersion.qualification_id).where(
            QualificationVersion.superseded_at.is_(None), QualificationVersion.member_qualification_id.in_(chunk))))
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
    """Publish every pending change, one transaction per batch (PostgreSQL: :func:`_publish_all_postgres`)."""
    total = 0
    engine = engine or _db.default_engine()
    if _one_statement(engine):
        return _publish_all_postgres(engine, batch=batch, insurer_id=insurer_id, progress=progress)
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
