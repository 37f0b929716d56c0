"""The 資格取得届 (acquisition) applier: a chunk of rows at once, with set-based checks against the database
(numbers in use, open qualifications, persons known by My Number, duplicates) and one bulk store of every new row.

Decisions are made here, in file order, whatever the database; :mod:`onshi.registry.intake.batch` answers the
questions (its PostgreSQL fast path: :mod:`onshi.registry.intake.pg.bulk`, which stages the chunk with ``COPY`` and
sends back only the rows that need deciding).
"""

from __future__ import annotations

from collections.abc import Callable

from onshi.config import get_settings
from onshi.privacy.crypto import vault
from onshi.registry.intake import batch
from onshi.registry.intake.context import ApplyContext, Outcome, resolve_insurer_employer, row_hash
from onshi.registry.intake.pg import bulk as pg_bulk
from onshi.registry.intake.rows import ParsedRow
from onshi.registry.models import NotificationType
from onshi.rules.age import age_on
from onshi.store.db import is_postgres

T = NotificationType


def prepare_acquisition(r: ParsedRow) -> None:
    """The CPU-only part of a valid 資格取得届 row (no database): My Number hash and encryption, the row hash.

    Done while the previous chunk is being stored (see :mod:`onshi.registry.intake.importer`)."""
    v = vault()
    mn = r.values.get("my_number")
    r.my_number_hash = v.lookup_hash(mn) if mn else None
    r.my_number_enc = v.encrypt(mn) if mn else None
    r.row_hash = row_hash(T.acquisition, r.values, my_number_hash=r.my_number_hash)


def acquisition_candidate(ctx: ApplyContext, n: int, r: ParsedRow) -> batch.Candidate | None:
    """Insurer, employer and age checks of a valid 資格取得届 row; the row ready to stage, or None (``r`` failed)."""
    if r.row_hash is None:
        prepare_acquisition(r)
    insurer, employer = resolve_insurer_employer(ctx, r)
    vals = r.values
    if insurer and age_on(vals["birth_date"], vals["acquisition_date"]) >= 75:
        r.fail("birth_date", "資格取得日に75歳以上です: 後期高齢者医療の対象 (75 or older on acquisition)")
    if r.errors:
        return None
    return batch.Candidate(
        n, r.my_number_hash, r.my_number_enc, r.row_hash, insurer.id, employer.id, vals["employer_symbol"],
        vals["number"], vals["branch"], vals["name"], vals["name_kana"], vals["birth_date"], vals["sex"],
        vals["postal_code"], vals["address"], vals["acquisition_date"], vals["monthly_remuneration"],
        vals.get("card_classification") or "01", bool(vals.get("voluntary_continuation")))


def decide_acquisitions(items, known: batch.Known) -> tuple[dict[int, Outcome], list[batch.Accepted]]:
    """The checks against the database and the rest of the chunk, in file order.

    *items* are ``(row, ParsedRow)`` where ``row`` has row_number, row_hash, my_number_hash, insurer_id, symbol, number,
    branch and acquisition_date.  Returns the outcomes of rows not accepted, and the accepted rows."""
    outcomes: dict[int, Outcome] = {}
    accepted: list[batch.Accepted] = []
    seen_hash: set[str] = set()
    chunk_open: set[tuple[str, int]] = set()
    first_row_of: dict[str, int] = {}  # My Number hash -> the row creating that person in this chunk
    for c, r in items:
        n = c.row_number
        if c.row_hash in known.duplicates or c.row_hash in seen_hash:
            outcomes[n] = Outcome(n, "duplicate")
            continue
        key = (c.insurer_id, c.symbol, c.number, c.branch)
        if key in known.in_use:
            r.fail("number", "この記号・番号・枝番は別の加入者が使用中です (numbers already in use)")
        h = c.my_number_hash
        pid = known.person_by_hash.get(h) if h else None
        if h:
            if pid and any(loss is None or loss > c.acquisition_date
                           for loss in known.losses.get((pid, c.insurer_id), ())):
                r.fail("my_number", "同じ保険者で喪失していない資格があります (this person already has an open "
                                    "qualification with this insurer)")
            if (h, c.insurer_id) in chunk_open:
                r.fail("my_number", "同じファイル内で同じ人が二度取得しています (same person twice in this file)")
        if r.errors:
            outcomes[n] = Outcome(n, "rejected", r.errors)
            continue
        seen_hash.add(c.row_hash)
        known.in_use.add(key)
        a = batch.Accepted(n, person_id=pid, candidate=c if isinstance(c, batch.Candidate) else None)
        if h:
            chunk_open.add((h, c.insurer_id))
            if pid is None:  # new to onshi: one person row even when the file enrols them with two insurers
                if h in first_row_of:
                    a.same_person_as = first_row_of[h]
                else:
                    first_row_of[h] = n
        accepted.append(a)
    return outcomes, accepted


