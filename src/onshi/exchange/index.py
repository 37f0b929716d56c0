"""Reading the verification index (資格確認の照会): the rows of the people a verification matches.

The index is written by :mod:`onshi.exchange.publish` (what insurers registered, one row per qualification); this
module reads it, so the table's readers and writer sit side by side (the verification service and レセプト振替
read it only through here).  :func:`matching_rows` is the index part
of the one statement a verification reads with — every index row of the people the request matches, each with
``matched`` and ``blocked`` (照会停止: the rule of :func:`onshi.exchange.linkage.is_blocked`); the verification
service adds its own columns (consents, 照会番号) and the institution's row around it.  With ``replay=True`` the
same statement reads the index *as registered at* the parameter ``registered_at`` (:func:`registered_rows`: the
current rows registered by then and the history rows in force then — docs/replay.md).  :func:`fetch_all` runs
such a statement — on PostgreSQL with psycopg compiled once and executed on the driver's cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from datetime import date
from functools import lru_cache

from sqlalchemy import ARRAY, BigInteger, Table, and_, any_, cast, bindparam, exists, func, or_, select, true, union_all
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from onshi.exchange.models import IndexedQualification, IndexedQualificationHistory, IndexEpoch, LinkageCheck

__all__ = ["ANSWER_COLUMNS", "LOOKUP_FORMS", "matching_rows", "DriverStatement", "fetch_all",
           "qualifications_by_numbers", "qualifications_of_persons", "registered_rows", "registered_by",
           "registered_qualifications_by_numbers", "registered_qualifications_of_persons", "first_registration"]

#: the index columns an answer is built from
ANSWER_COLUMNS = ("qualification_id", "person_id", "insurer_number", "insurer_name", "symbol", "number", "branch",
                  "role", "card_classification", "name", "name_kana", "insured_name", "birth_date",
                  "member_birth_date", "sex", "postal_code", "address", "acquisition_date", "loss_date",
                  "loss_reason", "remuneration", "limit_certificates")

#: how a verification finds people: by the card numbers (without or with 枝番), or by the person of a card
LOOKUP_FORMS = ("numbers", "numbers_branch", "person")


def registered_rows(name: str = "iq"):
    """The index as registered at the bound parameter ``registered_at`` (transaction time), as a subquery with
    the columns of :data:`ANSWER_COLUMNS`: the current rows registered by then, and the history rows registered
    by then and superseded after it."""
    iq, h = IndexedQualification.__table__, IndexedQualificationHistory.__table__
    at = bindparam("registered_at")
    return union_all(
        select(*(iq.c[c] for c in ANSWER_COLUMNS)).where(iq.c.registered_at <= at),
        select(*(h.c[c] for c in ANSWER_COLUMNS)).where(h.c.registered_at <= at, h.c.superseded_at > at),
    ).subquery(name)


def first_registration():
    """The deployment's first registration (:class:`onshi.exchange.models.IndexEpoch`) as a scalar subquery."""
    ep = IndexEpoch.__table__
    return select(ep.c.first_registered_at).where(ep.c.id == 1).scalar_subquery()


def registered_by(conn: Connection, at) -> bool:
    """Whether anything had been registered in the index by *at* (a replay before the deployment's first
    registration has no answer): :class:`onshi.exchange.models.IndexEpoch`, one primary-key read."""
    first = conn.execute(select(first_registration())).scalar()
    return first is not None and first <= at


def matching_rows(by: str, extra_columns: Callable[[Table], Iterable[ColumnElement]] = lambda iq: (),
                  replay: bool = False, dialect: str = ""):
    """Every index row of the people a request matches, as a subquery ``r``.

    *by* is ``"numbers"``, ``"numbers_branch"`` (枝番 given) or ``"person"`` (a card).  Columns:
    :data:`ANSWER_COLUMNS`, ``matched`` (the row itself matches the request — the others of the same people
    decide 無効（新しい資格あり）), ``blocked`` (the person's latest 紐付け check is an uncleared mismatch), then
    ``extra_columns(index_table)`` — labelled columns the caller correlates with the index row.
    Parameters: ``person_id``, or ``insurer_number``, ``symbol``, ``number``, ``birth_date`` (, ``branch``);
    with *replay* also ``registered_at``: the rows and the 紐付け block as they stood then (*dialect*: the
    statement's database, which decides how the people are found in the union).
    """
    if by not in LOOKUP_FORMS:
        raise ValueError(f"by must be one of {', '.join(LOOKUP_FORMS)}, not {by!r}")
    iq = registered_rows() if replay else IndexedQualification.__table__
    lc = LinkageCheck.__table__
    if by == "person":
        where = iq.c.person_id == bindparam("person_id")
        matched = true()
    else:
        m = registered_rows("m") if replay else iq.alias("m")

        def numbers(t):
            conds = [t.c.insurer_number == bindparam("insurer_number"), t.c.symbol == bindparam("symbol"),
                     t.c.number == bindparam("number"), t.c.birth_date == bindparam("birth_date")]
            if by == "numbers_branch":
                conds.append(t.c.branch == bindparam("branch"))
            return and_(*conds)

        if replay and dialect == "postgresql":
            # an IN over the union made PostgreSQL hash-join the whole index (27 ms at 20,000 rows): the people
            # as one array (an InitPlan) let each branch of the union use its person index
            people = select(func.array_agg(m.c.person_id)).where(numbers(m)).scalar_subquery()
            where = iq.c.person_id == any_(cast(people, ARRAY(BigInteger)))
        else:
            where = iq.c.person_id.in_(select(m.c.person_id).where(numbers(m)))
        matched = numbers(iq)
    if replay:  # the latest check made by then, undecided then
        at = bindparam("registered_at")
        blocked = (select(and_(lc.c.status == "mismatch", or_(lc.c.decision.is_(None), lc.c.decided_at > at)))
                   .where(lc.c.person_id == iq.c.person_id, lc.c.checked_at <= at)
                   .order_by(lc.c.checked_at.desc(), lc.c.id.desc()).limit(1).scalar_subquery())
    else:
        blocked = (select(and_(lc.c.status == "mismatch", lc.c.decision.is_(None)))
                   .where(lc.c.person_id == iq.c.person_id)
                   .order_by(lc.c.checked_at.desc(), lc.c.id.desc()).limit(1).scalar_subquery())
    return select(*(iq.c[c] for c in ANSWER_COLUMNS), matched.label("matched"), blocked.label("blocked"),
                  *extra_columns(iq)).where(where).subquery("r")


