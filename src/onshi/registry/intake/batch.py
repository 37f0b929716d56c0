"""The 資格取得届 set-based path, portable form (一括取込): one chunk of a file at a time, checked against the
database with a few set-based queries and stored with bulk inserts (SQLAlchemy; the form used on SQLite).

The decisions stay in :mod:`onshi.registry.intake.acquisitions`; this module only answers its questions about the
database and stores the accepted rows.  Its PostgreSQL form (``COPY`` into a staging table, spread by
``INSERT … SELECT``) is :mod:`onshi.registry.intake.pg.bulk`; the test suite runs both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from onshi.registry.models import (
    Person,
    PersonVersion,
    Qualification,
    QualificationVersion,
    RegistryChange,
    RemunerationVersion,
    Role,
)
from onshi.store.db import allocate_id_blocks, bulk_insert
from onshi.store.history import current

IN_CHUNK = 1000  # parameters per IN (…) on SQLite


class Candidate(NamedTuple):
    """A valid 資格取得届 row whose insurer and employer are known (the staging table's data columns, in order)."""

    row_number: int
    my_number_hash: str | None
    my_number_enc: bytes | None
    row_hash: str
    insurer_id: int
    employer_id: int
    symbol: str
    number: str
    branch: str
    name: str
    name_kana: str
    birth_date: date
    sex: int
    postal_code: str | None
    address: str | None
    acquisition_date: date
    monthly_remuneration: int
    card_classification: str
    voluntary_continuation: bool


@dataclass
class Known:
    """What the database already holds about a chunk's candidates."""

    duplicates: set[str]  # row hashes already applied
    person_by_hash: dict[str, int]  # My Number hash -> person id
    losses: dict[tuple[int, int], list[date | None]]  # (person, insurer) -> loss dates of current qualifications
    in_use: set[tuple[int, str, str, str]]  # (insurer, 記号, 番号, 枝番) of open qualifications


@dataclass
class Accepted:
    """A row to store, and whose person it is (``candidate``: its values, where they are not staged)."""

    row_number: int
    person_id: int | None = None  # an existing person
    same_person_as: int | None = None  # the row number of an earlier row of this chunk creating the person
    candidate: Candidate | None = None



# ---------------------------------------------------------------- questions about the database

def look_up(session: Session, candidates: Sequence[Candidate]) -> Known:
    """Duplicates, known persons, their qualifications and numbers in use, for a chunk of candidates (SQLite)."""
    dup = existing_row_hashes(session, [c.row_hash for c in candidates])
    persons = persons_by_hash(session, [c.my_number_hash for c in candidates if c.my_number_hash])
    return Known(dup, persons, open_loss_dates(session, persons.values()),
                 numbers_in_use(session, [(c.insurer_id, c.symbol, c.number, c.branch) for c in candidates]))



def existing_row_hashes(session: Session, hashes: Sequence[str]) -> set[str]:
    """The row hashes (rows already applied) among *hashes*."""
    found: set[str] = set()
    for i in range(0, len(hashes), IN_CHUNK):
        found.update(session.scalars(select(RegistryChange.row_hash).where(
            RegistryChange.row_hash.in_(hashes[i:i + IN_CHUNK]))))
    return found


def persons_by_hash(session: Session, my_number_hashes: Sequence[str]) -> dict[str, int]:
    """Person ids of the My Number hashes onshi already knows."""
    out: dict[str, int] = {}
    for i in range(0, len(my_number_hashes), IN_CHUNK):
        out.update((h, pid) for pid, h in session.execute(select(Person.id, Person.my_number_hash).where(
            Person.my_number_hash.in_(my_number_hashes[i:i + IN_CHUNK]))))
    return out


def open_loss_dates(session: Session, person_ids: Iterable[int]) -> dict[tuple[int, int], list[date | None]]:
    """Loss dates (None = still open) of the current qualifications of *person_ids*, by (person, insurer)."""
    pids = sorted(set(person_ids))
    out: dict[tuple[int, int], list[date | None]] = {}
    qv = QualificationVersion
    for i in range(0, len(pids), IN_CHUNK):
        for pid, ins, loss in session.execute(select(qv.person_id, qv.insurer_id, qv.loss_date).where(
                current(qv), qv.person_id.in_(pids[i:i + IN_CHUNK]))):
            out.setdefault((pid, ins), []).append(loss)
    return out


def numbers_in_use(session: Session, keys: Iterable[tuple[int, str, str, str]]) -> set[tuple[int, str, str, str]]:
    """Which of the (insurer, 記号, 番号, 枝番) keys belong to an open qualification (not lost)."""
    keys = sorted(set(keys))
    qv = QualificationVersion
    found: set[tuple[int, str, str, str]] = set()
    step = IN_CHUNK // 4
    for i in range(0, len(keys), step):
        found.update(tuple(r) for r in session.execute(
            select(qv.insurer_id, qv.symbol, qv.number, qv.branch).where(
                current(qv), qv.loss_date.is_(None),
                tuple_(qv.insurer_id, qv.symbol, qv.number, qv.branch).in_(keys[i:i + step]))))
    return found


# ---------------------------------------------------------------- storing

def store(session: Session, accepted: Sequence[Accepted], *, file_id: int | None, received_at: datetime,
          now: datetime) -> dict[int, int]:
    """SQLite: store persons, person versions, qualifications, their versions, 標準報酬月額 and the changes (outbox).

    Returns the change id of each stored row number."""
    if not accepted:
        return {}
    new = [a for a in accepted if a.person_id is None and a.same_person_as is None]
    ids = allocate_id_blocks(session, {"persons": len(new), "qualifications": len(accepted),
                                       "registry_changes": len(accepted)})
    person_of_row = {a.row_number: pid for a, pid in zip(new, ids.get("persons", []))}
    persons, person_versions = [], []
    quals, qual_versions, remunerations, changes = [], [], [], []
    change_of_row: dict[int, int] = {}
    for a, qid, chid in zip(accepted, ids["qualifications"], ids["registry_changes"]):
        c = a.candidate
        pid = a.person_id or person_of_row.get(c.row_number) or person_of_row[a.same_person_as]
        change_of_row[c.row_number] = chid
        if c.row_number in person_of_row:
            persons.append({"id": pid, "my_number_hash": c.my_number_hash, "my_number_enc": c.my_number_enc,
                            "created_at": now})
            person_versions.append({
                "person_id": pid, "valid_from": c.birth_date, "valid_to": None, "recorded_at": now,
                "superseded_at": None, "name": c.name, "name_kana": c.name_kana, "birth_date": c.birth_date,
                "sex": c.sex, "postal_code": c.postal_code, "address": c.address, "change_id": None})
        quals.append({"id": qid, "person_id": pid, "insurer_id": c.insurer_id, "created_at": now})
        qual_versions.append({
            "qualification_id": qid, "recorded_at": now, "superseded_at": None, "person_id": pid,
            "insurer_id": c.insurer_id, "employer_id": c.employer_id, "role": Role.insured.value,
            "member_qualification_id": None, "symbol": c.symbol, "number": c.number, "branch": c.branch,
            "card_classification": c.card_classification, "acquisition_date": c.acquisition_date,
            "loss_date": None, "loss_reason": None, "voluntary_continuation": c.voluntary_continuation,
            "change_id": chid})
        remunerations.append({"qualification_id": qid, "valid_from": c.acquisition_date, "valid_to": None,
                              "recorded_at": now, "superseded_at": None,
                              "monthly_amount": c.monthly_remuneration, "change_id": chid})
        changes.append({"id": chid, "insurer_id": c.insurer_id, "kind": "acquisition", "row_hash": c.row_hash,
                        "file_id": file_id, "row_number": c.row_number if file_id else None,
                        "employer_id": c.employer_id, "person_id": pid, "qualification_id": qid,
                        "effective_date": c.acquisition_date, "received_at": received_at, "recorded_at": now,
                        "published_at": None, "note": None})
    session.flush()
    for table, data in ((Person, persons), (PersonVersion, person_versions), (Qualification, quals),
                        (QualificationVersion, qual_versions), (RemunerationVersion, remunerations),
                        (RegistryChange, changes)):
        bulk_insert(session, table.__table__, data)
    return change_of_row


