"""Fast path of :mod:`onshi.exchange.publish` (the reference); tests/exchange/test_publish_sql.py holds them equal.

Publication to the verification index on PostgreSQL (psycopg): a batch of pending changes becomes the index rows of
every qualification it touches in one statement (:data:`PUBLISH_SQL`), stamped in the same statement or, in
:func:`publish_all_pg`, by a second connection after the rows are committed.  The 75th-birthday rule of
:func:`onshi.registry.service.effective_loss_date` is built from :mod:`onshi.rules.co_pay`
(:func:`late_elderly_transition_sql`), not written out by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from onshi.rules.co_pay import LATE_ELDERLY_AGE
from onshi.store.db import unit_of_work, utcnow

log = logging.getLogger(__name__)


def uses_one_statement(bind) -> bool:
    """Whether *bind* (an engine or connection) publishes with :data:`PUBLISH_SQL`: PostgreSQL through psycopg."""
    return bind.dialect.name == "postgresql" and bind.dialect.driver == "psycopg"


def birthday_sql(col: str, years: int) -> str:
    """:func:`onshi.rules.age.birthday` in PostgreSQL: the *years*-th birthday of the date in *col*, 29 February →
    1 March when that year is common (PostgreSQL's ``+ interval`` gives 28 February: one day is added back).

    >>> birthday_sql("b", 75)[:40]
    "((b + interval '75 years')::date + CASE "
    """
    if not isinstance(years, int) or years < 0:
        raise ValueError(f"birthday_sql: years must be an int of 0 or more (got {years!r})")
    moved = f"({col} + interval '{years} years')"
    return (f"({moved}::date + CASE WHEN EXTRACT(MONTH FROM {col}) = 2 AND EXTRACT(DAY FROM {col}) = 29 "
            f"AND EXTRACT(DAY FROM {moved}) = 28 THEN 1 ELSE 0 END)")


def late_elderly_transition_sql(col: str) -> str:
    """:func:`onshi.rules.co_pay.late_elderly_transition` in PostgreSQL: the 75th birthday
    (:data:`onshi.rules.co_pay.LATE_ELDERLY_AGE`) of the birth date in *col* — 後期高齢者医療 from that day."""
    return birthday_sql(col, LATE_ELDERLY_AGE)


_INDEX_COLUMNS = ("qualification_id", "person_id", "insurer_id", "insurer_number", "insurer_name", "symbol", "number",
                  "branch", "role", "card_classification", "name", "name_kana", "insured_name", "birth_date",
                  "member_birth_date", "sex", "postal_code", "address", "acquisition_date", "loss_date", "loss_reason",
                  "voluntary_continuation", "remuneration", "limit_certificates", "received_at", "registered_at",
                  "change_id")

#: One batch in one statement (PostgreSQL): the same rows as :func:`onshi.exchange.publish.rebuild_index_rows`
#: builds — the changed qualifications, the same people's other qualifications and the dependents of changed
#: members; the current person version of each and of its member; 資格喪失日 as
#: :func:`onshi.registry.service.effective_loss_date` (the 75th birthday from :func:`late_elderly_transition_sql`);
#: the member's 標準報酬月額 and the 限度額 certificates as JSON — upserted into the index, the rows it replaces
#: copied into the index history (``superseded_at`` = now, :mod:`onshi.exchange.models`), and the changes stamped.
PUBLISH_SQL = f"""
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
history AS (  -- the rows replaced (or withdrawn by the caller below) as registered until now: docs/replay.md
    INSERT INTO index_qualification_history ({", ".join(_INDEX_COLUMNS)}, superseded_at)
    SELECT {", ".join("o." + c for c in _INDEX_COLUMNS)}, %(now)s
    FROM cur c CROSS JOIN LATERAL (SELECT * FROM index_qualifications o
                                   WHERE o.qualification_id = c.qualification_id OFFSET 0) o),
rows AS (
    SELECT s.*, LEAST(s.loss_date, {late_elderly_transition_sql("s.p_birth")},
                      {late_elderly_transition_sql("s.m_birth")}) AS eff_loss FROM src s),
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
    RETURNING qualification_id),
epoch AS (  -- the deployment's first registration (a replay before it has no answer); written once
    INSERT INTO index_epoch (id, first_registered_at) SELECT 1, %(now)s WHERE EXISTS (SELECT 1 FROM ins)
    ON CONFLICT (id) DO NOTHING),
epoch_earlier AS (  -- only a publication dated before it (tests, a replayed outbox) moves it; no lock otherwise
    UPDATE index_epoch SET first_registered_at = %(now)s
    WHERE id = 1 AND first_registered_at > %(now)s AND EXISTS (SELECT 1 FROM ins)){{stamp}}
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


def publish_batch_pg(session: Session, *, batch: int, now: datetime, insurer_id: int | None,
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
        PUBLISH_SQL.format(insurer_filter=flt, stamp=_STAMP_IN_STATEMENT if stamp else ""),
        {"from_id": first, "to_id": first + batch, "now": now, "insurer_id": insurer_id}).one()
    if unindexed:
        log.warning("qualifications %s have no current person version; not indexed", unindexed)
        conn.exec_driver_sql("DELETE FROM index_qualifications WHERE qualification_id = ANY(%(ids)s)",
                             {"ids": list(unindexed)})
    return n, first + batch, list(ids)


def _stamp(engine: Engine, ids: list[int], now: datetime) -> int:
    with engine.begin() as conn:
        return conn.exec_driver_sql(_STAMP_SQL, {"ids": ids, "now": now}).rowcount


def publish_all_pg(engine: Engine, *, batch: int, insurer_id: int | None,
                   progress: Callable[[int], None] | None) -> int:
    """:func:`onshi.exchange.publish.publish_all` on PostgreSQL, as a two-stage pipeline on two connections:
    while one batch is indexed (one statement, one transaction), the changes of the previous one are stamped
    ``published_at`` — a third of the work, on the other core.  A batch is stamped only after its index rows are
    committed; a crash in between leaves its changes pending and they are published again (rows are replaced, so
    the index ends the same).  Index writes stay in change order, one batch at a time."""
    from concurrent.futures import ThreadPoolExecutor

    total, after, batches, stamping = 0, 0, 0, None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="onshi-publish-stamp") as stamper:
        while after is not None:
            if batches % 100 == 0:  # the index grows as it is published: keep its statistics current too
                analyze_if_stale(engine)
            now = utcnow()
            with unit_of_work(engine) as s:
                _n, after, ids = publish_batch_pg(s, batch=batch, now=now, insurer_id=insurer_id,
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
