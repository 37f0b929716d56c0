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

from sqlalchemy import delete, insert, literal, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from onshi.exchange.models import INDEX_ROW_COLUMNS, IndexedQualification, IndexedQualificationHistory, IndexEpoch
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
        keep_history(session, chunk, now)
        session.execute(delete(IndexedQualification).where(IndexedQualification.qualification_id.in_(chunk)))
    if rows and session.get_bind().dialect.name == "postgresql":
        import json

        for r in rows:  # COPY needs JSON as text
            r["remuneration"] = json.dumps(r["remuneration"])
            r["limit_certificates"] = json.dumps(r["limit_certificates"])
    bulk_insert(session, IndexedQualification.__table__, rows)
    if rows:
        epoch = session.get(IndexEpoch, 1)
        if epoch is None:
            session.add(IndexEpoch(id=1, first_registered_at=now))
        elif epoch.first_registered_at > now:
            epoch.first_registered_at = now
    return len(rows)


def keep_history(session: Session, qualification_ids, now: datetime) -> None:
    """Copy the index rows of these qualifications, as registered until *now*, into the index history
    (``superseded_at`` = *now*) before they are replaced or withdrawn — same transaction (docs/replay.md)."""
    iq, h = IndexedQualification.__table__, IndexedQualificationHistory.__table__
    session.execute(insert(h).from_select(
        [*INDEX_ROW_COLUMNS, "superseded_at"],
        select(*(iq.c[c] for c in INDEX_ROW_COLUMNS), literal(now, h.c.superseded_at.type))
        .where(iq.c.qualification_id.in_(list(qualification_ids)))))


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


def outbox_state(session: Session) -> tuple[int, datetime | None]:
    """The outbox backlog: how many changes wait, and when the oldest of them was received (None: none wait).
    Both read the partial index of pending changes (``ix_registry_changes_pending``)."""
    from sqlalchemy import func

    n, oldest = session.execute(select(func.count(), func.min(RegistryChange.received_at))
                                .where(RegistryChange.published_at.is_(None))).one()
    return n, oldest


#: The advisory-lock key the publisher leader holds (PostgreSQL): "onsh" in ASCII.
LEADER_LOCK_KEY = 0x6F6E7368


class PublisherLeadership:
    """Which of many processes publishes (PostgreSQL): the one that holds a session-level advisory lock.

    The lock lives on a connection of its own, opened with ``idle_session_timeout`` = the lease: the holder
    touches it (``SELECT 1``) every third of the lease from a thread of its own, and PostgreSQL ends a session
    silent for longer — which frees the lock.  So a holder that dies (``kill -9``: its socket closes, the lock
    goes at once), freezes (``SIGSTOP``: the server ends its silent session after the lease) or is cut off
    (TCP keepalives, probed every second, give up after 3 unanswered) loses the lead, and another process,
    trying every ``interval`` seconds, takes it.  A holder that wakes up finds its connection gone at its next
    :meth:`confirm`, which the publisher calls before every batch, and stops publishing.  Nothing is published
    twice even then: a batch locks its changes (``FOR UPDATE SKIP LOCKED``) and a frozen holder's open
    transaction is ended by ``idle_in_transaction_session_timeout`` (see :class:`BackgroundPublisher`).

    On SQLite (one machine, one writer at a time) every process may publish: :meth:`confirm` is always true.
    """

    def __init__(self, engine: Engine, lease_seconds: float = 5.0):
        self.engine, self.lease = engine, max(float(lease_seconds), 1.0)
        self.postgres = engine.dialect.name == "postgresql"
        self._conn = None
        self._lock = threading.Lock()
        self._beat: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def held(self) -> bool:
        return not self.postgres or self._conn is not None

    def _connect(self):
        import psycopg

        dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        ms = int(self.lease * 1000)
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=max(int(self.lease), 2),
                               keepalives=1, keepalives_idle=1, keepalives_interval=1, keepalives_count=3,
                               application_name="onshi-publisher")
        conn.execute(f"SET idle_session_timeout = {ms}")
        conn.execute("SET tcp_keepalives_idle = 1; SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = 3")
        return conn

    def acquire(self) -> bool:
        """Lead if no one else does; True when this process leads (now or already)."""
        if not self.postgres:
            return True
        if self.confirm():
            return True
        conn = self._connect()
        try:
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK_KEY,)).fetchone()[0]
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        with self._lock:
            self._conn = conn
        log.info("publisher leader: this process leads", extra={"fields": {"event": "leader_acquired",
                                                                             "pid": _pid()}})
        if self._beat is None or not self._beat.is_alive():
            self._beat = threading.Thread(target=self._heartbeat, name="onshi-publisher-lease", daemon=True)
            self._beat.start()
        return True

    def confirm(self) -> bool:
        """Does this process still lead?  Touches the lock's connection (which also renews the lease)."""
        if not self.postgres:
            return True
        with self._lock:
            if self._conn is None:
                return False
            try:
                self._conn.execute("SELECT 1")
                return True
            except Exception:  # noqa: BLE001 - the session was ended (lease expired) or the server went away
                self._drop()
                log.warning("publisher leader: lost the lead (its session ended)",
                            extra={"fields": {"event": "leader_lost", "pid": _pid()}})
                return False

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a dead connection
                pass

    def _heartbeat(self) -> None:
        while not self._stopped.wait(self.lease / 3):
            if not self.confirm():
                return

    def release(self) -> None:
        """Give the lead up now: unlock in the lock's own session (closing the connection alone frees it only when
        the server has noticed, a moment later — a successor or ``leader_present`` could still see it held)."""
        self._stopped.set()
        with self._lock:
            if self._conn is not None:
                try:
                    self._conn.execute("SELECT pg_advisory_unlock(%s)", (LEADER_LOCK_KEY,))
                except Exception:  # noqa: BLE001 - the session is gone already: so is its lock
                    pass
            self._drop()