class DriverStatement:
    """A Core SELECT compiled once for PostgreSQL and run on the driver's cursor, as a prepared statement.

    SQLAlchemy's per-execution work (cache key, parameter processing, result metadata from 27 column
    descriptions) is about as much CPU as the round trip itself; psycopg already returns the Python types the
    answer needs (dates, booleans, parsed JSON).  Rows are named tuples with the statement's column keys.
    """

    def __init__(self, stmt, dialect):
        from collections import namedtuple

        compiled = stmt.compile(dialect=dialect)
        self.sql = compiled.string
        self.fixed = {k: v for k, v in compiled.construct_params(_check=False).items() if v is not None}
        self.row = namedtuple("IndexRow", list(stmt.selected_columns.keys()))

    def all(self, conn: Connection, params: dict) -> list:
        from sqlalchemy.exc import DBAPIError

        driver = conn.connection.driver_connection
        try:
            with driver.cursor() as cur:
                cur.execute(self.sql, {**self.fixed, **params}, prepare=True)
                return [self.row._make(r) for r in cur.fetchall()]
        except driver.Error as exc:  # as SQLAlchemy would raise it, so that callers see one kind of error
            broken = bool(getattr(driver, "broken", False) or driver.closed)
            if broken:
                conn.invalidate(exc)
            raise DBAPIError.instance(self.sql, params, exc, type(driver).Error, connection_invalidated=broken,
                                      dialect=conn.dialect) from exc


@lru_cache(maxsize=None)
def _driver_statement(stmt, dialect) -> DriverStatement:
    return DriverStatement(stmt, dialect)


def fetch_all(conn: Connection, stmt, params: dict) -> list:
    """The rows of *stmt* (built once and reused: it is the cache key); on psycopg through :class:`DriverStatement`."""
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        return _driver_statement(stmt, conn.dialect).all(conn, params)
    return conn.execute(stmt, params).all()


def qualifications_by_numbers(session: Session, *, insurer_number: str, symbol: str, number: str,
                              branch: str | None, birth_date: date) -> list[IndexedQualification]:
    """The registered qualifications with these card numbers and birth date (every 枝番 when *branch* is empty)."""
    q = select(IndexedQualification).where(
        IndexedQualification.insurer_number == insurer_number, IndexedQualification.symbol == symbol,
        IndexedQualification.number == number, IndexedQualification.birth_date == birth_date)
    if branch:
        q = q.where(IndexedQualification.branch == branch)
    return list(session.scalars(q))


def qualifications_of_persons(session: Session, person_ids: Collection[int]) -> list[IndexedQualification]:
    """Every registered qualification of these people."""
    return list(session.scalars(select(IndexedQualification).where(IndexedQualification.person_id.in_(person_ids))))


def _registered_at(session: Session, at, where):
    """Rows (attribute access like the index's) of :func:`registered_rows` at *at* matching *where(r)*."""
    r = registered_rows()
    return list(session.execute(select(r).where(where(r)), {"registered_at": at}).all())


def registered_qualifications_by_numbers(session: Session, at, *, insurer_number: str, symbol: str, number: str,
                                         branch: str | None, birth_date: date) -> list:
    """:func:`qualifications_by_numbers` as registered at *at* (transaction time)."""
    def where(r):
        conds = [r.c.insurer_number == insurer_number, r.c.symbol == symbol, r.c.number == number,
                 r.c.birth_date == birth_date]
        if branch:
            conds.append(r.c.branch == branch)
        return and_(*conds)
    return _registered_at(session, at, where)


def registered_qualifications_of_persons(session: Session, at, person_ids: Collection[int]) -> list:
    """:func:`qualifications_of_persons` as registered at *at* (transaction time)."""
    return _registered_at(session, at, lambda r: r.c.person_id.in_(list(person_ids)))
