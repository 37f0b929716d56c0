"""Bitemporal helpers shared by every versioned table.

A versioned row is current while ``superseded_at IS NULL``.  Nothing is ever
updated in place except ``superseded_at`` (and that only once, from NULL).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session


def known_at(model, recorded_at: datetime | None):
    """Filter: the rows onshi knew at *recorded_at* (None = now)."""
    if recorded_at is None:
        return model.superseded_at.is_(None)
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
    current = list(session.scalars(
        select(model).where(*[getattr(model, k) == v for k, v in key.items()], model.superseded_at.is_(None))
        .order_by(model.valid_from)))
    covering = next((v for v in current if v.valid_from <= effective_from
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
        later = [v for v in current if v.valid_from > effective_from]
        end = later[0].valid_from if later else None
        new = model(**key, **values, valid_from=effective_from, valid_to=end, recorded_at=now, change_id=change_id)
    session.add(new)
    return new
