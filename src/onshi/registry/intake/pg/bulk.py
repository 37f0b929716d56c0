"""Fast path of onshi.registry.intake.batch (look_up, store); held equal by tests/registry/test_intake.py, run on both.

The 資格取得届 set-based path on PostgreSQL, one chunk of a file at a time.  The decisions stay in
:mod:`onshi.registry.intake.acquisitions`; this module only answers its questions about the database and stores
the accepted rows, with raw psycopg, arrays and ``COPY``.

Storing on PostgreSQL: the chunk's accepted rows are ``COPY``-ed once into a temporary staging table and
spread into the six registry tables by six ``INSERT … SELECT`` statements, with the timestamps and
constants as parameters, so each value is parsed once.  *Checked references* (外部キーの一括検査): a foreign
key checks each inserted row with its own trigger query and row lock (measured: 31 µs of PostgreSQL time per
acquisition, more than everything else the database does for it).  When the database role may set
``session_replication_role`` (a superuser, or ``GRANT SET ON PARAMETER session_replication_role`` on
PostgreSQL 15+), those per-row triggers are switched off for exactly the six statements and replaced by what
they would have done, done once for the chunk: the referenced insurers, employers and existing persons are
locked ``FOR KEY SHARE`` and one anti-join proves that every stored row's references exist — any miss aborts
the file.  Without the privilege the foreign keys check every row as usual (slower, same result).
``ONSHI_INTAKE_SET_BASED_REFERENCES=false`` keeps the per-row triggers on purpose.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from onshi.registry.intake.batch import Candidate

_TYPES = ("int", "bytea", "bytea", "bytea", "bigint", "bigint", "text", "text", "text", "text", "text", "date", "int",
          "text", "text", "date", "int", "text", "boolean")
# The staging table: a candidate's values, then the ids it will get.  The raw row is not staged: the few rows a check
# against the database rejects take it from the reading side (intake), which still has it.
STAGE_COLUMNS = (*Candidate._fields, "shares_key")
_STAGE = "onshi_acquisition_stage"


def _pg(session: Session):
    return session.connection().connection.driver_connection


def sharing(keys: Sequence[tuple[str, Any, str | None]]) -> list[bool]:
    """For each row of a chunk, given as ``(row hash, numbers, My Number hash)``, whether another row of the chunk
    has the same row hash, the same numbers (保険者・記号・番号・枝番) or the same My Number: such rows are decided
    one by one, in file order (staged as ``shares_key``; worked out where the rows are made, not in the database).

    >>> sharing([("a", 1, None), ("b", 2, None), ("c", 1, "m"), ("d", 3, "m"), ("e", 4, "x")])
    [True, False, True, True, False]
    """
    hashes = Counter(h for h, _, _ in keys)
    numbers = Counter(n for _, n, _ in keys)
    persons = Counter(m for _, _, m in keys if m is not None)
    return [hashes[h] > 1 or numbers[n] > 1 or (m is not None and persons[m] > 1) for h, n, m in keys]


_JIT_KEY = "onshi.bulk.jit"


def restore_jit(session: Session) -> None:
    """Put back the JIT setting :func:`stage` turned off, for the rest of the caller's transaction (a rolled-back
    transaction needs nothing: the setting was local to it)."""
    if _JIT_KEY in session.info:
        with _pg(session).cursor() as cur:
            cur.execute("SELECT set_config('jit', %s, true)", (session.info.pop(_JIT_KEY),))


def stage(session: Session, candidates: Sequence[Candidate] = (), payload: Iterable[bytes] = ()) -> None:
    """PostgreSQL: put a chunk into the staging table, as candidates or as ``COPY`` text lines already made (with
    their ``shares_key`` flag, see :func:`sharing`)."""
    with _pg(session).cursor() as cur:
        cols = ", ".join(f"{name} {kind}" for name, kind in zip(STAGE_COLUMNS, (*_TYPES, "boolean")))
        # the sequences by name, found once: a default of nextval(pg_get_serial_sequence(…)) would look the name up
        # again for every row (measured: 10 µs per row, half the cost of staging it)
        cur.execute("SELECT quote_literal(pg_get_serial_sequence('persons', 'id')), "
                    "quote_literal(pg_get_serial_sequence('qualifications', 'id')), "
                    "quote_literal(pg_get_serial_sequence('registry_changes', 'id'))")
        persons, qualifications, changes = cur.fetchone()
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} ({cols}, "
                    f"person_id bigint DEFAULT nextval({persons}::regclass), "
                    f"qualification_id bigint DEFAULT nextval({qualifications}::regclass), "
                    f"change_id bigint DEFAULT nextval({changes}::regclass), "
                    "new_person boolean DEFAULT true) ON COMMIT DROP")
        cur.execute(f"TRUNCATE {_STAGE}")
        # the index probes below add up to a plan cost that invites JIT compilation: 25 ms per chunk, for nothing.
        # Off for this transaction only; the caller's setting is kept and put back by restore_jit().
        cur.execute("SELECT current_setting('jit'), set_config('jit', 'off', true)")
        session.info.setdefault(_JIT_KEY, cur.fetchone()[0])
        with cur.copy(f"COPY {_STAGE} ({', '.join(STAGE_COLUMNS)}) FROM STDIN") as copy:
            shared = sharing([(c.row_hash, (c.insurer_id, c.symbol, c.number, c.branch), c.my_number_hash)
                              for c in candidates])
            for c, flag in zip(candidates, shared):  # the digests as bytes, as the tables hold them
                copy.write_row((c.row_number, c.my_number_hash and bytes.fromhex(c.my_number_hash), c.my_number_enc,
                                bytes.fromhex(c.row_hash), *c[4:], flag))
            for block in payload:
                copy.write(block)


class Exceptional(NamedTuple):
    """A staged row that shares a key with another row of its chunk or meets something already in the database."""

    row_number: int
    row_hash: str
    my_number_hash: str | None
    insurer_id: int
    symbol: str
    number: str
    branch: str
    acquisition_date: date
    duplicate: bool  # its row hash is already applied
    in_use: bool  # its numbers belong to an open qualification
    person_id: int | None  # the person its My Number already belongs to


# Every other staged row is accepted as is (a new person, nothing shared): the decisions run on these only.
# A row can only be a duplicate (its row hash applied already) if its person exists: the row hash covers the My Number
# hash, and a person's My Number hash is set when the person is created and never changed.  So the row hash is looked
# up only for rows without a My Number or whose person exists (a one-time filter per row), not for every new person.
_EXCEPTIONAL = f"""
SELECT s.row_number, s.row_hash, s.my_number_hash, s.insurer_id, s.symbol, s.number, s.branch, s.acquisition_date,
       d.hit IS NOT NULL, u.hit IS NOT NULL, p.id
