"""The verification index read for a whole outage list at once (read-only).

:mod:`onshi.exchange.index` reads the index one request at a time (by numbers, by a person); an outage list of
10,000 patients needs the candidates of all of them in a few statements.  This module reads the same table
(:class:`onshi.exchange.models.IndexedQualification`, the index *as registered* now) with joins over a block of
typed records, and the people's every row as :func:`onshi.exchange.index.qualifications_of_persons` reads them
(fewer columns).  It writes nothing.  (A candidate for ``exchange.index`` itself; kept here so that module stays
as it is.)

* :func:`by_numbers` — rows with a record's 保険者番号・記号・番号 (枝番) and birth date (the index's number index);
* :func:`by_birth_and_name` — rows with a record's birth date and sex and its name or フリガナ as stored (both
  sides in the forms of ``registry.fields.parse_name`` / ``parse_kana``) — on PostgreSQL a hash join of the list with
  one sequential scan of the index per 10,000 records (the index has no birth-date index; docs/performance.md);
  records that find nobody that way are looked up again by birth date alone and compared in Python with the folding
  of :mod:`onshi.outage.matching` (a name typed without its space, small kana written large, a sex typed wrong).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Date, Integer, String, and_, column, func, or_, select, text, values
from sqlalchemy.orm import Session

from onshi.exchange import index
from onshi.exchange.models import IndexedQualification as IQ
from onshi.outage.matching import Typed

BLOCK = 5000
#: what matching needs of an index row (the answer's columns without the JSON ones: 10,000 patients' candidates
#: are tens of thousands of rows, and decoding their 標準報酬 and 限度額 JSON was most of the time)
MATCH_COLUMNS = ("qualification_id", "person_id", "insurer_number", "insurer_name", "symbol", "number", "branch",
                 "name", "name_kana", "birth_date", "sex", "address", "acquisition_date", "loss_date")
COLUMNS = [IQ.__table__.c[c] for c in MATCH_COLUMNS if c in index.ANSWER_COLUMNS]


def _pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _cols(prefix: str = "iq.") -> str:
    return ", ".join(prefix + c for c in MATCH_COLUMNS)


def _pg_rows(session: Session, sql: str, params: dict) -> dict[int, list]:
    out: dict[int, list] = {}
    for row in session.execute(text(sql), params):
        out.setdefault(row.k, []).append(row)
    return out


def _pg_values(session: Session, columns: str, rows: list[tuple], select_sql: str,
               block: int = 10000) -> dict[int, list]:
    """*select_sql* run over ``p`` — *rows* as a VALUES list with *columns* (``"k int, bd date"``) — on the driver
    (a statement of 40,000 placeholders costs SQLAlchemy's compiler seconds; psycopg sends it as it is)."""
    names = [c.split()[0] for c in columns.split(",")]
    casts = [c.split()[1] for c in columns.split(",")]
    out: dict[int, list] = {}
    for part in blocks(rows, block):
        first = "(" + ", ".join(f"%s::{c}" for c in casts) + ")"
        other = "(" + ", ".join(["%s"] * len(casts)) + ")"
        sql = (f"WITH p({', '.join(names)}) AS (SELECT * FROM (VALUES {first}"
               + f", {other}" * (len(part) - 1) + ") v) " + select_sql.strip())
        for row in session.connection().exec_driver_sql(sql, tuple(x for r in part for x in r)):
            out.setdefault(row.k, []).append(row)
    return out


def blocks(items: Sequence, size: int = BLOCK):
    return (items[i:i + size] for i in range(0, len(items), size))


def by_numbers(session: Session, typed: Sequence[tuple[int, Typed]]) -> dict[int, list]:
    """record key -> index rows with its numbers and birth date (枝番 when typed)."""
    out: dict[int, list] = {}
    todo = [(k, t) for k, t in typed if t.has_numbers]
    if _pg(session):  # the whole list as arrays: one statement, nothing to compile per value
        return _pg_rows(session, f"""
            SELECT p.k, {_cols()} FROM unnest(CAST(:k AS int[]), CAST(:ins AS text[]), CAST(:sym AS text[]),
                   CAST(:num AS text[]), CAST(:br AS text[]), CAST(:bd AS date[])) AS p(k, ins, sym, num, br, bd)
            JOIN index_qualifications iq ON iq.insurer_number = p.ins AND iq.symbol = p.sym AND iq.number = p.num
                 AND iq.birth_date = p.bd AND (p.br = '' OR iq.branch = p.br)""",
            {"k": [k for k, _ in todo], "ins": [t.insurer_number for _, t in todo],
             "sym": [t.symbol or "" for _, t in todo], "num": [t.number for _, t in todo],
             "br": [t.branch or "" for _, t in todo], "bd": [t.birth_date for _, t in todo]}) if todo else {}
    for block in blocks(todo):
        p = values(column("k", Integer), column("ins", String), column("sym", String), column("num", String),
                   column("br", String), column("bd", Date), name="p").data(
            [(k, t.insurer_number, t.symbol or "", t.number, t.branch or "", t.birth_date) for k, t in block]).cte("p")
        q = select(p.c.k, *COLUMNS).join(IQ, and_(
            IQ.insurer_number == p.c.ins, IQ.symbol == p.c.sym, IQ.number == p.c.num, IQ.birth_date == p.c.bd,
            or_(p.c.br == "", IQ.branch == p.c.br)))
        for row in session.execute(q):
            out.setdefault(row.k, []).append(row)
    return out


def by_birth_and_name(session: Session, typed: Sequence[tuple[int, Typed]]) -> dict[int, list]:
    """record key -> index rows with its birth date and sex whose name or kana is the typed one (as stored); for the
    records that find nobody so, every row of the same birth date (compared by the caller, folded: a name typed
    without its space, a sex typed wrong)."""
    if _pg(session):
        # VALUES in the statement, not unnest(): with a function scan PostgreSQL hashed the whole index instead of
        # the list (8 s instead of 2 s at 1,000,000 members); plain equality on the names as stored (parse_kana /
        # parse_name forms), so the join filter compares strings instead of computing replace() 7 million times
        out = _pg_values(session, "k int, bd date, sx int, kana text, nm text", [
            (k, t.birth_date, t.sex, t.name_kana, t.name) for k, t in typed], f"""
            SELECT p.k, {_cols()} FROM p JOIN index_qualifications iq ON iq.birth_date = p.bd AND iq.sex = p.sx
                 AND (iq.name_kana = p.kana OR iq.name = p.nm)""")
        rest = [(k, t) for k, t in typed if k not in out]
        out.update(_pg_values(session, "k int, bd date", [(k, t.birth_date) for k, t in rest], f"""
            SELECT p.k, {_cols()} FROM p JOIN index_qualifications iq ON iq.birth_date = p.bd"""))
        return out
    out: dict[int, list] = {}
    for block in blocks(list(typed)):
        p = values(column("k", Integer), column("bd", Date), column("sx", Integer), column("kana", String),
                   column("nm", String), name="p").data(
            [(k, t.birth_date, t.sex, t.name_kana, t.name) for k, t in block]).cte("p")
        q = select(p.c.k, *COLUMNS).join(IQ, and_(IQ.birth_date == p.c.bd, IQ.sex == p.c.sx,
                                                  or_(IQ.name_kana == p.c.kana, IQ.name == p.c.nm)))
        for row in session.execute(q):
            out.setdefault(row.k, []).append(row)
    rest = [(k, t) for k, t in typed if k not in out]
    for block in blocks(rest):
        p = values(column("k", Integer), column("bd", Date), name="p").data(
            [(k, t.birth_date) for k, t in block]).cte("p")
        q = select(p.c.k, *COLUMNS).join(IQ, IQ.birth_date == p.c.bd)
        for row in session.execute(q):
            out.setdefault(row.k, []).append(row)
    return out


def rows_of_persons(session: Session, person_ids) -> dict[int, list]:
    """person id -> every registered qualification of theirs (the rows ``exchange.index.qualifications_of_persons``
    reads, with :data:`MATCH_COLUMNS` only)."""
    out: dict[int, list] = {}
    if _pg(session):
        for row in session.execute(text(f"SELECT {_cols('')} FROM index_qualifications "
                                        "WHERE person_id = ANY(CAST(:ids AS bigint[]))"), {"ids": sorted(set(person_ids))}):
            out.setdefault(row.person_id, []).append(row)
        return out
    for block in blocks(sorted(set(person_ids)), 5000):
        for row in session.execute(select(*COLUMNS).where(IQ.person_id.in_(block))):
            out.setdefault(row.person_id, []).append(row)
    return out


def members_by_insurer(session: Session, day: date) -> dict[tuple[str, str], int]:
    """(保険者番号, 保険者名) -> registered qualifications in force on *day*: the weights of the apportionment."""
    q = (select(IQ.insurer_number, IQ.insurer_name, func.count()).where(
        IQ.acquisition_date <= day, or_(IQ.loss_date.is_(None), IQ.loss_date > day))
        .group_by(IQ.insurer_number, IQ.insurer_name))
    return {(n, name): c for n, name, c in session.execute(q)}