def store_staged_chunk(ctx: ApplyContext, row_for: Callable[[pg_bulk.Exceptional], ParsedRow], *,
                  change_ids: bool = True) -> tuple[dict[int, Outcome], int]:
    """PostgreSQL: decide the staged chunk's exceptional rows (*row_for* gives their parsed row), store the rest.

    Returns the outcomes (of every staged row; with ``change_ids=False`` of the rows not stored only) and how many
    rows were stored."""
    session = ctx.session
    ex = pg_bulk.exceptional(session)
    persons = {e.my_number_hash: e.person_id for e in ex if e.person_id is not None}
    known = batch.Known(duplicates={e.row_hash for e in ex if e.duplicate}, person_by_hash=persons,
                       losses=batch.open_loss_dates(session, persons.values()),
                       in_use={(e.insurer_id, e.symbol, e.number, e.branch) for e in ex if e.in_use})
    outcomes, accepted = decide_acquisitions([(e, row_for(e)) for e in ex], known)
    stored = pg_bulk.store_staged(
        session, drop=list(outcomes), known=[(a.row_number, a.person_id) for a in accepted if a.person_id],
        same=[(a.row_number, a.same_person_as) for a in accepted if a.same_person_as],
        file_id=ctx.file_id, received_at=ctx.received_at, now=ctx.now,
        set_based_references=get_settings().intake_set_based_references, change_ids=change_ids)
    if not change_ids:
        return outcomes, stored
    for n, chid in stored.items():
        outcomes[n] = Outcome(n, "applied", change_id=chid)
    return outcomes, len(stored)


def apply_acquisitions(ctx: ApplyContext, rows: list[tuple[int, ParsedRow]]) -> list[Outcome]:
    """Bulk path for 資格取得届: set-based checks against the database, then one bulk store of every new row."""
    session = ctx.session
    outcomes: dict[int, Outcome] = {}
    ctx.load_employers((r.values["insurer_number"], r.values["employer_symbol"]) for _, r in rows)
    candidates: list[batch.Candidate] = []
    row_of: dict[int, ParsedRow] = {}
    for n, r in rows:
        c = acquisition_candidate(ctx, n, r)
        if c is None:
            outcomes[n] = Outcome(n, "rejected", r.errors)
        else:
            candidates.append(c)
            row_of[n] = r
    session.flush()
    if candidates and is_postgres(session):
        pg_bulk.stage(session, candidates)
        outcomes.update(store_staged_chunk(ctx, lambda e: row_of[e.row_number])[0])
    elif candidates:
        decided, accepted = decide_acquisitions([(c, row_of[c.row_number]) for c in candidates],
                                                 batch.look_up(session, candidates))
        outcomes.update(decided)
        changes = batch.store(session, accepted, file_id=ctx.file_id, received_at=ctx.received_at, now=ctx.now)
        for n, chid in changes.items():
            outcomes[n] = Outcome(n, "applied", change_id=chid)
    return [outcomes[n] for n, _ in rows]

