"""Bitemporal helpers shared by every versioned table.

A versioned row is current while ``superseded_at IS NULL``.  Nothing is ever
updated in place except ``superseded_at`` (and that only once, from NULL).

A versioned model takes its two kinds of time from the mixins here — :class:`Versioned` (recorded time: what onshi
knew, ``[recorded_at, superseded_at)``) and :class:`ValidTime` (valid time: when the fact holds,
``[valid_from, valid_to)``) — and a query says "the current row" with :func:`current`, "as known then" with
:func:`known_at` and "in force on a day" with :func:`valid_on`, never by spelling the columns out.  Partial indexes
use :data:`CURRENT_SQL`; the hand-written SQL of the PostgreSQL fast paths (``exchange/publish_pg.py``,
``registry/intake/pg/``) spells the condition in its text and is held to the reference path by its equivalence test.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, DateTime, and_, or_, select, text
from sqlalchemy.orm import Mapped, Session, mapped_column

#: The current-row condition as SQL text, for partial indexes and hand-written statements.
CURRENT_SQL = "superseded_at IS NULL"


class Versioned:
    """Recorded time (記録時点): a row states what onshi knew from ``recorded_at`` until ``superseded_at``
    (stored UTC; NULL while current)."""

    recorded_at: Mapped[datetime] = mapped_column(DateTime)
    superseded_at: Mapped[datetime | None] = mapped_column(DateTime)


class ValidTime:
    """Valid time (有効期間): the fact holds on ``[valid_from, valid_to)``; ``valid_to`` NULL = open-ended."""

    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)


def current(model):
    """Filter: the rows of *model* (a :class:`Versioned` model or alias) that are current now."""
    return model.superseded_at.is_(None)


def current_index_where():
    """The ``WHERE`` of a partial index over the current rows (``sqlite_where=`` / ``postgresql_where=``)."""
    return text(CURRENT_SQL)


def known_at(model, recorded_at: datetime | None):
    """Filter: the rows onshi knew at *recorded_at* (None = now)."""
    if recorded_at is None:
        return current(model)
    return and_(model.recorded_at <= recorded_at,
                or_(model.superseded_at.is_(None), model.superseded_at > recorded_at))


def valid_on(model, day: date | None):
    """Filter on valid time ``[valid_from, valid_to)`` (None = any)."""
    if day is None:
        return True
    return and_(model.valid_from <= day, or_(model.valid_to.is_(None), model.valid_to > day))


def change_valid_period(
    session: Session, model, *, key: dict[str, Any], effective_from: date, values: dict[str, Any], now: datetime,
    change_id: int | None = None,
) -> Any:
    """Record that from *effective_from* the fact for *key* has *values*.

    The current version covering *effective_from* is superseded and replaced by
    (a) its part before *effective_from*, unchanged, and (b) a version with the
    new values from *effective_from* to that version's end.  Later versions are
    left alone, so a retroactive change does not erase what came after it.
    Returns the new version, or None when the values are already in force.
    """
    rows = list(session.scalars(
        select(model).where(*[getattr(model, k) == v for k, v in key.items()], current(model))
        .order_by(model.valid_from)))
    covering = next((v for v in rows if v.valid_from <= effective_from
                     and (v.valid_to is None or v.valid_to > effective_from)), None)
    if covering is not None:
        if all(getattr(covering, k) == v for k, v in values.items()):
            return None
        end = covering.valid_to
        covering.superseded_at = now
        carried = {c.key: getattr(covering, c.key) for c in model.__table__.columns
                   if c.key not in ("id", "recorded_at", "superseded_at", "valid_from", "valid_to", "change_id")}
        if covering.valid_from < effective_from:
            session.add(model(**carried, valid_from=covering.valid_from, valid_to=effective_from,
                              recorded_at=now, change_id=covering.change_id))
        new = model(**{**carried, **values}, valid_from=effective_from, valid_to=end, recorded_at=now,
                    change_id=change_id)
    else:
        later = [v for v in rows if v.valid_from > effective_from]
        end = later[0].valid_from if later else None
        new = model(**key, **values, valid_from=effective_from, valid_to=end, recorded_at=now, change_id=change_id)
    session.add(new)
    return new