def leader_present(session: Session) -> bool | None:
    """Whether some process holds the publisher lead (PostgreSQL); None elsewhere (every process may publish)."""
    from sqlalchemy import text

    if session.get_bind().dialect.name != "postgresql":
        return None
    return bool(session.execute(text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = 0 "
        "AND objid = :key AND objsubid = 1 AND database = (SELECT oid FROM pg_database "
        "WHERE datname = current_database())"), {"key": LEADER_LOCK_KEY}).scalar())


def _pid() -> int:
    import os

    return os.getpid()


class _LeadLost(Exception):
    pass


class BackgroundPublisher:
    """The outbox publisher: in the server (a thread, every *interval* seconds) or as its own process
    (``onshi exchange publisher``, :meth:`run`).  Among many processes only the leader publishes
    (:class:`PublisherLeadership`); the others wait to take over.

    On PostgreSQL it publishes through an engine of its own whose sessions end when idle inside a transaction
    for twice the lease: a leader frozen in the middle of a batch loses that batch's locks, and the batch is
    published by the next leader (its late commit then fails)."""

    def __init__(self, interval: float = 2.0, engine: Engine | None = None, lease_seconds: float | None = None):
        self.interval, self.engine = interval, engine
        if lease_seconds is None:
            from onshi.config import get_settings

            lease_seconds = get_settings().publisher_lease_seconds
        self.lease_seconds = lease_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.leadership: PublisherLeadership | None = None
        self._publish_engine: Engine | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="onshi-publisher", daemon=True)
        self._thread.start()

    def _engines(self) -> tuple[PublisherLeadership, Engine]:
        if self.leadership is None:
            engine = self.engine or _db.default_engine()
            self.leadership = PublisherLeadership(engine, self.lease_seconds)
            self._publish_engine = engine
            if engine.dialect.name == "postgresql":
                ms = int(self.lease_seconds * 2000)
                self._publish_engine = _db.make_engine(
                    engine.url.render_as_string(hide_password=False), pool_size=2, max_overflow=2,
                    connect_args={"options": f"-c idle_in_transaction_session_timeout={ms}"})
        return self.leadership, self._publish_engine

    def _check(self, n: int) -> None:
        log.info("published %d changes", n, extra={"fields": {"event": "published", "changes": n, "pid": _pid()}})
        if not self.leadership.confirm():
            raise _LeadLost

    def run(self) -> None:
        """Publish every *interval* seconds while leading, until :meth:`stop` (runs in the calling thread)."""
        while not self._stop.is_set():
            try:
                leadership, engine = self._engines()
                if leadership.acquire():
                    publish_all(engine, progress=self._check)
            except _LeadLost:
                pass
            except Exception:  # noqa: BLE001 - keep serving; the batch stays pending and is retried
                log.exception("publishing failed; will retry")
            self._stop.wait(self.interval)
        if self.leadership is not None:
            self.leadership.release()
        if self._publish_engine is not None and self._publish_engine is not self.engine:
            self._publish_engine.dispose()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