FROM {_STAGE} s
LEFT JOIN LATERAL (SELECT p.id FROM persons p WHERE p.my_number_hash = s.my_number_hash LIMIT 1) p ON true
LEFT JOIN LATERAL (SELECT 1 AS hit FROM registry_changes r WHERE r.row_hash = s.row_hash
                   AND (s.my_number_hash IS NULL OR p.id IS NOT NULL) LIMIT 1) d ON true
LEFT JOIN LATERAL (SELECT 1 AS hit FROM qualification_versions q WHERE q.insurer_id = s.insurer_id
                   AND q.symbol = s.symbol AND q.number = s.number AND q.branch = s.branch
                   AND q.superseded_at IS NULL AND q.loss_date IS NULL LIMIT 1) u ON true
WHERE s.shares_key OR d.hit IS NOT NULL OR u.hit IS NOT NULL OR p.id IS NOT NULL
ORDER BY s.row_number"""
# LATERAL … LIMIT 1: one index probe per staged row, whatever the planner believes about table sizes (inside a big
# import the statistics still describe the tables as they were before it, inviting full scans).


def exceptional(session: Session) -> list[Exceptional]:
    """PostgreSQL: the staged rows the decisions must look at, in file order."""
    with _pg(session).cursor() as cur:
        cur.execute(_EXCEPTIONAL)
        return [Exceptional(n, row_hash.hex(), my_number_hash and my_number_hash.hex(), *rest)
                for n, row_hash, my_number_hash, *rest in cur]



class MissingReference(RuntimeError):
    """A stored row would reference a missing insurer, employer, person or file: nothing of the file is applied."""


_SPREAD = (
    "INSERT INTO persons (id, my_number_hash, my_number_enc, created_at) "
    "SELECT person_id, my_number_hash, my_number_enc, %(now)s FROM {stage} WHERE new_person",
    "INSERT INTO person_versions (person_id, valid_from, recorded_at, name, name_kana, birth_date, sex, postal_code, "
    "address) SELECT person_id, birth_date, %(now)s, name, name_kana, birth_date, sex, postal_code, address "
    "FROM {stage} WHERE new_person",
    "INSERT INTO qualifications (id, person_id, insurer_id, created_at) "
    "SELECT qualification_id, person_id, insurer_id, %(now)s FROM {stage}",
    "INSERT INTO qualification_versions (qualification_id, recorded_at, person_id, insurer_id, employer_id, role, "
    "symbol, number, branch, card_classification, acquisition_date, voluntary_continuation, change_id) "
    "SELECT qualification_id, %(now)s, person_id, insurer_id, employer_id, 'insured', symbol, number, branch, "
    "card_classification, acquisition_date, voluntary_continuation, change_id FROM {stage}",
    "INSERT INTO remuneration_versions (qualification_id, valid_from, recorded_at, monthly_amount, change_id) "
    "SELECT qualification_id, acquisition_date, %(now)s, monthly_remuneration, change_id FROM {stage}",
    "INSERT INTO registry_changes (id, insurer_id, kind, row_hash, file_id, row_number, employer_id, person_id, "
    "qualification_id, effective_date, received_at, recorded_at) "
    "SELECT change_id, insurer_id, 'acquisition', row_hash, %(file_id)s, "
    "CASE WHEN %(file_id)s::bigint IS NULL THEN NULL ELSE row_number END, employer_id, person_id, "
    "qualification_id, acquisition_date, %(received_at)s, %(now)s FROM {stage}",
)

# What the foreign keys' triggers would prove, for the whole chunk at once: the insurers and employers named, the
# persons found (not created from this chunk), and the file.  Rows created from the chunk reference each other
# by construction (the same staging row feeds both sides).
_REFERENCES = (
    "SELECT 'insurer', x.id FROM (SELECT DISTINCT insurer_id AS id FROM {stage}) x "
    "WHERE NOT EXISTS (SELECT 1 FROM insurers i WHERE i.id = x.id) "
    "UNION ALL SELECT 'employer', x.id FROM (SELECT DISTINCT employer_id AS id FROM {stage}) x "
    "WHERE NOT EXISTS (SELECT 1 FROM employers e WHERE e.id = x.id) "
    "UNION ALL SELECT 'person', x.id FROM (SELECT DISTINCT person_id AS id FROM {stage} WHERE NOT new_person) x "
    "WHERE NOT EXISTS (SELECT 1 FROM persons p WHERE p.id = x.id) "
    "UNION ALL SELECT 'file', %(file_id)s::bigint WHERE %(file_id)s::bigint IS NOT NULL "
    "AND NOT EXISTS (SELECT 1 FROM intake_files f WHERE f.id = %(file_id)s) "
    "LIMIT 1"
)


def _may_skip_triggers(cur) -> bool:
    """Whether this role may set ``session_replication_role`` (tried inside a savepoint)."""
    import psycopg

    cur.execute("SAVEPOINT onshi_replication_role")
    try:
        cur.execute("SET LOCAL session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:  # keep the per-row triggers
        cur.execute("ROLLBACK TO SAVEPOINT onshi_replication_role")
        return False
    cur.execute("RELEASE SAVEPOINT onshi_replication_role")
    return True


def store_staged(session: Session, *, drop: Sequence[int], known: Sequence[tuple[int, int]],
                 same: Sequence[tuple[int, int]], file_id: int | None, received_at: datetime, now: datetime,
                 set_based_references: bool = True, change_ids: bool = True) -> dict[int, int] | int:
    """PostgreSQL: store the staged chunk but the *drop* rows (rejected, duplicates); *known* rows belong to an existing
    person, *same* rows to the person created by an earlier row of the chunk.  Returns change ids by row number, or
    with ``change_ids=False`` only how many rows were stored (a large file's report needs no more)."""
    params: dict[str, Any] = {"now": now, "received_at": received_at, "file_id": file_id}
    with _pg(session).cursor() as cur:
        if drop:
            cur.execute(f"DELETE FROM {_STAGE} WHERE row_number = ANY(%s)", (list(drop),))
        if known:
            cur.execute(f"UPDATE {_STAGE} s SET person_id = m.person_id, new_person = false "
                        "FROM unnest(%s::int[], %s::bigint[]) AS m(row_number, person_id) "
                        "WHERE s.row_number = m.row_number", [list(x) for x in zip(*known)])
        if same:
            cur.execute(f"UPDATE {_STAGE} s SET person_id = f.person_id, new_person = false "
                        f"FROM unnest(%s::int[], %s::int[]) AS m(row_number, first), {_STAGE} f "
                        "WHERE s.row_number = m.row_number AND f.row_number = m.first", [list(x) for x in zip(*same)])
        skipping = set_based_references and _may_skip_triggers(cur)
        try:
            if skipping:
                # the locks the foreign-key triggers would take, once per referenced row
                for table, column, where in (("insurers", "insurer_id", ""), ("employers", "employer_id", ""),
                                             ("persons", "person_id", " WHERE NOT new_person")):
                    cur.execute(f"SELECT 1 FROM {table} WHERE id IN (SELECT {column} FROM {_STAGE}{where}) "
                                "FOR KEY SHARE")
            for statement in _SPREAD:
                cur.execute(statement.format(stage=_STAGE), params)
            stored = cur.rowcount  # the last statement stores one change per row
            if skipping:
                cur.execute(_REFERENCES.format(stage=_STAGE), params)
                bad = cur.fetchone()
                if bad is not None:
                    raise MissingReference(f"{bad[0]} {bad[1]} does not exist: a stored row would reference it; "
                                           "nothing was applied")
        finally:
            if skipping:
                cur.execute("SET LOCAL session_replication_role = origin")
        if not change_ids:
            return stored
        cur.execute(f"SELECT row_number, change_id FROM {_STAGE}")
        return dict(cur.fetchall())

